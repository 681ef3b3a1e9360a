"""The load scenario at reduced size (SPEC §13 performance; ``make bench`` runs it at 100,000
customers and 50 users): ``bench/load.py --quick`` builds its own PostgreSQL and Redis, seeds
2,000 customers through ``flask seed demo --customers``, serves gunicorn with two workers and
runs locust with 10 users (started at 2 per second, each signing in) and then 20 seconds with
all of them. No request may fail in either phase; timings are reported by ``make bench``, not
asserted here (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "staff: list",
    "staff: filter",
    "staff: search",
    "staff: details",
    "staff: export",
    "portal: subscription",
    "portal: invoices",
}


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_staff_and_customers_under_load_get_no_errors(tmp_path):
    """SPEC §13: staff browsing and portal users at once against gunicorn: 0 errors."""
    figures = tmp_path / "load.json"
    result = subprocess.run(
        [sys.executable, "bench/load.py", "--quick", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert figures.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(figures.read_text())
    # every page type is asked for during the run; on a busy machine a rare one (the export, one
    # staff task in fourteen) may be asked for only while the users are being started
    requested = {
        p["page"] for phase in ("ramp_up", "pages") for p in figures[phase] if p["requests"] > 0
    }
    assert PAGES <= requested, f"page types without requests: {PAGES - requested}"
    # every user starts at the sign-in page while the users are being started; on a busy
    # machine its sign-in may only begin once all of them run, so it counts in either phase
    assert "sign-in page" in {p["page"] for p in figures["ramp_up"]}
    assert "sign-in" in {p["page"] for phase in ("ramp_up", "pages") for p in figures[phase]}
    errors = {
        f"{phase}: {p['page']}": p["errors"]
        for phase in ("ramp_up", "pages")
        for p in figures[phase]
        if p["errors"]
    }
    assert not errors, result.stdout[-3000:]
    assert result.returncode == 0, result.stdout[-3000:]
