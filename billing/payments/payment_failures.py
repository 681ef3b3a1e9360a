"""Why a card payment failed, in words staff and customers read (SPEC §6, §14).

A payment attempt that failed, or whose outcome is unknown because Stripe could not be reached,
stores a reason code in ``PaymentAttempt.error`` (as the e-mail log does for a message it could
not deliver), never exception text: ``describe`` turns the code into a sentence in the reader's
language when it is shown. Stripe's refusals are told apart by the error's ``code`` and
``decline_code``; the technical detail of an unreachable Stripe goes to the log.

Attempts stored before the codes hold text: a sentence of the product's or Stripe's, shown
translated where the catalogue has it, or the name of a Python exception, which reads as
"Stripe could not be reached" and nothing more.
"""

from __future__ import annotations

import re

from billing.kernel.i18n import _, lazy_gettext
from models import AttemptState

NO_CARD = "no_card"
AUTHENTICATION_REQUIRED = "authentication_required"
CARD_DECLINED = "card_declined"
UNREACHABLE = "unreachable"
UNKNOWN = "unknown"

REASONS = {
    NO_CARD: lazy_gettext("No card is saved for this customer."),
    AUTHENTICATION_REQUIRED: lazy_gettext(
        "The card's bank asks the cardholder to confirm this payment (3-D Secure), "
        "which an automatic charge cannot do."
    ),
    CARD_DECLINED: lazy_gettext("The card was declined."),
    "insufficient_funds": lazy_gettext("The card was declined: insufficient funds."),
    "expired_card": lazy_gettext("The card has expired."),
    "lost_or_stolen": lazy_gettext("The card was declined: it is reported lost or stolen."),
    "processing_error": lazy_gettext(
        "The card's bank could not process the payment; it can be tried again."
    ),
    UNREACHABLE: lazy_gettext("Stripe could not be reached; the charge will be retried."),
    UNKNOWN: lazy_gettext("The card payment failed."),
}
# Stripe's error codes and decline codes (https://docs.stripe.com/declines/codes) -> ours
STRIPE_CODES = {
    "card_declined": CARD_DECLINED,
    "generic_decline": CARD_DECLINED,
    "do_not_honor": CARD_DECLINED,
    "insufficient_funds": "insufficient_funds",
    "expired_card": "expired_card",
    "lost_card": "lost_or_stolen",
    "stolen_card": "lost_or_stolen",
    "processing_error": "processing_error",
    "authentication_required": AUTHENTICATION_REQUIRED,
}
# what an attempt stored before the codes holds when Stripe was not reached
EXCEPTION_TEXT = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b")


def stripe_reason(details: dict | None) -> str:
    """The reason code for Stripe's description of a refused payment (an error object or a
    PaymentIntent's ``last_payment_error``, with ``code`` and ``decline_code``): the decline
    code where we know it, else the error code, else a plain decline."""
    details = details if isinstance(details, dict) else {}
    for code in (details.get("decline_code"), details.get("code")):
        if code in STRIPE_CODES:
            return STRIPE_CODES[code]
    return CARD_DECLINED


def describe(reason: str, failed: bool = True) -> str:
    """The sentence for an attempt's stored ``reason`` in the reader's language; for a
    ``failed`` attempt without one (a refusal Stripe reported by webhook), that the payment
    failed; "" for an attempt that did not fail and has nothing to say."""
    if not reason:
        return str(REASONS[UNKNOWN]) if failed else ""
    if reason in REASONS:
        return str(REASONS[reason])
    if EXCEPTION_TEXT.match(reason):
        return str(REASONS[UNREACHABLE])
    return _(reason)


def attempt_reason(state: str, error: str) -> str:
    """What a payment attempt in ``state`` with stored ``error`` has to say: why it failed, or
    why it still waits; nothing once the card was charged."""
    if state in (AttemptState.SUCCEEDED.value, AttemptState.REFUNDED.value):
        return ""
    return describe(error, state == AttemptState.FAILED.value)
