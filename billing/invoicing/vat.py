"""The VAT on an invoice (SPEC §8.4): the domestic rate at home, reverse charge for EU businesses
with a VAT-ID, none outside the EU."""

from __future__ import annotations

from decimal import Decimal

EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)


DOMESTIC_VAT = Decimal("19.00")


REVERSE_CHARGE_NOTE = "reverse_charge"


NON_EU_NOTE = "outside_eu"


def vat_treatment(
    country: str, vat_id: str, home_country: str = "DE", domestic_rate: Decimal = DOMESTIC_VAT
) -> tuple[Decimal, str]:
    """VAT rate and note code (SPEC §8.4): domestic rate at home, reverse charge for EU
    businesses with a VAT-ID, nothing outside the EU."""
    country = (country or "").upper()
    if country == home_country:
        return domestic_rate, ""
    if country in EU_COUNTRIES:
        if vat_id:
            return Decimal("0.00"), REVERSE_CHARGE_NOTE
        return domestic_rate, ""
    return Decimal("0.00"), NON_EU_NOTE
