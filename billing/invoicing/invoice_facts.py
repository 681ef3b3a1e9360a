"""What staff look for first on an invoice's page when a customer calls about it (SPEC §14):
its facts (issued, due and since when overdue, payment method, paid when and how, e-mailed when
and to whom, the month-end run it belongs to), its payments (card attempts with their outcome
and Stripe payment intent, a bank transfer marked paid and by whom, refunds), its e-mails and
the credit notes that correct it; for a credit note, the invoice it corrects and what it
settled.

``invoice_history`` reads all of it in a handful of queries, however long the history: the
attempts, the e-mails, the credit notes and the audit events (who marked it paid, retried,
refunded or credited it) each once. Views show what it returns and decide nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from billing.kernel.clock import Clock
from billing.kernel.errors import NotFound
from billing.kernel.i18n import _
from billing.kernel.mail import describe_failure
from billing.payments import payment_failures, receivables
from models import (
    ActorType,
    AttemptState,
    AuditEvent,
    BillingRun,
    EmailLog,
    EmailState,
    Invoice,
    InvoiceKind,
    InvoiceState,
    PaymentAttempt,
    db,
)

CARD = "card"
TRANSFER = "transfer"
REFUND = "refund"
# the audit events that tell who did what to an issued invoice or its payments
EVENTS = (
    "invoice.paid",
    "invoice.retry_payment",
    "invoice.credit_note",
    "payment.refund",
)
CHARGED = (AttemptState.SUCCEEDED.value, AttemptState.REFUNDED.value)


@dataclass(frozen=True)
class Payment:
    """One entry of an invoice's payments: a card attempt (``kind`` "card", ``state`` the
    attempt's), a bank transfer marked paid ("transfer", state "succeeded") or a refund of a
    card payment ("refund", state "refunded", ``amount`` negative). ``reason`` says why a card
    attempt failed, in words; ``by`` who asked for it (a retry, a transfer marked paid, a
    refund), "" for the system (the month-end run, a webhook)."""

    kind: str
    at: datetime
    amount: Decimal
    currency: str
    state: str
    by: str = ""
    attempt: int | None = None
    reason: str = ""
    payment_intent: str | None = None


@dataclass(frozen=True)
class Email:
    """A message about the invoice in the e-mail log: the invoice itself, or the notice of a
    failed card payment; ``error`` says why it was not delivered, in words."""

    id: int
    at: datetime
    sent_at: datetime | None
    recipient: str
    template: str
    state: str
    error: str


@dataclass(frozen=True)
class CreditNote:
    """A credit note correcting the invoice (or, on a credit note's page, the credit note
    itself): the gross ``amount`` it credits (positive), the part of it that ``settled`` the
    invoice's open amount, the ``account_credit`` (net) the rest became, and the ``reason``
    and person (``by``) that issued it."""

    id: int
    number: str | None
    issued_on: date | None
    amount: Decimal
    settled: Decimal
    account_credit: Decimal
    reason: str
    by: str


@dataclass(frozen=True)
class InvoiceHistory:
    """An invoice's facts, payments, e-mails and credit notes (see the module). ``issued_on``
    is the invoice date (None for a draft); ``days_overdue`` 0 unless it is overdue;
    ``paid_how`` "card" or "transfer" for a paid invoice, else ""; ``corrects`` the invoice a
    credit note corrects (its id and number) with ``correction`` what the note did."""

    invoice_id: int
    kind: str
    currency: str
    issued_on: date | None
    due: date | None
    days_overdue: int
    open_amount: Decimal
    payment_method: str
    paid_at: datetime | None
    paid_how: str
    paid_by: str
    emailed_at: datetime | None
    emailed_to: list[str]
    run_id: int | None
    run_period: date | None
    payments: list[Payment]
    emails: list[Email]
    credit_notes: list[CreditNote]
    corrects_id: int | None
    corrects_number: str | None
    correction: CreditNote | None


def invoice_history(invoice_id: int, clock: Clock) -> InvoiceHistory:
    """The history of invoice (or credit note) ``invoice_id`` as of ``clock``'s business date.
    NotFound for an unknown id."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(_("This invoice does not exist."))
    is_note = invoice.kind == InvoiceKind.CREDIT_NOTE.value
    notes = [] if is_note else _notes_of(invoice)
    corrected = (
        db.session.get(Invoice, invoice.corrects_invoice_id)
        if invoice.corrects_invoice_id
        else None
    )
    events = _events(invoice, notes)
    attempts = list(
        db.session.scalars(
            db.select(PaymentAttempt)
            .where(PaymentAttempt.invoice_id == invoice.id)
            .order_by(PaymentAttempt.number, PaymentAttempt.id)
        )
    )
    payments = _payments(invoice, attempts, events)
    emails = _emails(invoice.id)
    run = db.session.get(BillingRun, invoice.billing_run_id) if invoice.billing_run_id else None
    owed = receivables.open_amount(invoice)
    paid_how, paid_by = _paid(invoice, payments)
    return InvoiceHistory(
        invoice_id=invoice.id,
        kind=invoice.kind,
        currency=invoice.currency,
        issued_on=_day(invoice.finalized_at, clock),
        due=invoice.due_date,
        days_overdue=receivables.days_overdue(invoice, clock.today(), owed),
        open_amount=owed,
        payment_method=invoice.payment_method,
        paid_at=invoice.paid_at if invoice.state == InvoiceState.PAID.value else None,
        paid_how=paid_how,
        paid_by=paid_by,
        emailed_at=invoice.emailed_at,
        emailed_to=_sent_to(emails) if invoice.emailed_at else [],
        run_id=run.id if run else None,
        run_period=run.period if run else None,
        payments=payments,
        emails=emails,
        credit_notes=[_credit_note(note, events, clock) for note in notes],
        corrects_id=corrected.id if corrected else None,
        corrects_number=corrected.number if corrected else None,
        correction=_credit_note(invoice, events, clock) if is_note else None,
    )


def _day(moment: datetime | None, clock: Clock) -> date | None:
    """The date of ``moment`` on the MSP's calendar."""
    return moment.astimezone(clock.tz).date() if moment else None


def _notes_of(invoice: Invoice) -> list[Invoice]:
    return list(
        db.session.scalars(
            db.select(Invoice)
            .where(
                Invoice.corrects_invoice_id == invoice.id,
                Invoice.kind == InvoiceKind.CREDIT_NOTE.value,
            )
            .order_by(Invoice.id)
        )
    )


def _number_of(event: AuditEvent) -> str:
    """The invoice number an event names; card payment events named it under "invoice"
    before they named it under "number"."""
    after = event.after or {}
    number = after.get("number") or after.get("invoice")
    return number if isinstance(number, str) else ""


def _events(invoice: Invoice, notes: list[Invoice]) -> list[AuditEvent]:
    """The customer's audit events since the invoice was issued that name the invoice or one
    of its credit notes, oldest first."""
    if invoice.finalized_at is None:
        return []
    numbers = {number for number in [invoice.number, *(n.number for n in notes)] if number}
    events = db.session.scalars(
        db.select(AuditEvent)
        .where(
            AuditEvent.customer_id == invoice.customer_id,
            AuditEvent.action.in_(EVENTS),
            AuditEvent.at >= invoice.finalized_at,
        )
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return [event for event in events if _number_of(event) in numbers]


def _actor(event: AuditEvent | None) -> str:
    """Who an event was done by; "" for the system."""
    if event is None or event.actor_type == ActorType.SYSTEM.value:
        return ""
    return event.actor_label


def _payments(
    invoice: Invoice, attempts: list[PaymentAttempt], events: list[AuditEvent]
) -> list[Payment]:
    """The card attempts (with who retried them and their refunds) and a transfer marked
    paid, in the order they happened."""
    own = [event for event in events if _number_of(event) == invoice.number]
    retried = _by_attempt(own, "invoice.retry_payment")
    refunded = _by_attempt(own, "payment.refund")
    payments = []
    for attempt in attempts:
        payments.append(
            Payment(
                kind=CARD,
                at=attempt.created_at,
                amount=attempt.amount,
                currency=attempt.currency,
                state=attempt.state,
                by=_actor(retried.get(attempt.idempotency_key)),
                attempt=attempt.number,
                reason=payment_failures.attempt_reason(attempt.state, attempt.error),
                payment_intent=attempt.payment_intent_id,
            )
        )
        if attempt.state == AttemptState.REFUNDED.value:
            event = refunded.get(attempt.idempotency_key)
            payments.append(
                Payment(
                    kind=REFUND,
                    at=event.at if event else attempt.updated_at,
                    amount=-attempt.amount,
                    currency=attempt.currency,
                    state=AttemptState.REFUNDED.value,
                    by=_actor(event),
                    attempt=attempt.number,
                    payment_intent=attempt.payment_intent_id,
                )
            )
    charged = any(attempt.state in CHARGED for attempt in attempts)
    if invoice.state == InvoiceState.PAID.value and not charged:
        marked = next((event for event in own if event.action == "invoice.paid"), None)
        payments.append(
            Payment(
                kind=TRANSFER,
                at=marked.at if marked else invoice.paid_at,
                amount=receivables.paid_amount(invoice),
                currency=invoice.currency,
                state=AttemptState.SUCCEEDED.value,
                by=_actor(marked),
            )
        )
    return sorted(payments, key=lambda payment: payment.at)


def _by_attempt(events: list[AuditEvent], action: str) -> dict[str, AuditEvent]:
    """The ``action`` events by the payment attempt (idempotency key) they name."""
    return {(event.after or {}).get("attempt"): event for event in events if event.action == action}


def _paid(invoice: Invoice, payments: list[Payment]) -> tuple[str, str]:
    """How a paid invoice was paid ("card" or "transfer") and who marked a transfer paid."""
    if invoice.state != InvoiceState.PAID.value:
        return "", ""
    transfer = next((payment for payment in payments if payment.kind == TRANSFER), None)
    return (TRANSFER, transfer.by) if transfer else (CARD, "")


def _emails(invoice_id: int) -> list[Email]:
    logs = db.session.scalars(
        db.select(EmailLog)
        .where(EmailLog.invoice_id == invoice_id)
        .order_by(EmailLog.created_at, EmailLog.id)
    )
    return [
        Email(
            id=log.id,
            at=log.created_at,
            sent_at=log.sent_at,
            recipient=log.recipient,
            template=log.template,
            state=log.state,
            error=describe_failure(log.error),
        )
        for log in logs
    ]


def _sent_to(emails: list[Email]) -> list[str]:
    """The addresses the invoice itself was delivered to, each once, in the order sent."""
    recipients: list[str] = []
    for email in emails:
        sent = email.template == "invoice" and email.state == EmailState.SENT.value
        if sent and email.recipient not in recipients:
            recipients.append(email.recipient)
    return recipients


def _credit_note(note: Invoice, events: list[AuditEvent], clock: Clock) -> CreditNote:
    effect = receivables.credit_effect(note)
    issued = next(
        (
            event
            for event in events
            if event.action == "invoice.credit_note" and _number_of(event) == note.number
        ),
        None,
    )
    return CreditNote(
        id=note.id,
        number=note.number,
        issued_on=_day(note.finalized_at, clock),
        amount=-note.gross,
        settled=effect.settled,
        account_credit=effect.account_credit,
        reason=issued.reason if issued else "",
        by=_actor(issued),
    )
