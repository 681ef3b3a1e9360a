"""Finding a customer and what it has (SPEC §2): the record (locked, or checked against the
version the user saw), its current subscription, main user and pending change."""

from __future__ import annotations

from billing.kernel.errors import Conflict, NotFound
from billing.kernel.i18n import _
from billing.kernel.locking import lock_row
from models import ChangeState, Customer, ScheduledChange, Subscription, SubscriptionState, User, db


def get_customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(_("This customer does not exist."))
    return customer


def lock_customer(customer_id: int) -> Customer:
    """The customer with its latest committed state, locked until the transaction ends
    (``billing.kernel.locking``): of simultaneous changes checked against the version the user saw,
    one is made and the others are told someone else changed the customer, never a 500."""
    customer = lock_row(Customer, customer_id)
    if customer is None:
        raise NotFound(_("This customer does not exist."))
    return customer


def check_version(customer: Customer, expected_version: int | None) -> None:
    """Refuse a change based on a customer record that someone else changed since."""
    if expected_version is not None and int(expected_version) != customer.version:
        raise Conflict(
            _(
                "This customer was changed by someone else in the meantime. "
                "Please reload the page and try again."
            )
        )


def current_subscription(customer_id: int) -> Subscription | None:
    return db.session.scalar(
        db.select(Subscription).where(
            Subscription.customer_id == customer_id,
            Subscription.state == SubscriptionState.ACTIVE.value,
        )
    )


def main_user(customer_id: int) -> User | None:
    return db.session.scalar(
        db.select(User).where(User.customer_id == customer_id, User.is_main.is_(True))
    )


def pending_change(customer_id: int) -> ScheduledChange | None:
    return db.session.scalar(
        db.select(ScheduledChange).where(
            ScheduledChange.customer_id == customer_id,
            ScheduledChange.state == ChangeState.PENDING.value,
        )
    )


def is_invited(customer: Customer) -> bool:
    main = main_user(customer.id)
    return customer.marked_for_deletion_at is None and (main is None or not main.is_registered)


def other_main_user_candidates(customer_id: int) -> list[User]:
    """Enabled, registered users of the customer other than the main user (seed 3.2.8)."""
    return list(
        db.session.scalars(
            db.select(User)
            .where(
                User.customer_id == customer_id,
                User.is_main.is_(False),
                User.enabled.is_(True),
                User.registered_at.is_not(None),
            )
            .order_by(User.name)
        )
    )
