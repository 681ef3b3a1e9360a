"""Billing → Project Keys: the purchased keys with their state; create one or import a CSV."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from markupsafe import Markup
from wtforms import StringField
from wtforms.validators import Length

from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission
from billing.subscriptions.project_keys import create_key, import_keys
from extensions import takes_files
from models import Customer, ProjectKey, ProjectKeyState, db

from .auth import clock, requires, staff_actor, staff_can
from .base import SecureModelView
from .customer_actions import field_error
from .formatting import money

STATE_LABELS = {
    ProjectKeyState.AVAILABLE.value: lazy_gettext("Available"),
    ProjectKeyState.REDEEMED.value: lazy_gettext("Redeemed"),
    ProjectKeyState.EXPIRED.value: lazy_gettext("Expired"),
}


class KeyForm(FlaskForm):
    key = StringField(lazy_gettext("Key"), [Length(max=64)])
    ip_count = StringField(lazy_gettext("IP count"), [Length(max=10)])
    runtime_months = StringField(lazy_gettext("Runtime (months)"), [Length(max=4)])
    purchase_price = StringField(lazy_gettext("Purchase price"), [Length(max=20)])


class ImportForm(FlaskForm):
    file = FileField(lazy_gettext("CSV file"))


def _customer_link(view, context, model, name):
    if model.customer_id is None:
        return "–"
    customer = db.session.get(Customer, model.customer_id)
    return Markup('<a href="{}">{}</a>').format(
        url_for("customer.details_view", id=model.customer_id), customer.company_name
    )


class ProjectKeyAdmin(SecureModelView):
    permission = Permission.READ
    list_template = "admin/project_key_list.html"
    column_list = [
        "key",
        "ip_count",
        "runtime_months",
        "purchase_price",
        "state",
        "customer_id",
        "selling_price",
        "redeemed_at",
    ]
    column_labels = {
        "key": lazy_gettext("Key"),
        "ip_count": lazy_gettext("IP count"),
        "runtime_months": lazy_gettext("Runtime (months)"),
        "purchase_price": lazy_gettext("Purchase price"),
        "state": lazy_gettext("State"),
        "customer_id": lazy_gettext("Customer"),
        "selling_price": lazy_gettext("Selling price"),
        "redeemed_at": lazy_gettext("Redeemed"),
    }
    column_formatters = {
        "state": lambda v, c, m, n: STATE_LABELS.get(m.state, m.state),
        "customer_id": _customer_link,
        "purchase_price": lambda v, c, m, n: money(m.purchase_price),
        "selling_price": lambda v, c, m, n: money(m.selling_price),
    }
    column_default_sort = ("created_at", True)
    column_searchable_list = ["key"]
    column_filters = ["state"]
    column_sortable_list = [
        "key",
        "ip_count",
        "runtime_months",
        "purchase_price",
        "state",
        "redeemed_at",
    ]

    def __init__(self, database, **kwargs):
        super().__init__(ProjectKey, database, **kwargs)

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs["can_add_keys"] = staff_can(Permission.MANAGE_BILLING)
            kwargs["key_form"] = getattr(request, "key_form", None) or KeyForm(formdata=None)
            kwargs["import_form"] = ImportForm(formdata=None)
        return super().render(template, **kwargs)

    @expose("/new-key/", methods=("POST",))
    @requires(Permission.MANAGE_BILLING)
    def new_key_view(self):
        form = KeyForm()
        if form.validate_on_submit():
            try:
                row = create_key(
                    form.key.data,
                    form.ip_count.data,
                    form.runtime_months.data,
                    form.purchase_price.data,
                    staff_actor(),
                    clock(),
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("Project key %(key)s added.", key=row.key), "success")
                return redirect(url_for(".index_view"))
        return self.index_view_with(form)

    def index_view_with(self, form):
        flash(_("The key was not added; see the form below the list."), "error")
        request.key_form = form
        return self.index_view()

    @expose("/import/", methods=("POST",))
    @takes_files("file")
    @requires(Permission.MANAGE_BILLING)
    def import_view(self):
        form = ImportForm()
        if not form.validate_on_submit() or not form.file.data:
            flash(_("Please choose a CSV file."), "error")
            return redirect(url_for(".index_view"))
        raw = form.file.data.read(2_000_000)
        try:
            text = raw.decode("utf-8-sig")
            count = import_keys(text, staff_actor(), clock())
        except UnicodeDecodeError:
            flash(_("The file is not UTF-8 text."), "error")
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("%(n)d project keys imported.", n=count), "success")
        return redirect(url_for(".index_view"))
