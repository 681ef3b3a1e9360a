"""The pending-changes list (SPEC §12, issue 7 item 12): every scheduled change across
customers with its price effect, and withdrawing one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func

from billing.catalog.pricing import load_tiers, monthly_price, to_cents
from billing.customers.lookup import get_customer
from billing.customers.summary import (
    audit_snapshot,
    mark_updated,
    refresh_summary,
    subscription_price,
)
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock, add_months
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from models import (
    ChangeKind,
    ChangeState,
    Customer,
    PriceBasis,
    ProjectKey,
    ScheduledChange,
    Subscription,
    SubscriptionState,
    db,
)

LIMIT = 500
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class PendingRow:
    change_id: int
    customer_id: int
    company_name: str
    kind: str  # change | cancel
    current_internal: int
    current_external: int
    new_internal: int
    new_external: int
    effective_date: date
    current_price: Decimal
    new_price: Decimal
    created_by: str

    @property
    def difference(self) -> Decimal:
        return self.new_price - self.current_price


def parse_month(value: str | None) -> date | None:
    """``YYYY-MM`` → the month's first day; empty → None. Raises ``DomainError`` otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    match = _MONTH.match(value)
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise DomainError(_("Please choose a month as YYYY-MM."), field="month")
    return date(int(match.group(1)), int(match.group(2)), 1)


def _new_price(change: ScheduledChange, sub: Subscription | None, tiers) -> Decimal:
    """The monthly price after the change, on the basis ``billing.subscriptions.changes`` will apply
    it with."""
    if change.kind == ChangeKind.CANCEL.value:
        return Decimal("0.00")
    if change.project_key_id is not None:
        key = db.session.get(ProjectKey, change.project_key_id)
        if key is not None and key.selling_price is not None:
            return to_cents(Decimal(key.selling_price) / key.runtime_months)
        return Decimal("0.00")
    total = change.internal_ips + change.external_ips
    if sub is not None and sub.price_basis == PriceBasis.PROJECT_KEY.value:
        return subscription_price(sub, tiers)
    unit = sub.unit_price if sub and sub.price_basis == PriceBasis.CUSTOMER_PRICE.value else None
    return monthly_price(total, tiers, unit)


def pending_changes(month: date | None = None, limit: int = LIMIT) -> tuple[int, list[PendingRow]]:
    """Pending changes by effective date (then company), optionally only those taking effect in
    ``month``; returns the total count and at most ``limit`` rows."""
    conditions = [ScheduledChange.state == ChangeState.PENDING.value]
    if month is not None:
        conditions += [
            ScheduledChange.effective_date >= month,
            ScheduledChange.effective_date < add_months(month, 1),
        ]
    total = db.session.scalar(
        db.select(func.count()).select_from(ScheduledChange).where(*conditions)
    )
    rows = db.session.execute(
        db.select(ScheduledChange, Customer.company_name, Subscription)
        .join(Customer, Customer.id == ScheduledChange.customer_id)
        .outerjoin(
            Subscription,
            (Subscription.customer_id == ScheduledChange.customer_id)
            & (Subscription.state == SubscriptionState.ACTIVE.value),
        )
        .where(*conditions)
        .order_by(ScheduledChange.effective_date, Customer.company_name, ScheduledChange.id)
        .limit(limit)
    ).all()
    tiers = load_tiers()
    result = []
    for change, company, sub in rows:
        current_price = subscription_price(sub, tiers) if sub is not None else Decimal("0.00")
        cancel = change.kind == ChangeKind.CANCEL.value
        result.append(
            PendingRow(
                change_id=change.id,
                customer_id=change.customer_id,
                company_name=company,
                kind=change.kind,
                current_internal=sub.internal_ips if sub else 0,
                current_external=sub.external_ips if sub else 0,
                new_internal=0 if cancel else change.internal_ips,
                new_external=0 if cancel else change.external_ips,
                effective_date=change.effective_date,
                current_price=current_price,
                new_price=_new_price(change, sub, tiers),
                created_by=change.created_by,
            )
        )
    return total, result


def withdraw_pending_change(change_id: int, actor: Actor, clock: Clock) -> ScheduledChange:
    """Cancel a pending change: it will not be applied, the subscription stays as it is.

    Raises ``DomainError`` when the change does not exist or is no longer pending (applied,
    replaced or already withdrawn).
    """
    change = db.session.get(ScheduledChange, change_id)
    if change is None or change.state != ChangeState.PENDING.value:
        raise DomainError(_("This change is no longer pending; nothing was changed."))
    customer = get_customer(change.customer_id)
    before = {**audit_snapshot(customer), "pending": str(change)}
    change.state = ChangeState.WITHDRAWN.value
    db.session.flush()
    refresh_summary(customer)
    mark_updated(customer, clock)
    audit.record(
        actor,
        "subscription.withdraw_change",
        clock,
        customer_id=customer.id,
        before=before,
        after={**audit_snapshot(customer), "pending": None},
    )
    db.session.commit()
    return change
