"""Translation markers for domain messages.

Domain functions produce user-facing messages; Flask-Babel translates them in the request's
locale when one is active and leaves them as English otherwise (CLI, jobs).
"""

from __future__ import annotations

from flask_babel import gettext, lazy_gettext
from flask_babel import ngettext as _ngettext

__all__ = ["_", "lazy_gettext", "ngettext"]


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
