"""IP Distribution rules (SPEC §4, seed 3.2.2 and 3.2.5)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.customers.customers import current_subscription, pending_change, subscription_price
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import FixedClock
from billing.kernel.errors import Conflict, DomainError
from billing.subscriptions.distribution import (
    OtherSubscription,
    change_ip_distribution,
    parse_counts,
    preview,
    target,
)
from billing.subscriptions.service_subscriptions import ServiceInput, add_service, suspend_service
from models import Customer, Subscription, db
from tests import factories


def _setup(app, internal=40, external=10, **kw):
    factories.reference(app)
    kw.setdefault("since", date(2026, 10, 1))
    return factories.customer(app, internal=internal, external=external, **kw)


def test_an_increase_is_scheduled_for_the_first_of_next_month(any_app):
    created = _setup(any_app)
    result = change_ip_distribution(created.id, 80, 20, False, SYSTEM, any_app.config["CLOCK"])
    assert result.preview.kind == "scheduled"
    change = pending_change(created.id)
    assert (change.internal_ips, change.external_ips) == (80, 20)
    assert change.effective_date.isoformat() == "2026-12-01"
    assert current_subscription(created.id).total_ips == 50
    assert db.session.get(Customer, created.id).has_pending_change


def test_an_instant_increase_applies_now_with_a_prorated_amount(any_app):
    """15 Nov: 16 of 30 days remain; 50 IPs = 225.00, 100 IPs = 385.00 → 160.00 × 16/30."""
    created = _setup(any_app)
    result = change_ip_distribution(created.id, 80, 20, True, SYSTEM, any_app.config["CLOCK"])
    assert result.preview.kind == "immediate"
    assert result.preview.new_price == Decimal("385.00")
    assert result.preview.prorated_amount == Decimal("85.33")
    sub = current_subscription(created.id)
    assert (sub.internal_ips, sub.external_ips) == (80, 20)
    assert sub.valid_from.isoformat() == "2026-11-15"
    history = db.session.scalars(
        db.select(Subscription)
        .where(Subscription.customer_id == created.id)
        .order_by(Subscription.id)
    ).all()
    assert [h.state for h in history] == ["expired", "active"]
    assert history[0].valid_until.isoformat() == "2026-11-14"
    row = db.session.get(Customer, created.id)
    assert (row.internal_ips, row.monthly_price) == (80, Decimal("385.00"))


def test_a_decrease_always_waits_for_the_end_of_the_booking_month(any_app):
    created = _setup(any_app)
    with pytest.raises(DomainError, match="end of the booking month"):
        change_ip_distribution(created.id, 20, 10, True, SYSTEM, any_app.config["CLOCK"])
    assert pending_change(created.id) is None
    result = change_ip_distribution(created.id, 20, 10, False, SYSTEM, any_app.config["CLOCK"])
    assert result.preview.kind == "scheduled"
    assert pending_change(created.id).effective_date.isoformat() == "2026-12-01"
    assert current_subscription(created.id).total_ips == 50


def test_a_resplit_at_the_same_total_applies_immediately(any_app):
    created = _setup(any_app)
    result = change_ip_distribution(created.id, 10, 40, False, SYSTEM, any_app.config["CLOCK"])
    assert result.preview.kind == "immediate" and result.preview.prorated_amount == 0
    sub = current_subscription(created.id)
    assert (sub.internal_ips, sub.external_ips) == (10, 40)
    assert pending_change(created.id) is None


def test_a_new_change_replaces_the_pending_one_and_says_so(any_app):
    created = _setup(any_app)
    clock = any_app.config["CLOCK"]
    change_ip_distribution(created.id, 20, 10, False, SYSTEM, clock)
    plan = preview(created.id, 10, 10, False, clock)
    assert plan.replaces_pending
    change_ip_distribution(created.id, 10, 10, False, SYSTEM, clock)
    pending = pending_change(created.id)
    assert (pending.internal_ips, pending.external_ips) == (10, 10)


def test_distribution_on_a_cancelled_customer_reactivates_it(any_app):
    """SPEC §4 Reactivate (3.2.5)."""
    created = _setup(any_app, state="inactive", payment="free")
    assert db.session.get(Customer, created.id).status == "inactive"
    result = change_ip_distribution(created.id, 5, 5, False, SYSTEM, any_app.config["CLOCK"])
    assert result.preview.kind == "reactivation"
    row = db.session.get(Customer, created.id)
    assert row.status == "active" and (row.internal_ips, row.external_ips) == (5, 5)
    assert row.payment_method == "free"


@pytest.mark.parametrize(
    ("total", "internal", "external", "message"),
    [
        ("10", "5", "4", "add up"),
        ("-1", "-1", "0", "negative"),
        ("0", "0", "0", "at least 1"),
        ("ten", "5", "5", "whole numbers"),
        ("", "", "", "whole numbers"),
        ("2000000", "2000000", "0", "At most"),
    ],
)
def test_bad_counts_are_refused(total, internal, external, message):
    with pytest.raises(DomainError, match=message):
        parse_counts(total, internal, external)


def test_a_stale_version_is_refused(any_app):
    created = _setup(any_app)
    seen = db.session.get(Customer, created.id).version
    clock = any_app.config["CLOCK"]
    change_ip_distribution(created.id, 60, 10, True, SYSTEM, clock, expected_version=seen)
    with pytest.raises(Conflict, match="changed by someone else"):
        change_ip_distribution(created.id, 70, 10, True, SYSTEM, clock, expected_version=seen)
    assert current_subscription(created.id).internal_ips == 60


def test_customer_price_is_used_for_the_preview(any_app):
    """SPEC §5: managed customers with a per-customer unit price."""
    created = _setup(any_app)
    row = db.session.get(Customer, created.id)
    sub = current_subscription(created.id)
    sub.price_basis, sub.unit_price = "customer_price", Decimal("2.00")
    db.session.commit()
    assert preview(row.id, 100, 0, True, any_app.config["CLOCK"]).new_price == Decimal("200.00")


@pytest.mark.parametrize(
    ("instant", "remaining", "days"),
    [
        (datetime(2026, 2, 28, 23, 59, 59, tzinfo=ZoneInfo("Europe/Berlin")), 1, 28),
        (datetime(2028, 2, 29, 12, 0, tzinfo=ZoneInfo("Europe/Berlin")), 1, 29),
        (datetime(2026, 3, 31, 22, 30, tzinfo=ZoneInfo("UTC")), 30, 30),
    ],
)
def test_proration_uses_calendar_days_of_the_booking_month(app, instant, remaining, days):
    """SPEC §8: booking month in Europe/Berlin (the last case is 1 April 00:30 in Berlin)."""
    created = _setup(app)
    plan = preview(created.id, 80, 20, True, FixedClock(instant))
    assert (plan.remaining_days, plan.days_in_month) == (remaining, days)


def test_reactivation_does_not_use_a_deactivated_payment_method(app):
    """Seed 3.6: a deactivated method is kept by existing subscriptions, hidden for new ones."""
    from billing.catalog.payment_methods import set_active

    created = _setup(app, state="inactive", payment="invoice")
    set_active("invoice", False, SYSTEM, app.config["CLOCK"])
    change_ip_distribution(created.id, 5, 5, False, SYSTEM, app.config["CLOCK"])
    assert current_subscription(created.id).payment_method == "free"
    for code in ("free",):
        set_active(code, False, SYSTEM, app.config["CLOCK"])
    factories.customer(app, state="inactive")
    other = db.session.scalars(db.select(Customer).where(Customer.status == "inactive")).first()
    with pytest.raises(DomainError, match="No payment method is active"):
        change_ip_distribution(other.id, 1, 0, False, SYSTEM, app.config["CLOCK"])


def _with_additional(app):
    """Main subscription 20 + 10, an active additional one 4 + 1 and a suspended one 7 + 7:
    the customer list shows 24 + 11 (issue 16)."""
    clock = app.config["CLOCK"]
    created = _setup(app, internal=20, external=10)
    add_service(created.id, ServiceInput("Site Hamburg", 4, 1, 12), SYSTEM, clock)
    paused = add_service(created.id, ServiceInput("Lab", 7, 7, 1), SYSTEM, clock)
    suspend_service(created.id, paused.id, SYSTEM, clock)
    row = db.session.get(Customer, created.id)
    assert (row.internal_ips, row.external_ips) == (24, 11)
    return created


def test_a_resplit_of_the_main_subscription_is_not_an_increase_next_to_additional_ones(any_app):
    """The classification uses the main subscription's own counts (20 + 10 = 30), not the
    list's totals (35): a re-split at 30 applies now and schedules nothing."""
    created = _with_additional(any_app)
    clock = any_app.config["CLOCK"]
    plan = preview(created.id, 5, 25, False, clock)
    assert (plan.kind, plan.increase, plan.decrease) == ("immediate", False, False)
    assert plan.prorated_amount == 0 and plan.new_price == plan.current_price
    change_ip_distribution(created.id, 5, 25, False, SYSTEM, clock)
    sub = current_subscription(created.id)
    assert (sub.internal_ips, sub.external_ips) == (5, 25)
    assert pending_change(created.id) is None
    row = db.session.get(Customer, created.id)
    assert (row.internal_ips, row.external_ips) == (9, 26)


def test_the_list_totals_typed_into_the_form_raise_the_main_subscription(any_app):
    """24 + 11 (the list's totals) on the main subscription is an increase from 30 to 35."""
    created = _with_additional(any_app)
    result = change_ip_distribution(created.id, 24, 11, False, SYSTEM, any_app.config["CLOCK"])
    assert result.preview.kind == "scheduled" and result.preview.increase
    assert current_subscription(created.id).total_ips == 30


def test_target_names_the_main_subscription_and_what_it_leaves_alone(any_app):
    created = _with_additional(any_app)
    facts = target(created.id)
    assert (facts.subscription.internal_ips, facts.subscription.external_ips) == (20, 10)
    assert facts.additional == (OtherSubscription("Site Hamburg", 4, 1),)
    assert (facts.listed_internal, facts.listed_external) == (24, 11)
    assert facts.current_price == subscription_price(facts.subscription)
    assert facts.payment_method == "invoice" and facts.pending is None


def test_target_of_a_customer_without_subscription_names_the_method_a_new_one_gets(app):
    from billing.catalog.payment_methods import set_active

    created = _setup(app, state="inactive", payment="invoice")
    set_active("invoice", False, SYSTEM, app.config["CLOCK"])
    facts = target(created.id)
    assert facts.subscription is None and facts.current_price == 0
    assert facts.payment_method == "free"
