"""The dashboard at scale (SPEC §9): figures, IP history, the admin index and the billing data.

For each backend this builds a fresh, migrated database, seeds ``--customers`` customers through
``seed.bulk`` (one subscription each, started up to 400 days ago) and measures the median of
``--repeat`` runs (after one warm-up) of:

* ``dashboard_figures`` and ``ip_history`` (with their SQL statement counts),
* the admin index page through the real HTTP stack (signed in as an admin),
* the streamed CSV billing data of last month, consuming the whole body.

Next to the figures it prints the raw time of one full scan of the subscriptions
(``SELECT count(*), sum(internal_ips), sum(external_ips) FROM subscription`` on a DB-API
cursor) and the ratio: the dashboard reads the subscriptions a fixed number of times, whatever
the number of customers.

Usage::

    .venv/bin/python bench/dashboard.py [--customers N] [--backends sqlite,postgresql]
                                        [--repeat K] [--quick]

Results are printed as a table and written as JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import system_clock  # noqa: E402
from bench.list_and_export import (  # noqa: E402
    PASSWORD,
    RESULTS,
    STAFF_EMAIL,
    SqlRecorder,
    app_config,
    seeded,
    sign_in,
    timed,
)

SCAN = "SELECT count(*), sum(internal_ips), sum(external_ips) FROM subscription"


def stream_csv(client, url: str) -> int:
    """GET a streamed CSV and consume it chunk by chunk; the number of data rows."""
    response = client.get(url, buffered=False)
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: HTTP {response.status_code}")
    lines = 0
    try:
        for chunk in response.response:
            lines += chunk.count("\n" if isinstance(chunk, str) else b"\n")
    finally:
        response.close()
    return lines - 1


def measure(url: str, clock, repeat: int) -> dict:
    from app import create_app
    from billing.access.staff import create_staff
    from billing.reporting.billing_data import default_billing_month
    from billing.reporting.dashboard import dashboard_figures, ip_history
    from models import db

    app = create_app(app_config(url, clock))
    results: dict = {"backend": url.split(":")[0].split("+")[0], "cases": []}
    with app.app_context():
        create_staff(STAFF_EMAIL, "admin", PASSWORD, clock)
        db.session.commit()
        raw = db.engine.raw_connection()
        try:

            def scan():
                cursor = raw.cursor()
                cursor.execute(SCAN)
                return cursor.fetchone()

            scan_ms, _cpu, counts = timed(scan, repeat)
        finally:
            raw.close()
        results["subscriptions"] = counts[0]
        results["scan_ms"] = round(scan_ms, 1)
        for name, fn in (
            ("dashboard_figures", lambda: dashboard_figures(clock)),
            ("ip_history", lambda: ip_history(clock)),
        ):
            with SqlRecorder(db.engine) as recorder:
                fn()
            ms, _cpu, _result = timed(fn, repeat)
            results["cases"].append(
                {"name": name, "ms": round(ms, 1), "statements": len(recorder.statements)}
            )
        db.session.remove()
        client = app.test_client()
        sign_in(client)
        with SqlRecorder(db.engine) as recorder:
            client.get("/admin/")
        ms, _cpu, _result = timed(lambda: client.get("/admin/").status_code, repeat)
        results["cases"].append(
            {"name": "GET /admin/", "ms": round(ms, 1), "statements": len(recorder.statements)}
        )
        month = f"{default_billing_month(clock):%Y-%m}"
        export_url = f"/admin/billing-data/csv/?month={month}"
        ms, _cpu, rows = timed(lambda: stream_csv(client, export_url), max(1, repeat // 2))
        results["cases"].append({"name": f"billing data CSV {month}", "ms": round(ms, 1)})
        results["export_rows"] = rows
        db.session.remove()
        db.engine.dispose()
    for case in results["cases"]:
        case["scans"] = round(case["ms"] / results["scan_ms"], 1) if results["scan_ms"] else None
    return results


def run_backend(backend: str, customers: int, repeat: int) -> dict:
    clock = system_clock()
    with seeded(backend, customers, clock) as (url, _workdir, _seeding):
        results = measure(url, clock, repeat)
    results["customers"] = customers
    return results


def table(results: dict) -> str:
    lines = [
        f"{results['backend']}: {results['customers']:,} customers, "
        f"{results['subscriptions']:,} subscriptions; one raw scan {results['scan_ms']} ms",
        f"{'case':<28} {'ms':>10} {'statements':>11} {'÷ scan':>8}",
    ]
    for case in results["cases"]:
        statements = case.get("statements", "")
        lines.append(f"{case['name']:<28} {case['ms']:>10} {statements!s:>11} {case['scans']!s:>8}")
    lines.append(f"billing data rows: {results['export_rows']:,}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20,000 customers, 3 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.customers, args.repeat = 20_000, 3
    started = datetime.now(UTC)
    report = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(["bench/dashboard.py", *(argv or sys.argv[1:])]),
        "results": [
            run_backend(b.strip(), args.customers, args.repeat)
            for b in args.backends.split(",")
            if b.strip()
        ],
    }
    print()
    for results in report["results"]:
        print(table(results))
        print()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"dashboard-{started:%Y%m%d-%H%M%S}-{args.customers}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
