"""Load: staff and customers at once against the production shape (SPEC §13 performance).

Builds a PostgreSQL cluster and a Redis server of its own on 127.0.0.1, migrates, seeds the demo
plus ``--customers`` generated customers (``flask seed demo --customers N``, the bulk path),
serves the app with gunicorn and two workers, and runs the locust scenario of
``bench/locustfile.py`` headless with ``--users`` concurrent users: staff (list, filter, search,
details, export) and portal users (subscription, invoices).

The run has two phases. During the ramp-up users start at ``--spawn-rate`` per second, and each
one signs in first (an argon2id hash check of about 200 ms CPU). Once all of them run, the
steady phase lasts ``--duration`` seconds: that is the load of ``--users`` concurrent users the
targets are about (0 errors, p95 < 300 ms for pages). Both phases are printed per page type
(requests, errors, median, 95th and 99th percentile, maximum) and written as JSON to ``--json``
(default bench/results/); errors count in both.

The app runs with ``APP_ENV=development``: production's secure cookies would not travel over
the plain HTTP of this loopback set-up; everything else (PostgreSQL, Redis, gunicorn, a strong
``SECRET_KEY``) is the production shape. Each server is stopped by its process id.

Usage::

    .venv/bin/python bench/load.py [--customers 100000] [--users 50] [--spawn-rate 2]
                                   [--duration 60]
    .venv/bin/python bench/load.py --quick      # 2,000 customers, 10 users, 20 s
"""

from __future__ import annotations

import argparse
import json
import math
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
from tests.support.services import Postgres, Redis, free_port, start_gunicorn, wait_for_port  # noqa: E402

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


def _percentile(times: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted ``times``."""
    return times[max(0, math.ceil(share * len(times)) - 1)]


def _stats(record: Path, phase: str) -> list[dict]:
    """Per page type of ``phase``: requests, errors and the response time figures in ms."""
    names: dict[str, list[tuple[float, bool]]] = {}
    for when, name, millis, ok in json.loads(record.read_text()):
        if when == phase:
            names.setdefault(name, []).append((millis, ok))
    pages = []
    for name, entries in sorted(names.items()):
        times = sorted(t for t, _ok in entries)
        pages.append(
            {
                "page": name,
                "requests": len(entries),
                "errors": sum(1 for _t, ok in entries if not ok),
                "median_ms": round(_percentile(times, 0.5), 1),
                "p95_ms": round(_percentile(times, 0.95), 1),
                "p99_ms": round(_percentile(times, 0.99), 1),
                "max_ms": round(times[-1], 1),
            }
        )
    return pages


def run(
    customers: int, users: int, spawn_rate: float, duration: int, json_path: Path | None
) -> dict:
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
        server = start_gunicorn(env, port, timeout=120)
        wait_for_port(port, timeout=60)
        staff = next(entry for entry in DEMO_STAFF if entry[1] == "billing")
        ramp_up = math.ceil(users / spawn_rate)
        with tempfile.TemporaryDirectory(prefix="msp-load-") as tmp:
            record = Path(tmp) / "requests.json"
            load_env = dict(
                env,
                LOAD_STAFF=f"{staff[0]}:{staff[2]}",
                LOAD_PORTAL_USERS=",".join(portal_users),
                LOAD_PORTAL_PASSWORD=PORTAL_PASSWORD,
                LOAD_MAX_CUSTOMER=str(max_customer),
                LOAD_SEARCH_WORDS="gmbh,nord,consult,tech,ag",
                LOAD_RECORD=str(record),
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
                    str(spawn_rate),
                    "--run-time",
                    f"{ramp_up + duration}s",
                    "--stop-timeout",
                    "10",
                    "--host",
                    f"http://127.0.0.1:{port}",
                    "--only-summary",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=ROOT,
                env=load_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=ramp_up + duration + 120,
            )
            pages = _stats(record, "steady")
            ramp = _stats(record, "ramp-up")
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
        "spawn_rate": spawn_rate,
        "ramp_up_s": ramp_up,
        "duration_s": duration,
        "cpus": os.cpu_count(),
        "portal_users": len(portal_users),
        "pages": pages,
        "ramp_up": ramp,
    }
    _print(result)
    path = json_path or RESULTS / f"load-{result['when'][:19].replace(':', '')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return result


def _table(pages: list[dict], judged: bool) -> None:
    print(
        f"{'page type':<24}{'requests':>9}{'errors':>7}{'median':>8}{'p95':>7}{'p99':>7}"
        f"{'max':>7}  {'target' if judged else ''}"
    )
    for page in pages:
        target = ""
        if judged and not page["page"].startswith("sign-in"):
            ok = page["errors"] == 0 and page["p95_ms"] < P95_TARGET_MS
            target = "ok" if ok else "MISSED"
        print(
            f"{page['page']:<24}{page['requests']:>9}{page['errors']:>7}{page['median_ms']:>8.0f}"
            f"{page['p95_ms']:>7.0f}{page['p99_ms']:>7.0f}{page['max_ms']:>7.0f}  {target}"
        )


def _print(result: dict) -> None:
    print(
        f"\n{result['customers']:,} customers, {result['users']} concurrent users, gunicorn 2 "
        f"workers, {result['cpus']} CPUs on this machine (shared by the load generator, "
        "gunicorn, PostgreSQL and Redis); times in ms"
    )
    print(
        f"\nramp-up: {result['users']} users start at {result['spawn_rate']:g} per second "
        f"and sign in ({result['ramp_up_s']} s)"
    )
    _table(result["ramp_up"], judged=False)
    print(
        f"\nsteady: all {result['users']} users for {result['duration_s']} s "
        f"(targets: 0 errors, p95 < {P95_TARGET_MS} ms for pages)"
    )
    _table(result["pages"], judged=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument(
        "--spawn-rate", type=float, default=2, help="users started per second (ramp-up)"
    )
    parser.add_argument(
        "--duration", type=int, default=60, help="seconds of steady load after the ramp-up"
    )
    parser.add_argument("--quick", action="store_true", help="2,000 customers, 10 users, 20 s")
    parser.add_argument("--json", type=Path, help="where to write the figures")
    args = parser.parse_args()
    if args.quick:
        args.customers, args.users, args.duration = 2_000, 10, 20
    if args.users < 1 or args.spawn_rate <= 0 or args.duration < 1 or args.customers < 0:
        parser.error("--users, --spawn-rate and --duration must be positive")
    result = run(args.customers, args.users, args.spawn_rate, args.duration, args.json)
    errors = sum(p["errors"] for p in result["pages"] + result["ramp_up"])
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
