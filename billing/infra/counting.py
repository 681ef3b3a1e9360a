"""How many rows a list's filter and search select: exactly where that is cheap, otherwise an
estimate that the list marks "about".

Counting a million matching rows takes longer than showing a page of them, so the number is
exact only up to ``EXACT_UP_TO`` matches:

* PostgreSQL: the planner's estimate of the rows (``EXPLAIN (FORMAT JSON)``, from the table's
  statistics, no rows read). Above ``EXACT_UP_TO`` that estimate is the answer; below it the
  rows are counted, at most ``EXACT_UP_TO + 1`` of them.
* SQLite has no such estimate. A table of at most ``EXACT_UP_TO`` ids is counted. Otherwise
  ``SAMPLE_WINDOWS`` stretches of ``SAMPLE_IDS`` consecutive ids, spread over the table, are
  tested against the filter (2,000 rows looked up by id), and the share that matches is
  scaled to the whole id range; a small estimate is followed by a count as on PostgreSQL.

Estimates are Decimals (no binary fractions in billing/). A count that stops at its limit
although the estimate was small says "more than". An estimate is kept for ``ESTIMATE_SECONDS``
per database and statement (on the process's monotonic clock, in whole nanoseconds: a cache's
lifetime, not a business time), so paging, sorting and coming back to a list after an action
cost nothing more (about 3 ms of CPU each on SQLite, 1 ms on PostgreSQL); exact counts are made
every time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Select, func, or_, select

from models import db

EXACT_UP_TO = 10_000
SAMPLE_WINDOWS = 8
SAMPLE_IDS = 250
ESTIMATE_SECONDS = 60
KEPT_ESTIMATES = 512
# (database, statement, parameters) -> (estimate, monotonic nanoseconds it is kept until)
_estimates: dict[tuple, tuple[Decimal | None, int]] = {}

EXACT, ABOUT, MORE_THAN = "exact", "about", "more_than"


@dataclass(frozen=True)
class MatchCount:
    """``number`` of matching rows; ``kind``: ``exact``, ``about`` (an estimate, rounded to two
    significant digits) or ``more_than`` (at least ``number + 1``)."""

    number: int
    kind: str

    @property
    def exact(self) -> bool:
        return self.kind == EXACT


def rounded(number: Decimal) -> int:
    """``number`` to two significant digits (an estimate shows no false precision)."""
    whole = int(Decimal(number).quantize(Decimal(1), ROUND_HALF_UP))
    if whole < 100:
        return whole
    digits = len(str(whole)) - 2
    return int(Decimal(number).scaleb(-digits).quantize(Decimal(1), ROUND_HALF_UP).scaleb(digits))


def count_matches(statement: Select, key, exact_up_to: int | None = None) -> MatchCount:
    """How many rows ``statement`` (a select of the list's rows: its filter and search, no
    order, no limit) returns; exactly up to ``exact_up_to`` (default ``EXACT_UP_TO``).
    ``key``: the table's integer primary key column (SQLite samples by it)."""
    limit = EXACT_UP_TO if exact_up_to is None else exact_up_to
    estimate = _estimate(statement, key, limit)
    if estimate is not None and estimate > limit:
        return MatchCount(rounded(estimate), ABOUT)
    counted = db.session.scalar(
        select(func.count()).select_from(statement.limit(limit + 1).subquery())
    )
    if counted > limit:
        return MatchCount(limit, MORE_THAN)
    return MatchCount(counted, EXACT)


def _estimate(statement: Select, key, limit: int) -> Decimal | None:
    """The estimated matches of ``statement``, from the kept ones while they are fresh."""
    compiled = statement.compile(
        dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True}
    )
    params = tuple(sorted((name, repr(value)) for name, value in compiled.params.items()))
    kept_as = (str(db.engine.url), str(compiled), params, limit)
    now = time.monotonic_ns()
    kept = _estimates.get(kept_as)
    if kept is not None and kept[1] > now:
        return kept[0]
    if db.engine.dialect.name == "postgresql":
        estimate = _planner_rows(statement)
    else:
        estimate = _sampled_rows(statement, key, limit)
    if len(_estimates) >= KEPT_ESTIMATES:
        _estimates.clear()
    _estimates[kept_as] = (estimate, now + ESTIMATE_SECONDS * 1_000_000_000)
    return estimate


def _planner_rows(statement: Select) -> Decimal:
    """PostgreSQL's estimate of the rows ``statement`` returns."""
    connection = db.session.connection()
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    plan = connection.exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params
    ).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    # a JSON number; through its text, so no binary fraction enters
    return Decimal(str(plan[0]["Plan"]["Plan Rows"]))


def _sampled_rows(statement: Select, key, limit: int) -> Decimal | None:
    """SQLite: the matches ``statement`` would have, scaled from evenly spread stretches of
    ids; None when the id range is small enough to count.

    Each sampled id is tested with a correlated ``EXISTS`` that looks the row up by its id:
    given the filter itself, SQLite's planner (which has no statistics) would walk a filter's
    index through all its matches instead of the few sampled ids."""
    low = db.session.scalar(select(func.min(key)))
    high = db.session.scalar(select(func.max(key)))
    if low is None or high - low + 1 <= limit:
        return None
    span = high - low + 1
    windows = min(SAMPLE_WINDOWS, span)
    step = span // windows
    size = min(SAMPLE_IDS, step)
    sample = key.table.alias("sample")
    sampled_key = sample.c[key.name]
    matching = statement.where(key == sampled_key).correlate(sample).exists()
    in_windows = or_(
        *(
            sampled_key.between(first, first + size - 1)
            for first in range(low, low + windows * step, step)
        )
    )
    sampled = db.session.scalar(
        select(func.count()).select_from(sample).where(in_windows, matching)
    )
    return Decimal(sampled * span) / Decimal(windows * size)
