"""Sending e-mail: one job per message, retried with back-off."""

from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry, get_current_job

from billing.kernel.mail import Outgoing, deliver, mark_undeliverable

from . import enqueue, job

RETRY_INTERVALS = [10, 60, 300]
log = logging.getLogger("msp.jobs.mail")


@job
def send_email(log_id: int, recipient: str, subject: str, text: str, html: str) -> None:
    current = get_current_job()
    final = current is None or not current.retries_left
    deliver(Outgoing(log_id, recipient, subject, text, html), current_app.config["CLOCK"], final)


def send(message: Outgoing) -> bool:
    """Queue ``message`` for delivery; False (and the log entry failed) when the queue is down."""
    try:
        enqueue(
            send_email,
            message.log_id,
            message.recipient,
            message.subject,
            message.text,
            message.html,
            queue_name="mail",
            retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        )
    except RedisError as error:
        log.error("cannot queue e-mail %s: %s", message.log_id, error)
        mark_undeliverable(message.log_id, "queue_unavailable")
        return False
    return True
