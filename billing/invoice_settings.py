"""What every invoice says about the MSP, and what one IP costs it (Settings → Invoices)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from models import Setting, db

from . import audit
from .addresses import normalise_vat_id
from .clock import Clock
from .errors import DomainError
from .i18n import _
from .settings import get_setting

SELLER_NAME = "invoice.seller_name"
SELLER_ADDRESS = "invoice.seller_address"
SELLER_VAT_ID = "invoice.seller_vat_id"
IP_PURCHASE_PRICE = "billing.ip_purchase_price"


@dataclass(frozen=True)
class InvoiceSettings:
    seller_name: str
    seller_address: str
    seller_vat_id: str
    ip_purchase_price: Decimal


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
    )


def save_invoice_settings(
    seller_name: str,
    seller_address: str,
    seller_vat_id: str,
    ip_purchase_price,
    home_country: str,
    actor,
    clock: Clock,
) -> InvoiceSettings:
    """Validate and store the seller block and the IP purchase price. DomainError (with the
    field) for a missing name or address, an invalid VAT-ID, or a price that is not an amount
    ≥ 0. Past invoices are rendered with the settings of the moment; numbers never change."""
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
    vat_id = ""
    if (seller_vat_id or "").strip():
        try:
            vat_id = normalise_vat_id(seller_vat_id, home_country, home_country)
        except DomainError as error:
            raise DomainError(error.message, field="seller_vat_id") from None
    try:
        price = Decimal(str(ip_purchase_price).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        price = Decimal(-1)
    if not price.is_finite() or price < 0 or price != price.quantize(Decimal("0.0001")):
        raise DomainError(
            _("Please enter the purchase price per IP as an amount such as 1.15."),
            field="ip_purchase_price",
        )
    before = load_invoice_settings()
    values = {
        SELLER_NAME: name,
        SELLER_ADDRESS: address,
        SELLER_VAT_ID: vat_id,
        IP_PURCHASE_PRICE: str(price),
    }
    for key, value in values.items():
        row = db.session.get(Setting, key)
        if row is None:
            db.session.add(Setting(key=key, value=value, updated_at=clock.now()))
        else:
            row.value, row.updated_at = value, clock.now()
    audit.record(
        actor,
        "settings.invoice",
        clock,
        before={k: str(v) for k, v in before.__dict__.items()},
        after={k.split(".")[-1]: v for k, v in values.items()},
    )
    db.session.commit()
    return load_invoice_settings()
