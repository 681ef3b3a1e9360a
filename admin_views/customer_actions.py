"""The customer's own lifecycle actions of seed chapter 3 (SPEC §4) on the customer view: new
customer, resend invite, convert, lock/unlock, cancel, customer price, change main user, delete.
The workflows (IP Distribution, the project-key wizard, the profile edits, the additional
subscriptions and the tools) are views of their own (``customer_record.CustomerWorkflowView``).

Each POST turns the form into one ``billing`` call; a domain error is shown on the form with the
user's input kept, and nothing changes.
"""

from __future__ import annotations

from flask import flash, request
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user
from redis.exceptions import RedisError

from billing.customers import lifecycle, lookup, onboarding
from billing.customers.deletion import delete_customer
from billing.customers.onboarding import NewCustomer
from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission
from jobs.customers import queue_erasure
from models import Customer

from .auth import clock, requires, site, staff_actor
from .customer_record import CustomerRecordActions, customer_action, field_error, queued
from .formatting import day_in_text
from .forms import (
    NEW_CUSTOMER_FIELDS,
    ConfirmForm,
    CustomerPriceForm,
    MainUserForm,
    NewCustomerForm,
    VersionedForm,
)


class CustomerActionsMixin(CustomerRecordActions):
    """Mixed into ``CustomerAdmin``; endpoints live under /admin/customer/. Each endpoint of a
    row action is guarded by its entry in ``CUSTOMER_ACTIONS`` (``customer_action``)."""

    @expose("/new-customer/", methods=("GET", "POST"))
    @requires(Permission.MANAGE_CUSTOMERS)
    def new_customer_view(self):
        form = NewCustomerForm()
        if form.validate_on_submit():
            data = NewCustomer(**{name: form[name].data or "" for name in NEW_CUSTOMER_FIELDS})
            try:
                customer, message = onboarding.invite_customer(data, staff_actor(), clock(), site())
            except DomainError as error:
                field_error(form, error)
            else:
                queued(message)
                flash(
                    _(
                        "Customer %(name)s created; the invite e-mail is on its way to %(email)s.",
                        name=customer.company_name,
                        email=customer.contact_email,
                    ),
                    "success",
                )
                return self.back_to_list(customer.id)
        return self.render("admin/customer_new.html", form=form)

    @expose("/<int:customer_id>/resend-invite/", methods=("POST",))
    @customer_action("resend_invite")
    def resend_invite_view(self, customer: Customer):
        try:
            message = onboarding.resend_invite(customer.id, staff_actor(), clock(), site())
        except DomainError as error:
            flash(error.message, "error")
        else:
            queued(message)
            flash(
                _(
                    "A new invite was sent to %(email)s; the previous link no longer works.",
                    email=customer.contact_email,
                ),
                "success",
            )
        return self.back(customer.id)

    @expose("/<int:customer_id>/convert/", methods=("GET", "POST"))
    @customer_action("convert")
    def convert_view(self, customer: Customer):
        form = ConfirmForm(version=customer.version)
        if form.validate_on_submit():
            try:
                lifecycle.convert_to_managed(
                    customer.id, staff_actor(), clock(), form.seen_version()
                )
            except DomainError as error:
                flash(error.message, "error")
            else:
                flash(
                    _("%(name)s is now a managed customer.", name=customer.company_name), "success"
                )
                return self.back_to_list(customer.id)
        return self.render(
            "admin/customer_confirm.html", form=form, customer=customer, action="convert"
        )

    @expose("/<int:customer_id>/lock/", methods=("POST",))
    @customer_action("lock")
    def lock_view(self, customer: Customer):
        return self._details_post(
            customer,
            VersionedForm,
            lambda customer, form: lifecycle.set_locked(
                customer.id, True, staff_actor(), clock(), form.seen_version()
            ),
            lambda _form, _result: _("The account is locked: its users cannot sign in."),
        )

    @expose("/<int:customer_id>/unlock/", methods=("POST",))
    @customer_action("unlock")
    def unlock_view(self, customer: Customer):
        return self._details_post(
            customer,
            VersionedForm,
            lambda customer, form: lifecycle.set_locked(
                customer.id, False, staff_actor(), clock(), form.seen_version()
            ),
            lambda _form, _result: _("The account is unlocked."),
        )

    @expose("/<int:customer_id>/cancel/", methods=("POST",))
    @customer_action("cancel_subscription")
    def cancel_view(self, customer: Customer):
        return self._details_post(
            customer,
            ConfirmForm,
            lambda customer, form: lifecycle.cancel_subscription(
                customer.id, staff_actor(), clock(), form.seen_version()
            ),
            lambda _form, sub: _(
                "The subscription is cancelled; it is billed until %(date)s.",
                date=day_in_text(sub.valid_until),
            ),
        )

    @expose("/<int:customer_id>/price/", methods=("POST",))
    @customer_action("set_price")
    def price_view(self, customer: Customer):
        return self._details_post(
            customer,
            CustomerPriceForm,
            lambda customer, form: lifecycle.set_customer_price(
                customer.id, form.unit_price.data, staff_actor(), clock(), form.seen_version()
            ),
            lambda form, _result: (
                _("The customer price was saved.")
                if form.unit_price.data
                else _("The customer is priced by the tier table again.")
            ),
            "subscriptions",
        )

    @expose("/<int:customer_id>/main-user/", methods=("GET", "POST"))
    @customer_action("change_main_user")
    def main_user_view(self, customer: Customer):
        form = MainUserForm(version=customer.version)
        form.user_id.choices = [
            (str(u.id), f"{u.name} <{u.email}>")
            for u in lookup.other_main_user_candidates(customer.id)
        ]
        if form.validate_on_submit():
            try:
                user = lifecycle.change_main_user(
                    customer.id, form.user_id.data, staff_actor(), clock(), form.seen_version()
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(_("%(email)s is now the main user.", email=user.email), "success")
                return self.back_to_list(customer.id)
        return self.render(
            "admin/customer_main_user.html",
            form=form,
            customer=customer,
            current=lookup.main_user(customer.id),
        )

    @expose("/<int:customer_id>/delete/", methods=("GET", "POST"))
    @customer_action("delete")
    def delete_customer_view(self, customer: Customer):
        invited = lookup.is_invited(customer)
        form = ConfirmForm(version=customer.version)
        if form.validate_on_submit():
            confirmation = (
                "yes"
                if invited and request.form.get("confirm") == "yes"
                else (form.confirmation.data or "")
            )
            try:
                delete_customer(
                    customer.id,
                    confirmation,
                    current_user.email,
                    current_user.language or "en",
                    staff_actor(),
                    clock(),
                    form.seen_version(),
                )
            except DomainError as error:
                field_error(form, error)
            else:
                try:
                    queue_erasure(customer.id)
                except RedisError:
                    flash(
                        _(
                            "The deletion job could not be queued right now; it is queued again "
                            "by `flask customers erase-pending`."
                        ),
                        "warning",
                    )
                flash(
                    _(
                        "%(name)s is marked for deletion. The deletion takes a while; you will "
                        "get an e-mail when it is complete.",
                        name=customer.company_name,
                    ),
                    "success",
                )
                return self.back_to_list(customer.id)
        return self.render(
            "admin/customer_confirm.html",
            form=form,
            customer=customer,
            action="delete",
            invited=invited,
        )
