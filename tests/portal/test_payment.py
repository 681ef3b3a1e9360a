"""Portal → Payment against localstripe (SPEC §6 cards through Stripe, failed payments visible
and retried; §10 payment cards)."""

from __future__ import annotations

import re

import pytest

from billing.catalog.payment_methods import set_active
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.kernel.audit import SYSTEM
from billing.payments import card_charges, stripe_account, stripe_cards
from models import AuditEvent, Invoice, db
from tests import factories
from tests.portal.helpers import main_email, signed_in
from tests.support.cards import PUBLISHABLE, confirmed_setup, stripe_on


@pytest.fixture
def card_customer(app, localstripe):
    """Card payment on; a self-service customer on a card subscription, no card saved yet."""
    factories.reference(app)
    stripe_on(app, localstripe)
    return factories.customer(app, mode="self_service", payment="card")


def _save(client, intent_id: str, method_id: str, retry: str = ""):
    return client.post(
        "/portal/payment/card",
        data={
            "csrf_token": client.token,
            "setup_intent": intent_id,
            "payment_method": method_id,
            "retry": retry,
        },
        follow_redirects=True,
    )


def _stripe_cards(customer_id: int) -> list[str]:
    stripe_id = stripe_cards.ensure_stripe_customer(customer_id)
    listed = stripe_account.client().v1.payment_methods.list(
        {"customer": stripe_id, "type": "card"}
    )
    return [card.id for card in listed.data]


def test_page_loads_stripe_js_from_the_configured_server(app, card_customer, localstripe):
    """Stripe.js comes from STRIPE_API_BASE's server when set (localstripe serves its own)."""
    client = signed_in(app, main_email(card_customer))
    page = client.get("/portal/payment").get_data(as_text=True)
    stripe_js = re.escape(f'src="{localstripe.url}/js.stripe.com/v3/"></script>')
    assert re.search(r'<script nonce="[^"]+" ' + stripe_js, page)
    assert f'data-publishable-key="{PUBLISHABLE}"' in page
    assert "portal_payment.js" in page and 'id="no-card"' in page
    assert "onclick" not in page and "<script>" not in page  # external scripts only (CSP)


def test_stripe_js_comes_from_stripe_without_an_api_base(app):
    with app.test_request_context():
        app.config["STRIPE_API_BASE"] = ""
        assert stripe_account.stripe_js_url() == "https://js.stripe.com/v3/"
        app.config["STRIPE_API_BASE"] = "http://127.0.0.1:8420/"
        assert stripe_account.stripe_js_url() == "http://127.0.0.1:8420/js.stripe.com/v3/"


def test_setup_intent_needs_the_csrf_token(app, card_customer):
    client = signed_in(app, main_email(card_customer))
    assert client.post("/portal/payment/setup-intent").status_code == 400
    response = client.post("/portal/payment/setup-intent", headers={"X-CSRFToken": client.token})
    assert response.status_code == 200
    assert re.fullmatch(r"seti_\w+_secret_\w+", response.get_json()["client_secret"])


def test_add_a_card_shows_the_card_that_will_be_charged(app, card_customer):
    """SPEC §6: a SetupIntent confirmed by Stripe.js, then attached and made the default."""
    client = signed_in(app, main_email(card_customer))
    intent_id, method_id = confirmed_setup(card_customer.id)
    page = _save(client, intent_id, method_id).get_data(as_text=True)
    assert "ending in 4242 is saved" in page
    assert 'data-card="last4">4242<' in page and "expires 12/2030" in page
    assert stripe_cards.saved_card(card_customer.id) == method_id
    stripe_id = stripe_cards.ensure_stripe_customer(card_customer.id)
    stored = stripe_account.client().v1.customers.retrieve(stripe_id)
    assert stored.invoice_settings.default_payment_method == method_id
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "card.save")).one()
    assert event.actor_type == "user" and event.after["last4"] == "4242"


def test_replacing_the_card_keeps_only_the_new_one(app, card_customer):
    client = signed_in(app, main_email(card_customer))
    _save(client, *confirmed_setup(card_customer.id))
    intent_id, new_id = confirmed_setup(card_customer.id, "pm_card_chargeCustomerFail")
    page = _save(client, intent_id, new_id).get_data(as_text=True)
    assert 'data-card="last4">0341<' in page
    assert _stripe_cards(card_customer.id) == [new_id]
    assert stripe_cards.saved_card(card_customer.id) == new_id


def test_a_foreign_or_unconfirmed_setup_intent_is_refused(app, card_customer):
    other = factories.customer(app, mode="self_service", payment="card")
    client = signed_in(app, main_email(card_customer))
    foreign_intent, foreign_method = confirmed_setup(other.id)
    page = _save(client, foreign_intent, foreign_method).get_data(as_text=True)
    assert "could not be confirmed" in page
    unconfirmed = stripe_cards.create_setup_intent(card_customer.id).split("_secret_")[0]
    assert "could not be confirmed" in _save(client, unconfirmed, foreign_method).get_data(
        as_text=True
    )
    intent_id, _method = confirmed_setup(card_customer.id)
    assert "could not be confirmed" in _save(client, intent_id, foreign_method).get_data(
        as_text=True
    )
    assert _stripe_cards(card_customer.id) == [] and _stripe_cards(other.id) == []


def test_remove_card(app, card_customer):
    """A card subscription keeps its card (replace it instead); without one it can go."""
    client = signed_in(app, main_email(card_customer))
    page = _save(client, *confirmed_setup(card_customer.id)).get_data(as_text=True)
    assert "remove-card-form" not in page
    page = client.post(
        "/portal/payment/card/remove", data={"csrf_token": client.token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "a card must stay on file" in page and len(_stripe_cards(card_customer.id)) == 1

    trial = factories.customer(app, mode="self_service", payment="free")
    client = signed_in(app, main_email(trial))
    assert "remove-card-form" in _save(client, *confirmed_setup(trial.id)).get_data(as_text=True)
    page = client.post(
        "/portal/payment/card/remove", data={"csrf_token": client.token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Your card has been removed." in page and 'id="no-card"' in page
    assert _stripe_cards(trial.id) == [] and stripe_cards.saved_card(trial.id) is None


def _failed_invoice(app, customer) -> Invoice:
    clock = app.config["CLOCK"]
    stripe_cards.attach_card(customer.id, "pm_card_chargeCustomerFail")
    invoice = draft_invoice(customer.id, clock.today().replace(day=1), clock)
    invoice = finalize_invoice(invoice.id, clock)
    assert card_charges.charge_invoice(invoice.id, clock).state == "failed"
    return invoice


def test_failed_payment_banner_and_retry_with_a_new_card(app, card_customer):
    """SPEC §6: failed payments are visible to the customer and retried after a new card."""
    invoice = _failed_invoice(app, card_customer)
    client = signed_in(app, main_email(card_customer))
    for url in ("/portal/payment", "/portal/subscription"):
        page = client.get(url).get_data(as_text=True)
        assert f"invoice {invoice.number}" in page and "Update card and retry" in page
    page = client.get("/portal/payment?retry=1").get_data(as_text=True)
    assert 'name="retry" type="hidden" value="1"' in page
    assert "Save card and retry the payment" in page
    page = _save(client, *confirmed_setup(card_customer.id), retry="1").get_data(as_text=True)
    assert f"Invoice {invoice.number} has been paid." in page
    assert "Update card and retry" not in page
    assert db.session.get(Invoice, invoice.id).state == "paid"


def test_retry_with_the_saved_card(app, card_customer):
    invoice = _failed_invoice(app, card_customer)
    client = signed_in(app, main_email(card_customer))
    assert 'id="retry-form"' in client.get("/portal/payment").get_data(as_text=True)
    page = client.post(
        "/portal/payment/retry", data={"csrf_token": client.token}, follow_redirects=True
    ).get_data(as_text=True)
    assert f"The payment of invoice {invoice.number} failed again." in page
    assert db.session.get(Invoice, invoice.id).state == "payment_failed"


def test_managed_customers_give_their_card_too(app, localstripe):
    """Issue 14: the provider runs a managed customer's subscription, but only the customer can
    give a card. A customer staff created and put on card payment saves it in the portal."""
    factories.reference(app)
    stripe_on(app, localstripe)
    customer = factories.customer(app, mode="managed", payment="card")
    client = signed_in(app, main_email(customer))
    page = client.get("/portal/payment").get_data(as_text=True)
    assert 'id="card-form"' in page and 'id="no-card"' in page
    assert "managed by your provider" not in page
    page = _save(client, *confirmed_setup(customer.id)).get_data(as_text=True)
    assert "ending in 4242 is saved" in page and 'data-card="last4">4242<' in page
    assert stripe_cards.card_on_file(customer.id).last4 == "4242"


def test_without_stripe_keys_card_payment_is_unavailable(app):
    factories.reference(app)
    customer = factories.customer(app, mode="self_service")
    client = signed_in(app, main_email(customer))
    page = client.get("/portal/payment").get_data(as_text=True)
    assert "Card payment is not available" in page and "card-form" not in page


def test_when_card_payment_is_switched_off_a_failed_payment_is_no_dead_end(
    app, card_customer, mail_on
):
    """Issue 14: after a failed card payment the provider switched card payment off. Neither
    page offers "Update card and retry" (its page could not take a card); both say to contact
    the provider, with the provider's address."""
    invoice = _failed_invoice(app, card_customer)
    set_active("card", False, SYSTEM, app.config["CLOCK"])
    client = signed_in(app, main_email(card_customer))
    for url in ("/portal/subscription", "/portal/payment"):
        page = client.get(url).get_data(as_text=True)
        assert f"invoice {invoice.number}" in page, url
        assert "Update card and retry" not in page, url
        assert (
            'Please contact your provider at <a href="mailto:billing@msp.example" '
            'id="provider-email">billing@msp.example</a>.' in page
        ), url
    page = client.get("/portal/payment").get_data(as_text=True)
    assert "your provider can take your payment another way" in page and "card-form" not in page


def test_without_card_payment_the_payment_page_says_what_to_do_in_german(app, mail_on):
    factories.reference(app)
    customer = factories.customer(app, mode="self_service", language="de")
    page = signed_in(app, main_email(customer)).get("/portal/payment").get_data(as_text=True)
    assert "Ihr Anbieter kann Ihre Zahlung auf anderem Weg annehmen." in page
    assert (
        "Bitte wenden Sie sich an Ihren Anbieter: " in page and "mailto:billing@msp.example" in page
    )
