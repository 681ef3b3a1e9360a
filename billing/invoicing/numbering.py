"""Gap-free invoice numbers (SPEC §8): one counter, reserved in the transaction that uses them."""

from __future__ import annotations

from billing.kernel.clock import Clock
from billing.kernel.locking import lock_rows
from models import Setting, db

NUMBER_KEY = "invoice.last_number"


def reserve_numbers(count: int, clock: Clock) -> int:
    """Reserve ``count`` consecutive invoice numbers and return the first. The counter row is
    locked until the caller commits, and the numbers are used in that same transaction, so a
    rollback returns them: the sequence never has gaps."""
    rows = lock_rows(Setting, Setting.key == NUMBER_KEY)
    row = rows[0] if rows else None
    if row is None:
        row = Setting(key=NUMBER_KEY, value="0", updated_at=clock.now())
        db.session.add(row)
    first = int(row.value) + 1
    row.value = str(first + count - 1)
    row.updated_at = clock.now()
    return first


def format_number(year: int, number: int) -> str:
    return f"{year}-{number:06d}"
