"""The demo's card payments against a Stripe test account (``make run``: its local Stripe): the
keys, a saved card for every card payer, the open card invoices charged, and the portal logins
of the card stories."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func

from billing.kernel.audit import SYSTEM
from billing.kernel.clock import Clock
from models import Customer, Invoice, InvoiceState, PaymentMethodCode, ServiceMode, db


@dataclass(frozen=True)
class DemoStripe:
    """The keys of a Stripe test account for card payments in the demo (``make run`` gives those
    of its local Stripe, which ``STRIPE_API_BASE`` points at)."""

    secret_key: str
    publishable_key: str
    webhook_secret: str


def contact_logins(*where) -> list[str]:
    """The contact e-mails (portal logins) of the customers ``where`` selects, by company."""
    return list(
        db.session.scalars(
            db.select(Customer.contact_email).where(*where).order_by(Customer.company_name)
        )
    )


# the customer whose card is declined: its last invoice shows "payment failed" in the portal
DECLINED_CARD_CUSTOMER = "Nordlicht Hotels GmbH"


VISA = "pm_card_visa"


DECLINED_WHEN_CHARGED = "pm_card_chargeCustomerFail"


@dataclass
class CardResult:
    """What ``card_payments`` did, and the portal logins of its stories: customers whose card
    was declined, and self-service customers on a free trial (who add a card to go paid)."""

    cards_saved: int = 0
    invoices_paid: int = 0
    declined_logins: list[str] = field(default_factory=list)
    trial_logins: list[str] = field(default_factory=list)


def card_payments(stripe: DemoStripe, clock: Clock) -> CardResult:
    """Card payment as an MSP would set it up: the keys saved (checked at the Stripe server like
    any keys) with the webhook secret, card payment active, a saved card for every customer who
    pays by card (a declining one for ``DECLINED_CARD_CUSTOMER``), and their open card invoices
    charged off-session the way the month-end run does. Only what is missing is done again."""
    from billing.catalog.payment_methods import set_active
    from billing.payments import card_charges, stripe_account, stripe_cards
    from models import AttemptState, Invoice, InvoiceState

    if (stripe_account.stored_secret_key(), stripe_account.stored_publishable_key()) != (
        stripe.secret_key,
        stripe.publishable_key,
    ):
        stripe_account.save_stripe_keys(stripe.secret_key, stripe.publishable_key, SYSTEM, clock)
    if stripe_account.stored_webhook_secret() != stripe.webhook_secret:
        stripe_account.save_webhook_secret(stripe.webhook_secret, SYSTEM, clock)
    set_active(PaymentMethodCode.CARD.value, True, SYSTEM, clock)
    card = PaymentMethodCode.CARD.value
    open_card_invoice = db.select(Invoice.customer_id).where(
        Invoice.payment_method == card, Invoice.state == InvoiceState.FINALIZED.value
    )
    payers = db.session.scalars(
        db.select(Customer)
        .where(
            Customer.marked_for_deletion_at.is_(None),
            (Customer.payment_method == card) | Customer.id.in_(open_card_invoice),
        )
        .order_by(Customer.company_name)
    ).all()
    result = CardResult()
    for customer in payers:
        if stripe_cards.card_on_file(customer.id) is None:
            test_card = (
                DECLINED_WHEN_CHARGED if customer.company_name == DECLINED_CARD_CUSTOMER else VISA
            )
            stripe_cards.make_default_card(customer.id, test_card)
            result.cards_saved += 1
        invoices = db.session.scalars(
            open_card_invoice.with_only_columns(Invoice.id).where(
                Invoice.customer_id == customer.id
            )
        ).all()
        for invoice_id in invoices:
            if card_charges.charge_invoice(invoice_id, clock).state == AttemptState.SUCCEEDED.value:
                result.invoices_paid += 1
    return result


def card_stories(result: CardResult) -> None:
    """The portal logins of the card stories, once the history is billed: a declined card, and
    self-service customers on a free trial (who add a card to go paid)."""
    from models import CustomerStatus

    card = PaymentMethodCode.CARD.value
    failed = db.select(Invoice.customer_id).where(
        Invoice.payment_method == card, Invoice.state == InvoiceState.PAYMENT_FAILED.value
    )
    result.declined_logins = contact_logins(
        Customer.id.in_(failed), Customer.marked_for_deletion_at.is_(None)
    )
    result.trial_logins = contact_logins(
        Customer.service_mode == ServiceMode.SELF_SERVICE.value,
        Customer.status == CustomerStatus.ACTIVE.value,
        Customer.payment_method == PaymentMethodCode.FREE.value,
    )


def charged_at_stripe() -> int:
    """Card payments taken at Stripe (recorded history has no PaymentIntent)."""
    from models import AttemptState, PaymentAttempt

    return db.session.scalar(
        db.select(func.count())
        .select_from(PaymentAttempt)
        .where(
            PaymentAttempt.state == AttemptState.SUCCEEDED.value,
            PaymentAttempt.payment_intent_id.is_not(None),
        )
    )
