"""Sending e-mail: one job per message, retried with back-off."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry, get_current_job

from billing.kernel.clock import clock_as_of
from billing.kernel.mail import Outgoing, deliver, mark_undeliverable

from . import enqueue, job

RETRY_INTERVALS = [10, 60, 300]
log = logging.getLogger("msp.jobs.mail")


@job
def send_email(
    log_id: int, recipient: str, subject: str, text: str, html: str, as_of: datetime | None = None
) -> None:
    current = get_current_job()
    final = current is None or not current.retries_left
    clock = clock_as_of(current_app.config["CLOCK"], as_of)
    deliver(Outgoing(log_id, recipient, subject, text, html), clock, final)


def send(message: Outgoing, as_of: datetime | None = None) -> bool:
    """Queue ``message`` for delivery, recorded as sent at ``as_of`` when given (the moment of
    the month-end run that sends it); False (and the log entry failed) when the queue is down."""
    fields = (message.log_id, message.recipient, message.subject, message.text, message.html)
    try:
        enqueue(
            send_email,
            *(fields if as_of is None else (*fields, as_of)),
            queue_name="mail",
            retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        )
    except RedisError as error:
        log.error("cannot queue e-mail %s: %s", message.log_id, error)
        mark_undeliverable(message.log_id, "queue_unavailable")
        return False
    return True
