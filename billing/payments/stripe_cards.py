"""A customer's card saved at Stripe (SPEC §6): its Stripe customer, the SetupIntent that saves a
card, the one card on file and its removal."""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.payments.stripe_account import client


def ensure_stripe_customer(customer_id: int) -> str:
    """The Stripe customer id of ``customer_id``, created at Stripe on first use."""
    from billing.customers.lookup import get_customer
    from models import db

    customer = get_customer(customer_id)
    if customer.stripe_customer_id:
        return customer.stripe_customer_id
    created = client().v1.customers.create(
        {
            "name": customer.company_name,
            "email": customer.contact_email,
            "metadata": {"msp_customer_id": str(customer.id)},
        }
    )
    customer.stripe_customer_id = created.id
    db.session.commit()
    return created.id


def create_setup_intent(customer_id: int) -> str:
    """A SetupIntent for saving a card for later off-session charges; returns its client
    secret for Stripe.js."""
    stripe_id = ensure_stripe_customer(customer_id)
    intent = client().v1.setup_intents.create(
        {
            "customer": stripe_id,
            "usage": "off_session",
            "payment_method_types": ["card"],
        }
    )
    return intent.client_secret


def saved_card(customer_id: int) -> str | None:
    """The id of the card that will be charged (see ``card_on_file``), or None."""
    card = card_on_file(customer_id)
    return card.id if card else None


def attach_card(customer_id: int, payment_method_id: str) -> None:
    stripe_id = ensure_stripe_customer(customer_id)
    client().v1.payment_methods.attach(payment_method_id, {"customer": stripe_id})


@dataclass(frozen=True)
class CardInfo:
    """What the customer sees of a saved card (Stripe keeps the number)."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


def _id(field) -> str | None:
    """The id of an expandable Stripe field (an id string or an expanded object)."""
    return field if isinstance(field, str) or field is None else field.id


def _card_info(method) -> CardInfo:
    card = method.card
    return CardInfo(
        id=method.id,
        brand=str(card.brand or ""),
        last4=str(card.last4 or ""),
        exp_month=int(card.exp_month or 0),
        exp_year=int(card.exp_year or 0),
    )


def _cards(stripe_customer_id: str) -> list:
    return list(
        client()
        .v1.payment_methods.list({"customer": stripe_customer_id, "type": "card", "limit": 100})
        .data
    )


def card_on_file(customer_id: int) -> CardInfo | None:
    """The card that will be charged: the customer's default card at Stripe, else the first
    card saved for it; None without a Stripe customer or card."""
    from billing.customers.lookup import get_customer

    customer = get_customer(customer_id)
    if not customer.stripe_customer_id:
        return None
    cards = _cards(customer.stripe_customer_id)
    if not cards:
        return None
    settings = client().v1.customers.retrieve(customer.stripe_customer_id).invoice_settings
    default_id = _id(settings.default_payment_method) if settings else None
    chosen = next((c for c in cards if c.id == default_id), cards[0])
    return _card_info(chosen)


def confirmed_setup_card(customer_id: int, setup_intent_id: str, payment_method_id: str) -> str:
    """The card of a SetupIntent the customer confirmed in the browser, checked at Stripe: the
    intent belongs to this customer, succeeded, and saved ``payment_method_id``. DomainError
    otherwise (a forged or foreign id is refused)."""
    stripe_id = ensure_stripe_customer(customer_id)
    refused = DomainError(_("The card could not be confirmed. Please enter it again."))
    if not (setup_intent_id or "").startswith("seti_") or not (payment_method_id or "").startswith(
        "pm_"
    ):
        raise refused
    try:
        intent = client().v1.setup_intents.retrieve(setup_intent_id)
    except stripe.InvalidRequestError:
        raise refused from None
    method_id = _id(intent.payment_method)
    if intent.customer != stripe_id or intent.status != "succeeded":
        raise refused
    if method_id != payment_method_id:
        raise refused
    return method_id


def make_default_card(customer_id: int, payment_method_id: str) -> CardInfo:
    """Attach the card to the customer's Stripe customer (unless it is already), make it the
    default for charges, and detach every other card: one card on file at a time."""
    stripe_id = ensure_stripe_customer(customer_id)
    api = client().v1
    method = api.payment_methods.retrieve(payment_method_id)
    owner = _id(method.customer)
    if owner not in (None, stripe_id):
        raise DomainError(_("The card could not be confirmed. Please enter it again."))
    try:
        if owner is None:
            method = api.payment_methods.attach(payment_method_id, {"customer": stripe_id})
    except stripe.CardError as error:
        raise DomainError(error.user_message or _("Your card was declined.")) from None
    api.customers.update(stripe_id, {"invoice_settings": {"default_payment_method": method.id}})
    for other in _cards(stripe_id):
        if other.id != method.id:
            api.payment_methods.detach(other.id)
    return _card_info(method)


def remove_cards(customer_id: int) -> int:
    """Detach every saved card of the customer and clear the default; returns how many."""
    from billing.customers.lookup import get_customer

    customer = get_customer(customer_id)
    if not customer.stripe_customer_id:
        return 0
    api = client().v1
    cards = _cards(customer.stripe_customer_id)
    api.customers.update(
        customer.stripe_customer_id, {"invoice_settings": {"default_payment_method": ""}}
    )
    for card in cards:
        api.payment_methods.detach(card.id)
    return len(cards)
