"""Customer groups in a real browser (SPEC §12, issue 7 item 10): Billing → Customer groups
keeps a group with attributes and tags, a customer joins it on its Details page and the customer
list filters by it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from models import Customer, CustomerGroup, Tag, db
from tests.e2e.helpers import CUSTOMERS, add_filter, apply_filters, table_rows

pytestmark = pytest.mark.browser

GROUP = "Rhine valley pilots"
TAGS = ("pilot-rhine", "beta-rhine")


def _customer(live_server) -> tuple[int, str]:
    with live_server.app.app_context():
        return db.session.execute(
            select(Customer.id, Customer.company_name)
            .where(Customer.status == "active", Customer.marked_for_deletion_at.is_(None))
            .order_by(Customer.company_name)
            .offset(3)
            .limit(1)
        ).one()


def _group_row(page):
    return page.locator("#customer-groups tbody tr").filter(has_text=GROUP)


def test_group_with_attributes_and_tags_filters_the_customer_list(staff_page, live_server):
    """SPEC §12 groups: a new group with two attributes and two tags is listed with them; one
    customer joins it (keeping its other groups) and the list's Group filter, like the group's
    link, shows just that customer. Deleting the group says one customer leaves it."""
    page = staff_page
    customer_id, company = _customer(live_server)
    try:
        page.goto("/admin/customer-groups/")
        expect(page.locator("h1")).to_have_text("Customer groups")
        with page.expect_navigation():
            page.locator("#new-group").click()
        form = page.locator("#group-form")
        form.get_by_label("Name").fill(GROUP)
        form.get_by_label("Attributes (key=value, one a line)").fill("region=EU\nsla=gold")
        form.get_by_label("Tags (comma-separated)").fill(", ".join(TAGS))
        form.get_by_role("button", name="Save").click()
        expect(page.locator(".alert-success")).to_contain_text(f"The group {GROUP} was saved.")
        row = _group_row(page)
        expect(row.locator("code")).to_have_text(["region=EU", "sla=gold"])
        expect(row.locator(".badge")).to_have_text(sorted(TAGS))
        expect(row.locator("td").nth(3)).to_have_text("0")

        page.goto(f"{CUSTOMERS}details/?id={customer_id}")
        page.locator("#customer-settings [data-action=edit_groups]").click()
        groups = page.locator("#groups-form select[name=group_ids]")
        before = groups.locator("option:checked").all_inner_texts()
        groups.select_option(label=[*before, GROUP])
        page.locator("#groups-form").get_by_role("button", name="Save").click()
        expect(page.locator(".alert-success")).to_contain_text("The group membership was saved.")
        expect(page.locator("#groups-form option:checked")).to_have_text(sorted([*before, GROUP]))

        page.goto(CUSTOMERS)
        add_filter(page, "Group", GROUP)
        apply_filters(page, "group_equals=")
        assert [r["company"] for r in table_rows(page)] == [company]

        page.goto("/admin/customer-groups/")
        expect(_group_row(page).locator("td").nth(3)).to_have_text("1")
        with page.expect_navigation():
            _group_row(page).get_by_role("link", name=GROUP).click()
        assert [r["company"] for r in table_rows(page)] == [company]

        page.goto("/admin/customer-groups/")
        with page.expect_navigation():
            _group_row(page).get_by_role("link", name="Delete").click()
        expect(page.locator("#group-delete-question")).to_have_text(
            f"Delete the group {GROUP}? 1 customer is a member; it stays, it just leaves the group."
        )
        page.locator("#group-delete-form button[type=submit]").click()
        expect(page.locator(".alert-success")).to_be_visible()
        expect(_group_row(page)).to_have_count(0)

        page.goto(f"{CUSTOMERS}details/?id={customer_id}")
        expect(page.locator("#groups-form option:checked")).to_have_text(sorted(before))
    finally:
        with live_server.app.app_context():
            db.session.execute(delete(CustomerGroup).where(CustomerGroup.name == GROUP))
            db.session.execute(delete(Tag).where(Tag.name.in_(TAGS)))
            db.session.commit()
