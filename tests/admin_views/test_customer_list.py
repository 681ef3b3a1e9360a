"""The customer list at /admin/customer/ (SPEC §3)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from openpyxl import load_workbook

from models import AuditEvent, Customer, Partner, Tag, db
from tests import factories


def statuses(response) -> list[str]:
    return re.findall(r'data-status="(\w+)"', response.get_data(as_text=True))


def companies(response) -> list[str]:
    return re.findall(r"<strong>([^<]+)</strong></a><br><small", response.get_data(as_text=True))


@pytest.fixture
def population(app):
    """One customer per status, both service modes, every payment method."""
    factories.reference(app)
    made = {
        "active": factories.customer(app, company="Alpha Active", payment="card"),
        "inactive": factories.customer(app, state="inactive", company="Bravo Inactive"),
        "invited": factories.customer(app, state="invited", company="Charlie Invited"),
        "locked": factories.customer(
            app, state="locked", company="Delta Locked", payment="free", mode="self_service"
        ),
        "deleted": factories.customer(app, state="deleted", company="Echo Deleted"),
        "project": factories.customer(
            app, company="Foxtrot Key", payment="project_key", country="AT"
        ),
    }
    return made


def test_list_shows_the_seed_columns(staff_client, population):
    """SPEC §3: Company Name (with e-mail), Service Mode, Status, IPs, Payment Method, Avg price."""
    response = staff_client.get("/admin/customer/")
    html = response.get_data(as_text=True)
    for label in (
        "Company Name",
        "Service Mode",
        "Status",
        "IP&#39;s Internal",
        "IP&#39;s External",
        "Payment Method",
        "Average IP Price",
    ):
        assert label in html
    assert population["active"].contact_email in html
    assert 'title="Marked for deletion"' in html and "fa-trash" in html
    assert "Self service" in html and "Project Key" in html


def test_default_sort_is_by_company_name(staff_client, population):
    names = companies(staff_client.get("/admin/customer/"))
    assert names == sorted(names)
    assert len(names) == 6


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("flt0_status_equals=locked", ["Delta Locked"]),
        ("flt0_status_equals=invited", ["Charlie Invited"]),
        ("flt0_status_equals=marked_for_deletion", ["Echo Deleted"]),
        ("flt0_service_mode_equals=self_service", ["Delta Locked"]),
        ("flt0_payment_method_equals=project_key", ["Foxtrot Key"]),
        ("flt0_country_equals=AT", ["Foxtrot Key"]),
        ("flt0_status_equals=active&flt1_payment_method_equals=card", ["Alpha Active"]),
    ],
)
def test_filters(staff_client, population, query, expected):
    """SPEC §3 filters: payment method, service mode, status, country."""
    assert companies(staff_client.get(f"/admin/customer/?{query}")) == expected


def test_partner_tag_and_pending_change_filters(app, staff_client, population):
    from billing.customers import lifecycle
    from billing.kernel.audit import SYSTEM

    partner = Partner(name="Reseller One")
    tag = Tag(name="priority")
    db.session.add_all([partner, tag])
    db.session.flush()
    alpha = db.session.get(Customer, population["active"].id)
    alpha.partner_id = partner.id
    db.session.get(Customer, population["project"].id).tags.append(tag)
    db.session.commit()
    lifecycle.schedule_change(population["active"].id, 1, 1, SYSTEM, app.config["CLOCK"])
    assert companies(staff_client.get(f"/admin/customer/?flt0_partner_equals={partner.id}")) == [
        "Alpha Active"
    ]
    assert companies(staff_client.get("/admin/customer/?flt0_tag_equals=priority")) == [
        "Foxtrot Key"
    ]
    assert companies(staff_client.get("/admin/customer/?flt0_pending_change_equals=1")) == [
        "Alpha Active"
    ]


@pytest.mark.postgres
def test_the_partner_filter_works_on_postgresql(pg_app):
    """SPEC §3 and §11 (partners): the partner filter of the list and of its export, on the
    production database, whose integer partner column is never compared with text."""
    from tests.conftest import make_staff, sign_in

    factories.reference(pg_app)
    partner = Partner(name="Reseller One")
    db.session.add(partner)
    db.session.commit()
    resold = factories.customer(pg_app, company="Alpha Resold")
    factories.customer(pg_app, company="Bravo Direct")
    db.session.get(Customer, resold.id).partner_id = partner.id
    db.session.commit()
    client = pg_app.test_client()
    sign_in(client, make_staff(pg_app, "admin").email)
    query = f"flt0_partner_equals={partner.id}"
    assert companies(client.get(f"/admin/customer/?{query}")) == ["Alpha Resold"]
    exported = json.loads(_export(client, "json", query).data)
    assert [row["company_name"] for row in exported] == ["Alpha Resold"]


@pytest.mark.parametrize(
    "query",
    [
        "flt0_status_equals=bogus",
        "flt0_status_equals=",
        "flt9_nonsense=1",
        "flt0_partner_equals=abc",
        "page=-5",
        "page=abc",
        "page=99999999999",
        "sort=99",
        "sort=-1&desc=yes",
        "page_size=100000",
        "search=" + "x" * 5000,
        "search=%25%27%22%5C",
    ],
)
def test_bad_list_arguments_never_fail(staff_client, population, query):
    """Bad input: a clear message or the unfiltered list, never a 500."""
    response = staff_client.get(f"/admin/customer/?{query}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/admin/customer/?search=%00",
        "/admin/customer/?search=a%00b&flt0_status_equals=active",
        "/admin/customer/?flt0_country_equals=DE%00",
        "/admin/customer/?page=1&url=/admin/%00",
        "/admin/customer/export/csv/?search=%00",
        "/admin/customer/details/?id=1%00",
        "/portal/invite/token%00",
    ],
)
def test_a_nul_byte_in_the_address_is_refused_with_a_clear_message(staff_client, population, url):
    """SPEC §13: a NUL byte (which PostgreSQL cannot compare or store) in a search, a filter,
    any query argument or a path argument gets a 400 page that says so, in English and German,
    before anything runs."""
    before = db.session.scalar(db.select(db.func.count()).select_from(AuditEvent))
    for language, text in (
        ("en", "The address of this page contains characters that cannot be processed."),
        ("de", "Die Adresse dieser Seite enthält Zeichen, die nicht verarbeitet werden können."),
    ):
        response = staff_client.get(url, headers={"Accept-Language": language})
        assert response.status_code == 400
        assert text in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)) == before


def test_an_unknown_filter_value_says_so_and_shows_everything(staff_client, population):
    response = staff_client.get("/admin/customer/?flt0_status_equals=bogus")
    assert "Invalid Filter Value" in response.get_data(as_text=True)
    assert len(companies(response)) == 6


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("delta", ["Delta Locked"]),
        ("DELTA lock", ["Delta Locked"]),
        ("ey", ["Foxtrot Key"]),
        ("nomatch", []),
    ],
)
def test_search_company_name(staff_client, population, term, expected):
    """SPEC §3 search: company name, any case, every term must match."""
    assert companies(staff_client.get(f"/admin/customer/?search={term}")) == expected


def test_search_contact_email_name_and_vat_id(app, staff_client, population):
    target = db.session.get(Customer, population["project"].id)
    target.vat_id = "ATU13585627"
    db.session.commit()
    email = population["inactive"].contact_email
    assert companies(staff_client.get(f"/admin/customer/?search={email}")) == ["Bravo Inactive"]
    assert companies(staff_client.get("/admin/customer/?search=atu1358")) == ["Foxtrot Key"]
    contact = population["locked"].contact_name
    assert companies(staff_client.get(f"/admin/customer/?search={contact}")) == ["Delta Locked"]


def test_sort_by_every_column(staff_client, population):
    """SPEC §3: sort by every column."""
    for index in range(7):
        for desc in ("0", "1"):
            response = staff_client.get(f"/admin/customer/?sort={index}&desc={desc}")
            assert response.status_code == 200
            assert len(companies(response)) == 6
    by_name_desc = companies(staff_client.get("/admin/customer/?sort=0&desc=1"))
    assert by_name_desc == sorted(by_name_desc, reverse=True)


def test_list_pages(app, staff_client):
    factories.reference(app)
    for n in range(30):
        factories.customer(app, state="invited", company=f"Page Co {n:02d}")
    first = companies(staff_client.get("/admin/customer/"))
    second = companies(staff_client.get("/admin/customer/?page=1"))
    assert len(first) == 25 and len(second) == 5
    assert not set(first) & set(second)


def test_details_show_the_subscription_history(app, staff_client, population):
    """SPEC §3 Details: all subscriptions of the customer."""
    from billing.customers import lifecycle
    from billing.kernel.audit import SYSTEM

    clock = app.config["CLOCK"]
    bravo = population["inactive"].id
    lifecycle.start_subscription(bravo, 30, 3, "invoice", SYSTEM, clock)
    html = staff_client.get(f"/admin/customer/details/?id={bravo}").get_data(as_text=True)
    start = html.index('id="subscription-history"')
    history = html[start : html.index("</table>", start)]
    assert history.count("<tr") == 3  # header + cancelled + new active
    assert "Cancelled" in history and "Active" in history


@pytest.mark.parametrize("bad_id", ["999999", "abc", "", "-1"])
def test_details_of_an_unknown_customer(staff_client, population, bad_id):
    response = staff_client.get(f"/admin/customer/details/?id={bad_id}")
    assert response.status_code in (302, 404)


def _export(staff_client, fmt: str, query: str = ""):
    response = staff_client.get(f"/admin/customer/export/{fmt}/?{query}")
    assert response.status_code == 200
    return response


def test_json_export_follows_the_filter_across_all_pages(app, staff_client):
    """SPEC §3: exactly the rows the filter selects, every page, typed values."""
    factories.reference(app)
    for n in range(30):
        factories.customer(app, company=f"Active {n:02d}", internal=n + 1, external=1)
    for n in range(4):
        factories.customer(app, state="invited", company=f"Invited {n}")
    data = json.loads(_export(staff_client, "json", "flt0_status_equals=active").data)
    assert len(data) == 30
    assert {row["status"] for row in data} == {"active"}
    first = next(row for row in data if row["company_name"] == "Active 00")
    assert first["internal_ips"] == 1 and first["external_ips"] == 1 and first["total_ips"] == 2
    assert first["monthly_price"] == "9.00" and first["average_ip_price"] == "4.50"
    assert first["currency"] == "EUR" and first["service_mode"] == "managed"
    assert isinstance(first["id"], int)


def test_export_follows_the_search(staff_client, population):
    data = json.loads(_export(staff_client, "json", "search=delta").data)
    assert [row["company_name"] for row in data] == ["Delta Locked"]


def test_csv_and_xlsx_exports_are_formula_safe(app, staff_client):
    factories.reference(app)
    factories.customer(app, company='=HYPERLINK("http://evil.example","x")')
    text = _export(staff_client, "csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["company_name"].startswith("'=")
    book = load_workbook(io.BytesIO(_export(staff_client, "xlsx").data))
    header = [c.value for c in book.active[1]]
    assert book.active.cell(row=2, column=header.index("company_name") + 1).value.startswith("'=")


def test_exports_contain_no_secrets(app, staff_client, population):
    body = _export(staff_client, "json").get_data(as_text=True)
    assert "argon2" not in body and "invite_token" not in body and "password" not in body


def test_unknown_export_format_is_refused_politely(staff_client, population):
    response = staff_client.get("/admin/customer/export/exe/")
    assert response.status_code == 302
    follow = staff_client.get(response.headers["Location"])
    assert "Unknown export format." in follow.get_data(as_text=True)


def test_exports_are_audited(staff_client, population):
    _export(staff_client, "csv", "flt0_status_equals=locked")
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "customer.export"))
    assert event.after["format"] == "csv"
    assert event.after["filters"] == ["locked"]


def test_list_in_german(staff_client, population):
    """SPEC §0: English and German."""
    response = staff_client.post(
        "/admin/language/",
        data={"language": "de", "next": "/admin/customer/", "csrf_token": staff_client.token},
    )
    assert response.headers["Location"] == "/admin/customer/"
    html = staff_client.get("/admin/customer/").get_data(as_text=True)
    for label in (
        "Kunden",
        "Firmenname",
        "Servicemodus",
        "Zahlungsmethode",
        "Gesperrt",
        "Zur Löschung vorgemerkt",
    ):
        assert label in html
