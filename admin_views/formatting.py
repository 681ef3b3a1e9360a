"""How the admin screens show dates, times, amounts and rates: in the staff member's language
and the MSP's time zone, never as ISO text, UTC or with a decimal point in German. One style
per kind: a date in a table or a list of facts is ``medium`` ("15.11.2026", "Nov 15, 2026"), a
date inside a sentence ``long`` ("15. November 2026"), a booking month its name ("November
2026"), a point in time to the minute ("15.11.2026, 10:00"). Lists and details use these for
every date, datetime and Decimal column; the admin templates get them as globals
(``register_template_formatters``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import get_day_names, get_month_names
from babel.numbers import format_currency as babel_currency
from flask import Flask, current_app
from flask_admin.babel import gettext as stock_gettext
from flask_admin.model import typefmt
from flask_babel import format_currency, format_date, format_decimal, get_locale, pgettext
from flask_babel import gettext as _

from billing.kernel.i18n import moment_text


def local_datetime(view, value: datetime, name: str) -> str:
    return moment_text(value)


def local_date(view, value: date, name: str) -> str:
    return format_date(value, "medium")


def local_number(view, value: Decimal, name: str) -> str:
    return number(value)


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


def number(value: Decimal | int | float) -> str:
    """A figure without a currency, with at least two decimals ("1.250.000,00", "4,5")
    when it has any, as a whole number otherwise ("1.234")."""
    if isinstance(value, Decimal) and value != value.to_integral_value():
        return format_decimal(value, "#,##0.00##")
    return format_decimal(value, "#,##0.##")


def amount_example(value: int) -> str:
    """How an amount is typed in the staff member's language, for a field's hint ("25,00")."""
    return format_decimal(value, "0.00")


def percent(rate: Decimal | int) -> str:
    """A rate given in percent (19 for 19 %), as the language writes it ("19 %", "7,5 %")."""
    return format_decimal(rate, "#,##0.##") + "\u00a0%"


def month(value: date | None) -> str:
    """A booking month by its name ("November 2026"); "–" for none."""
    return format_date(value, "MMMM yyyy") if value else "–"


def day_in_text(value: date | None) -> str:
    """A date inside a sentence ("15. November 2026"); "–" for none."""
    return format_date(value, "long") if value else "–"


def date_picker_texts() -> dict:
    """What Flask-Admin's date and time pickers (bootstrap-daterangepicker, which knows only
    English) show, in the staff member's language: the buttons (Flask-Admin's own words), the
    labels of a range, the names of the days (Sunday first, as the picker counts) and months,
    and the first day of the week. ``static/msp.js`` hands them to every picker."""
    locale = get_locale()
    days = get_day_names("short", "stand-alone", locale)
    months = get_month_names("abbreviated", "stand-alone", locale)
    return {
        "applyLabel": stock_gettext("Apply"),
        "cancelLabel": stock_gettext("Cancel"),
        "fromLabel": _("From"),
        # "To" alone is an e-mail's recipient ("An")
        "toLabel": pgettext("date range", "To"),
        "daysOfWeek": [days[(day + 6) % 7].rstrip(".") for day in range(7)],
        "monthNames": [months[month] for month in range(1, 13)],
        "firstDay": (locale.first_week_day + 1) % 7,
    }


TEMPLATE_FORMATTERS = {
    "money": money,
    "unit_money": unit_money,
    "amount_example": amount_example,
    "percent": percent,
    "month_name": month,
    "day_in_text": day_in_text,
    "date_time": moment_text,
    "date_picker_texts": date_picker_texts,
}


def register_template_formatters(app: Flask) -> None:
    """Make the formatters above globals of the admin templates."""
    app.jinja_env.globals.update(TEMPLATE_FORMATTERS)


LIST_FORMATTERS = {
    **typefmt.BASE_FORMATTERS,
    datetime: local_datetime,
    date: local_date,
    Decimal: local_number,
}
DETAIL_FORMATTERS = {
    **typefmt.DETAIL_FORMATTERS,
    datetime: local_datetime,
    date: local_date,
    Decimal: local_number,
}
