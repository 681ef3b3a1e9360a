"""A month's billing estimated from its subscriptions without looping over customers (SPEC §9).

One ``GROUP BY`` collapses the subscriptions into groups of identical price facts (service mode,
payment method, price basis, unit price, IP count, project key prices, days in the month), and
each group is priced once, by the same ``invoicing.draft_lines.compute_draft`` the month-end run
uses, and multiplied by its size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, Integer, and_, case, func, literal, or_, select, text, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from billing.invoicing.draft_lines import ZERO, KeyRow, SubRow, compute_draft, month_end
from models import (
    ChangeKind,
    ChangeState,
    Customer,
    PaymentMethodCode,
    PriceBasis,
    ProjectKey,
    ScheduledChange,
    Subscription,
    SubscriptionState,
    db,
)


@dataclass(frozen=True)
class CountedMonth:
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


def overlapping(first: date, last: date):
    """The subscriptions that run on at least one day from ``first`` to ``last``."""
    return and_(
        Subscription.valid_from <= last,
        or_(Subscription.valid_until.is_(None), Subscription.valid_until >= first),
    )


def in_effect_on(day: date):
    """The subscriptions that run on ``day``."""
    return and_(
        Subscription.valid_from <= day,
        or_(Subscription.valid_until.is_(None), Subscription.valid_until >= day),
    )


def _covered_days(month: CountedMonth):
    """How many days of ``month`` a subscription covers (0 outside it)."""
    first, last = literal(month.first, Date), literal(month.last, Date)
    start = case((Subscription.valid_from < first, first), else_=Subscription.valid_from)
    until = Subscription.valid_until
    end = case((or_(until.is_(None), until > last), last), else_=until)
    return case(
        (or_(Subscription.valid_from > last, until < first), 0),
        else_=_days_between(end, start) + 1,
    )


def _grouped(months: Sequence[CountedMonth], steady: bool):
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
            running = in_effect_on(month.reference_day)
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
        .where(is_steady if steady else and_(overlapping(first, last), ~is_steady))
        .group_by(*shape)
    )


@dataclass(frozen=True)
class PriceShape:
    """What a subscription's monthly price depends on; subscriptions of one shape cost the same."""

    service_mode: str
    payment_method: str
    price_basis: str
    unit_price: Decimal | None
    total_ips: int
    runtime: int | None
    purchase: Decimal | None
    selling: Decimal | None


@dataclass(frozen=True)
class ShapeGroup:
    """Subscriptions of one shape: per month (days covered, in effect, internal, external).
    ``changed`` is the shape a pending change gives them, or None when it cancels them."""

    shape: PriceShape
    number: int
    months: tuple[tuple[int, int, int, int], ...]
    has_change: bool = False
    changed: PriceShape | None = None
    changed_ips: tuple[int, int] = (0, 0)


def subscription_groups(months: Sequence[CountedMonth]) -> list[ShapeGroup]:
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
    groups: dict[tuple, ShapeGroup] = {}
    for row in db.session.execute(statement).tuples():
        mode, payment, basis, unit, total, _key_id = row[:6]
        change_kind, change_internal, change_external, change_key_id = row[6:10]
        figures = [int(value or 0) for value in row[11:-6]]
        own_key, new_key = row[-6:-3], row[-3:]
        shape = PriceShape(mode, payment, basis, unit, total, *own_key)
        changed = None
        if change_kind == ChangeKind.CHANGE.value:
            changed = PriceShape(
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
        groups[identity] = ShapeGroup(
            shape, number, months_figures, change_kind is not None, changed, ips
        )
    return list(groups.values())


class ShapePricing:
    """Category and monthly price of a subscription shape: what the month-end run drafts for
    one such subscription over a whole month (free and zero amounts: nothing). Each shape is
    priced once."""

    def __init__(self, tiers, period: date) -> None:
        self.tiers = tiers
        self.period = period
        self.known: dict[PriceShape, tuple[str, Decimal]] = {}

    def __call__(self, shape: PriceShape) -> tuple[str, Decimal]:
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
