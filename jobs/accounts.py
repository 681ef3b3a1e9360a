"""Account jobs: a forgotten-password request is decided here, not in the web request, so the
request does the same work for every address and its answer time tells nothing about accounts
(SPEC §13)."""

from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry

from billing.customers import accounts

from . import enqueue, job
from .mail import RETRY_INTERVALS, send

log = logging.getLogger("msp.jobs.accounts")


@job
def password_reset(email: str, ip: str, public_url: str) -> bool:
    """Issue a reset link when ``email`` belongs to a user who may sign in, and queue its
    e-mail; True when one was issued."""
    clock = current_app.config["CLOCK"]
    message = accounts.request_password_reset(email, clock, ip, public_url)
    if message is None:
        return False
    send(message)
    return True


def queue_password_reset(email: str, ip: str, public_url: str) -> bool:
    """Queue ``password_reset``; False (and logged) when the queue is down."""
    try:
        enqueue(
            password_reset,
            email,
            ip,
            public_url,
            queue_name="mail",
            retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        )
    except RedisError as error:
        log.error("cannot queue a password reset request: %s", error)
        return False
    return True
