"""Customer jobs: the erasure after a deletion request, and the sweeper that hands out stuck
erasures again."""

from __future__ import annotations

from flask import current_app

from billing.customers import deletion

from . import enqueue, job
from .mail import send


@job
def erase(customer_id: int, notice: dict | None = None) -> int:
    """Erase a customer marked for deletion and send the confirmations (restartable; a second
    job for the same customer does nothing while the first holds the lease)."""
    clock = current_app.config["CLOCK"]
    owner = deletion.new_owner()
    messages = deletion.erase_customer(customer_id, notice, clock, owner=owner)
    for message in messages:
        send(message)
    deletion.finish_erasure(customer_id, owner, clock)
    return len(messages)


def queue_erasure(customer_id: int, notice: dict | None = None):
    return enqueue(erase, customer_id, notice, queue_name="default", job_timeout=3600)


@job
def resume_stalled_erasures() -> list[int]:
    """Queue again every erasure whose job was lost or whose worker died (lease ran out)."""
    resumed = []
    for customer_id in deletion.stalled_erasures():
        if deletion.requeue_erasure(customer_id):
            queue_erasure(customer_id)
            resumed.append(customer_id)
    return resumed
