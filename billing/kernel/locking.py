"""Row locks for check-then-change rules (SPEC §13 reliability): "credit this invoice unless it
was credited", "book unless the account changed since the form was shown".

Such a rule is only sound when no other transaction can change the facts between the check
and the change. ``lock_row`` / ``lock_rows`` load the rows to change with their latest committed
state and keep others from changing them until the caller commits or rolls back: a concurrent
caller waits, then sees what the first one did, so its check refuses with a clear message.

PostgreSQL takes row locks (``SELECT … FOR UPDATE``). SQLite has none; there a write that
changes nothing takes the database's write lock first (writers wait for each other up to the
busy timeout), and the reads after it see the last committed state.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from models import db

Row = TypeVar("Row")


def lock_rows(model: type[Row], *conditions) -> list[Row]:
    """The rows of ``model`` matching ``conditions``, locked until the transaction ends, in
    primary-key order (so two callers never wait for each other crosswise)."""
    table = model.__table__
    keys = list(table.primary_key.columns)
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(
            db.update(model)
            .where(*conditions)
            .values({key.name: key for key in keys})
            .execution_options(synchronize_session=False)
        )
    return list(
        db.session.scalars(
            db.select(model)
            .where(*conditions)
            .order_by(*keys)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def lock_row(model: type[Row], record_id) -> Row | None:
    """Row ``record_id`` of ``model`` locked until the transaction ends (None if it does not
    exist, also when another transaction deleted it while this one waited)."""
    (key,) = model.__table__.primary_key.columns
    rows = lock_rows(model, key == record_id)
    return rows[0] if rows else None


Result = TypeVar("Result")


def releasing_locks(function: Callable[..., Result]) -> Callable[..., Result]:
    """For a billing function that takes locks and commits when it succeeds: when it refuses
    (or fails), roll back, so no lock outlives the refusal (on SQLite a held lock would stop
    every other writer)."""

    @wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception:
            db.session.rollback()
            raise

    return wrapper
