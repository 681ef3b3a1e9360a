"""Customer jobs: the erasure after a deletion request."""

from __future__ import annotations

from flask import current_app

from billing.deletion import erase_customer

from . import enqueue, job
from .mail import send


@job
def erase(customer_id: int, notice: dict) -> int:
    """Erase a customer marked for deletion and send the confirmations (restartable)."""
    messages = erase_customer(customer_id, notice, current_app.config["CLOCK"])
    for message in messages:
        send(message)
    return len(messages)


def queue_erasure(customer_id: int, notice: dict):
    return enqueue(erase, customer_id, notice, queue_name="default", job_timeout=3600)
