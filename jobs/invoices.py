"""Invoice e-mails: one job per invoice on the mail queue, retried with back-off."""

from __future__ import annotations

from flask import current_app
from rq import Retry

from billing.invoicing import invoice_mail
from billing.kernel.site import Site

from . import enqueue, job
from .mail import RETRY_INTERVALS


@job
def email_invoice(invoice_id: int) -> bool:
    """Mail the invoice with its PDF; False when there was nothing to send."""
    return invoice_mail.email_invoice(
        invoice_id, current_app.config["CLOCK"], Site.of(current_app.config)
    )


def queue_invoice_email(invoice_id: int):
    """Queue the invoice e-mail of ``invoice_id`` on the mail queue; returns the RQ job."""
    return enqueue(
        email_invoice,
        invoice_id,
        queue_name="mail",
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
    )
