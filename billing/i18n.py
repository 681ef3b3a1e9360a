"""Translation markers for domain messages.

Domain functions produce user-facing messages; Flask-Babel translates them in the request's
locale when one is active and leaves them as English otherwise (CLI, jobs).
"""

from __future__ import annotations

from flask_babel import gettext, lazy_gettext

__all__ = ["_", "lazy_gettext"]


def _(text: str, **variables) -> str:
    try:
        return gettext(text, **variables)
    except (RuntimeError, KeyError):
        return text % variables if variables else text
