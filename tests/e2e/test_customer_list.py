"""The customer list in a real browser: columns, filters, search, export, German UI (SPEC §3)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from babel.numbers import parse_decimal
from playwright.sync_api import expect
from sqlalchemy import select

from models import Customer, CustomerStatus, ServiceMode, db
from seed.demo import COMPANIES
from tests.e2e.helpers import (
    CUSTOMERS,
    add_filter,
    apply_filters,
    header_labels,
    search,
    status_codes,
    table_rows,
)

pytestmark = pytest.mark.browser

LOCKED = CustomerStatus.LOCKED.value
SELF_SERVICE = ServiceMode.SELF_SERVICE.value
COLUMNS = [
    "Company Name",
    "Service Mode",
    "Status",
    "IP's Internal",
    "IP's External",
    "Payment Method",
    "Average IP Price",
]
SERVICE_MODES = {"managed": "Managed service", "self_service": "Self service"}
STATUSES = {
    "marked_for_deletion": "Marked for deletion",
    "invited": "Invited",
    "locked": "Locked",
    "active": "Active",
    "inactive": "Inactive",
}
PAYMENTS = {
    "card": "Credit card",
    "invoice": "Invoice",
    "project_key": "Project Key",
    "free": "Free",
    None: "–",
}
CENT = Decimal("0.005")


def db_customers(live_server, *criteria) -> list[dict]:
    """The demo customers matching ``criteria``, in the list's default order."""
    with live_server.app.app_context():
        customers = db.session.scalars(
            select(Customer).where(*criteria).order_by(Customer.company_name, Customer.id)
        ).all()
        return [
            {
                "id": c.id,
                "company": c.company_name,
                "email": c.contact_email,
                "service_mode": c.service_mode,
                "status": c.status,
                "internal_ips": c.internal_ips,
                "external_ips": c.external_ips,
                "payment_method": c.payment_method,
                "average_ip_price": c.average_ip_price,
            }
            for c in customers
        ]


def shown_money(text: str) -> Decimal | None:
    """An amount as the English list shows it ("€1,234.50", "1,234.50" or "–" for none)."""
    if text == "–":
        return None
    number = re.fullmatch(r"[^\d-]*(-?\d[\d,]*\.\d{2})[^\d]*", text)
    assert number, f"not a money amount: {text!r}"
    return parse_decimal(number.group(1), locale="en_US")


def test_list_shows_the_seed_columns(staff_page, live_server):
    """SPEC §3 columns: company name with the contact e-mail under it, service mode, status as a
    badge with icon and label, internal and external IPs, payment method, average IP price."""
    page = staff_page
    page.goto(f"{CUSTOMERS}?page_size=100")
    expect(page.locator("h1")).to_have_text("Customers")

    assert header_labels(page) == COLUMNS
    expected = db_customers(live_server)
    assert len(expected) == len(COMPANIES)
    rows = table_rows(page)
    assert [r["company"] for r in rows] == [c["company"] for c in expected]
    assert {c["status"] for c in expected} == set(STATUSES), "the demo covers every status"
    for row, customer in zip(rows, expected, strict=True):
        label = STATUSES[customer["status"]]
        assert row["email"] == customer["email"]
        assert row["service_mode"] == SERVICE_MODES[customer["service_mode"]]
        assert row["status"] == customer["status"]
        assert row["status_icon"], f"no status icon for {customer['company']}"
        assert row["status_label"] == label
        assert row["status_title"] == label
        assert row["internal_ips"].replace(",", "") == str(customer["internal_ips"])
        assert row["external_ips"].replace(",", "") == str(customer["external_ips"])
        assert row["payment_method"] == PAYMENTS[customer["payment_method"]]
        shown = shown_money(row["average_ip_price"])
        if customer["average_ip_price"] is None:
            assert shown is None
        else:
            assert abs(shown - customer["average_ip_price"]) <= CENT

    company_cell = page.locator("td.col-company_name").first
    expect(company_cell.locator("strong")).to_have_text(expected[0]["company"])
    expect(company_cell.locator("small")).to_have_text(expected[0]["email"])
    badge = page.locator("td.col-status .msp-status").first
    expect(badge.locator("i.fa")).to_have_count(1)


def test_status_and_service_mode_filters_through_the_ui(staff_page, live_server):
    """SPEC §3 filters: "Add Filter" → Status = Locked, then also Service Mode = Self service."""
    page = staff_page
    page.goto(CUSTOMERS)
    locked = db_customers(live_server, Customer.status == LOCKED)
    assert 0 < len(locked) < 25, "the demo has a few locked customers, all on one page"

    add_filter(page, "Status", "Locked")
    apply_filters(page, "status_equals=locked")

    assert status_codes(page) == [LOCKED] * len(locked)
    assert [r["company"] for r in table_rows(page)] == [c["company"] for c in locked]

    add_filter(page, "Service Mode", "Self service")
    apply_filters(page, "status_equals=locked", "service_mode_equals=self_service")

    both = [c for c in locked if c["service_mode"] == SELF_SERVICE]
    assert 0 < len(both) < len(locked), "the combination narrows the locked customers"
    rows = table_rows(page)
    assert [r["company"] for r in rows] == [c["company"] for c in both]
    assert {r["status"] for r in rows} == {LOCKED}
    assert {r["service_mode"] for r in rows} == {SERVICE_MODES[SELF_SERVICE]}
    expect(page.locator("#filter_form table.filters tr")).to_have_count(2)


def test_search_by_company_name_fragment(staff_page):
    """SPEC §3 search: a fragment of company names finds exactly the matching companies."""
    page = staff_page
    page.goto(CUSTOMERS)
    fragment = "Werk"
    expected = sorted(
        name for name, _country, _vat in COMPANIES if fragment.lower() in name.lower()
    )
    assert 1 < len(expected) < len(COMPANIES)

    search(page, fragment)

    companies = [r["company"] for r in table_rows(page)]
    assert sorted(companies) == expected
    assert all(fragment.lower() in name.lower() for name in companies)
    expect(page.locator("form[role=search] input[name=search]")).to_have_value(fragment)


def test_json_export_follows_the_active_filter(staff_page, live_server):
    """SPEC §3 export: with Status = Locked applied, "Export JSON" downloads exactly the locked
    customers with typed values (integers as numbers, money as decimal strings, codes)."""
    page = staff_page
    page.goto(CUSTOMERS)
    add_filter(page, "Status", "Locked")
    apply_filters(page, "status_equals=locked")
    locked = {c["id"]: c for c in db_customers(live_server, Customer.status == LOCKED)}

    page.locator(".nav-tabs a.dropdown-toggle", has_text="Export").click()
    link = page.get_by_role("link", name="Export JSON")
    expect(link).to_have_attribute("href", re.compile(r"/export/json/\?.*status_equals=locked"))
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.endswith(".json")
    data = json.loads(Path(download.path()).read_text(encoding="utf-8"))

    assert isinstance(data, list)
    assert sorted(item["id"] for item in data) == sorted(locked)
    for item in data:
        customer = locked[item["id"]]
        assert item["status"] == LOCKED
        assert item["company_name"] == customer["company"]
        assert item["service_mode"] == customer["service_mode"]
        for key in ("id", "internal_ips", "external_ips", "total_ips"):
            assert type(item[key]) is int, f"{key} is {item[key]!r}"
        assert item["internal_ips"] == customer["internal_ips"]
        assert item["external_ips"] == customer["external_ips"]
        assert item["total_ips"] == customer["internal_ips"] + customer["external_ips"]
        assert item["locked"] is True
        assert item["payment_method"] == customer["payment_method"]
        price = item["average_ip_price"]
        assert isinstance(price, str) and re.fullmatch(r"\d+\.\d{2}", price), price
        assert abs(Decimal(price) - customer["average_ip_price"]) <= CENT
        assert isinstance(item["monthly_price"], str)
        assert re.fullmatch(r"\d+\.\d{2}", item["monthly_price"])


def test_german_ui_and_filter(staff_page, live_server):
    """SPEC §0 languages: "DE" in the navbar switches the list to German; filters still work."""
    page = staff_page
    page.goto(CUSTOMERS)
    page.locator("nav").get_by_role("button", name="DE", exact=True).click()

    expect(page.locator("h1")).to_have_text("Kunden")
    expect(page).to_have_url(re.compile(r"/admin/customer/"))
    labels = header_labels(page)
    assert "Firmenname" in labels
    assert "Zahlungsmethode" in labels
    expect(page.locator("nav").get_by_role("button", name="Abmelden")).to_be_visible()

    add_filter(page, "Status", "Gesperrt")
    apply_filters(page, "status_equals=locked")

    expect(page.locator("h1")).to_have_text("Kunden")
    locked = db_customers(live_server, Customer.status == LOCKED)
    assert status_codes(page) == [LOCKED] * len(locked)
    labels = page.locator("table.model-list .msp-status").all_inner_texts()
    assert [label.strip() for label in labels] == ["Gesperrt"] * len(locked)


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["From", "To", "Apply", "Cancel", "Oct", "Nov"]),
        ("de", ["Von", "Bis", "Übernehmen", "Abbrechen", "Okt", "Nov"]),
    ],
)
def test_the_date_filters_picker_speaks_the_staff_members_language(staff_page, language, words):
    """Issue 16: the picker of a date filter (Flask-Admin's, English only) labels its range,
    buttons, months and weekdays in the staff member's language; a German week starts on
    Monday. The filter is active when the page opens, so its picker is built at once."""
    page = staff_page
    between = "2026-10-01+00%3A00%3A00+to+2026-11-05+09%3A00%3A00"
    page.goto(f"{CUSTOMERS}?flt0_created_at_between={between}")
    if language == "de":
        with page.expect_navigation():
            page.locator("nav").get_by_role("button", name="DE", exact=True).click()
    page.wait_for_load_state()
    page.locator("#filter_form table.filters input.filter-val").click()
    picker = page.locator(".daterangepicker").filter(has=page.locator("table.table-condensed"))
    expect(picker).to_be_visible()
    from_label, to_label, apply, cancel, october, november = words
    expect(picker.locator(".daterangepicker_start_input label")).to_have_text(from_label)
    expect(picker.locator(".daterangepicker_end_input label")).to_have_text(to_label)
    expect(picker.locator("button.applyBtn")).to_have_text(apply)
    expect(picker.locator("button.cancelBtn")).to_have_text(cancel)
    month = "select.monthselect option:checked"
    expect(picker.locator(f".calendar.left {month}")).to_have_text(october)
    expect(picker.locator(f".calendar.right {month}")).to_have_text(november)
    weekdays = picker.locator(".calendar.left thead tr").nth(1).locator("th")
    if language == "de":
        expect(weekdays).to_have_text(["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"])
