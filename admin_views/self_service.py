"""Billing → Self-Service (seed 3.5): registration switch, article, sales price table."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import Length

from billing.catalog.pricing import load_tiers
from billing.catalog.selfservice import (
    load_self_service,
    parse_tiers,
    preview_tiers,
    save_self_service,
    save_tiers,
)
from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission

from .auth import clock, staff_actor
from .base import SecureBaseView
from .customer_actions import field_error


class SelfServiceForm(FlaskForm):
    registration_enabled = BooleanField(lazy_gettext("Enable users to register themselves."))
    article_name = StringField(lazy_gettext("Article name"), [Length(max=200)])
    article_name_de = StringField(
        lazy_gettext("Article name for German readers (optional)"), [Length(max=200)]
    )
    article_number = StringField(lazy_gettext("Article number"), [Length(max=64)])


class TierForm(FlaskForm):
    """Only the CSRF token; the rows are read as lists (lower, upper, price)."""


class SelfServiceView(SecureBaseView):
    permission = Permission.MANAGE_SETTINGS

    def _rows(self):
        if request.method == "POST" and "lower" in request.form:
            return list(
                zip(
                    request.form.getlist("lower"),
                    request.form.getlist("upper"),
                    request.form.getlist("price"),
                    strict=False,
                )
            )
        rows = [
            (str(t.lower), "" if t.upper is None else str(t.upper), str(t.unit_price))
            for t in load_tiers()
        ]
        return rows + [("", "", "")]

    def _page(self, form, tier_form, rows, changes=None):
        return self.render(
            "admin/self_service.html", form=form, tier_form=tier_form, rows=rows, changes=changes
        )

    @expose("/", methods=("GET", "POST"))
    def index(self):
        settings = load_self_service()
        form = SelfServiceForm(obj=settings)
        if form.validate_on_submit():
            try:
                save_self_service(
                    form.registration_enabled.data,
                    form.article_name.data,
                    form.article_number.data,
                    staff_actor(),
                    clock(),
                    article_name_de=form.article_name_de.data,
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("The self-service settings were saved."), "success")
                return redirect(url_for(".index"))
        return self._page(form, TierForm(), self._rows())

    @expose("/prices/", methods=("POST",))
    def prices(self):
        form = SelfServiceForm(obj=load_self_service(), formdata=None)
        tier_form = TierForm()
        rows = self._rows()
        if not tier_form.validate_on_submit():
            flash(_("The form was too old. Please try again."), "error")
            return redirect(url_for(".index"))
        try:
            tiers = parse_tiers(rows)
            if request.form.get("action") == "save":
                changed = save_tiers(tiers, staff_actor(), clock())
                flash(
                    _(
                        "The sales prices were saved; %(n)d customers now pay a different "
                        "monthly price. Past invoices are unchanged.",
                        n=changed,
                    ),
                    "success",
                )
                return redirect(url_for(".index"))
            changes = preview_tiers(tiers)
        except DomainError as error:
            flash(error.message, "error")
            return self._page(form, tier_form, rows)
        return self._page(form, tier_form, rows, changes)
