"""Named settings stored in the database."""

from __future__ import annotations

from billing.kernel.clock import Clock
from models import Setting, db


def get_setting(key: str, default: str = "") -> str:
    row = db.session.get(Setting, key)
    return default if row is None else row.value


def set_setting(key: str, value: str, clock: Clock) -> None:
    """Store ``value`` under ``key`` and commit."""
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value, updated_at=clock.now()))
    else:
        row.value = value
        row.updated_at = clock.now()
    db.session.commit()
