"""Partners in a real browser (SPEC §11, issue 7 item 6): Billing → Partners adds a reseller,
a customer's Details page assigns it ("Customer Partner"), the customer list filters by it, and
disabling it first says how many customers it owns."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from models import Customer, Partner, db
from tests.e2e.helpers import CUSTOMERS, add_filter, apply_filters, table_rows

pytestmark = pytest.mark.browser

PARTNER = "Nordlicht Reseller GmbH"


def _customer_without_partner(live_server) -> tuple[int, str]:
    with live_server.app.app_context():
        return db.session.execute(
            select(Customer.id, Customer.company_name)
            .where(
                Customer.status == "active",
                Customer.partner_id.is_(None),
                Customer.marked_for_deletion_at.is_(None),
            )
            .order_by(Customer.company_name.desc())
            .limit(1)
        ).one()


def _partner_row(page, name: str):
    return page.locator("#partner-list tbody tr").filter(
        has=page.locator(f"input[name=name][value='{name}']")
    )


def test_partner_is_created_assigned_filtered_disabled_and_enabled(staff_page, live_server):
    """SPEC §11 partners: add a partner, set it as a customer's partner, filter the customer
    list by it, disable it after a confirmation naming the one affected customer (it is then no
    longer offered to other customers) and enable it again. The customer loses its partner at the
    end, so the demo data is as before."""
    page = staff_page
    customer_id, company = _customer_without_partner(live_server)
    try:
        page.goto("/admin/partners/")
        expect(page.locator("h1")).to_have_text("Partners")
        page.locator("#new-partner-form input[name=name]").fill(PARTNER)
        page.locator("#new-partner-form button[type=submit]").click()
        expect(page.locator(".alert-success")).to_contain_text(f"Partner {PARTNER} added.")
        row = _partner_row(page, PARTNER)
        expect(row.locator("[data-enabled]")).to_have_text("Enabled")
        expect(row.locator("[data-customers]")).to_have_text("0")

        page.goto(f"{CUSTOMERS}details/?id={customer_id}")
        page.locator("#customer-settings [data-action=assign_partner]").click()
        form = page.locator("#partner-dialog #partner-form")
        expect(form.locator("label")).to_have_text("Customer Partner")
        form.locator("select").select_option(label=PARTNER)
        form.get_by_role("button", name="Save").click()
        expect(page.locator(".alert-success")).to_contain_text(f"Partner set to {PARTNER}.")
        expect(page.locator("#partner-form select option:checked")).to_have_text(PARTNER)
        expect(page.locator('#customer-facts [data-fact="partner"]')).to_have_text(PARTNER)

        page.goto(CUSTOMERS)
        add_filter(page, "Partner", PARTNER)
        apply_filters(page, "partner_equals=")
        assert [r["company"] for r in table_rows(page)] == [company]

        page.goto("/admin/partners/")
        row = _partner_row(page, PARTNER)
        expect(row.locator("[data-customers]")).to_have_text("1")
        with page.expect_navigation():
            row.get_by_role("link", name="Disable").click()
        expect(page.locator("#affected")).to_contain_text(
            f"Disable {PARTNER}? Its 1 customer keeps it as partner, but it can no longer be "
            "chosen for new assignments."
        )
        page.locator("#disable-partner-form button[type=submit]").click()
        expect(page.locator(".alert-success")).to_contain_text(
            f"{PARTNER} is disabled; its 1 customer keeps it as their partner."
        )
        row = _partner_row(page, PARTNER)
        expect(row.locator("[data-enabled]")).to_have_text("Disabled")

        page.goto(f"{CUSTOMERS}details/?id={customer_id}")
        expect(page.locator("#partner-form select option:checked")).to_have_text(
            f"{PARTNER} (disabled)"
        )
        other_id, _other = _customer_without_partner(live_server)
        page.goto(f"{CUSTOMERS}details/?id={other_id}")
        options = page.locator("#partner-form select option").all_inner_texts()
        assert not any(PARTNER in option for option in options), options

        page.goto("/admin/partners/")
        _partner_row(page, PARTNER).get_by_role("button", name="Enable").click()
        expect(page.locator(".alert-success")).to_contain_text(
            "The partner is enabled again (1 customer)."
        )
        expect(_partner_row(page, PARTNER).locator("[data-enabled]")).to_have_text("Enabled")

        page.goto(f"{CUSTOMERS}details/?id={customer_id}")
        page.locator("#customer-settings [data-action=assign_partner]").click()
        page.locator("#partner-form select").select_option(label="No partner")
        page.locator("#partner-form").get_by_role("button", name="Save").click()
        expect(page.locator(".alert-success")).to_contain_text("The customer has no partner now.")
        expect(page).to_have_url(re.compile(rf"details/\?id={customer_id}#profile$"))
    finally:
        with live_server.app.app_context():
            db.session.execute(
                Customer.__table__.update()
                .where(Customer.id == customer_id)
                .values(partner_id=None)
            )
            db.session.execute(delete(Partner).where(Partner.name == PARTNER))
            db.session.commit()
