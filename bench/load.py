"""Load: staff and customers at once against the production shape (SPEC §13 performance).

Builds a PostgreSQL cluster and a Redis server of its own on 127.0.0.1, migrates, seeds the demo
plus ``--customers`` generated customers (``flask seed demo --customers N``, the bulk path),
serves the app with gunicorn and two workers, and runs the locust scenario of
``bench/locustfile.py`` headless for ``--duration`` seconds with ``--users`` concurrent users:
staff (list, filter, search, details, export) and portal users (subscription, invoices). Prints
per page type the requests, errors and the 95th percentile, next to the targets (0 errors,
p95 < 300 ms for pages), and writes them as JSON to ``--json`` (default bench/results/).

The app runs with ``APP_ENV=development``: production's secure cookies would not travel over
the plain HTTP of this loopback set-up; everything else (PostgreSQL, Redis, gunicorn, a strong
``SECRET_KEY``) is the production shape. Each server is stopped by its process id.

Usage::

    .venv/bin/python bench/load.py [--customers 100000] [--users 50] [--duration 60]
    .venv/bin/python bench/load.py --quick      # 2,000 customers, 10 users, 20 s
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from seed.demo import DEMO_STAFF  # noqa: E402
from tests.support.services import Postgres, Redis, free_port, wait_for_port  # noqa: E402

BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
PORTAL_PASSWORD = "Demo-Customer-2026!"
P95_TARGET_MS = 300
PORTAL_USERS = 25


def _flask(env: dict, *args: str) -> None:
    result = subprocess.run(
        [str(BIN / "flask"), *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stderr[-3000:]}")


def _portal_users(url: str, demo_max: int) -> list[str]:
    """Registered, enabled users of active demo customers (they share the demo password)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT u.email FROM user_account u JOIN customer c ON c.id = u.customer_id "
            "WHERE c.id <= %s AND u.registered_at IS NOT NULL AND u.enabled "
            "AND NOT c.locked AND c.marked_for_deletion_at IS NULL "
            "AND EXISTS (SELECT 1 FROM subscription s WHERE s.customer_id = c.id "
            "AND s.state = 'active') ORDER BY u.id LIMIT %s",
            (demo_max, PORTAL_USERS),
        ).fetchall()
    return [r[0] for r in rows]


def _stats(prefix: Path) -> list[dict]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        {
            "page": row["Name"],
            "requests": int(row["Request Count"]),
            "errors": int(row["Failure Count"]),
            "median_ms": float(row["Median Response Time"] or 0),
            "p95_ms": float(row["95%"] or 0),
        }
        for row in rows
    ]


def run(customers: int, users: int, duration: int, json_path: Path | None) -> dict:
    postgres = Postgres().start()
    redis = Redis().start()
    server = None
    try:
        with psycopg.connect(postgres.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("CREATE DATABASE msp_load")
        database = postgres.url("msp_load")
        env = dict(os.environ)
        env.update(
            APP_ENV="development",
            SECRET_KEY=os.urandom(32).hex(),
            ENCRYPTION_KEYS=Fernet.generate_key().decode(),
            DATABASE_URL=database,
            REDIS_URL=redis.url,
            FLASK_APP="app:create_app",
            MAIL_SERVER="",
        )
        started = time.perf_counter()
        _flask(env, "db", "upgrade")
        _flask(env, "seed", "demo")
        plain = database.replace("+psycopg", "")
        with psycopg.connect(plain) as conn:
            demo_max = conn.execute("SELECT max(id) FROM customer").fetchone()[0]
        if customers:
            _flask(env, "seed", "demo", "--customers", str(customers))
        with psycopg.connect(plain) as conn:
            max_customer, total = conn.execute("SELECT max(id), count(*) FROM customer").fetchone()
            conn.execute("ANALYZE")
        portal_users = _portal_users(plain, demo_max)
        print(f"seeded {total:,} customers in {time.perf_counter() - started:.0f} s", flush=True)

        port = free_port()
        server = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "120",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, timeout=60)
        staff = next(entry for entry in DEMO_STAFF if entry[1] == "billing")
        with tempfile.TemporaryDirectory(prefix="msp-load-") as tmp:
            prefix = Path(tmp) / "load"
            load_env = dict(
                env,
                LOAD_STAFF=f"{staff[0]}:{staff[2]}",
                LOAD_PORTAL_USERS=",".join(portal_users),
                LOAD_PORTAL_PASSWORD=PORTAL_PASSWORD,
                LOAD_MAX_CUSTOMER=str(max_customer),
                LOAD_SEARCH_WORDS="gmbh,nord,consult,tech,ag",
            )
            subprocess.run(
                [
                    str(BIN / "locust"),
                    "-f",
                    str(ROOT / "bench" / "locustfile.py"),
                    "--headless",
                    "--users",
                    str(users),
                    "--spawn-rate",
                    str(max(1, users // 5)),
                    "--run-time",
                    f"{duration}s",
                    "--stop-timeout",
                    "10",
                    "--host",
                    f"http://127.0.0.1:{port}",
                    "--csv",
                    str(prefix),
                    "--only-summary",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=ROOT,
                env=load_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=duration + 120,
            )
            pages = _stats(prefix)
    finally:
        if server is not None:
            os.kill(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        redis.stop()
        postgres.stop()
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "customers": total,
        "users": users,
        "duration_s": duration,
        "cpus": os.cpu_count(),
        "portal_users": len(portal_users),
        "pages": pages,
    }
    _print(result)
    path = json_path or RESULTS / f"load-{result['when'][:19].replace(':', '')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return result


def _print(result: dict) -> None:
    print(
        f"\n{result['customers']:,} customers, {result['users']} concurrent users, "
        f"{result['duration_s']} s, gunicorn 2 workers, {result['cpus']} CPUs on this machine "
        "(shared by the load generator, gunicorn, PostgreSQL and Redis)"
    )
    print(f"{'page type':<24}{'requests':>10}{'errors':>8}{'median ms':>11}{'p95 ms':>9}  target")
    for page in result["pages"]:
        target = (
            ""
            if page["page"] in ("sign-in", "sign-in page", "Aggregated")
            else ("ok" if page["errors"] == 0 and page["p95_ms"] < P95_TARGET_MS else "MISSED")
        )
        print(
            f"{page['page']:<24}{page['requests']:>10}{page['errors']:>8}"
            f"{page['median_ms']:>11.0f}{page['p95_ms']:>9.0f}  {target}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--quick", action="store_true", help="2,000 customers, 10 users, 20 s")
    parser.add_argument("--json", type=Path, help="where to write the figures")
    args = parser.parse_args()
    if args.quick:
        args.customers, args.users, args.duration = 2_000, 10, 20
    result = run(args.customers, args.users, args.duration, args.json)
    errors = sum(p["errors"] for p in result["pages"] if p["page"] != "Aggregated")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
