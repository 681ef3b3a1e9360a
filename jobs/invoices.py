"""Invoice e-mails: one job per invoice on the mail queue, retried with back-off."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from rq import Retry

from billing.invoicing import invoice_mail
from billing.kernel.clock import clock_as_of
from billing.kernel.site import Site

from . import enqueue, job
from .mail import RETRY_INTERVALS


@job
def email_invoice(invoice_id: int, as_of: datetime | None = None) -> bool:
    """Mail the invoice with its PDF, dated ``as_of`` when given (the moment of the month-end
    run that queued it); False when there was nothing to send."""
    return invoice_mail.email_invoice(
        invoice_id, clock_as_of(current_app.config["CLOCK"], as_of), Site.of(current_app.config)
    )


def queue_invoice_email(invoice_id: int, as_of: datetime | None = None):
    """Queue the invoice e-mail of ``invoice_id`` on the mail queue, to be dated ``as_of``
    when given; returns the RQ job."""
    return enqueue(
        email_invoice,
        *((invoice_id,) if as_of is None else (invoice_id, as_of)),
        queue_name="mail",
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
    )
