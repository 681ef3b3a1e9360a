"""The portal's start page in Chromium (SPEC §6 failed payments are visible, §10), on the demo
with card payment at the suite's localstripe, as `make run` seeds it: the customer whose card
was declined (Nordlicht Hotels GmbH) signs in, finds the failed payment at the top of the start
page and follows "Update card and retry" to the payment page. The page in English and German
has no serious accessibility violation and is kept as
docs/screenshots/portal-overview-{en,de}.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.numbers import format_currency
from playwright.sync_api import Page, expect

from billing.kernel.clock import FixedClock
from models import Customer, Invoice, InvoiceState, db
from seed.demo import CUSTOMER_PASSWORD
from seed.demo_cards import DECLINED_CARD_CUSTOMER, DemoStripe
from tests.conftest import berlin
from tests.e2e.conftest import serving
from tests.e2e.helpers import portal_sign_in
from tests.e2e.test_accessibility import violations
from tests.support.demo import seeded_demo_app

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
STRIPE = DemoStripe("sk_test_msp_demo_local", "pk_test_msp_demo_local", "whsec_msp_demo_local")
LOCALES = {"en": "en", "de": "de_DE"}


@pytest.fixture(scope="module")
def live_server(sqlite_template, tmp_path_factory, localstripe):
    """The demo seeded with card payment at this process's localstripe (its cards live there),
    served in a thread; the ``page`` fixture opens its pages here."""
    clock = FixedClock(berlin(2026, 11, 15, 10, 0))
    path = tmp_path_factory.mktemp("portal-overview") / "demo.db"
    app = seeded_demo_app(
        sqlite_template, path, clock, stripe=STRIPE, STRIPE_API_BASE=localstripe.url
    )
    with serving(app, clock, "portal-overview") as server:
        yield server


def _declined(live_server) -> tuple[str, str, object]:
    """The declined customer's portal login, and the number and amount of its failed invoice."""
    with live_server.app.app_context():
        email, number, gross = db.session.execute(
            db.select(Customer.contact_email, Invoice.number, Invoice.gross)
            .join(Invoice, Invoice.customer_id == Customer.id)
            .where(
                Customer.company_name == DECLINED_CARD_CUSTOMER,
                Invoice.state == InvoiceState.PAYMENT_FAILED.value,
            )
        ).one()
        db.session.remove()
    return email, number, gross


def _in(page: Page, language: str) -> None:
    """Switch the portal to ``language`` with its EN / DE buttons (saved on the account)."""
    if page.locator("html").get_attribute("lang") != language:
        with page.expect_navigation():
            page.locator(f"#portal-language button[value={language}]").click()
    expect(page.locator("html")).to_have_attribute("lang", language)


def test_the_declined_card_payment_leads_to_the_payment_page(page, live_server):
    email, number, gross = _declined(live_server)
    portal_sign_in(page, email, CUSTOMER_PASSWORD)
    expect(page).to_have_url(re.compile(r"/portal/$"))
    _in(page, "en")
    alert = page.locator('#attention [data-attention="card_payment_failed"]')
    amount = format_currency(gross, "EUR", locale="en")
    expect(alert).to_contain_text(f"The card payment of invoice {number} ({amount}) failed.")
    # the first thing on the page after the greeting, above the account's cards
    assert alert.bounding_box()["y"] < page.locator("#overview-subscription").bounding_box()["y"]
    with page.expect_navigation():
        alert.get_by_role("link", name="Update card and retry").click()
    expect(page).to_have_url(re.compile(r"/portal/payment\?retry=1$"))
    expect(page.locator("h1")).to_have_text("Payment")
    expect(page.locator("#payment-failed-banner")).to_contain_text(f"invoice {number}")
    expect(page.locator("#card-form button[type=submit]")).to_have_text(
        "Save card and retry the payment"
    )


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_start_page_in_english_and_german(page, live_server, language):
    """The screenshots of docs/screenshots/, and axe-core finds no serious violation."""
    email, number, gross = _declined(live_server)
    portal_sign_in(page, email, CUSTOMER_PASSWORD)
    _in(page, language)
    amount = format_currency(gross, "EUR", locale=LOCALES[language])
    expect(page.locator("#attention")).to_contain_text(f"{number} ({amount})")
    expect(page.locator("#overview-invoices [data-figure=open_total]")).to_have_text(amount)
    expect(page.locator("#overview-payment [data-figure=card]")).to_contain_text("0341")
    assert violations(page) == []
    page.mouse.move(0, 0)
    page.set_viewport_size({"width": 1280, "height": 640})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"portal-overview-{language}.png"), full_page=True)
