"""Translation markers for domain messages.

Domain functions produce user-facing messages; Flask-Babel translates them in the request's
locale when one is active and leaves them as English otherwise (CLI, jobs).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import (
    format_currency,
    format_date,
    format_datetime,
    get_locale,
    gettext,
    lazy_gettext,
)
from flask_babel import ngettext as _ngettext

__all__ = [
    "_",
    "amount_from_text",
    "current_language",
    "day_text",
    "lazy_gettext",
    "moment_text",
    "money_text",
    "month_text",
    "ngettext",
]
LANGUAGES = ("en", "de")


def _(text: str, **variables) -> str:
    try:
        return gettext(text, **variables)
    except (RuntimeError, KeyError):
        return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables) -> str:
    """``_`` with a singular and a plural form; ``%(num)d`` is the number."""
    try:
        return _ngettext(singular, plural, num, **variables)
    except (RuntimeError, KeyError):
        return (singular if num == 1 else plural) % {"num": num, **variables}


def current_language() -> str:
    """The request's language ("en" or "de"); English outside a request (CLI, jobs)."""
    try:
        locale = get_locale()
    except (RuntimeError, KeyError):
        return "en"
    language = locale.language if locale is not None else "en"
    return language if language in LANGUAGES else "en"


def day_text(day: date) -> str:
    """A date inside a sentence, in the request's language ("1. Januar 2027", "January 1,
    2027"); ISO outside a request (CLI, jobs)."""
    try:
        return format_date(day, "long")
    except (RuntimeError, KeyError):
        return day.isoformat()


def money_text(amount: Decimal, currency: str) -> str:
    """An amount with its currency in the request's language ("257,00 €", "€257.00")."""
    return format_currency(amount, currency)


def month_text(day: date) -> str:
    """A booking month by its name in the request's language ("November 2026"); English
    outside a request (CLI, jobs)."""
    try:
        return format_date(day, "MMMM yyyy")
    except (RuntimeError, KeyError):
        return day.strftime("%B %Y")


def moment_text(moment: datetime) -> str:
    """A point in time in the MSP's time zone and the request's language, to the minute: the
    medium date and the short time ("15.11.2026, 10:00", "Nov 15, 2026, 10:00\u202fAM")."""
    locale = get_locale()
    pattern = (
        str(locale.datetime_formats["medium"])
        .replace("{1}", locale.date_formats["medium"].pattern)
        .replace("{0}", locale.time_formats["short"].pattern)
    )
    return format_datetime(moment, pattern)


def amount_from_text(text: str) -> Decimal:
    """An amount as a person types it, in either language: "1250000.00", "1250000,00",
    "1,250,000.00", "1.250.000,00" (the last separator is the decimal one). Raises
    InvalidOperation for anything else."""
    text = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    if "," in text and "." in text:
        decimal_mark = "," if text.rindex(",") > text.rindex(".") else "."
        text = text.replace("." if decimal_mark == "," else ",", "")
    return Decimal(text.replace(",", "."))
