"""Finalizing drafts (SPEC §8): each gets its gap-free number, its customer's payment term and
due date, and is frozen from then on."""

from __future__ import annotations

from billing.invoicing.numbering import format_number, reserve_numbers
from billing.invoicing.payment_terms import due_on, payment_terms_of
from billing.kernel import audit
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.locking import lock_rows
from models import AuditEvent, Invoice, InvoiceState, db


def finalize_batch(invoice_ids: list[int], clock: Clock, actor=SYSTEM) -> list[int]:
    """Number and freeze the drafts among ``invoice_ids`` (in id order) in one transaction.

    Invoices that are no longer drafts are left alone, so calling this again after a crash
    finalizes only what is left. Each invoice gets its customer's payment term and the due
    date that follows from today (``billing.invoicing.payment_terms``, SPEC §14). Returns the ids
    finalized now.
    """
    drafts = lock_rows(
        Invoice, Invoice.id.in_(invoice_ids), Invoice.state == InvoiceState.DRAFT.value
    )
    if not drafts:
        return []
    first = reserve_numbers(len(drafts), clock)
    now, today = clock.now(), clock.today()
    terms = payment_terms_of({invoice.customer_id for invoice in drafts})
    events = []
    for offset, invoice in enumerate(drafts):
        invoice.number = format_number(today.year, first + offset)
        invoice.state = InvoiceState.FINALIZED.value
        invoice.finalized_at = now
        invoice.payment_term_days = terms[invoice.customer_id]
        invoice.due_date = due_on(today, invoice.payment_term_days)
        events.append(
            audit.event_row(
                actor,
                "invoice.finalize",
                clock,
                customer_id=invoice.customer_id,
                after={
                    "number": invoice.number,
                    "gross": str(invoice.gross),
                    "due_date": invoice.due_date.isoformat(),
                },
            )
        )
    db.session.flush()
    db.session.execute(db.insert(AuditEvent), events)
    db.session.commit()
    return [invoice.id for invoice in drafts]


def finalize_invoice(invoice_id: int, clock: Clock, actor=SYSTEM) -> Invoice:
    """Give a draft its gap-free number and freeze it. DomainError if it is not a draft."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(_("This invoice does not exist."))
    if invoice.state != InvoiceState.DRAFT.value:
        raise DomainError(_("Only draft invoices can be finalized."))
    finalize_batch([invoice_id], clock, actor)
    db.session.refresh(invoice)
    return invoice
