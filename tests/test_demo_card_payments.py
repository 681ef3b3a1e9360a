"""`make run`'s demo with card payments against a local Stripe (issue 14): `flask seed demo` with
the Stripe options (as run.sh calls it) saves the keys, activates card payment, saves cards for
the customers who pay by card and charges their open invoices; in the portal, the customer whose
card was declined updates it and the payment is retried, and a customer on a free trial adds a
card and moves to a paid plan. Everything runs against the suite's localstripe."""

from __future__ import annotations

import re
import shutil

import pytest
from sqlalchemy import event, func

from billing.catalog.payment_methods import active_codes
from billing.customers.lookup import current_subscription
from billing.kernel.clock import FixedClock
from billing.payments import stripe_account, stripe_cards
from models import (
    AttemptState,
    AuditEvent,
    Customer,
    Invoice,
    PaymentAttempt,
    PaymentMethodCode,
    db,
)
from seed.demo import CUSTOMER_PASSWORD
from seed.demo_cards import DECLINED_CARD_CUSTOMER
from tests.conftest import SharedApp, _config, berlin, rolled_back
from tests.portal.helpers import signed_in
from tests.support.cards import confirmed_setup
from tests.support.demo import _no_fsync

# the card demo is seeded once per test process (module scope): its tests go to one worker
pytestmark = pytest.mark.xdist_group("card_demo")

CLOCK = FixedClock(berlin(2026, 11, 15, 10, 0))
KEYS = ("sk_test_msp_demo_local", "pk_test_msp_demo_local", "whsec_msp_demo_local")
SEED = [
    "seed",
    "demo",
    "--stripe-secret-key",
    KEYS[0],
    "--stripe-publishable-key",
    KEYS[1],
    "--stripe-webhook-secret",
    KEYS[2],
]
CARD = PaymentMethodCode.CARD.value


@pytest.fixture(scope="module")
def card_demo(sqlite_template, tmp_path_factory, localstripe):
    """The demo seeded with the Stripe options, once; ``(database path, command output)``."""
    from app import create_app

    path = tmp_path_factory.mktemp("card-demo") / "demo.db"
    shutil.copy(sqlite_template, path)
    app = create_app(_config(f"sqlite:///{path}", CLOCK, STRIPE_API_BASE=localstripe.url))
    with app.app_context():
        event.listen(db.engine, "connect", _no_fsync)
        db.engine.dispose()
        result = app.test_cli_runner().invoke(args=SEED)
        assert result.exit_code == 0, result.output
        db.session.remove()
        db.engine.dispose()
    return str(path), result.output


@pytest.fixture(scope="module")
def card_demo_app(card_demo, tmp_path_factory, localstripe):
    """This test process's app on a copy of the card demo (see tests/conftest.py)."""
    path = tmp_path_factory.mktemp("card-demo-app") / "demo.db"
    shutil.copy(card_demo[0], path)
    shared = SharedApp(f"sqlite:///{path}", STRIPE_API_BASE=localstripe.url)
    yield shared
    shared.close()


@pytest.fixture
def demo_app(card_demo_app, clock):
    """The app on the card demo; what the test writes is rolled back after it."""
    with rolled_back(card_demo_app, clock) as app:
        yield app


def _customer(company: str) -> Customer:
    return db.session.scalar(db.select(Customer).where(Customer.company_name == company))


def _counts() -> tuple[int, int]:
    return (
        db.session.scalar(db.select(func.count()).select_from(PaymentAttempt)),
        db.session.scalar(db.select(func.count()).select_from(AuditEvent)),
    )


def test_the_seed_sets_up_card_payment_against_the_local_stripe(demo_app, card_demo):
    assert CARD in active_codes()
    assert (stripe_account.stored_secret_key(), stripe_account.stored_publishable_key()) == KEYS[:2]
    assert stripe_account.stored_webhook_secret() == KEYS[2]
    payers = db.session.scalars(
        db.select(Customer).where(
            Customer.payment_method == CARD, Customer.marked_for_deletion_at.is_(None)
        )
    ).all()
    assert len(payers) >= 10
    for customer in payers:  # asked at the local Stripe
        assert stripe_cards.card_on_file(customer.id) is not None, customer.company_name
    # open card invoices: only the declined one (a customer marked for deletion gets no card)
    card_invoices = db.session.scalars(
        db.select(Invoice)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Invoice.payment_method == CARD,
            Invoice.state.in_(("finalized", "payment_failed")),
            Customer.marked_for_deletion_at.is_(None),
        )
    ).all()
    declined = _customer(DECLINED_CARD_CUSTOMER)
    assert [(i.customer_id, i.state) for i in card_invoices] == [(declined.id, "payment_failed")]
    paid_by_card = db.session.scalar(
        db.select(func.count())
        .select_from(PaymentAttempt)
        .where(
            PaymentAttempt.state == AttemptState.SUCCEEDED.value,
            PaymentAttempt.payment_intent_id.is_not(None),  # at Stripe, not recorded history
        )
    )
    output = card_demo[1]
    assert f"{paid_by_card} invoices paid by card" in output and paid_by_card >= 10
    assert declined.contact_email in output.split("declined card payment")[1].splitlines()[0]
    assert "Free trials" in output

    before = _counts()
    again = demo_app.test_cli_runner().invoke(args=SEED)
    assert again.exit_code == 0, again.output
    assert "0 cards saved, 0 invoices paid by card" in again.output
    assert _counts() == before


def test_the_seed_needs_all_three_stripe_options(app, runner):
    result = runner.invoke(args=SEED[:4])
    assert result.exit_code != 0 and "all three Stripe options" in result.output
    assert db.session.query(Customer).count() == 0


def test_the_declined_customer_updates_the_card_and_the_payment_is_retried(demo_app):
    declined = _customer(DECLINED_CARD_CUSTOMER)
    client = signed_in(demo_app, declined.contact_email, CUSTOMER_PASSWORD)
    page = client.get("/portal/subscription").get_data(as_text=True)
    assert "Update card and retry" in page
    page = client.get("/portal/payment?retry=1").get_data(as_text=True)
    assert 'id="card-form"' in page and "not available" not in page
    assert f"{demo_app.config['STRIPE_API_BASE']}/js.stripe.com/v3/" in page
    intent_id, method_id = confirmed_setup(declined.id)
    page = client.post(
        "/portal/payment/card",
        data={
            "csrf_token": client.token,
            "setup_intent": intent_id,
            "payment_method": method_id,
            "retry": "1",
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert re.search(r"Invoice \S+ has been paid\.", page)
    assert "Update card and retry" not in page
    states = db.session.scalars(
        db.select(Invoice.state).where(Invoice.customer_id == declined.id)
    ).all()
    assert "payment_failed" not in states


def _trial_customer() -> Customer:
    return db.session.scalar(
        db.select(Customer)
        .where(
            Customer.service_mode == "self_service",
            Customer.status == "active",
            Customer.payment_method == PaymentMethodCode.FREE.value,
            Customer.language == "de",
        )
        .order_by(Customer.company_name)
        .limit(1)
    )


def test_a_trial_customer_adds_a_card_and_moves_to_a_paid_plan(demo_app):
    """In German: the subscription page asks for a card (no dead end), the payment page takes
    it through the local Stripe's Stripe.js, and raising the IPs starts the paid plan."""
    trial = _trial_customer()
    client = signed_in(demo_app, trial.contact_email, CUSTOMER_PASSWORD)
    german = {"Accept-Language": "de"}
    page = client.get("/portal/subscription", headers=german).get_data(as_text=True)
    assert (
        "Bitte hinterlegen Sie zuerst eine Karte." in page and 'id="card-unavailable"' not in page
    )
    assert "bis None" not in page
    page = client.get("/portal/payment", headers=german).get_data(as_text=True)
    assert 'id="card-form"' in page and "Karte hinzufügen" in page
    intent_id, method_id = confirmed_setup(trial.id)
    saved = client.post(
        "/portal/payment/card",
        data={"csrf_token": client.token, "setup_intent": intent_id, "payment_method": method_id},
        follow_redirects=True,
        headers=german,
    ).get_data(as_text=True)
    assert "ist gespeichert" in saved
    page = client.get("/portal/subscription", headers=german).get_data(as_text=True)
    version = re.search(r'id="version" name="version" type="hidden" value="(\d+)"', page).group(1)
    done = client.post(
        "/portal/subscription",
        data={
            "csrf_token": client.token,
            "version": version,
            "total_ips": "20",
            "internal_ips": "15",
            "external_ips": "5",
        },
        follow_redirects=True,
        headers=german,
    ).get_data(as_text=True)
    assert 'data-figure="payment_method">Kreditkarte<' in done
    paid = current_subscription(trial.id)
    assert (paid.payment_method, paid.internal_ips, paid.external_ips) == (CARD, 15, 5)
