"""Property-based checks of graduated pricing (SPEC §5; issue: pricing)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.catalog.pricing import Tier, monthly_price, unrounded_tier_price

prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=4)


@st.composite
def tier_tables(draw):
    """Valid tables: start at 1, contiguous, only the last open."""
    count = draw(st.integers(min_value=1, max_value=5))
    widths = draw(
        st.lists(st.integers(min_value=1, max_value=300), min_size=count - 1, max_size=count - 1)
    )
    tiers, lower = [], 1
    for width in widths:
        tiers.append(Tier(lower, lower + width - 1, draw(prices)))
        lower += width
    tiers.append(Tier(lower, None, draw(prices)))
    return tiers


def naive(ips: int, tiers) -> Decimal:
    """IP by IP: each IP costs the unit price of the range it falls into."""
    total = Decimal(0)
    for ip in range(1, ips + 1):
        tier = next(t for t in tiers if t.lower <= ip and (t.upper is None or ip <= t.upper))
        total += tier.unit_price
    return total


def tier_of(ip: int, tiers) -> Tier:
    return next(t for t in tiers if t.lower <= ip and (t.upper is None or ip <= t.upper))


@settings(max_examples=200, deadline=None)
@given(tier_tables(), st.integers(min_value=0, max_value=2000))
def test_price_is_monotone(tiers, ips):
    assert monthly_price(ips + 1, tiers) >= monthly_price(ips, tiers)


@settings(max_examples=200, deadline=None)
@given(tier_tables(), st.integers(min_value=0, max_value=2000))
def test_each_extra_ip_costs_the_unit_price_of_its_tier(tiers, ips):
    step = unrounded_tier_price(ips + 1, tiers) - unrounded_tier_price(ips, tiers)
    assert step == tier_of(ips + 1, tiers).unit_price


@settings(max_examples=100, deadline=None)
@given(tier_tables())
def test_equals_the_naive_reference_at_every_tier_boundary(tiers):
    boundaries = {1}
    for tier in tiers:
        boundaries |= {tier.lower - 1, tier.lower, tier.lower + 1}
        if tier.upper is not None:
            boundaries |= {tier.upper, tier.upper + 1}
    for ips in sorted(b for b in boundaries if b >= 0):
        expected = naive(ips, tiers).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        assert monthly_price(ips, tiers) == expected
