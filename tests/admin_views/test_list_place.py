"""Lists that keep their place (issue 16): an action started from a list, or from a record's page
opened from it, ends on the same list page (filters, search, sort and page) with the changed row
highlighted; the list's address is only ever followed inside the admin."""

from __future__ import annotations

import html as markup
import re
from datetime import date
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from billing.invoicing import monthend, monthend_work
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.kernel.audit import SYSTEM
from models import BillingRun, Customer, Invoice, db
from tests import factories
from tests.conftest import berlin

# page 2 (0-based 1) of the managed customers named "Kunde", sorted by name, descending
LIST = "/admin/customer/?flt0_service_mode_equals=managed&search=kunde&sort=0&desc=1&page=1"


def same(url: str, expected: str) -> bool:
    """Whether two addresses name the same page (however their arguments are quoted)."""
    a, b = urlsplit(url), urlsplit(expected)
    return (a.path, parse_qsl(a.query), a.fragment) == (b.path, parse_qsl(b.query), b.fragment)


def page_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def highlighted_rows(html: str) -> list[str]:
    """The ids of the rows the list marks as just changed."""
    return re.findall(
        r'<tr class="msp-highlight" aria-current="true">.*?data-row-menu="(\d+)"', html, re.S
    )


def row_form(html: str, customer_id: int, action: str) -> tuple[str, str]:
    """The address and CSRF token of the row menu's ``action`` form for ``customer_id``."""
    start = html.index(f'data-row-menu="{customer_id}"')
    menu = html[start : html.index("</td>", start)]
    form = re.search(
        rf'<form method="post" action="([^"]+)">(?:(?!</form>).)*data-action="{action}"',
        menu,
        re.S,
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', menu).group(1)
    return markup.unescape(form.group(1)), token


def row_link(html: str, customer_id: int, action: str) -> str:
    start = html.index(f'data-row-menu="{customer_id}"')
    menu = html[start : html.index("</td>", start)]
    link = re.search(rf'data-action="{action}" href="([^"]+)"', menu).group(1)
    return markup.unescape(link)


@pytest.fixture
def kunden(app):
    """27 managed customers "Kunde 01" … "Kunde 27" and one self-service one."""
    factories.reference(app)
    made = {
        n: factories.customer(app, company=f"Kunde {n:02d}", email=f"k{n}@kunde.example")
        for n in range(1, 28)
    }
    factories.customer(app, company="Kunde Selbst", mode="self_service")
    return made


def test_a_row_action_ends_on_the_same_list_page_with_the_row_highlighted(staff_client, kunden):
    listing = page_of(staff_client, LIST)
    assert "Kunde 02" in listing and "Kunde 01" in listing and "Kunde 03" not in listing
    target = kunden[2]
    address, token = row_form(listing, target.id, "lock")
    assert address == f"/admin/customer/{target.id}/lock/?url={quote(LIST, safe='')}"

    response = staff_client.post(address, data={"csrf_token": token, "version": target.version})
    assert response.status_code == 302
    assert response.location == f"{LIST}&highlight={target.id}"
    back = page_of(staff_client, response.location)
    assert highlighted_rows(back) == [str(target.id)]
    assert "The account is locked" in back
    # the list's own links do not carry the highlight on
    assert "highlight=" not in row_form(back, kunden[1].id, "lock")[0]
    assert db.session.get(Customer, target.id).locked


def test_an_action_with_its_own_page_returns_there_too(staff_client, kunden):
    """IP Distribution from the row menu: Cancel and Save both end on the list page."""
    listing = page_of(staff_client, LIST)
    target = kunden[1]
    form_page_url = row_link(listing, target.id, "ip_distribution")
    form_page = page_of(staff_client, form_page_url)
    cancel = re.search(r'<a class="btn btn-link" href="([^"]+)">Cancel</a>', form_page).group(1)
    assert markup.unescape(cancel) == f"{LIST}&highlight={target.id}"
    # the breadcrumb leads to the list and to the overview, which keeps the way back
    assert f'href="{markup.escape(LIST)}"' in form_page
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form_page).group(1)
    response = staff_client.post(
        form_page_url,
        data={
            "csrf_token": token,
            "version": target.version,
            "total_ips": 12,
            "internal_ips": 6,
            "external_ips": 6,
        },
    )
    assert response.status_code == 302
    assert response.location == f"{LIST}&highlight={target.id}"


def test_the_overview_leads_back_and_its_header_actions_end_on_the_list(staff_client, kunden):
    listing = page_of(staff_client, LIST)
    target = kunden[2]
    link = re.search(
        r'<a href="([^"]+)" class="msp-company"><strong>Kunde 02</strong>', listing
    ).group(1)
    overview_url = markup.unescape(link)
    assert overview_url == f"/admin/customer/details/?id={target.id}&url={quote(LIST, safe='')}"
    overview = page_of(staff_client, overview_url)
    back = re.search(r'<a href="([^"]+)" id="back-to-list">', overview).group(1)
    assert markup.unescape(back) == f"{LIST}&highlight={target.id}"

    # a section's edit returns to the overview, which still knows the list
    tags = re.search(r'<form method="post" action="([^"]+)" id="tags-form">', overview).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', overview).group(1)
    response = staff_client.post(
        markup.unescape(tags),
        data={"csrf_token": token, "version": target.version, "tags": "vip"},
    )
    assert same(response.location, f"{overview_url}#profile")

    # a header action (the row menu's) ends on the list page, the row highlighted
    overview = page_of(staff_client, overview_url)
    lock = re.search(
        r'<form method="post" action="([^"]+)" class="d-inline" id="lock-form">', overview
    )
    version = db.session.get(Customer, target.id).version
    response = staff_client.post(
        markup.unescape(lock.group(1)), data={"csrf_token": token, "version": version}
    )
    assert response.location == f"{LIST}&highlight={target.id}"
    assert highlighted_rows(page_of(staff_client, response.location)) == [str(target.id)]


def test_a_refused_action_says_why_on_the_list_page(staff_client, kunden):
    """A stale menu (the customer was unlocked meanwhile): the refusal shows on the list."""
    target = kunden[2]
    address = f"/admin/customer/{target.id}/unlock/?url={quote(LIST, safe='')}"
    response = staff_client.post(
        address, data={"csrf_token": staff_client.token, "version": target.version}
    )
    assert response.location == f"{LIST}&highlight={target.id}"
    back = page_of(staff_client, response.location)
    assert "This action is not available for this customer (any more)." in back


def test_without_a_list_address_an_action_from_the_overview_stays_there(staff_client, kunden):
    target = kunden[3]
    response = staff_client.post(
        f"/admin/customer/{target.id}/lock/",
        data={"csrf_token": staff_client.token, "version": target.version},
    )
    assert response.location == f"/admin/customer/details/?id={target.id}"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/admin/customer/",
        "//evil.example/admin/customer/",
        "http:/evil.example/admin/customer/",
        "/\\evil.example/admin/customer/",
        "/portal/",
        "/admin/../portal/",
        "/admin/%2e%2e/portal/",
        "javascript:alert(1)",
    ],
)
def test_the_list_address_is_only_followed_inside_the_admin(staff_client, kunden, target):
    """No open redirect: an address outside the admin is dropped; the action then ends on the
    customer's overview, which has no way back there either."""
    customer = kunden[4]
    response = staff_client.post(
        f"/admin/customer/{customer.id}/lock/?url={quote(target, safe='')}",
        data={"csrf_token": staff_client.token, "version": customer.version},
    )
    assert response.status_code == 302
    assert response.location == f"/admin/customer/details/?id={customer.id}"
    overview = page_of(
        staff_client, f"/admin/customer/details/?id={customer.id}&url={quote(target, safe='')}"
    )
    back = re.search(r'<a href="([^"]+)" id="back-to-list">', overview).group(1)
    assert markup.unescape(back) == f"/admin/customer/?highlight={customer.id}"
    assert not re.search(r'(href|action)="[^"]*(evil\.example|/portal/)', overview)


def test_a_bulk_action_highlights_the_rows_it_changed(staff_client, kunden):
    listing_url = "/admin/customer/?search=kunde&page=1"
    chosen = [kunden[26].id, kunden[27].id]
    response = staff_client.post(
        "/admin/customer/action/",
        data={
            "csrf_token": staff_client.token,
            "action": "lock",
            "url": listing_url,
            "rowid": [str(i) for i in chosen],
        },
    )
    assert response.location == f"{listing_url}&highlight={chosen[0]}%2C{chosen[1]}"
    back = page_of(staff_client, response.location)
    assert sorted(highlighted_rows(back)) == sorted(str(i) for i in chosen)


# --- invoices and billing runs ----------------------------------------------------------------


@pytest.fixture
def invoiced(app):
    """An October invoice of each of two customers (one finalized) and the October run."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    first = factories.customer(app, company="Alpha GmbH")
    second = factories.customer(app, company="Beta AG")
    clock.instant = berlin(2026, 11, 2, 9, 0)
    finalized = finalize_invoice(draft_invoice(first.id, date(2026, 10, 1), clock).id, clock)
    draft = draft_invoice(second.id, date(2026, 10, 1), clock)
    return finalized, draft


def test_an_invoice_action_from_its_page_ends_on_the_invoice_list(staff_client, invoiced):
    finalized, _draft = invoiced
    listing_url = "/admin/invoice/?flt0_period_equals=2026-10-01&sort=1"
    listing = page_of(staff_client, listing_url)
    link = re.search(rf'<a href="([^"]+)">{finalized.number}</a>', listing).group(1)
    details_url = markup.unescape(link)
    assert same(details_url, f"/admin/invoice/details/?id={finalized.id}&url={quote(listing_url)}")
    details = page_of(staff_client, details_url)
    assert f"<title>Invoice {finalized.number} · Invoices · " in details
    assert re.search(rf'<h1[^>]*id="record-name">Invoice {finalized.number}</h1>', details)
    back = re.search(r'<a href="([^"]+)" id="back-to-list">Invoices</a>', details).group(1)
    assert markup.unescape(back) == f"{listing_url}&highlight={finalized.id}"
    mark_paid = re.search(
        r'<form method="post" action="([^"]+)" class="d-inline" id="mark-paid-form">', details
    )
    response = staff_client.post(
        markup.unescape(mark_paid.group(1)), data={"csrf_token": staff_client.token}
    )
    assert response.location == f"{listing_url}&highlight={finalized.id}"
    back = page_of(staff_client, response.location)
    row = re.search(r'<tr class="msp-highlight" aria-current="true">(.*?)</tr>', back, re.S)
    assert finalized.number in row.group(1)
    assert 'data-state="paid">Paid</span>' in row.group(1)


def test_a_draft_is_named_by_its_customer_and_month(staff_client, invoiced):
    _finalized, draft = invoiced
    details = page_of(staff_client, f"/admin/invoice/details/?id={draft.id}")
    assert "<title>Draft for Beta AG, October 2026 · Invoices · " in details


def test_approving_a_run_stays_on_its_page_which_leads_back_to_the_list(app, staff_client):
    """An approval starts work the run's page follows, so it ends there, not on the list."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    factories.customer(app, company="Alpha GmbH")
    factories.customer(app, company="Beta AG")
    clock.instant = berlin(2026, 11, 2, 9, 0)
    started = monthend.start_run(date(2026, 10, 1), SYSTEM, clock)
    monthend_work.work(started.run_id, clock)
    listing_url = "/admin/billing_run/?page_size=50"
    listing = page_of(staff_client, listing_url)
    period = r'<td class="col-period">\s*<a href="([^"]+)">October 2026</a>'
    link = re.search(period, listing).group(1)
    details_url = markup.unescape(link)
    details = page_of(staff_client, details_url)
    assert "<title>Billing run October 2026 · Billing Runs · " in details
    back = re.search(r'<a href="([^"]+)" id="back-to-list">', details).group(1)
    assert markup.unescape(back) == f"{listing_url}&highlight={started.run_id}"
    approve = re.search(
        r'<form method="post" action="([^"]+)" class="d-inline" id="approve-form">', details
    )
    response = staff_client.post(
        markup.unescape(approve.group(1)), data={"csrf_token": staff_client.token}
    )
    assert response.location == details_url
    assert db.session.get(BillingRun, started.run_id).state == "finalizing"
    assert db.session.scalar(db.select(db.func.count()).select_from(Invoice)) == 2


def test_a_view_saved_from_a_highlighted_list_keeps_only_the_list(staff_client, kunden):
    html = page_of(staff_client, f"{LIST}&highlight={kunden[1].id}")
    saved = re.search(r'name="query" value="([^"]*)"', html).group(1)
    assert parse_qsl(markup.unescape(saved)) == parse_qsl(urlsplit(LIST).query)


@pytest.mark.parametrize(
    "path, english, german",
    [
        ("/admin/customer/", "Customers", "Kunden"),
        ("/admin/invoice/", "Invoices", "Rechnungen"),
        ("/admin/billing_run/", "Billing Runs", "Abrechnungsläufe"),
        ("/admin/email_log/", "E-mail log", "E-Mail-Protokoll"),
    ],
)
def test_a_list_tab_is_named_by_the_list_and_the_product(staff_client, path, english, german):
    """The browser tab names the screen first, then the product, the same way as a record's
    tab ("Acme GmbH · Customers · MSP Billing"), without the menu's category."""
    product = staff_client.application.config["PRODUCT_NAME"]
    for language, name in (("en", english), ("de", german)):
        page = staff_client.get(path, headers={"Accept-Language": language})
        title = re.search(r"<title>(.*?)</title>", page.get_data(as_text=True), re.S)
        assert markup.unescape(title.group(1).strip()) == f"{name} · {product}", language
