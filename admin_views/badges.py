"""Coloured state badges for invoices and billing runs, drawn like the customer status badges
(``labels.STATUS_STYLE``) in every list and page that shows those states.

The colour is never the only carrier of the meaning: each badge says its state in words, in the
staff member's language, and names it in ``data-state``. The badge colours are Bootstrap's,
with the ones whose white text was too faint darkened in static/msp.css, so every badge's text
has a contrast of at least 4.5:1 (WCAG AA).
"""

from __future__ import annotations

from markupsafe import Markup

from .labels import (
    CREDITED_LABEL,
    INVOICE_STATE_LABELS,
    INVOICE_STATE_STYLE,
    RUN_STATE_LABELS,
    RUN_STATE_STYLE,
)

#: an invoice a credit note settled in full (``receivables.credited_in_full``) shows this
CREDITED = "credited"


def badge(code: str, label, style: str, shown: str | None = None) -> Markup:
    """A badge saying ``label`` in colour ``style`` for the stored state ``code``; ``shown``
    names what it shows when that is not the stored state (``credited``)."""
    border = " border" if style == "light" else ""
    extra = Markup(' data-badge="{}"').format(shown) if shown else ""
    return Markup('<span class="badge badge-{}{} msp-badge"{} data-state="{}">{}</span>').format(
        style, border, extra, code, label
    )


def invoice_badge(state: str, credited: bool = False) -> Markup:
    """An invoice's state; ``credited``: an unpaid invoice a credit note settled in full."""
    if credited:
        return badge(state, CREDITED_LABEL, INVOICE_STATE_STYLE[CREDITED], CREDITED)
    return badge(
        state,
        INVOICE_STATE_LABELS.get(state, state),
        INVOICE_STATE_STYLE.get(state, "secondary"),
    )


def run_badge(state: str, label=None, stalled: bool = False) -> Markup:
    """A billing run's state, in words (``label`` says what it is doing too, e.g. "Drafting
    (queued)"); a stalled run is marked as needing attention."""
    style = "warning" if stalled else RUN_STATE_STYLE.get(state, "secondary")
    return badge(state, label or RUN_STATE_LABELS.get(state, state), style)
