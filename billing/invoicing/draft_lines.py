"""The lines of one customer's invoice for a booking month (SPEC §8.3), computed from the facts
of its subscriptions: full months, mid-month starts and changes, runtimes that end, and the
additional subscriptions by their billable days. Pure computation; ``drafting`` reads the facts
and stores the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from babel import Locale
from babel.dates import format_date

from billing.catalog.pricing import monthly_price, to_cents
from billing.kernel.clock import add_months
from billing.subscriptions.service_terms import billed_days, last_billed_day, service_price
from models import PaymentMethodCode, PriceBasis

ZERO = Decimal("0.00")


HUNDRED = Decimal(100)


UNIT = Decimal("0.0001")


LINE_TEXTS = {
    "en": {
        "full": "{internal} internal + {external} external IPs, {month}",
        "partial": "{internal} internal + {external} external IPs, {start} \u2013 {end} "
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


# parsed once: babel parses a locale given as a string on every call
DAY_LOCALES = {"en": Locale.parse("en"), "de": Locale.parse("de_DE")}


def _day(day: date, language: str) -> str:
    """A day of a line's period as the invoice prints dates: ``Oct 9, 2026`` / ``09.10.2026``."""
    return format_date(day, "medium", locale=DAY_LOCALES.get(language, DAY_LOCALES["en"]))


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
        whole = _memo_whole_month(
            customer_id, service_mode, language, subs[0], period, memo, tiers, ip_purchase_price
        )
        if whole is not None:
            return whole
    draft = Draft(customer_id)
    last = month_end(period)
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
        cost += _chain_lines(draft, chain, period, language, tiers, keys, ip_purchase_price)
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


def _memo_whole_month(
    customer_id: int,
    service_mode: str,
    language: str,
    sub: SubRow,
    period: date,
    memo: dict,
    tiers,
    ip_purchase_price: Decimal,
) -> Draft | None:
    """The short path of ``compute_draft`` when the customer's one subscription, without a
    project key, runs over the whole month; None otherwise."""
    if sub.project_key_id is not None or sub.valid_from > period:
        return None
    last = memo.get(period)
    if last is None:
        last = memo[period] = month_end(period)
    if sub.valid_until is not None and sub.valid_until < last:
        return None
    return _full_month(
        customer_id, service_mode, language, sub, period, memo, tiers, ip_purchase_price
    )


def _chain_lines(
    draft: Draft,
    chain: list[SubRow],
    period: date,
    language: str,
    tiers,
    keys: dict[int, KeyRow],
    ip_purchase_price: Decimal,
) -> Decimal:
    """Add the lines of a run of subscriptions (``_chains``) to ``draft`` in ``language``;
    returns their purchase cost (unrounded)."""
    texts = LINE_TEXTS.get(language, LINE_TEXTS["en"])
    last = month_end(period)
    month_days = (last - period).days + 1
    reaches_end = chain[-1].valid_until is None or chain[-1].valid_until >= last
    previous_price = None
    cost = ZERO
    for sub in chain:
        start = max(sub.valid_from, period)
        end = min(sub.valid_until or last, last)
        days = (end - start).days + 1
        price = _price(sub, tiers, keys)
        values = {
            "internal": sub.internal_ips,
            "external": sub.external_ips,
            "month": f"{period:%m/%Y}",
            "start": _day(start, language),
            "end": _day(end, language),
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
            values["end"] = _day(last if reaches_end else end, language)
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
    return cost


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
