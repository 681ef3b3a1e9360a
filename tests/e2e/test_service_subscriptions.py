"""Several subscriptions per customer in a real browser (SPEC §11, issue 7 item 5): staff add
a subscription after seeing its price, suspend it after a confirmation, enable it again, and
end it (which also puts the demo data back as it was for the other browser tests)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from models import Customer, db

pytestmark = pytest.mark.browser

NAME = "Branch Office Kiel"


def _ips(live_server, customer_id: int) -> tuple[int, int]:
    with live_server.app.app_context():
        customer = db.session.get(Customer, customer_id)
        return customer.internal_ips, customer.external_ips


def test_staff_add_suspend_and_enable_an_additional_subscription(staff_page, live_server):
    page = staff_page
    with live_server.app.app_context():
        customer_id = db.session.scalar(
            db.select(Customer.id)
            .where(
                Customer.status == "active",
                Customer.service_mode == "managed",
                Customer.unit_price.is_(None),
            )
            .order_by(Customer.company_name.desc())
            .limit(1)
        )
    before = _ips(live_server, customer_id)
    page.goto(f"/admin/customer/details/?id={customer_id}#subscriptions")
    with page.expect_navigation():
        page.locator("#add-subscription").click()
    page.locator("#name").fill(NAME)
    page.locator("#internal_ips").fill("5")
    page.locator("#external_ips").fill("1")
    page.locator("#term_months").select_option("12")
    expect(page.locator("#confirm-add")).to_have_count(0)
    with page.expect_navigation():
        page.locator("button[name=action][value=preview]").click()
    # 6 IPs × 4.50; 15 November: 16 of 30 days = 14.40
    expect(page.locator("[data-preview=monthly_price]")).to_contain_text("27.00")
    expect(page.locator("[data-preview=prorated_amount]")).to_contain_text("14.40")
    expect(page.locator("[data-preview=term_end]")).to_have_text("Nov 14, 2027")
    with page.expect_navigation():
        page.locator("#confirm-add").click()
    row = page.locator(f'#additional-subscriptions tr[data-subscription="{NAME}"]')
    expect(row).to_have_attribute("data-state", "active")
    assert _ips(live_server, customer_id) == (before[0] + 5, before[1] + 1)

    # dismissing the confirmation suspends nothing
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("[data-action=suspend]").click()
    expect(row).to_have_attribute("data-state", "active")

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        row.locator("[data-action=suspend]").click()
    expect(row).to_have_attribute("data-state", "suspended")
    expect(page.locator(".alert-success")).to_contain_text("is suspended")
    assert _ips(live_server, customer_id) == before

    with page.expect_navigation():
        row.locator("[data-action=enable]").click()
    expect(row).to_have_attribute("data-state", "active")
    assert _ips(live_server, customer_id) == (before[0] + 5, before[1] + 1)

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        row.locator("[data-action=end]").click()
    expect(row).to_have_attribute("data-state", "ended")
    assert _ips(live_server, customer_id) == before
