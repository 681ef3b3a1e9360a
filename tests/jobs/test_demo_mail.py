"""``flask seed demo --send-mail`` (what `make run` does): the month that just ended is e-mailed
as a month-end run e-mails it, through the job queue and a real worker, so the demo's mailbox,
E-mail log and customers' E-mail tabs have the invoices a salesperson shows."""

from __future__ import annotations

import pytest

from billing.invoicing import monthend
from models import EmailLog, Invoice, db
from tests.jobs.test_worker import run_worker


@pytest.mark.slow
@pytest.mark.fresh_database
def test_the_demo_sends_the_last_month_s_invoices_through_the_worker(
    app, runner, redis_server, mail_on
):
    app.config["REDIS_URL"] = redis_server.url
    seeded = runner.invoke(args=["seed", "demo", "--send-mail"])
    assert seeded.exit_code == 0, seeded.output
    result = run_worker(app, redis_server.url, "--no-scheduler")
    assert result.returncode == 0, result.stderr
    db.session.rollback()
    last = monthend.last_closed_period(app.config["CLOCK"])
    invoices = db.session.scalars(db.select(Invoice).where(Invoice.period == last)).all()
    mails = db.session.scalars(db.select(EmailLog).where(EmailLog.template == "invoice")).all()
    # each invoice once to its customer (a billing contact may get a copy)
    assert invoices and {m.customer_id for m in mails} == {i.customer_id for i in invoices}
    assert len({(m.customer_id, m.recipient) for m in mails}) == len(mails)
    assert {m.state for m in mails} == {"sent"}
    assert len(mail_on.messages) == len(mails)
    assert {m.language for m in mails} == {"en", "de"}
    assert all(i.emailed_at is not None for i in invoices)
    earlier = db.session.scalar(
        db.select(db.func.count()).select_from(Invoice).where(Invoice.emailed_at.is_not(None))
    )
    assert earlier == len(invoices), "the history before it was not e-mailed"

    again = runner.invoke(args=["seed", "demo", "--send-mail"])
    assert again.exit_code == 0, again.output
    assert run_worker(app, redis_server.url, "--no-scheduler").returncode == 0
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(EmailLog)) == len(mails)


def test_send_mail_without_a_job_queue_is_refused_before_seeding(app, runner):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    result = runner.invoke(args=["seed", "demo", "--send-mail"])
    assert result.exit_code == 1
    assert "--send-mail needs the job queue" in result.output
    assert db.session.scalar(db.select(db.func.count()).select_from(Invoice)) == 0
