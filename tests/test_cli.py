"""CLI commands: staff accounts and demo data (issue foundation; SPEC §1, §3)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func

from billing.access.staff import authenticate_staff
from models import (
    AuditEvent,
    BillingRun,
    Customer,
    Invoice,
    PaymentMethod,
    PriceTier,
    ScheduledChange,
    ServiceSubscription,
    StaffUser,
    Subscription,
    db,
)


def test_staff_create_with_generated_password(app, runner):
    result = runner.invoke(args=["staff", "create", "ops@msp.example", "--role", "billing"])
    assert result.exit_code == 0, result.output
    password = result.output.split("Password: ")[1].strip()
    assert authenticate_staff("ops@msp.example", password, app.config["CLOCK"]).role == "billing"


def test_staff_create_rejects_bad_input(app, runner):
    bad_role = runner.invoke(args=["staff", "create", "x@msp.example", "--role", "owner"])
    assert bad_role.exit_code != 0
    bad_email = runner.invoke(args=["staff", "create", "not-an-email", "--role", "admin"])
    assert bad_email.exit_code != 0 and "valid e-mail" in bad_email.output
    runner.invoke(args=["staff", "create", "x@msp.example", "--role", "admin"])
    twice = runner.invoke(args=["staff", "create", "X@msp.example", "--role", "admin"])
    assert twice.exit_code != 0 and "exists already" in twice.output
    assert db.session.query(StaffUser).count() == 1


def _counts() -> dict:
    return {
        model.__name__: db.session.scalar(db.select(func.count()).select_from(model))
        for model in (
            Customer,
            StaffUser,
            Subscription,
            Invoice,
            ScheduledChange,
            ServiceSubscription,
            PriceTier,
            PaymentMethod,
            AuditEvent,
        )
    }


@pytest.mark.slow
def test_seed_demo_covers_every_state_and_is_idempotent(any_app):
    """Demo data: every status, both modes, every payment method, both languages, a pending
    decrease, a project-key customer, one marked for deletion, six months of invoices, and a
    customer with two additional subscriptions (one suspended, one not renewing; SPEC §11)."""
    runner = any_app.test_cli_runner()
    first = runner.invoke(args=["seed", "demo"])
    assert first.exit_code == 0, first.output
    for role in ("admin", "billing", "support"):
        assert f"{role}@demo.example" in first.output
    counts = _counts()
    second = runner.invoke(args=["seed", "demo"])
    assert second.exit_code == 0
    assert _counts() == counts
    assert 55 <= counts["Customer"] <= 70
    assert counts["StaffUser"] == 3 and counts["PriceTier"] == 3 and counts["PaymentMethod"] == 4

    def distinct(column):
        return set(db.session.scalars(db.select(column).distinct()))

    assert distinct(Customer.status) == {
        "active",
        "inactive",
        "invited",
        "locked",
        "marked_for_deletion",
    }
    assert distinct(Customer.service_mode) == {"managed", "self_service"}
    assert {"card", "invoice", "project_key", "free"} <= distinct(Customer.payment_method)
    assert distinct(Customer.language) == {"en", "de"}
    pending = db.session.scalars(
        db.select(ScheduledChange).where(ScheduledChange.state == "pending")
    ).all()
    assert pending and all(
        change.internal_ips < db.session.get(Customer, change.customer_id).internal_ips
        for change in pending
    )
    key_customer = db.session.scalar(
        db.select(Customer).where(Customer.payment_method == "project_key")
    )
    assert key_customer.service_mode == "managed"
    services = db.session.scalars(db.select(ServiceSubscription)).all()
    assert len({s.customer_id for s in services}) == 1 and len(services) == 2
    assert {s.state for s in services} == {"active", "suspended"}
    assert {s.auto_renew for s in services} == {True, False}
    months = distinct(Invoice.period)
    assert len(months) >= 6
    assert distinct(Invoice.state) >= {"paid", "finalized"}
    # "Customer since" fits the history: every customer joined before its first bill
    first_bill = dict(
        db.session.execute(
            db.select(Invoice.customer_id, db.func.min(Invoice.period)).group_by(
                Invoice.customer_id
            )
        ).all()
    )
    joined = {c.id: c.created_at.date() for c in db.session.scalars(db.select(Customer))}
    assert first_bill and all(joined[cid] < period for cid, period in first_bill.items())


@pytest.mark.slow
def test_the_demo_history_is_paid_and_a_closed_month_is_not_billed_again(app):
    """Issue 14 (3): every month of the demo was billed by a month-end run that is done; every
    card invoice of it was paid with its payment record, bank transfers before the last month
    too; running the last month again does nothing and exits without an error."""
    from billing.invoicing import monthend
    from billing.kernel.clock import add_months
    from models import BillingRun, PaymentAttempt

    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed", "demo"]).exit_code == 0
    last = monthend.last_closed_period(app.config["CLOCK"])
    runs = db.session.scalars(db.select(BillingRun).order_by(BillingRun.period)).all()
    assert [run.period for run in runs] == [add_months(last, n) for n in range(-5, 1)]
    assert {run.state for run in runs} == {"done"} and all(run.finalized for run in runs)
    invoices = db.session.scalars(db.select(Invoice)).all()
    assert {i.billing_run_id for i in invoices} == {run.id for run in runs}
    succeeded = set(
        db.session.scalars(
            db.select(PaymentAttempt.invoice_id).where(PaymentAttempt.state == "succeeded")
        )
    )
    cards = [i for i in invoices if i.payment_method == "card"]
    assert cards and all(i.state == "paid" and i.id in succeeded for i in cards)
    assert all(i.state == "paid" for i in invoices if i.period < last)
    before = {(i.id, i.state, i.number) for i in invoices}
    again = runner.invoke(args=["billing", "run-month-end", "--period", f"{last:%Y-%m}"])
    assert again.exit_code == 0, again.output
    assert "is done already: nothing is left to do" in again.output
    db.session.expire_all()
    assert {(i.id, i.state, i.number) for i in db.session.scalars(db.select(Invoice))} == before


def _flask(app, cwd: Path, *args: str, database_url: str) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env.update(
        FLASK_APP="app:create_app",
        PYTHONPATH=str(root),
        DATABASE_URL=database_url,
        SECRET_KEY=app.config["SECRET_KEY"],
        ENCRYPTION_KEYS=app.config["ENCRYPTION_KEYS"],
        REDIS_URL=app.config["REDIS_URL"],
    )
    return subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.fresh_database
def test_the_readme_rehearsal_runs_on_a_staging_copy(app, tmp_path):
    """Issue 14 (5): the README's rehearsal, as written: a staging copy made with ``flask backup
    create --output instance/staging.db`` and billed through ``DATABASE_URL=sqlite:///instance/
    staging.db`` (a path from the working directory), while the real database is untouched."""
    from tests import factories
    from tests.conftest import berlin

    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    factories.customer(app)
    factories.customer(app, payment="card")
    db.session.remove()
    live = app.config["SQLALCHEMY_DATABASE_URI"]
    copy = _flask(
        app, tmp_path, "backup", "create", "--output", "instance/staging.db", database_url=live
    )
    assert copy.returncode == 0, copy.stderr
    rehearsal = _flask(
        app,
        tmp_path,
        "billing",
        "run-month-end",
        "--period",
        "2026-10",
        "--now",
        "2026-11-01T00:30+01:00",
        "--approve",
        "--rehearse",
        database_url="sqlite:///instance/staging.db",
    )
    assert rehearsal.returncode == 0, rehearsal.stderr
    assert "done: 2 invoice(s)" in rehearsal.stdout
    staging = sqlite3.connect(tmp_path / "instance" / "staging.db")
    try:
        finalized = staging.execute("SELECT count(*) FROM invoice WHERE state != 'draft'")
        assert finalized.fetchone() == (2,)
    finally:
        staging.close()
    assert db.session.scalar(db.select(func.count()).select_from(Invoice)) == 0


@pytest.mark.slow
def test_seed_demo_bulk_path_adds_generated_customers(any_app):
    runner = any_app.test_cli_runner()
    result = runner.invoke(args=["seed", "demo", "--customers", "2500"])
    assert result.exit_code == 0, result.output
    total = db.session.scalar(db.select(func.count()).select_from(Customer))
    assert total >= 2500 + 55
    statuses = set(db.session.scalars(db.select(Customer.status).distinct()))
    assert statuses == {"active", "inactive", "invited", "locked", "marked_for_deletion"}


def test_seed_demo_rejects_a_negative_count(app, runner):
    result = runner.invoke(args=["seed", "demo", "--customers", "-3"])
    assert result.exit_code != 0
    assert db.session.query(Customer).count() == 0


def test_billing_renew_subscriptions_command(app, runner):
    """SPEC §11: renewals of additional subscriptions can be run by hand."""
    result = runner.invoke(args=["billing", "renew-subscriptions"])
    assert result.exit_code == 0, result.output
    assert "Renewed 0 subscription(s); ended 0 subscription(s)." in result.output


def test_a_rehearsal_cannot_be_handed_to_a_worker(app, runner):
    """A queued run is worked with the worker's hooks, which charge cards and send e-mails: a
    ``--rehearse`` with ``--queue`` is refused before any run starts."""
    result = runner.invoke(
        args=["billing", "run-month-end", "--period", "2026-10", "--rehearse", "--queue"]
    )
    assert result.exit_code == 2, result.output
    assert "--rehearse runs in this process" in result.output
    assert db.session.scalar(db.select(func.count()).select_from(BillingRun)) == 0
