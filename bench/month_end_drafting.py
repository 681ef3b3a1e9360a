"""Month-end drafting at scale (SPEC §8.3): the run's drafting step against bulk SQL inserts.

For each backend this builds a fresh, migrated database, seeds ``--customers`` customers through
``seed.bulk`` (on 20 October 2026, so some subscriptions start mid-October and are prorated),
and then, in a fresh process, measures:

* **domain**: ``monthend.start_run`` for October 2026 and ``monthend_work.work`` until the run
  awaits approval (the clock stands on 1 November 00:30 in Berlin): every customer read in
  batches of ``monthend_work.BATCH``, priced, VAT applied, and its invoice, lines and audit event
  inserted, each batch committed with the run's checkpoint;
* **baseline**: the same invoice and invoice_line rows (captured from the domain run) inserted
  with no domain logic into a copy of the database taken before the run: ``COPY … FROM STDIN``
  on PostgreSQL, ``executemany`` on SQLite, one transaction per batch of the same customers.

It prints customers per second for both, the ratio and the targets (≥ 2,000 customers/s and
within 5× of the baseline), and leaves the database without the bench month's invoices.
``--profile`` runs the domain step once more under cProfile and prints where the time goes.

Timings are wall clock: on a busy machine they include waiting for a CPU.

Usage::

    .venv/bin/python bench/month_end_drafting.py [--customers N] [--backends sqlite,postgresql]
                                                  [--quick] [--profile]
    .venv/bin/python bench/month_end_drafting.py --database-url URL   # existing, seeded database

Results are printed per backend and written as JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from list_and_export import RESULTS, ROOT, SqlRecorder, app_config, seeded

from billing.kernel.clock import FixedClock

BERLIN = ZoneInfo("Europe/Berlin")
PERIOD = date(2026, 10, 1)
SEEDED_AT = datetime(2026, 10, 20, 12, 0, tzinfo=BERLIN)
RUN_AT = datetime(2026, 11, 1, 0, 30, tzinfo=BERLIN)
CLEANUP_INDEXES = (("bench_cleanup_attempt_invoice", "payment_attempt", "invoice_id"),)
SPEED_TARGET = 2_000.0
RATIO_TARGET = 5.0


# --------------------------------------------------------------------------------------------
# one database


def run_backend(backend: str, customers: int, profile: bool) -> dict:
    """Fresh database on ``backend``, migrated and seeded, then measured in a fresh process."""
    with seeded(backend, customers, FixedClock(SEEDED_AT)) as (url, workdir, seeding):
        output = workdir / "results.json"
        command = [sys.executable, __file__, "--database-url", url, "--child-output", str(output)]
        subprocess.run(command + (["--profile"] if profile else []), check=True)
        results = json.loads(output.read_text())
    results["seed_seconds"] = seeding["seconds"]
    return results


def measure(url: str, profile: bool) -> dict:
    """Measure the migrated, seeded database at ``url`` (it must have no run for October)."""
    from app import create_app
    from billing.invoicing import monthend_work
    from models import BillingRun, Customer, db

    clock = FixedClock(RUN_AT)
    app = create_app(app_config(url, clock))
    with app.app_context():
        if db.session.scalar(db.select(BillingRun.id).where(BillingRun.period == PERIOD)):
            raise SystemExit(f"the database has a billing run for {PERIOD:%Y-%m} already")
        engine = db.engine
        total = db.session.scalar(db.select(db.func.count()).select_from(Customer))
        results: dict = {
            "backend": engine.dialect.name,
            "customers": total,
            "seed_seconds": None,
            "batch": monthend_work.BATCH,
            "load_average": "/".join(f"{v:.1f}" for v in os.getloadavg()),
        }
        db.session.remove()
        engine.dispose()
        with pristine_copy(url) as copy_url:
            print(f"   {results['backend']}: drafting {total:,} customers …", flush=True)
            domain = draft(clock)
            rows = capture(engine)
            results["domain"] = domain
            results["invoices"], results["lines"] = len(rows["invoices"]), len(rows["lines"])
            remove_drafts(engine, domain["audit_from"])
            seconds = baseline(copy_url, rows, monthend_work.BATCH)
        results["baseline"] = {"seconds": round(seconds, 2), "per_second": total / seconds}
        results["ratio"] = domain["seconds"] / seconds
        results["ok"] = domain["per_second"] >= SPEED_TARGET and results["ratio"] <= RATIO_TARGET
        if profile:
            results["profile"] = profiled(clock)
            remove_drafts(engine, results["profile"].pop("audit_from"))
        db.session.remove()
        engine.dispose()
    return results


def draft(clock) -> dict:
    """``start_run`` and ``work`` up to approval, timed; the SQL time measured on the cursor."""
    from billing.invoicing import monthend, monthend_report, monthend_work
    from billing.kernel.audit import SYSTEM
    from models import AuditEvent, BillingRun, RunState, db

    audit_from = (db.session.scalar(db.select(db.func.max(AuditEvent.id))) or 0) + 1
    db.session.commit()
    with SqlRecorder(db.engine) as recorder:
        started = time.perf_counter()
        cpu = time.process_time()
        run_id = monthend.start_run(PERIOD, SYSTEM, clock).run_id
        state = monthend_work.work(run_id, clock)
        cpu = time.process_time() - cpu
        seconds = time.perf_counter() - started
    if state != RunState.AWAITING_APPROVAL.value:
        raise SystemExit(f"the run ended in {state}, not awaiting approval")
    run = db.session.get(BillingRun, run_id)
    figure = {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "per_second": run.processed / seconds,
        "processed": run.processed,
        "billed": run.billed,
        "skipped": monthend_report.skip_reasons(run),
        "sql_statements": len(recorder.statements),
        "sql_seconds": round(sum(s for _q, s in recorder.statements), 2),
        "audit_from": audit_from,
        "sql_top": _slowest(recorder.statements),
    }
    print(
        f"   domain   {seconds:7.2f} s  {figure['per_second']:8,.0f} customers/s  "
        f"({run.billed:,} invoices, {figure['sql_statements']:,} statements, "
        f"{figure['sql_seconds']:.1f} s on the cursor)",
        flush=True,
    )
    for t in figure["sql_top"]:
        print(f"   SQL {t['seconds']:7.2f} s {t['count']:>6}×  {t['sql']}", flush=True)
    return figure


def _slowest(statements: list[tuple[str, float]], top: int = 6) -> list[dict]:
    """The statements (by their first 90 characters) that took the most cursor time."""
    totals: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for sql, seconds in statements:
        key = " ".join(sql.split())[:90]
        totals[key][0] += 1
        totals[key][1] += seconds
    ranked = sorted(totals.items(), key=lambda item: -item[1][1])[:top]
    return [{"sql": k, "count": n, "seconds": round(t, 3)} for k, (n, t) in ranked]


def capture(engine) -> dict:
    """The drafted invoices and lines as the driver returns them, in id order."""
    from models import Invoice, InvoiceLine

    invoice_columns = [c.name for c in Invoice.__table__.columns]
    line_columns = [c.name for c in InvoiceLine.__table__.columns]
    period = Invoice.__table__.c.period
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        sql, params = _driver_sql(
            engine,
            Invoice.__table__.select().where(period == PERIOD).order_by(Invoice.__table__.c.id),
        )
        cursor.execute(sql, params)
        invoices = cursor.fetchall()
        ids = Invoice.__table__.c.id
        sql, params = _driver_sql(
            engine,
            InvoiceLine.__table__.select()
            .where(
                InvoiceLine.__table__.c.invoice_id.in_(
                    Invoice.__table__.select().with_only_columns(ids).where(period == PERIOD)
                )
            )
            .order_by(InvoiceLine.__table__.c.id),
        )
        cursor.execute(sql, params)
        lines = cursor.fetchall()
        cursor.close()
    finally:
        connection.close()
    return {
        "invoice_columns": invoice_columns,
        "line_columns": line_columns,
        "invoices": invoices,
        "lines": lines,
    }


def _driver_sql(engine, stmt) -> tuple[str, object]:
    compiled = stmt.compile(dialect=engine.dialect)
    if compiled.positional:
        return str(compiled), tuple(compiled.params[name] for name in compiled.positiontup)
    return str(compiled), compiled.params


def remove_drafts(engine, audit_from: int) -> None:
    """Delete the bench month's invoices, their lines, the run and the audit events it wrote."""
    from models import db

    db.session.remove()
    with engine.begin() as conn:
        # payment attempts have no index on their invoice: without this, each deleted invoice
        # scans payment_attempt
        for name, table, column in CLEANUP_INDEXES:
            conn.exec_driver_sql(f"CREATE INDEX {name} ON {table} ({column})")
        for statement in (
            "DELETE FROM invoice_line WHERE invoice_id IN "
            "(SELECT id FROM invoice WHERE period = :period)",
            "DELETE FROM invoice WHERE period = :period",
            "DELETE FROM billing_run WHERE period = :period",
        ):
            conn.execute(db.text(statement), {"period": PERIOD})
        # audit events are append-only on PostgreSQL (a trigger); the bench, as the tables'
        # owner, sets it aside for its own clean-up only, inside this transaction
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            conn.exec_driver_sql(
                "ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete"
            )
        conn.execute(db.text("DELETE FROM audit_event WHERE id >= :id"), {"id": audit_from})
        if postgres:
            conn.exec_driver_sql(
                "ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update_delete"
            )
        for name, _table, _column in CLEANUP_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {name}")
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("invoice", "invoice_line", "audit_event", "billing_run"):
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")


@contextmanager
def pristine_copy(url: str):
    """Yield the URL of a copy of the database at ``url`` as it is now (dropped afterwards): the
    baseline inserts into tables that never held the month's invoices, like the run did."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        copy = Path(f"{parsed.database}.baseline")
        with sqlite3.connect(parsed.database) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        try:
            yield str(parsed.set(database=str(copy)))
        finally:
            copy.unlink()
        return
    import psycopg

    name = f"{parsed.database}_baseline"
    admin = parsed.set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def baseline(url: str, rows: dict, batch: int) -> float:
    """Insert the captured rows into the database at ``url`` with the driver's fastest path,
    one transaction per batch of ``batch`` customers (as the run commits them); returns the
    seconds taken."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.connect() as conn:
        customer_ids = conn.exec_driver_sql("SELECT id FROM customer ORDER BY id").scalars().all()
    batch_of = {cid: n // batch for n, cid in enumerate(customer_ids)}
    invoice_columns, line_columns = rows["invoice_columns"], rows["line_columns"]
    customer_at = invoice_columns.index("customer_id")
    invoice_batch: dict[int, int] = {}
    invoices: dict[int, list] = defaultdict(list)
    for row in rows["invoices"]:
        number = batch_of[row[customer_at]]
        invoice_batch[row[0]] = number
        invoices[number].append(row)
    lines: dict[int, list] = defaultdict(list)
    invoice_at = line_columns.index("invoice_id")
    for row in rows["lines"]:
        lines[invoice_batch[row[invoice_at]]].append(row)
    connection = engine.raw_connection()
    write = _copy if engine.dialect.name == "postgresql" else _executemany
    try:
        started = time.perf_counter()
        for number in sorted(invoices):
            cursor = connection.cursor()
            write(cursor, "invoice", invoice_columns, invoices[number])
            write(cursor, "invoice_line", line_columns, lines[number])
            cursor.close()
            connection.commit()
        seconds = time.perf_counter() - started
    finally:
        connection.close()
        engine.dispose()
    print(
        f"   baseline {seconds:7.2f} s  {len(customer_ids) / seconds:8,.0f} customers/s  "
        f"({len(rows['invoices']):,} invoices, {len(rows['lines']):,} lines)",
        flush=True,
    )
    return seconds


def _copy(cursor, table: str, columns: list[str], rows: list) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _executemany(cursor, table: str, columns: list[str], rows: list) -> None:
    marks = ", ".join("?" for _ in columns)
    cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def profiled(clock, top: int = 25) -> dict:
    """The domain step once more under cProfile: the functions with the most own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    figure = draft(clock)
    profiler.disable()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"month_end_drafting-{datetime.now(UTC):%Y%m%d-%H%M%S}.prof"
    profiler.dump_stats(path)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(out.getvalue(), flush=True)
    return {"stats_file": str(path.relative_to(ROOT)), **figure}


# --------------------------------------------------------------------------------------------
# report


def table(results: dict) -> str:
    seeded = (
        f"seeded in {results['seed_seconds']} s"
        if results["seed_seconds"] is not None
        else "existing database"
    )
    d, b = results["domain"], results["baseline"]
    verdict = "ok" if results["ok"] else "MISS"
    return "\n".join(
        [
            f"{results['backend']}: {results['customers']:,} customers ({seeded}), "
            f"{results['invoices']:,} invoices, {results['lines']:,} lines, "
            f"batches of {results['batch']}, load average {results['load_average']}",
            f"{'step':<34}{'seconds':>9}{'customers/s':>13}",
            f"{'domain (start_run + work)':<34}{d['seconds']:>9.2f}{d['per_second']:>13,.0f}"
            f"   cpu {d['cpu_seconds']:.1f} s, SQL {d['sql_seconds']:.1f} s "
            f"in {d['sql_statements']:,} statements",
            f"{'baseline (bulk insert)':<34}{b['seconds']:>9.2f}{b['per_second']:>13,.0f}",
            *(f"   SQL {t['seconds']:7.2f} s {t['count']:>6}×  {t['sql']}" for t in d["sql_top"]),
            f"domain/baseline {results['ratio']:.1f}×   target ≥ {SPEED_TARGET:,.0f} customers/s "
            f"and ≤ {RATIO_TARGET:.0f}×   {verdict}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="10,000 customers (a smoke run)")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the domain step (cProfile)"
    )
    parser.add_argument(
        "--database-url",
        help="measure this migrated and seeded database (no run for 2026-10) instead",
    )
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # stopped (timeout, kill): unwind, so the PostgreSQL server started here is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.child_output:
        results = measure(args.database_url, args.profile)
        Path(args.child_output).write_text(json.dumps(results, default=str))
        return 0
    if args.quick:
        args.customers = 10_000
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    started = datetime.now(UTC)
    report = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(["bench/month_end_drafting.py", *(argv or sys.argv[1:])]),
        "customers": None if args.database_url else args.customers,
        "results": [],
    }
    if args.database_url:
        report["results"].append(measure(args.database_url, args.profile))
    else:
        for backend in backends:
            report["results"].append(run_backend(backend, args.customers, args.profile))

    print()
    for results in report["results"]:
        print(table(results))
        print()
    RESULTS.mkdir(parents=True, exist_ok=True)
    size = "existing" if args.database_url else args.customers
    name = f"month_end_drafting-{started:%Y%m%d-%H%M%S}-{size}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2, default=str))
    print(f"results: {RESULTS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
