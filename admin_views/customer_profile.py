"""The customer profile on Details (Aquila BillOps, SPEC §11): organisation details, contacts
(with "create user accounts"), group membership and purchase orders.

Each POST turns the form into one ``billing`` call; a domain error is shown on its field with
the input kept, and nothing changes. Every edit is the customer's ``edit_profile`` action
(``actions.CUSTOMER_ACTIONS``): its permission, and only while ``billing`` allows it.
"""

from __future__ import annotations

from dataclasses import fields

from flask import abort, current_app, flash, request
from flask_admin import expose
from flask_babel import gettext as _

from billing.customers import contacts as contact_rules
from billing.customers import groups as group_rules
from billing.customers.organisation import OrganisationInput, edit_organisation, organisation_of
from billing.invoicing import purchase_orders as po_rules
from billing.kernel.errors import DomainError, NotFound
from models import Customer

from .auth import clock, staff_actor
from .customer_actions import customer_action, field_error, queued
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


def _values(form, dataclass) -> dict:
    return {f.name: form[f.name].data for f in fields(dataclass)}


class CustomerProfileMixin:
    """Mixed into ``CustomerAdmin``; endpoints live under /admin/customer/<id>/."""

    def render(self, template, **kwargs):
        if template == self.details_template and "model" in kwargs:
            customer = kwargs["model"]
            member_of = set(group_rules.customer_group_ids(customer.id))
            kwargs["profile"] = {
                "contacts": contact_rules.contacts(customer.id),
                "groups": group_rules.groups(),
                "member_of": member_of,
                "orders": po_rules.purchase_orders(customer.id),
                "account_types": ACCOUNT_TYPE_LABELS,
                "user_types": USER_TYPE_LABELS,
                "po_statuses": PO_STATUS_LABELS,
                "form": ContactAccountsForm(),
            }
        return super().render(template, **kwargs)

    @expose("/<int:customer_id>/organisation/", methods=("GET", "POST"))
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

    @expose("/<int:customer_id>/contacts/new/", methods=("GET", "POST"))
    @expose("/<int:customer_id>/contacts/<int:contact_id>/", methods=("GET", "POST"))
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

    @expose("/<int:customer_id>/contacts/<int:contact_id>/delete/", methods=("POST",))
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

    @expose("/<int:customer_id>/contacts/accounts/", methods=("POST",))
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

    @expose("/<int:customer_id>/groups/", methods=("POST",))
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

    @expose("/<int:customer_id>/purchase-orders/new/", methods=("GET", "POST"))
    @expose("/<int:customer_id>/purchase-orders/<int:order_id>/", methods=("GET", "POST"))
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
