"""Lists that keep their place, in Chromium (issue 16): an action from the row menu or from the
customer overview ends on the same list page (filters, sort, page) with the changed row
highlighted and scrolled into view; the list says how many customers match; invoice and billing
run states are coloured badges whose words are readable (WCAG AA contrast) in both languages.
The list in English and German is kept as docs/screenshots/customer-list-{en,de}.png."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import Page, expect

from models import Customer, db

pytestmark = pytest.mark.browser

PAGE_SIZE = 25
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# the WCAG contrast ratio of a badge's text on its background, computed from the page's styles
CONTRAST = """(element) => {
    const channels = (colour) => colour.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const luminance = (colour) => {
        const [r, g, b] = channels(colour).map((v) => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const style = getComputedStyle(element);
    const [light, dark] = [luminance(style.color), luminance(style.backgroundColor)].sort(
        (a, b) => b - a
    );
    return (light + 0.05) / (dark + 0.05);
}"""


def managed_customers(live_server) -> list[tuple[int, str]]:
    """The managed customers the list shows, sorted by name, last first."""
    with live_server.app.app_context():
        return db.session.execute(
            db.select(Customer.id, Customer.company_name)
            .where(Customer.service_mode == "managed", Customer.erased_at.is_(None))
            .order_by(Customer.company_name.desc())
        ).all()


def arguments(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def row_action(page: Page, customer_id: int, action: str) -> None:
    """Open the row menu of ``customer_id`` and run ``action``, accepting its confirmation."""
    page.locator(f'[data-row-menu="{customer_id}"]').click()
    menu = page.locator(f'td:has([data-row-menu="{customer_id}"]) .dropdown-menu')
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        menu.locator(f'[data-action="{action}"]').click()


def test_a_row_action_ends_on_the_same_list_page_with_the_row_in_view(staff_page, live_server):
    page = staff_page
    managed = managed_customers(live_server)
    index = min(PAGE_SIZE + 3, len(managed) - 1)
    customer_id, company = managed[index]
    listing = f"/admin/customer/?flt0_service_mode_equals=managed&sort=0&desc=1&page={index // 25}"
    page.goto(listing)
    expect(page.locator("#list-count")).to_have_text(f"{len(managed)} customers")
    expect(page.locator("tr.msp-highlight")).to_have_count(0)

    row_action(page, customer_id, "lock")
    assert arguments(page.url) == {**arguments(listing), "highlight": str(customer_id)}
    expect(page.locator(".alert-success")).to_contain_text("The account is locked")
    marked = page.locator("tr.msp-highlight")
    expect(marked).to_have_count(1)
    expect(marked).to_have_attribute("aria-current", "true")
    expect(marked.locator("a.msp-company")).to_have_text(company)
    expect(marked.locator("[data-status]")).to_have_attribute("data-status", "locked")
    expect(marked).to_be_in_viewport()
    colour = marked.locator("td.col-company_name").evaluate(
        "(cell) => getComputedStyle(cell).backgroundColor"
    )
    assert colour == "rgb(255, 243, 205)", colour

    # and back: the list page is the same one again
    row_action(page, customer_id, "unlock")
    assert arguments(page.url) == {**arguments(listing), "highlight": str(customer_id)}
    expect(page.locator("tr.msp-highlight [data-status]")).to_have_attribute(
        "data-status", "active"
    )


def test_the_overview_carries_the_name_and_leads_back_to_the_list(staff_page, live_server):
    page = staff_page
    customer_id, company = managed_customers(live_server)[2]
    listing = "/admin/customer/?flt0_service_mode_equals=managed&sort=0&desc=1"
    page.goto(listing)
    with page.expect_navigation():
        page.locator("a.msp-company", has_text=company).click()
    expect(page).to_have_title(re.compile(rf"^{re.escape(company)} · Customers"))
    expect(page.locator("#customer-name")).to_have_text(company)

    # an action of the header with a page of its own: Cancel ends on the list page
    with page.expect_navigation():
        page.locator("#customer-actions [data-action=ip_distribution]").click()
    expect(page).to_have_title(re.compile(rf"^{re.escape(company)} · Customers"))
    with page.expect_navigation():
        page.get_by_role("link", name="Cancel").click()
    assert arguments(page.url) == {**arguments(listing), "highlight": str(customer_id)}
    expect(page.locator("tr.msp-highlight a.msp-company")).to_have_text(company)

    # the overview's way back marks the customer too
    with page.expect_navigation():
        page.locator("a.msp-company", has_text=company).click()
    with page.expect_navigation():
        page.locator("#back-to-list").click()
    assert arguments(page.url) == {**arguments(listing), "highlight": str(customer_id)}


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", {"paid": "Paid", "done": "Done"}), ("de", {"paid": "Bezahlt", "done": "Fertig"})],
)
def test_invoice_and_run_states_are_readable_badges(staff_page, language, words):
    page = staff_page
    page.goto("/admin/invoice/")
    if language == "de":
        with page.expect_navigation():
            page.locator("nav").get_by_role("button", name="DE", exact=True).click()
    badges = page.locator("td.col-state .msp-badge")
    expect(badges.first).to_be_visible()
    states = set(badges.evaluate_all("(all) => all.map((b) => b.dataset.state)"))
    assert {"paid", "finalized"} <= states, states
    expect(page.locator('td.col-state .msp-badge[data-state="paid"]').first).to_have_text(
        words["paid"]
    )
    for badge in page.locator("td.col-state .msp-badge, td.col-status .msp-status").all():
        assert badge.evaluate(CONTRAST) >= 4.5, badge.evaluate("(b) => b.outerHTML")

    page.goto("/admin/billing_run/")
    runs = page.locator("td.col-state .msp-badge")
    expect(runs.first).to_be_visible()
    expect(page.locator('td.col-state .msp-badge[data-state="done"]').first).to_have_text(
        words["done"]
    )
    for badge in runs.all():
        assert badge.evaluate(CONTRAST) >= 4.5, badge.evaluate("(b) => b.outerHTML")

    page.goto("/admin/customer/")
    for badge in page.locator("td.col-status .msp-status").all():
        assert badge.evaluate(CONTRAST) >= 4.5, badge.evaluate("(b) => b.outerHTML")


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_list_in_english_and_german(staff_page, live_server, language):
    """The screenshots of docs/screenshots/: a list page with a highlighted row and its count."""
    page = staff_page
    managed = managed_customers(live_server)
    customer_id, company = managed[3]
    page.goto(
        f"/admin/customer/?flt0_service_mode_equals=managed&sort=0&desc=1&highlight={customer_id}"
    )
    count = f"{len(managed)} customers"
    if language == "de":
        with page.expect_navigation():
            page.locator("nav").get_by_role("button", name="DE", exact=True).click()
        count = f"{len(managed)} Kunden"
    expect(page.locator("#list-count")).to_have_text(count)
    expect(page.locator("tr.msp-highlight a.msp-company")).to_have_text(company)
    page.mouse.move(0, 0)
    page.set_viewport_size({"width": 1280, "height": 720})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"customer-list-{language}.png"))
