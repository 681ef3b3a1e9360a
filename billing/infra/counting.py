"""How many rows a list's filter and search select: exactly where that is cheap, otherwise an
estimate that the list marks "about".

Counting a million matching rows takes longer than showing a page of them, so the number is
exact only up to ``EXACT_UP_TO`` matches:

* PostgreSQL: the planner's estimate of the rows (``EXPLAIN (FORMAT JSON)``, from the table's
  statistics, no rows read). Above ``EXACT_UP_TO`` that estimate is the answer; below it the
  rows are counted, at most ``EXACT_UP_TO + 1`` of them.
* SQLite has no such estimate. A table of at most ``EXACT_UP_TO`` ids is counted. Otherwise
  ``SAMPLE_WINDOWS`` stretches of ``SAMPLE_IDS`` consecutive ids, spread over the table, are
  counted with the filter, and the share that matches is scaled to the whole id range; a
  small estimate is followed by a count as on PostgreSQL.

A count that stops at its limit although the estimate was small says "more than".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Select, func, select

from models import db

EXACT_UP_TO = 10_000
SAMPLE_WINDOWS = 8
SAMPLE_IDS = 1_000

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


def rounded(number: float) -> int:
    """``number`` to two significant digits (an estimate shows no false precision)."""
    if number < 100:
        return int(Decimal(number).quantize(Decimal(1), ROUND_HALF_UP))
    digits = len(str(int(number))) - 2
    return int(Decimal(number).scaleb(-digits).quantize(Decimal(1), ROUND_HALF_UP).scaleb(digits))


def count_matches(statement: Select, key, exact_up_to: int = EXACT_UP_TO) -> MatchCount:
    """How many rows ``statement`` (a select of the list's rows: its filter and search, no
    order, no limit) returns. ``key``: the table's integer primary key column (SQLite samples
    by it)."""
    if db.engine.dialect.name == "postgresql":
        estimate = _planner_rows(statement)
    else:
        estimate = _sampled_rows(statement, key, exact_up_to)
    if estimate is not None and estimate > exact_up_to:
        return MatchCount(rounded(estimate), ABOUT)
    counted = db.session.scalar(
        select(func.count()).select_from(statement.limit(exact_up_to + 1).subquery())
    )
    if counted > exact_up_to:
        return MatchCount(exact_up_to, MORE_THAN)
    return MatchCount(counted, EXACT)


def _planner_rows(statement: Select) -> float:
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
    return float(plan[0]["Plan"]["Plan Rows"])


def _sampled_rows(statement: Select, key, exact_up_to: int) -> float | None:
    """SQLite: the matches ``statement`` would have, scaled from evenly spread stretches of
    ids; None when the table is small enough to count."""
    table = key.table
    low, high = db.session.execute(select(func.min(key), func.max(key)).select_from(table)).one()
    if low is None or high - low + 1 <= exact_up_to:
        return None
    span = high - low + 1
    step = span // SAMPLE_WINDOWS
    windows = [(low + i * step, low + i * step + SAMPLE_IDS - 1) for i in range(SAMPLE_WINDOWS)]
    # ``+ 0`` keeps the range on the rowid: SQLite would otherwise often walk a filter's index
    sampled = sum(
        db.session.scalar(
            select(func.count()).select_from(
                statement.where(key.between(first, last), (key + 0).between(first, last)).subquery()
            )
        )
        for first, last in windows
    )
    return sampled * span / (SAMPLE_WINDOWS * SAMPLE_IDS)
