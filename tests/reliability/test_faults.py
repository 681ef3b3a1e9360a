"""Faults while background work runs (SPEC §13 "idempotent jobs with retries, restartable
month-end and deletion", SPEC §8, SPEC §4 Delete).

Real PostgreSQL, Redis and RQ worker processes on 127.0.0.1. The workers run from
``tests/support/month_end_worker.py`` (``flask worker`` with the test's fixed clock, and short
leases and pauses where a test needs a window to strike in). After each fault the recovery is
production's: the periodic sweepers (``resume_stalled_runs``, ``resume_stalled_erasures``) are
queued and a worker runs them once the dead worker's lease has run out.

``FAULT_CUSTOMERS`` sets the number of bulk-seeded customers of the month-end runs (default 300,
in batches of 50).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis as RedisClient
from rq import Queue
from sqlalchemy import text

from billing.customers import deletion
from billing.invoicing import monthend
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.numbering import format_number
from billing.kernel.audit import SYSTEM
from jobs import enqueue
from jobs.billing import queue_month_end, resume_stalled_runs
from jobs.customers import erase, queue_erasure, resume_stalled_erasures
from models import (
    AuditEvent,
    BillingRun,
    Customer,
    CustomerErasure,
    EmailLog,
    Invoice,
    RunState,
    User,
    db,
)
from seed.bulk import bulk_customers
from tests import factories
from tests.conftest import _build, _migrate, berlin, csrf_token, make_staff, sign_in
from tests.reliability.test_month_end_kill import (
    OCTOBER,
    RUN_AT,
    _children,
    _expected,
    _gone,
    _worker_command,
    _worker_env,
)
from tests.support.services import PATIENCE, Postgres, wait_until
from tests.support.services import Redis as RedisServer

# workers, crashes and restarts of the servers: more than one connection
pytestmark = pytest.mark.fresh_database

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = int(os.environ.get("FAULT_CUSTOMERS", "300"))
BATCH = 50
LEASE_SECONDS = 4
PAUSE = 0.5


# --- workers --------------------------------------------------------------------------------


def _start_worker(app, redis_url: str, log: Path, queues: str, **extra: str) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(
            _worker_command("--burst", *queues.split(",")),
            cwd=ROOT,
            env=_worker_env(app, redis_url, MSP_TEST_BATCH_SIZE=str(BATCH), **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _burst(app, redis_url: str, log: Path, queues: str) -> None:
    """A burst worker with the product's leases until the queues are empty."""
    worker = _start_worker(app, redis_url, log, queues)
    assert worker.wait(timeout=PATIENCE) == 0, log.read_text()[-4000:]


def _kill(worker: subprocess.Popen) -> None:
    """kill -9 the work horse and the worker, each by its process id."""
    horses = _children(worker.pid)
    for horse in horses:
        os.kill(horse, signal.SIGKILL)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=PATIENCE)
    wait_until(lambda: all(_gone(horse) for horse in horses), "the work horse has died")


def _reconnect() -> None:
    """Drop the test's own connections to a database server that was restarted."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - its connection died with the server
        pass
    db.session.remove()
    db.engine.dispose()


def _wait(condition, what: str, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001 - the database may be down for a moment
            db.session.rollback()
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


# --- month-end ------------------------------------------------------------------------------


def _seed_month(app, clock) -> set[int]:
    """Bulk customers billed by invoice (no card: Stripe is not part of these faults)."""
    factories.reference(app)
    clock.instant = berlin(2026, 10, 20, 12, 0)
    assert bulk_customers(CUSTOMERS, clock) == CUSTOMERS
    for table in ("subscription", "customer"):
        db.session.execute(
            text(f"UPDATE {table} SET payment_method = 'invoice' WHERE payment_method = 'card'")
        )
    db.session.commit()
    clock.instant = RUN_AT
    billable, _reasons = _expected(OCTOBER)
    return billable


def _start_month(app, redis_url: str, log: Path) -> tuple[int, subprocess.Popen]:
    """Start October's run (finalizing by itself) and a worker with a short lease that pauses
    in every batch; return once the first batch is committed."""
    run_id = monthend.start_run(OCTOBER, SYSTEM, app.config["CLOCK"], auto_finalize=True).run_id
    queue_month_end(run_id)
    worker = _start_worker(
        app,
        redis_url,
        log,
        "billing",
        MSP_TEST_LEASE_SECONDS=str(LEASE_SECONDS),
        MSP_TEST_BATCH_PAUSE=str(PAUSE),
    )
    _wait(
        lambda: BATCH <= db.session.get(BillingRun, run_id).processed < CUSTOMERS,
        "the first batch is committed",
    )
    return run_id, worker


def _finish_month(app, redis_url: str, log: Path, run_id: int) -> BillingRun:
    """What production does after a fault: every five minutes the sweeper queues the runs whose
    lease ran out; a worker continues them. Returns the finished run."""
    deadline = time.monotonic() + PATIENCE
    while True:
        db.session.rollback()
        run = db.session.get(BillingRun, run_id)
        if run.state == RunState.DONE.value:
            return run
        assert run.state != RunState.FAILED.value, run.error
        assert time.monotonic() < deadline, f"the run did not finish: {run.state}"
        if monthend.stalled_runs() == [run_id]:
            enqueue(resume_stalled_runs, queue_name="billing")
            _burst(app, redis_url, log, "billing")
        time.sleep(0.5)


def _assert_month_complete(run: BillingRun, billable: set[int], mail: Queue) -> None:
    """One invoice per billable customer with its lines, drafted once, numbered without gaps,
    counts that add up, and each invoice's e-mail queued."""
    db.session.expire_all()
    invoices = db.session.execute(
        db.select(Invoice.customer_id, Invoice.id).where(Invoice.period == OCTOBER)
    ).all()
    assert {r.customer_id for r in invoices} == billable
    assert len(invoices) == len(billable), "one invoice per customer and month"
    assert not db.session.execute(
        text(
            "SELECT i.id FROM invoice i LEFT JOIN invoice_line l ON l.invoice_id = i.id "
            "GROUP BY i.id, i.net HAVING count(l.id) = 0 OR sum(l.amount) <> i.net"
        )
    ).all(), "no invoice half-written"
    drafted = db.session.scalar(
        db.select(db.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "invoice.draft")
    )
    assert drafted == len(invoices), "no invoice drafted twice"
    numbers = db.session.scalars(
        db.select(Invoice.number).where(Invoice.period == OCTOBER).order_by(Invoice.id)
    ).all()
    assert numbers == [format_number(2026, n) for n in range(1, len(invoices) + 1)]
    assert (run.total, run.processed) == (CUSTOMERS, CUSTOMERS)
    assert run.billed == run.finalized == len(invoices)
    assert run.billed + run.skipped == run.processed
    queued = sorted(job.args[0] for job in mail.get_jobs())
    assert queued == sorted(r.id for r in invoices), "every invoice e-mail is queued once"


@pytest.fixture
def persistent_redis():
    """A Redis of this test's own that keeps its data on disk (AOF), as production runs it."""
    server = RedisServer(appendonly=True).start()
    yield server
    server.stop()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_month_end_survives_a_redis_restart(pg_app, clock, persistent_redis, tmp_path):
    """SPEC §8: Redis goes down while a worker drafts the month and stays down until the run
    reaches the step that queues the invoice e-mails, which fails. The run is not ``failed``
    but left to be continued: once Redis is back, the periodic check continues it, and it
    ends ``done`` with one invoice per billable customer, nothing drafted twice, and every
    invoice e-mail queued once."""
    app = pg_app
    redis_url = persistent_redis.url
    app.config.update(REDIS_URL=redis_url)
    billable = _seed_month(app, clock)
    log = tmp_path / "workers.log"

    run_id, worker = _start_month(app, redis_url, log)
    persistent_redis.shutdown()
    try:
        _wait(
            lambda: (
                (run := db.session.get(BillingRun, run_id)).state != RunState.DRAFTING.value
                and run.lease_until is None
            ),
            "the run stops at the e-mail step",
        )
        assert db.session.get(BillingRun, run_id).state == RunState.FINALIZING.value
        persistent_redis.start()
        worker.wait(timeout=PATIENCE)
    finally:
        if worker.poll() is None:
            _kill(worker)

    run = _finish_month(app, redis_url, log, run_id)
    _assert_month_complete(run, billable, Queue("mail", connection=RedisClient.from_url(redis_url)))


@pytest.fixture
def own_postgres(clock):
    """A PostgreSQL cluster of this test's own (it is stopped mid-run), migrated, with the app
    on it."""
    server = Postgres().start()
    try:
        _migrate(server.url())
        app, ctx, _db = _build(server.url(), clock)
        yield server, app
        db.session.remove()
        db.engine.dispose()
        ctx.pop()
    finally:
        server.stop()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_month_end_survives_postgresql_stopping_mid_run(
    own_postgres, clock, redis_server, tmp_path
):
    """SPEC §8: PostgreSQL stops hard (``pg_ctl stop -m immediate``) while a worker drafts, and
    starts again. The batch being written is lost with the crash, the committed ones stay, and
    the resumed run ends ``done`` with exactly one invoice per billable customer."""
    server, app = own_postgres
    app.config.update(REDIS_URL=redis_server.url)
    billable = _seed_month(app, clock)
    log = tmp_path / "workers.log"

    run_id, worker = _start_month(app, redis_server.url, log)
    server.stop_immediately()
    time.sleep(1)
    server.start_server()
    _reconnect()
    try:
        worker.wait(timeout=PATIENCE)
    finally:
        if worker.poll() is None:
            _kill(worker)

    run = _finish_month(app, redis_server.url, log, run_id)
    mail = Queue("mail", connection=RedisClient.from_url(redis_server.url))
    _assert_month_complete(run, billable, mail)


# --- customer erasure -----------------------------------------------------------------------


def _erasure_facts(customer_id: int) -> dict:
    db.session.expire_all()
    customer = db.session.get(Customer, customer_id)
    erasure = db.session.get(CustomerErasure, customer_id)
    return {
        "erased": customer.erased_at is not None,
        "company": customer.company_name,
        "users": db.session.scalar(
            db.select(db.func.count()).select_from(User).where(User.customer_id == customer_id)
        ),
        "invoice_names": db.session.scalars(
            db.select(Invoice.billing_name).where(Invoice.customer_id == customer_id)
        ).all(),
        "erase_events": db.session.scalar(
            db.select(db.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.customer_id == customer_id, AuditEvent.action == "customer.erase")
        ),
        "confirmations": sorted(
            db.session.scalars(
                db.select(EmailLog.recipient).where(
                    EmailLog.customer_id == customer_id, EmailLog.template == "deletion_done"
                )
            )
        ),
        "state": erasure.state if erasure else None,
    }


def _writing() -> bool:
    """Whether another connection holds a transaction that has written and not yet ended."""
    return bool(
        db.session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state = 'idle in transaction' "
                "AND backend_xid IS NOT NULL"
            )
        )
    )


def _customer_to_delete(app, clock) -> int:
    factories.reference(app)
    customer = factories.customer(app, company="Secret Corp", email="boss@secret.example")
    draft_invoice(customer.id, clock.today().replace(day=1), clock)
    deletion.delete_customer(customer.id, "DELETE", "staff@msp.example", "en", SYSTEM, clock)
    return customer.id


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_erasure_killed_mid_transaction_is_swept_and_done_once(
    pg_app, clock, redis_server, tmp_path
):
    """SPEC §4 Delete ("the job is restartable"): the worker is killed (-9) while it erases a
    customer. Nothing of the erasure is stored; once its lease ran out the sweeper queues it
    again, and the next worker erases the customer exactly once and composes one confirmation
    per recipient. A further sweep and a duplicate job do nothing."""
    app = pg_app
    app.config.update(REDIS_URL=redis_server.url)
    customer_id = _customer_to_delete(app, clock)
    before = _erasure_facts(customer_id)
    assert before["state"] == "queued" and before["users"] == 1
    log = tmp_path / "workers.log"

    queue_erasure(customer_id)
    worker = _start_worker(
        app,
        redis_server.url,
        log,
        "default",
        MSP_TEST_ERASURE_LEASE_SECONDS=str(LEASE_SECONDS),
        MSP_TEST_ERASE_PAUSE="60",
    )
    try:
        _wait(
            lambda: _erasure_facts(customer_id)["state"] == "running" and _writing(),
            "the work horse is inside the erasure's transaction (it waits before the commit)",
        )
        assert len(_children(worker.pid)) == 1, "one work horse runs the erasure"
    finally:
        _kill(worker)
    assert _erasure_facts(customer_id) == {**before, "state": "running"}, "nothing half-written"

    _wait(lambda: deletion.stalled_erasures() == [customer_id], "the lease runs out")
    sweep = enqueue(resume_stalled_erasures, queue_name="default")
    _burst(app, redis_server.url, log, "default")
    assert sweep.return_value() == [customer_id]

    after = _erasure_facts(customer_id)
    assert after["erased"] and "Secret" not in after["company"]
    assert after["users"] == 0
    assert all("Secret" not in name for name in after["invoice_names"])
    assert after["erase_events"] == 1
    assert after["confirmations"] == ["boss@secret.example", "staff@msp.example"]
    assert after["state"] == "done"
    assert db.session.get(CustomerErasure, customer_id).attempts == 2
    mail = Queue("mail", connection=RedisClient.from_url(redis_server.url))
    assert mail.count == 2

    # nothing left to sweep; a stray second job changes nothing
    assert deletion.stalled_erasures() == []
    queue_erasure(customer_id)
    _burst(app, redis_server.url, log, "default")
    assert _erasure_facts(customer_id) == after
    assert mail.count == 2


def test_erasure_lost_with_the_queue_is_swept(app, clock, redis_server, monkeypatch):
    """SPEC §4 Delete: staff delete a customer while Redis is down, so no job is queued. The
    deletion mark and the erasure request are stored together; once the request waited longer
    than the queue time-out, the sweeper queues it and a worker erases the customer."""
    factories.reference(app)
    customer_id = factories.customer(app, company="Lost Job AG").id
    client = app.test_client()
    assert sign_in(client, make_staff(app, "admin").email).status_code == 302
    token = csrf_token(client, f"/admin/customer/{customer_id}/delete/")
    response = client.post(
        f"/admin/customer/{customer_id}/delete/",
        data={"csrf_token": token, "confirmation": "DELETE", "version": _version(customer_id)},
        follow_redirects=True,
    )
    assert "queued again" in response.get_data(as_text=True)
    assert _erasure_facts(customer_id)["state"] == "queued"
    assert deletion.stalled_erasures() == [], "it waits for a worker first"

    app.config.update(REDIS_URL=redis_server.url)
    from billing.kernel import clock as clocks

    later = clocks.lease_now() + deletion.QUEUE_TIMEOUT + timedelta(seconds=1)
    monkeypatch.setattr(clocks, "WORKER_CLOCK", clocks.FixedClock(later))
    assert deletion.stalled_erasures() == [customer_id]
    assert resume_stalled_erasures() == [customer_id]
    assert resume_stalled_erasures() == [], "queued once"
    [job] = Queue("default", connection=RedisClient.from_url(redis_server.url)).get_jobs()
    assert job.func is erase or job.func_name == "jobs.customers.erase"
    erase(*job.args)
    facts = _erasure_facts(customer_id)
    assert facts["erased"] and facts["state"] == "done" and facts["erase_events"] == 1


def _version(customer_id: int) -> int:
    db.session.rollback()
    return db.session.get(Customer, customer_id).version
