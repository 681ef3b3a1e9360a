"""Revision 0023 on a database that has billing runs: they keep running on the running clock
(no moment), and going back leaves the runs and their constraints in place."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from billing.invoicing import monthend
from models import db
from tests.conftest import _build
from tests.support.migrations import empty_database as empty_database_for


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    yield from empty_database_for(request, tmp_path, "t_migration_0023")


def _insert_run(period: str, state: str, now) -> None:
    db.session.execute(
        text(
            "INSERT INTO billing_run (period, state, auto_finalize, started_by, started_at, "
            "approved_by, lease_owner, last_customer_id, total, processed, billed, skipped, "
            "finalized, payment_failed, changes_applied, subscriptions_expired, skip_reasons, "
            "error) VALUES (:period, :state, false, 'system', :now, '', '', 0, 0, 0, 0, 0, 0, "
            "0, 0, 0, '{}', '')"
        ),
        {"period": period, "state": state, "now": now},
    )


def test_0023_runs_before_it_have_no_moment_and_going_back_keeps_them(empty_database, clock):
    app, ctx, _db = _build(empty_database, clock)
    try:
        upgrade(revision="0022")
        now = clock.now().replace(tzinfo=None)
        _insert_run("2026-09-01", "done", now)
        db.session.commit()

        upgrade(revision="0023")
        run = db.session.get(monthend.BillingRun, 1)
        assert run.as_of is None and monthend.run_clock(run, clock) is clock
        db.session.rollback()

        downgrade(revision="0022")
        assert db.session.scalar(text("SELECT state FROM billing_run")) == "done"
        with pytest.raises(IntegrityError):
            _insert_run("2026-10-01", "bogus", now)
            db.session.commit()
        db.session.rollback()
    finally:
        db.session.remove()
        db.engine.dispose()
        ctx.pop()
