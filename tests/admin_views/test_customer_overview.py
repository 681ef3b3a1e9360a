"""The customer overview (issue 16): the company's name, status and money first, the actions
that apply (the row menu's, from one registry), and one section per part of the customer —
profile, users, subscriptions, invoices and credit notes, payments, e-mails, timeline — in
English and German, with amounts and dates in the reader's language."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.customers import partners, team
from billing.customers.customer_tools import set_tags
from billing.customers.lookup import main_user
from billing.customers.sign_in import authenticate_user
from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.invoicing.invoice_payment import mark_paid
from billing.kernel.audit import SYSTEM, Actor
from models import PaymentAttempt, TeamInvitation, db
from tests import factories
from tests.conftest import csrf_token, make_staff, sign_in

SECTIONS = ("profile", "users", "subscriptions", "invoices", "payments", "emails", "timeline")


def overview(client, customer_id: int, language: str = "en") -> str:
    response = client.get(
        f"/admin/customer/details/?id={customer_id}", headers={"Accept-Language": language}
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def header_actions(html: str) -> list[str]:
    start = html.index('id="customer-actions"')
    header = html[start : html.index("</header>", start)]
    return re.findall(r'data-action="(\w+)"', header)


def row_menu_actions(html: str, customer_id: int) -> list[str]:
    start = html.index(f'data-row-menu="{customer_id}"')
    return re.findall(r'data-action="(\w+)"', html[start : html.index("</td>", start)])


@pytest.fixture
def billed(app, clock, monkeypatch):
    """A managed customer with a partner, tags, a team user (one pending invite, one signed
    in), a paid October invoice, an open November one with a failed card payment, and a
    credit note."""
    monkeypatch.setattr("billing.kernel.mail.mail_configured", lambda: True)
    factories.reference(app)
    customer = factories.customer(
        app, company="Kiel Kältetechnik GmbH", since=date(2026, 9, 1), internal=40, external=10
    )
    partner = partners.create_partner("Nordsee Reseller", SYSTEM, clock)
    partners.assign_partner(customer.id, partner.id, SYSTEM, clock)
    set_tags(customer.id, "VIP, Kiel", SYSTEM, clock)
    main = main_user(customer.id)
    authenticate_user(main.email, "Customer-Pass-1", clock)
    team.invite_member(customer.id, "anna@kaelte.example", "Anna Team", Actor.user(main), clock)
    october = finalize_invoice(draft_invoice(customer.id, date(2026, 10, 1), clock).id, clock)
    mark_paid(october.id, SYSTEM, clock)
    september = finalize_invoice(draft_invoice(customer.id, date(2026, 9, 1), clock).id, clock)
    note = create_credit_note(september.id, "Goodwill", SYSTEM, clock)
    db.session.add(
        PaymentAttempt(
            invoice_id=october.id,
            idempotency_key="overview-test-1",
            amount=october.gross,
            currency="EUR",
            state="failed",
            error="Your card was declined.",
            created_at=clock.now() - timedelta(days=3),
            updated_at=clock.now() - timedelta(days=3),
        )
    )
    db.session.commit()
    return customer, october, september, note


def test_the_overview_starts_with_the_company_in_english_and_german(app, staff_client, billed):
    """Issue 16: the page is the company's: its name in the title, the browser tab and the
    first heading, then status, service mode, partner, payment method, monthly price and
    account balance, then the sections; no stray "List | Details | Filter" bar."""
    customer, *_rest = billed
    english = overview(staff_client, customer.id)
    title = re.search(r"<title>(.*?)</title>", english, re.S).group(1)
    assert title.startswith("Kiel Kältetechnik GmbH")
    assert re.search(r'<h1[^>]*id="customer-name"[^>]*>Kiel Kältetechnik GmbH</h1>', english)
    assert english.index('id="customer-name"') < english.index('id="customer-tabs"')
    assert "fa_filter" not in english and ">List</a>" not in english
    facts = english[english.index('id="customer-facts"') : english.index('id="customer-actions"')]
    assert 'data-status="active"' in english
    for shown in ("Managed service", "Nordsee Reseller", "Invoice", "€", "40 / 10"):
        assert shown in facts, shown
    for section in SECTIONS:
        assert f'id="{section}" role="tabpanel"' in english
    assert ">Invoices and credit notes" in english and ">Timeline" in english
    assert re.search(r'id="payment-term">14 days', english)

    german = overview(staff_client, customer.id, "de")
    facts = german[german.index('id="customer-facts"') : german.index('id="customer-actions"')]
    assert "Managed-Service" in facts and "Nordsee Reseller" in facts
    price = customer_monthly_price(customer.id)
    assert f"{price:.2f}".replace(".", ",") + "\xa0€" in facts
    assert "Rechnungen und Gutschriften" in german and ">Verlauf" in german
    assert "Konto sperren" in german
    assert re.search(r'id="payment-term">14 Tage', german)


def customer_monthly_price(customer_id: int) -> Decimal:
    from models import Customer

    return db.session.get(Customer, customer_id).monthly_price


@pytest.mark.parametrize("role", ["admin", "billing", "support"])
def test_the_header_offers_exactly_the_row_menus_actions(app, role):
    """One source (``admin_views.actions.CUSTOMER_ACTIONS`` + ``available_actions``): for
    customers in every state and for every role, the overview's header buttons are the row
    menu's entries (but the overview itself)."""
    factories.reference(app)
    customers = [
        factories.customer(app),
        factories.customer(app, mode="self_service"),
        factories.customer(app, state="invited"),
        factories.customer(app, state="locked"),
        factories.customer(app, state="inactive"),
        factories.customer(app, state="deleted"),
    ]
    client = app.test_client()
    sign_in(client, make_staff(app, role).email)
    listing = client.get("/admin/customer/").get_data(as_text=True)
    for customer in customers:
        menu = [key for key in row_menu_actions(listing, customer.id) if key != "details"]
        assert header_actions(overview(client, customer.id)) == menu, customer.company_name
    if role == "support":
        html = overview(client, customers[0].id)
        assert header_actions(html) == ["impersonate"]
        assert "tags-dialog" not in html and "ledger-dialog" not in html


def test_the_company_name_in_the_list_opens_the_overview(app, staff_client, billed):
    """The link carries the list page's address, so the overview leads back to it."""
    customer, *_rest = billed
    listing = staff_client.get("/admin/customer/?search=kiel").get_data(as_text=True)
    link = (
        f'<a href="/admin/customer/details/?id={customer.id}'
        '&amp;url=%2Fadmin%2Fcustomer%2F%3Fsearch%3Dkiel" class="msp-company">'
    )
    assert link + "<strong>Kiel Kältetechnik GmbH</strong></a>" in listing


def test_the_users_section_lists_the_main_and_team_users(app, staff_client, billed, clock):
    """Main user first with its last sign-in, then the pending team invitation with its state;
    the invitation can be resent or withdrawn from here."""
    customer, *_rest = billed
    html = overview(staff_client, customer.id)
    start = html.index('id="customer-users"')
    users = html[start : html.index("</table>", start)]
    rows = re.findall(r'<tr data-(user|invitation)="(\d+)" data-state="(\w+)">', users)
    assert [(kind, state) for kind, _id, state in rows] == [
        ("user", "main"),
        ("invitation", "invited"),
    ]
    assert "data-main-user" in users and "Anna Team" in users
    assert "Nov 15, 2026" in users.split("data-last-sign-in>")[1]
    invitation = db.session.scalar(
        db.select(TeamInvitation.id).where(TeamInvitation.email == "anna@kaelte.example")
    )
    assert f"/admin/customer/{customer.id}/invitations/{invitation}/resend/" in users
    withdraw = f"/admin/customer/{customer.id}/invitations/{invitation}/withdraw/"
    assert withdraw in users
    response = staff_client.post(withdraw, data={"csrf_token": staff_client.token})
    assert response.headers["Location"].endswith(f"/admin/customer/details/?id={customer.id}#users")
    db.session.expire_all()
    assert db.session.get(TeamInvitation, invitation) is None


def test_the_invoices_section_shows_states_amounts_and_pdfs(app, staff_client, billed):
    customer, october, september, note = billed
    html = overview(staff_client, customer.id)
    start = html.index('id="customer-invoices"')
    invoices = html[start : html.index("</table>", start)]
    states = dict(re.findall(r'data-invoice="(\d+)" data-state="(\w+)"', invoices))
    assert states == {
        str(october.id): "paid",
        str(september.id): "credited",
        str(note.id): "finalized",
    }
    assert ">Paid</span>" in invoices and ">Credited</span>" in invoices
    assert ">Credit note<" in invoices
    assert f"/admin/invoice/{october.id}/pdf/" in invoices
    assert f"/admin/invoice/details/?id={october.id}" in invoices
    assert "October 2026" in invoices
    german = overview(staff_client, customer.id, "de")
    start = german.index('id="customer-invoices"')
    german_invoices = german[start : german.index("</table>", start)]
    assert ">Bezahlt</span>" in german_invoices and "Oktober 2026" in german_invoices
    gross = f"{october.gross:.2f}".replace(".", ",")
    assert f"{gross}\xa0€" in german_invoices


def test_the_payments_section_shows_charges_failures_and_the_balance(app, staff_client, billed):
    customer, october, *_rest = billed
    html = overview(staff_client, customer.id)
    start = html.index('id="card-payments"')
    payments = html[start : html.index("</table>", start)]
    assert 'data-state="failed"' in payments and "Your card was declined." in payments
    assert october.number in payments
    assert "No card on file." in html
    assert 'id="ledger-balance"' in html and 'id="ledger-dialog"' in html
    german = overview(staff_client, customer.id, "de")
    assert "Keine Karte hinterlegt." in german and ">fehlgeschlagen</span>" in german


def test_edits_open_in_their_own_dialogs(app, staff_client, billed):
    """No inline forms with their own Save buttons on the page: each edit is a dialog (or its
    own page) that posts to its row action and returns to its section."""
    customer, *_rest = billed
    html = overview(staff_client, customer.id)
    for dialog, form in (
        ("tags-dialog", "tags-form"),
        ("language-dialog", "language-form"),
        ("partner-dialog", "partner-form"),
        ("price-dialog", "price-form"),
        ("ledger-dialog", "ledger-form"),
    ):
        start = html.index(f'id="{dialog}"')
        assert 'class="modal fade"' in html[start - 30 : start]
        assert f'id="{form}"' in html[start : start + 800]
        assert f'data-target="#{dialog}"' in html
    body = html[: html.index('class="modal fade"')]
    assert "<form" not in body.split('id="customer-tabs"')[1].split('id="profile"')[0]
    response = staff_client.post(
        f"/admin/customer/{customer.id}/tags/",
        data={"csrf_token": staff_client.token, "tags": "VIP, Kiel, Nord"},
    )
    assert response.headers["Location"].endswith("#profile")


def test_the_title_of_every_customer_page_carries_its_name(app, staff_client, billed):
    customer, *_rest = billed
    page = staff_client.get(f"/admin/customer/{customer.id}/address/").get_data(as_text=True)
    assert re.search(r"<title>\s*Kiel Kältetechnik GmbH", page)


def test_support_reads_the_overview_without_edits(app, billed):
    customer, *_rest = billed
    client = app.test_client()
    sign_in(client, make_staff(app, "support").email)
    html = overview(client, customer.id)
    assert 'id="customer-name"' in html and "/withdraw/" not in html
    assert re.search(r"/invitations/\d+/resend/", html), "support resends invites"
    assert not re.search(r'data-target="#\w+-dialog"', html)
    token = csrf_token(client, "/admin/")
    tags = client.post(f"/admin/customer/{customer.id}/tags/", data={"csrf_token": token})
    assert tags.status_code == 403
