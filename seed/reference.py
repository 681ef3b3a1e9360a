"""Reference data every installation needs: price tiers and payment methods."""

from __future__ import annotations

from decimal import Decimal

from billing.catalog.payment_methods import ensure_payment_methods
from billing.catalog.pricing import Tier, load_tiers, replace_tiers
from billing.kernel.audit import SYSTEM

DEFAULT_TIERS = (
    Tier(1, 50, Decimal("4.50")),
    Tier(51, 250, Decimal("3.20")),
    Tier(251, None, Decimal("2.10")),
)


def seed_reference(clock) -> None:
    """Tiers 1–50 / 51–250 / 251+ (only when no table exists) and the four payment methods."""
    if not load_tiers():
        replace_tiers(DEFAULT_TIERS, SYSTEM, clock)
    ensure_payment_methods(SYSTEM, clock)
