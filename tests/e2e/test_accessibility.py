"""Accessibility (issue 16 "done when"): axe-core, from npm (package.json, installed by `make
install` with `npm ci`), runs in Chromium over the main staff pages (each tab of the customer
overview and its dialogs among them) and the portal's pages, in English and in German, and finds
no serious or critical violation. A failure names each rule, its help text and the elements it
found.

axe is evaluated through the DevTools protocol, so the pages' Content-Security-Policy (no
inline scripts) stays as it is. The demo's portal runs without Stripe keys here: its payment
page is the one that says card payment is not available (localstripe's stand-in card fields are
not Stripe's and would be measured instead of the product)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from models import Customer, Invoice, User, db
from seed.demo import CUSTOMER_PASSWORD
from tests.e2e.conftest import DEMO_ADMIN, TIMEOUT_MS
from tests.e2e.helpers import portal_sign_in, sign_in

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
FAILING = ("serious", "critical")
LOCALES = {"en": "en-US", "de": "de-DE"}
# no fading in: a dialog is measured in its colours, not half-way through its transition
REDUCED = {"reduced_motion": "reduce"}
OVERVIEW_TABS = ("profile", "users", "subscriptions", "invoices", "payments", "emails", "timeline")


def _axe_source() -> str:
    assert AXE.exists(), "axe-core is missing: run `make install` (it runs `npm ci`)"
    return AXE.read_text()


def violations(page: Page, context: str = "document") -> list[str]:
    """axe's serious and critical findings on ``page`` (within the CSS selector ``context``)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    found = page.evaluate(
        """async (context) => {
            const root = context === 'document' ? document : document.querySelector(context);
            const result = await axe.run(root, {resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(' ')),
            }));
        }""",
        context,
    )
    return [
        f"{item['id']} ({item['impact']}): {item['help']} — {', '.join(item['targets'][:6])}"
        for item in found
        if item["impact"] in FAILING
    ]


def _ids(live_server) -> dict:
    """A managed demo customer with invoices for the staff pages; a self-service customer's
    main user who may sign in for the portal."""
    with live_server.app.app_context():
        customer_id = db.session.scalar(
            db.select(Customer.id)
            .where(
                Customer.status == "active",
                Customer.service_mode == "managed",
                Customer.id.in_(db.select(Invoice.customer_id)),
            )
            .order_by(Customer.company_name)
            .limit(1)
        )
        invoice_id = db.session.scalar(
            db.select(Invoice.id).where(Invoice.customer_id == customer_id).limit(1)
        )
        portal_email = db.session.scalar(
            db.select(User.email)
            .join(Customer, Customer.id == User.customer_id)
            .where(
                User.is_main.is_(True),
                User.password_hash.is_not(None),
                Customer.status == "active",
                Customer.service_mode == "self_service",
            )
            .order_by(Customer.company_name)
            .limit(1)
        )
    return {"customer": customer_id, "invoice": invoice_id, "portal_email": portal_email}


def _open(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("load")
    expect(page.locator("body")).to_be_visible()


@pytest.mark.parametrize("language", ["en", "de"])
def test_staff_pages_have_no_serious_violations(browser, live_server, language):
    ids = _ids(live_server)
    context = browser.new_context(base_url=live_server.url, locale=LOCALES[language], **REDUCED)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        _open(page, "/admin/login/")
        found["sign-in"] = violations(page)
        sign_in(page, DEMO_ADMIN[0], DEMO_ADMIN[2])
        page.locator(f"button[name=language][value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)
        customer = ids["customer"]
        for name, url in (
            ("dashboard", "/admin/"),
            ("customer list", "/admin/customer/"),
            ("IP distribution", f"/admin/customer/{customer}/ip-distribution/"),
            ("invoice list", "/admin/invoice/"),
            ("invoice details", f"/admin/invoice/details/?id={ids['invoice']}"),
            ("billing runs", "/admin/billing_run/"),
            ("mail settings", "/admin/settings/mail/"),
            ("invoice settings", "/admin/settings/invoices/"),
            ("payment methods", "/admin/payment-methods/"),
            ("e-mail log", "/admin/email_log/"),
        ):
            _open(page, url)
            found[name] = violations(page)
        _open(page, f"/admin/customer/details/?id={customer}")
        for tab in OVERVIEW_TABS:
            page.locator(f"#{tab}-tab").click()
            expect(page.locator(f"#{tab}")).to_be_visible()
            found[f"customer overview, {tab}"] = violations(page)
            # the section's own edits open as dialogs
            for dialog in page.locator(f"#{tab} [data-toggle=modal]").evaluate_all(
                "buttons => [...new Set(buttons.map(b => b.dataset.target))]"
            ):
                page.locator(f"#{tab} [data-target='{dialog}']").first.click()
                expect(page.locator(dialog)).to_have_class(re.compile(r"\bshow\b"))
                found[f"customer overview, dialog {dialog}"] = violations(page, dialog)
                page.locator(f"{dialog} .modal-header [data-dismiss=modal]").click()
                expect(page.locator(dialog)).to_be_hidden()
        _open(page, "/admin/customer/")
        page.locator("[data-row-menu]").first.click()
        found["customer list, row menu"] = violations(page)
    finally:
        context.close()
    problems = {name: items for name, items in found.items() if items}
    assert not problems, _report(language, problems)


@pytest.mark.parametrize("language", ["en", "de"])
def test_portal_pages_have_no_serious_violations(browser, live_server, language):
    ids = _ids(live_server)
    context = browser.new_context(base_url=live_server.url, locale=LOCALES[language], **REDUCED)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        _open(page, "/portal/login")
        expect(page.locator("html")).to_have_attribute("lang", language)
        found["sign-in"] = violations(page)
        portal_sign_in(page, ids["portal_email"], CUSTOMER_PASSWORD)
        expect(page).to_have_url(re.compile(r"/portal/$"))
        for name, url in (
            ("overview", "/portal/"),
            ("subscription", "/portal/subscription"),
            ("invoices", "/portal/invoices"),
            ("company", "/portal/company"),
            ("team", "/portal/team"),
            ("payment", "/portal/payment"),
            ("account", "/portal/account"),
        ):
            _open(page, url)
            found[name] = violations(page)
    finally:
        context.close()
    problems = {name: items for name, items in found.items() if items}
    assert not problems, _report(language, problems)


def _report(language: str, problems: dict[str, list[str]]) -> str:
    lines = [f"axe-core in {language}: serious or critical violations on {len(problems)} pages"]
    for name, items in problems.items():
        lines.append(f"- {name}")
        lines.extend(f"    {item}" for item in items)
    return "\n".join(lines)
