"""What an invoice says, in its language (SPEC §8.5): the printed texts in English and German,
money, months and dates, how the invoice is paid, and what a credit note did."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency

from billing.invoicing.invoice_settings import format_iban
from billing.invoicing.payment_terms import due_date, invoice_payment_term
from billing.kernel.site import Site
from billing.payments.receivables import credit_effect
from models import Invoice, InvoiceKind, PaymentMethodCode, db

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


def payable_by(invoice: Invoice, method: PaymentMethodCode) -> bool:
    """An invoice (not a credit note) with an amount to pay by ``method``."""
    return (
        invoice.kind == InvoiceKind.INVOICE.value
        and invoice.gross > 0
        and invoice.payment_method == method.value
    )


def asks_for_transfer(invoice: Invoice) -> bool:
    """An invoice to pay by bank transfer: it shows its due date and the seller's account."""
    return payable_by(invoice, PaymentMethodCode.INVOICE)


def _within(days: int, texts: dict) -> str:
    if days == 0:
        return texts["on_receipt"]
    return texts["within_one"] if days == 1 else texts["within"].format(days=days)


def payment_note(
    invoice: Invoice, seller: dict, texts: dict, issued: date, site: Site = Site()
) -> str:
    """How the invoice is paid: by transfer by its due date to the seller's account, or by the
    saved card on the invoice date (``issued``); empty for credit notes and invoices without an
    amount."""
    language = invoice.language if invoice.language in TEXTS else "en"
    amount = money(invoice.gross, invoice.currency, language)
    if asks_for_transfer(invoice):
        values = {
            "amount": amount,
            "date": date_label(due_date(invoice, site), language),
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
    if payable_by(invoice, PaymentMethodCode.CARD):
        return texts["pay_card"].format(amount=amount, date=date_label(issued, language))
    return ""
