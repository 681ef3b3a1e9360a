"""A customer's own subscription: the free trial and ending it (SPEC §2 payment method free,
§4 IP Distribution rules, §8 invoicing, §10 self-service)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.catalog.payment_methods import set_active
from billing.customers.lookup import current_subscription, main_user
from billing.invoicing.drafting import draft_invoice
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import FixedClock
from billing.kernel.errors import DomainError
from billing.payments.stripe_cards import attach_card
from billing.subscriptions import own_subscription as own
from billing.subscriptions.changes import apply_due_changes
from models import Customer, Subscription, db
from tests import factories
from tests.conftest import berlin
from tests.support.cards import stripe_on


def _trial_customer(app, clock=None):
    clock = clock or app.config["CLOCK"]
    customer = factories.customer(app, state="registered", mode="self_service")
    own.start_trial(customer.id, SYSTEM, clock)
    db.session.commit()
    return customer


def _actor(customer) -> Actor:
    return Actor.user(main_user(customer.id))


def test_the_trial_is_free_small_and_ends_by_itself(app):
    factories.reference(app)
    clock = app.config["CLOCK"]
    customer = _trial_customer(app)
    sub = current_subscription(customer.id)
    assert (sub.internal_ips, sub.external_ips) == (own.TRIAL_INTERNAL_IPS, own.TRIAL_EXTERNAL_IPS)
    assert sub.payment_method == "free"
    assert sub.valid_until == clock.today() + timedelta(days=own.TRIAL_DAYS - 1)
    assert db.session.get(Customer, customer.id).status == "active"
    assert own.overview(customer.id).monthly_price == Decimal("0.00")
    assert draft_invoice(customer.id, date(2026, 11, 1), clock) is None  # never invoiced
    later = FixedClock(berlin(2026, 12, 15, 10, 0))
    apply_due_changes(later)
    assert current_subscription(customer.id) is None
    assert db.session.get(Customer, customer.id).status == "inactive"


def test_no_trial_when_the_free_method_is_deactivated(app):
    factories.reference(app)
    set_active("free", False, SYSTEM, app.config["CLOCK"])
    customer = _trial_customer(app)
    assert current_subscription(customer.id) is None


def test_a_re_split_keeps_the_trial(app):
    factories.reference(app)
    clock = app.config["CLOCK"]
    customer = _trial_customer(app)
    own.change_own_subscription(customer.id, 3, 2, False, _actor(customer), clock)
    sub = current_subscription(customer.id)
    assert (sub.internal_ips, sub.external_ips, sub.payment_method) == (3, 2, "free")


def test_ending_the_trial_needs_a_card(app, localstripe):
    factories.reference(app)
    clock = app.config["CLOCK"]
    customer = _trial_customer(app)
    with pytest.raises(DomainError, match="not available"):
        own.change_own_subscription(customer.id, 20, 5, True, _actor(customer), clock)
    stripe_on(app, localstripe)
    with pytest.raises(DomainError, match="add a card"):
        own.change_own_subscription(customer.id, 20, 5, True, _actor(customer), clock)
    assert current_subscription(customer.id).payment_method == "free"


def test_ending_the_trial_on_its_first_day_turns_it_into_the_paid_subscription(app, localstripe):
    factories.reference(app)
    stripe_on(app, localstripe)
    clock = app.config["CLOCK"]
    customer = _trial_customer(app)
    attach_card(customer.id, "pm_card_visa")
    plan = own.preview_own_change(customer.id, 20, 5, False, clock)
    assert plan.kind == "reactivation" and plan.current_price == Decimal("0.00")
    result = own.change_own_subscription(customer.id, 20, 5, False, _actor(customer), clock)
    subs = db.session.scalars(db.select(Subscription)).all()
    assert len(subs) == 1 and result.subscription_id == subs[0].id
    assert (subs[0].total_ips, subs[0].payment_method, subs[0].valid_until) == (25, "card", None)
    invoice = draft_invoice(customer.id, date(2026, 11, 1), clock)
    assert invoice.net == result.preview.prorated_amount == plan.prorated_amount


def test_ending_a_trial_mid_month_bills_the_paid_subscription_from_today(app, localstripe):
    """SPEC §8.3: the trial days cost nothing; the paid subscription is billed from today,
    exactly the amount the preview showed."""
    factories.reference(app)
    stripe_on(app, localstripe)
    started = FixedClock(berlin(2026, 11, 3, 9, 0))
    customer = _trial_customer(app, started)
    attach_card(customer.id, "pm_card_visa")
    clock = app.config["CLOCK"]  # 2026-11-15
    result = own.change_own_subscription(customer.id, 40, 10, False, _actor(customer), clock)
    trial, paid = db.session.scalars(db.select(Subscription).order_by(Subscription.id)).all()
    assert (trial.state, trial.valid_until) == ("expired", date(2026, 11, 14))
    assert (paid.valid_from, paid.payment_method, paid.total_ips) == (
        date(2026, 11, 15),
        "card",
        50,
    )
    assert result.preview.prorated_amount == (result.preview.new_price * 16 / 30).quantize(
        Decimal("0.01")
    )
    invoice = draft_invoice(customer.id, date(2026, 11, 1), clock)
    assert invoice.net == result.preview.prorated_amount
    assert db.session.get(Customer, customer.id).payment_method == "card"


def test_without_a_subscription_a_card_starts_one(app, localstripe):
    factories.reference(app)
    stripe_on(app, localstripe)
    clock = app.config["CLOCK"]
    customer = factories.customer(app, state="registered", mode="self_service")
    with pytest.raises(DomainError):
        own.change_own_subscription(customer.id, 10, 0, False, _actor(customer), clock)
    attach_card(customer.id, "pm_card_visa")
    own.change_own_subscription(customer.id, 10, 0, False, _actor(customer), clock)
    assert current_subscription(customer.id).payment_method == "card"


def test_managed_customers_cannot_change_their_own_subscription(app):
    factories.reference(app)
    customer = factories.customer(app, mode="managed")
    with pytest.raises(DomainError, match="managed by your provider"):
        own.change_own_subscription(customer.id, 50, 0, True, _actor(customer), app.config["CLOCK"])
