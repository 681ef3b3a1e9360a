"""The month-end run survives a killed worker (SPEC §8: "killing a worker in the middle and running
it again gives exactly one invoice and at most one charge per customer and month").

Real PostgreSQL, Redis, RQ worker processes and the local Stripe server. The worker runs from
``tests/support/month_end_worker.py``: ``flask worker`` with the test's fixed clock. The worker
that is killed has a lease of a few seconds instead of two minutes (so the run is found stalled
soon) and a pause inside each drafting batch, so the test kills the work horse while a batch is
written but not yet committed; the workers that take over run with the product's lease.

``MONTH_END_KILL_CUSTOMERS`` sets the number of bulk-seeded customers (default 3,000, six
batches; the issue's figure is 10,000).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import text

from billing.invoicing import monthend, monthend_report, monthend_work
from billing.invoicing.draft_lines import month_end as month_end_of
from billing.invoicing.invoice_payment import retry_payment
from billing.invoicing.numbering import format_number
from billing.kernel.audit import SYSTEM
from billing.payments import stripe_account, stripe_cards
from jobs import enqueue
from jobs.billing import month_end, queue_month_end, resume_stalled_runs
from models import (
    AuditEvent,
    BillingRun,
    EmailLog,
    Invoice,
    InvoiceState,
    PaymentAttempt,
    RunState,
    db,
)
from seed.bulk import bulk_customers
from tests import factories
from tests.conftest import berlin
from tests.support.services import PATIENCE, free_port, wait_until

# workers, crashes and restarts of the servers: more than one connection
pytestmark = pytest.mark.fresh_database

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = int(os.environ.get("MONTH_END_KILL_CUSTOMERS", "3000"))
OCTOBER = date(2026, 10, 1)
RUN_AT = berlin(2026, 11, 1, 0, 30)
LEASE_SECONDS = 5
BATCH_PAUSE = 0.4


# --- the worker processes -------------------------------------------------------------------


def _worker_env(app, redis_url: str, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=redis_url,
        SECRET_KEY=app.config["SECRET_KEY"],
        ENCRYPTION_KEYS=app.config["ENCRYPTION_KEYS"],
        STRIPE_API_BASE=app.config["STRIPE_API_BASE"],
        MSP_TEST_NOW=RUN_AT.isoformat(),
    )
    env.update(extra)
    return env


def _worker_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.support.month_end_worker", *args]


def _burst(app, redis_url: str, log: Path) -> None:
    """Run a burst worker (with the product's lease) on the billing queue until it is empty."""
    with log.open("a") as out:
        result = subprocess.run(
            _worker_command("--burst", "billing"),
            cwd=ROOT,
            env=_worker_env(app, redis_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=PATIENCE,
        )
    assert result.returncode == 0, log.read_text()[-4000:]


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the RQ work horse of a worker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _progress(run_id: int) -> tuple[int, int, str]:
    with db.engine.connect() as conn:
        row = conn.execute(
            db.select(BillingRun.processed, BillingRun.total, BillingRun.state).where(
                BillingRun.id == run_id
            )
        ).one()
    return row.processed, row.total, row.state


# --- data -----------------------------------------------------------------------------------


def _seed(app, clock) -> dict[str, int]:
    """Bulk customers billed by invoice, and three card customers with cards at Stripe."""
    factories.reference(app)
    clock.instant = berlin(2026, 10, 20, 12, 0)
    assert bulk_customers(CUSTOMERS, clock) == CUSTOMERS
    # the bulk seeder gives a third of them a card that Stripe has never seen
    for table in ("subscription", "customer"):
        db.session.execute(
            text(f"UPDATE {table} SET payment_method = 'invoice' WHERE payment_method = 'card'")
        )
    db.session.commit()
    stripe_account.save_stripe_keys("sk_test_monthend123", "pk_test_monthend123", SYSTEM, clock)
    cards = {}
    for name, card in (
        ("visa_1", "pm_card_visa"),
        ("visa_2", "pm_card_visa"),
        ("declined", "pm_card_chargeCustomerFail"),
    ):
        customer = factories.customer(app, payment="card", internal=30, external=5)
        stripe_cards.attach_card(customer.id, card)
        cards[name] = customer.id
    clock.instant = RUN_AT
    return cards


def _expected(period: date) -> tuple[set[int], dict[str, int]]:
    """Who must get an invoice, and why the others get none, straight from the subscriptions."""
    rows = db.session.execute(
        text(
            "SELECT c.id, s.payment_method FROM customer c LEFT JOIN subscription s "
            "ON s.customer_id = c.id AND s.valid_from <= :last "
            "AND (s.valid_until IS NULL OR s.valid_until >= :first)"
        ),
        {"first": period, "last": month_end_of(period)},
    ).all()
    assert len({r.id for r in rows}) == len(rows), "one subscription per customer in the month"
    billable = {r.id for r in rows if r.payment_method not in (None, "free")}
    reasons = {
        "free": sum(r.payment_method == "free" for r in rows),
        "no_subscription": sum(r.payment_method is None for r in rows),
    }
    return billable, reasons


def _invoices() -> dict[int, tuple[int, object]]:
    db.session.expire_all()
    rows = db.session.execute(
        db.select(Invoice.customer_id, Invoice.id, Invoice.created_at).where(
            Invoice.period == OCTOBER
        )
    ).all()
    return {r.customer_id: (r.id, r.created_at) for r in rows}


def _draft_events() -> int:
    return db.session.scalar(
        db.select(db.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "invoice.draft")
    )


# --- the test -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_worker_killed_mid_batch_leaves_one_invoice_and_one_charge_per_customer(
    pg_app, clock, redis_server, localstripe, tmp_path
):
    """SPEC §8: a worker killed in the middle of drafting, the run resumed as production does
    (the periodic check queues it again once the lease ran out), approved and finished: one
    invoice per billable customer, gap-free numbers, at most one charge per invoice, nothing
    that was committed before the kill drafted again, and run counts that add up."""
    app = pg_app
    app.config.update(REDIS_URL=redis_server.url, STRIPE_API_BASE=localstripe.url)
    cards = _seed(app, clock)
    billable, reasons = _expected(OCTOBER)
    customers = CUSTOMERS + len(cards)
    assert customers > 4 * monthend_work.BATCH, "the run must span several batches"
    log = tmp_path / "workers.log"

    run_id = monthend.start_run(OCTOBER, SYSTEM, clock).run_id
    queue_month_end(run_id)

    # 1. a worker drafts; kill it (work horse and worker, each by its pid) mid-batch
    with log.open("w") as out:
        worker = subprocess.Popen(
            _worker_command("--burst", "billing"),
            cwd=ROOT,
            env=_worker_env(
                app,
                redis_server.url,
                MSP_TEST_LEASE_SECONDS=str(LEASE_SECONDS),
                MSP_TEST_BATCH_PAUSE=str(BATCH_PAUSE),
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + PATIENCE
        while True:
            processed, total, state = _progress(run_id)
            if state == RunState.DRAFTING.value and monthend_work.BATCH <= processed < total:
                break
            assert state == RunState.DRAFTING.value, (state, log.read_text()[-4000:])
            assert worker.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, "the worker committed no batch"
            time.sleep(0.02)
        horses = _children(worker.pid)
        assert len(horses) == 1, f"expected one work horse under {worker.pid}: {horses}"
        os.kill(horses[0], signal.SIGKILL)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=PATIENCE)
    wait_until(lambda: _gone(horses[0]), "the work horse has died")

    db.session.rollback()
    killed = db.session.get(BillingRun, run_id)
    assert killed.state == RunState.DRAFTING.value
    assert monthend_work.BATCH <= killed.processed < killed.total == customers
    assert killed.processed % monthend_work.BATCH == 0
    before = _invoices()
    assert len(before) == killed.billed > 0
    assert max(before) <= killed.last_customer_id, "the batch being written was rolled back"
    assert _draft_events() == killed.billed

    # 2. production's periodic check finds the stalled run once its lease ran out

    def stalled() -> bool:
        db.session.rollback()
        return monthend.stalled_runs() == [run_id]

    wait_until(stalled, "the killed run's lease has run out", interval=0.2)
    resume = enqueue(resume_stalled_runs, queue_name="billing")
    _burst(app, redis_server.url, log)
    assert resume.return_value() == [run_id]
    db.session.rollback()
    drafted = db.session.get(BillingRun, run_id)
    assert drafted.state == RunState.AWAITING_APPROVAL.value, drafted.error
    after = _invoices()
    assert {c: after[c] for c in before} == before, "the committed batches were not redone"
    assert set(after) == billable

    # 3. staff approve; a worker numbers, charges and queues the e-mails
    monthend.approve_run(run_id, SYSTEM, clock)
    queue_month_end(run_id)
    _burst(app, redis_server.url, log)
    db.session.rollback()
    run = db.session.get(BillingRun, run_id)
    assert run.state == RunState.DONE.value, run.error

    # exactly one invoice per billable customer, each with its lines adding up to its net
    assert _invoices() == after
    assert not db.session.execute(
        text(
            "SELECT customer_id FROM invoice WHERE period = :p "
            "GROUP BY customer_id HAVING count(*) > 1"
        ),
        {"p": OCTOBER},
    ).all()
    assert not db.session.execute(
        text(
            "SELECT i.id FROM invoice i LEFT JOIN invoice_line l ON l.invoice_id = i.id "
            "GROUP BY i.id, i.net HAVING count(l.id) = 0 OR sum(l.amount) <> i.net"
        )
    ).all()
    assert _draft_events() == len(after), "no invoice was drafted twice"
    # gap-free numbers 1..n in id order
    numbers = db.session.scalars(
        db.select(Invoice.number).where(Invoice.period == OCTOBER).order_by(Invoice.id)
    ).all()
    assert numbers == [format_number(2026, n) for n in range(1, len(after) + 1)]
    # at most one charge per invoice: never two attempts that did not fail
    assert not db.session.execute(
        text(
            "SELECT invoice_id FROM payment_attempt WHERE state <> 'failed' "
            "GROUP BY invoice_id HAVING count(*) > 1"
        )
    ).all()
    states = {
        name: db.session.scalar(db.select(Invoice.state).where(Invoice.customer_id == cid))
        for name, cid in cards.items()
    }
    assert states == {"visa_1": "paid", "visa_2": "paid", "declined": "payment_failed"}
    assert db.session.scalar(db.select(db.func.count()).select_from(PaymentAttempt)) == 3
    # the counts add up
    assert (run.total, run.processed) == (customers, customers)
    assert run.billed == len(after) == run.finalized
    assert run.billed + run.skipped == run.processed
    assert monthend_report.skip_reasons(run) == {k: v for k, v in reasons.items() if v}
    assert run.payment_failed == 1
    assert (
        db.session.scalar(
            db.select(db.func.count())
            .select_from(Invoice)
            .where(Invoice.state == InvoiceState.PAYMENT_FAILED.value)
        )
        == 1
    )
    # one invoice e-mail per invoice and one payment-failed notice, each queued once
    mail = Queue("mail", connection=Redis.from_url(redis_server.url))
    assert mail.count == run.billed + 1
    assert (
        db.session.scalar(
            db.select(db.func.count())
            .select_from(EmailLog)
            .where(EmailLog.template == "payment_failed")
        )
        == 1
    )


# --- Stripe declines and time-outs (SQLite is enough) ---------------------------------------


@pytest.mark.parametrize("failure", ["decline", "timeout"])
def test_a_declined_or_unreachable_charge_fails_the_payment_not_the_run(
    app, clock, localstripe, redis_server, failure
):
    """SPEC §6/§8.5: a declined card and a Stripe that cannot be reached (a closed port) mark
    the invoice ``payment_failed``, the job's payment-failed hook e-mails the customer, and the
    run reaches ``done``. An unreached charge keeps its attempt pending: the retry once Stripe
    is back reuses its idempotency key."""
    app.config.update(REDIS_URL=redis_server.url, STRIPE_API_BASE=localstripe.url)
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    stripe_account.save_stripe_keys("sk_test_monthend123", "pk_test_monthend123", SYSTEM, clock)
    card = factories.customer(app, payment="card").id
    stripe_cards.attach_card(
        card, "pm_card_chargeCustomerFail" if failure == "decline" else "pm_card_visa"
    )
    by_invoice = factories.customer(app).id
    clock.instant = RUN_AT
    if failure == "timeout":
        app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"
    run_id = monthend.start_run(OCTOBER, SYSTEM, clock, auto_finalize=True).run_id

    assert month_end(run_id) == RunState.DONE.value

    run = db.session.get(BillingRun, run_id)
    assert (run.billed, run.finalized, run.payment_failed) == (2, 2, 1)
    invoice = db.session.scalar(db.select(Invoice).where(Invoice.customer_id == card))
    assert invoice.state == InvoiceState.PAYMENT_FAILED.value
    other = db.session.scalar(db.select(Invoice).where(Invoice.customer_id == by_invoice))
    assert other.state == InvoiceState.FINALIZED.value
    notices = db.session.scalars(
        db.select(EmailLog).where(EmailLog.template == "payment_failed")
    ).all()
    assert [n.customer_id for n in notices] == [card], "the payment-failed hook ran once"
    mail = Queue("mail", connection=Redis.from_url(redis_server.url))
    assert mail.count == 2 + 1, "two invoice e-mails and the payment-failed notice"
    [attempt] = db.session.scalars(db.select(PaymentAttempt)).all()
    if failure == "decline":
        assert attempt.state == "failed" and attempt.error
        return
    assert attempt.state == "pending" and attempt.payment_intent_id is None
    app.config["STRIPE_API_BASE"] = localstripe.url
    retried = retry_payment(invoice.id, SYSTEM, clock)
    assert (retried.id, retried.state) == (attempt.id, "succeeded")
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).state == InvoiceState.PAID.value


def test_queuing_the_invoice_emails_keeps_the_lease(app, clock, monkeypatch):
    """The last step queues one e-mail per invoice. When that takes longer than the lease (at a
    few milliseconds an e-mail, some 35,000 invoices outlast the two minutes), the run must still
    end ``done`` rather than stop quietly in ``finalizing`` and wait for the periodic check,
    which would queue every e-mail not yet sent a second time."""
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    for _ in range(6):
        factories.customer(app)
    clock.instant = RUN_AT
    monkeypatch.setattr(monthend_work, "LEASE", timedelta(seconds=0.5))
    monkeypatch.setattr(monthend_work, "BATCH", 2)
    run_id = monthend.start_run(OCTOBER, SYSTEM, clock, auto_finalize=True).run_id
    queued = []

    def slow_queue(invoice_id: int, as_of) -> None:
        queued.append(invoice_id)
        time.sleep(0.15)

    state = monthend_work.work(run_id, clock, monthend_work.Hooks(queue_invoice_email=slow_queue))
    assert len(queued) == 6
    assert state == RunState.DONE.value
