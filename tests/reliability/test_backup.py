"""``flask backup create`` / ``flask backup restore`` on both databases (SPEC §13 reliability;
the invoices of SPEC §8 survive a restore with the same totals)."""

from __future__ import annotations

import shutil
from datetime import date

import pytest
from sqlalchemy import create_engine, text

from billing.invoicing.drafting import draft_invoice
from models import db
from tests import factories
from tests.conftest import PgDatabase, _config, berlin

# a backup copies the database itself
pytestmark = pytest.mark.fresh_database

OCTOBER = date(2026, 10, 1)


def _fill(app, customers: int) -> None:
    """``customers`` customers with an October invoice each."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    created = [
        factories.customer(app, internal=5 + n, external=n, country=("DE", "FR", "US")[n % 3])
        for n in range(customers)
    ]
    clock.instant = berlin(2026, 11, 1, 0, 30)
    for customer in created:
        draft_invoice(customer.id, OCTOBER, clock)


def _snapshot(url: str) -> dict:
    """Rows per table, and each invoice's number, customer and amounts."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            counts = {
                table.name: conn.execute(text(f'SELECT count(*) FROM "{table.name}"')).scalar()
                for table in db.metadata.sorted_tables
            }
            invoices = conn.execute(
                text("SELECT id, customer_id, net, vat, gross FROM invoice ORDER BY id")
            ).all()
            total = conn.execute(text("SELECT sum(gross) FROM invoice")).scalar()
    finally:
        engine.dispose()
    return {"counts": counts, "invoices": [tuple(row) for row in invoices], "total": total}


def _invoke(app, *args: str, input: str | None = None):
    """Run a ``flask`` command against ``app`` (its own app context, not the test's)."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=list(args), input=input)
        db.session.remove()
        db.engine.dispose()
    return result


@pytest.fixture
def scratch(request, any_app, tmp_path):
    """An app on a second, migrated database of the same kind holding one other customer:
    the place the backup is restored into."""
    from app import create_app

    if any_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        path = tmp_path / "scratch.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url, database = f"sqlite:///{path}", None
    else:
        database = PgDatabase(
            request.getfixturevalue("postgres"), request.getfixturevalue("pg_template")
        )
        url = database.url
    app = create_app(_config(url, any_app.config["CLOCK"]))
    with app.app_context():
        factories.reference(app)
        factories.customer(app, company="Scratch Only GmbH")
        db.session.remove()
        db.engine.dispose()
    yield app
    if database is not None:
        database.drop()


def test_a_backup_restores_into_another_database_with_equal_rows_and_totals(
    any_app, scratch, tmp_path
):
    """SPEC §13 (restartable, nothing lost): a backup made while the app runs, restored over a
    different database, gives the same row count in every table and the same invoices and
    invoice totals; the restore replaces what was there (the scratch customer is gone)."""
    _fill(any_app, 6)
    source = _snapshot(any_app.config["SQLALCHEMY_DATABASE_URI"])
    assert source["counts"]["invoice"] == 6 and source["total"] > 0
    path = tmp_path / "nightly.bak"

    made = any_app.test_cli_runner().invoke(args=["backup", "create", "--output", str(path)])
    assert made.exit_code == 0, made.output
    assert path.stat().st_size > 0 and str(path) in made.output
    assert path.stat().st_mode & 0o777 == 0o600, "only its owner may read a backup"

    restored = _invoke(scratch, "backup", "restore", str(path), "--yes")
    assert restored.exit_code == 0, restored.output
    target = _snapshot(scratch.config["SQLALCHEMY_DATABASE_URI"])
    assert target["invoices"] == source["invoices"]
    assert target["total"] == source["total"]
    events = target["counts"].pop("audit_event")
    assert events == source["counts"].pop("audit_event") + 1  # the restore itself
    assert target["counts"] == source["counts"]
    with scratch.app_context():
        names = db.session.scalars(text("SELECT company_name FROM customer")).all()
        db.engine.dispose()
    assert "Scratch Only GmbH" not in names


def test_restore_asks_first_and_refuses_foreign_files(any_app, scratch, tmp_path):
    """SPEC §13: restoring overwrites only after a "yes"; a file that is no backup of this kind
    of database gets a clear error; in both cases the database is left as it was."""
    _fill(any_app, 2)
    path = tmp_path / "backup.bak"
    runner = any_app.test_cli_runner()
    assert runner.invoke(args=["backup", "create", "--output", str(path)]).exit_code == 0
    again = runner.invoke(args=["backup", "create", "--output", str(path)])
    assert again.exit_code != 0 and "exists already" in again.output

    before = _snapshot(scratch.config["SQLALCHEMY_DATABASE_URI"])
    declined = _invoke(scratch, "backup", "restore", str(path), input="n\n")
    assert declined.exit_code != 0 and "Overwrite every table" in declined.output
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup")
    refused = _invoke(scratch, "backup", "restore", str(junk), "--yes")
    assert refused.exit_code != 0 and "not a backup made by this product" in refused.output
    missing = _invoke(scratch, "backup", "restore", str(tmp_path / "no.bak"), "--yes")
    assert missing.exit_code != 0 and "does not exist" in missing.output
    assert "Traceback" not in declined.output + refused.output + missing.output
    assert _snapshot(scratch.config["SQLALCHEMY_DATABASE_URI"]) == before


def test_a_backup_of_the_other_database_kind_is_refused(app, tmp_path):
    """SPEC §13: a PostgreSQL archive offered to a SQLite installation is named as such and
    nothing is restored."""
    archive = tmp_path / "pg.dump"
    archive.write_bytes(b"PGDMP" + b"\0" * 100)
    result = app.test_cli_runner().invoke(args=["backup", "restore", str(archive), "--yes"])
    assert result.exit_code != 0
    assert "postgresql backup, but the configured database is sqlite" in result.output
