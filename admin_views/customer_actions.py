"""The customer actions of seed chapter 3 (SPEC §4): one endpoint pair per action.

Each POST turns the form into one ``billing`` call; a domain error is shown on the form with the
user's input kept, and nothing changes.
"""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user
from redis.exceptions import RedisError

from billing.customers import actions, lifecycle, lookup, onboarding
from billing.customers.addresses import AddressInput, address_of, edit_address
from billing.customers.deletion import delete_customer
from billing.customers.onboarding import NewCustomer
from billing.invoicing.payment_terms import setting_payment_term
from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission
from billing.subscriptions.distribution import (
    change_ip_distribution,
    parse_counts,
    preview,
    result_message,
)
from jobs.customers import queue_erasure
from jobs.mail import send
from models import Customer, db

from .actions import CUSTOMER_ACTIONS, RecordActions
from .auth import clock, requires, site, staff_actor, staff_can
from .forms import (
    NEW_CUSTOMER_FIELDS,
    AddressForm,
    ConfirmForm,
    CustomerPriceForm,
    IpDistributionForm,
    MainUserForm,
    NewCustomerForm,
    VersionedForm,
)

customer_action = CUSTOMER_ACTIONS.endpoint


def field_error(form, error: DomainError) -> None:
    """Attach a domain error to its form field, or flash it when it names none."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message] if field.errors else [error.message]
    else:
        flash(error.message, "error")


def queued(message) -> None:
    if not send(message):
        flash(_("The e-mail could not be queued; see the e-mail log."), "warning")


class CustomerActionsMixin(RecordActions):
    """Mixed into ``CustomerAdmin``; endpoints live under /admin/customer/. Each endpoint of a
    row action is guarded by its entry in ``CUSTOMER_ACTIONS`` (``customer_action``)."""

    def _customer(self, customer_id: int) -> Customer:
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            abort(404)
        return customer

    def _back(self, customer_id: int | None = None, section: str = ""):
        if customer_id is not None:
            anchor = f"#{section}" if section else ""
            return redirect(url_for(".details_view", id=customer_id) + anchor)
        return redirect(url_for(".index_view"))

    def action_record(self, customer_id: int) -> Customer:
        return self._customer(customer_id)

    def applicable_actions(self, customer: Customer) -> list[str]:
        return actions.available_actions(customer)

    def record_page(self, customer: Customer):
        return self._back(customer.id)

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
                return self._back()
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
        return self._back()

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
                return self._back()
        return self.render(
            "admin/customer_confirm.html", form=form, customer=customer, action="convert"
        )

    @expose("/<int:customer_id>/ip-distribution/", methods=("GET", "POST"))
    @customer_action("ip_distribution")
    def ip_distribution_view(self, customer: Customer):
        current = lookup.current_subscription(customer.id)
        form = IpDistributionForm(
            version=customer.version,
            total_ips=current.total_ips if current else 1,
            internal_ips=current.internal_ips if current else 1,
            external_ips=current.external_ips if current else 0,
        )
        plan = None
        if request.method == "POST" and form.validate_on_submit():
            try:
                internal, external = parse_counts(
                    form.total_ips.data, form.internal_ips.data, form.external_ips.data
                )
                result = change_ip_distribution(
                    customer.id,
                    internal,
                    external,
                    form.instantly.data,
                    staff_actor(),
                    clock(),
                    expected_version=form.seen_version(),
                )
            except DomainError as error:
                field_error(form, error)
            else:
                flash(result_message(result.preview), "success")
                return self._back()
        elif request.method == "POST":
            flash(_("Please correct the marked fields."), "error")
        try:
            plan = preview(
                customer.id,
                form.internal_ips.data or 0,
                form.external_ips.data or 0,
                bool(form.instantly.data),
                clock(),
            )
        except (DomainError, TypeError):
            plan = None
        return self.render(
            "admin/customer_ip_distribution.html",
            form=form,
            customer=customer,
            current=current,
            plan=plan,
            pending=lookup.pending_change(customer.id),
        )

    @expose("/<int:customer_id>/ip-distribution/preview")
    @requires(Permission.MANAGE_CUSTOMERS)
    def ip_distribution_preview(self, customer_id: int):
        customer = self._customer(customer_id)
        args = request.args
        try:
            internal, external = parse_counts(
                args.get("total"), args.get("internal"), args.get("external")
            )
            plan = preview(customer.id, internal, external, args.get("instantly") == "1", clock())
        except DomainError as error:
            return jsonify({"error": error.message}), 400
        return jsonify(plan.as_dict())

    def _details_post(self, customer: Customer, form_class, change, message, section: str = ""):
        """A POST from the customer's page: ``change(customer, form)`` calls billing,
        ``message`` words the result; a domain error is flashed and nothing changes. Back to
        the page's ``section``."""
        form = form_class()
        if not form.validate_on_submit():
            abort(400)
        try:
            result = change(customer, form)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(message(form, result), "success")
        return self._back(customer.id, section)

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
                date=sub.valid_until.isoformat(),
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

    @expose("/<int:customer_id>/address/", methods=("GET", "POST"))
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
                return self._back()
        from billing.kernel.countries import country_name

        return self.render(
            "admin/customer_address.html",
            form=form,
            customer=customer,
            home_country_name=country_name(self.home_country()),
            default_payment_term=setting_payment_term(),
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
                return self._back()
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
                return self._back()
        return self.render(
            "admin/customer_confirm.html",
            form=form,
            customer=customer,
            action="delete",
            invited=invited,
        )

    def home_country(self) -> str:
        from flask import current_app

        return current_app.config["HOME_COUNTRY"]


WIZARD_STEPS = ("key", "price", "split", "summary")
FIELD_STEP = {
    "key": "key",
    "selling_price": "price",
    "internal_ips": "split",
    "external_ips": "split",
}


class ProjectKeyWizardMixin:
    """Add project key (seed 3.2.6): key → overview and selling price → split → summary →
    Finish. Every step re-checks all earlier input through
    ``billing.subscriptions.project_keys``."""

    @expose("/<int:customer_id>/project-key/", methods=("GET", "POST"))
    @customer_action("add_project_key")
    def project_key_view(self, customer: Customer):
        from flask_wtf import FlaskForm

        from billing.subscriptions import project_keys

        form = FlaskForm()
        values = {
            name: (request.form.get(name) or "").strip()
            for name in ("key", "selling_price", "internal_ips", "external_ips")
        }
        values["instantly"] = request.form.get("instantly") == "y"
        version = request.form.get("version") or str(customer.version)
        step, key, plan = "key", None, None
        if request.method == "POST" and form.validate_on_submit():
            current = request.form.get("step", "key")
            current = current if current in WIZARD_STEPS else "key"
            index = WIZARD_STEPS.index(current)
            going_back = request.form.get("go") == "back"
            target = (
                WIZARD_STEPS[max(index - 1, 0)]
                if going_back
                else ("finish" if current == "summary" else WIZARD_STEPS[index + 1])
            )
            try:
                if target != "key":
                    key = project_keys.find_redeemable(values["key"])
                if target in ("split", "summary", "finish"):
                    project_keys.parse_selling_price(values["selling_price"])
                    if not values["internal_ips"] and not values["external_ips"]:
                        values["internal_ips"], values["external_ips"] = str(key.ip_count), "0"
                if target in ("summary", "finish"):
                    plan = project_keys.plan_redemption(
                        customer.id,
                        values["key"],
                        values["selling_price"],
                        values["internal_ips"],
                        values["external_ips"],
                        values["instantly"],
                        clock(),
                    )
                if target == "finish":
                    plan = project_keys.redeem(
                        customer.id,
                        values["key"],
                        values["selling_price"],
                        values["internal_ips"],
                        values["external_ips"],
                        values["instantly"],
                        staff_actor(),
                        clock(),
                        int(version) if version.isdigit() else None,
                    )
                    flash(
                        _(
                            "Project key %(key)s added: %(ips)d IPs from %(start)s to %(end)s.",
                            key=plan.key,
                            ips=plan.ip_count,
                            start=plan.starts.isoformat(),
                            end=plan.ends.isoformat(),
                        ),
                        "success",
                    )
                    return self._back()
                step = target
            except DomainError as error:
                flash(error.message, "error")
                step = FIELD_STEP.get(error.field or "", current)
                if step != "key" and key is None:
                    step = "key"
        return self.render(
            "admin/customer_project_key.html",
            form=form,
            customer=customer,
            step=step,
            key=key,
            plan=plan,
            values=values,
            version=version,
            current=lookup.current_subscription(customer.id),
            show_purchase_price=staff_can(Permission.SEE_FINANCIALS),
        )
