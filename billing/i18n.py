"""Translation markers for domain messages.

Domain functions produce user-facing messages; Flask-Babel translates them in the request's
locale when one is active and leaves them as English otherwise (CLI, jobs).
"""

from __future__ import annotations

from flask_babel import get_locale, gettext, lazy_gettext

__all__ = ["_", "current_language", "lazy_gettext"]
LANGUAGES = ("en", "de")


def _(text: str, **variables) -> str:
    try:
        return gettext(text, **variables)
    except (RuntimeError, KeyError):
        return text % variables if variables else text


def current_language() -> str:
    """The request's language ("en" or "de"); English outside a request (CLI, jobs)."""
    try:
        locale = get_locale()
    except (RuntimeError, KeyError):
        return "en"
    language = locale.language if locale is not None else "en"
    return language if language in LANGUAGES else "en"
