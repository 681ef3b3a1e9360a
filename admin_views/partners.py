"""Billing → Partners (issue 7 item 6): resellers with their customer counts; create, rename,
disable/re-enable, and the partner assignment form on a customer's Details."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField

from billing.customers import partners as partner_rules
from billing.kernel.errors import DomainError, NotFound
from models import Customer, db

from .auth import clock, has_role, staff_actor
from .base import ALL_STAFF, SecureBaseView
from .customer_actions import EDITORS, field_error, require
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
    allowed_roles = ALL_STAFF

    def _page(self, new_form=None, rename_forms=None):
        return self.render(
            "admin/partner_list.html",
            partners=partner_rules.list_partners(),
            new_form=new_form or PartnerNameForm(formdata=None),
            rename_forms=rename_forms or {},
            toggle_form=PartnerToggleForm(formdata=None),
            can_edit=has_role(*EDITORS),
        )

    @expose("/")
    def index(self):
        return self._page()

    @expose("/new/", methods=("POST",))
    def create(self):
        require(*EDITORS)
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
    def rename(self, partner_id: int):
        require(*EDITORS)
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
    def disable(self, partner_id: int):
        require(*EDITORS)
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
    def enable(self, partner_id: int):
        require(*EDITORS)
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

    @expose("/assign/<int:customer_id>/", methods=("POST",))
    def assign(self, customer_id: int):
        require(*EDITORS)
        form = AssignPartnerForm()
        back = redirect(url_for("customer.details_view", id=customer_id))
        if not form.validate_on_submit():
            flash(_("The form expired; please try again."), "error")
            return back
        raw = (form.partner_id.data or "").strip()
        if raw and not raw.isdigit():
            flash(_("Please choose a partner from the list."), "error")
            return back
        try:
            customer = partner_rules.assign_partner(
                customer_id,
                int(raw) if raw else None,
                staff_actor(),
                clock(),
                form.seen_version(),
            )
        except NotFound:
            abort(404)
        except DomainError as error:
            flash(error.message, "error")
        else:
            partner = customer.partner
            flash(
                _("Partner set to %(name)s.", name=partner.name)
                if partner
                else _("The customer has no partner now."),
                "success",
            )
        db.session.rollback()
        return back
