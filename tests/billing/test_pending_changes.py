"""The pending-changes list, issue 7 item 12 / SPEC §12: every scheduled change with its price
effect, by effective date, filterable by month; withdrawing one is audited."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.catalog.pricing import load_tiers, monthly_price
from billing.customers import lifecycle
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import DomainError
from billing.subscriptions.pending_changes import (
    parse_month,
    pending_changes,
    withdraw_pending_change,
)
from models import AuditEvent, ChangeState, Customer, ScheduledChange, db
from tests import factories


def test_lists_pending_changes_with_price_effect(app, clock):
    factories.reference(app)
    tiers = load_tiers()
    up = factories.customer(app, company="Upward", internal=10, external=0)
    down = factories.customer(app, company="Downward", internal=40, external=10)
    factories.customer(app, company="Unchanged")
    lifecycle.schedule_change(up.id, 30, 5, SYSTEM, clock)
    lifecycle.schedule_change(down.id, 5, 5, SYSTEM, clock)
    total, rows = pending_changes()
    assert total == 2
    assert [r.company_name for r in rows] == ["Downward", "Upward"]  # same date: by name
    row = rows[1]
    assert (row.current_internal, row.current_external, row.new_internal, row.new_external) == (
        10,
        0,
        30,
        5,
    )
    assert row.effective_date == date(2026, 12, 1)
    assert row.current_price == monthly_price(10, tiers)
    assert row.new_price == monthly_price(35, tiers)
    assert row.difference > 0 and rows[0].difference < 0
    assert isinstance(row.new_price, Decimal)


def test_month_filter(app, clock):
    factories.reference(app)
    customer = factories.customer(app)
    lifecycle.schedule_change(customer.id, 20, 2, SYSTEM, clock)
    assert pending_changes(date(2026, 12, 1))[0] == 1
    assert pending_changes(date(2027, 1, 1))[0] == 0
    assert parse_month("2026-12") == date(2026, 12, 1)
    assert parse_month("") is None
    for bad in ("2026-13", "12/2026", "2026-1", "x" * 50):
        with pytest.raises(DomainError):
            parse_month(bad)


def test_withdrawing_a_pending_change(app, clock):
    factories.reference(app)
    customer = factories.customer(app)
    change = lifecycle.schedule_change(customer.id, 20, 2, SYSTEM, clock)
    assert db.session.get(Customer, customer.id).has_pending_change
    withdraw_pending_change(change.id, SYSTEM, clock)
    assert db.session.get(ScheduledChange, change.id).state == ChangeState.WITHDRAWN.value
    assert not db.session.get(Customer, customer.id).has_pending_change
    assert db.session.get(Customer, customer.id).internal_ips == 10
    event = db.session.scalar(
        db.select(AuditEvent).where(AuditEvent.action == "subscription.withdraw_change")
    )
    assert event.customer_id == customer.id and event.before["pending"]
    with pytest.raises(DomainError, match="no longer pending"):
        withdraw_pending_change(change.id, SYSTEM, clock)
    with pytest.raises(DomainError, match="no longer pending"):
        withdraw_pending_change(99999, SYSTEM, clock)
    assert pending_changes()[0] == 0
