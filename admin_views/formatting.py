"""Cell formatters every list and details screen shares: dates and times in the staff member's
language and the MSP's time zone (never ISO text or UTC), and amounts in their language."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.numbers import format_currency as babel_currency
from flask import current_app
from flask_admin.model import typefmt
from flask_babel import format_currency, format_date, format_datetime, get_locale


def local_datetime(view, value: datetime, name: str) -> str:
    return format_datetime(value, "medium")


def local_date(view, value: date, name: str) -> str:
    return format_date(value, "medium")


def money(value: Decimal | None, currency: str | None = None) -> str:
    """An amount in the staff member's language ("257,00 €"); "–" for none."""
    if value is None:
        return "–"
    return format_currency(value, currency or current_app.config["CURRENCY"])


def unit_money(value: Decimal, currency: str | None = None) -> str:
    """A price per unit, keeping its up to four decimals ("2,7525 €")."""
    return babel_currency(
        value,
        currency or current_app.config["CURRENCY"],
        locale=get_locale(),
        decimal_quantization=False,
    )


LIST_FORMATTERS = {**typefmt.BASE_FORMATTERS, datetime: local_datetime, date: local_date}
DETAIL_FORMATTERS = {**typefmt.DETAIL_FORMATTERS, datetime: local_datetime, date: local_date}
