"""``flask billing run-month-end --now … --queue``: the run is handed to a real RQ worker
process on a real Redis, whose clock is the real time, and every step is taken at the moment
the operator gave, not at the worker's time (SPEC §8, §12: a rehearsal clock for month-end)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from models import AuditEvent, BillingRun, EmailLog, Invoice, db
from tests import factories
from tests.conftest import berlin
from tests.jobs.test_worker import run_worker

MOMENT = berlin(2026, 11, 2, 9, 0)


@pytest.mark.slow
@pytest.mark.fresh_database
def test_a_queued_run_is_worked_as_of_the_moment_it_was_started_with(
    app, runner, redis_server, mail_on
):
    """October is drafted, finalized, due and e-mailed as of 2 November 09:00 although the
    worker runs on the real clock (its own record, when the run finished, shows that time)."""
    app.config["REDIS_URL"] = redis_server.url
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    factories.customer(app, company="Alpha GmbH")
    factories.customer(app, company="Beta AG", language="de")
    clock.instant = berlin(2026, 12, 7, 14, 0)  # the operator's command runs later
    db.session.remove()

    started = runner.invoke(
        args=["billing", "run-month-end", "--now", "2026-11-02T09:00", "--approve", "--queue"]
    )
    assert started.exit_code == 0, started.output
    assert "billing run for 2026-10 (run " in started.output
    assert "Queued for the worker" in started.output

    result = run_worker(app, redis_server.url, "--no-scheduler")
    assert result.returncode == 0, result.stderr
    db.session.rollback()
    run = db.session.scalar(db.select(BillingRun))
    assert (run.period, run.state, run.finalized) == (date(2026, 10, 1), "done", 2)
    assert abs(run.finished_at - MOMENT) > timedelta(days=1), "the worker's clock is another"
    invoices = db.session.scalars(db.select(Invoice).order_by(Invoice.id)).all()
    assert [(i.period, i.state) for i in invoices] == [(date(2026, 10, 1), "finalized")] * 2
    for invoice in invoices:
        assert invoice.created_at == MOMENT, "drafted as of the moment given"
        assert invoice.finalized_at == MOMENT
        assert invoice.due_date == date(2026, 11, 16), "14 days after 2 November"
        assert invoice.emailed_at == MOMENT
    mails = db.session.scalars(db.select(EmailLog).where(EmailLog.template == "invoice")).all()
    assert len(mails) == 2 == len(mail_on.messages)
    assert {(m.state, m.created_at, m.sent_at) for m in mails} == {("sent", MOMENT, MOMENT)}
    start = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "billing_run.start"))
    assert start.after["as_of"] == "2026-11-02T08:00:00+00:00"
    assert "as of 2026-11-02T09:00:00+01:00." in started.output
