"""Log in as the customer in a real browser (SPEC §11, issue 7 item 2): the support user
starts a read-only session with a reason, sees the banner on the portal, is refused a change,
ends it and is back on the customer's Details page, still signed in as staff."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from models import Customer, db
from seed.demo import DEMO_STAFF
from tests.e2e.helpers import sign_in

pytestmark = pytest.mark.browser


def test_support_logs_in_as_the_customer_read_only_and_ends_it(page, live_server):
    email, _role, password = DEMO_STAFF[2]
    with live_server.app.app_context():
        customer_id, company = db.session.execute(
            db.select(Customer.id, Customer.company_name)
            # an English-speaking customer: the portal follows the customer's language
            .where(Customer.status == "active", Customer.language == "en")
            .order_by(Customer.company_name)
            .limit(1)
        ).one()
    sign_in(page, email, password)
    page.goto(f"/admin/customer/details/?id={customer_id}")
    page.locator("#customer-actions [data-action=impersonate]").click()
    page.locator("#reason").fill("Ticket 4711: invoice question")
    expect(page.locator("#allow_changes")).to_have_count(0)
    with page.expect_navigation():
        page.locator("#impersonate-form button[type=submit]").click()
    banner = page.locator("#impersonation-banner")
    expect(banner).to_contain_text(email)
    expect(banner).to_contain_text("read-only")
    page.goto("/portal/account")
    expect(banner).to_be_visible()
    with page.expect_navigation():
        page.locator("#portal-language button[value=de]").click()
    expect(page.locator("body")).to_contain_text("nothing was changed")
    with page.expect_navigation():
        page.locator("#end-impersonation").click()
    expect(page).to_have_url(f"{live_server.url}/admin/customer/details/?id={customer_id}")
    expect(page.locator("body")).to_contain_text(company)
    expect(page.locator("#impersonation-banner")).to_have_count(0)
