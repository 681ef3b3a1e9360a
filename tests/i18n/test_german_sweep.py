"""German that is German (issue 16): every staff page, every portal page, every e-mail and the
invoice PDFs, rendered in German on the demo, show none of the product's English strings, none
of Flask-Admin's stock ones (its buttons, filter operations and questions), no ISO date and no
amount with a decimal point (tests/i18n/german.py says what counts).

The staff pages are every GET route of ``app.url_map`` (with the ids of real demo records, as
the access sweep calls them), so a new screen is swept as soon as it exists; ``NOT_PAGES`` names
the routes that answer no page, each with its reason. The e-mails are every template of
``billing.kernel.mail.TEMPLATES``, each composed by the function that sends it in the product
(tests/i18n/emails.py).
"""

from __future__ import annotations

import json
import re

import pypdfium2

from billing.kernel.audit import SYSTEM
from seed.demo import CUSTOMER_PASSWORD
from tests.i18n.emails import deliver_all, every_email
from tests.i18n.german import findings, visible_text
from tests.portal.helpers import MEMBER_PASSWORD
from tests.security.conftest import portal_signed_in, staff_signed_in
from tests.security.routes import PORTAL, calls

# Routes that answer no page a reader reads, each with the reason it is not swept here.
NOT_PAGES = {
    "static": "a file (style sheets, scripts, fonts)",
    "admin.static": "a file of Flask-Admin's",
    "favicon": "an icon",
    "admin.billing_data": "a CSV download: data for spreadsheets, ISO dates by design",
    "billing_run.report_view": "a CSV download: data for spreadsheets, ISO dates by design",
    "customer.export": "a CSV download: data for spreadsheets, ISO dates by design",
    "invoice.pdf_view": "a PDF: its text is swept by test_the_invoice_pdfs_read_german",
    "portal.invoice_pdf": "a PDF: its text is swept by test_the_invoice_pdfs_read_german",
    "portal.payment_setup_intent": "JSON for Stripe.js (a client secret), no text",
    "ip_distribution.preview": "JSON read by the page: swept with its query below",
    "portal.subscription_preview": "JSON read by the page: swept with its query below",
}
# JSON answers a page shows parts of (``_shown``), with the query the page sends
PREVIEWS = {
    "ip_distribution.preview": "total=40&internal=30&external=10",
    "portal.subscription_preview": "internal=30&external=10",
}


def _data_values() -> tuple[str, ...]:
    """Words people typed (names, subjects, comments): they may be in any language."""
    from models import (
        Contact,
        Customer,
        CustomerGroup,
        LedgerEntry,
        Partner,
        PurchaseOrder,
        SavedView,
        ServiceSubscription,
        Tag,
        TeamInvitation,
        User,
        db,
    )
    from models.customer_tools import LedgerKind

    columns = (
        Customer.company_name,
        Customer.contact_name,
        Customer.notes,
        User.name,
        TeamInvitation.name,
        Contact.first_name,
        Contact.last_name,
        Partner.name,
        Tag.name,
        CustomerGroup.name,
        SavedView.name,
        ServiceSubscription.name,
        PurchaseOrder.name,
        PurchaseOrder.comment,
    )
    values = {value for column in columns for value in db.session.scalars(db.select(column))}
    values.update(
        db.session.scalars(
            db.select(LedgerEntry.description).where(LedgerEntry.kind == LedgerKind.MANUAL.value)
        )
    )
    # the longest first: a name that contains another is taken out whole
    return tuple(sorted((v for v in values if v and v.strip()), key=len, reverse=True))


def _report(seen: dict[str, list]) -> str:
    lines = [f"{len(seen)} with English, ISO dates or decimal points:"]
    for where, found in seen.items():
        lines.append(f"- {where} ({len(found)})")
        lines.extend(f"    {finding}" for finding in found[:12])
    return "\n".join(lines)


class Sweep:
    """Collects the findings of each page or message that has any."""

    def __init__(self, app) -> None:
        self.allowed = (*_data_values(), app.config["PRODUCT_NAME"])
        self.seen: dict[str, list] = {}
        self.checked: list[str] = []

    def text(self, where: str, text: str) -> None:
        self.checked.append(where)
        found = findings(text, self.allowed)
        if found:
            self.seen[where] = found

    def response(self, where: str, response) -> None:
        body = response.get_data(as_text=True)
        if response.is_json:
            self.text(where, "\n".join(_strings(_shown(json.loads(body)))))
        else:
            assert "text/html" in response.content_type, f"{where}: {response.content_type}"
            self.text(where, visible_text(body))

    def assert_clean(self) -> None:
        assert not self.seen, _report(self.seen)


def _shown(answer):
    """What a page shows of a JSON answer: its ``text`` (amounts and dates written for the
    reader) and ``error``; the other members are figures for the page's script."""
    if isinstance(answer, dict) and ("text" in answer or "error" in answer):
        return [answer.get("text"), answer.get("error")]
    return answer


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _german_staff(app, role: str = "admin"):
    client = staff_signed_in(app, role)
    client.post("/admin/language/", data={"language": "de", "csrf_token": client.token})
    return client


def _german_portal(app, email: str, password: str = CUSTOMER_PASSWORD):
    client = portal_signed_in(app, email, password)
    client.post("/portal/language", data={"language": "de", "csrf_token": client.token})
    return client


def _german_visitor(app):
    from tests.conftest import csrf_token

    client = app.test_client()
    token = csrf_token(client, "/portal/login")
    client.post("/portal/language", data={"language": "de", "csrf_token": token})
    return client


def _get(client, url: str):
    response = client.get(url, follow_redirects=True)
    assert response.status_code < 500, f"GET {url}: {response.status_code}"
    return response


def test_every_staff_page_reads_german(demo):
    """Every admin screen (lists, overviews, forms, dialogs, settings, runs, the e-mail log,
    its 404 and sign-in pages) in German, for the demo ``admin``."""
    from models import Customer, Invoice, InvoiceKind, db

    sweep = Sweep(demo)
    client = _german_staff(demo)
    for call in calls(demo, demo.demo.ids):
        if call.method != "GET" or call.access == PORTAL or call.url.startswith("/portal"):
            continue
        if call.endpoint in NOT_PAGES and call.endpoint not in PREVIEWS:
            continue
        url = (
            call.url.split("?")[0] + "?" + PREVIEWS[call.endpoint]
            if call.endpoint in PREVIEWS
            else call.url
        )
        sweep.response(f"{call.endpoint} {url}", _get(client, url))
    # every customer's overview (each state, mode, partner and payment method of the demo),
    # every kind and state of invoice, the list with erased customers and a second page
    for customer_id in db.session.scalars(db.select(Customer.id).order_by(Customer.id)):
        url = f"/admin/customer/details/?id={customer_id}"
        sweep.response(url, _get(client, url))
    kinds = db.session.execute(
        db.select(Invoice.kind, Invoice.state, db.func.min(Invoice.id)).group_by(
            Invoice.kind, Invoice.state
        )
    ).all()
    assert {kind for kind, _state, _id in kinds} >= {InvoiceKind.CREDIT_NOTE.value}
    for _kind, _state, invoice_id in kinds:
        url = f"/admin/invoice/details/?id={invoice_id}"
        sweep.response(url, _get(client, url))
    for url in ("/admin/customer/?page=1", "/admin/invoice/?page=1", "/admin/nowhere"):
        sweep.response(url, _get(client, url))
    signed_out = demo.test_client()
    from tests.conftest import csrf_token

    token = csrf_token(signed_out)
    signed_out.post("/admin/language/", data={"language": "de", "csrf_token": token})
    sweep.response("admin.login_view", _get(signed_out, "/admin/login/"))
    assert len(sweep.checked) > 100
    sweep.assert_clean()


def _tokens(app) -> dict[str, str]:
    """Fresh links of each kind a German visitor opens: an invite, a password reset, a
    registration to confirm."""
    from billing.catalog.selfservice import save_self_service
    from billing.customers import registration
    from billing.customers.accounts import request_password_reset
    from billing.customers.addresses import AddressInput
    from billing.customers.onboarding import NewCustomer, invite_customer

    clock = app.config["CLOCK"]
    _customer, invite = invite_customer(
        NewCustomer("Neukunde GmbH", "Nina Neu", "nina@neukunde.example", language="de"),
        SYSTEM,
        clock,
    )
    reset = request_password_reset(app.demo.customer_email, clock)
    save_self_service(True, "IP-Scanning", "IPS-1", SYSTEM, clock)
    registered = registration.register(
        registration.Registration(
            "rita@registrierung.example",
            "Rita Registrierung",
            True,
            AddressInput(
                company_name="Registrierung GmbH",
                street="Hauptstraße 1",
                postal_code="10115",
                city="Berlin",
                country="DE",
            ),
            language="de",
        ),
        clock,
    )

    def link(message) -> str:
        return re.search(r"/portal/\S+", message.text).group(0)

    return {
        "invite": link(invite),
        "reset": link(reset),
        "confirm": link(registered.message),
    }


def _portal_users(app) -> list[tuple[str, str, str]]:
    """(who, e-mail, password) of every customer user the demo lets sign in: each customer's
    main user (trials, pending changes, additional subscriptions, a declined card, project
    keys) and the team member."""
    from billing.customers.sign_in import user_may_sign_in
    from models import User, db

    users = [
        (f"{user.customer.company_name}", user.email, CUSTOMER_PASSWORD)
        for user in db.session.scalars(
            db.select(User).where(User.is_main.is_(True)).order_by(User.customer_id)
        )
        if user_may_sign_in(user)
    ]
    return [*users, ("team member", app.demo.member_email, MEMBER_PASSWORD)]


def test_every_portal_page_reads_german(demo):
    """Every portal page in German: signed in as each customer's German-speaking user, as a
    team member, impersonated by staff, and the pages a visitor opens from an e-mail's link."""
    sweep = Sweep(demo)
    links = _tokens(demo)
    pages = [
        f"{call.url}?{PREVIEWS[call.endpoint]}" if call.endpoint in PREVIEWS else call.url
        for call in calls(demo, demo.demo.ids)
        if call.method == "GET"
        and call.access == PORTAL
        and (call.endpoint not in NOT_PAGES or call.endpoint in PREVIEWS)
    ]
    users = _portal_users(demo)
    assert len(users) > 20
    for who, email, password in users:
        client = _german_portal(demo, email, password)
        for url in [*pages, "/portal/nowhere"]:
            sweep.response(f"{who}: {url}", _get(client, url))
    staff = _german_staff(demo)
    customer_id = demo.demo.ids["customer_id"]
    staff.post(
        f"/admin/customer/{customer_id}/impersonate/",
        data={"reason": "Rückfrage zur Rechnung", "csrf_token": staff.token},
    )
    for url in ("/portal/", "/portal/subscription", "/portal/invoices", "/portal/team"):
        sweep.response(f"impersonated: {url}", _get(staff, url))
    visitor = _german_visitor(demo)
    for url in (
        "/portal/login",
        "/portal/forgot",
        "/portal/register",
        links["invite"],
        links["reset"],
        links["confirm"],
        "/portal/invite/not-a-real-token",
        "/portal/reset/not-a-real-token",
        "/portal/register/confirm/not-a-real-token",
    ):
        sweep.response(f"visitor: {url.split('/')[2]}", _get(visitor, url))
    sweep.assert_clean()


def test_every_email_reads_german(demo, demo_mail):
    """Every e-mail the product sends, to a German recipient: subject, text and HTML part."""
    from billing.kernel.mail import TEMPLATES
    from models import EmailLog, db

    clock = demo.config["CLOCK"]
    sweep = Sweep(demo)
    before = db.session.scalar(db.select(db.func.max(EmailLog.id)))
    for name, scenario in every_email(demo, "de").items():
        first = len(demo_mail.messages)
        deliver_all(scenario(), clock)
        assert len(demo_mail.messages) > first, f"{name}: no e-mail"
        for _recipients, message in demo_mail.messages[first:]:
            where = f"{name}: {message['To']}"
            sweep.text(f"{where} (subject)", message["Subject"])
            sweep.text(f"{where} (text)", message.get_body(("plain",)).get_content())
            sweep.text(f"{where} (HTML)", visible_text(message.get_body(("html",)).get_content()))
    sent = db.session.execute(
        db.select(EmailLog.template, EmailLog.language).where(EmailLog.id > before)
    ).all()
    assert {template for template, _language in sent} == set(TEMPLATES)
    assert {language for _template, language in sent} == {"de"}
    sweep.assert_clean()


def _pdf_text(data: bytes) -> str:
    document = pypdfium2.PdfDocument(data)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def test_the_invoice_pdfs_read_german(demo):
    """Each kind and state of German invoice and credit note as a PDF."""
    from billing.invoicing.invoice_pdf import render_invoice_pdf
    from models import Invoice, db

    sweep = Sweep(demo)
    kinds = db.session.execute(
        db.select(Invoice.kind, Invoice.state, Invoice.payment_method, db.func.min(Invoice.id))
        .where(Invoice.language == "de")
        .group_by(Invoice.kind, Invoice.state, Invoice.payment_method)
    ).all()
    assert len(kinds) >= 3
    for kind, state, method, invoice_id in kinds:
        sweep.text(f"PDF {kind} {state} {method}", _pdf_text(render_invoice_pdf(invoice_id)))
    sweep.assert_clean()


def test_the_sweep_finds_english_iso_dates_and_decimal_points():
    """The detector itself: what it reports on a German page, and what it leaves alone."""
    html = (
        "<html><head><title>Kunden</title><script>var d = '2026-11-15';</script></head><body>"
        "<h1>Customers</h1><p>Gültig ab 2026-11-15, Betrag 257.00 € und €12.50</p>"
        "<p>Nov 15, 2026</p><input type='date' value='2026-11-15'>"
        "<p>Abrechnungslauf 2026-11, Einzelpreis 4.5000 €</p>"
        "<p>Ab 1. Januar 2027: 1.234,56 € (IP 10.0.0.1, Version 1.2.3, 1.250 IPs)</p>"
        '<code>invoice.paid</code><span translate=\'no\'>{"net": "67.50"}</span>'
        "<span lang='en'>Your invoice</span><div style='display: none'>2026-01-01</div>"
        "</body></html>"
    )
    found = findings(visible_text(html))
    assert sorted((f.kind, f.text) for f in found) == [
        ("decimal-point", "12.50"),
        ("decimal-point", "257.00"),
        ("decimal-point", "4.5000"),
        ("english", "Customers"),
        ("english-date", "Nov 15, 2026"),
        ("iso-date", "2026-11-15"),
        ("iso-month", "2026-11"),
    ]
    assert findings("Kunden: 257,00 €, 15.11.2026, 1. Januar 2027, Rechnung 2026-000113") == []


def test_the_sweep_finds_flask_admins_english_and_reads_what_its_scripts_show():
    """Flask-Admin's stock strings (from its own German catalogue) count as English, also in
    the questions a button asks (``data-confirm``), in the JSON its scripts turn into the
    filter menu and the bulk-action messages, and in the date pickers' texts; data for other
    scripts stays unread."""
    html = (
        "<html><body><ul><li>50 items</li><li>Liste</li><li>Save</li></ul>"
        '<button data-confirm="Are you sure you want to delete this record?">x</button>'
        '<div id="filter-groups-data" class="d-none">{"Angelegt": [{"arg": "created_equals", '
        '"operation": "greater than", "options": [["1", "Ja"]], "type": null}]}</div>'
        '<div id="active-filters-data" class="d-none">[[0, "Angelegt", "2026-11-15"]]</div>'
        '<div id="actions-confirmation-data" class="d-none">{"delete": '
        '"Are you sure you want to delete selected records?"}</div>'
        '<div id="message-data" class="d-none">"Please select at least one record."</div>'
        '<div id="date-picker-data" class="d-none">{"applyLabel": "Apply", "cancelLabel": '
        '"Abbrechen", "fromLabel": "Von", "toLabel": "Bis", "daysOfWeek": ["So", "Mo"], '
        '"monthNames": ["Jan", "Feb"], "firstDay": 1}</div>'
        '<div id="chart-data" class="d-none">["Save and Continue Editing"]</div>'
        "<p>Speichern und Fortfahren</p></body></html>"
    )
    text = visible_text(html)
    assert "Angelegt\ngreater than\nJa" in text and "2026-11-15" not in text
    assert sorted((f.kind, f.text) for f in findings(text)) == [
        ("english", "Apply"),
        ("english", "Are you sure you want to delete selected records"),
        ("english", "Are you sure you want to delete this record"),
        ("english", "Please select at least one record"),
        ("english", "Save"),
        ("english", "greater than"),
        ("english", "items"),
    ]
