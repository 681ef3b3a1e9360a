"""Billing → Pending changes (issue 7 item 12): every scheduled change across customers by
effective date, with the price effect, filterable by month, each cancellable."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import format_currency
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission
from billing.subscriptions.pending_changes import (
    parse_month,
    pending_changes,
    withdraw_pending_change,
)

from .auth import clock, requires, staff_actor, staff_can
from .base import SecureBaseView


class WithdrawForm(FlaskForm):
    pass


class PendingChangesView(SecureBaseView):
    permission = Permission.READ

    @expose("/")
    def index(self):
        raw_month = request.args.get("month", "")
        try:
            month = parse_month(raw_month)
        except DomainError as error:
            flash(error.message, "error")
            month, raw_month = None, ""
        total, rows = pending_changes(month)
        currency = current_app.config["CURRENCY"]
        return self.render(
            "admin/pending_changes.html",
            rows=rows,
            total=total,
            month=raw_month if month else "",
            money=lambda value: format_currency(value, currency),
            form=WithdrawForm(formdata=None),
            can_edit=staff_can(Permission.MANAGE_CUSTOMERS),
        )

    @expose("/<int:change_id>/cancel/", methods=("POST",))
    @requires(Permission.MANAGE_CUSTOMERS)
    def cancel(self, change_id: int):
        form = WithdrawForm()
        if form.validate_on_submit():
            try:
                withdraw_pending_change(change_id, staff_actor(), clock())
            except DomainError as error:
                flash(error.message, "error")
            else:
                flash(
                    _("The pending change was cancelled; the subscription stays as it is."),
                    "success",
                )
        month = request.form.get("month", "")
        return redirect(url_for(".index", month=month) if month else url_for(".index"))
