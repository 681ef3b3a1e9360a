"""Every admin and portal page in Chromium under the Content-Security-Policy, with the XSS
payload corpus planted in every text field (SPEC §13; tests/security/corpus.py).

A crawl follows every GET link of the demo ``admin`` and of the payload customer's main user and
fails on any console error (Content-Security-Policy violations are reported there), uncaught
JavaScript error, failed request, JavaScript dialog (an injected ``alert``) or payload markup that
reached the HTML unescaped. The pages' scripts are then exercised under the policy: the IP
distribution slider and its price preview, the list filters and search with payloads, the menus,
the portal's subscription preview and the Stripe card form (localstripe's Stripe.js).
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import CUSTOMERS, add_filter, apply_filters, enter_test_card, search
from tests.security import corpus
from tests.security.crawl import crawl, watch

# the security server (tests/security/conftest.py) is built once per test process: its browser
# tests (here and in test_csp_report.py) go to one worker
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("security_server")]


@pytest.fixture
def admin_page(page, admin_cookies) -> Page:
    page.context.add_cookies(admin_cookies)
    return page


@pytest.fixture
def customer_page(page, customer_cookies) -> Page:
    page.context.add_cookies(customer_cookies)
    return page


def assert_clean(result) -> None:
    report = "\n".join(
        f"{url}:\n  " + "\n  ".join(problems) for url, problems in result.problems.items()
    )
    assert not result.problems, f"problems on {len(result.problems)} page(s):\n{report}"


def test_admin_pages_run_under_the_policy_and_render_payloads_inert(admin_page, planted):
    """SPEC §13: every admin page (lists, details, forms, the customer's tabs, settings) loads
    with no CSP violation, JS error or dialog, with the payload customer among the data."""
    seen = watch(admin_page)
    details = f"/admin/customer/details/?id={planted.customer_id}"
    search_url = f"{CUSTOMERS}?search={quote_plus(corpus.SCRIPT)}"
    result = crawl(
        admin_page,
        seen,
        ["/admin/", details, search_url, f"{CUSTOMERS}?{planted.view_query}"],
        ("/admin",),
        limit=150,
    )
    assert len(result.visited) > 40, result.visited
    assert details in result.visited
    assert_clean(result)


def test_portal_pages_run_under_the_policy_and_render_payloads_inert(customer_page):
    """SPEC §10, §13: the payload customer's portal pages (home, profile, team, subscription,
    payment with Stripe.js, invoices) load with no CSP violation, JS error or dialog."""
    seen = watch(customer_page)
    result = crawl(customer_page, seen, ["/portal/"], ("/portal",), limit=60)
    for path in ("/portal/subscription", "/portal/payment", "/portal/team", "/portal/invoices"):
        assert any(url.startswith(path) for url in result.visited), result.visited
    assert_clean(result)


def test_ip_distribution_slider_and_price_preview_work_under_the_policy(admin_page, planted):
    """SPEC §4, §13: the slider keeps the boxes in sync and the preview is fetched (connect-src
    'self'), with no violation."""
    seen = watch(admin_page)
    admin_page.goto(f"/admin/customer/{planted.customer_id}/ip-distribution/")
    expect(admin_page.locator("#total_ips")).to_have_value("10")
    slide(admin_page, 3)
    expect(admin_page.locator("#internal_ips")).to_have_value("3")
    expect(admin_page.locator("#external_ips")).to_have_value("7")
    expect(admin_page.locator('[data-preview="note"]')).to_have_text("Applies immediately.")
    admin_page.locator("#total_ips").fill("20")
    expect(admin_page.locator("#external_ips")).to_have_value("17")
    expect(admin_page.locator("#instantly-group")).to_be_visible()
    expect(admin_page.locator('[data-preview="note"]')).to_have_text(
        "Scheduled for the 1st of next month."
    )
    expect(admin_page.locator('[data-preview="new_price"]')).to_have_text(re.compile(r"\d"))
    assert seen.take() == []


def slide(page: Page, value: int) -> None:
    """Drag the IP split slider to ``value`` (a range input has no text to type)."""
    page.locator("#split").evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }",
        value,
    )


def test_filters_search_and_menus_work_with_payloads(admin_page, planted):
    """SPEC §3, §13: a payload as filter value (select2) and in the search box finds the
    payload customer, whose name shows as literal text; the list's menus open; no dialog."""
    seen = watch(admin_page)
    admin_page.goto(CUSTOMERS)
    add_filter(admin_page, "Tag", corpus.TAG)
    apply_filters(admin_page, "_tag_equals=")
    company = admin_page.locator("table.model-list td.col-company_name strong")
    expect(company).to_have_text([corpus.COMPANY])
    search(admin_page, corpus.SCRIPT)
    expect(company).to_have_text([corpus.COMPANY])
    expect(admin_page.locator("form[role=search] input[name=search]")).to_have_value(corpus.SCRIPT)
    admin_page.locator(f'[data-row-menu="{planted.customer_id}"]').click()
    expect(admin_page.locator('.dropdown-menu.show [data-action="details"]')).to_be_visible()
    admin_page.locator("#saved-views > a.dropdown-toggle").click()
    view = admin_page.locator("#saved-views .dropdown-menu.show a[data-saved-view]")
    expect(view.filter(has_text=corpus.VIEW_NAME)).to_be_visible()
    admin_page.goto(f"/admin/customer/details/?id={planted.customer_id}")
    body = admin_page.locator("body")
    for text in (corpus.COMPANY, corpus.CITY, corpus.LEDGER, corpus.MAIL_SUBJECT, corpus.GROUP):
        expect(body).to_contain_text(text)
    assert seen.take() == []


def test_portal_card_form_and_subscription_preview_work_under_the_policy(customer_page):
    """SPEC §6, §10, §13: Stripe.js (localstripe's, allowed on the payment page only) saves a
    card; the subscription page's price preview follows the boxes; no violation, no dialog."""
    seen = watch(customer_page)
    customer_page.goto("/portal/payment")
    enter_test_card(customer_page)
    expect(customer_page.locator(".alert-success")).to_contain_text("ending in 4242 is saved")
    customer_page.goto("/portal/subscription")
    slide(customer_page, 4)
    expect(customer_page.locator("#external_ips")).to_have_value("6")
    expect(customer_page.locator('[data-preview="note"]')).to_have_text("Applies immediately.")
    customer_page.locator("#total_ips").fill("30")
    expect(customer_page.locator('[data-preview="new_price"]')).to_have_text(re.compile(r"\d"))
    assert seen.take() == []
