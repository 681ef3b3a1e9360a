"""A test-only RQ worker for the reliability tests: what ``flask worker`` runs, with a fixed
clock, short leases and optional pauses inside a drafting batch or an erasure.

A test cannot reach into another process: ``flask worker`` takes its clock from ``create_app``
(the real one) and its lease from ``billing.invoicing.monthend_work.LEASE`` (two minutes). This
launcher builds the app the same way (configuration from the environment: ``DATABASE_URL``,
``REDIS_URL``, ``SECRET_KEY``, ``ENCRYPTION_KEYS``, ``STRIPE_API_BASE``), then sets from these
variables:

``MSP_TEST_NOW``
    ISO 8601 instant with offset of the ``FixedClock`` the jobs see (required).
``MSP_TEST_LEASE_SECONDS``
    ``billing.invoicing.monthend_work.LEASE`` in seconds (default: the product's).
``MSP_TEST_BATCH_PAUSE``
    seconds to wait after each drafting batch is written and before it is committed
    (default 0): a window in which a test can kill the worker in the middle of a batch.
``MSP_TEST_BATCH_SIZE``
    ``billing.invoicing.monthend_work.BATCH`` (default: the product's), so a few hundred customers
    make several batches.
``MSP_TEST_ERASURE_LEASE_SECONDS``
    ``billing.customers.deletion.LEASE`` in seconds (default: the product's).
``MSP_TEST_ERASE_PAUSE``
    seconds to wait after a customer's personal data is erased and before that is committed
    (default 0): a window in which a test can kill the worker in the middle of an erasure.

Like ``flask worker`` it forks a work horse per job (the RQ default). Usage::

    python -m tests.support.month_end_worker [--burst] [QUEUE ...]   (default: billing)
"""

from __future__ import annotations

import functools
import os
import sys
import time
from datetime import datetime, timedelta


def _pause_each_batch(seconds: float) -> None:
    from billing.invoicing import monthend_work

    draft_batch = monthend_work.draft_batch

    @functools.wraps(draft_batch)
    def paused(*args, **kwargs):
        result = draft_batch(*args, **kwargs)
        time.sleep(seconds)
        return result

    monthend_work.draft_batch = paused


def _pause_each_erasure(seconds: float) -> None:
    from billing.customers import deletion

    erase = deletion._erase_personal_data

    @functools.wraps(erase)
    def paused(*args, **kwargs):
        erase(*args, **kwargs)
        time.sleep(seconds)

    deletion._erase_personal_data = paused


def main(argv: list[str]) -> int:
    from app import create_app
    from billing.customers import deletion
    from billing.invoicing import monthend_work
    from billing.kernel.clock import FixedClock
    from jobs import Worker, queue, redis_connection

    burst = "--burst" in argv
    names = [a for a in argv if not a.startswith("--")] or ["billing"]
    timezone = os.environ.get("APP_TIMEZONE", "Europe/Berlin")
    clock = FixedClock(datetime.fromisoformat(os.environ["MSP_TEST_NOW"]), timezone)
    if os.environ.get("MSP_TEST_LEASE_SECONDS"):
        monthend_work.LEASE = timedelta(seconds=float(os.environ["MSP_TEST_LEASE_SECONDS"]))
    if os.environ.get("MSP_TEST_BATCH_SIZE"):
        monthend_work.BATCH = int(os.environ["MSP_TEST_BATCH_SIZE"])
    if os.environ.get("MSP_TEST_ERASURE_LEASE_SECONDS"):
        deletion.LEASE = timedelta(seconds=float(os.environ["MSP_TEST_ERASURE_LEASE_SECONDS"]))
    pause = float(os.environ.get("MSP_TEST_BATCH_PAUSE") or 0)
    if pause:
        _pause_each_batch(pause)
    erase_pause = float(os.environ.get("MSP_TEST_ERASE_PAUSE") or 0)
    if erase_pause:
        _pause_each_erasure(erase_pause)
    app = create_app({"CLOCK": clock})
    with app.app_context():
        connection = redis_connection(app.config["REDIS_URL"])
        worker = Worker([queue(n, connection) for n in names], connection=connection)
        worker.work(burst=burst, with_scheduler=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
