"""Customer list and export at scale (SPEC §3): the admin views against raw SQL on the same data.

For each backend this builds a fresh, migrated database, seeds ``--customers`` customers through
``seed.bulk``, signs in as an admin through the real HTTP stack (the Flask test client) and
measures the median of ``--repeat`` runs (after one warm-up) of:

* the list page 1 (default sort: company name, id), page 500, a status + service-mode filter,
  a frequent search term (a seed prefix, ~10 % of the names), a rare one (one customer's id)
  and page 40 of the frequent one, each with its count of matches (exact or "about");
* the streamed JSON export of active managed customers (about half the rows), consuming the
  whole body chunk by chunk.

Next to each figure it prints the raw SQL time of the straightforward statement for the same
rows, run on a DB-API cursor (same WHERE / ORDER BY / LIMIT / OFFSET), and the ratio; for the
export the raw fetch-and-serialise baseline (fetch the same rows, ``json.dumps`` each as a dict
into a list). Peak memory growth of the export is reported twice: tracemalloc's peak of Python
allocations (a separate, untimed run, since tracing slows the code down), and the growth of the
process RSS sampled from /proc/self/statm every 5 ms during the first export (which includes the
drivers' C allocations; later runs reuse freed memory, so only the first says anything).

Timings are wall clock: on a busy machine they include waiting for a CPU.

Usage::

    .venv/bin/python bench/list_and_export.py [--customers N] [--backends sqlite,postgresql]
                                               [--repeat K] [--quick] [--explain]
    .venv/bin/python bench/list_and_export.py --database-url URL   # an existing, seeded database

Results are printed as one table per backend and written as JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, select  # noqa: E402

from app import system_clock  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PASSWORD = "Bench-Horse-9-staple"
STAFF_EMAIL = "bench-admin@staff.example"
PAGE = 500
LIST_TARGET_MS = 50.0
EXPORT_RATIO_TARGET = 1.5
EXPORT_MEMORY_TARGET_MB = 150.0
PAGE_SIZE = 25


# --------------------------------------------------------------------------------------------
# environment: databases and the app


def app_config(url: str, clock) -> dict:
    return {
        "SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": url,
        "CLOCK": clock,
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "MAIL_SERVER": "",
        "PROPAGATE_EXCEPTIONS": True,
    }


@contextmanager
def database(backend: str, workdir: Path):
    """Yield the SQLAlchemy URL of a fresh, empty database on ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    if backend != "postgresql":
        raise SystemExit(f"unknown backend {backend!r}")
    import psycopg

    from tests.support.services import Postgres

    server = Postgres().start()
    try:
        with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("CREATE DATABASE msp_bench")
        yield server.url("msp_bench")
    finally:
        server.stop()


def migrate(url: str, clock) -> None:
    from flask_migrate import upgrade

    from app import create_app
    from models import db

    app = create_app(app_config(url, clock))
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()


def seed(n: int, clock) -> dict:
    from models import db
    from seed.bulk import bulk_customers
    from seed.reference import seed_reference

    started = time.perf_counter()
    seed_reference(clock)
    db.session.commit()
    added = bulk_customers(n, clock)
    return {"added": added, "seconds": round(time.perf_counter() - started, 1)}


def sign_in(client) -> None:
    page = client.get("/admin/login/").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    if not match:
        raise SystemExit("no csrf_token on /admin/login/")
    response = client.post(
        "/admin/login/",
        data={"email": STAFF_EMAIL, "password": PASSWORD, "csrf_token": match.group(1)},
    )
    if response.status_code != 302:
        raise SystemExit(f"sign-in failed: HTTP {response.status_code}")


# --------------------------------------------------------------------------------------------
# measuring


class SqlRecorder:
    """Counts the statements an engine executes, and their time on the cursor."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.statements: list[tuple[str, float]] = []
        self._started: list[float] = []

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._started.append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append((statement, time.perf_counter() - self._started.pop()))

    def __enter__(self) -> SqlRecorder:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


class RssSampler:
    """The peak growth of the process RSS while active, sampled from /proc/self/statm."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start_rss = 0
        self.peak_rss = 0
        self._stop = threading.Event()

    def rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self.rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        gc.collect()
        self.start_rss = self.peak_rss = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self.rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak_rss - self.start_rss) / 2**20


def timed(fn, repeat: int, warm_up: bool = True) -> tuple[float, float, object]:
    """Median wall-clock ms and median CPU ms of this process over ``repeat`` calls (after one
    warm-up), and the first call's result. The CPU time leaves out waiting for a busy machine's
    CPUs, and the database server's work."""
    result = fn() if warm_up else None
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        outcome = fn()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        result = outcome if result is None else result
    return statistics.median(wall), statistics.median(cpu), result


def get_page(client, url: str) -> int:
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: HTTP {response.status_code}")
    html = response.get_data(as_text=True)
    return html.count('class="badge badge-')


def stream_export(client, url: str) -> tuple[int, int]:
    """GET a streamed export and consume the body chunk by chunk; (bytes, rows)."""
    response = client.get(url, buffered=False)
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: HTTP {response.status_code}")
    size = rows = 0
    try:
        for chunk in response.response:
            size += len(chunk)
            rows += chunk.count('"id": ') if isinstance(chunk, str) else chunk.count(b'"id": ')
    finally:
        response.close()
    return size, rows


# --------------------------------------------------------------------------------------------
# the raw baselines


def driver_statement(stmt, engine) -> tuple[str, object]:
    """``stmt`` compiled for ``engine``'s DB-API driver: SQL text and parameters."""
    compiled = stmt.compile(dialect=engine.dialect)
    params = compiled.params
    if compiled.positional:
        return str(compiled), tuple(params[name] for name in compiled.positiontup)
    return str(compiled), params


class Raw:
    """Runs statements on a plain DB-API connection of the benchmark database."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.connection = engine.raw_connection()

    def close(self) -> None:
        self.connection.close()

    def fetch(self, stmt) -> list:
        sql, params = driver_statement(stmt, self.engine)
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        self.connection.commit()
        return rows

    def fetch_and_serialise(self, stmt, keys: list[str]) -> list[str]:
        """The export floor: fetch every row, json.dumps each as a dict into a list."""
        dumps = json.dumps
        return [
            dumps(dict(zip(keys, row, strict=True)), default=str, ensure_ascii=False)
            for row in self.fetch(stmt)
        ]

    def explain(self, stmt) -> str:
        sql, params = driver_statement(stmt, self.engine)
        prefix = "EXPLAIN QUERY PLAN " if self.engine.dialect.name == "sqlite" else "EXPLAIN "
        cursor = self.connection.cursor()
        try:
            cursor.execute(prefix + sql, params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        self.connection.commit()
        return "\n".join(" | ".join(str(c) for c in row) for row in rows)


def cases(dialect: str, rare_term: str) -> list[dict]:
    """The list requests and their raw SQL twins (customer rows, 25 a page)."""
    from billing.infra.search import apply_customer_search
    from models import Customer

    table = Customer.__table__
    # the list leaves out erased customers unless its "Erased" filter asks for them
    ordered = (
        select(table).where(table.c.erased_at.is_(None)).order_by(table.c.company_name, table.c.id)
    )
    active_managed = ordered.where(table.c.status == "active", table.c.service_mode == "managed")
    return [
        {
            "name": "list page 1",
            "url": "/admin/customer/",
            "raw": ordered.limit(PAGE_SIZE),
        },
        {
            "name": f"list page {PAGE}",
            "url": f"/admin/customer/?page={PAGE}",
            "raw": ordered.limit(PAGE_SIZE).offset(PAGE * PAGE_SIZE),
        },
        {
            "name": "filter active+managed",
            "url": "/admin/customer/?flt0_status_equals=active&flt1_service_mode_equals=managed",
            "raw": active_managed.limit(PAGE_SIZE),
        },
        {
            "name": "search 'nord' (~10%)",
            "url": "/admin/customer/?search=nord",
            "raw": apply_customer_search(ordered, "nord", dialect).limit(PAGE_SIZE),
            "count": apply_customer_search(select(table.c.id).order_by(None), "nord", dialect),
        },
        {
            "name": f"search '{rare_term}' (rare)",
            "url": f"/admin/customer/?search={rare_term}",
            "raw": apply_customer_search(ordered, rare_term, dialect).limit(PAGE_SIZE),
            "count": apply_customer_search(select(table.c.id), rare_term, dialect),
        },
        {
            "name": "search 'nord' page 40",
            "url": "/admin/customer/?search=nord&page=40",
            "raw": apply_customer_search(ordered, "nord", dialect)
            .limit(PAGE_SIZE)
            .offset(40 * PAGE_SIZE),
        },
    ]


def export_case() -> dict:
    from billing.kernel.site import Site
    from billing.reporting.exports import CUSTOMERS
    from models import Customer

    table = Customer.__table__
    where = (
        table.c.status == "active",
        table.c.service_mode == "managed",
        table.c.erased_at.is_(None),
    )
    return {
        "name": "export json active+managed",
        "url": "/admin/customer/export/json/?flt0_status_equals=active"
        "&flt1_service_mode_equals=managed",
        "raw": select(*CUSTOMERS.columns(Site()))
        .where(*where)
        .order_by(table.c.company_name, table.c.id),
        "count": select(table.c.id).where(*where),
        "keys": CUSTOMERS.keys,
    }


# --------------------------------------------------------------------------------------------
# one backend


@contextmanager
def seeded(backend: str, customers: int, clock):
    """A fresh database on ``backend``, migrated and seeded with ``customers`` on ``clock``,
    for the duration; yields (url, work directory, seeding figures)."""
    from app import create_app
    from models import db

    with (
        tempfile.TemporaryDirectory(prefix="msp-bench-") as workdir,
        database(backend, Path(workdir)) as url,
    ):
        print(f"\n== {backend}: migrating, seeding {customers:,} customers …", flush=True)
        migrate(url, clock)
        app = create_app(app_config(url, clock))
        with app.app_context():
            seeding = seed(customers, clock)
            db.session.remove()
            db.engine.dispose()
        print(f"   seeded {seeding['added']:,} customers in {seeding['seconds']} s", flush=True)
        yield url, Path(workdir), seeding


def run_backend(backend: str, customers: int, repeat: int, explain: bool) -> dict:
    """Fresh database on ``backend``, migrated and seeded with ``customers``, then measured in a
    fresh process (so the seeding's heap does not hide the export's memory growth)."""
    with seeded(backend, customers, system_clock()) as (url, workdir, seeding):
        output = workdir / "results.json"
        command = [sys.executable, __file__, "--database-url", url, "--repeat", str(repeat)]
        command += ["--child-output", str(output)] + (["--explain"] if explain else [])
        subprocess.run(command, check=True)
        results = json.loads(output.read_text())
    results["seed_seconds"] = seeding["seconds"]
    return results


def measure(url: str, clock, repeat: int, explain: bool) -> dict:
    """Measure the migrated, seeded database at ``url``."""
    from app import create_app
    from billing.access.staff import create_staff
    from models import Customer, StaffUser, db

    app = create_app(app_config(url, clock))
    with app.app_context():
        engine = db.engine
        if db.session.scalar(select(StaffUser.id).where(StaffUser.email == STAFF_EMAIL)) is None:
            create_staff(STAFF_EMAIL, "admin", PASSWORD, clock)
            db.session.commit()
        total = db.session.scalar(select(db.func.count()).select_from(Customer))
        rare_id = (db.session.scalar(select(func.max(Customer.id))) or 0) // 2 + 7
        db.session.remove()
    results: dict = {
        "backend": engine.dialect.name,
        "customers": total,
        "seed_seconds": None,
        "repeat": repeat,
        "load_average": "/".join(f"{v:.1f}" for v in os.getloadavg()),
        "lists": [],
    }
    client = app.test_client()
    with app.app_context():
        sign_in(client)
        raw = Raw(engine)
        try:
            for case in cases(engine.dialect.name, str(rare_id)):
                results["lists"].append(measure_list(client, raw, case, repeat, explain))
            results["export"] = measure_export(client, raw, export_case(), repeat, explain)
        finally:
            raw.close()
        db.session.remove()
        engine.dispose()
    return results


def shown_count(client, url: str) -> str:
    """What the list page says about its number of matches ("about 1,000,000 customers")."""
    html = client.get(url).get_data(as_text=True)
    found = re.search(r'id="list-count"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


def measure_list(client, raw: Raw, case: dict, repeat: int, explain: bool) -> dict:
    rows = get_page(client, case["url"])
    shown = shown_count(client, case["url"])
    with SqlRecorder(raw.engine) as recorder:
        get_page(client, case["url"])
    view_ms, view_cpu_ms, _ = timed(lambda: get_page(client, case["url"]), repeat)
    raw_ms, _cpu, raw_rows = timed(lambda: raw.fetch(case["raw"]), repeat)
    matches = count_rows(raw, case["count"]) if "count" in case else None
    figure = {
        "name": case["name"],
        "url": case["url"],
        "rows": rows,
        "raw_rows": len(raw_rows),
        "matches": matches,
        "shown_count": shown,
        "view_ms": round(view_ms, 2),
        "view_cpu_ms": round(view_cpu_ms, 2),
        "raw_ms": round(raw_ms, 2),
        "ratio": round(view_ms / raw_ms, 1) if raw_ms else None,
        "view_sql_statements": len(recorder.statements),
        "view_sql_ms": round(sum(s for _q, s in recorder.statements) * 1000, 2),
        "target_ms": LIST_TARGET_MS,
        "ok": view_ms <= LIST_TARGET_MS,
    }
    if explain:
        figure["statements"] = [q for q, _s in recorder.statements]
        figure["raw_plan"] = raw.explain(case["raw"])
    print(
        f"   {case['name']:<28} view {view_ms:8.1f} ms (cpu {view_cpu_ms:6.1f})   "
        f"raw {raw_ms:8.2f} ms   "
        f"({figure['view_sql_statements']} stmts, {figure['view_sql_ms']:.1f} ms SQL in view)"
        f"   {shown}",
        flush=True,
    )
    return figure


def count_rows(raw: Raw, stmt) -> int:
    return raw.fetch(select(func.count()).select_from(stmt.subquery()))[0][0]


def measure_export(client, raw: Raw, case: dict, repeat: int, explain: bool) -> dict:
    rows = count_rows(raw, case["count"])
    # the first run (also the warm-up) on a heap the benchmark has not grown yet: RSS growth
    with SqlRecorder(raw.engine) as recorder, RssSampler() as rss:
        size, streamed = stream_export(client, case["url"])
    if streamed != rows:
        raise SystemExit(f"export streamed {streamed} rows, the filter selects {rows}")
    rss_growth = rss.growth_mb
    view_ms, view_cpu_ms, _ = timed(
        lambda: stream_export(client, case["url"]), repeat, warm_up=False
    )
    raw_ms, raw_cpu_ms, _ = timed(
        lambda: raw.fetch_and_serialise(case["raw"], case["keys"]), repeat
    )
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        stream_export(client, case["url"])
        traced_peak = (tracemalloc.get_traced_memory()[1] - baseline) / 2**20
    finally:
        tracemalloc.stop()
    ratio = view_ms / raw_ms if raw_ms else None
    memory = max(traced_peak, rss_growth)
    figure = {
        "name": case["name"],
        "url": case["url"],
        "rows": rows,
        "bytes": size,
        "view_ms": round(view_ms, 1),
        "view_cpu_ms": round(view_cpu_ms, 1),
        "raw_fetch_serialise_ms": round(raw_ms, 1),
        "raw_fetch_serialise_cpu_ms": round(raw_cpu_ms, 1),
        "ratio": round(ratio, 2) if ratio else None,
        "tracemalloc_peak_mb": round(traced_peak, 1),
        "rss_growth_mb": round(rss_growth, 1),
        "view_sql_statements": len(recorder.statements),
        "ratio_target": EXPORT_RATIO_TARGET,
        "memory_target_mb": EXPORT_MEMORY_TARGET_MB,
        "ok": ratio is not None
        and ratio <= EXPORT_RATIO_TARGET
        and memory <= EXPORT_MEMORY_TARGET_MB,
    }
    if explain:
        figure["statements"] = [q for q, _s in recorder.statements]
        figure["raw_plan"] = raw.explain(case["raw"])
    print(
        f"   {case['name']:<28} view {view_ms:8.1f} ms   raw {raw_ms:8.1f} ms   "
        f"{rows:,} rows, tracemalloc peak {traced_peak:.1f} MB, RSS +{rss_growth:.1f} MB",
        flush=True,
    )
    return figure


# --------------------------------------------------------------------------------------------
# report


def table(results: dict) -> str:
    seeded = (
        f"seeded in {results['seed_seconds']} s"
        if results["seed_seconds"] is not None
        else "existing database"
    )
    lines = [
        f"{results['backend']}: {results['customers']:,} customers ({seeded}), "
        f"median of {results['repeat']} runs, load average {results['load_average']}",
        f"{'request':<30}{'rows':>6}{'matches':>10}{'view ms':>10}{'(cpu)':>8}{'raw ms':>9}"
        f"{'view/raw':>10}{'stmts':>7}  target",
    ]
    for f in results["lists"]:
        matches = f"{f['matches']:,}" if f["matches"] is not None else "–"
        lines.append(
            f"{f['name']:<30}{f['rows']:>6}{matches:>10}{f['view_ms']:>10.1f}"
            f"{f['view_cpu_ms']:>8.1f}{f['raw_ms']:>9.2f}"
            f"{f['ratio']:>9.1f}×{f['view_sql_statements']:>7}  "
            f"≤ {f['target_ms']:.0f} ms {'ok' if f['ok'] else 'MISS'}"
        )
    e = results["export"]
    lines += [
        "",
        f"{'export':<30}{'rows':>9}{'MB out':>8}{'view ms':>10}{'(cpu)':>8}{'raw f+s ms':>12}"
        f"{'(cpu)':>8}{'view/raw':>10}{'tracemalloc':>13}{'RSS +':>8}  target",
        f"{e['name']:<30}{e['rows']:>9,}{e['bytes'] / 2**20:>8.1f}{e['view_ms']:>10.0f}"
        f"{e['view_cpu_ms']:>8.0f}{e['raw_fetch_serialise_ms']:>12.0f}"
        f"{e['raw_fetch_serialise_cpu_ms']:>8.0f}{e['ratio']:>9.2f}×"
        f"{e['tracemalloc_peak_mb']:>11.1f}MB{e['rss_growth_mb']:>6.1f}MB  "
        f"≤ {e['ratio_target']}× and ≤ {e['memory_target_mb']:.0f} MB "
        f"{'ok' if e['ok'] else 'MISS'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--quick", action="store_true", help="20,000 customers, 3 repeats (a smoke run)"
    )
    parser.add_argument(
        "--explain", action="store_true", help="also store the statements and query plans"
    )
    parser.add_argument(
        "--database-url",
        help="measure this already migrated and seeded database instead of building fresh ones",
    )
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_output:
        results = measure(args.database_url, system_clock(), args.repeat, args.explain)
        Path(args.child_output).write_text(json.dumps(results, default=str))
        return 0
    if args.quick:
        args.customers, args.repeat = 20_000, 3
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    started = datetime.now(UTC)
    report = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(["bench/list_and_export.py", *(argv or sys.argv[1:])]),
        "customers": None if args.database_url else args.customers,
        "repeat": args.repeat,
        "results": [],
    }
    if args.database_url:
        report["results"].append(
            measure(args.database_url, system_clock(), args.repeat, args.explain)
        )
    else:
        for backend in backends:
            report["results"].append(
                run_backend(backend, args.customers, args.repeat, args.explain)
            )

    print()
    for results in report["results"]:
        print(table(results))
        print()
    RESULTS.mkdir(parents=True, exist_ok=True)
    size = "existing" if args.database_url else args.customers
    name = f"list_and_export-{started:%Y%m%d-%H%M%S}-{size}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2, default=str))
    print(f"results: {RESULTS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
