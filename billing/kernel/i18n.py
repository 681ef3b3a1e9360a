"""Translation markers for domain messages.

Domain functions produce user-facing messages; Flask-Babel translates them in the request's
locale when one is active and leaves them as English otherwise (CLI, jobs).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import format_currency, format_date, get_locale, gettext, lazy_gettext
from flask_babel import ngettext as _ngettext

__all__ = ["_", "current_language", "day_text", "lazy_gettext", "money_text", "ngettext"]
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
