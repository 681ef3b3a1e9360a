"""Credit notes (SPEC §8, §14): a finalized invoice is corrected by a credit note for its full
amount, never edited."""

from __future__ import annotations

from billing.invoicing.draft_lines import ZERO
from billing.invoicing.numbering import format_number, reserve_numbers
from billing.kernel import audit
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.locking import lock_row, releasing_locks
from billing.payments import ledger, receivables
from models import Invoice, InvoiceKind, InvoiceLine, InvoiceState, db


@releasing_locks
def create_credit_note(invoice_id: int, reason: str, actor, clock: Clock) -> Invoice:
    """Correct an issued invoice with a credit note for its full amount (issued invoices are
    never edited). The credit note is numbered at once.

    It first settles what is still open on the invoice, which is then no longer payable; only
    what was paid already becomes account credit (SPEC §14, ``receivables.credit_split``).
    The credit the invoice had used is given back. The invoice stays locked from the check to
    the commit, so the same form sent several times at once credits it once.

    DomainError without a reason, for a draft or void invoice, when the invoice was credited
    already, or while a card payment of it is pending (its outcome decides what is open)."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Please give a reason for the credit note."), field="reason")
    invoice = lock_row(Invoice, invoice_id)
    if invoice is None or invoice.kind != InvoiceKind.INVOICE.value:
        raise NotFound(_("This invoice does not exist."))
    if invoice.state in (InvoiceState.DRAFT.value, InvoiceState.VOID.value):
        raise DomainError(_("Only finalized invoices can be credited."))
    if not receivables.may_credit(invoice):
        raise DomainError(_("This invoice has a credit note already."))
    if receivables.charge_in_progress(invoice.id):
        raise DomainError(
            _(
                "A card payment of this invoice is still pending. Please wait for its result "
                "or retry the card payment before crediting the invoice."
            )
        )
    settled, account_credit = receivables.credit_split(invoice, invoice.gross, invoice.net)
    note = _mirror(invoice, settled, clock)
    note.number = format_number(clock.today().year, reserve_numbers(1, clock))
    db.session.add(note)
    db.session.flush()
    ledger.credit_from_note(note, account_credit, actor, clock)
    audit.record(
        actor,
        "invoice.credit_note",
        clock,
        customer_id=invoice.customer_id,
        after={
            "number": note.number,
            "corrects": invoice.number,
            "gross": str(note.gross),
            "settled": str(settled),
            "account_credit": str(account_credit),
        },
        reason=reason,
    )
    db.session.commit()
    return note


def _mirror(invoice: Invoice, settled, clock: Clock) -> Invoice:
    """The credit note of ``invoice``: its amounts and lines negated, issued now, ``settled``
    of it set against what the invoice has open."""
    note = Invoice(
        customer_id=invoice.customer_id,
        period=invoice.period,
        kind=InvoiceKind.CREDIT_NOTE.value,
        state=InvoiceState.FINALIZED.value,
        currency=invoice.currency,
        language=invoice.language,
        net=-invoice.net,
        vat_rate=invoice.vat_rate,
        vat=-invoice.vat,
        gross=-invoice.gross,
        vat_note=invoice.vat_note,
        billing_name=invoice.billing_name,
        billing_address=invoice.billing_address,
        corrects_invoice_id=invoice.id,
        settled_amount=settled,
        created_at=clock.now(),
        finalized_at=clock.now(),
        category=invoice.category,
        payment_method=invoice.payment_method,
        ips_internal=invoice.ips_internal,
        ips_external=invoice.ips_external,
        purchase_cost=ZERO,
    )
    for line in invoice.lines:
        note.lines.append(
            InvoiceLine(
                position=line.position,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=-line.amount,
            )
        )
    return note
