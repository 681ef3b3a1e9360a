"""What is still owed on an invoice, and what an invoice therefore allows (SPEC §14).

**Open amount** = gross − paid − what credit notes settled. Until payments are records of
their own, an invoice in state ``paid`` counts as paid in full and any other as unpaid.

A credit note first settles the open amount of the invoice it corrects; only the part of it
that was already paid becomes account credit (``credit_split``). An invoice whose open amount
is zero is no longer payable: it is not marked paid, not charged at month end, not offered for
a card retry in the admin or the portal (``invoice_actions``, ``payable``, ``is_payable``).

**Overdue** = the business date is after the due date and something is open (``days_overdue``,
the one rule; ``open_items`` lists a customer's open invoices with their due dates by it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.orm import aliased

from billing.catalog.pricing import to_cents
from billing.invoicing.payment_terms import due_date
from billing.kernel.clock import lease_now
from billing.kernel.i18n import _
from billing.kernel.site import Site
from models import (
    AttemptState,
    Invoice,
    InvoiceKind,
    InvoiceState,
    PaymentAttempt,
    PaymentMethodCode,
    db,
)

ZERO = Decimal("0.00")
# the states in which an invoice can still be owed
PAYABLE_STATES = (InvoiceState.FINALIZED.value, InvoiceState.PAYMENT_FAILED.value)
ISSUED_STATES = (*PAYABLE_STATES, InvoiceState.PAID.value)


def _notes_sum(invoice_id: int, column) -> Decimal:
    total = db.session.scalar(
        db.select(func.coalesce(func.sum(column), 0)).where(
            Invoice.corrects_invoice_id == invoice_id,
            Invoice.kind == InvoiceKind.CREDIT_NOTE.value,
        )
    )
    return Decimal(total).quantize(Decimal("0.01"))


def credited(invoice_id: int) -> Decimal:
    """The gross amount credit notes have credited on the invoice so far (positive)."""
    return -_notes_sum(invoice_id, Invoice.gross)


def settled_by_credit_notes(invoice_id: int) -> Decimal:
    """How much of the invoice's gross its credit notes settled (positive)."""
    return _notes_sum(invoice_id, Invoice.settled_amount)


def paid_amount(invoice: Invoice) -> Decimal:
    return invoice.gross if invoice.state == InvoiceState.PAID.value else ZERO


def open_amount(invoice: Invoice) -> Decimal:
    """What the customer still owes on ``invoice`` (zero for drafts, void invoices and credit
    notes)."""
    return open_amounts([invoice])[invoice.id]


def open_amounts(invoices: list[Invoice]) -> dict[int, Decimal]:
    """``open_amount`` of many invoices, by id, with one query for their credit notes."""
    ids = [
        invoice.id
        for invoice in invoices
        if invoice.kind == InvoiceKind.INVOICE.value and invoice.state in ISSUED_STATES
    ]
    settled = (
        dict(
            db.session.execute(
                db.select(Invoice.corrects_invoice_id, func.sum(Invoice.settled_amount))
                .where(
                    Invoice.corrects_invoice_id.in_(ids),
                    Invoice.kind == InvoiceKind.CREDIT_NOTE.value,
                )
                .group_by(Invoice.corrects_invoice_id)
            ).all()
        )
        if ids
        else {}
    )
    owed = {}
    for invoice in invoices:
        if invoice.kind != InvoiceKind.INVOICE.value or invoice.state not in ISSUED_STATES:
            owed[invoice.id] = ZERO
            continue
        notes = Decimal(settled.get(invoice.id) or 0).quantize(Decimal("0.01"))
        owed[invoice.id] = max(invoice.gross - paid_amount(invoice) - notes, ZERO)
    return owed


def days_overdue(invoice: Invoice, today: date, owed: Decimal | None = None) -> int:
    """For how many days ``invoice`` is overdue on ``today`` (the MSP's business date): the days
    since its due date while something is open on it (``owed``: its ``open_amount`` where the
    caller has it already). 0 when it is not overdue: not due yet, nothing open, or no due date
    (a draft, a credit note)."""
    if invoice.due_date is None or today <= invoice.due_date:
        return 0
    if (open_amount(invoice) if owed is None else owed) <= ZERO:
        return 0
    return (today - invoice.due_date).days


def creditable_amount(invoice: Invoice) -> Decimal:
    """How much a further credit note may credit: the gross less what was credited before
    (zero for anything but an issued invoice)."""
    if invoice.kind != InvoiceKind.INVOICE.value or invoice.state not in ISSUED_STATES:
        return ZERO
    return max(invoice.gross - credited(invoice.id), ZERO)


def has_credit_note(invoice_id: int) -> bool:
    return (
        db.session.scalar(
            db.select(Invoice.id)
            .where(
                Invoice.corrects_invoice_id == invoice_id,
                Invoice.kind == InvoiceKind.CREDIT_NOTE.value,
            )
            .limit(1)
        )
        is not None
    )


def may_credit(invoice: Invoice) -> bool:
    """An issued invoice can be credited while something of it is left to credit; one without
    any amount (account credit paid it all) once, which gives that credit back."""
    if invoice.kind != InvoiceKind.INVOICE.value or invoice.state not in ISSUED_STATES:
        return False
    return creditable_amount(invoice) > ZERO or not has_credit_note(invoice.id)


def _net_part(net: Decimal, gross: Decimal, part: Decimal) -> Decimal:
    """The net amount in ``part`` of a ``gross`` amount that holds ``net``."""
    if part <= ZERO or gross <= ZERO:
        return ZERO
    return net if part == gross else to_cents(net * part / gross)


def credit_split(invoice: Invoice, gross: Decimal, net: Decimal) -> tuple[Decimal, Decimal]:
    """How a credit note of ``gross`` (with ``net`` in it, both positive) on ``invoice`` takes
    effect: ``(settled, account_credit)``. ``settled`` (gross) is taken off the invoice's open
    amount first; the rest was paid already and becomes ``account_credit`` (net, as the ledger
    keeps net amounts and the next invoice adds VAT on what is left)."""
    settled = min(open_amount(invoice), gross)
    return settled, _net_part(net, gross, gross - settled)


def charge_in_progress(invoice_id: int, *, right_now: bool = False) -> bool:
    """A card payment of the invoice is pending: being made, or its outcome unknown until it
    is retried (Stripe was not reached). ``right_now``: only one being made at this moment
    (its caller holds the claim and talks to Stripe)."""
    query = db.select(PaymentAttempt.id).where(
        PaymentAttempt.invoice_id == invoice_id,
        PaymentAttempt.state == AttemptState.PENDING.value,
    )
    if right_now:
        query = query.where(PaymentAttempt.claimed_until >= lease_now())
    return db.session.scalar(query) is not None


def payment_refusal(invoice: Invoice) -> str | None:
    """Why ``invoice`` cannot be paid or charged now, in words for staff and customers; None
    when it is payable (issued, unpaid, with an open amount)."""
    if invoice.kind != InvoiceKind.INVOICE.value:
        return _("A credit note is not paid.")
    if invoice.state == InvoiceState.PAID.value:
        return _("This invoice is paid already.")
    if invoice.state not in PAYABLE_STATES:
        return _("Only finalized invoices can be paid.")
    if open_amount(invoice) <= ZERO:
        if settled_by_credit_notes(invoice.id) > ZERO:
            return _("Nothing is open on this invoice any more: a credit note settled it.")
        return _("Nothing is open on this invoice.")
    return None


def payable(invoice: Invoice) -> bool:
    return payment_refusal(invoice) is None


def is_payable():
    """The SQL condition of ``payable`` for queries over many invoices (month-end charges,
    the portal's failed card payments)."""
    note = aliased(Invoice)
    settled = (
        db.select(func.coalesce(func.sum(note.settled_amount), 0))
        .where(
            note.corrects_invoice_id == Invoice.id,
            note.kind == InvoiceKind.CREDIT_NOTE.value,
        )
        .scalar_subquery()
    )
    return db.and_(
        Invoice.kind == InvoiceKind.INVOICE.value,
        Invoice.state.in_(PAYABLE_STATES),
        Invoice.gross > settled,
    )


def credited_in_full(invoice_ids: list[int]) -> set[int]:
    """Of ``invoice_ids``, the unpaid invoices whose credit notes settled all of them: lists
    show them as credited, not as open or failed."""
    if not invoice_ids:
        return set()
    note = aliased(Invoice)
    return set(
        db.session.scalars(
            db.select(Invoice.id)
            .join(note, note.corrects_invoice_id == Invoice.id)
            .where(
                Invoice.id.in_(invoice_ids),
                Invoice.state.in_(PAYABLE_STATES),
                note.kind == InvoiceKind.CREDIT_NOTE.value,
            )
            .group_by(Invoice.id, Invoice.gross)
            .having(func.sum(note.settled_amount) >= Invoice.gross)
        )
    )


@dataclass(frozen=True)
class OpenItem:
    """An invoice with something still to pay: how much, when it is due, and whether that day
    has passed (SPEC §14 overdue: the business date is after the due date)."""

    invoice: Invoice
    open_amount: Decimal
    due: date | None
    overdue: bool


@dataclass(frozen=True)
class OpenItems:
    """A customer's open invoices, the earliest due first (the older month first on the same
    day)."""

    items: list[OpenItem]

    @property
    def total(self) -> Decimal:
        return sum((item.open_amount for item in self.items), ZERO)

    @property
    def overdue(self) -> list[OpenItem]:
        return [item for item in self.items if item.overdue]

    @property
    def next_due(self) -> date | None:
        """The earliest due date still ahead (or today), None when none is."""
        return min((item.due for item in self.items if item.due and not item.overdue), default=None)


def open_items(customer_id: int, today: date, site: Site = Site()) -> OpenItems:
    """The customer's invoices with an open amount (``payable``), with their due dates and
    whether they are overdue on ``today`` (the MSP's business date), in two queries however
    many invoices there are."""
    invoices = db.session.scalars(
        db.select(Invoice)
        .where(Invoice.customer_id == customer_id, is_payable())
        .order_by(Invoice.id)
    ).all()
    owed = open_amounts(invoices)
    items = []
    for invoice in invoices:
        if owed[invoice.id] <= ZERO:
            continue
        overdue = days_overdue(invoice, today, owed[invoice.id]) > 0
        items.append(OpenItem(invoice, owed[invoice.id], due_date(invoice, site), overdue))
    items.sort(key=lambda item: (item.due or date.max, item.invoice.period, item.invoice.id))
    return OpenItems(items)


@dataclass(frozen=True)
class CreditEffect:
    """What a credit note did (``credit_split``): ``settled`` (gross) came off the open amount
    of the invoice it corrects; ``account_credit`` (net) had been paid already and became
    account credit."""

    settled: Decimal
    account_credit: Decimal


def credit_effect(note: Invoice) -> CreditEffect:
    settled = note.settled_amount or ZERO
    return CreditEffect(
        settled=settled, account_credit=_net_part(-note.net, -note.gross, -note.gross - settled)
    )


@dataclass(frozen=True)
class InvoiceActions:
    """What staff may do with an invoice now; the admin shows exactly these buttons."""

    open_amount: Decimal
    credit_note: bool
    mark_paid: bool
    retry_payment: bool
    redraft: bool


def invoice_actions(invoice: Invoice) -> InvoiceActions:
    is_invoice = invoice.kind == InvoiceKind.INVOICE.value
    can_pay = payable(invoice)
    return InvoiceActions(
        open_amount=open_amount(invoice),
        credit_note=may_credit(invoice),
        mark_paid=can_pay,
        retry_payment=can_pay
        and invoice.state == InvoiceState.PAYMENT_FAILED.value
        and invoice.payment_method == PaymentMethodCode.CARD.value,
        redraft=is_invoice and invoice.state == InvoiceState.DRAFT.value,
    )


def available_actions(invoice: Invoice, decided: InvoiceActions | None = None) -> list[str]:
    """The actions on ``invoice`` whose precondition holds (``invoice_actions``, or
    ``decided`` when the caller has it already): its PDF always, then redraft, mark paid,
    retry the card payment and credit note."""
    decided = decided or invoice_actions(invoice)
    actions = ["pdf"]
    for key in ("redraft", "mark_paid", "retry_payment", "credit_note"):
        if getattr(decided, key):
            actions.append(key)
    return actions


def refusal(invoice: Invoice, key: str) -> str | None:
    """Why action ``key`` does not apply to ``invoice`` (not in ``available_actions``), in the
    words of the function that would refuse it; None when there is nothing more specific to say
    than that it is not available."""
    if key in ("mark_paid", "retry_payment"):
        reason = payment_refusal(invoice)
        if reason is None and key == "retry_payment":
            return _("Only card invoices whose payment failed can be charged again.")
        return reason
    if key == "credit_note":
        if invoice.kind != InvoiceKind.INVOICE.value or invoice.state not in ISSUED_STATES:
            return _("Only finalized invoices can be credited.")
        return _("This invoice has a credit note already.")
    if key == "redraft":
        return _("Only draft invoices can be drafted again.")
    return None
