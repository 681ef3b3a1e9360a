"""Applying scheduled changes and ending runtimes (SPEC §8 month-end steps 1 and 2).

``apply_due_changes`` is idempotent: each change is applied once (its state becomes
``applied``), and a subscription past its end date is expired once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from billing.customers.lookup import current_subscription, get_customer
from billing.customers.summary import audit_snapshot, refresh_summary
from billing.kernel import audit
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import Clock
from models import (
    ChangeKind,
    ChangeState,
    ProjectKey,
    ProjectKeyState,
    ScheduledChange,
    Subscription,
    SubscriptionState,
    db,
)


@dataclass
class ChangeReport:
    applied: int = 0
    expired: int = 0


def _apply(change: ScheduledChange, clock: Clock) -> None:
    from billing.subscriptions.project_keys import start_key_subscription

    customer = get_customer(change.customer_id)
    before = audit_snapshot(customer)
    current = current_subscription(change.customer_id)
    day = change.effective_date
    if change.kind == ChangeKind.CANCEL.value:
        if current is not None:
            current.state = SubscriptionState.CANCELLED.value
            current.valid_until = day - timedelta(days=1)
            current.cancelled_at = clock.now()
    elif change.project_key_id is not None:
        start_key_subscription(
            change.customer_id,
            change.project_key_id,
            change.internal_ips,
            change.external_ips,
            day,
            clock,
        )
    elif current is not None:
        current.state = SubscriptionState.EXPIRED.value
        current.valid_until = day - timedelta(days=1)
        db.session.flush()
        db.session.add(
            Subscription(
                customer_id=change.customer_id,
                internal_ips=change.internal_ips,
                external_ips=change.external_ips,
                payment_method=current.payment_method,
                price_basis=current.price_basis,
                unit_price=current.unit_price,
                valid_from=day,
                created_at=clock.now(),
            )
        )
    change.state = ChangeState.APPLIED.value
    db.session.flush()
    refresh_summary(customer)
    audit.record(
        SYSTEM,
        "subscription.apply_change",
        clock,
        customer_id=customer.id,
        before=before,
        after={**audit_snapshot(customer), "change": str(change)},
    )
    db.session.commit()


def apply_due_changes(clock: Clock) -> ChangeReport:
    """Apply every pending change due by today and expire subscriptions whose end has passed."""
    report = ChangeReport()
    today = clock.today()
    due = db.session.scalars(
        db.select(ScheduledChange.id)
        .where(
            ScheduledChange.state == ChangeState.PENDING.value,
            ScheduledChange.effective_date <= today,
        )
        .order_by(ScheduledChange.effective_date, ScheduledChange.id)
    ).all()
    for change_id in due:
        change = db.session.get(ScheduledChange, change_id)
        if change is not None and change.state == ChangeState.PENDING.value:
            _apply(change, clock)
            report.applied += 1
    ended = db.session.scalars(
        db.select(Subscription.id).where(
            Subscription.state == SubscriptionState.ACTIVE.value,
            Subscription.valid_until.is_not(None),
            Subscription.valid_until < today,
        )
    ).all()
    for sub_id in ended:
        sub = db.session.get(Subscription, sub_id)
        customer = get_customer(sub.customer_id)
        before = audit_snapshot(customer)
        sub.state = SubscriptionState.EXPIRED.value
        if sub.project_key_id is not None:
            key = db.session.get(ProjectKey, sub.project_key_id)
            key.state = ProjectKeyState.EXPIRED.value
        db.session.flush()
        refresh_summary(customer)
        audit.record(
            SYSTEM,
            "subscription.expire",
            clock,
            customer_id=customer.id,
            before=before,
            after=audit_snapshot(customer),
        )
        db.session.commit()
        report.expired += 1
    return report
