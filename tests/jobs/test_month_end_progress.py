"""Issue 14 (4): the Billing Runs screen tells a queued run from a working and a stalled one, on
a real Redis, with and without a real RQ worker process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from billing.invoicing import monthend
from jobs import listening_workers
from models import BillingRun, db
from tests import factories
from tests.conftest import berlin
from tests.support.services import wait_until

ROOT = Path(__file__).resolve().parents[2]
REFRESH = '<meta http-equiv="refresh"'


@pytest.fixture
def october(app, redis_server):
    """Six customers to bill for October; the app queues on the test's Redis."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    for n in range(6):
        factories.customer(app, company=f"Customer {n}")
    clock.instant = berlin(2026, 11, 2, 9, 0)
    app.config["REDIS_URL"] = redis_server.url
    return clock


def _start(client) -> int:
    response = client.post(
        "/admin/billing_run/start/", data={"csrf_token": client.token, "period": "2026-10"}
    )
    assert response.status_code == 302
    return db.session.scalar(db.select(BillingRun.id))


def _page(client, run_id: int) -> str:
    return client.get(f"/admin/billing_run/details/?id={run_id}").get_data(as_text=True)


def _run(run_id: int) -> BillingRun:
    db.session.expire_all()
    return db.session.get(BillingRun, run_id)


def test_a_run_nobody_has_taken_yet_is_queued_not_stalled(app, staff_client, october):
    """Right after Start, with no worker running: queued, the page says there is no worker
    and refreshes itself; nothing counts it as stalled."""
    run_id = _start(staff_client)
    page = _page(staff_client, run_id)
    assert "Queued — waiting for a worker" in page
    assert "No worker is running for billing jobs" in page
    assert REFRESH in page
    assert "stalled" not in page
    listing = staff_client.get("/admin/billing_run/").get_data(as_text=True)
    assert "Drafting (queued)" in listing and "(stalled)" not in listing
    assert monthend.stalled_runs() == []


def _worker(app, redis_url: str, clock, log: Path) -> subprocess.Popen:
    """A real RQ worker process on the billing queue, with the test's clock and small batches
    that pause, so the run is seen while it works."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=redis_url,
        SECRET_KEY=app.config["SECRET_KEY"],
        ENCRYPTION_KEYS=app.config["ENCRYPTION_KEYS"],
        MSP_TEST_NOW=clock.instant.isoformat(),
        MSP_TEST_BATCH_SIZE="2",
        MSP_TEST_BATCH_PAUSE="0.5",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.month_end_worker", "billing"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
@pytest.mark.fresh_database
@pytest.mark.timeout(300)
def test_a_run_in_a_real_worker_is_never_shown_stalled(
    app, staff_client, october, redis_server, tmp_path
):
    """Start → queued or working (progress, refreshing) → awaiting approval (no refresh);
    Approve → queued or working → done. Never "stalled", at no moment the page is asked."""
    log = tmp_path / "worker.log"
    worker = _worker(app, redis_server.url, october, log)
    try:
        wait_until(lambda: listening_workers("billing") == 1, "the worker has registered")
        run_id = _start(staff_client)
        seen = set()

        def look(until: str) -> bool:
            page = _page(staff_client, run_id)
            assert "stalled" not in page, page
            state, activity = re.search(r'data-state="(\w+)" data-activity="(\w*)"', page).groups()
            if state in monthend.ACTIVE_STATES:
                assert activity in (monthend.QUEUED, monthend.WORKING) and REFRESH in page
                seen.add(activity)
                if activity == monthend.WORKING:
                    assert 'role="progressbar"' in page
            return state == until

        wait_until(lambda: look("awaiting_approval"), "the run awaits approval")
        assert monthend.WORKING in seen, "the page showed the worker at work"
        page = _page(staff_client, run_id)
        assert REFRESH not in page and "Approve and finalize" in page
        staff_client.post(
            f"/admin/billing_run/{run_id}/approve/", data={"csrf_token": staff_client.token}
        )
        wait_until(lambda: look("done"), "the run is done")
        page = _page(staff_client, run_id)
        assert REFRESH not in page and _run(run_id).finalized == 6
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert "Traceback" not in log.read_text()
