"""The customer list's summary columns (SPEC §3): status, IP counts, payment method and prices,
recomputed after every change, and the audit record of a change made to them."""

from __future__ import annotations

from decimal import Decimal

from billing.catalog.pricing import average_ip_price, load_tiers, monthly_price, to_cents
from billing.customers.lookup import current_subscription, main_user, pending_change
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from models import (
    Customer,
    CustomerStatus,
    PriceBasis,
    ProjectKey,
    ServiceState,
    ServiceSubscription,
    Subscription,
    db,
)


def derive_status(
    *, marked_for_deletion: bool, main_registered: bool, locked: bool, has_active: bool
) -> CustomerStatus:
    """The list status in SPEC §3's precedence."""
    if marked_for_deletion:
        return CustomerStatus.MARKED_FOR_DELETION
    if not main_registered:
        return CustomerStatus.INVITED
    if locked:
        return CustomerStatus.LOCKED
    if has_active:
        return CustomerStatus.ACTIVE
    return CustomerStatus.INACTIVE


def subscription_price(sub: Subscription, tiers=None) -> Decimal:
    """Net monthly price of a subscription on its price basis."""
    if sub.price_basis == PriceBasis.PROJECT_KEY.value:
        key = db.session.get(ProjectKey, sub.project_key_id) if sub.project_key_id else None
        if key is not None and key.selling_price is not None:
            return to_cents(Decimal(key.selling_price) / key.runtime_months)
        return (
            Decimal("0.00")
            if sub.unit_price is None
            else monthly_price(sub.total_ips, (), sub.unit_price)
        )
    unit = sub.unit_price if sub.price_basis == PriceBasis.CUSTOMER_PRICE.value else None
    return monthly_price(sub.total_ips, tiers if tiers is not None else load_tiers(), unit)


def _active_services(customer_id: int) -> list[tuple[int, int]]:
    """(internal, external) of the customer's active additional subscriptions (suspended and
    ended ones are not counted)."""
    return [
        (row.internal_ips, row.external_ips)
        for row in db.session.execute(
            db.select(ServiceSubscription.internal_ips, ServiceSubscription.external_ips).where(
                ServiceSubscription.customer_id == customer_id,
                ServiceSubscription.state == ServiceState.ACTIVE.value,
            )
        )
    ]


def refresh_summary(customer: Customer, tiers=None) -> None:
    """Recompute the list columns of ``customer`` from its subscriptions, users and changes.

    The IP columns and the monthly price count the main subscription plus the active
    additional subscriptions (SPEC §11); the payment method is the main subscription's."""
    sub = current_subscription(customer.id)
    services = _active_services(customer.id)
    main = main_user(customer.id)
    customer.status = derive_status(
        marked_for_deletion=customer.marked_for_deletion_at is not None,
        main_registered=main is not None and main.is_registered,
        locked=customer.locked,
        has_active=sub is not None or bool(services),
    ).value
    if sub is None:
        internal, external, price = 0, 0, Decimal("0.00")
        latest = db.session.scalar(
            db.select(Subscription.payment_method)
            .where(Subscription.customer_id == customer.id)
            .order_by(Subscription.valid_from.desc(), Subscription.id.desc())
            .limit(1)
        )
        # a customer without any subscription keeps the method it was given ("create similar")
        customer.payment_method = latest if latest is not None else customer.payment_method
    else:
        internal, external = sub.internal_ips, sub.external_ips
        customer.payment_method = sub.payment_method
        price = subscription_price(sub, tiers)
    if services:
        if tiers is None and customer.unit_price is None:
            tiers = load_tiers()
        for service_internal, service_external in services:
            internal += service_internal
            external += service_external
            total = service_internal + service_external
            price += monthly_price(total, tiers or (), customer.unit_price)
    customer.internal_ips = internal
    customer.external_ips = external
    customer.monthly_price = price
    customer.average_ip_price = average_ip_price(price, internal + external)
    customer.has_pending_change = pending_change(customer.id) is not None


def audit_snapshot(customer: Customer) -> dict:
    """The customer's list facts an audit event records before and after a change."""
    return {
        "status": customer.status,
        "internal_ips": customer.internal_ips,
        "external_ips": customer.external_ips,
        "payment_method": customer.payment_method,
        "locked": customer.locked,
        "service_mode": customer.service_mode,
    }


def mark_updated(customer: Customer, clock: Clock) -> None:
    """Stamp the customer as changed now (the list's "updated" column)."""
    customer.updated_at = clock.now()


def commit_change(
    customer: Customer,
    actor: Actor,
    action: str,
    clock: Clock,
    before: dict,
    details: dict | None = None,
) -> None:
    """Recompute the list summary, stamp, audit with before/after (plus ``details``), and
    commit."""
    db.session.flush()
    refresh_summary(customer)
    mark_updated(customer, clock)
    after = audit_snapshot(customer) | (details or {})
    audit.record(actor, action, clock, customer_id=customer.id, before=before, after=after)
    db.session.commit()
