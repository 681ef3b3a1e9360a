"""The card a customer keeps on file, managed in the portal (SPEC §6, §10; seed 3.6.2).

Customers add, replace and remove their card themselves, managed customers too: their provider
runs the subscription, but only the cardholder can give a card (and confirm it with 3-D Secure).
The browser confirms a SetupIntent with Stripe.js (the card number never reaches us), then the
card is checked at Stripe, attached and made the default; one card is on file at a time, so a
new card replaces the old one. A card cannot be removed while a subscription is paid by card. A
failed card payment is retried on request, typically right after a new card was saved. A
customer marked for deletion sees its card read-only. Every change is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import wraps

import stripe

from billing.customers.lookup import current_subscription, get_customer
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.payments.receivables import is_payable
from billing.subscriptions.own_subscription import card_payment_available
from models import Customer, Invoice, InvoiceKind, InvoiceState, PaymentMethodCode, db

MANAGED = "managed"
UNAVAILABLE = "unavailable"
OK = "ok"


def card_access(customer: Customer) -> str:
    """``ok`` when the customer's users manage the card themselves (in either service mode),
    ``managed`` for a customer marked for deletion (read-only), ``unavailable`` when card
    payment is off or Stripe is not set up."""
    if customer.marked_for_deletion_at is not None:
        return MANAGED
    if not card_payment_available():
        return UNAVAILABLE
    return OK


def provider_email() -> str:
    """Where customers write to the provider about payments: the sender address of the product's
    e-mails ("" while no mail server is set up)."""
    from billing.kernel.mail import load_mail_settings

    try:
        return load_mail_settings().sender_address
    except DomainError:
        return ""


def _require_access(customer_id: int) -> Customer:
    customer = get_customer(customer_id)
    access = card_access(customer)
    if access == MANAGED:
        raise DomainError(
            _("Your payment details are managed by your provider. Please contact them.")
        )
    if access == UNAVAILABLE:
        raise DomainError(
            _("Card payment is not available at the moment. Please contact your provider.")
        )
    return customer


def _stripe_errors(function):
    """Stripe being unreachable or refusing becomes a message the customer can act on."""

    @wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except stripe.CardError as error:
            db.session.rollback()
            raise DomainError(error.user_message or _("Your card was declined.")) from None
        except stripe.StripeError:
            db.session.rollback()
            raise DomainError(
                _("The payment provider could not be reached. Please try again in a moment.")
            ) from None

    return wrapper


def failed_card_invoices(customer_id: int) -> list[Invoice]:
    """The customer's card invoices whose payment failed and that are still payable (none a
    credit note settled, SPEC §14), oldest first (the portal's banner and retry)."""
    return list(
        db.session.scalars(
            db.select(Invoice)
            .where(
                Invoice.customer_id == customer_id,
                Invoice.kind == InvoiceKind.INVOICE.value,
                Invoice.state == InvoiceState.PAYMENT_FAILED.value,
                Invoice.payment_method == PaymentMethodCode.CARD.value,
                is_payable(),
            )
            .order_by(Invoice.id)
        )
    )


def known_card(customer: Customer) -> tuple[object | None, bool]:
    """The card on file at Stripe (``stripe_cards.CardInfo``), asked only for a customer Stripe
    knows and with keys configured: ``(card or None, False)``, or ``(None, True)`` when Stripe
    cannot tell."""
    from billing.payments.stripe_account import keys_configured
    from billing.payments.stripe_cards import card_on_file

    if not customer.stripe_customer_id or not keys_configured():
        return None, False
    try:
        return card_on_file(customer.id), False
    except (stripe.StripeError, DomainError):
        return None, True


@dataclass(frozen=True)
class PaymentOverview:
    """What the portal's payment page shows; ``card`` is None when none is on file or Stripe
    cannot tell (``stripe_error``)."""

    access: str
    card: object | None
    failed_invoices: list
    publishable_key: str
    stripe_js: str
    removable: bool
    stripe_error: bool = False


def payment_overview(customer_id: int) -> PaymentOverview:
    from billing.payments.stripe_account import (
        keys_configured,
        stored_publishable_key,
        stripe_js_url,
    )
    from billing.payments.stripe_cards import card_on_file

    customer = get_customer(customer_id)
    access = card_access(customer)
    card, error = None, False
    if keys_configured():
        try:
            card = card_on_file(customer_id)
        except stripe.StripeError:
            error = True
    return PaymentOverview(
        access=access,
        card=card,
        failed_invoices=failed_card_invoices(customer_id),
        publishable_key=stored_publishable_key() if access == OK else "",
        stripe_js=stripe_js_url(),
        removable=access == OK and card is not None and card_removable(customer_id),
        stripe_error=error,
    )


@_stripe_errors
def begin_card_setup(customer_id: int) -> str:
    """A SetupIntent for a new card; returns the client secret for Stripe.js."""
    from billing.payments.stripe_cards import create_setup_intent

    _require_access(customer_id)
    return create_setup_intent(customer_id)


@dataclass
class SavedCard:
    card: object
    retried: list = field(default_factory=list)


@_stripe_errors
def save_card(
    customer_id: int,
    setup_intent_id: str,
    payment_method_id: str,
    actor: Actor,
    clock: Clock,
    *,
    retry_failed: bool = False,
) -> SavedCard:
    """Keep the card of a SetupIntent confirmed in the browser as the card to charge,
    replacing any other; with ``retry_failed`` charge the failed card invoices again with it.

    DomainError when the customer may not manage cards or the intent is not its own, succeeded
    one (``stripe_cards.confirmed_setup_card``).
    """
    from billing.payments.stripe_cards import confirmed_setup_card, make_default_card

    _require_access(customer_id)
    method_id = confirmed_setup_card(customer_id, setup_intent_id, payment_method_id)
    card = make_default_card(customer_id, method_id)
    audit.record(
        actor,
        "card.save",
        clock,
        customer_id=customer_id,
        after={
            "brand": card.brand,
            "last4": card.last4,
            "expires": f"{card.exp_month}/{card.exp_year}",
        },
    )
    db.session.commit()
    result = SavedCard(card)
    if retry_failed:
        result.retried = retry_failed_payments(customer_id, actor, clock)
    return result


def card_removable(customer_id: int) -> bool:
    """A card may go unless the current subscription is paid by card."""
    sub = current_subscription(customer_id)
    return sub is None or sub.payment_method != PaymentMethodCode.CARD.value


@_stripe_errors
def remove_card(customer_id: int, actor: Actor, clock: Clock) -> int:
    """Remove the saved card(s). Refused while the current subscription is paid by card
    (replace the card instead). Returns how many cards were removed."""
    from billing.payments.stripe_cards import remove_cards

    _require_access(customer_id)
    if not card_removable(customer_id):
        raise DomainError(
            _(
                "Your subscription is paid by card, so a card must stay on file. "
                "Save a new card to replace it."
            )
        )
    removed = remove_cards(customer_id)
    audit.record(actor, "card.remove", clock, customer_id=customer_id, after={"removed": removed})
    db.session.commit()
    return removed


@_stripe_errors
def retry_failed_payments(customer_id: int, actor: Actor, clock: Clock) -> list:
    """Charge every failed card invoice of the customer again
    (``invoicing.invoice_payment.retry_payment``); returns ``(invoice, attempt)`` pairs, the
    attempt None when Stripe was not reached."""
    from billing.invoicing.invoice_payment import retry_payment

    _require_access(customer_id)
    results = []
    for invoice in failed_card_invoices(customer_id):
        try:
            attempt = retry_payment(invoice.id, actor, clock)
        except DomainError:
            attempt = None
        results.append((invoice, attempt))
    return results
