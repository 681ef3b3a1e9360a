"""Billing → Partners (issue 7 item 6): resellers with their customer counts; create, rename,
disable/re-enable, and the partner assignment form of a customer's page (its endpoint is the
customer's ``assign_partner`` action, ``CustomerProfileView.partner_view``)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField

from billing.customers import partners as partner_rules
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.permissions import Permission
from models import Customer

from .auth import clock, requires, staff_actor, staff_can
from .base import SecureBaseView
from .customer_actions import field_error
from .forms import VersionedForm


class PartnerNameForm(FlaskForm):
    name = StringField(lazy_gettext("Partner name"))


class PartnerToggleForm(FlaskForm):
    enabled = HiddenField()


class AssignPartnerForm(VersionedForm):
    partner_id = SelectField(lazy_gettext("Partner"), choices=[], validate_choice=False)


def assign_partner_form(customer: Customer) -> AssignPartnerForm:
    """The Details page's partner form: enabled partners plus the customer's current one."""
    form = AssignPartnerForm(
        formdata=None,
        version=customer.version,
        partner_id=str(customer.partner_id or ""),
    )
    form.partner_id.choices = [("", _("No partner"))] + [
        (str(p.id), p.name if p.enabled else _("%(name)s (disabled)", name=p.name))
        for p in partner_rules.assignable_partners(customer.partner_id)
    ]
    return form


class PartnersView(SecureBaseView):
    permission = Permission.READ

    def _page(self, new_form=None, rename_forms=None):
        return self.render(
            "admin/partner_list.html",
            partners=partner_rules.list_partners(),
            new_form=new_form or PartnerNameForm(formdata=None),
            rename_forms=rename_forms or {},
            toggle_form=PartnerToggleForm(formdata=None),
            can_edit=staff_can(Permission.MANAGE_CUSTOMERS),
        )

    @expose("/")
    def index(self):
        return self._page()

    @expose("/new/", methods=("POST",))
    @requires(Permission.MANAGE_CUSTOMERS)
    def create(self):
        form = PartnerNameForm()
        if form.validate_on_submit():
            try:
                partner = partner_rules.create_partner(form.name.data, staff_actor(), clock())
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("Partner %(name)s added.", name=partner.name), "success")
                return redirect(url_for(".index"))
        flash(_("The partner was not added; see the form below the list."), "error")
        return self._page(new_form=form)

    @expose("/<int:partner_id>/rename/", methods=("POST",))
    @requires(Permission.MANAGE_CUSTOMERS)
    def rename(self, partner_id: int):
        form = PartnerNameForm()
        if form.validate_on_submit():
            try:
                partner = partner_rules.rename_partner(
                    partner_id, form.name.data, staff_actor(), clock()
                )
            except NotFound:
                abort(404)
            except DomainError as error:
                flash(error.message, "error")
            else:
                flash(_("The partner is now called %(name)s.", name=partner.name), "success")
        else:
            flash(_("The form expired; please try again."), "error")
        return redirect(url_for(".index"))

    @expose("/<int:partner_id>/disable/", methods=("GET", "POST"))
    @requires(Permission.MANAGE_CUSTOMERS)
    def disable(self, partner_id: int):
        try:
            partner = partner_rules.get_partner(partner_id)
        except NotFound:
            abort(404)
        form = PartnerToggleForm()
        if request.method == "POST" and form.validate_on_submit():
            affected = partner_rules.set_partner_enabled(partner_id, False, staff_actor(), clock())
            flash(
                ngettext(
                    "%(name)s is disabled; its %(num)d customer keeps it as their partner.",
                    "%(name)s is disabled; its %(num)d customers keep it as their partner.",
                    affected,
                    name=partner.name,
                ),
                "success",
            )
            return redirect(url_for(".index"))
        return self.render(
            "admin/partner_disable.html",
            partner=partner,
            affected=partner_rules.customer_count(partner.id),
            form=PartnerToggleForm(formdata=None),
        )

    @expose("/<int:partner_id>/enable/", methods=("POST",))
    @requires(Permission.MANAGE_CUSTOMERS)
    def enable(self, partner_id: int):
        form = PartnerToggleForm()
        if form.validate_on_submit():
            try:
                affected = partner_rules.set_partner_enabled(
                    partner_id, True, staff_actor(), clock()
                )
            except NotFound:
                abort(404)
            flash(
                ngettext(
                    "The partner is enabled again (%(num)d customer).",
                    "The partner is enabled again (%(num)d customers).",
                    affected,
                ),
                "success",
            )
        return redirect(url_for(".index"))
