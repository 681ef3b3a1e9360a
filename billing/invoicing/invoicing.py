"""Invoices for a booking month (SPEC §8): drafting, VAT, gap-free numbering, payment state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from flask import current_app

from billing.catalog.pricing import load_tiers, monthly_price, to_cents
from billing.invoicing.payment_terms import due_on, payment_terms_of
from billing.invoicing.purchase_orders import covering_orders
from billing.kernel import audit
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import Clock, add_months
from billing.kernel.countries import country_name
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.locking import lock_row, lock_rows, releasing_locks
from billing.kernel.settings import get_setting
from billing.payments import ledger, receivables
from billing.subscriptions.service_subscriptions import billed_days, last_billed_day, service_price
from models import (
    AuditEvent,
    Customer,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceState,
    LedgerEntry,
    LedgerKind,
    PaymentMethodCode,
    PriceBasis,
    ProjectKey,
    ServiceSubscription,
    ServiceSuspension,
    Setting,
    Subscription,
    db,
)
from models.bulk import BulkWriter, among

EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
DOMESTIC_VAT = Decimal("19.00")
REVERSE_CHARGE_NOTE = "reverse_charge"
NON_EU_NOTE = "outside_eu"
NUMBER_KEY = "invoice.last_number"
IP_PURCHASE_PRICE_KEY = "billing.ip_purchase_price"
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
UNIT = Decimal("0.0001")


def vat_treatment(
    country: str, vat_id: str, home_country: str = "DE", domestic_rate: Decimal = DOMESTIC_VAT
) -> tuple[Decimal, str]:
    """VAT rate and note code (SPEC §8.4): domestic rate at home, reverse charge for EU
    businesses with a VAT-ID, nothing outside the EU."""
    country = (country or "").upper()
    if country == home_country:
        return domestic_rate, ""
    if country in EU_COUNTRIES:
        if vat_id:
            return Decimal("0.00"), REVERSE_CHARGE_NOTE
        return domestic_rate, ""
    return Decimal("0.00"), NON_EU_NOTE


LINE_TEXTS = {
    "en": {
        "full": "{internal} internal + {external} external IPs, {month}",
        "partial": "{internal} internal + {external} external IPs, {start}\u2013{end} "
        "({days}/{month_days} days)",
        "change": "Change to {internal} internal + {external} external IPs from {start} "
        "({days}/{month_days} days)",
        "key": "project key {key}",
        "service": "{name}: {internal} internal + {external} external IPs, {month}",
        "service_partial": "{name}: {internal} internal + {external} external IPs, {month} "
        "({days}/{month_days} days)",
    },
    "de": {
        "full": "{internal} interne + {external} externe IPs, {month}",
        "partial": "{internal} interne + {external} externe IPs, {start}\u2013{end} "
        "({days}/{month_days} Tage)",
        "change": "\u00c4nderung auf {internal} interne + {external} externe IPs ab {start} "
        "({days}/{month_days} Tage)",
        "key": "Projektschl\u00fcssel {key}",
        "service": "{name}: {internal} interne + {external} externe IPs, {month}",
        "service_partial": "{name}: {internal} interne + {external} externe IPs, {month} "
        "({days}/{month_days} Tage)",
    },
}


@dataclass(frozen=True)
class SubRow:
    """The facts of one subscription that drafting needs (read in bulk, not as ORM objects)."""

    id: int
    customer_id: int
    internal_ips: int
    external_ips: int
    payment_method: str
    price_basis: str
    unit_price: Decimal | None
    project_key_id: int | None
    valid_from: date
    valid_until: date | None

    @property
    def total_ips(self) -> int:
        return self.internal_ips + self.external_ips


@dataclass(frozen=True)
class ServiceRow:
    """The facts of one additional subscription that drafting needs, with its suspensions
    (from, until) that touch the month."""

    id: int
    customer_id: int
    name: str
    internal_ips: int
    external_ips: int
    started_on: date
    ended_on: date | None
    term_end: date
    auto_renew: bool
    suspensions: tuple[tuple[date, date | None], ...] = ()

    @property
    def total_ips(self) -> int:
        return self.internal_ips + self.external_ips


@dataclass(frozen=True)
class KeyRow:
    key: str
    runtime_months: int
    purchase_price: Decimal
    selling_price: Decimal | None


@dataclass
class Draft:
    """A computed invoice, not yet stored; ``skip`` names why a customer gets none."""

    customer_id: int
    lines: list[tuple[str, int, Decimal, Decimal]] = field(default_factory=list)
    skip: str = ""
    category: str = ""
    payment_method: str = ""
    internal: int = 0
    external: int = 0
    purchase_cost: Decimal = Decimal("0.00")
    credit_applied: Decimal = Decimal("0.00")


def month_end(period: date) -> date:
    return add_months(period, 1) - timedelta(days=1)


def _price(sub: SubRow, tiers, keys: dict[int, KeyRow]) -> Decimal:
    if sub.payment_method == PaymentMethodCode.FREE.value:
        # a free trial costs nothing, also when a paid subscription follows it mid-month
        return ZERO
    if sub.price_basis == PriceBasis.PROJECT_KEY.value:
        key = keys.get(sub.project_key_id) if sub.project_key_id else None
        if key is not None and key.selling_price is not None:
            return to_cents(Decimal(key.selling_price) / key.runtime_months)
        return monthly_price(sub.total_ips, (), sub.unit_price) if sub.unit_price else ZERO
    unit = sub.unit_price if sub.price_basis == PriceBasis.CUSTOMER_PRICE.value else None
    return monthly_price(sub.total_ips, tiers, unit)


def _chains(subs: list[SubRow]) -> list[list[SubRow]]:
    """Split a customer's subscriptions into runs where each one starts the day after the
    previous one ended (an immediate change replaces a subscription that way)."""
    chains: list[list[SubRow]] = []
    for sub in subs:
        previous = chains[-1][-1] if chains else None
        if (
            previous is not None
            and previous.valid_until is not None
            and sub.valid_from == previous.valid_until + timedelta(days=1)
        ):
            chains[-1].append(sub)
        else:
            chains.append([sub])
    return chains


def compute_draft(
    customer_id: int,
    service_mode: str,
    language: str,
    subs: list[SubRow],
    period: date,
    tiers,
    keys: dict[int, KeyRow],
    ip_purchase_price: Decimal = ZERO,
    memo: dict | None = None,
    services: list[ServiceRow] | None = None,
    unit_price: Decimal | None = None,
    payment_method: str = "",
) -> Draft:
    """The invoice lines of one customer for the month starting ``period`` (SPEC §8.3).

    A subscription active over the whole month is billed in full. One that starts mid-month is
    billed from its start day. An immediate change mid-month (a subscription replaced by the
    next on the following day) keeps the first in full and adds a line for the price
    difference over the remaining days, exactly the amount the change form previewed. A run of
    subscriptions that stops before the month ends (a project key's runtime) is billed by days.

    Each additional subscription (``services``, SPEC §11) adds its own line, priced on the
    customer's basis (``unit_price`` or the tiers) for its own IP count and prorated by the
    calendar days it was billable in the month (not before its start, not while suspended,
    not after its last day). A customer with additional subscriptions only is billed too, on
    its ``payment_method`` (bank transfer when it has none).

    ``memo`` (a dict kept for one run: same tiers, keys and purchase price) takes a short path
    for a customer whose month is one subscription over the whole month (most of them) and
    prices each IP count once.
    """
    if memo is not None and len(subs) == 1 and not services:
        sub = subs[0]
        if sub.project_key_id is None and sub.valid_from <= period:
            last = memo.get(period)
            if last is None:
                last = memo[period] = month_end(period)
            if sub.valid_until is None or sub.valid_until >= last:
                return _full_month(
                    customer_id, service_mode, language, sub, period, memo, tiers, ip_purchase_price
                )
    draft = Draft(customer_id)
    last = month_end(period)
    month_days = (last - period).days + 1
    texts = LINE_TEXTS.get(language, LINE_TEXTS["en"])
    in_month = [
        s
        for s in sorted(subs, key=lambda s: (s.valid_from, s.id))
        if s.valid_from <= last and (s.valid_until is None or s.valid_until >= period)
    ]
    if not in_month and not services:
        draft.skip = "no_subscription"
        return draft
    # without a main subscription the customer's method applies, else bank transfer
    draft.payment_method = payment_method or PaymentMethodCode.INVOICE.value
    draft.category = service_mode
    if in_month:
        _describe(draft, in_month[-1], service_mode)
    cost = ZERO
    for chain in _chains(in_month):
        reaches_end = chain[-1].valid_until is None or chain[-1].valid_until >= last
        previous_price = None
        for sub in chain:
            start = max(sub.valid_from, period)
            end = min(sub.valid_until or last, last)
            days = (end - start).days + 1
            price = _price(sub, tiers, keys)
            values = {
                "internal": sub.internal_ips,
                "external": sub.external_ips,
                "month": f"{period:%m/%Y}",
                "start": f"{start:%d.%m.%Y}",
                "end": f"{end:%d.%m.%Y}",
                "days": days,
                "month_days": month_days,
            }
            if reaches_end and previous_price is not None:
                remaining = (last - start).days + 1
                values["days"] = remaining
                amount = to_cents((price - previous_price) * remaining / month_days)
                text = texts["change"].format(**values)
            elif reaches_end and start == period:
                amount, text = price, texts["full"].format(**values)
            else:
                covered = (last - start).days + 1 if reaches_end else days
                values["days"] = covered
                values["end"] = f"{(last if reaches_end else end):%d.%m.%Y}"
                amount = to_cents(price * covered / month_days)
                text = texts["partial"].format(**values)
            key = keys.get(sub.project_key_id) if sub.project_key_id else None
            if key is not None:
                text = f"{text}, {texts['key'].format(key=key.key)}"
                cost += Decimal(key.purchase_price) / key.runtime_months * days / month_days
            else:
                cost += ip_purchase_price * sub.total_ips * days / month_days
            unit = (price / sub.total_ips) if sub.total_ips else ZERO
            draft.lines.append((text[:300], sub.total_ips, unit.quantize(UNIT), amount))
            previous_price = price
    if services:
        cost += _service_lines(draft, services, period, texts, tiers, unit_price, ip_purchase_price)
        if not draft.lines:
            draft.skip = "no_subscription"
            return draft
    draft.purchase_cost = to_cents(cost)
    net = sum((line[3] for line in draft.lines), ZERO)
    if draft.category == "free" and net > ZERO:
        # a free trial with paid additional subscriptions: those are billed
        draft.category = service_mode
    if draft.category == "free" or net == ZERO:
        draft.skip = "free" if draft.category == "free" else "zero_amount"
    return draft


def _describe(draft: Draft, sub: SubRow, service_mode: str) -> None:
    """The invoice facts taken from the main subscription in force at the month's end."""
    draft.payment_method = sub.payment_method
    draft.internal, draft.external = sub.internal_ips, sub.external_ips
    if sub.price_basis == PriceBasis.PROJECT_KEY.value:
        draft.category = "project_key"
    elif sub.payment_method == PaymentMethodCode.FREE.value:
        draft.category = "free"
    else:
        draft.category = service_mode


def _service_lines(
    draft: Draft,
    services: list[ServiceRow],
    period: date,
    texts: dict,
    tiers,
    unit_price: Decimal | None,
    ip_purchase_price: Decimal,
) -> Decimal:
    """Add one line per additional subscription billable in the month; returns its purchase
    cost (unrounded)."""
    cost = ZERO
    for service in services:
        days, month_days = billed_days(
            service.started_on, last_billed_day(service), service.suspensions, period
        )
        if days <= 0:
            continue
        total = service.total_ips
        price = service_price(total, unit_price, tiers)
        values = {
            "name": service.name,
            "internal": service.internal_ips,
            "external": service.external_ips,
            "month": f"{period:%m/%Y}",
            "days": days,
            "month_days": month_days,
        }
        if days == month_days:
            amount, text = price, texts["service"].format(**values)
        else:
            amount = to_cents(price * days / month_days)
            text = texts["service_partial"].format(**values)
        unit = (price / total).quantize(UNIT)
        draft.lines.append((text[:300], total, unit, amount))
        draft.internal += service.internal_ips
        draft.external += service.external_ips
        cost += ip_purchase_price * total * days / month_days
    return cost


def _full_month(
    customer_id: int,
    service_mode: str,
    language: str,
    sub: SubRow,
    period: date,
    memo: dict,
    tiers,
    ip_purchase_price: Decimal,
) -> Draft:
    """``compute_draft`` for one subscription over the whole month (most customers), with the
    price and the purchase cost of each IP count computed once per run."""
    total = sub.total_ips
    fact = (sub.payment_method, sub.price_basis, sub.unit_price, total)
    known = memo.get(fact)
    if known is None:
        price = _price(sub, tiers, {})
        unit = ((price / total) if total else ZERO).quantize(UNIT)
        cost = to_cents(ip_purchase_price * total)
        known = memo[fact] = (price, unit, cost)
    price, unit, cost = known
    draft = Draft(customer_id)
    _describe(draft, sub, service_mode)
    texts = LINE_TEXTS.get(language, LINE_TEXTS["en"])
    text = texts["full"].format(
        internal=sub.internal_ips, external=sub.external_ips, month=f"{period:%m/%Y}"
    )
    draft.lines.append((text[:300], total, unit, price))
    draft.purchase_cost = cost
    if draft.category == "free" or price == ZERO:
        draft.skip = "free" if draft.category == "free" else "zero_amount"
    return draft


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


def _reserve_numbers(count: int, clock: Clock) -> int:
    """Reserve ``count`` consecutive invoice numbers and return the first. The counter row is
    locked until the caller commits, and the numbers are used in that same transaction, so a
    rollback returns them: the sequence never has gaps."""
    rows = lock_rows(Setting, Setting.key == NUMBER_KEY)
    row = rows[0] if rows else None
    if row is None:
        row = Setting(key=NUMBER_KEY, value="0", updated_at=clock.now())
        db.session.add(row)
    first = int(row.value) + 1
    row.value = str(first + count - 1)
    row.updated_at = clock.now()
    return first


def format_number(year: int, number: int) -> str:
    return f"{year}-{number:06d}"


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
    first = _reserve_numbers(len(drafts), clock)
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
    note.number = format_number(clock.today().year, _reserve_numbers(1, clock))
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
    (``stripe_gateway.charge_invoice``)."""
    from billing.payments.stripe_gateway import charge_invoice

    return charge_invoice(invoice_id, clock, retry_by=actor)


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
