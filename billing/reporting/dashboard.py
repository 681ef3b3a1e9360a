"""The dashboard (SPEC §9): last month, this month and a forecast of next month; the IP history
for the chart; the monthly billing data per customer as JSON or CSV.

Money figures of a month come from its finalized invoices once the month-end run has billed it,
otherwise they are estimated from the subscriptions that overlap the month, priced by the same
``invoicing.draft_lines.compute_draft`` the run uses. The estimate does not loop over customers:
one ``GROUP BY`` collapses the subscriptions into groups of identical price facts (service mode,
payment method, price basis, unit price, IP count, project key prices, days in the month), and
each group is priced once and multiplied by its size. The page costs a fixed number of queries
whatever the number of customers (see ``dashboard_figures``).

Categories: ``free`` (free trial), ``managed``, ``self_service`` and ``project_key``. Free
trials are never invoiced, so their count, IPs and IP purchase cost always come from the
subscriptions, also in a billed month. The IP purchase cost (setting ``billing.ip_purchase_price``
per IP and month) applies to every IP not covered by a project key; a project key costs its
purchase price spread over its runtime. Both are prorated by days like the invoice lines.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import Decimal
from itertools import groupby

from sqlalchemy import Date, Integer, and_, case, func, literal, or_, select, text, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from billing.catalog.pricing import average_ip_price, load_tiers, to_cents
from billing.invoicing.draft_lines import KeyRow, SubRow, compute_draft, month_end
from billing.invoicing.drafting import ip_purchase_price_setting
from billing.invoicing.monthend import parse_period
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock, add_months
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.reporting.exports import CONVERTERS, Field, defuse, html_safe
from models import (
    ChangeKind,
    ChangeState,
    Customer,
    Invoice,
    InvoiceKind,
    InvoiceState,
    PaymentMethodCode,
    PriceBasis,
    ProjectKey,
    ScheduledChange,
    Subscription,
    SubscriptionState,
    db,
)

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
BATCH = 2000
ZERO = Decimal("0.00")


def status_counts() -> dict[str, int]:
    """How many customers have each list status (one indexed query)."""
    return dict(
        db.session.execute(select(Customer.status, func.count()).group_by(Customer.status)).all()
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


@dataclass(frozen=True)
class _Month:
    """A dashboard month: its days, and the day its subscriptions and IPs are counted on."""

    first: date
    reference_day: date

    @property
    def last(self) -> date:
        return month_end(self.first)

    @property
    def days(self) -> int:
        return self.last.day


class _days_between(FunctionElement):
    """``later - earlier`` in days, for two dates (SQLite has no date subtraction)."""

    type = Integer()
    inherit_cache = True


@compiles(_days_between)
def _days_between_default(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return f"({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)})"


@compiles(_days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return (
        f"CAST(julianday({compiler.process(later, **kw)}) - "
        f"julianday({compiler.process(earlier, **kw)}) AS INTEGER)"
    )


def _overlaps(first: date, last: date):
    return and_(
        Subscription.valid_from <= last,
        or_(Subscription.valid_until.is_(None), Subscription.valid_until >= first),
    )


def _in_effect(day: date):
    return and_(
        Subscription.valid_from <= day,
        or_(Subscription.valid_until.is_(None), Subscription.valid_until >= day),
    )


def _covered_days(month: _Month):
    """How many days of ``month`` a subscription covers (0 outside it)."""
    first, last = literal(month.first, Date), literal(month.last, Date)
    start = case((Subscription.valid_from < first, first), else_=Subscription.valid_from)
    until = Subscription.valid_until
    end = case((or_(until.is_(None), until > last), last), else_=until)
    return case(
        (or_(Subscription.valid_from > last, until < first), 0),
        else_=_days_between(end, start) + 1,
    )


def _grouped(months: Sequence[_Month], steady: bool):
    """The subscriptions of ``months`` grouped by price shape (service mode, payment method,
    price basis, unit price, IP count, project key, pending change of a current subscription),
    with per month the days covered and the subscriptions and IPs in effect on its reference
    day. ``steady`` ones began before the first month and have no end, so they cover every day
    and need no date arithmetic (most do); the others are the few that start or end inside."""
    change = aliased(ScheduledChange)
    first, last = months[0].first, months[-1].last
    shape = [
        Customer.service_mode,
        Subscription.payment_method,
        Subscription.price_basis,
        Subscription.unit_price,
        (Subscription.internal_ips + Subscription.external_ips).label("total_ips"),
        Subscription.project_key_id.label("key_id"),
        change.kind.label("change_kind"),
        change.internal_ips.label("change_internal"),
        change.external_ips.label("change_external"),
        change.project_key_id.label("change_key_id"),
    ]
    number = func.count()
    internal, external = Subscription.internal_ips, Subscription.external_ips
    sums = [number.label("number")]
    for index, month in enumerate(months):
        if steady:
            figures = [number * month.days, number, func.sum(internal), func.sum(external)]
        else:
            running = _in_effect(month.reference_day)
            figures = [
                func.sum(_covered_days(month)),
                func.sum(case((running, 1), else_=0)),
                func.sum(case((running, internal), else_=0)),
                func.sum(case((running, external), else_=0)),
            ]
        sums += [
            column.label(f"{name}_{index}")
            for column, name in zip(
                figures, ("days", "running", "internal", "external"), strict=True
            )
        ]
    is_steady = and_(Subscription.valid_from <= first, Subscription.valid_until.is_(None))
    return (
        select(*shape, *sums)
        .join(Customer, Customer.id == Subscription.customer_id)
        .outerjoin(
            change,
            and_(
                change.customer_id == Subscription.customer_id,
                Subscription.state == SubscriptionState.ACTIVE.value,
                change.state == ChangeState.PENDING.value,
                change.effective_date <= last,
            ),
        )
        .where(is_steady if steady else and_(_overlaps(first, last), ~is_steady))
        .group_by(*shape)
    )


@dataclass(frozen=True)
class _Shape:
    service_mode: str
    payment_method: str
    price_basis: str
    unit_price: Decimal | None
    total_ips: int
    runtime: int | None
    purchase: Decimal | None
    selling: Decimal | None


@dataclass(frozen=True)
class _Group:
    """Subscriptions of one shape: per month (days covered, in effect, internal, external).
    ``changed`` is the shape a pending change gives them, or None when it cancels them."""

    shape: _Shape
    number: int
    months: tuple[tuple[int, int, int, int], ...]
    has_change: bool = False
    changed: _Shape | None = None
    changed_ips: tuple[int, int] = (0, 0)


def _subscription_groups(months: Sequence[_Month]) -> list[_Group]:
    """One query (on PostgreSQL after one statement that tunes the planner for it): the steady
    and the moving subscriptions of ``months`` grouped by shape, a few thousand groups at most
    however many customers, with the prices of their project keys and of the keys pending
    changes bring."""
    grouped = union_all(_grouped(months, True), _grouped(months, False)).subquery()
    key, change_key = aliased(ProjectKey), aliased(ProjectKey)
    statement = (
        select(
            grouped,
            key.runtime_months,
            key.purchase_price,
            key.selling_price,
            change_key.runtime_months,
            change_key.purchase_price,
            change_key.selling_price,
        )
        .outerjoin(key, key.id == grouped.c.key_id)
        .outerjoin(change_key, change_key.id == grouped.c.change_key_id)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        # The planner cannot foresee how few shapes there are and would sort a million rows
        # on disk; with room for the hash table it aggregates them in one pass. Compiling the
        # expressions (JIT) costs more than it saves for this one scan.
        db.session.execute(
            text("SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true)")
        )
    groups: dict[tuple, _Group] = {}
    for row in db.session.execute(statement).tuples():
        mode, payment, basis, unit, total, _key_id = row[:6]
        change_kind, change_internal, change_external, change_key_id = row[6:10]
        figures = [int(value or 0) for value in row[11:-6]]
        own_key, new_key = row[-6:-3], row[-3:]
        shape = _Shape(mode, payment, basis, unit, total, *own_key)
        changed = None
        if change_kind == ChangeKind.CHANGE.value:
            changed = _Shape(
                mode,
                PaymentMethodCode.PROJECT_KEY.value if change_key_id else payment,
                PriceBasis.PROJECT_KEY.value if change_key_id else basis,
                unit,
                change_internal + change_external,
                *(new_key if change_key_id else own_key),
            )
        months_figures = tuple(tuple(figures[i : i + 4]) for i in range(0, len(figures), 4))
        ips = (change_internal or 0, change_external or 0)
        identity = (shape, change_kind is not None, changed, ips)
        known = groups.get(identity)
        if known is not None:  # the same shape among the steady and the moving ones
            number = known.number + row[10]
            months_figures = tuple(
                tuple(a + b for a, b in zip(x, y, strict=True))
                for x, y in zip(known.months, months_figures, strict=True)
            )
        else:
            number = row[10]
        groups[identity] = _Group(
            shape, number, months_figures, change_kind is not None, changed, ips
        )
    return list(groups.values())


class _Pricing:
    """Category and monthly price of a subscription shape: what the month-end run drafts for
    one such subscription over a whole month (free and zero amounts: nothing). Each shape is
    priced once."""

    def __init__(self, tiers, period: date) -> None:
        self.tiers = tiers
        self.period = period
        self.known: dict[_Shape, tuple[str, Decimal]] = {}

    def __call__(self, shape: _Shape) -> tuple[str, Decimal]:
        if shape not in self.known:
            keys = {}
            if shape.runtime:
                keys[1] = KeyRow("", shape.runtime, shape.purchase, shape.selling)
            sub = SubRow(
                0,
                0,
                shape.total_ips,
                0,
                shape.payment_method,
                shape.price_basis,
                shape.unit_price,
                1 if keys else None,
                self.period,
                None,
            )
            draft = compute_draft(0, shape.service_mode, "en", [sub], self.period, self.tiers, keys)
            price = ZERO if draft.skip else sum((line[3] for line in draft.lines), ZERO)
            self.known[shape] = (draft.category, price)
        return self.known[shape]


def _add(
    tally: _Tally,
    pricing: _Pricing,
    shape: _Shape,
    ip_price: Decimal,
    month: _Month,
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
        _Month(add_months(this_month, -1), this_month - timedelta(days=1)),
        _Month(this_month, today),
        _Month(add_months(this_month, 1), add_months(this_month, 1)),
    )
    tiers = load_tiers()
    ip_price = ip_purchase_price_setting()
    invoices = [_invoice_groups(m.first) for m in months[:2]]
    groups = _subscription_groups(months)
    pricing = _Pricing(tiers, this_month)
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
        running = _in_effect(day)
        columns.append(func.sum(case((running, Subscription.internal_ips), else_=0)))
        columns.append(func.sum(case((running, Subscription.external_ips), else_=0)))
    sums = db.session.execute(select(*columns).where(_overlaps(days[0], days[-1]))).one()
    return [
        IpMonth(period, day, int(sums[2 * i] or 0), int(sums[2 * i + 1] or 0))
        for i, (period, day) in enumerate(zip(periods, days, strict=True))
    ]


# --- the monthly billing data ----------------------------------------------------------------

BILLING_DATA_FIELDS: tuple[Field, ...] = (
    Field("month", "code", description="booking month, YYYY-MM"),
    Field("customer_id", "int", description="customer id"),
    Field("company_name", "text", description="company name"),
    Field("service_mode", "code", description="managed | self_service"),
    Field("payment_method", "code", description="card | invoice | project_key | free"),
    Field("internal_ips", "int", description="internal IPs billed for the month"),
    Field("external_ips", "int", description="external IPs billed for the month"),
    Field("total_ips", "int", description="internal + external"),
    Field("net", "money", description="net amount of the month, decimal string"),
    Field("currency", "code", description="ISO 4217 code of the amount"),
    Field("category", "code", description="free | managed | self_service | project_key"),
    Field(
        "source",
        "code",
        description="invoice (its figures) | subscription (what the run would bill)",
    ),
    Field(
        "invoice_number",
        "text",
        description="the invoice's number; null without one or for a draft",
    ),
)
_FIELD_CONVERTERS = tuple(CONVERTERS[f.kind] for f in BILLING_DATA_FIELDS)
# what the run's drafting reads of a subscription and its project key, in field order
SUB_ROW_COLUMNS = tuple(getattr(Subscription, f.name) for f in fields(SubRow))
KEY_ROW_COLUMNS = tuple(getattr(ProjectKey, f.name) for f in fields(KeyRow))


def billing_month(text: str | None, clock: Clock) -> date:
    """The booking month ``YYYY-MM`` as its first day. DomainError for anything else or for a
    month that has not started yet."""
    period = parse_period(text)
    if period > clock.today():
        raise DomainError(
            _("There is no billing data for a month that has not started yet."), field="period"
        )
    return period


def default_billing_month(clock: Clock) -> date:
    """The month the download offers first: last month, the one the month-end run closed."""
    return add_months(clock.today(), -1)


def billing_data_rows(period: date, clock: Clock, currency: str = "EUR") -> Iterator[tuple]:
    """One row per customer billed for the month starting ``period`` (``BILLING_DATA_FIELDS``
    order): from the customer's invoice when there is one (any state but void), otherwise what
    the month-end run would draft from the subscriptions (free trials: net 0), customers in id
    order. Rows are read from one streamed query. DomainError for a month not yet started."""
    period = billing_month(f"{period:%Y-%m}", clock)
    last = month_end(period)
    tiers = load_tiers()
    invoice = aliased(Invoice)
    statement = (
        select(
            Customer.id,
            Customer.company_name,
            Customer.service_mode,
            invoice.id,
            invoice.number,
            invoice.payment_method,
            invoice.ips_internal,
            invoice.ips_external,
            invoice.net,
            invoice.category,
            *SUB_ROW_COLUMNS,
            *KEY_ROW_COLUMNS,
        )
        .outerjoin(
            invoice,
            and_(
                invoice.customer_id == Customer.id,
                invoice.period == period,
                invoice.kind == InvoiceKind.INVOICE.value,
                invoice.state != InvoiceState.VOID.value,
            ),
        )
        .outerjoin(
            Subscription,
            and_(
                Subscription.customer_id == Customer.id,
                invoice.id.is_(None),
                _overlaps(period, last),
            ),
        )
        .outerjoin(ProjectKey, ProjectKey.id == Subscription.project_key_id)
        .where(or_(invoice.id.is_not(None), Subscription.id.is_not(None)))
        .order_by(Customer.id, Subscription.valid_from, Subscription.id)
        .execution_options(yield_per=BATCH)
    )
    rows = db.session.connection().execute(statement)
    return _billing_rows(rows, period, tiers, currency)


def _billing_rows(rows, period: date, tiers, currency: str) -> Iterator[tuple]:
    month, last = f"{period:%Y-%m}", month_end(period)
    pricing = _Pricing(tiers, period)
    for customer_id, group in groupby(rows, key=lambda row: row[0]):
        group = list(group)
        first = group[0]
        company, service_mode = first[1], first[2]
        if first[3] is not None:
            number, payment, internal, external, net, category = first[4:10]
            source = "invoice"
        else:
            subs = [SubRow(*row[10:20]) for row in group]
            number, source = None, "subscription"
            sub = subs[-1]
            payment, internal, external = sub.payment_method, sub.internal_ips, sub.external_ips
            whole_month = sub.valid_from <= period and (
                sub.valid_until is None or sub.valid_until >= last
            )
            if len(subs) == 1 and whole_month:  # most customers: the shape's monthly price
                shape = _Shape(
                    service_mode,
                    payment,
                    sub.price_basis,
                    sub.unit_price,
                    sub.total_ips,
                    *first[21:24],
                )
                category, net = pricing(shape)
            else:
                keys = {
                    sub.project_key_id: KeyRow(*row[20:24])
                    for sub, row in zip(subs, group, strict=True)
                    if sub.project_key_id is not None
                }
                draft = compute_draft(customer_id, service_mode, "en", subs, period, tiers, keys)
                net = ZERO if draft.skip else sum((line[3] for line in draft.lines), ZERO)
                category = draft.category
        yield (
            month,
            customer_id,
            company,
            service_mode,
            payment,
            internal,
            external,
            internal + external,
            net,
            currency,
            category,
            source,
            number,
        )


def _typed(row: tuple) -> list:
    return [
        None if value is None else convert(value)
        for convert, value in zip(_FIELD_CONVERTERS, row, strict=True)
    ]


def iter_billing_json(rows: Iterable[tuple]) -> Iterator[str]:
    """A JSON array of objects with the ``BILLING_DATA_FIELDS`` keys, produced in chunks."""
    keys = [f.key for f in BILLING_DATA_FIELDS]
    chunk: list[str] = []
    separator = "["
    for row in rows:
        chunk.append(
            separator
            + html_safe(json.dumps(dict(zip(keys, _typed(row), strict=True)), ensure_ascii=False))
        )
        separator = ",\n"
        if len(chunk) >= BATCH:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk) + ("]\n" if separator != "[" else "[]\n")


def iter_billing_csv(rows: Iterable[tuple]) -> Iterator[str]:
    """CSV with a header row; text cells are protected against formula injection."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([f.key for f in BILLING_DATA_FIELDS])
    for n, row in enumerate(rows, 1):
        writer.writerow(["" if v is None else defuse(v) for v in _typed(row)])
        if n % BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


BILLING_DATA_FORMATS = {
    "json": ("application/json", iter_billing_json),
    "csv": ("text/csv; charset=utf-8", iter_billing_csv),
}


@dataclass(frozen=True)
class BillingDataExport:
    filename: str
    mimetype: str
    chunks: Iterator[str]


def billing_data_export(
    month: str | None, export_format: str, actor: Actor, clock: Clock, currency: str = "EUR"
) -> BillingDataExport:
    """The billing data of ``month`` (``YYYY-MM``) as a streamed ``json`` or ``csv`` file.

    Records an audit event and commits it before the rows are read. DomainError for an unknown
    format, a malformed month or one that has not started yet.
    """
    if export_format not in BILLING_DATA_FORMATS:
        raise DomainError(_("Unknown export format."), field="format")
    period = billing_month(month, clock)
    audit.record(
        actor,
        "billing_data.export",
        clock,
        after={"month": f"{period:%Y-%m}", "format": export_format},
    )
    db.session.commit()
    mimetype, writer = BILLING_DATA_FORMATS[export_format]
    return BillingDataExport(
        filename=f"billing-data-{period:%Y-%m}.{export_format}",
        mimetype=mimetype,
        chunks=writer(billing_data_rows(period, clock, currency)),
    )
