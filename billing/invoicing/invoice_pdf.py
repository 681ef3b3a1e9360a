"""Invoice and credit-note PDFs (SPEC §8.5) in the invoice's language, rendered with fpdf2.

The seller and its bank account come from Settings → Invoices
(``billing.invoicing.invoice_settings``).
An invoice paid by bank transfer asks for the amount by its due date
(``billing.invoicing.payment_terms``)
on the seller's account; the footer carries the bank details. The bundled DejaVu fonts
(``static/fonts``) carry €, umlauts and ß. A finalized invoice renders to the same bytes every
time: the PDF's creation date is the moment it was finalized, and the payment term and due date
are the ones fixed at finalization. What the invoice says comes from ``invoice_texts``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.numbers import format_percent
from fpdf import FPDF, FontFace

from billing.invoicing.invoice_settings import (
    ACCOUNT_HOLDER,
    SELLER_BANK_NAME,
    SELLER_BIC,
    SELLER_IBAN,
    format_iban,
)
from billing.invoicing.invoice_texts import (
    LOCALES,
    TEXTS,
    asks_for_transfer,
    credit_effect_text,
    date_label,
    money,
    payment_note,
    period_label,
    unit_price_text,
)
from billing.invoicing.payment_terms import due_date
from billing.invoicing.vat import NON_EU_NOTE, REVERSE_CHARGE_NOTE
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import NotFound
from billing.kernel.i18n import _
from billing.kernel.settings import get_setting, seller_name
from billing.kernel.site import Site
from models import Customer, Invoice, InvoiceKind, InvoiceState, db

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "fonts"


FONT = "DejaVu"


INK = (34, 34, 34)


MUTED = (110, 110, 110)


RULE = (190, 190, 190)


HEADING_FILL = (236, 239, 243)


WATERMARK = (200, 30, 30)


COLUMNS = (84, 26, 30, 30)  # description, quantity, unit price, amount (mm; 170 = A4 less margins)


PADDING = 2


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


def render_invoice_pdf(invoice_id: int, site: Site = Site()) -> bytes:
    """Render invoice (or credit note) ``invoice_id`` as a PDF in its language; its dates in
    ``site``'s time zone, the product's name as the seller until one is set.

    Drafts carry a DRAFT/ENTWURF heading and watermark. Raises NotFound for an unknown id.
    """
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(_("This invoice does not exist."))
    language = invoice.language if invoice.language in TEXTS else "en"
    texts = TEXTS[language]
    customer = db.session.get(Customer, invoice.customer_id)
    seller = seller_details(site)
    draft = invoice.state == InvoiceState.DRAFT.value
    credit = invoice.kind == InvoiceKind.CREDIT_NOTE.value
    title = texts["credit_note" if credit else "invoice"]
    issued = invoice.finalized_at or invoice.created_at
    issued_on = issued.astimezone(ZoneInfo(site.timezone)).date()

    pdf = _Document(texts, _footer_lines(seller, texts), texts["draft"] if draft else "")
    pdf.set_creation_date(issued)
    pdf.set_lang(language)
    pdf.set_title(f"{title} {invoice.number or ''}".strip())
    pdf.set_author(seller["name"])
    pdf.set_creator(seller["name"])
    pdf.add_page()

    _letterhead(pdf, seller, title)
    _recipient(pdf, seller, invoice, customer, texts)
    _facts(pdf, _facts_of(invoice, texts, language, issued_on, site))
    _heading(pdf, invoice, texts, title)
    _lines(pdf, invoice, texts, language)
    _totals(pdf, invoice, texts, language, LOCALES[language])
    _notes(pdf, invoice, texts, payment_note(invoice, seller, texts, issued_on, site))
    return bytes(pdf.output())


def seller_details(site: Site = Site()) -> dict:
    """The issuing company from the settings (the product's name until one is saved):
    ``name``, ``address`` (lines), ``vat_id``, and its bank account: ``iban`` (compact),
    ``bic``, ``bank_name``, ``account_holder``."""
    name = seller_name(site.product_name)
    return {
        "name": name,
        "address": get_setting("invoice.seller_address"),
        "vat_id": get_setting("invoice.seller_vat_id"),
        "iban": get_setting(SELLER_IBAN),
        "bic": get_setting(SELLER_BIC),
        "bank_name": get_setting(SELLER_BANK_NAME),
        "account_holder": get_setting(ACCOUNT_HOLDER) or name,
    }


def _facts_of(
    invoice: Invoice, texts: dict, language: str, issued_on: date, site: Site
) -> list[tuple[str, str]]:
    """Number, date, billing period, customer number; the due date of an invoice to pay by
    transfer, and the purchase order it is billed under."""
    credit = invoice.kind == InvoiceKind.CREDIT_NOTE.value
    facts = [
        (texts["credit_number" if credit else "number"], invoice.number or texts["not_numbered"]),
        (texts["date"], date_label(issued_on, language)),
        (texts["period"], period_label(invoice.period, language)),
        (texts["customer_number"], str(invoice.customer_id)),
    ]
    if asks_for_transfer(invoice):
        facts.append((texts["due_date"], date_label(due_date(invoice, site), language)))
    if invoice.purchase_order is not None:
        facts.append(("PO", invoice.purchase_order.name))
    return facts


def _heading(pdf: FPDF, invoice: Invoice, texts: dict, title: str) -> None:
    """The title with the number (DRAFT before a draft's); a credit note names the invoice it
    corrects."""
    heading = f"{title} {invoice.number}" if invoice.number else title
    if invoice.state == InvoiceState.DRAFT.value:
        heading = f"{texts['draft']} – {heading}"
    pdf.set_xy(pdf.l_margin, 100)
    pdf.set_font(FONT, "B", 15)
    pdf.set_text_color(*INK)
    pdf.cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
    if invoice.kind == InvoiceKind.CREDIT_NOTE.value and invoice.corrects_invoice_id:
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
        # ragged right: justified, the amounts and the IBAN's groups leave wide gaps
        pdf.multi_cell(0, 5, note, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
