"""The invoice e-mail job on the mail queue, run by a real `flask worker` (SPEC §7, §8.5)."""

from __future__ import annotations

from datetime import date

import pytest

from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from jobs.invoices import queue_invoice_email
from models import Invoice, db
from tests import factories
from tests.jobs.test_worker import run_worker


@pytest.mark.slow
@pytest.mark.fresh_database
def test_a_queued_invoice_email_is_sent_once_by_a_worker(app, redis_server, mail_on):
    """SPEC §8.5: finalizing e-mails every invoice (PDF attached) through a job with retries."""
    app.config["REDIS_URL"] = redis_server.url
    factories.reference(app)
    clock = app.config["CLOCK"]
    customer = factories.customer(app, since=date(2026, 11, 1))
    invoice = finalize_invoice(draft_invoice(customer.id, date(2026, 11, 1), clock).id, clock)

    first = queue_invoice_email(invoice.id)
    second = queue_invoice_email(invoice.id)
    assert first.origin == "mail"
    assert first.retries_left == 3 and first.retry_intervals == [10, 60, 300]

    result = run_worker(app, redis_server.url, "--queues", "mail", "--no-scheduler")
    assert result.returncode == 0, result.stderr
    first.refresh()
    second.refresh()
    assert first.get_status() == "finished" and first.return_value() is True
    assert second.get_status() == "finished" and second.return_value() is False

    [(_, message)] = mail_on.messages
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content().startswith(b"%PDF")
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).emailed_at is not None
