"""What every screen acting on one customer shares, and the base of the customer's workflows.

``CustomerRecordActions`` answers the row-action guard's questions (``actions.RecordActions``:
the customer of the URL, the actions ``billing`` allows it, its page) and leads back to the
customer's overview. ``CustomerWorkflowView`` is a workflow on one customer as a Flask-Admin view
of its own (Django admin's "process-heavy flows get their own views"; issue 15): IP Distribution,
the project-key wizard, the profile edits, the additional subscriptions and the tools. Each is
registered in ``build_admin`` under the customer's address (``/admin/customer/<customer_id>/…``,
so every endpoint gets ``customer_id``), stays out of the menu, and is guarded like every screen:
its ``permission`` for all its endpoints, and a row action's entry in ``CUSTOMER_ACTIONS``
(``customer_action``) for the endpoints that are row actions.
"""

from __future__ import annotations

from typing import ClassVar

from flask import abort, current_app, flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext as _

from billing.customers import actions
from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission
from jobs.mail import send
from models import Customer, db

from .actions import CUSTOMER_ACTIONS, RecordActions
from .base import SecureBaseView
from .navigation import RETURN, return_url

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


def overview(customer_id: int, section: str = ""):
    """A redirect to the customer's overview, opened at ``section`` (its tab)."""
    anchor = f"#{section}" if section else ""
    return redirect(url_for("customer.details_view", id=customer_id) + anchor)


class CustomerRecordActions(RecordActions):
    """The customer a screen's URL names, for ``Actions.endpoint`` and the screen itself; an
    action ends on the customer list it was started from, or on the overview
    (``RecordActions.back``)."""

    list_endpoint = "customer"

    def _customer(self, customer_id: int) -> Customer:
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            abort(404)
        return customer

    def render(self, template, **kwargs):
        """An action's own page (admin/customer_page.html) knows its way back to the list it was
        started from and to the customer's overview, and where Cancel goes (where the action
        would have ended); the list and the overview are the customer view's own."""
        if "data" not in kwargs and "model" not in kwargs:
            customer = kwargs.get("customer")
            listing = return_url()
            kwargs.setdefault("list_url", self.list_url())
            kwargs.setdefault("return_to", listing)
            if isinstance(customer, Customer):
                kwargs.setdefault("overview_url", self.record_url(customer.id, listing))
                kwargs.setdefault("cancel_url", self.back_url(customer.id))
            else:
                kwargs.setdefault("cancel_url", self.list_url())
        return super().render(template, **kwargs)

    def action_record(self, customer_id: int) -> Customer:
        return self._customer(customer_id)

    def applicable_actions(self, customer: Customer) -> list[str]:
        return actions.available_actions(customer)

    def record_url(self, customer_id: int, return_to: str | None) -> str:
        return url_for(
            "customer.details_view", id=customer_id, **({RETURN: return_to} if return_to else {})
        )

    def _details_post(self, customer: Customer, form_class, change, message, section: str = ""):
        """A POST from the customer's overview: ``change(customer, form)`` calls billing,
        ``message`` words the result; a domain error is flashed and nothing changes. Back to
        the overview's ``section``."""
        form = form_class()
        if not form.validate_on_submit():
            abort(400)
        try:
            result = change(customer, form)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(message(form, result), "success")
        return self.back(customer.id, section)

    def home_country(self) -> str:
        return current_app.config["HOME_COUNTRY"]


class CustomerWorkflowView(CustomerRecordActions, SecureBaseView):
    """One workflow on one customer (see the module's text). Its address without a page of its
    own (``/admin/customer/<id>/<workflow>/``) opens the customer's overview at ``section``; a
    workflow whose form is that address exposes its own ``index``."""

    permission: ClassVar[Permission | None] = Permission.MANAGE_CUSTOMERS
    #: the overview's tab this workflow belongs to
    section: ClassVar[str] = ""

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self, customer_id: int):
        return overview(self._customer(customer_id).id, self.section)
