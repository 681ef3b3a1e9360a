"""The dashboard (SPEC §9): last month, this month and a forecast of next month, and the IP history
for the chart.

Money figures of a month come from its finalized invoices once the month-end run has billed it,
otherwise they are estimated from the subscriptions that overlap the month, grouped by price
shape (``subscription_shapes``). The page costs a fixed number of queries whatever the number of
customers (see ``dashboard_figures``).

Categories: ``free`` (free trial), ``managed``, ``self_service`` and ``project_key``. Free
trials are never invoiced, so their count, IPs and IP purchase cost always come from the
subscriptions, also in a billed month. The IP purchase cost (setting ``billing.ip_purchase_price``
per IP and month) applies to every IP not covered by a project key; a project key costs its
purchase price spread over its runtime. Both are prorated by days like the invoice lines.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select

from billing.catalog.pricing import average_ip_price, load_tiers, to_cents
from billing.invoicing.draft_lines import month_end
from billing.invoicing.drafting import ip_purchase_price_setting
from billing.kernel.clock import Clock, add_months
from billing.reporting.subscription_shapes import (
    CountedMonth,
    PriceShape,
    ShapePricing,
    in_effect_on,
    overlapping,
    subscription_groups,
)
from models import Customer, Invoice, InvoiceKind, InvoiceState, Subscription, db

FREE = "free"


MANAGED = "managed"


SELF_SERVICE = "self_service"


PROJECT_KEY = "project_key"


CATEGORIES = (FREE, MANAGED, SELF_SERVICE, PROJECT_KEY)


INVOICES = "invoices"


SUBSCRIPTIONS = "subscriptions"


FORECAST = "forecast"


BILLED_STATES = (
    InvoiceState.FINALIZED.value,
    InvoiceState.PAID.value,
    InvoiceState.PAYMENT_FAILED.value,
)


HISTORY_MONTHS = 6


ZERO = Decimal("0.00")


def status_counts() -> dict[str, int]:
    """How many customers have each list status, leaving out erased ones (one indexed query,
    like the customer list's default)."""
    return dict(
        db.session.execute(
            select(Customer.status, func.count())
            .where(Customer.erased_at.is_(None))
            .group_by(Customer.status)
        ).all()
    )


@dataclass(frozen=True)
class MonthFigures:
    """The dashboard column of one booking month.

    ``source`` says where the money figures come from: ``invoices`` (the month is billed),
    ``subscriptions`` (an estimate) or ``forecast`` (next month, pending changes applied).
    ``paying_ips`` are the IPs of every category but free; the average price per IP is the
    income divided by them.
    """

    period: date
    source: str
    income: dict[str, Decimal]
    key_cost: Decimal
    ip_cost: Decimal
    subscriptions: dict[str, int]
    internal_ips: int
    external_ips: int
    paying_ips: int

    @property
    def total_ips(self) -> int:
        return self.internal_ips + self.external_ips

    @property
    def income_total(self) -> Decimal:
        return sum(self.income.values(), ZERO)

    @property
    def purchase_cost(self) -> Decimal:
        return self.key_cost + self.ip_cost

    @property
    def margin(self) -> Decimal:
        return self.income_total - self.purchase_cost

    @property
    def average_ip_price(self) -> Decimal | None:
        return average_ip_price(self.income_total, self.paying_ips)

    @property
    def subscription_total(self) -> int:
        return sum(self.subscriptions.values())


@dataclass(frozen=True)
class Dashboard:
    last: MonthFigures
    current: MonthFigures
    forecast: MonthFigures
    ip_purchase_price: Decimal

    @property
    def columns(self) -> tuple[MonthFigures, MonthFigures, MonthFigures]:
        """The three months in calendar order."""
        return (self.last, self.current, self.forecast)


@dataclass
class _Tally:
    """Figures being added up; ``freeze`` turns them into ``MonthFigures``."""

    income: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    key_cost: Decimal = ZERO
    ip_cost: Decimal = ZERO
    subscriptions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    internal: int = 0
    external: int = 0
    paying: int = 0

    def count(self, category: str, number: int, internal: int, external: int) -> None:
        self.subscriptions[category] += number
        self.internal += internal
        self.external += external
        if category != FREE:
            self.paying += internal + external

    def freeze(self, period: date, source: str) -> MonthFigures:
        return MonthFigures(
            period=period,
            source=source,
            income={c: self.income[c] for c in CATEGORIES},
            key_cost=self.key_cost,
            ip_cost=self.ip_cost,
            subscriptions={c: self.subscriptions[c] for c in CATEGORIES},
            internal_ips=self.internal,
            external_ips=self.external,
            paying_ips=self.paying,
        )


def _add(
    tally: _Tally,
    pricing: ShapePricing,
    shape: PriceShape,
    ip_price: Decimal,
    month: CountedMonth,
    figures: tuple[int, int, int, int],
    only: str | None = None,
) -> None:
    """Add subscriptions of ``shape`` (days covered, in effect, internal and external IPs) to
    the month: prorated by the days, each amount rounded once."""
    days, running, internal, external = figures
    if not days and not running:
        return
    category, price = pricing(shape)
    if only is not None and category != only:
        return
    share = Decimal(days) / month.days
    tally.income[category] += to_cents(price * share)
    if shape.runtime:
        tally.key_cost += to_cents(Decimal(shape.purchase) / shape.runtime * share)
    else:
        tally.ip_cost += to_cents(ip_price * shape.total_ips * share)
    tally.count(category, running, internal, external)


def _tally_month(tally, groups, index, month, pricing, ip_price, only=None) -> None:
    for group in groups:
        _add(tally, pricing, group.shape, ip_price, month, group.months[index], only)


def _tally_forecast(tally, groups, index, month, pricing, ip_price) -> None:
    """A pending change applies to the whole month (changes take effect on the 1st); a
    pending cancellation drops its subscription."""
    for group in groups:
        if not group.has_change:
            _add(tally, pricing, group.shape, ip_price, month, group.months[index])
        elif group.changed is not None:
            n, (internal, external) = group.number, group.changed_ips
            figures = (n * month.days, n, n * internal, n * external)
            _add(tally, pricing, group.changed, ip_price, month, figures)


def _invoice_groups(period: date) -> list:
    """The month's finalized invoices and credit notes, summed by category and kind."""
    return db.session.execute(
        select(
            Invoice.category,
            Invoice.kind,
            func.count(),
            func.sum(Invoice.net),
            func.sum(Invoice.purchase_cost),
            func.sum(Invoice.ips_internal),
            func.sum(Invoice.ips_external),
        )
        .where(Invoice.period == period, Invoice.state.in_(BILLED_STATES))
        .group_by(Invoice.category, Invoice.kind)
    ).all()


def _tally_invoices(tally: _Tally, groups: list) -> None:
    """Credit notes (negative amounts) reduce the income; subscriptions and IPs are counted
    from the invoices alone."""
    for category, kind, number, net, cost, internal, external in groups:
        tally.income[category] += Decimal(net or 0)
        if kind != InvoiceKind.INVOICE.value:
            continue
        if category == PROJECT_KEY:
            tally.key_cost += Decimal(cost or 0)
        else:
            tally.ip_cost += Decimal(cost or 0)
        tally.count(category, number, int(internal or 0), int(external or 0))


def dashboard_figures(clock: Clock) -> Dashboard:
    """Last month, this month and next month's forecast (SPEC §9) as of ``clock.today()``.

    Subscriptions and IPs are counted on last month's last day, today, and next month's first
    day. A month with finalized invoices takes its money, subscriptions and IPs from them
    (free trials from the subscriptions); otherwise each figure is estimated from the
    subscriptions, prorated by the days they cover and rounded once.

    Five queries whatever the number of customers (six on PostgreSQL, which also sets the
    transaction's work memory): the tier table, the IP purchase price, the invoice sums of last
    and this month, and one scan that groups the subscriptions of all three months by shape.
    """
    today = clock.today()
    this_month = today.replace(day=1)
    months = (
        CountedMonth(add_months(this_month, -1), this_month - timedelta(days=1)),
        CountedMonth(this_month, today),
        CountedMonth(add_months(this_month, 1), add_months(this_month, 1)),
    )
    tiers = load_tiers()
    ip_price = ip_purchase_price_setting()
    invoices = [_invoice_groups(m.first) for m in months[:2]]
    groups = subscription_groups(months)
    pricing = ShapePricing(tiers, this_month)
    figures = []
    for index, month in enumerate(months):
        tally = _Tally()
        if index == 2:
            _tally_forecast(tally, groups, index, month, pricing, ip_price)
            source = FORECAST
        elif any(kind == InvoiceKind.INVOICE.value for _c, kind, *_ in invoices[index]):
            _tally_invoices(tally, invoices[index])
            _tally_month(tally, groups, index, month, pricing, ip_price, only=FREE)
            source = INVOICES
        else:
            _tally_month(tally, groups, index, month, pricing, ip_price)
            source = SUBSCRIPTIONS
        figures.append(tally.freeze(month.first, source))
    return Dashboard(*figures, ip_purchase_price=ip_price)


@dataclass(frozen=True)
class IpMonth:
    period: date
    day: date
    internal_ips: int
    external_ips: int

    @property
    def total_ips(self) -> int:
        return self.internal_ips + self.external_ips


def ip_history(clock: Clock, months: int = HISTORY_MONTHS) -> list[IpMonth]:
    """Internal and external IPs of the subscriptions in effect on the last day of each of the
    last ``months`` months, oldest first; the current month counts today. One query."""
    today = clock.today()
    periods = [add_months(today, -offset) for offset in range(months - 1, -1, -1)]
    days = [month_end(p) for p in periods[:-1]] + [today]
    columns = []
    for day in days:
        running = in_effect_on(day)
        columns.append(func.sum(case((running, Subscription.internal_ips), else_=0)))
        columns.append(func.sum(case((running, Subscription.external_ips), else_=0)))
    sums = db.session.execute(select(*columns).where(overlapping(days[0], days[-1]))).one()
    return [
        IpMonth(period, day, int(sums[2 * i] or 0), int(sums[2 * i + 1] or 0))
        for i, (period, day) in enumerate(zip(periods, days, strict=True))
    ]
