"""Country names in the reader's language (ISO 3166 alpha-2 codes, CLDR names through Babel):
one place for forms, lists, messages and invoices."""

from __future__ import annotations

import functools
import unicodedata

import pycountry
from babel import Locale

from billing.kernel.i18n import current_language

CODES = frozenset(country.alpha_2 for country in pycountry.countries)


@functools.cache
def _names(language: str) -> dict[str, str]:
    territories = Locale.parse(language).territories
    return {
        country.alpha_2: territories.get(country.alpha_2, country.name)
        for country in pycountry.countries
    }


def _sort_key(name: str) -> str:
    """Alphabetical as a reader expects it: "Österreich" next to "Oman", not after "Zypern"."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()


def country_name(code: str | None, language: str | None = None) -> str | None:
    """The name of the country ``code`` in ``language`` (default: the request's), or None
    for an unknown code."""
    return _names(language or current_language()).get((code or "").upper())


@functools.cache
def _choices(language: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(_names(language).items(), key=lambda item: _sort_key(item[1])))


def country_choices(language: str | None = None) -> list[tuple[str, str]]:
    """(code, name) pairs for a select box, sorted by the name in ``language``."""
    return list(_choices(language or current_language()))
