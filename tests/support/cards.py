"""Card payment against localstripe for tests: keys saved, card payment active, and a
SetupIntent confirmed the way Stripe.js would (here with a test payment method)."""

from __future__ import annotations

from billing.catalog.payment_methods import set_active
from billing.kernel.audit import SYSTEM
from billing.payments import stripe_account, stripe_cards

SECRET = "sk_test_portal123"
PUBLISHABLE = "pk_test_portal123"


def stripe_on(app, localstripe) -> None:
    """Point the app at localstripe, save both keys and activate card payment."""
    clock = app.config["CLOCK"]
    app.config["STRIPE_API_BASE"] = localstripe.url
    stripe_account.save_stripe_keys(SECRET, PUBLISHABLE, SYSTEM, clock)
    set_active("card", True, SYSTEM, clock)


def confirmed_setup(customer_id: int, test_card: str = "pm_card_visa") -> tuple[str, str]:
    """(SetupIntent id, payment method id) of a SetupIntent for the customer, confirmed with
    one of Stripe's test payment methods, as the browser does with Stripe.js."""
    secret = stripe_cards.create_setup_intent(customer_id)
    intent_id = secret.split("_secret_")[0]
    intent = stripe_account.client().v1.setup_intents.confirm(
        intent_id, {"payment_method": test_card}
    )
    assert intent.status == "succeeded"
    return intent.id, intent.payment_method
