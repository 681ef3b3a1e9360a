"""Purchase orders in a real browser (SPEC §12, issue 7 item 10): added on a customer's Details
page with checked dates, listed there and, when they expire within 30 days, on the dashboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, func, select

from models import Customer, PurchaseOrder, db
from tests.e2e.helpers import CUSTOMERS

pytestmark = pytest.mark.browser

ORDER = "PO-E2E-2026-117"
EXPIRY_MESSAGE = "The expiry date must be after the start date."


def _customer(live_server) -> tuple[int, str]:
    with live_server.app.app_context():
        return db.session.execute(
            select(Customer.id, Customer.company_name)
            .where(Customer.status == "active", Customer.marked_for_deletion_at.is_(None))
            .order_by(Customer.company_name)
            .offset(5)
            .limit(1)
        ).one()


def _orders(live_server, customer_id: int) -> int:
    with live_server.app.app_context():
        return db.session.scalar(
            select(func.count()).where(PurchaseOrder.customer_id == customer_id)
        )


def _add_order(page, start: str, expiry: str) -> None:
    """On the customer's Details page: "Add purchase order", fill it in and save."""
    with page.expect_navigation():
        page.locator("#add-purchase-order").click()
    form = page.locator("#purchase-order-form")
    form.get_by_label("Name", exact=True).fill(ORDER)
    form.get_by_label("Annual value").fill("48000.00")
    form.get_by_label("Current status").select_option(label="Active")
    form.get_by_label("Provider type").fill("Microsoft Azure")
    form.get_by_label("Start date", exact=True).fill(start)
    form.get_by_label("Expiry date", exact=True).fill(expiry)
    with page.expect_navigation():
        form.get_by_role("button", name="Save").click()


def test_purchase_order_dates_are_checked_and_an_expiring_one_is_on_the_dashboard(
    staff_page, live_server
):
    """SPEC §12 purchase orders: an expiry before the start is refused next to the expiry field
    and nothing is saved; a valid order that expires in 16 days (the clock is 2026-11-15) is
    listed on the customer's Details page and in the dashboard's card of orders expiring within
    30 days, linking back to the customer."""
    page = staff_page
    customer_id, company = _customer(live_server)
    orders_before = _orders(live_server, customer_id)
    try:
        page.goto(f"{CUSTOMERS}details/?id={customer_id}")
        _add_order(page, start="2026-12-01", expiry="2026-11-30")
        expect(page.locator("[data-error-for=expiry_date]")).to_have_text(EXPIRY_MESSAGE)
        expect(page.locator("#expiry_date")).to_have_class(re.compile(r"is-invalid"))
        expect(page.locator("#name")).to_have_value(ORDER)
        assert _orders(live_server, customer_id) == orders_before

        page.goto(f"{CUSTOMERS}details/?id={customer_id}")
        expect(page.locator("#purchase-orders")).not_to_contain_text(ORDER)

        _add_order(page, start="2025-12-01", expiry="2026-12-01")
        expect(page.locator(".alert-success")).to_contain_text("The purchase order was saved.")
        expect(page).to_have_url(re.compile(rf"details/\?id={customer_id}"))
        row = page.locator("#purchase-orders tbody tr").filter(has_text=ORDER)
        expect(row.locator("td")).to_have_text(
            [ORDER, "Active", "€48,000.00", "Microsoft Azure", "Dec 1, 2025", "Dec 1, 2026", "–"]
            + [re.compile("Edit")]
        )
        assert _orders(live_server, customer_id) == orders_before + 1

        page.goto("/admin/")
        card = page.locator("#expiring-orders")
        expect(card.locator("h2")).to_have_text("Purchase orders expiring in the next 30 days")
        entry = card.locator("tbody tr").filter(has_text=ORDER)
        expect(entry.locator("td").nth(0)).to_have_text(company)
        expect(entry.locator("td").nth(2)).to_have_text("Dec 1, 2026")
        expect(entry.locator("td").nth(3)).to_have_text("€48,000.00")
        with page.expect_navigation():
            entry.get_by_role("link", name=company).click()
        expect(page).to_have_url(re.compile(rf"details/\?id={customer_id}$"))
    finally:
        with live_server.app.app_context():
            db.session.execute(
                delete(PurchaseOrder).where(
                    PurchaseOrder.customer_id == customer_id, PurchaseOrder.name == ORDER
                )
            )
            db.session.commit()
