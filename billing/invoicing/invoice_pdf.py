"""Invoice and credit-note PDFs (SPEC §8.5) in the invoice's language, rendered with fpdf2.

The seller and its bank account come from Settings → Invoices
(``billing.invoicing.invoice_settings``).
An invoice paid by bank transfer asks for the amount by its due date
(``billing.invoicing.payment_terms``)
on the seller's account; the footer carries the bank details. The bundled DejaVu fonts
(``static/fonts``) carry €, umlauts and ß. A finalized invoice renders to the same bytes every
time: the PDF's creation date is the moment it was finalized, and the payment term and due date
are the ones fixed at finalization.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_percent
from flask import current_app
from fpdf import FPDF, FontFace

from billing.invoicing.invoice_settings import (
    ACCOUNT_HOLDER,
    SELLER_BANK_NAME,
    SELLER_BIC,
    SELLER_IBAN,
    format_iban,
)
from billing.invoicing.payment_terms import due_date, invoice_payment_term
from billing.invoicing.vat import NON_EU_NOTE, REVERSE_CHARGE_NOTE
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import NotFound
from billing.kernel.i18n import _
from billing.kernel.settings import get_setting
from billing.payments.receivables import credit_effect
from models import Customer, Invoice, InvoiceKind, InvoiceState, PaymentMethodCode, db

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "fonts"
FONT = "DejaVu"
# parsed once: babel parses a locale given as a string on every call
LOCALES = {"en": Locale.parse("en"), "de": Locale.parse("de_DE")}

TEXTS = {
    "en": {
        "invoice": "Invoice",
        "credit_note": "Credit note",
        "draft": "DRAFT",
        "number": "Invoice number",
        "credit_number": "Credit note number",
        "date": "Date",
        "period": "Billing period",
        "customer_number": "Customer number",
        "vat_id": "VAT ID",
        "description": "Description",
        "quantity": "Quantity",
        "unit_price": "Unit price",
        "amount": "Amount",
        "net": "Net",
        "vat": "VAT",
        "total": "Total",
        "corrects": "Credit note for invoice {number}",
        "not_numbered": "not yet assigned",
        "page": "Page {page} of {pages}",
        "reverse_charge": (
            "Reverse charge: the recipient is liable for VAT "
            "(Article 196, Council Directive 2006/112/EC)."
        ),
        "outside_eu": "Not taxable in Germany (service outside the EU).",
        "due_date": "Due date",
        "pay_card": "The amount of {amount} is charged to your saved card on {date}.",
        "transfer": (
            "Please transfer {amount} by {date} ({within}) to {holder}, IBAN {iban}{bic}{bank}, "
            "quoting the invoice number."
        ),
        "transfer_no_account": (
            "Please transfer {amount} by {date} ({within}), quoting the invoice number."
        ),
        "within": "within {days} days",
        "within_one": "within 1 day",
        "on_receipt": "due on receipt",
        "bank_details": "Bank details",
        "settled": (
            "Invoice {number} was not paid yet: this credit note settles {settled} of its open "
            "amount; you no longer need to pay that amount."
        ),
        "account_credit": (
            "Invoice {number} was paid already: your account is credited with {credit} (net), "
            "which is set off against your next invoices."
        ),
        "settled_and_credit": (
            "Invoice {number} was partly paid: this credit note settles {settled} of its open "
            "amount, which you no longer need to pay, and your account is credited with "
            "{credit} (net), which is set off against your next invoices."
        ),
    },
    "de": {
        "invoice": "Rechnung",
        "credit_note": "Gutschrift",
        "draft": "ENTWURF",
        "number": "Rechnungsnummer",
        "credit_number": "Gutschriftsnummer",
        "date": "Datum",
        "period": "Leistungszeitraum",
        "customer_number": "Kundennummer",
        "vat_id": "USt-IdNr.",
        "description": "Beschreibung",
        "quantity": "Menge",
        "unit_price": "Einzelpreis",
        "amount": "Betrag",
        "net": "Netto",
        "vat": "USt.",
        "total": "Gesamtbetrag",
        "corrects": "Gutschrift zur Rechnung {number}",
        "not_numbered": "noch nicht vergeben",
        "page": "Seite {page} von {pages}",
        "reverse_charge": (
            "Steuerschuldnerschaft des Leistungsempfängers "
            "(Reverse Charge, Art. 196 MwSt-Systemrichtlinie)."
        ),
        "outside_eu": "Nicht im Inland steuerbar (Leistung außerhalb der EU).",
        "due_date": "Fällig am",
        "pay_card": (
            "Der Betrag von {amount} wird am {date} von Ihrer hinterlegten Karte abgebucht."
        ),
        "transfer": (
            "Bitte überweisen Sie {amount} bis zum {date} ({within}) unter Angabe der "
            "Rechnungsnummer an {holder}, IBAN {iban}{bic}{bank}."
        ),
        "transfer_no_account": (
            "Bitte überweisen Sie {amount} bis zum {date} ({within}) unter Angabe der "
            "Rechnungsnummer."
        ),
        "within": "innerhalb von {days} Tagen",
        "within_one": "innerhalb von 1 Tag",
        "on_receipt": "sofort fällig",
        "bank_details": "Bankverbindung",
        "settled": (
            "Die Rechnung {number} war noch nicht bezahlt: Diese Gutschrift gleicht {settled} "
            "des offenen Betrags aus; diesen Betrag müssen Sie nicht mehr zahlen."
        ),
        "account_credit": (
            "Die Rechnung {number} war bereits bezahlt: Ihrem Kundenkonto wird ein Guthaben von "
            "{credit} (netto) gutgeschrieben, das mit Ihren nächsten Rechnungen verrechnet wird."
        ),
        "settled_and_credit": (
            "Die Rechnung {number} war teilweise bezahlt: Diese Gutschrift gleicht {settled} des "
            "offenen Betrags aus (diesen Betrag müssen Sie nicht mehr zahlen), und Ihrem "
            "Kundenkonto wird ein Guthaben von {credit} (netto) gutgeschrieben, das mit Ihren "
            "nächsten Rechnungen verrechnet wird."
        ),
    },
}

INK = (34, 34, 34)
MUTED = (110, 110, 110)
RULE = (190, 190, 190)
HEADING_FILL = (236, 239, 243)
WATERMARK = (200, 30, 30)
COLUMNS = (84, 26, 30, 30)  # description, quantity, unit price, amount (mm; 170 = A4 less margins)
PADDING = 2


def money(amount: Decimal, currency: str, language: str) -> str:
    """``1.234,56 €`` in German, ``€1,234.56`` in English."""
    return format_currency(amount, currency, locale=LOCALES.get(language, LOCALES["en"]))


def period_label(period: date, language: str) -> str:
    """The booking month as ``November 2026`` / ``März 2026``."""
    return format_date(period, "MMMM yyyy", locale=LOCALES.get(language, LOCALES["en"]))


def date_label(day: date, language: str) -> str:
    """A date as the invoice prints it: ``Nov 30, 2026`` / ``30.11.2026``."""
    return format_date(day, "medium", locale=LOCALES.get(language, LOCALES["en"]))


def unit_price_text(amount: Decimal, currency: str, language: str) -> str:
    """A unit price with as many decimals as it needs, at least two and at most four (a tier
    price per IP): ``4,50 €``, ``1,1525 €``; rounded half-up like all money."""
    value = amount.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP).normalize()
    if value.as_tuple().exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return format_currency(
        value, currency, locale=LOCALES.get(language, LOCALES["en"]), decimal_quantization=False
    )


def invoice_filename(invoice: Invoice) -> str:
    """``invoice-2026-000123.pdf``, ``credit-note-2026-000124.pdf``, or ``draft-<id>.pdf``."""
    if not invoice.number:
        return f"draft-{invoice.id}.pdf"
    prefix = "credit-note" if invoice.kind == InvoiceKind.CREDIT_NOTE.value else "invoice"
    return f"{prefix}-{invoice.number}.pdf"


class _Document(FPDF):
    def __init__(self, texts: dict, footer_lines: list[str], watermark: str = "") -> None:
        super().__init__(format="A4", unit="mm")
        self.texts = texts
        self.footer_lines = footer_lines
        self.watermark = watermark
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(True, margin=28)

    def footer(self) -> None:
        if self.watermark:
            self._draw_watermark()
        self.set_y(-15 - 4 * len(self.footer_lines))
        self.set_draw_color(*RULE)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*MUTED)
        self.ln(1)
        for line in self.footer_lines:
            self.cell(0, 4, line, new_x="LMARGIN", new_y="NEXT")
        page = self.texts["page"].format(page=self.page_no(), pages="{nb}")
        # left-aligned: fpdf2 measures the "{nb}" placeholder, not the page count
        self.cell(0, 4, page)

    def _draw_watermark(self) -> None:
        """Across the finished page, translucent, so it shows over the table fill too."""
        with self.local_context(fill_opacity=0.18):
            self.set_font(FONT, "B", 96)
            self.set_text_color(*WATERMARK)
            width = self.get_string_width(self.watermark)
            with self.rotation(45, self.w / 2, self.h / 2):
                self.text(self.w / 2 - width / 2, self.h / 2 + 12, self.watermark)


def record_download(invoice: Invoice, actor: Actor, clock: Clock) -> None:
    """Audit a download of an invoice's PDF (it carries the customer's billing data) and
    commit."""
    audit.record(
        actor,
        "invoice.download",
        clock,
        customer_id=invoice.customer_id,
        after={"invoice": invoice.id, "number": invoice.number or ""},
    )
    db.session.commit()


def render_invoice_pdf(invoice_id: int) -> bytes:
    """Render invoice (or credit note) ``invoice_id`` as a PDF in its language.

    Drafts carry a DRAFT/ENTWURF heading and watermark. Raises NotFound for an unknown id.
    """
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(_("This invoice does not exist."))
    language = invoice.language if invoice.language in TEXTS else "en"
    texts = TEXTS[language]
    customer = db.session.get(Customer, invoice.customer_id)
    seller = seller_details()
    draft = invoice.state == InvoiceState.DRAFT.value
    credit = invoice.kind == InvoiceKind.CREDIT_NOTE.value
    title = texts["credit_note" if credit else "invoice"]
    issued = invoice.finalized_at or invoice.created_at
    issued_on = issued.astimezone(ZoneInfo(current_app.config["APP_TIMEZONE"])).date()
    locale = LOCALES[language]

    pdf = _Document(texts, _footer_lines(seller, texts), texts["draft"] if draft else "")
    pdf.set_creation_date(issued)
    pdf.set_lang(language)
    pdf.set_title(f"{title} {invoice.number or ''}".strip())
    pdf.set_author(seller["name"])
    pdf.set_creator(seller["name"])
    pdf.add_page()

    _letterhead(pdf, seller, title)
    _recipient(pdf, seller, invoice, customer, texts)
    facts = [
        (texts["credit_number" if credit else "number"], invoice.number or texts["not_numbered"]),
        (texts["date"], date_label(issued_on, language)),
        (texts["period"], period_label(invoice.period, language)),
        (texts["customer_number"], str(invoice.customer_id)),
    ]
    if _asks_for_transfer(invoice):
        facts.append((texts["due_date"], date_label(due_date(invoice), language)))
    if invoice.purchase_order is not None:
        facts.append(("PO", invoice.purchase_order.name))
    _facts(pdf, facts)

    heading = f"{title} {invoice.number}" if invoice.number else title
    if draft:
        heading = f"{texts['draft']} – {heading}"
    pdf.set_xy(pdf.l_margin, 100)
    pdf.set_font(FONT, "B", 15)
    pdf.set_text_color(*INK)
    pdf.cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
    if credit and invoice.corrects_invoice_id:
        corrected = db.session.get(Invoice, invoice.corrects_invoice_id)
        pdf.set_font(FONT, "", 10)
        pdf.cell(
            0,
            6,
            texts["corrects"].format(number=corrected.number if corrected else "?"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(4)

    _lines(pdf, invoice, texts, language)
    _totals(pdf, invoice, texts, language, locale)
    _notes(pdf, invoice, texts, _payment_note(invoice, seller, texts, issued_on))
    return bytes(pdf.output())


def seller_details() -> dict:
    """The issuing company from the settings: ``name``, ``address`` (lines), ``vat_id``, and
    its bank account: ``iban`` (compact), ``bic``, ``bank_name``, ``account_holder``."""
    name = get_setting("invoice.seller_name") or current_app.config["PRODUCT_NAME"]
    return {
        "name": name,
        "address": get_setting("invoice.seller_address"),
        "vat_id": get_setting("invoice.seller_vat_id"),
        "iban": get_setting(SELLER_IBAN),
        "bic": get_setting(SELLER_BIC),
        "bank_name": get_setting(SELLER_BANK_NAME),
        "account_holder": get_setting(ACCOUNT_HOLDER) or name,
    }


def _footer_lines(seller: dict, texts: dict) -> list[str]:
    parts = [seller["name"], *_address_lines(seller["address"])]
    if seller["vat_id"]:
        parts.append(f"{texts['vat_id']} {seller['vat_id']}")
    lines = [" · ".join(parts)]
    if seller["iban"]:
        iban = f"IBAN {format_iban(seller['iban'])}"
        bank = [seller["account_holder"], seller["bank_name"], iban]
        if seller["bic"]:
            bank.append(f"BIC {seller['bic']}")
        lines.append(f"{texts['bank_details']}: " + " · ".join(part for part in bank if part))
    return lines


def _address_lines(address: str) -> list[str]:
    return [line.strip() for line in address.splitlines() if line.strip()]


def _letterhead(pdf: FPDF, seller: dict, title: str) -> None:
    pdf.set_xy(pdf.l_margin, 18)
    pdf.set_font(FONT, "B", 16)
    pdf.set_text_color(*INK)
    pdf.cell(110, 8, seller["name"])
    pdf.set_font(FONT, "B", 20)
    pdf.set_text_color(*MUTED)
    pdf.cell(0, 8, title.upper(), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 8.5)
    pdf.set_text_color(*MUTED)
    for line in _address_lines(seller["address"]):
        pdf.cell(110, 4.2, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(*RULE)
    pdf.line(pdf.l_margin, 40, pdf.w - pdf.r_margin, 40)


def _recipient(pdf: FPDF, seller: dict, invoice: Invoice, customer, texts: dict) -> None:
    """The address window of a DIN 5008 letter: sender line, then the recipient."""
    pdf.set_xy(pdf.l_margin, 50)
    pdf.set_font(FONT, "", 7)
    pdf.set_text_color(*MUTED)
    sender = " · ".join([seller["name"], *_address_lines(seller["address"])[:2]])
    pdf.cell(85, 4, sender, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, "B", 10.5)
    pdf.multi_cell(85, 5.2, invoice.billing_name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 10)
    for line in _address_lines(invoice.billing_address):
        pdf.cell(85, 5, line, new_x="LMARGIN", new_y="NEXT")
    if customer is not None and customer.vat_id:
        pdf.ln(1.5)
        pdf.set_font(FONT, "", 9)
        pdf.cell(85, 5, f"{texts['vat_id']}: {customer.vat_id}", new_x="LMARGIN", new_y="NEXT")


def _facts(pdf: FPDF, facts: list[tuple[str, str]]) -> None:
    x, y = 112, 54
    for label, value in facts:
        pdf.set_xy(x, y)
        pdf.set_font(FONT, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.cell(36, 6, label)
        pdf.set_font(FONT, "B", 9.5)
        pdf.set_text_color(*INK)
        pdf.cell(pdf.w - pdf.r_margin - x - 36, 6, value, align="R")
        y += 6.5


def _lines(pdf: FPDF, invoice: Invoice, texts: dict, language: str) -> None:
    pdf.set_font(FONT, "", 9.5)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*RULE)
    headings = FontFace(emphasis="BOLD", fill_color=HEADING_FILL, color=INK)
    with pdf.table(
        col_widths=COLUMNS,
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        borders_layout="HORIZONTAL_LINES",
        headings_style=headings,
        line_height=5.5,
        padding=(2.2, PADDING),
        width=pdf.epw,
    ) as table:
        row = table.row()
        for key in ("description", "quantity", "unit_price", "amount"):
            row.cell(texts[key])
        for line in invoice.lines:
            row = table.row()
            row.cell(line.description)
            row.cell(str(line.quantity))
            row.cell(unit_price_text(line.unit_price, invoice.currency, language))
            row.cell(money(line.amount, invoice.currency, language))


def _totals(pdf: FPDF, invoice: Invoice, texts: dict, language: str, locale: str) -> None:
    rate = format_percent(
        invoice.vat_rate.normalize() / Decimal(100), locale=locale, decimal_quantization=False
    )
    rows = [
        (texts["net"], money(invoice.net, invoice.currency, language), False),
        (f"{texts['vat']} {rate}", money(invoice.vat, invoice.currency, language), False),
        (texts["total"], money(invoice.gross, invoice.currency, language), True),
    ]
    # the block spans the number columns; a cell's own margin stands in for part of the
    # table's padding, so the texts line up with the table's
    start, span = pdf.l_margin + COLUMNS[0], sum(COLUMNS[1:])
    inset = PADDING - pdf.c_margin
    width = span - 2 * inset
    pdf.ln(3)
    if pdf.will_page_break(24):
        pdf.add_page()
    for label, value, strong in rows:
        if strong:
            pdf.set_draw_color(*INK)
            pdf.line(start, pdf.get_y() + 0.8, start + span, pdf.get_y() + 0.8)
            pdf.ln(1.6)
        pdf.set_x(start + inset)
        pdf.set_font(FONT, "B" if strong else "", 11 if strong else 9.5)
        pdf.cell(width - COLUMNS[3], 6.5, label)
        pdf.cell(COLUMNS[3], 6.5, value, align="R", new_x="LMARGIN", new_y="NEXT")


def credit_effect_text(note: Invoice) -> str:
    """What a credit note did, in its language (SPEC §14): it settled the open amount of the
    invoice it corrects, became account credit, or both; empty for a note without an amount."""
    language = note.language if note.language in TEXTS else "en"
    texts = TEXTS[language]
    effect = credit_effect(note)
    corrected = (
        db.session.get(Invoice, note.corrects_invoice_id) if note.corrects_invoice_id else None
    )
    values = {
        "number": corrected.number if corrected else "?",
        "settled": money(effect.settled, note.currency, language),
        "credit": money(effect.account_credit, note.currency, language),
    }
    if effect.settled and effect.account_credit:
        return texts["settled_and_credit"].format(**values)
    if effect.settled:
        return texts["settled"].format(**values)
    if effect.account_credit:
        return texts["account_credit"].format(**values)
    return ""


def _payable_by(invoice: Invoice, method: PaymentMethodCode) -> bool:
    """An invoice (not a credit note) with an amount to pay by ``method``."""
    return (
        invoice.kind == InvoiceKind.INVOICE.value
        and invoice.gross > 0
        and invoice.payment_method == method.value
    )


def _asks_for_transfer(invoice: Invoice) -> bool:
    return _payable_by(invoice, PaymentMethodCode.INVOICE)


def _within(days: int, texts: dict) -> str:
    if days == 0:
        return texts["on_receipt"]
    return texts["within_one"] if days == 1 else texts["within"].format(days=days)


def _payment_note(invoice: Invoice, seller: dict, texts: dict, issued: date) -> str:
    """How the invoice is paid: by transfer by its due date to the seller's account, or by the
    saved card on the invoice date (``issued``); empty for credit notes and invoices without an
    amount."""
    language = invoice.language if invoice.language in TEXTS else "en"
    amount = money(invoice.gross, invoice.currency, language)
    if _asks_for_transfer(invoice):
        values = {
            "amount": amount,
            "date": date_label(due_date(invoice), language),
            "within": _within(invoice_payment_term(invoice), texts),
        }
        if not seller["iban"]:
            return texts["transfer_no_account"].format(**values)
        return texts["transfer"].format(
            holder=seller["account_holder"],
            iban=format_iban(seller["iban"]),
            bic=f", BIC {seller['bic']}" if seller["bic"] else "",
            bank=f" ({seller['bank_name']})" if seller["bank_name"] else "",
            **values,
        )
    if _payable_by(invoice, PaymentMethodCode.CARD):
        return texts["pay_card"].format(amount=amount, date=date_label(issued, language))
    return ""


def _notes(pdf: FPDF, invoice: Invoice, texts: dict, payment: str) -> None:
    notes = []
    if invoice.vat_note in (REVERSE_CHARGE_NOTE, NON_EU_NOTE):
        notes.append(texts[invoice.vat_note])
    if invoice.kind == InvoiceKind.CREDIT_NOTE.value:
        effect = credit_effect_text(invoice)
        if effect:
            notes.append(effect)
    elif payment:
        notes.append(payment)
    pdf.ln(8)
    pdf.set_font(FONT, "", 9.5)
    pdf.set_text_color(*INK)
    for note in notes:
        pdf.multi_cell(0, 5, note, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
