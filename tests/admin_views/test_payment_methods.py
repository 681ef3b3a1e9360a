"""Billing → Payment Methods and Stripe keys (seed 3.6, SPEC §6), against localstripe."""

from __future__ import annotations

import pytest

from billing.payments.stripe_account import stored_publishable_key, stored_secret_key
from models import AuditEvent, PaymentMethod, Setting, db
from tests import factories
from tests.conftest import make_staff, sign_in


@pytest.fixture
def stripe_app(app, localstripe):
    app.config["STRIPE_API_BASE"] = localstripe.url
    factories.reference(app)
    return app


def _keys(client, secret, publishable):
    return client.post(
        "/admin/payment-methods/stripe/",
        data={"csrf_token": client.token, "secret_key": secret, "publishable_key": publishable},
    )


def _toggle(client, code, active):
    return client.post(
        "/admin/payment-methods/toggle/",
        data={"csrf_token": client.token, "code": code, "active": "1" if active else "0"},
    )


def _active(code):
    db.session.expire_all()
    return db.session.get(PaymentMethod, code).active


def test_lists_billing_types_with_status(stripe_app, staff_client):
    page = staff_client.get("/admin/payment-methods/").get_data(as_text=True)
    for label in ("Credit card", "Invoice", "Project Key", "Free", "Billing Type"):
        assert label in page
    assert _active("invoice") and not _active("card")


def test_card_cannot_be_activated_without_both_keys(stripe_app, staff_client):
    """SPEC §6: Card cannot be activated without both keys."""
    response = _toggle(staff_client, "card", True)
    follow = staff_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "needs the Stripe secret key" in follow
    assert not _active("card")


def test_keys_are_checked_against_stripe_and_stored_encrypted(stripe_app, staff_client):
    response = _keys(staff_client, "sk_test_canary1234567890", "pk_test_abc123")
    assert response.status_code == 302
    stored = db.session.get(Setting, "stripe.secret_key").value
    assert "canary" not in stored
    assert stored_secret_key() == "sk_test_canary1234567890"
    assert stored_publishable_key() == "pk_test_abc123"
    page = staff_client.get("/admin/payment-methods/").get_data(as_text=True)
    assert "sk_test_canary1234567890" not in page and "7890" in page
    _toggle(staff_client, "card", True)
    assert _active("card")
    audit = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "settings.stripe"))
    assert "canary" not in str(audit.after)


@pytest.mark.parametrize(
    ("secret", "publishable", "message"),
    [
        ("pk_test_abc", "pk_test_abc", "publishable key"),
        ("hello", "pk_test_abc", "starts with sk_test_"),
        ("sk_test_abc", "sk_test_abc", "starts with pk_test_"),
        ("sk_test_abc", "pk_live_abc", "both live keys"),
        ("rk_test_refused", "pk_test_abc", "Stripe refused"),
        ("", "pk_test_abc", "Please enter the secret key"),
    ],
)
def test_bad_keys_are_refused_and_nothing_is_stored(
    stripe_app, staff_client, secret, publishable, message
):
    page = _keys(staff_client, secret, publishable)
    assert page.status_code == 200 and message in page.get_data(as_text=True)
    assert db.session.get(Setting, "stripe.secret_key") is None


def test_unreachable_stripe_is_reported(app, staff_client):
    from tests.support.services import free_port

    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"
    page = _keys(staff_client, "sk_test_abc", "pk_test_abc")
    assert "could not be reached" in page.get_data(as_text=True)


def test_deactivating_keeps_existing_subscriptions(stripe_app, staff_client):
    customer = factories.customer(stripe_app, payment="invoice")
    _toggle(staff_client, "invoice", False)
    assert not _active("invoice")
    from billing.customers.lookup import current_subscription

    assert current_subscription(customer.id).payment_method == "invoice"


def test_only_admins_manage_payment_methods(stripe_app):
    billing = make_staff(stripe_app, "billing")
    client = stripe_app.test_client()
    sign_in(client, billing.email)
    assert client.get("/admin/payment-methods/").status_code == 403


def test_webhook_secret_form_and_event_inbox_with_replay(stripe_app, staff_client, client):
    import json
    import time

    import stripe

    bad = staff_client.post(
        "/admin/payment-methods/webhook/",
        data={"csrf_token": staff_client.token, "webhook_secret": "nope"},
    )
    assert "whsec_" in bad.get_data(as_text=True)
    staff_client.post(
        "/admin/payment-methods/webhook/",
        data={"csrf_token": staff_client.token, "webhook_secret": "whsec_inbox123"},
    )
    page = staff_client.get("/admin/payment-methods/").get_data(as_text=True)
    assert "/stripe/webhook" in page and "whsec_inbox123" not in page
    payload = json.dumps(
        {
            "id": "evt_inbox",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_missing"}},
        }
    )
    stamp = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{stamp}.{payload}", "whsec_inbox123")
    client.post(
        "/stripe/webhook", data=payload, headers={"Stripe-Signature": f"t={stamp},v1={signature}"}
    )
    inbox = staff_client.get("/admin/stripe_event/").get_data(as_text=True)
    assert "evt_inbox" in inbox and 'data-replay="evt_inbox"' in inbox
    replay = staff_client.post(
        "/admin/stripe_event/replay/evt_inbox/", data={"csrf_token": staff_client.token}
    )
    assert replay.status_code == 302
    assert "processed again" in staff_client.get("/admin/stripe_event/").get_data(as_text=True)


@pytest.mark.parametrize("code", [None, "", "bitcoin"])
def test_a_toggle_without_a_known_method_is_refused(stripe_app, staff_client, code, recwarn):
    """SPEC §13: a missing or unknown billing type gets "Unknown payment method." and changes
    nothing (and the database is not asked for a record without a key)."""
    before = {m.code: m.active for m in db.session.scalars(db.select(PaymentMethod))}
    data = {"csrf_token": staff_client.token, "active": "0"}
    if code is not None:
        data["code"] = code
    response = staff_client.post("/admin/payment-methods/toggle/", data=data)
    assert response.status_code == 302
    page = staff_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Unknown payment method." in page
    db.session.expire_all()
    assert {m.code: m.active for m in db.session.scalars(db.select(PaymentMethod))} == before
    assert not [w for w in recwarn if "primary key identity" in str(w.message)]
