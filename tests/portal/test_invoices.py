"""The portal's invoices (SPEC §10): the customer's own finalized invoices and credit notes with
PDF download; drafts are never shown."""

from __future__ import annotations

from datetime import date

import pytest

from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.kernel.audit import SYSTEM
from models import Customer, db
from tests import factories
from tests.conftest import berlin
from tests.portal.helpers import signed_in


@pytest.fixture
def billed(app):
    """ACME with a finalized October invoice, its credit note and a September draft."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    acme = factories.customer(app, company="ACME", email="ann@acme.example")
    clock.instant = berlin(2026, 11, 2, 9, 0)
    october = finalize_invoice(draft_invoice(acme.id, date(2026, 10, 1), clock).id, clock)
    credit = create_credit_note(october.id, "Wrong IP count", SYSTEM, clock)
    draft = draft_invoice(acme.id, date(2026, 9, 1), clock)
    return acme, october, credit, draft


def test_the_list_shows_issued_invoices_and_credit_notes_but_no_draft(app, billed):
    _acme, october, credit, draft = billed
    client = signed_in(app, "ann@acme.example")
    page = client.get("/portal/invoices").get_data(as_text=True)
    assert october.number in page and credit.number in page
    assert "October 2026" in page and "Credit note" in page and "Issued" in page
    assert f'data-invoice="{draft.id}"' not in page and "September 2026" not in page
    assert f"/portal/invoices/{october.id}/pdf" in page


def test_an_unpaid_invoice_settled_by_its_credit_note_shows_as_credited(app, billed):
    """Issue 13.2 (SPEC §14): the credit note settled the unpaid October invoice; the customer
    sees it as credited, not as open (nothing is left to pay)."""
    _acme, october, _credit, _draft = billed
    client = signed_in(app, "ann@acme.example")
    page = client.get("/portal/invoices").get_data(as_text=True)
    row = page.split(f'data-invoice="{october.id}"')[1].split("</tr>")[0]
    assert "Credited" in row and "Open" not in row


def test_pdf_download_of_an_own_invoice(app, billed):
    _acme, october, credit, _draft = billed
    client = signed_in(app, "ann@acme.example")
    for invoice, name in ((october, "invoice"), (credit, "credit-note")):
        response = client.get(f"/portal/invoices/{invoice.id}/pdf")
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.data.startswith(b"%PDF")
        assert f'filename="{name}-{invoice.number}.pdf"' in response.headers["Content-Disposition"]
        assert response.headers["Cache-Control"] == "no-store"


def test_a_draft_pdf_answers_404(app, billed):
    *_rest, draft = billed
    client = signed_in(app, "ann@acme.example")
    assert client.get(f"/portal/invoices/{draft.id}/pdf").status_code == 404
    assert client.get("/portal/invoices/999999/pdf").status_code == 404


def test_no_invoices_yet(app):
    factories.customer(app, email="new@new.example")
    client = signed_in(app, "new@new.example")
    page = client.get("/portal/invoices").get_data(as_text=True)
    assert 'id="portal-no-invoices"' in page


def test_anonymous_visitors_are_sent_to_sign_in(app, client, billed):
    _acme, october, _credit, _draft = billed
    response = client.get(f"/portal/invoices/{october.id}/pdf")
    assert response.status_code == 302 and "/portal/login" in response.headers["Location"]


@pytest.mark.parametrize(("language", "due"), [("en", "Nov 16, 2026"), ("de", "16.11.2026")])
def test_the_list_shows_when_each_invoice_is_due(app, billed, language, due):
    """SPEC §14: finalized on Monday 2 November with 14 days' term, due Monday 16 November, in
    the reader's date format; a credit note is never due."""
    acme, october, credit, _draft = billed
    db.session.get(Customer, acme.id).language = language
    db.session.commit()
    client = signed_in(app, "ann@acme.example")
    html = client.get("/portal/invoices").get_data(as_text=True)

    invoice_row = html.split(f'data-invoice="{october.id}"')[1].split("</tr>")[0]
    note_row = html.split(f'data-invoice="{credit.id}"')[1].split("</tr>")[0]
    assert f'data-due="2026-11-16">{due}</td>' in invoice_row
    assert 'data-due="">—</td>' in note_row
