"""Row actions as data: one registry per model (customers, invoices, billing runs).

A ``RowAction`` says what an action looks like (label, style, confirmation), where it goes
(endpoint and method: a ``GET`` is a link, a ``POST`` a small form with the CSRF token) and who
may use it (a ``billing.kernel.permissions.Permission``). Which actions apply to a record is
decided by ``billing`` alone (``available_actions``). Every place that offers or runs an action
reads the same entry: the customer list's row menu (``customer_rows``), the record's page (its
header buttons and the edits of its sections, ``Actions.links``) and the endpoint itself
(``Actions.endpoint``: the permission, then whether the action applies, else a clear message).

Every link to an action carries the address of the list it was started from (``navigation``),
and the action ends back on that list page with the record highlighted
(``RecordActions.back``), so staff keep their page, filters, search and sort.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps

from flask import abort, flash, g, redirect, url_for
from flask_babel import lazy_gettext
from werkzeug.exceptions import NotFound

from billing.kernel.permissions import Permission

from .auth import staff_can, staff_permissions
from .navigation import RETURN, is_list_of, return_url, with_highlight

GET, POST = "GET", "POST"


@dataclass(frozen=True)
class RowAction:
    """One action on a record. ``menu``: offered in the row menu and the record page's header
    (else only by a section of the record's page). ``argument``: the URL argument naming the
    record, when it is not the registry's; ``part``: the URL argument naming the part of the
    record the action is on (a team invitation of a customer; ``Link.part_url``). ``confirm``
    may name values of the record (``%(name)s``) that the page passes to ``Actions.links``.
    ``follow``: the action starts work that the record's page follows (a billing run being
    finalized), so it ends there instead of on the list it was started from."""

    key: str
    label: object
    endpoint: str
    method: str = GET
    permission: Permission = Permission.MANAGE_CUSTOMERS
    style: str = "secondary"
    confirm: object | None = None
    menu: bool = True
    argument: str | None = None
    part: str | None = None
    follow: bool = False

    @property
    def returns_to_list(self) -> bool:
        """Whether the action, started from a list, ends on that list page."""
        return self.menu and not self.follow


@dataclass(frozen=True)
class Link:
    """A ``RowAction`` for one record: its URL, confirmation text and the record's version
    (posted with a ``POST`` action for the "changed by someone else" check). An action on a
    part of the record has no ``url``; ``part_url(part_id)`` builds it. ``arguments`` are the
    URL's arguments (the record's id and the list to return to)."""

    action: RowAction
    url: str
    confirm: str
    version: int | None
    arguments: dict

    def part_url(self, part_id: int) -> str:
        return url_for(self.action.endpoint, **self.arguments, **{self.action.part: part_id})

    @property
    def key(self) -> str:
        return self.action.key

    @property
    def label(self) -> str:
        return str(self.action.label)

    @property
    def method(self) -> str:
        return self.action.method

    @property
    def style(self) -> str:
        return self.action.style

    @property
    def form_id(self) -> str:
        return f"{self.action.key.replace('_', '-')}-form"


class Actions:
    """The row actions of one model, in menu order."""

    def __init__(self, argument: str, refusal, *actions: RowAction) -> None:
        self.argument = argument
        self.refusal = refusal
        self.actions = actions
        self._by_key = {action.key: action for action in actions}
        if len(self._by_key) != len(actions):
            raise ValueError("two row actions with one key")

    def __getitem__(self, key: str) -> RowAction:
        return self._by_key[key]

    def __iter__(self):
        return iter(self.actions)

    def argument_of(self, action: RowAction) -> str:
        return action.argument or self.argument

    def permitted(self, menu: bool | None = None) -> list[RowAction]:
        """The actions the signed-in staff member may use (only the menu's, or only the
        sections', when ``menu`` says so)."""
        granted = staff_permissions()
        return [
            action
            for action in self.actions
            if (menu is None or action.menu == menu) and action.permission in granted
        ]

    def links(
        self,
        record_id: int,
        available: Iterable[str],
        *,
        menu: bool | None = None,
        version: int | None = None,
        values: dict | None = None,
        return_to: str | None = None,
    ) -> dict[str, Link]:
        """The permitted actions that apply to the record (``available``, from ``billing``),
        by key in menu order; each URL carries ``return_to``, the list page to go back to."""
        applies = set(available)
        links = {}
        for action in self.permitted(menu):
            if action.key not in applies:
                continue
            arguments = {self.argument_of(action): record_id}
            if return_to:
                arguments[RETURN] = return_to
            links[action.key] = Link(
                action,
                "" if action.part else url_for(action.endpoint, **arguments),
                str(action.confirm) % (values or {}) if action.confirm else "",
                version,
                arguments,
            )
        return links

    def endpoint(self, key: str) -> Callable:
        """Guard an endpoint of action ``key``: staff without its permission get 403, an unknown
        record 404, and a record the action does not apply to (``applicable_actions``) a
        message where the action would have ended (``refusal_reason``, else the registry's;
        ``RecordActions.back``); otherwise the endpoint is called with the record instead of its
        id. The view is a ``RecordActions``."""
        action = self[key]

        def decorate(view):
            @wraps(view)
            def checked(admin_view, **kwargs):
                if not staff_can(action.permission):
                    abort(403)
                record_id = kwargs.pop(self.argument)
                try:
                    record = admin_view.action_record(record_id)
                except NotFound:
                    if action.method != POST:
                        raise
                    # sent for a record another request removed meanwhile (a draft drafted
                    # again, a form sent twice): said where the list is, not a 404
                    flash(str(admin_view.gone_message), "error")
                    return redirect(admin_view.list_url())
                g.row_action = action
                if key not in admin_view.applicable_actions(record):
                    reason = admin_view.refusal_reason(record, key)
                    flash(str(reason or self.refusal), "error")
                    return admin_view.back(record.id)
                return view(admin_view, record, **kwargs)

            checked.permission = action.permission
            return checked

        return decorate


class RecordActions:
    """What ``Actions.endpoint`` asks of the view whose records the actions act on, and where
    an action ends (``back``, ``back_to_list``). The view is a Flask-Admin model view."""

    gone_message = lazy_gettext(
        "This record does not exist (any more); it may have been removed in the meantime."
    )

    def action_record(self, record_id: int):
        """The record, or 404 (a POST action for a record that is gone answers
        ``gone_message`` on the list instead)."""
        raise NotImplementedError

    def applicable_actions(self, record) -> list[str]:
        """``billing``'s ``available_actions`` for the record."""
        raise NotImplementedError

    def record_url(self, record_id: int, return_to: str | None) -> str:
        """The address of the record's page, which keeps ``return_to`` (its way back)."""
        return url_for(".details_view", id=record_id, **{RETURN: return_to} if return_to else {})

    @property
    def list_endpoint(self) -> str:
        """The view whose list the records are listed in (a customer's workflows, views of
        their own, name the customer list)."""
        return self.endpoint

    def list_url(self) -> str:
        """The list page this request came from (its ``url``), else the list's first page."""
        listing = return_url()
        if listing is None or not is_list_of(listing, self.list_endpoint):
            return url_for(f"{self.list_endpoint}.index_view")
        return listing

    def back_url(self, record_id: int, section: str = "") -> str:
        """Where the running action ends: a row action (``RowAction.returns_to_list``) started
        from this view's list goes back to that list page with the record highlighted;
        everything else to the record's page (at ``section``), which keeps the list's address
        for the way back."""
        listing = return_url()
        action = g.get("row_action")
        if (
            listing is not None
            and action is not None
            and action.returns_to_list
            and is_list_of(listing, self.list_endpoint)
        ):
            return with_highlight(listing, record_id)
        return self.record_url(record_id, listing) + (f"#{section}" if section else "")

    def back(self, record_id: int, section: str = ""):
        """The redirect to ``back_url``."""
        return redirect(self.back_url(record_id, section))

    def back_to_list(self, record_id: int):
        """The redirect to the list page the action was started from (else the list), with
        the record highlighted: for actions whose result is best seen in the list."""
        return redirect(with_highlight(self.list_url(), record_id))

    def refusal_reason(self, record, key: str) -> str | None:
        """Why action ``key`` does not apply to the record, when ``billing`` can say more than
        the registry's message."""
        return None


# The customer view's own actions name its endpoints (".lock_view"); the workflows are views
# of their own (``customer_record.CustomerWorkflowView``), named with their view
# ("ip_distribution.index").
CUSTOMER_ACTIONS = Actions(
    "customer_id",
    lazy_gettext("This action is not available for this customer (any more)."),
    RowAction("convert", lazy_gettext("Convert to managed"), ".convert_view"),
    RowAction(
        "ip_distribution",
        lazy_gettext("IP Distribution"),
        "ip_distribution.index",
        style="primary",
    ),
    RowAction(
        "resend_invite",
        lazy_gettext("Resend invite"),
        ".resend_invite_view",
        POST,
        Permission.RESEND_INVITES,
    ),
    RowAction(
        "details",
        lazy_gettext("Details"),
        ".details_view",
        permission=Permission.READ,
        argument="id",
    ),
    RowAction(
        "lock",
        lazy_gettext("Lock account"),
        ".lock_view",
        POST,
        confirm=lazy_gettext(
            "Lock the account of %(name)s? None of its users can sign in until it is unlocked; "
            "billing goes on."
        ),
    ),
    RowAction("unlock", lazy_gettext("Unlock account"), ".unlock_view", POST),
    RowAction("add_project_key", lazy_gettext("Add project key"), "project_key_wizard.index"),
    RowAction("edit_address", lazy_gettext("Edit address"), "customer_profile.address_view"),
    RowAction("change_main_user", lazy_gettext("Change main user"), ".main_user_view"),
    RowAction("create_similar", lazy_gettext("Create similar"), "create_similar.index"),
    RowAction("send_email", lazy_gettext("Send an e-mail"), "customer_message.index"),
    RowAction(
        "impersonate",
        lazy_gettext("Log in as the customer"),
        "customer_impersonation.index",
        permission=Permission.IMPERSONATE,
    ),
    RowAction(
        "cancel_subscription",
        lazy_gettext("Cancel Active Subscription"),
        ".cancel_view",
        POST,
        style="danger",
        confirm=lazy_gettext(
            "Cancel the active subscription? The current booking month is still billed in full."
        ),
    ),
    RowAction("delete", lazy_gettext("Delete"), ".delete_customer_view", style="danger"),
    # the edits of the customer's page, each in its section
    RowAction(
        "edit_profile", lazy_gettext("Edit"), "customer_profile.organisation_view", menu=False
    ),
    RowAction(
        "edit_tags", lazy_gettext("Edit tags"), "customer_profile.tags_view", POST, menu=False
    ),
    RowAction(
        "set_language",
        lazy_gettext("Change language"),
        "customer_profile.language_view",
        POST,
        menu=False,
    ),
    RowAction(
        "assign_partner",
        lazy_gettext("Change partner"),
        "customer_profile.partner_view",
        POST,
        menu=False,
    ),
    RowAction("set_price", lazy_gettext("Change price"), ".price_view", POST, menu=False),
    RowAction(
        "book_ledger",
        lazy_gettext("Book a credit or debit"),
        "customer_ledger.index",
        POST,
        Permission.MANAGE_BILLING,
        menu=False,
    ),
    RowAction(
        "add_subscription",
        lazy_gettext("Add subscription"),
        "customer_subscriptions.add_view",
        menu=False,
    ),
    RowAction(
        "resend_team_invite",
        lazy_gettext("Resend invite"),
        "team_invitations.resend_view",
        POST,
        Permission.RESEND_INVITES,
        menu=False,
        part="invitation_id",
    ),
    RowAction(
        "withdraw_team_invite",
        lazy_gettext("Withdraw invite"),
        "team_invitations.withdraw_view",
        POST,
        style="danger",
        confirm=lazy_gettext("Withdraw the invitation? Its link stops working."),
        menu=False,
        part="invitation_id",
    ),
)

INVOICE_ACTIONS = Actions(
    "invoice_id",
    lazy_gettext("This action is not available for this invoice (any more)."),
    RowAction(
        "pdf",
        lazy_gettext("Download PDF"),
        ".pdf_view",
        permission=Permission.READ,
        style="primary",
    ),
    RowAction("redraft", lazy_gettext("Redraft"), ".redraft_view", POST, Permission.MANAGE_BILLING),
    RowAction(
        "mark_paid",
        lazy_gettext("Mark paid (bank transfer)"),
        ".mark_paid_view",
        POST,
        Permission.MANAGE_BILLING,
        style="success",
    ),
    RowAction(
        "retry_payment",
        lazy_gettext("Retry card payment"),
        ".retry_payment_view",
        POST,
        Permission.MANAGE_BILLING,
        style="primary",
    ),
    RowAction(
        "credit_note",
        lazy_gettext("Create credit note"),
        ".credit_note_view",
        POST,
        Permission.MANAGE_BILLING,
        style="danger",
        confirm=lazy_gettext("Create a credit note for the full amount of this invoice?"),
        menu=False,
    ),
)

RUN_ACTIONS = Actions(
    "run_id",
    lazy_gettext("This action is not available for this billing run (any more)."),
    RowAction(
        "report",
        lazy_gettext("Download run report (CSV)"),
        ".report_view",
        permission=Permission.READ,
    ),
    RowAction(
        "approve",
        lazy_gettext("Approve and finalize"),
        ".approve_view",
        POST,
        Permission.MANAGE_BILLING,
        style="primary",
        follow=True,
        confirm=lazy_gettext(
            "Finalize %(n)d invoices: number them, charge card customers and e-mail them? "
            "Finalized invoices can only be corrected by credit notes."
        ),
    ),
    RowAction(
        "resume",
        lazy_gettext("Continue the run"),
        ".resume_view",
        POST,
        Permission.MANAGE_BILLING,
        style="warning",
        follow=True,
    ),
)

#: Every registry, by the endpoint of the view whose records it acts on.
REGISTRIES: dict[str, Actions] = {
    "customer": CUSTOMER_ACTIONS,
    "invoice": INVOICE_ACTIONS,
    "billing_run": RUN_ACTIONS,
}
