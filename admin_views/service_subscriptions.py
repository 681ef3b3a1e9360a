"""Additional subscriptions (SPEC §11, Sectigo's Subscriptions tab) as a view of their own, at
``/admin/customer/<id>/subscriptions/`` (which opens the overview's Subscriptions tab): add one
after its price preview (``…/new/``), suspend (after a confirmation), enable, switch auto-renew,
end (``…/<service_id>/<action>/``).

Each POST is CSRF-protected and turns into one ``billing.subscriptions.service_subscriptions``
call; a domain error is flashed or shown on its field and nothing changes. Adding one is the
customer's ``add_subscription`` action; the others need ``Permission.MANAGE_CUSTOMERS`` and are
offered where ``available_service_actions`` allows them.
"""

from __future__ import annotations

from flask import abort, flash, request
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import Length

from billing.kernel.errors import DomainError, NotFound
from billing.subscriptions import service_subscriptions as rules
from billing.subscriptions import service_terms
from models import Customer, ServiceState

from .auth import clock, staff_actor
from .customer_record import CustomerWorkflowView, customer_action, field_error
from .formatting import day_in_text
from .forms import VersionedForm

STATE_LABELS = {
    ServiceState.ACTIVE.value: lazy_gettext("Active"),
    ServiceState.SUSPENDED.value: lazy_gettext("Suspended"),
    ServiceState.ENDED.value: lazy_gettext("Ended"),
}


def term_label(months: int) -> str:
    return ngettext("%(num)d month", "%(num)d months", months)


def term_choices():
    return [(str(months), term_label(months)) for months in service_terms.TERMS]


class ServiceSubscriptionForm(FlaskForm):
    """Plain text fields: ``billing`` checks them and names the faulty one."""

    name = StringField(lazy_gettext("Name"), [Length(max=200)])
    internal_ips = StringField(lazy_gettext("IP's Internal"), default="1")
    external_ips = StringField(lazy_gettext("IP's External"), default="0")
    term_months = SelectField(
        lazy_gettext("Term"), choices=term_choices, default="12", validate_choice=False
    )
    auto_renew = BooleanField(lazy_gettext("Renew automatically"), default=True)
    # the values the price preview was shown for; adding needs the same values
    previewed = HiddenField()


class ServiceActionForm(VersionedForm):
    auto_renew = HiddenField()


def _preview_key(data: service_terms.ServiceInput) -> str:
    return "|".join(
        str(v)
        for v in (
            data.name,
            data.internal_ips,
            data.external_ips,
            data.term_months,
            int(data.auto_renew),
        )
    )


def subscriptions_context(customer) -> dict:
    """What the Details page's Subscriptions section shows for ``customer``."""
    return {
        "items": [
            {
                "listed": listed,
                "actions": rules.available_service_actions(listed.subscription, customer),
            }
            for listed in rules.listing(customer.id)
        ],
        "may_add": rules.may_add_service(customer),
        "states": STATE_LABELS,
        "term_label": term_label,
        "form": ServiceActionForm(),
    }


class ServiceSubscriptionsView(CustomerWorkflowView):
    """Adding one is the customer's ``add_subscription`` row action; changing one needs the
    view's permission."""

    section = "subscriptions"

    @expose("/new/", methods=("GET", "POST"))
    @customer_action("add_subscription")
    def add_view(self, customer: Customer):
        form = ServiceSubscriptionForm()
        plan = None
        if form.validate_on_submit():
            try:
                data = service_terms.parse_input(
                    form.name.data,
                    form.internal_ips.data,
                    form.external_ips.data,
                    form.term_months.data,
                    form.auto_renew.data,
                )
                if request.form.get("action") == "add" and form.previewed.data == _preview_key(
                    data
                ):
                    sub = rules.add_service(customer.id, data, staff_actor(), clock())
                    flash(
                        _(
                            "The subscription %(name)s was added; its term ends on %(date)s.",
                            name=sub.name,
                            date=day_in_text(sub.term_end),
                        ),
                        "success",
                    )
                    return self.back(customer.id, "subscriptions")
                if request.form.get("action") == "add":
                    flash(_("The values changed: please check the price again."), "warning")
                plan = rules.preview_service(customer.id, data, clock())
                form.previewed.data = _preview_key(data)
            except DomainError as error:
                field_error(form, error)
        elif request.method == "POST":
            flash(_("Please correct the marked fields."), "error")
        return self.render(
            "admin/customer_service_subscription.html", form=form, customer=customer, plan=plan
        )

    def _service_post(self, customer_id: int, service_id: int, change, message):
        """A POST from the Subscriptions section: ``change(customer_id, service_id, form)``
        calls billing; a domain error is flashed and nothing changes."""
        customer = self._customer(customer_id)
        form = ServiceActionForm()
        if not form.validate_on_submit():
            abort(400)
        try:
            sub = change(customer.id, service_id, form)
        except NotFound:
            abort(404)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(message(sub), "success")
        return self.back(customer.id, "subscriptions")

    @expose("/<int:service_id>/suspend/", methods=("POST",))
    def suspend_view(self, customer_id: int, service_id: int):
        return self._service_post(
            customer_id,
            service_id,
            lambda cid, sid, form: rules.suspend_service(
                cid, sid, staff_actor(), clock(), form.seen_version()
            ),
            lambda sub: _(
                "%(name)s is suspended: it is not billed and cannot be used until it is enabled.",
                name=sub.name,
            ),
        )

    @expose("/<int:service_id>/enable/", methods=("POST",))
    def enable_view(self, customer_id: int, service_id: int):
        return self._service_post(
            customer_id,
            service_id,
            lambda cid, sid, form: rules.enable_service(
                cid, sid, staff_actor(), clock(), form.seen_version()
            ),
            lambda sub: _("%(name)s is enabled again.", name=sub.name),
        )

    @expose("/<int:service_id>/auto-renew/", methods=("POST",))
    def auto_renew_view(self, customer_id: int, service_id: int):
        return self._service_post(
            customer_id,
            service_id,
            lambda cid, sid, form: rules.set_auto_renew(
                cid, sid, form.auto_renew.data == "1", staff_actor(), clock(), form.seen_version()
            ),
            lambda sub: (
                _("%(name)s renews automatically.", name=sub.name)
                if sub.auto_renew
                else _(
                    "%(name)s ends with its term on %(date)s.",
                    name=sub.name,
                    date=day_in_text(sub.term_end),
                )
            ),
        )

    @expose("/<int:service_id>/end/", methods=("POST",))
    def end_view(self, customer_id: int, service_id: int):
        return self._service_post(
            customer_id,
            service_id,
            lambda cid, sid, form: rules.end_service(
                cid, sid, staff_actor(), clock(), form.seen_version()
            ),
            lambda sub: _(
                "%(name)s has ended; it is billed up to %(date)s.",
                name=sub.name,
                date=day_in_text(sub.ended_on),
            ),
        )
