"""The invoice PDF in English and German (issue 16): the demo invoice of the last billed month
that asks for a bank transfer, downloaded from the invoice list the way staff do, reads in its
language (amounts, dates, unit prices with the decimals they need, the transfer sentence with
the seller's account and the payment term, the bank details in the footer). Its first page is
kept as docs/screenshots/invoice-pdf-{en,de}.png; a finalized invoice renders to the same bytes
every time, so the pictures change only when the invoice does."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from models import Invoice, InvoiceKind, InvoiceState, PaymentMethodCode, db
from tests.i18n.german import findings

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCALE = 1.5  # 893 × 1263 pixels for an A4 page


def _transfer_invoice(live_server, language: str) -> tuple:
    """The finalized demo invoice in ``language`` paid by bank transfer with the highest total
    of the last billed month: id, number, gross, due date, payment term and its lines
    (quantity, unit price, amount)."""
    with live_server.app.app_context():
        kept = (
            Invoice.language == language,
            Invoice.kind == InvoiceKind.INVOICE.value,
            Invoice.state == InvoiceState.FINALIZED.value,
            Invoice.payment_method == PaymentMethodCode.INVOICE.value,
        )
        last = db.session.scalar(db.select(db.func.max(Invoice.period)).where(*kept))
        invoice = db.session.scalars(
            db.select(Invoice)
            .where(*kept, Invoice.period == last)
            .order_by(Invoice.gross.desc(), Invoice.id)
            .limit(1)
        ).one()
        facts = (
            invoice.id,
            invoice.number,
            invoice.gross,
            invoice.due_date,
            invoice.payment_term_days,
            [(line.quantity, line.unit_price, line.amount) for line in invoice.lines],
        )
        db.session.remove()
    return facts


def _money(amount: Decimal, language: str) -> str:
    if language == "en":
        return f"€{amount:,.2f}"
    return f"{amount:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".") + " €"


def _unit_price(price: Decimal, language: str) -> str:
    """Two decimals, or up to four when the price needs them (a tier price per IP)."""
    places = max(2, len(f"{price:.4f}".rstrip("0").split(".")[1]))
    english = f"{price:,.{places}f}"
    if language == "en":
        return f"€{english}"
    return english.replace(",", "_").replace(".", ",").replace("_", ".") + " €"


def _day(day: date, language: str) -> str:
    return f"{day:%b} {day.day}, {day.year}" if language == "en" else f"{day:%d.%m.%Y}"


def _text(document) -> str:
    text = " ".join(page.get_textpage().get_text_range() for page in document)
    return " ".join(text.replace("\xa0", " ").replace("\u202f", " ").split())


SENTENCES = {
    "en": (
        "Please transfer {gross} by {due} (within {days} days) to Demo MSP GmbH, "
        "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX (Commerzbank), quoting the invoice "
        "number.",
        "Bank details: Demo MSP GmbH · Commerzbank · IBAN DE89 3704 0044 0532 0130 00 · "
        "BIC COBADEFFXXX",
        "Description Quantity Unit price Amount",
    ),
    "de": (
        "Bitte überweisen Sie {gross} bis zum {due} (innerhalb von {days} Tagen) unter Angabe "
        "der Rechnungsnummer an Demo MSP GmbH, IBAN DE89 3704 0044 0532 0130 00, "
        "BIC COBADEFFXXX (Commerzbank).",
        "Bankverbindung: Demo MSP GmbH · Commerzbank · IBAN DE89 3704 0044 0532 0130 00 · "
        "BIC COBADEFFXXX",
        "Beschreibung Menge Einzelpreis Betrag",
    ),
}


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_invoice_pdf_in_english_and_german(staff_page, live_server, language):
    page = staff_page
    invoice_id, number, gross, due, days, lines = _transfer_invoice(live_server, language)
    page.goto(f"/admin/invoice/?search={number}")
    href = page.locator(f'a[data-pdf="{invoice_id}"]').get_attribute("href")
    response = page.request.get(href)
    assert response.ok and response.headers["content-type"] == "application/pdf"

    document = pdfium.PdfDocument(response.body())
    text = _text(document)
    transfer, bank, headings = SENTENCES[language]
    assert (
        transfer.format(gross=_money(gross, language), due=_day(due, language), days=days) in text
    )
    assert bank in text and headings in text
    for quantity, unit_price, amount in lines:
        row = f"{quantity} {_unit_price(unit_price, language)} {_money(amount, language)}"
        assert row in text, row
    if language == "de":
        assert findings(text, ("Demo MSP GmbH",)) == []

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    document[0].render(scale=SCALE).to_pil().save(
        SCREENSHOTS / f"invoice-pdf-{language}.png", optimize=True
    )
