"""``billing.infra.counting``: a list's number of matches, exact where cheap, else estimated
(PostgreSQL's planner; SQLite samples stretches of ids)."""

from __future__ import annotations

import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text

from billing.infra import counting
from billing.infra.counting import ABOUT, EXACT, MORE_THAN, count_matches, rounded
from models import Customer, db
from tests import factories


@pytest.fixture
def twelve(any_app):
    """Twelve customers, three of them locked; the planner's statistics up to date."""
    factories.reference(any_app)
    for n in range(12):
        factories.customer(any_app, state="locked" if n % 4 == 0 else "active")
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE customer"))
        db.session.commit()
    return any_app


def test_a_small_number_of_matches_is_counted_exactly(twelve):
    every = select(Customer.id)
    assert count_matches(every, Customer.id, exact_up_to=100) == counting.MatchCount(12, EXACT)
    locked = every.where(Customer.status == "locked")
    assert count_matches(locked, Customer.id, exact_up_to=5) == counting.MatchCount(3, EXACT)


def test_more_matches_than_are_counted_cheaply_are_estimated(twelve):
    found = count_matches(select(Customer.id), Customer.id, exact_up_to=5)
    assert found.kind == ABOUT and not found.exact
    assert 8 <= found.number <= 16, found


def test_an_estimate_that_was_too_small_is_said_to_be_a_lower_bound(app, monkeypatch):
    """SQLite: the sample missed the matches; the count stops at its limit and says so."""
    factories.reference(app)
    for _n in range(12):
        factories.customer(app)
    monkeypatch.setattr(counting, "SAMPLE_WINDOWS", 1)
    monkeypatch.setattr(counting, "SAMPLE_IDS", 1)
    first = db.session.scalar(select(Customer.id).order_by(Customer.id).limit(1))
    others = select(Customer.id).where(Customer.id != first)
    assert count_matches(others, Customer.id, exact_up_to=5) == counting.MatchCount(5, MORE_THAN)


def test_sqlite_samples_by_id_not_by_a_filters_index(app):
    """The sample looks rows up by id; a filter's own index would be walked through all its
    matches (a million at scale)."""
    factories.reference(app)
    for _n in range(3):
        factories.customer(app, country="DE")
    statement = select(Customer.id).where(Customer.country == "DE")
    seen: list[str] = []
    connection = db.session.connection()

    def plans(conn, cursor, sql, parameters, context, executemany):
        if "sample" in sql:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)
            seen.extend(row[-1] for row in cursor.fetchall())

    from sqlalchemy import event

    event.listen(connection, "before_cursor_execute", plans)
    try:
        count_matches(statement, Customer.id, exact_up_to=1)
    finally:
        event.remove(connection, "before_cursor_execute", plans)
    assert seen and not any("ix_customer_country_name" in step for step in seen), seen
    assert any("INTEGER PRIMARY KEY (rowid=?)" in step for step in seen), seen


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        (0, 0),
        (7, 7),
        (Decimal("87.4"), 87),
        (Decimal("99.5"), 100),
        (995, 1000),
        (46_234, 46_000),
        (1_234_567, 1_200_000),
    ],
)
def test_estimates_are_rounded_to_two_significant_digits(number, shown):
    assert rounded(number) == shown


def test_an_estimate_is_kept_for_a_minute(twelve, monkeypatch):
    """Paging or coming back to a long list does not estimate again; a minute later it does."""
    every = select(Customer.id)
    first = count_matches(every, Customer.id, exact_up_to=5)
    for _n in range(12):
        factories.customer(twelve)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE customer"))
        db.session.commit()
    assert count_matches(every, Customer.id, exact_up_to=5) == first
    later = time.monotonic_ns() + (counting.ESTIMATE_SECONDS + 1) * 1_000_000_000
    monkeypatch.setattr(counting, "time", SimpleNamespace(monotonic_ns=lambda: later))
    again = count_matches(every, Customer.id, exact_up_to=5)
    assert again.kind == ABOUT and again.number >= 18, again
