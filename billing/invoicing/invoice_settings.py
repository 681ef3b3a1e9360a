"""What every invoice says about the MSP, and what one IP costs it (Settings → Invoices).

The bank details are checked with ``schwifty``: the IBAN by its check digits, length and
country format, and stored compact (the PDF prints it in groups of four); the BIC by its
structure and, where schwifty knows the IBAN's bank, against that bank and its country. A BIC
is optional for an IBAN of the SEPA area, where a transfer needs the IBAN alone; left empty,
it is taken from schwifty's bank registry where that knows the IBAN's bank, as is the bank's
name. The account holder defaults to the seller's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from billing.customers.addresses import normalise_vat_id
from billing.invoicing.payment_terms import (
    PAYMENT_TERM_KEY,
    parse_payment_term,
    setting_payment_term,
)
from billing.kernel import audit
from billing.kernel.clock import Clock
from billing.kernel.countries import country_name
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.kernel.settings import SELLER_NAME, get_setting, store_settings
from models import Setting, db

SELLER_ADDRESS = "invoice.seller_address"
SELLER_VAT_ID = "invoice.seller_vat_id"
IP_PURCHASE_PRICE = "billing.ip_purchase_price"
SELLER_IBAN = "invoice.seller_iban"
SELLER_BIC = "invoice.seller_bic"
SELLER_BANK_NAME = "invoice.seller_bank_name"
ACCOUNT_HOLDER = "invoice.account_holder"

# territories without IBANs of their own: their banks' BICs carry their own country code
IBAN_TERRITORIES = {
    "GB": {"GG", "JE", "IM"},
    "FR": {"GF", "GP", "MQ", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF"},
    "FI": {"AX"},
}


@dataclass(frozen=True)
class InvoiceSettings:
    seller_name: str
    seller_address: str
    seller_vat_id: str
    ip_purchase_price: Decimal
    iban: str = ""
    bic: str = ""
    bank_name: str = ""
    account_holder: str = ""
    payment_term_days: int = 14


def load_invoice_settings() -> InvoiceSettings:
    try:
        price = Decimal(get_setting(IP_PURCHASE_PRICE, "0.00") or "0.00")
    except InvalidOperation:
        price = Decimal("0.00")
    return InvoiceSettings(
        get_setting(SELLER_NAME),
        get_setting(SELLER_ADDRESS),
        get_setting(SELLER_VAT_ID),
        price,
        get_setting(SELLER_IBAN),
        get_setting(SELLER_BIC),
        get_setting(SELLER_BANK_NAME),
        get_setting(ACCOUNT_HOLDER),
        setting_payment_term(),
    )


def format_iban(iban: str) -> str:
    """``DE89370400440532013000`` as ``DE89 3704 0044 0532 0130 00``."""
    return " ".join(iban[start : start + 4] for start in range(0, len(iban), 4))


@dataclass(frozen=True)
class BankDetails:
    iban: str
    bic: str
    bank_name: str
    account_holder: str


def seller_bank_details() -> BankDetails | None:
    """The account customers transfer to, as the invoices print it (one query); None while no
    IBAN is saved. The holder is the seller unless another one is saved."""
    keys = (SELLER_IBAN, SELLER_BIC, SELLER_BANK_NAME, ACCOUNT_HOLDER, SELLER_NAME)
    rows = db.session.execute(db.select(Setting.key, Setting.value).where(Setting.key.in_(keys)))
    values = dict(rows.tuples().all())
    if not values.get(SELLER_IBAN):
        return None
    return BankDetails(
        values[SELLER_IBAN],
        values.get(SELLER_BIC, ""),
        values.get(SELLER_BANK_NAME, ""),
        values.get(ACCOUNT_HOLDER) or values.get(SELLER_NAME, ""),
    )


def validate_bank_details(
    iban: str, bic: str, bank_name: str, account_holder: str, seller_name: str
) -> BankDetails:
    """The seller's bank account, cleaned: the compact IBAN, the BIC, the bank's name and the
    account holder (the seller's name unless given). The account may stay empty (nothing is
    printed); a BIC or bank without an IBAN may not. DomainError on the field at fault for an
    invalid IBAN or BIC, a BIC of another country or bank than the IBAN's, a missing BIC for an
    IBAN outside the SEPA area, or an overlong name."""
    iban_text = "".join((iban or "").split()).upper()
    bic_text = "".join((bic or "").split()).upper()
    bank = " ".join((bank_name or "").split())
    holder = " ".join((account_holder or "").split())
    if len(bank) > 100:
        raise DomainError(_("At most %(n)d characters.", n=100), field="bank_name")
    if len(holder) > 200:
        raise DomainError(_("At most %(n)d characters.", n=200), field="account_holder")
    if not iban_text:
        if bic_text or bank:
            raise DomainError(_("Please enter the IBAN of this account."), field="iban")
        return BankDetails("", "", "", holder)
    try:
        if not iban_text.isascii():
            raise SchwiftyException(iban_text)
        account = IBAN(iban_text)
    except SchwiftyException:
        raise DomainError(
            _("This IBAN is not valid (check digits, length or format)."), field="iban"
        ) from None
    known = account.bic
    if bic_text:
        code = _valid_bic(bic_text)
        _check_bic_matches(code, account, known)
    elif known is not None:
        code = known
    elif account.in_sepa_zone:
        code = None
    else:
        raise DomainError(
            _("Please enter the BIC: an IBAN from outside the SEPA area needs one."), field="bic"
        )
    return BankDetails(
        account.compact,
        code.compact if code is not None else "",
        bank or (account.bank_name or ""),
        holder or seller_name,
    )


def _valid_bic(text: str) -> BIC:
    try:
        if not text.isascii():
            raise SchwiftyException(text)
        return BIC(text)
    except SchwiftyException:
        raise DomainError(
            _("This BIC is not valid: it has 8 or 11 characters, such as COBADEFFXXX."),
            field="bic",
        ) from None


def _check_bic_matches(code: BIC, account: IBAN, known: BIC | None) -> None:
    countries = {account.country_code, *IBAN_TERRITORIES.get(account.country_code, ())}
    if code.country_code not in countries:
        raise DomainError(
            _(
                "The BIC (country: %(bic_country)s) does not match the IBAN (country: "
                "%(iban_country)s).",
                bic_country=country_name(code.country_code) or code.country_code,
                iban_country=country_name(account.country_code) or account.country_code,
            ),
            field="bic",
        )
    if known is not None and known.bank_code != code.bank_code:
        raise DomainError(
            _(
                "This BIC does not belong to the bank of the IBAN (%(bank)s, BIC %(bic)s).",
                bank=account.bank_name or known.bank_code,
                bic=known.compact,
            ),
            field="bic",
        )


def save_invoice_settings(
    seller_name: str,
    seller_address: str,
    seller_vat_id: str,
    ip_purchase_price,
    home_country: str,
    actor,
    clock: Clock,
    *,
    iban: str = "",
    bic: str = "",
    bank_name: str = "",
    account_holder: str = "",
    payment_term_days="14",
) -> InvoiceSettings:
    """Validate and store the seller block, its bank account (``validate_bank_details``), the
    payment term in days (0 to 365) and the IP purchase price. DomainError (with the field) for
    a missing name or address, an invalid VAT-ID, IBAN or BIC, a payment term that is no whole
    number of days, or a price that is not an amount ≥ 0. Past invoices are rendered with the
    settings of the moment but keep their due dates; numbers never change."""
    name, address = _seller_block(seller_name, seller_address)
    vat_id = ""
    if (seller_vat_id or "").strip():
        try:
            vat_id = normalise_vat_id(seller_vat_id, home_country, home_country)
        except DomainError as error:
            raise DomainError(error.message, field="seller_vat_id") from None
    bank = validate_bank_details(iban, bic, bank_name, account_holder, name)
    term = parse_payment_term(payment_term_days, "payment_term_days")
    price = _purchase_price(ip_purchase_price)
    before = load_invoice_settings()
    values = {
        SELLER_NAME: name,
        SELLER_ADDRESS: address,
        SELLER_VAT_ID: vat_id,
        IP_PURCHASE_PRICE: str(price),
        SELLER_IBAN: bank.iban,
        SELLER_BIC: bank.bic,
        SELLER_BANK_NAME: bank.bank_name,
        ACCOUNT_HOLDER: bank.account_holder,
        PAYMENT_TERM_KEY: str(term),
    }
    store_settings(values, clock)
    audit.record(
        actor,
        "settings.invoice",
        clock,
        before={k: str(v) for k, v in before.__dict__.items()},
        after={k.split(".")[-1]: v for k, v in values.items()},
    )
    db.session.commit()
    return load_invoice_settings()


def _seller_block(seller_name: str, seller_address: str) -> tuple[str, str]:
    """The seller's name and address lines, trimmed; DomainError when missing or too long."""
    name = (seller_name or "").strip()
    address = "\n".join(
        line.strip() for line in (seller_address or "").splitlines() if line.strip()
    )
    if not name:
        raise DomainError(_("Please enter the company name for the invoices."), field="seller_name")
    if len(name) > 200:
        raise DomainError(_("At most 200 characters."), field="seller_name")
    if not address:
        raise DomainError(_("Please enter the address for the invoices."), field="seller_address")
    if len(address) > 500:
        raise DomainError(_("At most 500 characters."), field="seller_address")
    return name, address


def _purchase_price(text) -> Decimal:
    """What one IP costs the MSP per month, an amount ≥ 0 with at most four decimals."""
    try:
        price = Decimal(str(text).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        price = Decimal(-1)
    if not price.is_finite() or price < 0 or price != price.quantize(Decimal("0.0001")):
        raise DomainError(
            _("Please enter the purchase price per IP as an amount such as 1.15."),
            field="ip_purchase_price",
        )
    return price
