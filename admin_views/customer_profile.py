"""The profile edits of a customer as a view of their own (SPEC §4 Edit address, 3.2.7; SPEC §11:
Aquila BillOps' organisation details, contacts with "create user accounts", group membership and
purchase orders; tags, default language and partner). Its address is the customer's
(``/admin/customer/<id>/``, which opens the overview's Profile tab): ``…/address/``,
``…/organisation/``, ``…/contacts/…``, ``…/groups/``, ``…/purchase-orders/…``, ``…/tags/``,
``…/language/``, ``…/partner/``.

Each POST turns the form into one ``billing`` call; a domain error is shown on its field with
the input kept, and nothing changes. Every edit is a row action of the customer
(``actions.CUSTOMER_ACTIONS``: ``edit_address``, ``edit_profile``, ``edit_tags``,
``set_language``, ``assign_partner``): its permission, and only while ``billing`` allows it.
"""

from __future__ import annotations

from dataclasses import fields

from flask import abort, current_app, flash, request
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length

from billing.customers import contacts as contact_rules
from billing.customers import customer_tools
from billing.customers import groups as group_rules
from billing.customers.addresses import AddressInput, address_of, edit_address
from billing.customers.organisation import OrganisationInput, edit_organisation, organisation_of
from billing.customers.partners import assign_partner
from billing.invoicing import purchase_orders as po_rules
from billing.invoicing.payment_terms import setting_payment_term
from billing.kernel.countries import country_name
from billing.kernel.errors import DomainError, NotFound
from models import Customer

from .auth import clock, staff_actor
from .customer_record import CustomerWorkflowView, customer_action, field_error, queued
from .forms import AddressForm
from .partners import AssignPartnerForm
from .profile_forms import (
    ACCOUNT_TYPE_LABELS,
    PO_STATUS_LABELS,
    USER_TYPE_LABELS,
    ContactAccountsForm,
    ContactForm,
    MembershipForm,
    OrganisationForm,
    PurchaseOrderForm,
)

LANGUAGES = [("en", lazy_gettext("English")), ("de", lazy_gettext("German"))]


class TagsForm(FlaskForm):
    tags = StringField(lazy_gettext("Tags (comma-separated)"), [Length(max=2000)])


class LanguageForm(FlaskForm):
    language = SelectField(lazy_gettext("Default language"), choices=LANGUAGES)


def profile_context(customer: Customer) -> dict:
    """What the overview's Profile tab shows besides the customer's own fields, and the forms
    of its dialogs."""
    return {
        "profile": {
            "contacts": contact_rules.contacts(customer.id),
            "groups": group_rules.groups(),
            "member_of": set(group_rules.customer_group_ids(customer.id)),
            "orders": po_rules.purchase_orders(customer.id),
            "account_types": ACCOUNT_TYPE_LABELS,
            "user_types": USER_TYPE_LABELS,
            "po_statuses": PO_STATUS_LABELS,
            "form": ContactAccountsForm(),
        },
        "tags_form": TagsForm(tags=", ".join(sorted(t.name for t in customer.tags))),
        "language_form": LanguageForm(language=customer.language),
    }


def _values(form, dataclass) -> dict:
    return {f.name: form[f.name].data for f in fields(dataclass)}


class CustomerProfileView(CustomerWorkflowView):
    """The profile edits; ``/admin/customer/<id>/`` opens the overview's Profile tab."""

    section = "profile"

    @expose("/address/", methods=("GET", "POST"))
    @customer_action("edit_address")
    def address_view(self, customer: Customer):
        own_term = customer.payment_term_days
        form = AddressForm(
            obj=address_of(customer),
            version=customer.version,
            payment_term_days="" if own_term is None else str(own_term),
        )
        if form.validate_on_submit():
            data = AddressInput(**{f: form[f].data for f in AddressInput.__dataclass_fields__})
            try:
                edit_address(
                    customer.id,
                    data,
                    staff_actor(),
                    clock(),
                    home_country=self.home_country(),
                    expected_version=form.seen_version(),
                    payment_term_days=form.payment_term_days.data or "",
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(
                    _("The address of %(name)s was saved.", name=customer.company_name), "success"
                )
                return self.back_to_list(customer.id)
        return self.render(
            "admin/customer_address.html",
            form=form,
            customer=customer,
            home_country_name=country_name(self.home_country()),
            default_payment_term=setting_payment_term(),
        )

    @expose("/organisation/", methods=("GET", "POST"))
    @customer_action("edit_profile")
    def organisation_view(self, customer: Customer):
        form = OrganisationForm(obj=organisation_of(customer), version=customer.version)
        if form.validate_on_submit():
            try:
                edit_organisation(
                    customer.id,
                    OrganisationInput(**_values(form, OrganisationInput)),
                    staff_actor(),
                    clock(),
                    expected_version=form.seen_version(),
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("The organisation details were saved."), "success")
                return self.back(customer.id, "profile")
        return self.render("admin/customer_organisation.html", form=form, customer=customer)

    @expose("/contacts/new/", methods=("GET", "POST"))
    @expose("/contacts/<int:contact_id>/", methods=("GET", "POST"))
    @customer_action("edit_profile")
    def contact_view(self, customer: Customer, contact_id: int | None = None):
        contact = None
        if contact_id is not None:
            try:
                contact = contact_rules.get_contact(customer.id, contact_id)
            except NotFound:
                abort(404)
        form = ContactForm(obj=contact)
        if form.validate_on_submit():
            data = contact_rules.ContactInput(**_values(form, contact_rules.ContactInput))
            try:
                if contact is None:
                    contact_rules.add_contact(customer.id, data, staff_actor(), clock())
                else:
                    contact_rules.edit_contact(
                        customer.id, contact.id, data, staff_actor(), clock()
                    )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("The contact was saved."), "success")
                return self.back(customer.id, "profile")
        return self.render(
            "admin/customer_contact.html", form=form, customer=customer, contact=contact
        )

    @expose("/contacts/<int:contact_id>/delete/", methods=("POST",))
    @customer_action("edit_profile")
    def contact_delete_view(self, customer: Customer, contact_id: int):
        if not ContactAccountsForm().validate_on_submit():
            abort(400)
        try:
            contact_rules.delete_contact(customer.id, contact_id, staff_actor(), clock())
        except NotFound:
            abort(404)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("The contact was deleted."), "success")
        return self.back(customer.id, "profile")

    @expose("/contacts/accounts/", methods=("POST",))
    @customer_action("edit_profile")
    def contact_accounts_view(self, customer: Customer):
        form = ContactAccountsForm()
        if not form.validate_on_submit():
            abort(400)
        ids = [int(i) for i in form.contact_ids.data or [] if str(i).isdigit()]
        try:
            result = contact_rules.create_user_accounts(
                customer.id, ids, staff_actor(), clock(), current_app.config["PUBLIC_URL"]
            )
        except NotFound:
            abort(404)
        except DomainError as error:
            flash(error.message, "error")
            return self.back(customer.id, "profile")
        for _contact, message in result.invited:
            queued(message)
        if result.invited:
            flash(
                _(
                    "Portal invites were sent to %(emails)s.",
                    emails=", ".join(c.email for c, _m in result.invited),
                ),
                "success",
            )
        for contact, reason in result.skipped:
            flash(_("%(email)s: %(reason)s", email=contact.email, reason=reason), "warning")
        return self.back(customer.id, "profile")

    @expose("/groups/", methods=("POST",))
    @customer_action("edit_profile")
    def groups_view(self, customer: Customer):
        form = MembershipForm()
        if not form.validate_on_submit():
            abort(400)
        ids = [int(i) for i in form.group_ids.data or [] if str(i).isdigit()]
        try:
            group_rules.set_customer_groups(customer.id, ids, staff_actor(), clock())
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("The group membership was saved."), "success")
        return self.back(customer.id, "profile")

    @expose("/purchase-orders/new/", methods=("GET", "POST"))
    @expose("/purchase-orders/<int:order_id>/", methods=("GET", "POST"))
    @customer_action("edit_profile")
    def purchase_order_view(self, customer: Customer, order_id: int | None = None):
        order = None
        if order_id is not None:
            try:
                order = po_rules.get_purchase_order(customer.id, order_id)
            except NotFound:
                abort(404)
        form = PurchaseOrderForm(obj=po_rules.input_of(order) if order else None)
        if form.validate_on_submit():
            data = po_rules.PurchaseOrderInput(**_values(form, po_rules.PurchaseOrderInput))
            try:
                po_rules.save_purchase_order(
                    customer.id, order.id if order else None, data, staff_actor(), clock()
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("The purchase order was saved."), "success")
                return self.back(customer.id, "profile")
        elif request.method == "POST":
            flash(_("Please correct the marked fields."), "error")
        return self.render(
            "admin/customer_purchase_order.html",
            form=form,
            customer=customer,
            order=order,
        )

    @expose("/tags/", methods=("POST",))
    @customer_action("edit_tags")
    def tags_view(self, customer: Customer):
        return self._details_post(
            customer,
            TagsForm,
            lambda customer, form: customer_tools.set_tags(
                customer.id, form.tags.data or "", staff_actor(), clock()
            ),
            lambda _form, names: (
                _("Tags saved: %(tags)s.", tags=", ".join(names)) if names else _("Tags removed.")
            ),
            "profile",
        )

    @expose("/language/", methods=("POST",))
    @customer_action("set_language")
    def language_view(self, customer: Customer):
        return self._details_post(
            customer,
            LanguageForm,
            lambda customer, form: customer_tools.set_language(
                customer.id, form.language.data, staff_actor(), clock()
            ),
            lambda _form, _customer: _("The default language was saved."),
            "profile",
        )

    @expose("/partner/", methods=("POST",))
    @customer_action("assign_partner")
    def partner_view(self, customer: Customer):
        """Assign one of the enabled partners, or none."""
        form = AssignPartnerForm()
        if not form.validate_on_submit():
            abort(400)
        raw = (form.partner_id.data or "").strip()
        if raw and not raw.isdigit():
            flash(_("Please choose a partner from the list."), "error")
            return self.back(customer.id, "profile")
        try:
            changed = assign_partner(
                customer.id, int(raw) if raw else None, staff_actor(), clock(), form.seen_version()
            )
        except NotFound:
            abort(404)
        except DomainError as error:
            flash(error.message, "error")
        else:
            partner = changed.partner
            flash(
                _("Partner set to %(name)s.", name=partner.name)
                if partner
                else _("The customer has no partner now."),
                "success",
            )
        return self.back(customer.id, "profile")
