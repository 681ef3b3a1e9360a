"""The IP Distribution form in Chromium for the demo customer with additional subscriptions
(issue 16): it names the main subscription it changes and the additional ones it leaves alone,
the new monthly price follows the typing in the staff member's language, and without JavaScript
"Show price effect" asks the server. The form in English and German is kept as
docs/screenshots/ip-distribution-{en,de}.png. Nothing is saved (the live server is shared)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.numbers import format_currency
from playwright.sync_api import Page, expect

from billing.subscriptions.distribution import preview, target
from models import ServiceState, ServiceSubscription, db

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
RAISE_BY = 20
WORDS = {
    "en": {
        "heading": "This form changes the main subscription",
        "counts": "{internal} internal + {external} external IPs",
        "additional": "{name}: {internal} internal + {external} external IPs",
        "payment": {"card": "Credit card", "invoice": "Invoice"},
        "effective": "December 1, 2026",
        "note": "Scheduled for the 1st of next month.",
    },
    "de": {
        "heading": "Dieses Formular ändert das Hauptabonnement",
        "counts": "{internal} interne + {external} externe IPs",
        "additional": "{name}: {internal} interne + {external} externe IPs",
        "payment": {"card": "Kreditkarte", "invoice": "Rechnung"},
        "effective": "1. Dezember 2026",
        "note": "Geplant für den 1. des nächsten Monats.",
    },
}


def _facts(live_server):
    """The demo customer with an active additional subscription: its id, ``target`` and the
    preview of raising its main subscription by ``RAISE_BY`` external IPs."""
    with live_server.app.app_context():
        customer_id = db.session.scalar(
            db.select(ServiceSubscription.customer_id)
            .where(ServiceSubscription.state == ServiceState.ACTIVE.value)
            .limit(1)
        )
        facts = target(customer_id)
        main = facts.subscription
        plan = preview(
            customer_id, main.internal_ips, main.external_ips + RAISE_BY, False, live_server.clock
        )
        db.session.remove()
    return customer_id, facts, plan


def _german(page: Page) -> None:
    with page.expect_navigation():
        page.locator("nav").get_by_role("button", name="DE", exact=True).click()


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_form_names_what_it_changes_and_prices_as_you_type(staff_page, live_server, language):
    page = staff_page
    customer_id, facts, plan = _facts(live_server)
    words = WORDS[language]
    url = f"/admin/customer/{customer_id}/ip-distribution/"
    page.goto(url)
    if language == "de":
        _german(page)
        expect(page).to_have_url(re.compile(re.escape(url) + "$"))
    main = facts.subscription
    form = page.locator("#distribution-target")
    expect(form.locator("h2")).to_have_text(words["heading"])
    expect(page.locator("#main-counts")).to_have_text(
        words["counts"].format(internal=main.internal_ips, external=main.external_ips)
    )
    (other,) = facts.additional
    expect(page.locator("#additional-subscriptions")).to_have_text(
        words["additional"].format(
            name=other.name, internal=other.internal_ips, external=other.external_ips
        )
    )
    expect(page.locator("#payment-method")).to_have_text(words["payment"][facts.payment_method])
    current = format_currency(facts.current_price, "EUR", locale=language)
    expect(page.locator("#current-price")).to_have_text(current)
    expect(page.locator('[data-preview="current_price"]')).to_have_text(current)
    expect(page.locator("#preview-button")).to_be_hidden()  # the script previews live

    page.locator("#total_ips").fill(str(main.total_ips + RAISE_BY))
    expect(page.locator("#external_ips")).to_have_value(str(main.external_ips + RAISE_BY))
    expect(page.locator('[data-preview="new_price"]')).to_have_text(
        format_currency(plan.new_price, "EUR", locale=language)
    )
    expect(page.locator('[data-preview="effective_date"]')).to_have_text(words["effective"])
    expect(page.locator('[data-preview="note"]')).to_have_text(words["note"])
    page.mouse.move(0, 0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"ip-distribution-{language}.png"), full_page=True)


def test_without_javascript_the_server_shows_the_price_effect(browser, live_server, admin_cookies):
    customer_id, facts, plan = _facts(live_server)
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", java_script_enabled=False
    )
    try:
        context.add_cookies(admin_cookies)
        page = context.new_page()
        page.goto(f"/admin/customer/{customer_id}/ip-distribution/")
        main = facts.subscription
        page.locator("#total_ips").fill(str(main.total_ips + RAISE_BY))
        page.locator("#internal_ips").fill(str(main.internal_ips))
        page.locator("#external_ips").fill(str(main.external_ips + RAISE_BY))
        with page.expect_navigation():
            page.locator("#preview-button").click()
        expect(page.locator("#preview-note")).to_be_visible()
        expect(page.locator('[data-preview="new_price"]')).to_have_text(
            format_currency(plan.new_price, "EUR", locale="en")
        )
        expect(page.locator('[data-preview="effective_date"]')).to_have_text("December 1, 2026")
        expect(page.locator("#total_ips")).to_have_value(str(main.total_ips + RAISE_BY))
    finally:
        context.close()
    with live_server.app.app_context():
        assert target(customer_id).pending is None  # nothing was saved
        db.session.remove()
