"""One product name everywhere, configurable (issue 16): the admin, the portal, every e-mail and
the invoice PDF say the same name, and German e-mails sign with it, never "Your MSP GmbH"."""

from __future__ import annotations

import pytest

from billing.kernel.audit import SYSTEM
from billing.kernel.mail import TEMPLATES, compose
from tests.conftest import _build, _sqlite_url, make_staff, sign_in

NAME = "Acme Secure Scan"


@pytest.fixture
def named_app(sqlite_template, tmp_path, clock):
    app, ctx, db = _build(_sqlite_url(sqlite_template, tmp_path), clock, PRODUCT_NAME=NAME)
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()


def test_the_admin_and_the_portal_carry_the_configured_name(named_app):
    make_staff(named_app, "admin")
    client = named_app.test_client()
    sign_in(client, "admin@staff.example")
    for language in ("en", "de"):
        admin = client.get("/admin/", headers={"Accept-Language": language}).get_data(as_text=True)
        assert NAME in admin and "MSP Billing" not in admin and "MSP-Abrechnung" not in admin
        portal = (
            named_app.test_client()
            .get("/portal/login", headers={"Accept-Language": language})
            .get_data(as_text=True)
        )
        assert f"· {NAME}</title>" in portal and "MSP Billing" not in portal


def test_every_email_names_the_product_in_both_languages(named_app):
    clock = named_app.config["CLOCK"]
    with named_app.test_request_context():
        for template in TEMPLATES:
            for language in ("en", "de"):
                message = compose(
                    template,
                    "ann@acme.example",
                    language,
                    clock,
                    name="Ann",
                    company="ACME",
                    email="ann@acme.example",
                    link="https://x/t",
                    expires="1 January 2027",
                    subject="Hello",
                    message="Text",
                    number="2026-000001",
                    seller=NAME,
                )
                body = message.text + message.html
                assert "MSP Billing" not in body and "Your MSP" not in body, (template, language)
                if template not in ("staff_message", "invoice", "payment_failed"):
                    assert NAME in message.subject + body, (template, language)


def test_a_german_invoice_mail_signs_with_the_seller_or_the_product(named_app):
    from billing.invoicing.invoice_pdf import seller_details
    from billing.kernel.site import Site

    site = Site.of(named_app.config)
    with named_app.test_request_context():
        assert seller_details(site)["name"] == NAME  # nothing saved yet
        from billing.invoicing.invoice_settings import save_invoice_settings

        save_invoice_settings(
            "Muster MSP GmbH",
            "Ring 1\n10115 Berlin",
            "",
            "1.00",
            "DE",
            SYSTEM,
            named_app.config["CLOCK"],
        )
        assert seller_details(site)["name"] == "Muster MSP GmbH"


def test_dates_in_emails_follow_the_recipients_language(named_app):
    from datetime import UTC, date, datetime

    clock = named_app.config["CLOCK"]
    expires = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 1 January 2027, 00:30 in Berlin
    with named_app.test_request_context(headers={"Accept-Language": "en"}):
        german = compose(
            "invite", "a@b.example", "de", clock, name="A", company="B", link="x", expires=expires
        )
        english = compose(
            "invite", "a@b.example", "en", clock, name="A", company="B", link="x", expires=expires
        )
        ends = compose(
            "project_key_expiring",
            "a@b.example",
            "de",
            clock,
            company="B",
            key="K",
            ips=5,
            ends=date(2027, 1, 1),
        )
    assert "01.01.2027, 00:30" in german.text
    assert "Jan 1, 2027, 12:30" in english.text
    assert "1. Januar 2027" in ends.subject and "2027-01-01" not in ends.text
