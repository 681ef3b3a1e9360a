"""Additional subscriptions per customer (Sectigo's partner platform, SPEC §11).

Next to its one main IP subscription (``models.Subscription``, changed by IP Distribution) a
customer may have any number of named additional subscriptions ("Site Hamburg"), each with its
own internal and external IPs, a term of 1, 12, 24 or 36 months and auto-renewal:

- **add**: starts today; ``preview_service`` shows its monthly price, average IP price and what
  the rest of this month adds to this month's invoice before it is saved;
- **suspend**: from today on it is neither billed nor usable (and not counted in the customer
  list's IP columns) until it is **enabled** again; every suspension is kept with its dates so
  billing can prorate by calendar days;
- **end**: today is its last day of service (billed up to and including it);
- **renewal**: when a term has ended, ``renew_due`` (daily job and the month-end run) renews it
  by one term if auto-renew is on, and ends it on its term's last day if not. The term runs on
  while a subscription is suspended.

Prices use the customer's price basis: its own price per IP when it has one, else the tier
table, for the subscription's own IP count. A customer marked for deletion accepts no change;
a locked customer cannot get a new or re-enabled subscription (its users cannot use it).
Every change is audited with before/after and reflected at once in the customer list. Terms,
prices and billable days: ``service_terms``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from billing.catalog.pricing import average_ip_price, load_tiers, to_cents
from billing.customers.lookup import get_customer
from billing.customers.summary import mark_updated, refresh_summary
from billing.kernel import audit
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import Conflict, DomainError, NotFound
from billing.kernel.i18n import _
from billing.subscriptions.service_terms import (
    ServiceInput,
    first_term_end,
    next_term_end,
    parse_input,
    service_price,
)
from models import Customer, ServiceState, ServiceSubscription, ServiceSuspension, db


@dataclass(frozen=True)
class ServicePreview:
    """What adding a subscription costs, shown before it is saved."""

    monthly_price: Decimal
    average_ip_price: Decimal | None
    prorated_amount: Decimal
    remaining_days: int
    days_in_month: int
    starts_on: date
    term_end: date
    customer_price: bool


def _customer_for_change(customer_id: int, *, starting: bool) -> Customer:
    customer = get_customer(customer_id)
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is marked for deletion."))
    if starting and customer.locked:
        raise DomainError(
            _("This customer's account is locked; unlock it before a subscription can start.")
        )
    return customer


def preview_service(customer_id: int, data: ServiceInput, clock: Clock) -> ServicePreview:
    """The price effect of adding ``data`` today: monthly price, average IP price and the
    prorated amount the rest of this month adds (calendar days, booking month). Raises the
    same DomainError as ``add_service`` for a name the customer already uses."""
    customer = get_customer(customer_id)
    if _name_taken(customer_id, data.name):
        raise _name_error()
    today = clock.today()
    total = data.internal_ips + data.external_ips
    price = service_price(total, customer.unit_price)
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    remaining = days_in_month - today.day + 1
    end = first_term_end(today, data.term_months)
    if not data.auto_renew:
        remaining = min(remaining, (end - today).days + 1)
    return ServicePreview(
        monthly_price=price,
        average_ip_price=average_ip_price(price, total),
        prorated_amount=to_cents(price * remaining / days_in_month),
        remaining_days=remaining,
        days_in_month=days_in_month,
        starts_on=today,
        term_end=end,
        customer_price=customer.unit_price is not None,
    )


def snapshot(sub: ServiceSubscription) -> dict:
    return {
        "subscription": sub.id,
        "name": sub.name,
        "internal_ips": sub.internal_ips,
        "external_ips": sub.external_ips,
        "term_months": sub.term_months,
        "term_end": sub.term_end.isoformat(),
        "auto_renew": sub.auto_renew,
        "state": sub.state,
        "ended_on": sub.ended_on.isoformat() if sub.ended_on else None,
    }


def services_of(customer_id: int) -> list[ServiceSubscription]:
    """The customer's additional subscriptions: running ones first, then by name."""
    rows = db.session.scalars(
        db.select(ServiceSubscription)
        .where(ServiceSubscription.customer_id == customer_id)
        .order_by(ServiceSubscription.name, ServiceSubscription.id)
    ).all()
    order = {ServiceState.ACTIVE.value: 0, ServiceState.SUSPENDED.value: 1}
    return sorted(rows, key=lambda s: order.get(s.state, 2))


def get_service(customer_id: int, service_id: int) -> ServiceSubscription:
    """One additional subscription of the customer; NotFound for another customer's."""
    sub = db.session.get(ServiceSubscription, service_id)
    if sub is None or sub.customer_id != customer_id:
        raise NotFound(_("This subscription does not exist."))
    return sub


def _changed_meanwhile() -> Conflict:
    return Conflict(
        _(
            "This subscription was changed by someone else in the meantime. "
            "Please reload the page and try again."
        )
    )


def _check_version(sub: ServiceSubscription, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != sub.version:
        raise _changed_meanwhile()


def _for_change(
    customer_id: int, service_id: int, expected_version: int | None, *, starting: bool = False
) -> tuple[Customer, ServiceSubscription]:
    """The customer and its subscription an action changes, after the common checks."""
    customer = _customer_for_change(customer_id, starting=starting)
    sub = get_service(customer_id, service_id)
    _check_version(sub, expected_version)
    return customer, sub


def _name_taken(customer_id: int, name: str) -> bool:
    return (
        db.session.scalar(
            db.select(ServiceSubscription.id).where(
                ServiceSubscription.customer_id == customer_id,
                db.func.lower(ServiceSubscription.name) == name.lower(),
                ServiceSubscription.state != ServiceState.ENDED.value,
            )
        )
        is not None
    )


def _name_error() -> DomainError:
    return DomainError(_("This customer already has a subscription with this name."), field="name")


def _save(
    customer: Customer,
    sub: ServiceSubscription,
    action: str,
    actor: Actor,
    clock: Clock,
    before: dict | None,
) -> ServiceSubscription:
    """Stamp, refresh the customer list columns, audit with before/after, and commit."""
    sub.updated_at = clock.now()
    try:
        db.session.flush()
    except StaleDataError:
        # someone else saved the subscription between our read and this write
        db.session.rollback()
        raise _changed_meanwhile() from None
    refresh_summary(customer)
    mark_updated(customer, clock)
    audit.record(actor, action, clock, customer_id=customer.id, before=before, after=snapshot(sub))
    db.session.commit()
    return sub


def add_service(
    customer_id: int, data: ServiceInput, actor: Actor, clock: Clock
) -> ServiceSubscription:
    """Add an additional subscription starting today, with its first term.

    Raises DomainError for bad input (see ``parse_input``), a name the customer already uses,
    a customer marked for deletion or locked.
    """
    customer = _customer_for_change(customer_id, starting=True)
    data = parse_input(
        data.name, data.internal_ips, data.external_ips, data.term_months, data.auto_renew
    )
    if _name_taken(customer_id, data.name):
        raise _name_error()
    today = clock.today()
    sub = ServiceSubscription(
        customer_id=customer_id,
        name=data.name,
        internal_ips=data.internal_ips,
        external_ips=data.external_ips,
        term_months=data.term_months,
        started_on=today,
        term_end=first_term_end(today, data.term_months),
        auto_renew=data.auto_renew,
        state=ServiceState.ACTIVE.value,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    db.session.add(sub)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _name_error() from None
    return _save(customer, sub, "service_subscription.add", actor, clock, None)


def suspend_service(
    customer_id: int,
    service_id: int,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> ServiceSubscription:
    """Suspend an active subscription from today on: not billed, not usable until enabled."""
    customer, sub = _for_change(customer_id, service_id, expected_version)
    if sub.state != ServiceState.ACTIVE.value:
        raise DomainError(_("Only an active subscription can be suspended."))
    before = snapshot(sub)
    sub.state = ServiceState.SUSPENDED.value
    sub.suspensions.append(
        ServiceSuspension(
            suspended_from=clock.today(), created_at=clock.now(), created_by=actor.label
        )
    )
    return _save(customer, sub, "service_subscription.suspend", actor, clock, before)


def _close_suspension(sub: ServiceSubscription, last_suspended_day: date) -> None:
    for suspension in sub.suspensions:
        if suspension.suspended_until is None:
            suspension.suspended_until = last_suspended_day


def enable_service(
    customer_id: int,
    service_id: int,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> ServiceSubscription:
    """Enable a suspended subscription: billed and usable again from today."""
    customer, sub = _for_change(customer_id, service_id, expected_version, starting=True)
    if sub.state != ServiceState.SUSPENDED.value:
        raise DomainError(_("Only a suspended subscription can be enabled."))
    before = snapshot(sub)
    sub.state = ServiceState.ACTIVE.value
    _close_suspension(sub, clock.today() - timedelta(days=1))
    return _save(customer, sub, "service_subscription.enable", actor, clock, before)


def set_auto_renew(
    customer_id: int,
    service_id: int,
    enabled: bool,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> ServiceSubscription:
    """Switch auto-renewal on or off (off: the subscription ends with its current term)."""
    customer, sub = _for_change(customer_id, service_id, expected_version)
    if sub.state == ServiceState.ENDED.value:
        raise DomainError(_("This subscription has ended."))
    if sub.auto_renew == bool(enabled):
        return sub
    before = snapshot(sub)
    sub.auto_renew = bool(enabled)
    return _save(customer, sub, "service_subscription.auto_renew", actor, clock, before)


def end_service(
    customer_id: int,
    service_id: int,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> ServiceSubscription:
    """End a subscription now: today is its last day of service (billed up to it)."""
    customer, sub = _for_change(customer_id, service_id, expected_version)
    if sub.state == ServiceState.ENDED.value:
        raise DomainError(_("This subscription has ended."))
    before = snapshot(sub)
    last_day = clock.today()
    if not sub.auto_renew:
        last_day = min(last_day, sub.term_end)
    _end(sub, last_day)
    return _save(customer, sub, "service_subscription.end", actor, clock, before)


def _end(sub: ServiceSubscription, last_day: date) -> None:
    sub.state = ServiceState.ENDED.value
    sub.ended_on = last_day
    _close_suspension(sub, last_day)


@dataclass
class RenewalReport:
    renewed: int = 0
    ended: int = 0


def renew_due(clock: Clock) -> RenewalReport:
    """Renew every running subscription whose term has ended when auto-renew is on (the term
    end moves on by whole terms until it is today or later), and end those with auto-renew
    off on their term's last day. Idempotent: a subscription is handled once per term."""
    today = clock.today()
    report = RenewalReport()
    due = db.session.scalars(
        db.select(ServiceSubscription.id)
        .where(
            ServiceSubscription.state.in_(
                (ServiceState.ACTIVE.value, ServiceState.SUSPENDED.value)
            ),
            ServiceSubscription.term_end < today,
        )
        .order_by(ServiceSubscription.id)
    ).all()
    for service_id in due:
        sub = db.session.get(ServiceSubscription, service_id)
        if sub is None or sub.state == ServiceState.ENDED.value or sub.term_end >= today:
            continue
        customer = get_customer(sub.customer_id)
        before = snapshot(sub)
        if sub.auto_renew:
            while sub.term_end < today:
                sub.term_end = next_term_end(sub.started_on, sub.term_end, sub.term_months)
            action = "service_subscription.renew"
            report.renewed += 1
        else:
            _end(sub, sub.term_end)
            action = "service_subscription.expire"
            report.ended += 1
        _save(customer, sub, action, SYSTEM, clock, before)
    return report


def end_for_erasure(customer_id: int, last_day: date, clock: Clock) -> None:
    """A deleted customer's running subscriptions end on ``last_day`` (the end of the booking
    month, which is still billed). Adds to the caller's transaction."""
    for sub in db.session.scalars(
        db.select(ServiceSubscription).where(
            ServiceSubscription.customer_id == customer_id,
            ServiceSubscription.state != ServiceState.ENDED.value,
        )
    ):
        before = snapshot(sub)
        _end(sub, last_day)
        sub.updated_at = clock.now()
        audit.record(
            SYSTEM,
            "service_subscription.end",
            clock,
            customer_id=customer_id,
            before=before,
            after=snapshot(sub),
        )


@dataclass(frozen=True)
class Listed:
    """An additional subscription as the admin and the portal list it."""

    subscription: ServiceSubscription
    monthly_price: Decimal
    suspended_since: date | None


def listing(customer_id: int) -> list[Listed]:
    """The customer's additional subscriptions with their monthly price (running ones first)."""
    customer = get_customer(customer_id)
    rows = services_of(customer_id)
    tiers = load_tiers() if rows and customer.unit_price is None else ()
    return [
        Listed(
            sub,
            service_price(sub.total_ips, customer.unit_price, tiers),
            sub.suspensions[-1].suspended_from
            if sub.state == ServiceState.SUSPENDED.value and sub.suspensions
            else None,
        )
        for sub in rows
    ]


def available_service_actions(sub: ServiceSubscription, customer: Customer) -> list[str]:
    """The buttons shown for a subscription, in the same rules the functions above enforce."""
    if customer.marked_for_deletion_at is not None or sub.state == ServiceState.ENDED.value:
        return []
    actions = []
    if sub.state == ServiceState.ACTIVE.value:
        actions.append("suspend")
    elif not customer.locked:
        actions.append("enable")
    actions += ["auto_renew", "end"]
    return actions


def may_add_service(customer: Customer) -> bool:
    return customer.marked_for_deletion_at is None and not customer.locked
