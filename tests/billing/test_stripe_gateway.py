"""The Stripe gateway against a local Stripe-compatible server (SPEC §6; issue: Stripe)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import stripe

from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import DomainError
from billing.payments import (
    card_charges,
    payment_failures,
    stripe_account,
    stripe_cards,
    stripe_webhooks,
)
from models import EventState, Invoice, PaymentAttempt, StripeEvent, db
from tests import factories

WEBHOOK_SECRET = "whsec_test_0123456789"


@pytest.fixture
def stripe_ready(app, localstripe):
    app.config["STRIPE_API_BASE"] = localstripe.url
    factories.reference(app)
    clock = app.config["CLOCK"]
    stripe_account.save_stripe_keys("sk_test_gateway123", "pk_test_gateway123", SYSTEM, clock)
    stripe_account.save_webhook_secret(WEBHOOK_SECRET, SYSTEM, clock)
    return app


def _intents_of(invoice_id: int) -> list:
    customer_id = db.session.get(Invoice, invoice_id).customer_id
    stripe_customer = stripe_cards.ensure_stripe_customer(customer_id)
    intents = stripe_account.client().v1.payment_intents.list({"limit": 100})
    return [i for i in intents.data if i.customer == stripe_customer]


def _invoice(app, card: str | None = "pm_card_visa"):
    clock = app.config["CLOCK"]
    customer = factories.customer(app, payment="card")
    if card:
        stripe_cards.attach_card(customer.id, card)
    invoice = draft_invoice(customer.id, clock.today().replace(day=1), clock)
    return finalize_invoice(invoice.id, clock)


def test_stripe_customer_is_created_once(stripe_ready):
    customer = factories.customer(stripe_ready)
    first = stripe_cards.ensure_stripe_customer(customer.id)
    assert first.startswith("cus_")
    assert stripe_cards.ensure_stripe_customer(customer.id) == first


def test_setup_intent_for_saving_a_card(stripe_ready):
    customer = factories.customer(stripe_ready)
    secret = stripe_cards.create_setup_intent(customer.id)
    assert secret.startswith("seti_") and "_secret_" in secret


def test_successful_charge_marks_the_invoice_paid(stripe_ready):
    invoice = _invoice(stripe_ready)
    attempt = card_charges.charge_invoice(invoice.id, stripe_ready.config["CLOCK"])
    assert attempt.state == "succeeded" and attempt.payment_intent_id.startswith("pi_")
    assert db.session.get(Invoice, invoice.id).state == "paid"
    assert attempt.idempotency_key == f"msp-invoice-{invoice.id}-attempt-1"


def test_the_same_invoice_is_never_charged_twice(stripe_ready, localstripe):
    """localstripe ignores idempotency keys, so our own guard must hold."""
    invoice = _invoice(stripe_ready)
    clock = stripe_ready.config["CLOCK"]
    first = card_charges.charge_invoice(invoice.id, clock)
    again = card_charges.charge_invoice(invoice.id, clock)
    assert again.id == first.id
    assert len(_intents_of(invoice.id)) == 1


@pytest.mark.fresh_database
def test_concurrent_charges_create_one_attempt(pg_app, localstripe):
    pg_app.config["STRIPE_API_BASE"] = localstripe.url
    factories.reference(pg_app)
    clock = pg_app.config["CLOCK"]
    stripe_account.save_stripe_keys("sk_test_gateway123", "pk_test_gateway123", SYSTEM, clock)
    invoice_id = _invoice(pg_app).id
    results, barrier = [], threading.Barrier(3)

    def charge():
        with pg_app.app_context():
            barrier.wait()
            try:
                results.append(card_charges.charge_invoice(invoice_id, clock).id)
            except DomainError as error:
                results.append(error.message)

    threads = [threading.Thread(target=charge) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert db.session.query(PaymentAttempt).count() == 1
    assert len(_intents_of(invoice_id)) == 1


def test_a_declined_card_marks_payment_failed_and_a_retry_is_a_new_attempt(stripe_ready):
    invoice = _invoice(stripe_ready, card="pm_card_chargeCustomerFail")
    clock = stripe_ready.config["CLOCK"]
    attempt = card_charges.charge_invoice(invoice.id, clock)
    assert attempt.state == "failed" and attempt.error == "card_declined"
    assert db.session.get(Invoice, invoice.id).state == "payment_failed"
    retry = card_charges.charge_invoice(invoice.id, clock)
    assert retry.number == 2 and retry.idempotency_key.endswith("attempt-2")


def test_no_saved_card_is_a_failed_payment(stripe_ready):
    invoice = _invoice(stripe_ready, card=None)
    attempt = card_charges.charge_invoice(invoice.id, stripe_ready.config["CLOCK"])
    assert attempt.state == "failed" and attempt.error == "no_card"
    assert payment_failures.describe(attempt.error) == "No card is saved for this customer."


def test_refund(stripe_ready):
    invoice = _invoice(stripe_ready)
    clock = stripe_ready.config["CLOCK"]
    attempt = card_charges.charge_invoice(invoice.id, clock)
    assert card_charges.refund(attempt.id, SYSTEM, clock).state == "refunded"
    with pytest.raises(DomainError):
        card_charges.refund(attempt.id, SYSTEM, clock)


def _signed(event: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    payload = json.dumps(event)
    timestamp = timestamp or int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return payload.encode(), f"t={timestamp},v1={signature}"


def _event(event_id: str, kind: str, intent_id: str) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "data": {"object": {"id": intent_id, "object": "payment_intent"}},
    }


def test_webhook_events_are_verified_and_processed_once(stripe_ready, client):
    invoice = _invoice(stripe_ready)
    clock = stripe_ready.config["CLOCK"]
    attempt = card_charges.charge_invoice(invoice.id, clock)
    invoice_row = db.session.get(Invoice, invoice.id)
    invoice_row.state = "finalized"
    db.session.commit()
    payload, signature = _signed(
        _event("evt_1", "payment_intent.succeeded", attempt.payment_intent_id)
    )
    response = client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": signature})
    assert response.status_code == 200 and response.json["state"] == "processed"
    assert db.session.get(Invoice, invoice.id).state == "paid"
    again = client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": signature})
    assert again.status_code == 200
    assert db.session.query(StripeEvent).count() == 1


@pytest.mark.parametrize("tamper", ["signature", "secret", "payload", "missing", "old"])
def test_tampered_or_unsigned_webhooks_are_refused(stripe_ready, client, tamper):
    payload, signature = _signed(_event("evt_2", "payment_intent.succeeded", "pi_x"))
    headers = {"Stripe-Signature": signature}
    if tamper == "signature":
        headers["Stripe-Signature"] = signature[:-4] + "abcd"
    elif tamper == "secret":
        payload, signature = _signed(
            _event("evt_2", "payment_intent.succeeded", "pi_x"), secret="whsec_other"
        )
        headers["Stripe-Signature"] = signature
    elif tamper == "payload":
        payload = payload.replace(b"evt_2", b"evt_3")
    elif tamper == "missing":
        headers = {}
    elif tamper == "old":
        payload, signature = _signed(
            _event("evt_2", "payment_intent.succeeded", "pi_x"), timestamp=int(time.time()) - 3600
        )
        headers["Stripe-Signature"] = signature
    response = client.post("/stripe/webhook", data=payload, headers=headers)
    assert response.status_code == 400
    assert db.session.query(StripeEvent).count() == 0


def test_unknown_event_types_are_ignored_and_failures_can_be_replayed(stripe_ready, client):
    payload, signature = _signed(_event("evt_4", "customer.created", "cus_x"))
    client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": signature})
    assert db.session.get(StripeEvent, "evt_4").state == EventState.IGNORED.value
    payload, signature = _signed(_event("evt_5", "payment_intent.succeeded", "pi_unknown"))
    client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": signature})
    failed = db.session.get(StripeEvent, "evt_5")
    assert failed.state == "failed" and "pi_unknown" in failed.error
    assert stripe_webhooks.process_event("evt_5", stripe_ready.config["CLOCK"]).state == "failed"


def test_webhook_without_configured_secret_is_refused(app, client):
    payload, signature = _signed(_event("evt_6", "payment_intent.succeeded", "pi_x"))
    assert (
        client.post(
            "/stripe/webhook", data=payload, headers={"Stripe-Signature": signature}
        ).status_code
        == 400
    )


def test_an_event_that_arrives_before_the_charge_is_stored_still_marks_the_invoice(
    stripe_ready, client
):
    """SPEC §6: Stripe can deliver payment_intent.succeeded while the charging call has not yet
    stored the intent's id; the event finds the open attempt through the invoice metadata, but
    only when customer and amount match too (never another system's intent)."""
    invoice = _invoice(stripe_ready)
    clock = stripe_ready.config["CLOCK"]
    attempt = card_charges.charge_invoice(invoice.id, clock)
    intent_id = attempt.payment_intent_id
    attempt.payment_intent_id = None
    attempt.state = "pending"
    db.session.get(Invoice, invoice.id).state = "finalized"
    db.session.commit()
    event = _event("evt_early", "payment_intent.succeeded", intent_id)
    event["data"]["object"]["metadata"] = {"msp_invoice_id": str(invoice.id)}
    foreign = json.loads(json.dumps(event))
    foreign["id"] = "evt_foreign"
    foreign["data"]["object"].update(id="pi_other_system", customer="cus_other", amount=1)
    payload, signature = _signed(foreign)
    client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": signature})
    assert db.session.get(StripeEvent, "evt_foreign").state == "failed"
    from models import Customer

    event["data"]["object"]["customer"] = db.session.get(
        Customer, invoice.customer_id
    ).stripe_customer_id
    event["data"]["object"]["amount"] = int(invoice.gross * 100)
    payload, signature = _signed(event)
    response = client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": signature})
    assert response.json["state"] == "processed"
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).state == "paid"
    assert db.session.get(type(attempt), attempt.id).payment_intent_id == intent_id


def _deliver(client, event: dict) -> str:
    payload, signature = _signed(event)
    response = client.post("/stripe/webhook", data=payload, headers={"Stripe-Signature": signature})
    assert response.status_code == 200
    return response.json["state"]


def test_a_failure_reported_late_never_takes_back_a_payment(stripe_ready, client):
    """SPEC §6, §14: Stripe delivers events late and out of order. A charge whose outcome was
    not known yet (its answer lost) may be reported failed only after staff marked the
    invoice paid by bank transfer: the invoice stays paid, so nobody is asked to pay twice;
    only the attempt is marked failed."""
    from billing.invoicing.invoice_payment import mark_paid
    from models import AuditEvent

    invoice = _invoice(stripe_ready)
    clock = stripe_ready.config["CLOCK"]
    attempt = card_charges.charge_invoice(invoice.id, clock)
    attempt.state, attempt.claimed_until = "pending", None
    db.session.get(Invoice, invoice.id).state = "finalized"
    db.session.commit()
    mark_paid(invoice.id, SYSTEM, clock)
    late = _event("evt_late_failure", "payment_intent.payment_failed", attempt.payment_intent_id)
    assert _deliver(client, late) == "processed"
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).state == "paid"
    assert db.session.get(PaymentAttempt, attempt.id).state == "failed"
    failed = db.session.query(AuditEvent).filter_by(action="invoice.payment_failed").count()
    assert failed == 0, "the invoice did not change"


def test_a_failure_reported_by_webhook_keeps_stripes_reason(stripe_ready, client):
    """A payment Stripe reports failed later keeps why, from the intent's last payment error
    (a decline code of Stripe's), as a reason the invoice's page tells in words."""
    invoice = _invoice(stripe_ready)
    clock = stripe_ready.config["CLOCK"]
    attempt = card_charges.charge_invoice(invoice.id, clock)
    attempt.state, attempt.claimed_until = "pending", None
    db.session.get(Invoice, invoice.id).state = "finalized"
    db.session.commit()
    failed = _event("evt_declined", "payment_intent.payment_failed", attempt.payment_intent_id)
    failed["data"]["object"]["last_payment_error"] = {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
    assert _deliver(client, failed) == "processed"
    db.session.expire_all()
    stored = db.session.get(PaymentAttempt, attempt.id)
    assert (stored.state, stored.error) == ("failed", "insufficient_funds")
    assert db.session.get(Invoice, invoice.id).state == "payment_failed"


def test_a_webhook_that_marks_an_invoice_is_on_the_customer_timeline(stripe_ready, client):
    """Every state change writes an audit event (SPEC §13): an invoice paid or failed through a
    webhook shows on the customer's timeline with its number."""
    from billing.customers.timeline import customer_timeline

    invoice = _invoice(stripe_ready)
    clock = stripe_ready.config["CLOCK"]
    attempt = card_charges.charge_invoice(invoice.id, clock)
    attempt.state = "pending"
    db.session.get(Invoice, invoice.id).state = "finalized"
    db.session.commit()
    succeeded = _event("evt_paid", "payment_intent.succeeded", attempt.payment_intent_id)
    assert _deliver(client, succeeded) == "processed"
    sentences = [item["sentence"] for item in customer_timeline(invoice.customer_id)]
    assert sentences.count(f"The card was charged for invoice {invoice.number}") == 2, sentences


def test_a_card_that_asks_for_3d_secure_fails_the_off_session_charge(stripe_ready):
    """Issue 14: a card whose bank wants the cardholder's confirmation (Stripe's test card
    4000 0027 6000 3184) cannot be charged at month end. Stripe refuses it with a CardError; a
    Stripe-compatible test server leaves the PaymentIntent waiting for the confirmation. Either
    way the invoice is marked payment failed (the customer gets "Update card and retry"),
    never left as an open attempt that blocks the retry."""
    clock = stripe_ready.config["CLOCK"]
    method = stripe_account.client().v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4000002760003184", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    invoice = _invoice(stripe_ready, method.id)
    attempt = card_charges.charge_invoice(invoice.id, clock)
    assert attempt.state == "failed" and attempt.error == "authentication_required"
    assert "(3-D Secure)" in payment_failures.describe(attempt.error)
    assert db.session.get(Invoice, invoice.id).state == "payment_failed"
    stripe_cards.make_default_card(invoice.customer_id, "pm_card_visa")
    retried = card_charges.charge_invoice(invoice.id, clock)
    assert retried.state == "succeeded" and retried.number == 2
    assert db.session.get(Invoice, invoice.id).state == "paid"


def test_a_card_set_up_with_3d_secure_is_charged_off_session(stripe_ready):
    """Issue 14: Stripe's test card 4000 0025 0000 3155 asks for 3-D Secure when it is saved,
    and once saved it is charged at month end without asking again, at Stripe and at the local
    Stripe of `make run` and the tests (scripts/localstripe_loopback.py)."""
    clock = stripe_ready.config["CLOCK"]
    method = stripe_account.client().v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4000002500003155", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    invoice = _invoice(stripe_ready, method.id)
    attempt = card_charges.charge_invoice(invoice.id, clock)
    assert attempt.state == "succeeded", attempt.error
    intent = stripe_account.client().v1.payment_intents.retrieve(attempt.payment_intent_id)
    assert (intent.status, intent.amount) == ("succeeded", int(invoice.gross * 100))
    assert db.session.get(Invoice, invoice.id).state == "paid"
