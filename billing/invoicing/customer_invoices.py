"""The invoices and credit notes a customer sees in the portal (SPEC §10): only its own, and
never a draft."""

from __future__ import annotations

from billing.kernel.errors import NotFound
from billing.kernel.i18n import _
from models import Invoice, InvoiceState, db

VISIBLE_STATES = (
    InvoiceState.FINALIZED.value,
    InvoiceState.PAID.value,
    InvoiceState.PAYMENT_FAILED.value,
    InvoiceState.VOID.value,
)


def customer_invoices(customer_id: int) -> list[Invoice]:
    """The customer's issued invoices and credit notes, newest billing month first."""
    return list(
        db.session.scalars(
            db.select(Invoice)
            .where(Invoice.customer_id == customer_id, Invoice.state.in_(VISIBLE_STATES))
            .order_by(Invoice.period.desc(), Invoice.id.desc())
        )
    )


def customer_invoice(customer_id: int, invoice_id: int) -> Invoice:
    """One issued invoice of the customer; NotFound for a draft, an unknown id or an invoice of
    another customer (the portal answers 404 alike)."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None or invoice.customer_id != customer_id or invoice.state not in VISIBLE_STATES:
        raise NotFound(_("This invoice does not exist."))
    return invoice
