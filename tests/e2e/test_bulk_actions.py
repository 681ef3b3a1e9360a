"""Bulk actions of the customer list in a real browser (issue 15 item 1): the rows built in
Python carry checkboxes, "With selected" runs a stock Flask-Admin action under the page's
Content-Security-Policy (no inline handlers), asks for confirmation, and posts the ticked rows
with the CSRF token."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from billing.customers.customer_tools import set_tags
from billing.customers.lifecycle import set_locked
from billing.kernel.audit import SYSTEM
from models import Customer, db
from tests.e2e.helpers import CUSTOMERS, table_rows

pytestmark = pytest.mark.browser

TAG = "e2e-bulk-pilot"


LIST = f"{CUSTOMERS}?page_size=100"


def _active_customers(live_server, count: int) -> list[tuple[int, str]]:
    """Active customers whose users nobody else signs in as (all on the list's one page)."""
    with live_server.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Customer)) <= 100
        rows = db.session.execute(
            select(Customer.id, Customer.company_name)
            .where(
                Customer.status == "active",
                Customer.marked_for_deletion_at.is_(None),
                Customer.contact_email != "mia@managed.example",
            )
            .order_by(Customer.company_name.desc(), Customer.id)
        ).all()
        return [tuple(row) for row in rows[:count]]


def _with_selected(page, label: str) -> None:
    page.locator("a.dropdown-toggle", has_text="With selected").click()
    page.locator("[data-bulk-action]", has_text=label).click()


def test_lock_two_customers_from_the_list(staff_page, live_server):
    """Tick two rows, With selected → Lock accounts, confirm: both are locked, the page says so,
    and no Content-Security-Policy violation is reported."""
    page = staff_page
    chosen = _active_customers(live_server, 2)
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else 0)
    try:
        page.goto(LIST)
        expect(page.locator("th input.action-rowtoggle")).to_have_count(1)
        expect(page.locator("td input.action-checkbox")).to_have_count(len(table_rows(page)))
        for customer_id, _company in chosen:
            page.locator(f'input.action-checkbox[value="{customer_id}"]').check()
        dialogs = []

        def accept(dialog):
            dialogs.append(dialog.message)
            dialog.accept()

        page.on("dialog", accept)
        with page.expect_navigation():
            _with_selected(page, "Lock accounts")
        assert dialogs == ["Lock the selected customers? None of their users can sign in any more."]
        expect(page.locator(".alert-success")).to_contain_text("2 customers locked.")
        for customer_id, _company in chosen:
            row = page.locator("tr", has=page.locator(f'input[value="{customer_id}"]'))
            expect(row.locator(".msp-status")).to_have_attribute("data-status", "locked")
        assert violations == []
    finally:
        with live_server.app.app_context():
            for customer_id, _company in chosen:
                set_locked(customer_id, False, SYSTEM, live_server.clock)


def test_tag_a_customer_from_the_list(staff_page, live_server):
    """With selected → Add a tag asks for the tag on a page of its own, then tags the row."""
    page = staff_page
    [(customer_id, company)] = _active_customers(live_server, 1)
    with live_server.app.app_context():
        before = [tag.name for tag in db.session.get(Customer, customer_id).tags]
    try:
        page.goto(LIST)
        page.locator(f'input.action-checkbox[value="{customer_id}"]').check()
        with page.expect_navigation():
            _with_selected(page, "Add a tag")
        expect(page.locator("h1")).to_have_text("Add a tag")
        page.get_by_label("Tag").fill(TAG)
        with page.expect_navigation():
            page.get_by_role("button", name="Add tag").click()
        expect(page.locator(".alert-success")).to_contain_text(f"Tag {TAG} added to 1 customer.")
        page.goto(f"{CUSTOMERS}?flt0_tag_equals={TAG}")
        assert [row["company"] for row in table_rows(page)] == [company]
    finally:
        with live_server.app.app_context():
            set_tags(customer_id, before, SYSTEM, live_server.clock)
