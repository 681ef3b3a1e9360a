"""Every e-mail greets and signs like a letter from the MSP (issue 16: "one product name
everywhere, configurable; e-mail signatures from settings, not 'Your MSP GmbH' in German
mails"). In English and in German, each e-mail the product sends (tests/i18n/emails.py composes
every template by the function that sends it) opens with the recipient's name, or a neutral
greeting where the product knows none, never an e-mail address, and closes with the one shared
signature: the seller's name saved under Settings → Invoices, else the product's name."""

from __future__ import annotations

import re
from html import escape

import pytest

from billing.invoicing.invoice_settings import load_invoice_settings, save_invoice_settings
from billing.kernel.audit import SYSTEM
from billing.kernel.mail import TEMPLATES, compose
from models import EmailLog, db
from tests.i18n.emails import deliver_all, every_email

# the name staff save under Settings → Invoices in the test; the ampersand must reach the HTML
# part escaped and the text part as typed
SELLER = "Nordwind & Söhne Sicherheit GmbH"
WORDS = {"en": ("Hello", "Kind regards"), "de": ("Guten Tag", "Mit freundlichen Grüßen")}
HARD_CODED = ("Your MSP", "Ihr MSP", "MSP GmbH")


def _save_seller(app, name: str) -> None:
    """Settings → Invoices with another company name, the rest as saved."""
    current = load_invoice_settings()
    save_invoice_settings(
        name,
        current.seller_address or "Ring 1\n10115 Berlin",
        current.seller_vat_id,
        current.ip_purchase_price,
        app.config["HOME_COUNTRY"],
        SYSTEM,
        app.config["CLOCK"],
        iban=current.iban,
        bic=current.bic,
        bank_name=current.bank_name,
        account_holder=current.account_holder,
        payment_term_days=str(current.payment_term_days),
    )


def _html_greeting(html: str) -> str:
    match = re.search(r"<body[^>]*>\s*<p>(.*?)</p>", html, re.S)
    assert match, html
    return match.group(1)


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_email_greets_the_recipient_and_signs_with_the_configured_name(
    demo, demo_mail, language
):
    clock = demo.config["CLOCK"]
    demo_seller = load_invoice_settings().seller_name
    assert demo_seller and demo_seller != SELLER
    _save_seller(demo, SELLER)
    hello, regards = WORDS[language]
    greeting = re.compile(rf"{hello}( [^@\s][^@]*)?,")
    before = db.session.scalar(db.select(db.func.max(EmailLog.id)))
    for name, scenario in every_email(demo, language).items():
        first = len(demo_mail.messages)
        deliver_all(scenario(), clock)
        assert len(demo_mail.messages) > first, f"{name}: no e-mail"
        for _recipients, message in demo_mail.messages[first:]:
            where = f"{name} to {message['To']} ({language})"
            text = message.get_body(("plain",)).get_content()
            html = message.get_body(("html",)).get_content()
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            assert greeting.fullmatch(lines[0]), f"{where}: greets {lines[0]!r}"
            assert greeting.fullmatch(_html_greeting(html)), f"{where}: {_html_greeting(html)!r}"
            assert lines[-2:] == [regards, SELLER], f"{where}: signs {lines[-2:]}"
            assert f"<p>{regards}<br>{escape(SELLER)}</p>" in html, where
            for part in (message["Subject"], text, html):
                assert demo_seller not in part, f"{where}: still signs {demo_seller}"
                assert not any(words in part for words in HARD_CODED), where
    sent = db.session.execute(
        db.select(EmailLog.template, EmailLog.language).where(EmailLog.id > before)
    ).all()
    assert {template for template, _language in sent} == set(TEMPLATES)
    assert {language for _template, language in sent} == {language}


def test_the_signature_is_the_product_name_until_a_seller_is_saved(app):
    """A fresh installation signs with ``PRODUCT_NAME``; saving the company name under
    Settings → Invoices changes the signature of the next e-mail, in either language."""
    clock = app.config["CLOCK"]
    with app.test_request_context():
        fresh = compose("test", "ops@msp.example", "de", clock, sender="admin@msp")
        assert fresh.text.splitlines()[-2:] == ["Mit freundlichen Grüßen", "MSP Billing"]
        _save_seller(app, SELLER)
        for language, (_hello, regards) in WORDS.items():
            signed = compose("test", "ops@msp.example", language, clock, sender="admin@msp")
            assert signed.text.splitlines()[-2:] == [regards, SELLER]
            assert signed.text.splitlines()[0] == WORDS[language][0] + ","
