"""The account credit/debit ledger of a customer (SPEC §11, Flexiant "Units").

Amounts are net, in the invoice currency: + credit, − debit. Staff book manual entries, a
credit note books the part of it that was paid already as credit (what was still open on the
invoice it settles instead, SPEC §14), and the month-end drafting spends the available
credit on the new invoice (a "Credit applied" line) and books the matching debit with it.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import func

from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import Conflict, DomainError, NotFound
from billing.kernel.i18n import _, amount_from_text, month_text
from billing.kernel.locking import lock_row, releasing_locks
from models import Customer, LedgerEntry, LedgerKind, db
from models.bulk import among

ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("1000000")
CREDIT_LINE = {"en": "Credit applied", "de": "Verrechnetes Guthaben"}
# The words the product books with itself (kept as written, in English): the month-end
# drafting's credit spent on an invoice, a credit note's credit and the credit it gives back.
APPLIED = re.compile(r"Credit applied to the invoice for (\d{1,2})/(\d{4})")
GIVEN_BACK = re.compile(r"Credit given back: credit note (\S+)")
CREDIT_NOTE = re.compile(r"Credit note (\S+)")


def told(entry: LedgerEntry) -> str:
    """A booking's description in the reader's language: the product's own bookings
    ("Credit applied to the invoice for 11/2026" reads "Guthaben verrechnet mit der Rechnung
    für November 2026"), a manual booking as staff typed it."""
    text = entry.description
    if entry.kind == LedgerKind.MANUAL.value:
        return text
    if match := APPLIED.fullmatch(text):
        month = date(int(match.group(2)), int(match.group(1)), 1)
        return _("Credit applied to the invoice for %(month)s", month=month_text(month))
    if match := GIVEN_BACK.fullmatch(text):
        return _("Credit given back: credit note %(number)s", number=match.group(1))
    if match := CREDIT_NOTE.fullmatch(text):
        return _("Credit note %(number)s", number=match.group(1))
    return text


def balance(customer_id: int) -> Decimal:
    """The customer's available credit (negative when the account owes)."""
    total = db.session.scalar(
        db.select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.customer_id == customer_id
        )
    )
    return Decimal(total).quantize(Decimal("0.01"))


def balances(customer_ids: list[int]) -> dict[int, Decimal]:
    """The balances of many customers in one query (customers without entries are left out;
    others near the given ids may be included)."""
    if not customer_ids:
        return {}
    rows = db.session.execute(
        db.select(LedgerEntry.customer_id, func.sum(LedgerEntry.amount))
        .where(among(LedgerEntry.customer_id, customer_ids))
        .group_by(LedgerEntry.customer_id)
    )
    return {cid: Decimal(total).quantize(Decimal("0.01")) for cid, total in rows}


def entries(customer_id: int, limit: int = 100) -> list[LedgerEntry]:
    return db.session.scalars(
        db.select(LedgerEntry)
        .where(LedgerEntry.customer_id == customer_id)
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        .limit(limit)
    ).all()


def parse_amount(raw: str | Decimal | None) -> Decimal:
    """A positive amount with at most two decimals (comma or point). DomainError otherwise."""
    try:
        amount = amount_from_text(str(raw or ""))
    except InvalidOperation:
        raise DomainError(_("Please enter an amount such as 25.00."), field="amount") from None
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:
        raise DomainError(
            _("The amount must be above 0 with at most two decimal places."), field="amount"
        )
    if amount > MAX_AMOUNT:
        raise DomainError(_("The amount is too large."), field="amount")
    return amount.quantize(Decimal("0.01"))


def last_entry_id(customer_id: int) -> int:
    """The newest booking of the customer (0 without any): what a booking form shows the
    balance as of, so a booking on a stale page is refused (``book_manual``)."""
    return (
        db.session.scalar(
            db.select(func.max(LedgerEntry.id)).where(LedgerEntry.customer_id == customer_id)
        )
        or 0
    )


@releasing_locks
def book_manual(
    customer_id: int,
    direction: str,
    amount: str,
    description: str,
    actor: Actor,
    clock: Clock,
    *,
    seen_entry_id: int | None = None,
) -> LedgerEntry:
    """Book a manual ``direction`` ("credit" or "debit") of ``amount`` with a description.

    ``seen_entry_id`` is ``last_entry_id`` as the person booking saw it: a booking made since
    (by someone else, or the same form sent twice) refuses this one with a Conflict, so a
    double click books once.

    Raises NotFound for an unknown customer, DomainError for a missing description, an
    unknown direction or a bad amount (nothing is booked then).
    """
    customer = lock_row(Customer, customer_id)
    if customer is None:
        raise NotFound(_("This customer does not exist."))
    if seen_entry_id is not None and seen_entry_id != last_entry_id(customer_id):
        raise Conflict(
            _(
                "The account was booked in the meantime (by someone else, or the form was "
                "sent twice). Please check the bookings and try again."
            )
        )
    if direction not in ("credit", "debit"):
        raise DomainError(_("Please choose credit or debit."), field="direction")
    value = parse_amount(amount)
    text = (description or "").strip()
    if not text:
        raise DomainError(_("Please enter a description."), field="description")
    if len(text) > 300:
        raise DomainError(_("The description is too long."), field="description")
    before = balance(customer_id)
    entry = LedgerEntry(
        customer_id=customer_id,
        amount=value if direction == "credit" else -value,
        description=text,
        kind=LedgerKind.MANUAL.value,
        created_at=clock.now(),
        created_by=actor.label,
    )
    db.session.add(entry)
    audit.record(
        actor,
        f"ledger.{direction}",
        clock,
        customer_id=customer_id,
        before={"balance": str(before)},
        after={"balance": str(before + entry.amount), "amount": str(entry.amount)},
        reason=text,
    )
    db.session.commit()
    return entry


def credit_from_note(note, account_credit: Decimal, actor: Actor, clock: Clock) -> None:
    """Book the part of a credit note that became account credit (``account_credit``, net;
    the rest of the note settled the corrected invoice's open amount, see
    ``receivables.credit_split``), and give back the credit the corrected invoice had used (it
    was spent on an invoice that no longer stands). Adds to the session; the caller commits."""
    used = -db.session.scalar(
        db.select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.invoice_id == note.corrects_invoice_id,
            LedgerEntry.kind == LedgerKind.INVOICE.value,
        )
    )
    if used > 0:
        db.session.add(
            LedgerEntry(
                customer_id=note.customer_id,
                amount=Decimal(used).quantize(Decimal("0.01")),
                description=f"Credit given back: credit note {note.number}"[:300],
                kind=LedgerKind.CREDIT_NOTE.value,
                invoice_id=note.id,
                created_at=clock.now(),
                created_by=actor.label,
            )
        )
    if account_credit > 0:
        db.session.add(
            LedgerEntry(
                customer_id=note.customer_id,
                amount=account_credit,
                description=f"Credit note {note.number}"[:300],
                kind=LedgerKind.CREDIT_NOTE.value,
                invoice_id=note.id,
                created_at=clock.now(),
                created_by=actor.label,
            )
        )


def credit_to_apply(available: Decimal, net: Decimal) -> Decimal:
    """How much of an ``available`` credit an invoice of ``net`` uses: never below zero net."""
    if available <= ZERO or net <= ZERO:
        return ZERO
    return min(available, net)


def release_invoice_debits(invoice_id: int) -> None:
    """Drop the credit a draft used before the draft itself is deleted (a redraft books it
    again from the then available balance)."""
    db.session.execute(
        db.delete(LedgerEntry).where(
            LedgerEntry.invoice_id == invoice_id, LedgerEntry.kind == LedgerKind.INVOICE.value
        )
    )
