"""IP Distribution (SPEC §4, seed 3.2.2 and 3.2.5): the rules for changing IP counts.

- an increase applies at once only when ``instantly`` is set, otherwise on the 1st of next month;
- a decrease always takes effect at the end of the booking month (scheduled for the 1st);
- the same total with another split applies at once;
- without an active subscription the change starts a new one (reactivation);
- at most one pending change per customer: a new one replaces it, and the result says so.

IP Distribution changes the **main** subscription only: a customer's additional subscriptions
(``service_subscriptions``) keep their counts, and whether a change is an increase, a decrease or
a re-split is decided on the main subscription's own counts, not on the customer list's totals
(main plus additional). ``target`` says which subscription the form changes and what the
customer has besides it.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from billing.catalog.pricing import average_ip_price, load_tiers, monthly_price, to_cents
from billing.customers.customers import (
    _snapshot,
    _touch,
    check_version,
    current_subscription,
    get_customer,
    lock_customer,
    pending_change,
    refresh_summary,
    schedule_change,
    start_subscription,
    subscription_price,
)
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock, add_months
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _, day_text, money_text
from billing.kernel.locking import releasing_locks
from billing.subscriptions.service_subscriptions import services_of
from models import (
    ChangeState,
    PaymentMethodCode,
    PriceBasis,
    ScheduledChange,
    ServiceMode,
    ServiceState,
    Subscription,
    db,
)

IMMEDIATE = "immediate"
SCHEDULED = "scheduled"
REACTIVATION = "reactivation"


@dataclass(frozen=True)
class Preview:
    """What a change would do, shown before saving."""

    kind: str  # immediate | scheduled | reactivation
    effective_date: date
    current_price: Decimal
    new_price: Decimal
    average_ip_price: Decimal | None
    prorated_amount: Decimal
    remaining_days: int
    days_in_month: int
    replaces_pending: bool
    increase: bool
    decrease: bool

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "effective_date": self.effective_date.isoformat(),
            "current_price": str(self.current_price),
            "new_price": str(self.new_price),
            "average_ip_price": None
            if self.average_ip_price is None
            else str(self.average_ip_price.quantize(Decimal("0.01"))),
            "prorated_amount": str(self.prorated_amount),
            "remaining_days": self.remaining_days,
            "days_in_month": self.days_in_month,
            "replaces_pending": self.replaces_pending,
            "increase": self.increase,
            "decrease": self.decrease,
        }


MAX_IPS = 1_000_000


def preview_texts(plan: Preview, currency: str) -> dict[str, str]:
    """The preview's amounts and date as the request's language writes them ("257,00 €",
    "1. Dezember 2026"), under the keys of ``Preview.as_dict``."""
    average = plan.average_ip_price
    return {
        "current_price": money_text(plan.current_price, currency),
        "new_price": money_text(plan.new_price, currency),
        "average_ip_price": "–" if average is None else money_text(average, currency),
        "prorated_amount": money_text(plan.prorated_amount, currency),
        "effective_date": day_text(plan.effective_date),
    }


def preview_payload(plan: Preview, currency: str) -> dict:
    """The JSON answer of a price preview: ``Preview.as_dict`` and, under ``text``, its
    amounts and date written for the reader (``preview_texts``)."""
    return {**plan.as_dict(), "text": preview_texts(plan, currency)}


@dataclass(frozen=True)
class OtherSubscription:
    """An additional subscription the customer list counts next to the main one."""

    name: str
    internal_ips: int
    external_ips: int


@dataclass(frozen=True)
class Target:
    """What IP Distribution changes for a customer, and what it leaves alone.

    ``subscription`` is the main subscription the form changes (None: saving starts a new
    one), ``current_price`` its monthly price, ``payment_method`` its payment method (without
    one: the method a new subscription gets, None when no method is active). ``additional``
    are the active additional subscriptions, which keep their counts; ``listed_internal`` and
    ``listed_external`` the customer list's totals (main plus additional)."""

    subscription: Subscription | None
    current_price: Decimal
    payment_method: str | None
    additional: tuple[OtherSubscription, ...]
    listed_internal: int
    listed_external: int
    pending: ScheduledChange | None


def target(customer_id: int) -> Target:
    """Which subscription IP Distribution changes for the customer (see ``Target``)."""
    customer = get_customer(customer_id)
    sub = current_subscription(customer_id)
    if sub is not None:
        method = sub.payment_method
    else:
        try:
            method = method_for_new_subscription(customer.payment_method)
        except DomainError:
            method = None
    additional = tuple(
        OtherSubscription(s.name, s.internal_ips, s.external_ips)
        for s in services_of(customer_id)
        if s.state == ServiceState.ACTIVE.value
    )
    return Target(
        subscription=sub,
        current_price=subscription_price(sub) if sub else Decimal("0.00"),
        payment_method=method,
        additional=additional,
        listed_internal=(sub.internal_ips if sub else 0) + sum(a.internal_ips for a in additional),
        listed_external=(sub.external_ips if sub else 0) + sum(a.external_ips for a in additional),
        pending=pending_change(customer_id),
    )


def parse_counts(total, internal, external) -> tuple[int, int]:
    """Validate form input: whole numbers, each ≥ 0, total ≥ 1, internal + external = total."""
    try:
        total_n, internal_n, external_n = (int(str(v).strip()) for v in (total, internal, external))
    except (TypeError, ValueError):
        raise DomainError(_("IP counts must be whole numbers."), field="total_ips") from None
    if internal_n < 0 or external_n < 0:
        raise DomainError(_("IP counts cannot be negative."), field="internal_ips")
    if total_n < 1:
        raise DomainError(_("The total number of IPs must be at least 1."), field="total_ips")
    if internal_n + external_n != total_n:
        raise DomainError(
            _("Internal and external IPs must add up to the total (%(total)d).", total=total_n),
            field="external_ips",
        )
    if total_n > MAX_IPS:
        raise DomainError(_("At most 1,000,000 IPs per customer."), field="total_ips")
    return internal_n, external_n


def _unit_price(sub: Subscription | None, customer) -> Decimal | None:
    if sub is not None and sub.price_basis == PriceBasis.CUSTOMER_PRICE.value:
        return sub.unit_price
    if sub is None and customer.unit_price is not None:
        return customer.unit_price
    return None


def preview(
    customer_id: int, internal_ips: int, external_ips: int, instantly: bool, clock: Clock
) -> Preview:
    """The price effect of a change: new monthly price, average IP price and the prorated
    amount an immediate increase adds to this month's invoice (calendar days, booking month)."""
    if not (0 <= internal_ips <= MAX_IPS and 0 <= external_ips <= MAX_IPS):
        raise DomainError(_("At most 1,000,000 IPs per customer."), field="total_ips")
    customer = get_customer(customer_id)
    sub = current_subscription(customer_id)
    tiers = load_tiers()
    total = internal_ips + external_ips
    today = clock.today()
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    remaining = days_in_month - today.day + 1
    current_price = subscription_price(sub, tiers) if sub else Decimal("0.00")
    if sub is not None and sub.price_basis == PriceBasis.PROJECT_KEY.value:
        new_price = current_price
    else:
        new_price = monthly_price(total, tiers, _unit_price(sub, customer))
    increase = sub is not None and total > sub.total_ips
    decrease = sub is not None and total < sub.total_ips
    prorated = Decimal("0.00")
    if sub is None:
        kind, effective = REACTIVATION, today
        prorated = to_cents(new_price * remaining / days_in_month)
    elif increase and instantly:
        kind, effective = IMMEDIATE, today
        prorated = to_cents((new_price - current_price) * remaining / days_in_month)
    elif increase or decrease:
        kind, effective = SCHEDULED, add_months(today, 1)
    else:
        kind, effective = IMMEDIATE, today
    return Preview(
        kind=kind,
        effective_date=effective,
        current_price=current_price,
        new_price=new_price,
        average_ip_price=average_ip_price(new_price, total),
        prorated_amount=prorated,
        remaining_days=remaining,
        days_in_month=days_in_month,
        replaces_pending=kind == SCHEDULED and pending_change(customer_id) is not None,
        increase=increase,
        decrease=decrease,
    )


@dataclass(frozen=True)
class DistributionResult:
    preview: Preview
    subscription_id: int | None
    scheduled_change_id: int | None


@releasing_locks
def change_ip_distribution(
    customer_id: int,
    internal_ips: int,
    external_ips: int,
    instantly: bool,
    actor: Actor,
    clock: Clock,
    *,
    expected_version: int | None = None,
    payment_method: str | None = None,
) -> DistributionResult:
    """Apply or schedule new IP counts for a customer under the rules of this module.

    Raises DomainError for invalid counts, "instantly" on a decrease, a customer marked for
    deletion, or Conflict when ``expected_version`` is stale (also when another save of the
    same form was made a moment before: the customer is locked from the check to the commit).
    """
    customer = lock_customer(customer_id)
    check_version(customer, expected_version)
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is marked for deletion."))
    if internal_ips < 0 or external_ips < 0 or internal_ips + external_ips < 1:
        parse_counts(internal_ips + external_ips, internal_ips, external_ips)
    plan = preview(customer_id, internal_ips, external_ips, instantly, clock)
    if plan.decrease and instantly:
        raise DomainError(
            _(
                "A decrease takes effect only at the end of the booking month; "
                "untick \u201cPerform action instantly\u201d."
            ),
            field="instantly",
        )
    sub = current_subscription(customer_id)
    if plan.kind == REACTIVATION:
        method = method_for_new_subscription(payment_method or customer.payment_method)
        unit = customer.unit_price
        new = start_subscription(
            customer_id,
            internal_ips,
            external_ips,
            method,
            actor,
            clock,
            price_basis=PriceBasis.CUSTOMER_PRICE.value if unit else PriceBasis.TIERS.value,
            unit_price=unit,
        )
        return DistributionResult(plan, new.id, None)
    if plan.kind == SCHEDULED:
        change = schedule_change(customer_id, internal_ips, external_ips, actor, clock)
        return DistributionResult(plan, sub.id, change.id)
    before = _snapshot(customer)
    today = clock.today()
    if plan.increase and sub.valid_from < today:
        sub.valid_until = today - timedelta(days=1)
        sub.state = "expired"
        db.session.flush()
        replacement = Subscription(
            customer_id=customer_id,
            internal_ips=internal_ips,
            external_ips=external_ips,
            payment_method=sub.payment_method,
            price_basis=sub.price_basis,
            unit_price=sub.unit_price,
            project_key_id=sub.project_key_id,
            valid_from=today,
            created_at=clock.now(),
        )
        db.session.add(replacement)
        target = replacement
    else:
        sub.internal_ips, sub.external_ips = internal_ips, external_ips
        target = sub
    pending = pending_change(customer_id) if plan.increase else None
    if pending is not None:
        # the increase happened now: a change waiting for the 1st would undo it
        pending.state = ChangeState.WITHDRAWN.value
    db.session.flush()
    refresh_summary(customer)
    _touch(customer, clock)
    audit.record(
        actor,
        "subscription.change",
        clock,
        customer_id=customer_id,
        before=before,
        after={**_snapshot(customer), "prorated_amount": str(plan.prorated_amount)},
    )
    db.session.commit()
    return DistributionResult(plan, target.id, None)


def result_message(plan: Preview) -> str:
    """What a saved change did, in words for the person who saved it."""
    if plan.kind == SCHEDULED:
        text = _("The change is scheduled for %(date)s.", date=day_text(plan.effective_date))
        if plan.replaces_pending:
            text += " " + _("It replaces the change that was pending.")
        return text
    if plan.kind == REACTIVATION:
        return _("A new subscription starts today.")
    return _("The new IP distribution applies now.")


def method_for_new_subscription(preferred: str | None) -> str:
    """The preferred payment method if it is active (seed 3.6: a deactivated method stays on
    existing subscriptions but is not used for new ones), else the first active one. A project
    key method needs a key, so it is never picked here."""
    from billing.catalog.payment_methods import active_codes

    active = [c for c in active_codes() if c != PaymentMethodCode.PROJECT_KEY.value]
    if preferred in active:
        return preferred
    if not active:
        raise DomainError(_("No payment method is active; activate one under Payment Methods."))
    return active[0]


def self_service_allowed(customer) -> bool:
    """Customers manage their own subscription only in self-service mode (SPEC §0)."""
    return customer.service_mode == ServiceMode.SELF_SERVICE.value
