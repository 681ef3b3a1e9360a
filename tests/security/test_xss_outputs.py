"""The XSS payload corpus in everything the product produces besides pages (SPEC §3, §7, §8,
§13): the customer exports (JSON, CSV, XLSX), the e-mails as the SMTP sink receives them, the
invoice PDF, and forms and flash messages that echo what was typed. The text is kept exactly as
typed, as data: escaped in HTML and JSON, formula prefixes defused in spreadsheets, literal in
PDFs and plain-text mail. (Pages in the browser: test_browser.py.)"""

from __future__ import annotations

import csv
import io
import json
import re

import pypdfium2 as pdfium
import pytest
from markupsafe import escape
from openpyxl import load_workbook

from billing.customers import customer_tools, organisation, team
from billing.customers.lookup import main_user
from billing.invoicing.invoice_pdf import render_invoice_pdf
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.errors import DomainError
from billing.kernel.mail import deliver
from tests import factories
from tests.security import corpus
from tests.security.crawl import RAW_PAYLOAD_MARKUP

# The corpus' markup, in e-mails (which have no scripts of their own) any tag that could run one.
RAW_MARKUP = re.compile(r"<script|<img|<svg|<iframe|<a href=\"javascript", re.I)


@pytest.fixture
def planted(app, staff_client, mail_on):
    factories.reference(app)
    return corpus.plant(app.config["CLOCK"], "admin@staff.example")


def export(staff_client, kind: str):
    response = staff_client.get(f"/admin/customer/export/{kind}/?search=xss-owner")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    return response


def test_json_export_keeps_the_text_and_escapes_markup(staff_client, planted):
    """SPEC §3 export schema: the values read back exactly; no "<" or ">" in the file."""
    response = export(staff_client, "json")
    assert response.mimetype == "application/json"
    body = response.get_data(as_text=True)
    assert "<" not in body and ">" not in body
    (row,) = json.loads(body)
    assert (row["company_name"], row["contact_name"]) == (corpus.COMPANY, corpus.CONTACT)
    assert (row["city"], row["partner"]) == (corpus.CITY, corpus.PARTNER)


def test_csv_and_xlsx_exports_keep_the_text_and_defuse_formulas(staff_client, planted):
    """SPEC §3: text cells as typed, a cell starting with "=" gets a leading "'"."""
    (row,) = list(csv.DictReader(io.StringIO(export(staff_client, "csv").get_data(as_text=True))))
    assert row["company_name"] == corpus.COMPANY
    assert row["contact_name"] == "'" + corpus.CONTACT
    assert (row["city"], row["partner"]) == (corpus.CITY, corpus.PARTNER)
    sheet = load_workbook(io.BytesIO(export(staff_client, "xlsx").data)).active
    header, values = [[cell for cell in row] for row in sheet.iter_rows(max_row=2)]
    cells = {h.value: cell for h, cell in zip(header, values, strict=True)}
    assert cells["company_name"].value == corpus.COMPANY
    assert cells["contact_name"].value == "'" + corpus.CONTACT
    assert cells["contact_name"].data_type == "s"  # text, never a formula


def test_billing_data_json_escapes_markup(app, staff_client, planted):
    """SPEC §9: the dashboard's billing data download, same rule as the list export."""
    response = staff_client.get("/admin/billing-data/json/?month=2026-10")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<" not in body and ">" not in body
    rows = json.loads(body)
    assert corpus.COMPANY in [row["company_name"] for row in rows]


def mails_of(sink, recipient: str):
    return [message for to, message in sink.messages if recipient in to]


def test_emails_escape_the_text_in_html_and_keep_it_in_plain_text(app, planted, mail_on):
    """SPEC §7: staff message (subject, message) and team invite (member, company) as the
    recipient's mail program gets them: HTML escaped, plain text and subject literal."""
    clock = app.config["CLOCK"]
    owner = main_user(planted.customer_id)
    for message in customer_tools.send_staff_message(
        planted.customer_id, corpus.MAIL_SUBJECT, corpus.MAIL_MESSAGE, SYSTEM, clock
    ):
        deliver(message, clock)
    _user, invite = team.invite_member(
        planted.customer_id,
        "xss-second@acme-xss.example",
        corpus.MEMBER,
        Actor.user(owner),
        clock,
        "http://portal.test",
    )
    deliver(invite, clock)
    (staff_mail,) = mails_of(mail_on, corpus.EMAIL)
    (invite_mail,) = mails_of(mail_on, "xss-second@acme-xss.example")
    assert staff_mail["Subject"] == corpus.MAIL_SUBJECT
    checks = (
        (staff_mail, (corpus.MAIL_MESSAGE,)),
        (invite_mail, (corpus.MEMBER, corpus.COMPANY)),
    )
    for mail, texts in checks:
        html = mail.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n")
        plain = mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
        assert not RAW_MARKUP.search(html), RAW_MARKUP.search(html).group(0)
        for text in texts:
            assert str(escape(text)) in html
            assert text in plain


def words(text: str) -> str:
    return " ".join(text.split())


def pdf_text(data: bytes) -> str:
    """The PDF's text, whitespace (and so the line breaks of wrapped text) collapsed."""
    document = pdfium.PdfDocument(data)
    return words(" ".join(page.get_textpage().get_text_range() for page in document))


def test_invoice_pdf_shows_the_text_literally(app, planted):
    """SPEC §8: the invoice's recipient block prints the company, street and city as typed."""
    text = pdf_text(render_invoice_pdf(planted.invoice_id))
    for value in (corpus.COMPANY, corpus.STREET, corpus.CITY):
        assert words(value) in text, value


def test_forms_and_flash_messages_echo_the_text_escaped(app, staff_client, mail_on):
    """SPEC §4: a refused New Customer form shows the typed values escaped in its inputs; the
    flash message of a created customer shows the company name escaped."""
    factories.reference(app)
    form = {
        "csrf_token": staff_client.token,
        "company_name": corpus.TEXTAREA,
        "contact_name": corpus.ATTRIBUTE,
        "contact_email": "not an address",
        "street": corpus.SCRIPT,
        "country": "DE",
        "language": "en",
    }
    refused = staff_client.post("/admin/customer/new-customer/", data=form)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert not RAW_PAYLOAD_MARKUP.search(page), RAW_PAYLOAD_MARKUP.search(page).group(0)
    for value in (corpus.TEXTAREA, corpus.ATTRIBUTE, corpus.SCRIPT):
        assert f'value="{escape(value)}"' in page
    form["contact_email"] = "new-xss@acme-xss.example"
    created = staff_client.post("/admin/customer/new-customer/", data=form, follow_redirects=True)
    page = created.get_data(as_text=True)
    assert str(escape(corpus.TEXTAREA)) in page
    assert not RAW_PAYLOAD_MARKUP.search(page), RAW_PAYLOAD_MARKUP.search(page).group(0)


def test_a_javascript_url_is_refused_as_website(app, planted):
    """SPEC §11: the website becomes a link on the Details page, so only http(s) is stored."""
    clock = app.config["CLOCK"]
    for url in (corpus.JS_URL, "JavaScript:alert(1)//x.example", "data:text/html,<script>x"):
        data = organisation.OrganisationInput(website=url)
        with pytest.raises(DomainError):
            organisation.edit_organisation(planted.customer_id, data, SYSTEM, clock)
