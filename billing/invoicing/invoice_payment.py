"""An invoice's payment recorded by staff: paid by bank transfer, or its failed card payment
tried again."""

from __future__ import annotations

from billing.kernel import audit
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.locking import lock_row, releasing_locks
from billing.payments import receivables
from models import Invoice, InvoiceState, db


@releasing_locks
def mark_paid(invoice_id: int, actor, clock: Clock) -> Invoice:
    """Record that an invoice was paid in full by bank transfer. DomainError unless it is
    payable (``receivables.payment_refusal``): not a draft, not paid already, not settled by
    a credit note; nor while its card is being charged at this moment. The invoice is locked
    from the check to the commit."""
    invoice = lock_row(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(_("This invoice does not exist."))
    refusal = receivables.payment_refusal(invoice)
    if refusal:
        raise DomainError(refusal)
    if receivables.charge_in_progress(invoice.id, right_now=True):
        raise DomainError(
            _("The card of this invoice is being charged right now. Please look again shortly.")
        )
    invoice.state = InvoiceState.PAID.value
    invoice.paid_at = clock.now()
    audit.record(
        actor,
        "invoice.paid",
        clock,
        customer_id=invoice.customer_id,
        after={"number": invoice.number},
    )
    db.session.commit()
    return invoice


def retry_payment(invoice_id: int, actor, clock: Clock):
    """Charge a card invoice whose payment failed once more (a new attempt, or the pending one
    again with its idempotency key); the request is audited with it. DomainError unless it is
    a failed card invoice with an open amount, or while it is being charged
    (``card_charges.charge_invoice``)."""
    from billing.payments.card_charges import charge_invoice

    return charge_invoice(invoice_id, clock, retry_by=actor)
