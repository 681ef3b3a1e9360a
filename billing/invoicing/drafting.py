"""Drafting the invoices of a booking month (SPEC §8): in bulk for the month-end run, one at a
time, and again after a correction during the review. Idempotent per customer and month."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask import current_app

from billing.catalog.pricing import load_tiers, to_cents
from billing.invoicing.draft_lines import (
    HUNDRED,
    ZERO,
    KeyRow,
    ServiceRow,
    SubRow,
    compute_draft,
    month_end,
)
from billing.invoicing.purchase_orders import covering_orders
from billing.invoicing.vat import vat_treatment
from billing.kernel import audit
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import Clock
from billing.kernel.countries import country_name
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.locking import lock_row, releasing_locks
from billing.kernel.settings import get_setting
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
    ProjectKey,
    ServiceSubscription,
    ServiceSuspension,
    Subscription,
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


@dataclass(frozen=True)
class Existing:
    id: int
    state: str
    billing_run_id: int | None


def _load_batch(customer_ids: list[int], period: date):
    last = month_end(period)
    customers = db.session.execute(
        db.select(
            Customer.id,
            Customer.service_mode,
            Customer.language,
            Customer.company_name,
            Customer.street,
            Customer.postal_code,
            Customer.city,
            Customer.country,
            Customer.vat_id,
            Customer.unit_price,
            Customer.payment_method,
        ).where(among(Customer.id, customer_ids))
    ).all()
    wanted = set(customer_ids)
    customers = [row for row in customers if row.id in wanted]
    subs: dict[int, list[SubRow]] = {}
    for row in db.session.execute(
        db.select(
            Subscription.id,
            Subscription.customer_id,
            Subscription.internal_ips,
            Subscription.external_ips,
            Subscription.payment_method,
            Subscription.price_basis,
            Subscription.unit_price,
            Subscription.project_key_id,
            Subscription.valid_from,
            Subscription.valid_until,
        ).where(
            among(Subscription.customer_id, customer_ids),
            Subscription.valid_from <= last,
            (Subscription.valid_until.is_(None)) | (Subscription.valid_until >= period),
        )
    ):
        subs.setdefault(row.customer_id, []).append(SubRow(*row))
    key_ids = {s.project_key_id for rows in subs.values() for s in rows if s.project_key_id}
    keys = {}
    if key_ids:
        for row in db.session.execute(
            db.select(
                ProjectKey.id,
                ProjectKey.key,
                ProjectKey.runtime_months,
                ProjectKey.purchase_price,
                ProjectKey.selling_price,
            ).where(ProjectKey.id.in_(key_ids))
        ):
            keys[row.id] = KeyRow(*row[1:])
    existing = {
        row.customer_id: Existing(row.id, row.state, row.billing_run_id)
        for row in db.session.execute(
            db.select(Invoice.customer_id, Invoice.id, Invoice.state, Invoice.billing_run_id).where(
                among(Invoice.customer_id, customer_ids),
                Invoice.period == period,
                Invoice.kind == InvoiceKind.INVOICE.value,
            )
        )
        if row.customer_id in wanted
    }
    return customers, subs, keys, existing, _load_services(customer_ids, wanted, period, last)


def _load_services(
    customer_ids: list[int], wanted: set[int], period: date, last: date
) -> dict[int, list[ServiceRow]]:
    """The batch's additional subscriptions running in the month with the suspensions that
    touch it: one query for the whole batch."""
    service, pause = ServiceSubscription, ServiceSuspension
    rows = db.session.execute(
        db.select(
            service.id,
            service.customer_id,
            service.name,
            service.internal_ips,
            service.external_ips,
            service.started_on,
            service.ended_on,
            service.term_end,
            service.auto_renew,
            pause.suspended_from,
            pause.suspended_until,
        )
        .outerjoin(
            pause,
            (pause.subscription_id == service.id)
            & (pause.suspended_from <= last)
            & (pause.suspended_until.is_(None) | (pause.suspended_until >= period)),
        )
        .where(
            among(service.customer_id, customer_ids),
            service.started_on <= last,
            service.ended_on.is_(None) | (service.ended_on >= period),
        )
        .order_by(service.customer_id, service.name, service.id)
    ).all()
    found: dict[int, tuple[tuple, list]] = {}
    for row in rows:
        if row.customer_id not in wanted:
            continue
        facts, pauses = found.setdefault(row.id, (tuple(row[:9]), []))
        if row.suspended_from is not None:
            pauses.append((row.suspended_from, row.suspended_until))
    services: dict[int, list[ServiceRow]] = {}
    for facts, pauses in found.values():
        services.setdefault(facts[1], []).append(ServiceRow(*facts, suspensions=tuple(pauses)))
    return services


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
    home_country: str = "DE",
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
    stored together or not at all.
    """
    period = period.replace(day=1)
    tiers = tiers if tiers is not None else load_tiers()
    if ip_purchase_price is None:
        ip_purchase_price = ip_purchase_price_setting()
    customers, subs, keys, existing, services = _load_batch(customer_ids, period)
    orders = covering_orders(customer_ids, period)
    credits = ledger.balances([row.id for row in customers if row.id not in existing])
    result = BatchResult(invoice_ids={cid: found.id for cid, found in existing.items()})
    _sort_existing(existing, run_id, result, clock)
    now = clock.now()
    currency = current_currency()
    period_text = period.isoformat()
    kind, state = InvoiceKind.INVOICE.value, InvoiceState.DRAFT.value
    invoices, drafts = [], []
    for row in customers:
        if row.id in existing:
            continue
        draft = compute_draft(
            row.id,
            row.service_mode,
            row.language,
            subs.get(row.id, []),
            period,
            tiers,
            keys,
            ip_purchase_price,
            memo,
            services=services.get(row.id),
            unit_price=row.unit_price,
            payment_method=row.payment_method or "",
        )
        if draft.skip:
            result.skipped[draft.skip] = result.skipped.get(draft.skip, 0) + 1
            continue
        net = sum((line[3] for line in draft.lines), ZERO)
        applied = ledger.credit_to_apply(credits.get(row.id, ZERO), net)
        if applied:
            text = ledger.CREDIT_LINE.get(row.language, ledger.CREDIT_LINE["en"])
            draft.lines.append((text, 1, -applied, -applied))
            net -= applied
        draft.credit_applied = applied
        rate, note = vat_treatment(row.country, row.vat_id, home_country)
        vat = to_cents(net * rate / HUNDRED)
        country = (
            "" if row.country == home_country else country_name(row.country, row.language) or ""
        )
        address = "\n".join(
            p for p in (row.street, f"{row.postal_code} {row.city}".strip(), country) if p
        )
        invoices.append(
            (
                row.id,
                period,
                kind,
                state,
                currency,
                row.language,
                net,
                rate,
                vat,
                net + vat,
                note,
                row.company_name,
                address,
                now,
                draft.category,
                draft.payment_method,
                draft.internal,
                draft.external,
                draft.purchase_cost,
                orders.get(row.id),
                run_id,
            )
        )
        drafts.append(draft)
    if not invoices:
        return result
    conn = db.session.connection()
    BulkWriter(conn, Invoice.__table__, _INVOICE_COLUMNS).write(invoices)
    # read the new ids back through the unique (customer, month) index
    stored = dict(
        conn.execute(
            db.select(Invoice.customer_id, Invoice.id).where(
                among(Invoice.customer_id, [values[0] for values in invoices]),
                Invoice.period == period,
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
    for draft, values in zip(drafts, invoices, strict=True):
        customer_id = values[0]
        invoice_id = stored[customer_id]
        result.invoice_ids[customer_id] = invoice_id
        if draft.credit_applied:
            debits.append(
                {
                    "customer_id": customer_id,
                    "amount": -draft.credit_applied,
                    "description": f"Credit applied to the invoice for {period:%m/%Y}",
                    "kind": LedgerKind.INVOICE.value,
                    "invoice_id": invoice_id,
                    "created_at": now,
                    "created_by": SYSTEM.label,
                }
            )
        for position, (text, quantity, unit, amount) in enumerate(draft.lines):
            lines.append((invoice_id, position, text, quantity, unit, amount))
        after = {"period": period_text, "net": str(values[6])}
        if draft.credit_applied:
            after["credit_applied"] = str(draft.credit_applied)
        event[customer_at] = customer_id
        event[after_at] = json.dumps(after)
        events.append(tuple(event))
    BulkWriter(conn, InvoiceLine.__table__, _LINE_COLUMNS).write(lines)
    BulkWriter(conn, AuditEvent.__table__, event_columns, ready=("after",)).write(events)
    if debits:
        conn.execute(db.insert(LedgerEntry), debits)
    result.billed = len(invoices)
    return result


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


def current_currency() -> str:
    try:
        return current_app.config.get("CURRENCY", "EUR")
    except RuntimeError:
        return "EUR"


def draft_invoice(
    customer_id: int, period: date, clock: Clock, home_country: str = "DE", tiers=None
) -> Invoice | None:
    """Create the draft invoice of ``customer_id`` for the month starting ``period``.

    Idempotent: an existing invoice for that month is returned unchanged. Returns None when
    nothing is billable (no subscription in the month, free, or a zero amount).
    Raises NotFound for an unknown customer.
    """
    if db.session.get(Customer, customer_id) is None:
        raise NotFound(_("This customer does not exist."))
    result = draft_batch([customer_id], period, clock, home_country=home_country, tiers=tiers)
    db.session.commit()
    invoice_id = result.invoice_ids.get(customer_id)
    return db.session.get(Invoice, invoice_id) if invoice_id else None


@releasing_locks
def redraft_invoice(
    invoice_id: int, actor, clock: Clock, home_country: str = "DE"
) -> Invoice | None:
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
    result = draft_batch([customer_id], period, clock, home_country=home_country, run_id=run_id)
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
