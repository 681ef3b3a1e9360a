"""Invoice PDFs (SPEC §8.4 VAT notes, §8.5 invoices e-mailed as PDF): content in the invoice's
language, money formats, the draft mark, determinism, and a rasterized page that shows ink."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pypdfium2 as pdfium
import pytest

from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.invoicing.invoice_payment import mark_paid
from billing.invoicing.invoice_pdf import invoice_filename, render_invoice_pdf
from billing.invoicing.invoice_settings import save_invoice_settings
from billing.invoicing.invoice_texts import unit_price_text
from billing.kernel.audit import SYSTEM
from billing.kernel.settings import set_setting
from models import Customer, InvoiceLine, db
from tests import factories

EN_MONEY = re.compile(r"€\d{1,3}(,\d{3})*\.\d{2}")
DE_MONEY = re.compile(r"\d{1,3}(\.\d{3})*,\d{2} €")
MM = 72 / 25.4  # PDF points per millimetre


@pytest.fixture
def billing(app):
    factories.reference(app)
    return app


def _invoice(app, *, finalize=True, vat_id="", **customer):
    """An invoice for November 2026 (the clock's month) of a fresh customer, a customer since
    1 November unless ``since`` says otherwise."""
    clock = app.config["CLOCK"]
    customer.setdefault("internal", 400)
    customer.setdefault("external", 100)
    customer.setdefault("since", date(2026, 11, 1))
    created = factories.customer(app, **customer)
    if vat_id:
        db.session.get(Customer, created.id).vat_id = vat_id
        db.session.commit()
    invoice = draft_invoice(created.id, date(2026, 11, 1), clock)
    return finalize_invoice(invoice.id, clock) if finalize else invoice


def _text(pdf: bytes) -> str:
    """The PDF's text with PDFium, whitespace (including the no-break spaces of CLDR money
    formats) collapsed to single spaces."""
    document = pdfium.PdfDocument(pdf)
    text = " ".join(page.get_textpage().get_text_range() for page in document)
    return " ".join(text.replace("\xa0", " ").replace("\u202f", " ").split())


def test_english_invoice_shows_number_period_lines_and_english_money(billing):
    """SPEC §8.5: number, date, period, lines and totals; `€1,234.56` in English."""
    invoice = _invoice(billing, language="en", company="Acme Networks Ltd")
    assert invoice.gross > 1000, "the amounts should need a thousands separator"
    text = _text(render_invoice_pdf(invoice.id))

    assert text.startswith("MSP Billing INVOICE")  # no seller saved yet: the product's name
    for expected in (
        f"Invoice number {invoice.number}",
        f"Invoice {invoice.number}",
        "Acme Networks Ltd",
        "Date Nov 15, 2026",
        "Billing period November 2026",
        "Description Quantity Unit price Amount",
        "VAT 19%",
        # finalized on Sunday, 15 November: 14 days later is a Sunday too, due the Monday after
        "Due date Nov 30, 2026",
        f"Please transfer €{invoice.gross:,.2f} by Nov 30, 2026 (within 14 days), quoting the "
        "invoice number.",
        "Page 1 of 1",
    ):
        assert expected in text, expected
    assert f"Net €{invoice.net:,.2f}" in text
    assert f"Total €{invoice.gross:,.2f}" in text
    assert f"€{invoice.vat:,.2f}" in text
    assert EN_MONEY.search(text) and not DE_MONEY.search(text)
    assert "DRAFT" not in text and "Reverse charge" not in text


def _de(amount: Decimal) -> str:
    return f"{amount:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".") + " €"


def test_german_invoice_uses_german_texts_and_money_and_keeps_umlauts(billing):
    """SPEC §8.5: the invoice in the customer's language; `1.234,56 €`, ä/ö/ü/ß embedded."""
    invoice = _invoice(billing, language="de", company="Müller & Söhne Straßenbau GmbH")
    text = _text(render_invoice_pdf(invoice.id))

    for expected in (
        "RECHNUNG",
        "Müller & Söhne Straßenbau GmbH",
        f"Rechnungsnummer {invoice.number}",
        f"Rechnung {invoice.number}",
        "Datum 15.11.2026",
        "Leistungszeitraum November 2026",
        "Beschreibung Menge Einzelpreis Betrag",
        "USt. 19 %",
        "Fällig am 30.11.2026",
        f"Bitte überweisen Sie {_de(invoice.gross)} bis zum 30.11.2026 (innerhalb von 14 Tagen) "
        "unter Angabe der Rechnungsnummer.",
        "Seite 1 von 1",
    ):
        assert expected in text, expected
    assert f"Netto {_de(invoice.net)}" in text
    assert f"Gesamtbetrag {_de(invoice.gross)}" in text
    assert DE_MONEY.search(text) and not EN_MONEY.search(text)
    assert "Invoice" not in text


def test_reverse_charge_invoice_carries_the_legal_note_and_the_vat_ids(billing):
    """SPEC §8.4: an EU business with a VAT-ID pays 0 % with the reverse-charge note."""
    clock = billing.config["CLOCK"]
    set_setting("invoice.seller_name", "Nordlicht IT GmbH", clock)
    set_setting("invoice.seller_address", "Hafenstraße 7\n20457 Hamburg", clock)
    set_setting("invoice.seller_vat_id", "DE123456789", clock)
    invoice = _invoice(billing, language="en", country="FR", vat_id="FR40303265045")
    assert invoice.vat_note == "reverse_charge"
    text = _text(render_invoice_pdf(invoice.id))

    assert (
        "Reverse charge: the recipient is liable for VAT "
        "(Article 196, Council Directive 2006/112/EC)." in text
    )
    assert "VAT ID: FR40303265045" in text
    assert "Nordlicht IT GmbH · Hafenstraße 7 · 20457 Hamburg · VAT ID DE123456789" in text
    assert "VAT 0% €0.00" in text
    assert f"Total €{invoice.net:,.2f}" in text
    assert "Your MSP GmbH" not in text


def test_german_reverse_charge_and_outside_eu_notes(billing):
    """SPEC §8.4: the VAT notes in German."""
    reverse = _invoice(billing, language="de", country="AT", vat_id="ATU13585627")
    outside = _invoice(billing, language="de", country="CH", payment="card")
    reverse_text = _text(render_invoice_pdf(reverse.id))
    outside_text = _text(render_invoice_pdf(outside.id))

    assert (
        "Steuerschuldnerschaft des Leistungsempfängers "
        "(Reverse Charge, Art. 196 MwSt-Systemrichtlinie)." in reverse_text
    )
    assert "USt-IdNr.: ATU13585627" in reverse_text
    assert "Nicht im Inland steuerbar (Leistung außerhalb der EU)." in outside_text
    assert (
        f"Der Betrag von {_de(outside.gross)} wird am 15.11.2026 von Ihrer hinterlegten Karte "
        "abgebucht." in outside_text
    )
    assert "überweisen" not in outside_text and "Fällig am" not in outside_text


def test_a_draft_is_marked_and_named_by_its_id(billing):
    """SPEC §8.5 (staff review before finalizing): a draft says so in its language."""
    english = _invoice(billing, finalize=False, language="en")
    german = _invoice(billing, finalize=False, language="de")

    assert "DRAFT – Invoice" in _text(render_invoice_pdf(english.id))
    assert "ENTWURF – Rechnung" in _text(render_invoice_pdf(german.id))
    assert invoice_filename(english) == f"draft-{english.id}.pdf"


def test_a_finalized_invoice_renders_to_the_same_bytes(billing):
    """SPEC §8 (restartable run): re-rendering an invoice yields the identical document."""
    invoice = _invoice(billing)
    first = render_invoice_pdf(invoice.id)

    assert first.startswith(b"%PDF-")
    assert render_invoice_pdf(invoice.id) == first
    assert invoice_filename(invoice) == f"invoice-{invoice.number}.pdf"
    assert pdfium.PdfDocument(first).get_metadata_dict()["CreationDate"].startswith("D:2026")


def test_a_credit_note_names_the_invoice_it_corrects(billing):
    """SPEC §8.5: credit notes correct finalized invoices."""
    invoice = _invoice(billing, language="de")
    note = create_credit_note(invoice.id, "wrong IP count", SYSTEM, billing.config["CLOCK"])
    text = _text(render_invoice_pdf(note.id))

    assert f"Gutschrift zur Rechnung {invoice.number}" in text
    assert f"Gesamtbetrag -{_de(invoice.gross)}" in text
    assert "überweisen" not in text and "erstattet" not in text
    assert invoice_filename(note) == f"credit-note-{note.number}.pdf"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            "Invoice {number} was not paid yet: this credit note settles {gross} of its open "
            "amount; you no longer need to pay that amount.",
        ),
        (
            "de",
            "Die Rechnung {number} war noch nicht bezahlt: Diese Gutschrift gleicht {gross} des "
            "offenen Betrags aus; diesen Betrag müssen Sie nicht mehr zahlen.",
        ),
    ],
)
def test_a_credit_note_on_an_unpaid_invoice_says_it_settles_it(billing, language, expected):
    """Issue 13.2 (SPEC §14): the credit settled what was open; no account credit, no refund."""
    invoice = _invoice(billing, language=language)
    note = create_credit_note(invoice.id, "wrong IP count", SYSTEM, billing.config["CLOCK"])
    text = _text(render_invoice_pdf(note.id))

    gross = _money(invoice.gross, language)
    assert expected.format(number=invoice.number, gross=gross) in text
    assert "account is credited" not in text and "Guthaben" not in text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            "Invoice {number} was paid already: your account is credited with {net} (net), "
            "which is set off against your next invoices.",
        ),
        (
            "de",
            "Die Rechnung {number} war bereits bezahlt: Ihrem Kundenkonto wird ein Guthaben von "
            "{net} (netto) gutgeschrieben, das mit Ihren nächsten Rechnungen verrechnet wird.",
        ),
    ],
)
def test_a_credit_note_on_a_paid_invoice_says_it_became_account_credit(billing, language, expected):
    """Issue 13.2 (SPEC §14): what was paid already becomes account credit (net)."""
    clock = billing.config["CLOCK"]
    invoice = _invoice(billing, language=language)
    mark_paid(invoice.id, SYSTEM, clock)
    note = create_credit_note(invoice.id, "wrong IP count", SYSTEM, clock)
    text = _text(render_invoice_pdf(note.id))

    assert expected.format(number=invoice.number, net=_money(invoice.net, language)) in text
    assert "settles" not in text and "gleicht" not in text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            "Invoice {number} was partly paid: this credit note settles {settled} of its open "
            "amount, which you no longer need to pay, and your account is credited with "
            "{credit} (net), which is set off against your next invoices.",
        ),
        (
            "de",
            "Die Rechnung {number} war teilweise bezahlt: Diese Gutschrift gleicht {settled} des "
            "offenen Betrags aus (diesen Betrag müssen Sie nicht mehr zahlen), und Ihrem "
            "Kundenkonto wird ein Guthaben von {credit} (netto) gutgeschrieben, das mit Ihren "
            "nächsten Rechnungen verrechnet wird.",
        ),
    ],
)
def test_a_credit_note_on_a_partly_paid_invoice_names_both_parts(billing, language, expected):
    """SPEC §14: of a 119.00 gross invoice (100.00 net) 59.50 were still open: the note settles
    those and the paid 59.50 gross become 50.00 net account credit."""
    clock = billing.config["CLOCK"]
    invoice = _invoice(billing, finalize=False, language=language, internal=1, external=0)
    invoice.lines[0].amount = invoice.net = Decimal("100.00")
    invoice.vat, invoice.gross = Decimal("19.00"), Decimal("119.00")
    db.session.commit()
    invoice = finalize_invoice(invoice.id, clock)
    note = create_credit_note(invoice.id, "wrong IP count", SYSTEM, clock)
    # partial payments are records of their own later (SPEC §14); here: half was paid
    note.settled_amount = Decimal("59.50")
    db.session.commit()
    text = _text(render_invoice_pdf(note.id))

    settled, credit = _money(Decimal("59.50"), language), _money(Decimal("50.00"), language)
    assert expected.format(number=invoice.number, settled=settled, credit=credit) in text


def _money(amount: Decimal, language: str) -> str:
    return _de(amount) if language == "de" else f"€{amount:,.2f}"


def test_many_lines_flow_onto_further_pages(billing):
    """SPEC §8.5: a long invoice stays readable: the table continues with its headings."""
    invoice = _invoice(billing, finalize=False)
    for position in range(1, 60):
        invoice.lines.append(
            InvoiceLine(
                position=position,
                description=f"Additional service {position}",
                quantity=1,
                unit_price=Decimal("1.00"),
                amount=Decimal("1.00"),
            )
        )
    db.session.commit()
    document = pdfium.PdfDocument(render_invoice_pdf(invoice.id))

    pages = [page.get_textpage().get_text_range() for page in document]
    assert len(pages) > 1
    assert pages[1].startswith("Description Quantity Unit price Amount")
    assert "Additional service 59" in "".join(pages)
    assert "Total" in pages[-1] and f"Page {len(pages)} of {len(pages)}" in pages[-1]


def _dark_share(image, box_mm: tuple[float, float, float, float], scale: float) -> float:
    left, top, right, bottom = (round(v * MM * scale) for v in box_mm)
    grey = image.convert("L").crop((left, top, right, bottom))
    histogram = grey.histogram()
    return sum(histogram[:128]) / sum(histogram)


def test_page_one_rasterizes_to_a_real_invoice(billing, tmp_path):
    """SPEC §8.5: the rendered page shows letterhead, address and a filled line table."""
    invoice = _invoice(billing, language="de", company="Müller & Söhne GmbH")
    scale = 2.0
    page = pdfium.PdfDocument(render_invoice_pdf(invoice.id))[0]
    image = page.render(scale=scale).to_pil()
    image.save(tmp_path / "invoice-page-1.png")

    assert image.size == (round(210 * MM * scale), round(297 * MM * scale))
    whole = _dark_share(image, (0, 0, 210, 297), scale)
    table = _dark_share(image, (20, 112, 190, 150), scale)
    letterhead = _dark_share(image, (20, 16, 110, 30), scale)
    margin = _dark_share(image, (0, 0, 15, 297), scale)
    below_notes = _dark_share(image, (20, 180, 190, 260), scale)
    assert 0.005 < whole < 0.2
    assert table > 0.02, "the line table and totals should show text"
    assert letterhead > 0.03, "the seller's name should be printed large"
    assert margin == 0 and below_notes == 0


def _bank_account(app) -> None:
    """Settings → Invoices with a Commerzbank account; BIC and bank come from the IBAN."""
    save_invoice_settings(
        "Nordlicht IT GmbH",
        "Hafenstraße 7\n20457 Hamburg",
        "",
        "1.00",
        "DE",
        SYSTEM,
        app.config["CLOCK"],
        iban="de89 3704 0044 0532 0130 00",
    )


@pytest.mark.parametrize(
    ("language", "due", "sentence", "footer"),
    [
        (
            "en",
            "Due date Nov 30, 2026",
            "Please transfer {gross} by Nov 30, 2026 (within 14 days) to Nordlicht IT GmbH, "
            "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX (Commerzbank), quoting the "
            "invoice number.",
            "Bank details: Nordlicht IT GmbH · Commerzbank · IBAN DE89 3704 0044 0532 0130 00 · "
            "BIC COBADEFFXXX",
        ),
        (
            "de",
            "Fällig am 30.11.2026",
            "Bitte überweisen Sie {gross} bis zum 30.11.2026 (innerhalb von 14 Tagen) unter "
            "Angabe der Rechnungsnummer an Nordlicht IT GmbH, IBAN DE89 3704 0044 0532 0130 00, "
            "BIC COBADEFFXXX (Commerzbank).",
            "Bankverbindung: Nordlicht IT GmbH · Commerzbank · IBAN DE89 3704 0044 0532 0130 00 · "
            "BIC COBADEFFXXX",
        ),
    ],
)
def test_a_transfer_invoice_asks_for_the_amount_by_the_due_date_on_the_sellers_account(
    billing, language, due, sentence, footer
):
    """Issue 16 (SPEC §14): finalized on Sunday 15 November with 14 days' term, the invoice is
    due on Monday 30 November; it names the amount, that date and the seller's account, and the
    footer carries the bank details."""
    _bank_account(billing)
    invoice = _invoice(billing, language=language)
    text = _text(render_invoice_pdf(invoice.id))

    assert due in text
    assert sentence.format(gross=_money(invoice.gross, language)) in text
    assert footer in text


def test_the_transfer_sentence_follows_the_customers_own_payment_term(billing):
    """SPEC §14: a customer's own term (30 days) gives its due date and its sentence."""
    _bank_account(billing)
    invoice = _invoice(billing, finalize=False, language="en")
    db.session.get(Customer, invoice.customer_id).payment_term_days = 30
    db.session.commit()
    invoice = finalize_invoice(invoice.id, billing.config["CLOCK"])
    text = _text(render_invoice_pdf(invoice.id))

    assert "Due date Dec 15, 2026" in text
    assert f"Please transfer €{invoice.gross:,.2f} by Dec 15, 2026 (within 30 days) to " in text


def test_card_invoices_and_credit_notes_ask_for_no_transfer(billing):
    """Issue 16: a card invoice says the card is charged on the invoice date; a credit note
    keeps its own text; neither has a due date or the transfer sentence."""
    _bank_account(billing)
    card = _invoice(billing, language="en", payment="card")
    card_text = _text(render_invoice_pdf(card.id))
    invoice = _invoice(billing, language="en")
    note = create_credit_note(invoice.id, "wrong IP count", SYSTEM, billing.config["CLOCK"])
    note_text = _text(render_invoice_pdf(note.id))

    assert (
        f"The amount of €{card.gross:,.2f} is charged to your saved card on Nov 15, 2026."
        in card_text
    )
    for text in (card_text, note_text):
        assert "Please transfer" not in text and "Due date" not in text
        assert "Bank details: Nordlicht IT GmbH" in text  # the footer names the account anyway
    assert "this credit note settles" in note_text


@pytest.mark.parametrize(
    ("language", "prices"),
    [
        ("en", ["€4.50", "€1.1525", "€2.75", "€1,234.5678"]),
        ("de", ["4,50 €", "1,1525 €", "2,75 €", "1.234,5678 €"]),
    ],
)
def test_unit_prices_show_the_decimals_they_need_from_two_to_four(billing, language, prices):
    """Issue 16: a unit price such as a tier price per IP keeps up to four decimals, and at
    least two, in the invoice's language."""
    invoice = _invoice(billing, finalize=False, language=language)
    for position, unit in enumerate(("4.5", "1.1525", "2.7500", "1234.5678"), start=1):
        invoice.lines.append(
            InvoiceLine(
                position=position,
                description=f"Extra {position}",
                quantity=1,
                unit_price=Decimal(unit),
                amount=Decimal(unit).quantize(Decimal("0.01")),
            )
        )
    db.session.commit()
    text = _text(render_invoice_pdf(invoice.id))

    for position, price in enumerate(prices, start=1):
        assert f"Extra {position} 1 {price}" in text, price


def test_a_unit_price_rounds_half_up_to_four_decimals():
    """Money rounds half-up (SPEC §2), unit prices included."""
    assert unit_price_text(Decimal("1.12345"), "EUR", "en") == "€1.1235"
    assert unit_price_text(Decimal("0.00005"), "EUR", "de") == "0,0001\xa0€"
    assert unit_price_text(Decimal("3"), "EUR", "de") == "3,00\xa0€"


@pytest.mark.parametrize(
    ("language", "line"),
    [
        ("en", "400 internal + 100 external IPs, Nov 11, 2026 – Nov 30, 2026 (20/30 days)"),
        ("de", "400 interne + 100 externe IPs, 11.11.2026–30.11.2026 (20/30 Tage)"),
    ],
)
def test_a_line_for_part_of_the_month_dates_its_days_in_the_invoices_language(
    billing, language, line
):
    """Issue 16: a subscription that began on 11 November is billed from that day; the line
    names its days as the rest of the invoice writes dates, not German dates on an English
    invoice."""
    invoice = _invoice(billing, language=language, since=date(2026, 11, 11))
    text = _text(render_invoice_pdf(invoice.id))

    assert line in text
    if language == "en":
        assert not re.search(r"\d{2}\.\d{2}\.\d{4}", text)


def _word_gaps(pdf: bytes, start: str) -> list[float]:
    """The gaps (points) between the words of the paragraph beginning with ``start`` on page
    one, per line: from a word's last character to the next word's first."""
    page = pdfium.PdfDocument(pdf)[0]
    textpage = page.get_textpage()
    text = textpage.get_text_range()
    begin = text.index(start)
    end = text.index(".", text.index("(", begin))
    gaps = []
    previous = None  # (index, right, bottom) of the last character before a space
    for index in range(begin, end):
        char = text[index]
        if char in " \xa0\u202f\r\n":
            continue
        left, bottom, right, _top = textpage.get_charbox(index, loose=True)
        if previous is not None and text[index - 1] in " \xa0\u202f":
            _last, last_right, last_bottom = previous
            if abs(bottom - last_bottom) < 1:
                gaps.append(left - last_right)
        previous = (index, right, bottom)
    return gaps


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_transfer_sentence_is_set_ragged_right_with_even_word_gaps(billing, language):
    """Issue 16: the paragraph that asks for the transfer reads as typed: one space between
    words, not stretched to the margin around the amount and the IBAN's groups."""
    _bank_account(billing)
    invoice = _invoice(billing, language=language)
    start = "Bitte überweisen" if language == "de" else "Please transfer"
    gaps = _word_gaps(render_invoice_pdf(invoice.id), start)

    assert len(gaps) > 15
    assert max(gaps) - min(gaps) < 0.2, gaps
