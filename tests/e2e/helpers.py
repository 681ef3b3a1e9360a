"""What a staff member does in the browser: sign in, add list filters, search, read the table."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

CUSTOMERS = "/admin/customer/"


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/admin/login/")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    with page.expect_navigation():
        page.locator("form:has(#password) button[type=submit]").click()


def portal_sign_in(page: Page, email: str, password: str) -> None:
    """What a customer does on the portal's sign-in page."""
    page.goto("/portal/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    with page.expect_navigation():
        page.locator("#portal-login-form button[type=submit]").click()


def enter_test_card(page: Page) -> None:
    """Type Stripe's test Visa into the payment page's card form (localstripe's Stripe.js
    fields) and submit it."""
    card = page.locator("#card-element")
    card.locator("input[placeholder=number]").fill("4242424242424242")
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("30")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("20095")
    page.locator("#card-form button[type=submit]").click()


def exactly(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def add_filter(page: Page, filter_name: str, option: str) -> None:
    """Open "Add Filter", pick ``filter_name`` and choose ``option`` in its select2 value box.

    Works in any UI language: the menu is found by its structure, the filter and the option by
    their visible (translated) labels.
    """
    # the menu opens once the page's scripts have run: on a busy machine a click right after
    # the page's text appeared went to a menu without them and left it closed
    page.wait_for_load_state()
    page.locator("li.dropdown:has(.field-filters) > a.dropdown-toggle").click()
    page.locator(".field-filters a.filter").filter(has_text=exactly(filter_name)).click()
    row = page.locator("#filter_form table.filters tr").filter(
        has=page.locator("a.remove-filter", has_text=filter_name)
    )
    row.locator(".select2-container.filter-val .select2-choice").click()
    page.locator("#select2-drop .select2-result-label").filter(has_text=exactly(option)).click()
    expect(row.locator(".select2-container.filter-val .select2-chosen")).to_have_text(option)


def apply_filters(page: Page, *expected_args: str) -> None:
    """Press Apply and wait for the list whose URL carries every ``expected_args`` pair."""
    page.locator("#filter_form button[type=submit]").click()
    for arg in expected_args:
        page.wait_for_url(re.compile(re.escape(arg)))
    page.wait_for_load_state()


def search(page: Page, text: str) -> None:
    box = page.locator("form[role=search] input[name=search]")
    box.fill(text)
    box.press("Enter")
    page.wait_for_url(re.compile(r"[?&]search="))
    page.wait_for_load_state()


def header_labels(page: Page) -> list[str]:
    return [
        text.strip()
        for text in page.locator("table.model-list thead th.column-header").all_inner_texts()
    ]


def table_rows(page: Page) -> list[dict]:
    """Every list row as the staff member sees it, read in one round trip."""
    return page.locator("table.model-list tbody tr").evaluate_all(
        """rows => rows.filter(r => r.querySelector('td.col-company_name')).map(r => {
            const cell = name => r.querySelector('td.col-' + name);
            const text = name => cell(name).innerText.trim();
            const badge = cell('status').querySelector('.msp-status');
            return {
                company: cell('company_name').querySelector('strong')?.innerText.trim(),
                email: cell('company_name').querySelector('small')?.innerText.trim(),
                service_mode: text('service_mode'),
                status: badge ? badge.dataset.status : null,
                status_label: badge ? badge.innerText.trim() : null,
                status_title: badge ? badge.getAttribute('title') : null,
                status_icon: badge ? badge.querySelector('i.fa') !== null : false,
                internal_ips: text('internal_ips'),
                external_ips: text('external_ips'),
                payment_method: text('payment_method'),
                average_ip_price: text('average_ip_price'),
            };
        })"""
    )


def status_codes(page: Page) -> list[str]:
    return page.locator("table.model-list .msp-status").evaluate_all(
        "els => els.map(e => e.getAttribute('data-status'))"
    )
