"""An existing customer's lifecycle (SPEC §4, seed 3.2): its subscription started, changed and
cancelled, locked and unlocked, converted to managed, another main user, its own price, and
marked for deletion.

Every function takes ids and values plus the acting ``Actor`` and the ``Clock``, writes one audit
event per state change and commits its own transaction."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from billing.customers.lookup import (
    check_version,
    current_subscription,
    get_customer,
    is_invited,
    main_user,
    other_main_user_candidates,
    pending_change,
)
from billing.customers.summary import audit_snapshot, commit_change, mark_updated, refresh_summary
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock, add_months
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from models import (
    ChangeKind,
    ChangeState,
    Customer,
    PaymentMethodCode,
    PriceBasis,
    ScheduledChange,
    ServiceMode,
    Subscription,
    SubscriptionState,
    User,
    db,
)


def start_subscription(
    customer_id: int,
    internal_ips: int,
    external_ips: int,
    payment_method: str,
    actor: Actor,
    clock: Clock,
    *,
    valid_from: date | None = None,
    price_basis: str = PriceBasis.TIERS.value,
    unit_price: Decimal | None = None,
) -> Subscription:
    """Give a customer without an active subscription a new one (SPEC §4, reactivation 3.2.5)."""
    customer = get_customer(customer_id)
    _check_counts(internal_ips, external_ips)
    if payment_method not in PaymentMethodCode.codes():
        raise DomainError(_("Unknown payment method."), field="payment_method")
    if current_subscription(customer_id) is not None:
        raise DomainError(_("This customer already has an active subscription."))
    before = audit_snapshot(customer)
    sub = Subscription(
        customer_id=customer_id,
        internal_ips=internal_ips,
        external_ips=external_ips,
        payment_method=payment_method,
        price_basis=price_basis,
        unit_price=unit_price,
        valid_from=valid_from or clock.today(),
        created_at=clock.now(),
    )
    db.session.add(sub)
    details = {"valid_from": sub.valid_from.isoformat()}
    commit_change(customer, actor, "subscription.start", clock, before, details)
    return sub


def _check_counts(internal_ips: int, external_ips: int) -> None:
    if internal_ips < 0 or external_ips < 0:
        raise DomainError(_("IP counts cannot be negative."), field="internal_ips")
    if internal_ips + external_ips < 1:
        raise DomainError(_("The total number of IPs must be at least 1."), field="total_ips")


def schedule_change(
    customer_id: int, internal_ips: int, external_ips: int, actor: Actor, clock: Clock
) -> ScheduledChange:
    """Schedule new IP counts for the 1st of next month, replacing any pending change."""
    customer = get_customer(customer_id)
    _check_counts(internal_ips, external_ips)
    if current_subscription(customer_id) is None:
        raise DomainError(_("This customer has no active subscription."))
    old = pending_change(customer_id)
    if old is not None:
        old.state = ChangeState.REPLACED.value
        db.session.flush()
    change = ScheduledChange(
        customer_id=customer_id,
        kind=ChangeKind.CHANGE.value,
        internal_ips=internal_ips,
        external_ips=external_ips,
        effective_date=add_months(clock.today(), 1),
        created_at=clock.now(),
        created_by=actor.label,
    )
    db.session.add(change)
    db.session.flush()
    refresh_summary(customer)
    mark_updated(customer, clock)
    audit.record(
        actor,
        "subscription.schedule_change",
        clock,
        customer_id=customer_id,
        before={"pending": str(old)} if old else None,
        after={"pending": str(change)},
    )
    db.session.commit()
    return change


def set_locked(
    customer_id: int, locked: bool, actor: Actor, clock: Clock, expected_version: int | None = None
) -> Customer:
    """Lock or unlock a customer (seed 3.2.3): locked users cannot sign in, billing goes on."""
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    if customer.locked == locked:
        return customer
    before = audit_snapshot(customer)
    customer.locked = locked
    if locked:
        for user in customer.users:
            user.session_version += 1
    commit_change(customer, actor, "customer.lock" if locked else "customer.unlock", clock, before)
    return customer


def cancel_subscription(
    customer_id: int, actor: Actor, clock: Clock, expected_version: int | None = None
) -> Subscription:
    """Cancel the active subscription (seed 3.2.4): inactive at once, billed to month end."""
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    sub = current_subscription(customer_id)
    if sub is None:
        raise DomainError(_("This customer has no active subscription."))
    before = audit_snapshot(customer)
    sub.state = SubscriptionState.CANCELLED.value
    sub.cancelled_at = clock.now()
    sub.valid_until = add_months(clock.today(), 1) - timedelta(days=1)
    pending = pending_change(customer_id)
    if pending is not None:
        pending.state = ChangeState.WITHDRAWN.value
    commit_change(customer, actor, "subscription.cancel", clock, before)
    return sub


def mark_for_deletion(customer_id: int, actor: Actor, clock: Clock) -> Customer:
    """Mark a customer for deletion (seed 3.2.9): nobody of it can sign in from now on."""
    customer = get_customer(customer_id)
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is already marked for deletion."))
    before = audit_snapshot(customer)
    customer.marked_for_deletion_at = clock.now()
    for user in customer.users:
        user.session_version += 1
    commit_change(customer, actor, "customer.mark_for_deletion", clock, before)
    return customer


def convert_to_managed(
    customer_id: int, actor: Actor, clock: Clock, expected_version: int | None = None
) -> Customer:
    """Self-service → managed (seed 3.2.1). Cannot be undone."""
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    if customer.service_mode != ServiceMode.SELF_SERVICE.value:
        raise DomainError(_("Only self-service customers can be converted to managed."))
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is marked for deletion."))
    before = audit_snapshot(customer)
    customer.service_mode = ServiceMode.MANAGED.value
    commit_change(customer, actor, "customer.convert_to_managed", clock, before)
    return customer


def change_main_user(
    customer_id: int,
    user_id: int,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> User:
    """Make another enabled, registered user the main user; the old one stays a member."""
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    candidates = {u.id: u for u in other_main_user_candidates(customer_id)}
    new_main = candidates.get(int(user_id)) if str(user_id).isdigit() else None
    if new_main is None:
        raise DomainError(
            _("Please choose an enabled, registered user of this customer."), field="user_id"
        )
    old = main_user(customer_id)
    if old is not None:
        old.is_main = False
        db.session.flush()
    new_main.is_main = True
    customer.contact_name = new_main.name
    customer.contact_email = new_main.email
    db.session.flush()
    refresh_summary(customer)
    mark_updated(customer, clock)
    audit.record(
        actor,
        "customer.change_main_user",
        clock,
        customer_id=customer_id,
        before={"main_user": old.email if old else None},
        after={"main_user": new_main.email},
    )
    db.session.commit()
    return new_main


DELETE_WORD = "DELETE"


def request_deletion(
    customer_id: int,
    confirmation: str,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> Customer:
    """Mark a customer for deletion (seed 3.2.9) after the right confirmation: a registered
    customer needs ``DELETE`` typed exactly, an invited one a plain confirmation."""
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is already marked for deletion."))
    if is_invited(customer):
        if confirmation not in (DELETE_WORD, "yes"):
            raise DomainError(_("Please confirm the deletion."), field="confirmation")
    elif (confirmation or "") != DELETE_WORD:
        raise DomainError(
            _("Please type DELETE in capital letters to confirm."), field="confirmation"
        )
    return mark_for_deletion(customer_id, actor, clock)


def set_customer_price(
    customer_id: int,
    unit_price: str | Decimal | None,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> Customer:
    """Give a managed customer its own net price per IP and month, or (None/"") return it to
    the tier table (SPEC §5). The current subscription is repriced at once; audited."""
    from decimal import InvalidOperation

    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    if customer.service_mode != ServiceMode.MANAGED.value:
        raise DomainError(_("Only managed customers can have their own price."))
    price = None
    if unit_price not in (None, ""):
        try:
            price = Decimal(str(unit_price).strip().replace(",", "."))
        except InvalidOperation:
            raise DomainError(_("Please enter a price such as 2.75."), field="unit_price") from None
        if not price.is_finite() or price < 0 or price.as_tuple().exponent < -4 or price > 10000:
            raise DomainError(
                _("The price must be between 0 and 10,000 with at most four decimal places."),
                field="unit_price",
            )
    before = {"unit_price": str(customer.unit_price) if customer.unit_price is not None else None}
    customer.unit_price = price
    sub = current_subscription(customer_id)
    if sub is not None and sub.price_basis != PriceBasis.PROJECT_KEY.value:
        sub.price_basis = (
            PriceBasis.CUSTOMER_PRICE if price is not None else PriceBasis.TIERS
        ).value
        sub.unit_price = price
    db.session.flush()
    refresh_summary(customer)
    mark_updated(customer, clock)
    audit.record(
        actor,
        "customer.set_price",
        clock,
        customer_id=customer_id,
        before=before,
        after={"unit_price": str(price) if price is not None else None},
    )
    db.session.commit()
    return customer
