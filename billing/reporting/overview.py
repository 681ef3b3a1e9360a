"""A customer at a glance (issue 16, the staff's customer overview): what its header, Users,
Subscriptions, Invoices, Payments and E-mails sections show, read in a handful of queries.

The profile (contacts, groups, purchase orders), the additional subscriptions, the ledger and
the timeline come from their own modules (``customers.contacts``, ``customers.groups``,
``invoicing.purchase_orders``, ``subscriptions.service_subscriptions``, ``payments.ledger``,
``customers.timeline``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func

from billing.customers.lookup import current_subscription, get_customer, pending_change
from billing.customers.team import Member, team
from billing.invoicing.payment_terms import payment_terms_of
from billing.kernel.clock import Clock
from billing.payments import ledger, payment_failures
from billing.payments.cards import known_card
from billing.payments.receivables import credited_in_full, open_amounts
from models import (
    ActorType,
    AuditEvent,
    Customer,
    EmailLog,
    Invoice,
    PaymentAttempt,
    ScheduledChange,
    Subscription,
    User,
    db,
)

#: how many invoices, card payments and e-mails the overview lists (newest first)
LISTED = 100
CREDITED = "credited"
USER = "user"


@dataclass(frozen=True)
class UserRow:
    """A user of the customer or a pending team invitation (``team.Member``): its ``state``
    (main, active, disabled, invited, invite_expired), when the user registered and last
    signed in, and what staff may do to it (``actions``: resend and revoke an invitation; the
    users' own switches are the portal's)."""

    member: Member
    is_main: bool
    registered_at: datetime | None
    last_sign_in: datetime | None
    actions: tuple[str, ...]


@dataclass(frozen=True)
class InvoiceRow:
    """An invoice or credit note; ``state`` is the invoice's, or ``credited`` for an unpaid
    invoice its credit notes settled in full; ``open_amount`` what is still owed."""

    invoice: Invoice
    state: str
    open_amount: Decimal


@dataclass(frozen=True)
class PaymentRow:
    """A card payment attempt and the invoice it was for; ``reason`` why it failed (or why it
    waits), in words (``payment_failures.describe``)."""

    attempt: PaymentAttempt
    invoice_id: int
    invoice_number: str | None
    reason: str = ""


@dataclass(frozen=True)
class CustomerOverview:
    customer: Customer
    partner: str | None
    current: Subscription | None
    subscriptions: list[Subscription]
    pending: ScheduledChange | None
    balance: Decimal
    open_total: Decimal
    #: days an invoice of the customer is given until it is due (its own term, else the setting)
    payment_term_days: int
    users: list[UserRow]
    invoices: list[InvoiceRow]
    payments: list[PaymentRow]
    emails: list[EmailLog]
    #: the card Stripe will charge (``stripe_cards.CardInfo``); None without one
    card: object | None
    #: Stripe could not be asked about the card (keys missing are not an error)
    card_unknown: bool


def customer_overview(customer_id: int, clock: Clock) -> CustomerOverview:
    """Everything the overview's header and sections show for one customer. NotFound for an
    unknown id."""
    customer = get_customer(customer_id)
    users = _users(customer_id, clock)
    invoices = _invoices(customer_id)
    card, card_unknown = known_card(customer)
    return CustomerOverview(
        customer=customer,
        partner=customer.partner.name if customer.partner_id else None,
        current=current_subscription(customer_id),
        subscriptions=list(
            db.session.scalars(
                db.select(Subscription)
                .where(Subscription.customer_id == customer_id)
                .order_by(Subscription.valid_from.desc(), Subscription.id.desc())
            )
        ),
        pending=pending_change(customer_id),
        balance=ledger.balance(customer_id),
        open_total=sum((row.open_amount for row in invoices), Decimal("0.00")),
        payment_term_days=payment_terms_of([customer_id])[customer_id],
        users=users,
        invoices=invoices,
        payments=_payments(customer_id),
        emails=list(
            db.session.scalars(
                db.select(EmailLog)
                .where(EmailLog.customer_id == customer_id)
                .order_by(EmailLog.created_at.desc(), EmailLog.id.desc())
                .limit(LISTED)
            )
        ),
        card=card,
        card_unknown=card_unknown,
    )


def _users(customer_id: int, clock: Clock) -> list[UserRow]:
    """The main user first, then the team by name, each with its last successful sign-in, then
    the pending invitations."""
    users = {
        user.id: user
        for user in db.session.scalars(db.select(User).where(User.customer_id == customer_id))
    }
    signed_in = dict(
        db.session.execute(
            db.select(AuditEvent.actor_id, func.max(AuditEvent.at))
            .where(
                AuditEvent.customer_id == customer_id,
                AuditEvent.actor_type == ActorType.USER.value,
                AuditEvent.action == "user.sign_in",
                AuditEvent.outcome == "ok",
            )
            .group_by(AuditEvent.actor_id)
        ).all()
    )
    rows = []
    for member in team(customer_id, None, clock):
        user = users.get(member.id) if member.kind == USER else None
        rows.append(
            UserRow(
                member,
                is_main=bool(user and user.is_main),
                registered_at=user.registered_at if user else None,
                last_sign_in=signed_in.get(member.id) if user else None,
                actions=() if user else member.actions,
            )
        )
    return rows


def _invoices(customer_id: int) -> list[InvoiceRow]:
    invoices = db.session.scalars(
        db.select(Invoice)
        .where(Invoice.customer_id == customer_id)
        .order_by(Invoice.period.desc(), Invoice.id.desc())
        .limit(LISTED)
    ).all()
    credited = credited_in_full([invoice.id for invoice in invoices])
    owed = open_amounts(invoices)
    return [
        InvoiceRow(invoice, CREDITED if invoice.id in credited else invoice.state, owed[invoice.id])
        for invoice in invoices
    ]


def _payments(customer_id: int) -> list[PaymentRow]:
    rows = db.session.execute(
        db.select(PaymentAttempt, Invoice.id, Invoice.number)
        .join(Invoice, Invoice.id == PaymentAttempt.invoice_id)
        .where(Invoice.customer_id == customer_id)
        .order_by(PaymentAttempt.created_at.desc(), PaymentAttempt.id.desc())
        .limit(LISTED)
    ).all()
    return [
        PaymentRow(
            attempt,
            invoice_id,
            number,
            payment_failures.attempt_reason(attempt.state, attempt.error),
        )
        for attempt, invoice_id, number in rows
    ]
