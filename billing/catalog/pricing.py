"""Graduated tier pricing (SPEC §5): monthly price, average IP price.

The price of N IPs is the sum over the ranges needed to reach N of
(IPs in that range × that range's unit price), rounded half-up to cents once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from models import PriceTier, db

CENT = Decimal("0.01")
AVG_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Tier:
    lower: int
    upper: int | None
    unit_price: Decimal


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def load_tiers() -> list[Tier]:
    """The current tier table, sorted by lower bound."""
    rows = db.session.scalars(db.select(PriceTier).order_by(PriceTier.lower_bound)).all()
    return [Tier(r.lower_bound, r.upper_bound, Decimal(r.unit_price)) for r in rows]


def unrounded_tier_price(ips: int, tiers: Sequence[Tier]) -> Decimal:
    total = Decimal("0")
    for tier in tiers:
        if ips < tier.lower:
            break
        top = ips if tier.upper is None else min(ips, tier.upper)
        total += (top - tier.lower + 1) * tier.unit_price
    return total


def monthly_price(ips: int, tiers: Sequence[Tier], unit_price: Decimal | None = None) -> Decimal:
    """Net monthly price of ``ips`` IPs: a per-customer unit price if given, else the tiers."""
    if ips <= 0:
        return Decimal("0.00")
    if unit_price is not None:
        return to_cents(ips * Decimal(unit_price))
    return to_cents(unrounded_tier_price(ips, tiers))


def average_ip_price(price: Decimal, ips: int) -> Decimal | None:
    """Monthly price ÷ total IPs, to four places; None without IPs."""
    if ips <= 0:
        return None
    return (Decimal(price) / ips).quantize(AVG_PLACES, rounding=ROUND_HALF_UP)


def validate_tiers(tiers: Sequence[Tier]) -> list[Tier]:
    """Check a tier table (SPEC §2): sorted, starts at 1, contiguous, only the last open,
    prices ≥ 0. Returns it sorted; raises DomainError with the first problem."""
    from billing.kernel.errors import DomainError
    from billing.kernel.i18n import _

    if not tiers:
        raise DomainError(_("The price table needs at least one range."))
    ordered = sorted(tiers, key=lambda t: t.lower)
    if ordered[0].lower != 1:
        raise DomainError(_("The first range must start at 1 IP."))
    for index, tier in enumerate(ordered):
        last = index == len(ordered) - 1
        if tier.unit_price < 0:
            raise DomainError(_("Prices cannot be negative."))
        if tier.upper is None and not last:
            raise DomainError(_("Only the last range may be open-ended."))
        if tier.upper is not None and tier.upper < tier.lower:
            raise DomainError(
                _("The range starting at %(lower)d ends before it starts.", lower=tier.lower)
            )
        if not last:
            following = ordered[index + 1]
            if following.lower != tier.upper + 1:
                raise DomainError(
                    _(
                        "The ranges must follow each other without gap or overlap "
                        "(after %(upper)d comes %(next)d).",
                        upper=tier.upper,
                        next=tier.upper + 1,
                    )
                )
    if ordered[-1].upper is not None:
        raise DomainError(_("The last range must be open-ended."))
    return ordered


def replace_tiers(tiers: Sequence[Tier], actor, clock) -> list[Tier]:
    """Validate and store a new tier table (audited). Past invoices keep their amounts."""
    from billing.kernel import audit

    ordered = validate_tiers(tiers)
    before = [f"{t.lower}-{t.upper}:{t.unit_price}" for t in load_tiers()]
    db.session.execute(db.delete(PriceTier))
    for tier in ordered:
        db.session.add(
            PriceTier(lower_bound=tier.lower, upper_bound=tier.upper, unit_price=tier.unit_price)
        )
    audit.record(
        actor,
        "pricing.replace_tiers",
        clock,
        before={"tiers": before},
        after={"tiers": [f"{t.lower}-{t.upper}:{t.unit_price}" for t in ordered]},
    )
    db.session.commit()
    return ordered
