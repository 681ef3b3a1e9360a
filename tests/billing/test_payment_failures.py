"""Why a card payment failed, told in words (SPEC §6, §14): a stored reason code reads as a
sentence in the reader's language; attempts stored before the codes never show exception text."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from billing.payments.payment_failures import attempt_reason, describe, stripe_reason


@pytest.mark.parametrize(
    ("details", "reason"),
    [
        ({"code": "card_declined", "decline_code": "insufficient_funds"}, "insufficient_funds"),
        ({"code": "card_declined", "decline_code": "stolen_card"}, "lost_or_stolen"),
        ({"code": "expired_card"}, "expired_card"),
        ({"code": "card_declined", "decline_code": "something_new"}, "card_declined"),
        ({"code": "authentication_required"}, "authentication_required"),
        ({}, "card_declined"),
        (None, "card_declined"),
    ],
)
def test_stripes_codes_become_our_reasons(details, reason):
    assert stripe_reason(details) == reason


@pytest.mark.parametrize(
    ("language", "stored", "shown"),
    [
        ("en", "card_declined", "The card was declined."),
        ("de", "card_declined", "Die Karte wurde abgelehnt."),
        ("de", "insufficient_funds", "Die Karte wurde abgelehnt: keine ausreichende Deckung."),
        ("en", "unreachable", "Stripe could not be reached; the charge will be retried."),
        # stored before the codes: exception text, Stripe's sentence, the product's sentence
        (
            "en",
            "APIConnectionError: Unexpected error communicating with Stripe.",
            "Stripe could not be reached; the charge will be retried.",
        ),
        ("de", "Your card was declined.", "Ihre Karte wurde abgelehnt."),
        ("en", "Your card has insufficient funds.", "Your card has insufficient funds."),
        (
            "de",
            "No card is saved for this customer.",
            "Für diesen Kunden ist keine Karte gespeichert.",
        ),
    ],
)
def test_a_stored_reason_reads_as_a_sentence(app, language, stored, shown):
    with app.test_request_context(), force_locale(language):
        assert describe(stored) == shown


def test_what_an_attempt_has_to_say(app):
    with app.test_request_context():
        assert attempt_reason("failed", "") == "The card payment failed."
        assert attempt_reason("pending", "") == ""
        assert attempt_reason("pending", "unreachable").startswith("Stripe could not be reached")
        assert attempt_reason("succeeded", "unreachable") == ""
        assert attempt_reason("refunded", "") == ""
