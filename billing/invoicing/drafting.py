"""Drafting the invoices of a booking month (SPEC §8): in bulk for the month-end run, one at a
time, and again after a correction during the review. Idempotent per customer and month."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from billing.catalog.pricing import load_tiers, to_cents
from billing.invoicing.draft_facts import Existing, load_batch
from billing.invoicing.draft_lines import (
    HUNDRED,
    ZERO,
    Draft,
    KeyRow,
    ServiceRow,
    SubRow,
    compute_draft,
)
from billing.invoicing.purchase_orders import covering_orders
from billing.invoicing.vat import vat_treatment
from billing.kernel import audit
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import Clock
from billing.kernel.countries import country_name
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.locking import lock_row, lock_rows, releasing_locks
from billing.kernel.settings import get_setting
from billing.kernel.site import Site
from billing.payments import ledger
from models import (
    AuditEvent,
    Customer,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceState,
    LedgerEntry,
    LedgerKind,
    db,
)
from models.bulk import BulkWriter, among

IP_PURCHASE_PRICE_KEY = "billing.ip_purchase_price"


# a customer whose invoice for the month was drafted outside the run (and is no longer a draft)
INVOICED_BEFORE = "invoiced_before"


@dataclass
class BatchResult:
    """``billed``: invoices drafted now; ``existing``: the run's own invoices found (a draft no
    run owned is taken into the run and counted here); ``skipped``: reason → count;
    ``invoice_ids``: customer → invoice of the month, new or found."""

    billed: int = 0
    existing: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    invoice_ids: dict[int, int] = field(default_factory=dict)


_INVOICE_COLUMNS = (
    "customer_id",
    "period",
    "kind",
    "state",
    "currency",
    "language",
    "net",
    "vat_rate",
    "vat",
    "gross",
    "vat_note",
    "billing_name",
    "billing_address",
    "created_at",
    "category",
    "payment_method",
    "ips_internal",
    "ips_external",
    "purchase_cost",
    "purchase_order_id",
    "billing_run_id",
)


_LINE_COLUMNS = ("invoice_id", "position", "description", "quantity", "unit_price", "amount")


def draft_batch(
    customer_ids: list[int],
    period: date,
    clock: Clock,
    *,
    site: Site = Site(),
    tiers=None,
    ip_purchase_price: Decimal | None = None,
    memo: dict | None = None,
    run_id: int | None = None,
) -> BatchResult:
    """Draft the invoices of ``customer_ids`` for the month starting ``period`` in bulk: a
    handful of queries for the whole batch, rows inserted together with their audit events.

    Idempotent: a customer who has an invoice for the month keeps it (the database allows one
    per customer and month). With ``run_id`` the new drafts belong to that month-end run, and
    so does a draft of the month that no run owns (it is reviewed and approved with the run's);
    an invoice finalized outside the run is counted as skipped (``INVOICED_BEFORE``) and left
    alone. Adds to the session; the caller commits, so a batch and the run's checkpoint are
    stored together or not at all. ``site`` gives the home country (VAT, addresses) and the
    currency.
    """
    period = period.replace(day=1)
    customers, subs, keys, existing, services = load_batch(customer_ids, period)
    result = BatchResult(invoice_ids={cid: found.id for cid, found in existing.items()})
    _sort_existing(existing, run_id, result, clock)
    batch = _BatchFacts(
        period=period,
        now=clock.now(),
        currency=site.currency,
        home_country=site.home_country,
        tiers=tiers if tiers is not None else load_tiers(),
        ip_purchase_price=(
            ip_purchase_price if ip_purchase_price is not None else ip_purchase_price_setting()
        ),
        memo=memo,
        subs=subs,
        keys=keys,
        services=services,
        orders=covering_orders(customer_ids, period),
        credits=_credits_held([row.id for row in customers if row.id not in existing]),
        run_id=run_id,
    )
    invoices, drafts = [], []
    for row in customers:
        if row.id in existing:
            continue
        draft = _customer_draft(row, batch)
        if draft.skip:
            result.skipped[draft.skip] = result.skipped.get(draft.skip, 0) + 1
            continue
        invoices.append(_invoice_values(row, draft, batch))
        drafts.append(draft)
    if invoices:
        _store_drafts(invoices, drafts, batch, clock, result)
    return result


def _credits_held(customer_ids: list[int]) -> dict[int, Decimal]:
    """The account credit of each customer, for its draft to use. The customers who have credit
    are locked until the caller commits (as a manual booking locks its customer), so two
    drafts of one customer at once (the month-end run's and a redraft of another month) never
    spend the same credit twice: the second reads what the first left."""
    credits = ledger.balances(customer_ids)
    wanted = set(customer_ids)
    having = [cid for cid, amount in credits.items() if amount > ZERO and cid in wanted]
    if not having:
        return credits
    lock_rows(Customer, Customer.id.in_(having))
    return {**credits, **ledger.balances(having)}


@dataclass(frozen=True)
class _BatchFacts:
    """What drafting a batch reads once and every customer's invoice uses."""

    period: date
    now: datetime
    currency: str
    home_country: str
    tiers: object
    ip_purchase_price: Decimal
    memo: dict | None
    subs: dict[int, list[SubRow]]
    keys: dict[int, KeyRow]
    services: dict[int, list[ServiceRow]]
    orders: dict[int, int]
    credits: dict[int, Decimal]
    run_id: int | None


def _customer_draft(row, batch: _BatchFacts) -> Draft:
    """The customer's draft computed from its facts, with the account credit it uses."""
    draft = compute_draft(
        row.id,
        row.service_mode,
        row.language,
        batch.subs.get(row.id, []),
        batch.period,
        batch.tiers,
        batch.keys,
        batch.ip_purchase_price,
        batch.memo,
        services=batch.services.get(row.id),
        unit_price=row.unit_price,
        payment_method=row.payment_method or "",
    )
    if not draft.skip:
        net = sum((line[3] for line in draft.lines), ZERO)
        applied = ledger.credit_to_apply(batch.credits.get(row.id, ZERO), net)
        if applied:
            text = ledger.CREDIT_LINE.get(row.language, ledger.CREDIT_LINE["en"])
            draft.lines.append((text, 1, -applied, -applied))
        draft.credit_applied = applied
    return draft


def _invoice_values(row, draft: Draft, batch: _BatchFacts) -> tuple:
    """The invoice row of ``draft`` (``_INVOICE_COLUMNS``): VAT and the billing address."""
    net = sum((line[3] for line in draft.lines), ZERO)
    rate, note = vat_treatment(row.country, row.vat_id, batch.home_country)
    vat = to_cents(net * rate / HUNDRED)
    country = (
        "" if row.country == batch.home_country else country_name(row.country, row.language) or ""
    )
    address = "\n".join(
        p for p in (row.street, f"{row.postal_code} {row.city}".strip(), country) if p
    )
    return (
        row.id,
        batch.period,
        InvoiceKind.INVOICE.value,
        InvoiceState.DRAFT.value,
        batch.currency,
        row.language,
        net,
        rate,
        vat,
        net + vat,
        note,
        row.company_name,
        address,
        batch.now,
        draft.category,
        draft.payment_method,
        draft.internal,
        draft.external,
        draft.purchase_cost,
        batch.orders.get(row.id),
        batch.run_id,
    )


def _store_drafts(
    invoices: list[tuple], drafts: list[Draft], batch: _BatchFacts, clock: Clock, result
) -> None:
    """Insert the invoices, then their lines, audit events and credit debits, in bulk."""
    conn = db.session.connection()
    BulkWriter(conn, Invoice.__table__, _INVOICE_COLUMNS).write(invoices)
    # read the new ids back through the unique (customer, month) index
    stored = dict(
        conn.execute(
            db.select(Invoice.customer_id, Invoice.id).where(
                among(Invoice.customer_id, [values[0] for values in invoices]),
                Invoice.period == batch.period,
                Invoice.kind == InvoiceKind.INVOICE.value,
            )
        ).all()
    )
    lines, events, debits = [], [], []
    event = audit.event_row(SYSTEM, "invoice.draft", clock)
    event_columns = list(event)
    after_at = event_columns.index("after")
    customer_at = event_columns.index("customer_id")
    event = list(event.values())
    period_text = batch.period.isoformat()
    for draft, values in zip(drafts, invoices, strict=True):
        customer_id = values[0]
        invoice_id = stored[customer_id]
        result.invoice_ids[customer_id] = invoice_id
        after = {"period": period_text, "net": str(values[6])}
        if draft.credit_applied:
            debits.append(_credit_debit(customer_id, invoice_id, draft.credit_applied, batch))
            after["credit_applied"] = str(draft.credit_applied)
        for position, (text, quantity, unit, amount) in enumerate(draft.lines):
            lines.append((invoice_id, position, text, quantity, unit, amount))
        event[customer_at] = customer_id
        event[after_at] = json.dumps(after)
        events.append(tuple(event))
    BulkWriter(conn, InvoiceLine.__table__, _LINE_COLUMNS).write(lines)
    BulkWriter(conn, AuditEvent.__table__, event_columns, ready=("after",)).write(events)
    if debits:
        conn.execute(db.insert(LedgerEntry), debits)
    result.billed = len(invoices)


def _credit_debit(customer_id: int, invoice_id: int, amount: Decimal, batch: _BatchFacts) -> dict:
    """The ledger entry of the account credit an invoice uses."""
    return {
        "customer_id": customer_id,
        "amount": -amount,
        "description": f"Credit applied to the invoice for {batch.period:%m/%Y}",
        "kind": LedgerKind.INVOICE.value,
        "invoice_id": invoice_id,
        "created_at": batch.now,
        "created_by": SYSTEM.label,
    }


def _sort_existing(
    existing: dict[int, Existing], run_id: int | None, result: BatchResult, clock: Clock
) -> None:
    """Count the invoices found for the month: the run's own (and drafts no run owns, which
    the run takes in) as ``existing``, the others as skipped."""
    taken = []
    for found in existing.values():
        if run_id is None or found.billing_run_id == run_id:
            result.existing += 1
        elif found.billing_run_id is None and found.state == InvoiceState.DRAFT.value:
            taken.append(found.id)
            result.existing += 1
        else:
            result.skipped[INVOICED_BEFORE] = result.skipped.get(INVOICED_BEFORE, 0) + 1
    if taken:
        db.session.execute(
            db.update(Invoice)
            .where(Invoice.id.in_(taken), Invoice.billing_run_id.is_(None))
            .values(billing_run_id=run_id)
            .execution_options(synchronize_session=False)
        )
        audit.record(
            SYSTEM, "billing_run.take_drafts", clock, after={"run": run_id, "invoices": taken}
        )


def ip_purchase_price_setting() -> Decimal:
    """What one IP costs the MSP per month (dashboard and invoice purchase cost)."""
    try:
        return Decimal(get_setting(IP_PURCHASE_PRICE_KEY, "0.00"))
    except ArithmeticError:
        return ZERO


def draft_invoice(
    customer_id: int, period: date, clock: Clock, site: Site = Site(), tiers=None
) -> Invoice | None:
    """Create the draft invoice of ``customer_id`` for the month starting ``period``.

    Idempotent: an existing invoice for that month is returned unchanged. Returns None when
    nothing is billable (no subscription in the month, free, or a zero amount).
    Raises NotFound for an unknown customer.
    """
    if db.session.get(Customer, customer_id) is None:
        raise NotFound(_("This customer does not exist."))
    result = draft_batch([customer_id], period, clock, site=site, tiers=tiers)
    db.session.commit()
    invoice_id = result.invoice_ids.get(customer_id)
    return db.session.get(Invoice, invoice_id) if invoice_id else None


@releasing_locks
def redraft_invoice(invoice_id: int, actor, clock: Clock, site: Site = Site()) -> Invoice | None:
    """Compute a draft again from the customer's current data (after a correction during the
    review). Returns the new draft, or None when the customer is no longer billable.
    DomainError unless the invoice is a draft; the draft is locked from the check to the
    commit, so sending the form twice computes it once (the second is told it is gone)."""
    invoice = lock_row(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(
            _("This draft does not exist (any more); it may have been drafted again already.")
        )
    if invoice.state != InvoiceState.DRAFT.value or invoice.kind != InvoiceKind.INVOICE.value:
        raise DomainError(_("Only draft invoices can be drafted again."))
    customer_id, period, before = invoice.customer_id, invoice.period, str(invoice.net)
    run_id = invoice.billing_run_id
    ledger.release_invoice_debits(invoice.id)
    db.session.delete(invoice)
    db.session.flush()
    result = draft_batch([customer_id], period, clock, site=site, run_id=run_id)
    new_id = result.invoice_ids.get(customer_id)
    audit.record(
        actor,
        "invoice.redraft",
        clock,
        customer_id=customer_id,
        before={"net": before},
        after={"invoice": new_id, "skipped": sorted(result.skipped)},
    )
    db.session.commit()
    return db.session.get(Invoice, new_id) if new_id else None
