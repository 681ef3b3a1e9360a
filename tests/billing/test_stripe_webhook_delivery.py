"""Signed webhook delivery from a Stripe-compatible server to the running app (SPEC §6)."""

from __future__ import annotations

import threading
import urllib.parse
import urllib.request

import pytest
from werkzeug.serving import make_server

from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.kernel.audit import SYSTEM
from billing.payments import card_charges, stripe_account, stripe_cards
from models import Invoice, StripeEvent, db
from tests import factories
from tests.support.services import PATIENCE, free_port, wait_until


@pytest.mark.fresh_database
def test_localstripe_delivers_signed_events_that_mark_invoices(app, localstripe):
    app.config["STRIPE_API_BASE"] = localstripe.url
    clock = app.config["CLOCK"]
    factories.reference(app)
    stripe_account.save_stripe_keys("sk_test_delivery1", "pk_test_delivery1", SYSTEM, clock)
    stripe_account.save_webhook_secret("whsec_delivery_secret", SYSTEM, clock)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = urllib.parse.urlencode(
            {
                "url": f"http://127.0.0.1:{port}/stripe/webhook",
                "secret": "whsec_delivery_secret",
            }
        ).encode()
        urllib.request.urlopen(
            urllib.request.Request(
                f"{localstripe.url}/_config/webhooks/msp-test", data=config, method="POST"
            ),
            timeout=PATIENCE,
        )
        customer = factories.customer(app, payment="card")
        stripe_cards.attach_card(customer.id, "pm_card_visa")
        invoice = draft_invoice(customer.id, clock.today().replace(day=1), clock)
        invoice_id = finalize_invoice(invoice.id, clock).id
        attempt = card_charges.charge_invoice(invoice_id, clock)
        intent_id = attempt.payment_intent_id

        def handled_event():
            db.session.rollback()
            return db.session.scalar(
                db.select(StripeEvent).where(
                    StripeEvent.type == "payment_intent.succeeded",
                    StripeEvent.payload.contains(intent_id),
                    StripeEvent.state != "received",
                )
            )

        # The endpoint stores the event, then processes it: wait until it is handled.
        event = wait_until(handled_event, "a signed event from the Stripe server is handled")
        assert event.state == "processed"
        assert attempt.payment_intent_id in event.payload
        assert db.session.get(Invoice, invoice_id).state == "paid"
    finally:
        server.shutdown()
        thread.join(timeout=10)
