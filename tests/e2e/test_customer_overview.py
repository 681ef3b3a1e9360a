"""The customer overview in Chromium (issue 16): the company's name is the first thing on the
page, without scrolling; the header's actions are the row menu's and run with their
confirmation; the sections are tabs an address can open; and the page in English and German
is kept as docs/screenshots/customer-overview-{en,de}.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from models import Customer, Invoice, db

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _demo_customer(live_server) -> tuple[int, str]:
    """An active, managed, English-speaking demo customer with invoices: the last by name, so
    the tests that take the first active one never meet it while it is locked here."""
    with live_server.app.app_context():
        return db.session.execute(
            db.select(Customer.id, Customer.company_name)
            .where(
                Customer.status == "active",
                Customer.service_mode == "managed",
                Customer.language == "en",
                Customer.id.in_(db.select(Invoice.customer_id)),
            )
            .order_by(Customer.company_name.desc())
            .limit(1)
        ).one()


def _status(page: Page):
    return page.locator("#customer-header [data-status]")


def test_the_overview_puts_the_company_first_and_runs_a_header_action(staff_page, live_server):
    page = staff_page
    customer_id, company = _demo_customer(live_server)
    page.goto(f"/admin/customer/?search={company.split()[0]}")
    page.locator("table.model-list a.msp-company", has_text=company).click()
    # the overview knows the list page it was opened from (issue 16, lists keep their place)
    expect(page).to_have_url(
        re.compile(rf"/admin/customer/details/\?id={customer_id}&url=%2Fadmin%2Fcustomer%2F")
    )
    expect(page).to_have_title(re.compile(rf"^{re.escape(company)} · Customers"))

    name = page.locator("#customer-name")
    expect(name).to_have_text(company)
    expect(name).to_be_in_viewport()
    box = name.bounding_box()
    assert box is not None and box["y"] + box["height"] < 200, box
    assert page.evaluate("window.scrollY") == 0
    expect(_status(page)).to_have_attribute("data-status", "active")

    # the sections are tabs; an address with #invoices opens that one
    page.locator("#invoices-tab").click()
    expect(page.locator("#customer-invoices")).to_be_visible()
    expect(page).to_have_url(re.compile(r"#invoices$"))
    page.goto(f"/admin/customer/details/?id={customer_id}#payments")
    expect(page.locator("#card-payments")).to_be_visible()
    expect(page.locator("#customer-invoices")).to_be_hidden()

    # Lock from the header: a dismissed confirmation changes nothing, an accepted one locks
    questions: list[str] = []

    def dismiss(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.locator("#customer-actions [data-action=lock]").click()
    expect(_status(page)).to_have_attribute("data-status", "active")
    assert questions == [
        f"Lock the account of {company}? None of its users can sign in until it is unlocked; "
        "billing goes on."
    ]
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.locator("#customer-actions [data-action=lock]").click()
    expect(page.locator(".alert-success")).to_contain_text("The account is locked")
    expect(_status(page)).to_have_attribute("data-status", "locked")
    expect(page.locator("#customer-actions [data-action=lock]")).to_have_count(0)
    with page.expect_navigation():
        page.locator("#customer-actions [data-action=unlock]").click()
    expect(page.locator(".alert-success")).to_contain_text("The account is unlocked.")
    expect(_status(page)).to_have_attribute("data-status", "active")


def test_a_dialog_edits_the_tags_and_returns_to_the_profile(staff_page, live_server):
    page = staff_page
    customer_id, _company = _demo_customer(live_server)
    page.goto(f"/admin/customer/details/?id={customer_id}")
    before = page.locator("#customer-tags .badge").all_inner_texts()
    page.locator("#customer-settings [data-action=edit_tags]").click()
    dialog = page.locator("#tags-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#tags").fill(", ".join([*before, "Overview"]))
    with page.expect_navigation():
        dialog.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"#profile$"))
    expect(page.locator("#customer-tags")).to_contain_text("Overview")
    page.locator("#customer-settings [data-action=edit_tags]").click()
    page.locator("#tags-dialog #tags").fill(", ".join(before))
    with page.expect_navigation():
        page.locator("#tags-dialog").get_by_role("button", name="Save").click()
    expect(page.locator("#customer-tags .badge")).to_have_text(before)


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_overview_in_english_and_german(staff_page, live_server, language):
    """The screenshots of docs/screenshots/ (the Invoices tab, so its badges and amounts show)."""
    page = staff_page
    customer_id, company = _demo_customer(live_server)
    page.goto(f"/admin/customer/details/?id={customer_id}#invoices")
    if language == "de":
        with page.expect_navigation():
            page.locator("nav").get_by_role("button", name="DE", exact=True).click()
        expect(page.locator("#invoices-tab")).to_contain_text("Rechnungen und Gutschriften")
        page.locator("#invoices-tab").click()
        expect(page.locator("#customer-invoices")).to_contain_text("€")
        expect(page.locator("#customer-facts")).to_contain_text(",")
    expect(page.locator("#customer-name")).to_have_text(company)
    expect(page.locator("#customer-invoices")).to_be_visible()
    page.mouse.move(0, 0)
    page.set_viewport_size({"width": 1280, "height": 480})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"customer-overview-{language}.png"), full_page=True)
