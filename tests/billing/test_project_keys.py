"""Project keys (seed 3.2.6, SPEC §4) and applying scheduled changes (SPEC §8 steps 1–2)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.customers.lookup import current_subscription, pending_change
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import FixedClock
from billing.kernel.errors import DomainError
from billing.subscriptions.changes import apply_due_changes
from billing.subscriptions.distribution import change_ip_distribution
from billing.subscriptions.project_keys import create_key, expiry_notices, import_keys, redeem
from models import Customer, ProjectKey, Subscription, db
from tests import factories

BERLIN = ZoneInfo("Europe/Berlin")


def _key(app, key="PK-1000", ips=100, months=12, price="1800.00"):
    return create_key(key, ips, months, price, SYSTEM, app.config["CLOCK"])


def test_redeeming_a_key_for_a_new_customer_starts_now(any_app):
    factories.reference(any_app)
    customer = factories.customer(any_app, state="registered")
    _key(any_app)
    plan = redeem(customer.id, "pk-1000", "2880", 80, 20, False, SYSTEM, any_app.config["CLOCK"])
    assert plan.immediate and plan.monthly_price == Decimal("240.00")
    assert (plan.starts, plan.ends) == (date(2026, 11, 15), date(2027, 11, 14))
    row = db.session.get(Customer, customer.id)
    assert (row.payment_method, row.status, row.monthly_price) == (
        "project_key",
        "active",
        Decimal("240.00"),
    )
    key = db.session.scalar(db.select(ProjectKey))
    assert (key.state, key.customer_id, key.selling_price) == (
        "redeemed",
        customer.id,
        Decimal("2880"),
    )


@pytest.mark.parametrize(("key", "message"), [("NOPE-0000", "unknown"), ("PK-1000", "already")])
def test_unknown_and_used_keys_are_refused(app, key, message):
    factories.reference(app)
    first = factories.customer(app, state="registered")
    second = factories.customer(app, state="registered")
    _key(app)
    redeem(first.id, "PK-1000", "100", 100, 0, False, SYSTEM, app.config["CLOCK"])
    with pytest.raises(DomainError, match=message):
        redeem(second.id, key, "100", 100, 0, False, SYSTEM, app.config["CLOCK"])
    assert current_subscription(second.id) is None


def test_expired_keys_are_refused(app):
    factories.reference(app)
    customer = factories.customer(app, state="registered")
    row = _key(app)
    row.state = "expired"
    db.session.commit()
    with pytest.raises(DomainError, match="expired"):
        redeem(customer.id, "PK-1000", "100", 100, 0, False, SYSTEM, app.config["CLOCK"])


def test_keys_are_for_managed_customers_only(app):
    factories.reference(app)
    customer = factories.customer(app, state="registered", mode="self_service")
    _key(app)
    with pytest.raises(DomainError, match="managed"):
        redeem(customer.id, "PK-1000", "100", 100, 0, False, SYSTEM, app.config["CLOCK"])
    assert db.session.scalar(db.select(ProjectKey.state)) == "available"


@pytest.mark.parametrize(
    ("price", "internal", "external", "message"),
    [
        ("100", 60, 30, "add up"),
        ("-5", 100, 0, "selling price"),
        ("abc", 100, 0, "selling price"),
        ("100", -1, 101, "split"),
    ],
)
def test_bad_redemption_input_changes_nothing(app, price, internal, external, message):
    factories.reference(app)
    customer = factories.customer(app, state="registered")
    _key(app)
    with pytest.raises(DomainError, match=message):
        redeem(
            customer.id, "PK-1000", price, internal, external, False, SYSTEM, app.config["CLOCK"]
        )
    assert db.session.scalar(db.select(ProjectKey.state)) == "available"


def test_a_rising_key_without_instantly_starts_next_month(any_app):
    """Same timing as IP Distribution: a rise applies now only when ticked."""
    factories.reference(any_app)
    clock = any_app.config["CLOCK"]
    customer = factories.customer(any_app, internal=40, external=10, since=date(2026, 10, 1))
    _key(any_app)
    plan = redeem(customer.id, "PK-1000", "2880", 100, 0, False, SYSTEM, clock)
    assert not plan.immediate and plan.starts == date(2026, 12, 1)
    assert current_subscription(customer.id).total_ips == 50
    assert pending_change(customer.id).project_key_id is not None
    first = FixedClock(datetime(2026, 12, 1, 0, 30, tzinfo=BERLIN))
    report = apply_due_changes(first)
    assert report.applied == 1
    sub = current_subscription(customer.id)
    assert (sub.total_ips, sub.payment_method, sub.valid_from) == (
        100,
        "project_key",
        date(2026, 12, 1),
    )
    old = db.session.scalar(
        db.select(Subscription).where(
            Subscription.customer_id == customer.id, Subscription.state == "expired"
        )
    )
    assert old.valid_until == date(2026, 11, 30)
    assert apply_due_changes(first).applied == 0


def test_a_rising_key_with_instantly_starts_today(app):
    factories.reference(app)
    customer = factories.customer(app, internal=40, external=10, since=date(2026, 10, 1))
    _key(app)
    plan = redeem(customer.id, "PK-1000", "2880", 100, 0, True, SYSTEM, app.config["CLOCK"])
    assert plan.immediate and current_subscription(customer.id).payment_method == "project_key"


def test_scheduled_decrease_is_applied_on_the_first(any_app):
    factories.reference(any_app)
    customer = factories.customer(any_app, internal=40, external=10, since=date(2026, 10, 1))
    change_ip_distribution(customer.id, 20, 5, False, SYSTEM, any_app.config["CLOCK"])
    assert apply_due_changes(any_app.config["CLOCK"]).applied == 0
    apply_due_changes(FixedClock(datetime(2026, 12, 1, 8, 0, tzinfo=BERLIN)))
    sub = current_subscription(customer.id)
    assert (sub.internal_ips, sub.external_ips, sub.valid_from) == (20, 5, date(2026, 12, 1))
    row = db.session.get(Customer, customer.id)
    assert (row.internal_ips, row.has_pending_change) == (20, False)


def test_key_subscriptions_end_after_the_runtime(app):
    factories.reference(app)
    customer = factories.customer(app, state="registered")
    _key(app, months=1)
    redeem(customer.id, "PK-1000", "100", 100, 0, False, SYSTEM, app.config["CLOCK"])
    assert apply_due_changes(FixedClock(datetime(2026, 12, 14, 12, 0, tzinfo=BERLIN))).expired == 0
    report = apply_due_changes(FixedClock(datetime(2026, 12, 15, 12, 0, tzinfo=BERLIN)))
    assert report.expired == 1
    assert db.session.get(Customer, customer.id).status == "inactive"
    assert db.session.scalar(db.select(ProjectKey.state)) == "expired"


def test_staff_are_told_30_days_before_a_key_ends_once(app, smtp_sink):
    factories.reference(app)
    customer = factories.customer(app, state="registered", company="Keyed GmbH")
    _key(app, months=2)
    redeem(customer.id, "PK-1000", "100", 100, 0, False, SYSTEM, app.config["CLOCK"])
    staff = [("ops@msp.example", "en", "Olga Ops"), ("chef@msp.example", "de", "")]
    assert expiry_notices(staff, app.config["CLOCK"]) == []
    later = FixedClock(datetime(2026, 12, 16, 9, 0, tzinfo=BERLIN))
    messages = expiry_notices(staff, later)
    assert sorted(m.recipient for m in messages) == ["chef@msp.example", "ops@msp.example"]
    subjects = {m.recipient: m.subject for m in messages}
    assert "Keyed GmbH" in subjects["ops@msp.example"]
    assert "January 14, 2027" in subjects["ops@msp.example"]  # in each recipient's language
    assert "14. Januar 2027" in subjects["chef@msp.example"]
    greetings = {m.recipient: m.text.splitlines()[0] for m in messages}
    assert greetings == {"ops@msp.example": "Hello Olga Ops,", "chef@msp.example": "Guten Tag,"}
    assert expiry_notices(staff, FixedClock(later.now() + timedelta(days=1))) == []


def test_import_is_all_or_nothing(app):
    clock = app.config["CLOCK"]
    with pytest.raises(DomainError) as error:
        import_keys(
            "key,ip_count,runtime_months,purchase_price\nAA-0001,10,12,100\n"
            "AA-0002,ten,12,100\nAA-0001,5,1,1\n",
            SYSTEM,
            clock,
        )
    assert "line 2" in error.value.message and "line 3" in error.value.message
    assert db.session.query(ProjectKey).count() == 0
    assert import_keys("AA-0001,10,12,100\nAA-0002,20,6,150.50\n", SYSTEM, clock) == 2
    assert db.session.query(ProjectKey).count() == 2
