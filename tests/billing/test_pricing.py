"""Graduated tier pricing and tier-table validation (SPEC §5, §2 price tier)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.catalog.pricing import (
    Tier,
    average_ip_price,
    load_tiers,
    monthly_price,
    replace_tiers,
    validate_tiers,
)
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import DomainError
from seed.reference import DEFAULT_TIERS

TIERS = [
    Tier(1, 50, Decimal("4.50")),
    Tier(51, 250, Decimal("3.20")),
    Tier(251, None, Decimal("2.10")),
]


def test_worked_example_of_the_manual():
    """SPEC §5: 300 IPs = 50 × p1 + 200 × p2 + 50 × p3."""
    assert monthly_price(300, TIERS) == Decimal(50 * 4.5 + 200 * 3.2 + 50 * 2.1).quantize(
        Decimal("0.01")
    )
    assert monthly_price(300, TIERS) == Decimal("970.00")


@pytest.mark.parametrize(
    ("ips", "price"),
    [(1, "4.50"), (50, "225.00"), (51, "228.20"), (250, "865.00"), (251, "867.10")],
)
def test_tier_boundaries(ips, price):
    assert monthly_price(ips, TIERS) == Decimal(price)


def test_per_customer_unit_price_overrides_the_tiers():
    """SPEC §5: managed customers may have a per-customer unit price."""
    assert monthly_price(300, TIERS, Decimal("2.75")) == Decimal("825.00")


def test_rounding_is_half_up_to_cents_once():
    tiers = [Tier(1, None, Decimal("0.3333"))]
    assert monthly_price(3, tiers) == Decimal("1.00")
    assert monthly_price(15, [Tier(1, None, Decimal("0.001"))]) == Decimal("0.02")


def test_average_ip_price():
    assert average_ip_price(Decimal("970.00"), 300) == Decimal("3.2333")
    assert average_ip_price(Decimal("0.00"), 0) is None


def test_no_ips_cost_nothing():
    assert monthly_price(0, TIERS) == Decimal("0.00")


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([], "at least one range"),
        ([Tier(2, None, Decimal(1))], "start at 1"),
        ([Tier(1, 10, Decimal(1)), Tier(12, None, Decimal(1))], "without gap"),
        ([Tier(1, 10, Decimal(1)), Tier(10, None, Decimal(1))], "without gap"),
        ([Tier(1, None, Decimal(1)), Tier(11, None, Decimal(1))], "Only the last"),
        ([Tier(1, 10, Decimal(1))], "must be open-ended"),
        ([Tier(1, None, Decimal(-1))], "negative"),
    ],
)
def test_invalid_tier_tables_are_refused(tiers, message):
    """SPEC §2: sorted, no gaps, no overlaps, starts at 1, only the last is open."""
    with pytest.raises(DomainError, match=message):
        validate_tiers(tiers)


def test_unsorted_valid_tables_are_accepted_sorted():
    shuffled = [TIERS[2], TIERS[0], TIERS[1]]
    assert validate_tiers(shuffled) == TIERS


def test_replace_tiers_keeps_the_old_table_on_bad_input(app):
    replace_tiers(DEFAULT_TIERS, SYSTEM, app.config["CLOCK"])
    with pytest.raises(DomainError):
        replace_tiers([Tier(1, 10, Decimal(1))], SYSTEM, app.config["CLOCK"])
    assert load_tiers() == list(DEFAULT_TIERS)
