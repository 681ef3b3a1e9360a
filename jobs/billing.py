"""Billing jobs: scheduled changes, runtime ends, renewals of additional subscriptions,
project-key expiry notices, month-end runs."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError

from billing.access.staff import staff_recipients
from billing.invoicing import monthend, monthend_work
from billing.invoicing.monthend_work import Hooks
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import clock_as_of
from billing.kernel.errors import DomainError
from billing.kernel.site import Site
from billing.subscriptions.changes import apply_due_changes
from billing.subscriptions.project_keys import expiry_notices
from billing.subscriptions.service_subscriptions import renew_due

from . import enqueue, job
from .mail import send

log = logging.getLogger("msp.jobs.billing")


@job
def apply_changes() -> dict:
    report = apply_due_changes(current_app.config["CLOCK"])
    return {"applied": report.applied, "expired": report.expired}


@job
def renew_subscriptions() -> dict:
    """Renew additional subscriptions whose term ended (auto-renew on) or end them (off)."""
    report = renew_due(current_app.config["CLOCK"])
    return {"renewed": report.renewed, "ended": report.ended}


@job
def notify_expiring_keys() -> int:
    """E-mail admin and billing staff about key subscriptions ending within 30 days (once)."""
    messages = expiry_notices(staff_recipients(), current_app.config["CLOCK"])
    for message in messages:
        send(message)
    return len(messages)


def month_end_hooks() -> Hooks:
    """The month-end run wired to the Stripe gateway and the mail queue (the worker's jobs and
    ``flask billing run-month-end``)."""
    from billing.payments import card_charges

    def queue_invoice_email(invoice_id: int, as_of: datetime | None) -> None:
        from .invoices import queue_invoice_email as queue_it

        queue_it(invoice_id, as_of)

    def payment_failed(invoice_id: int, as_of: datetime | None) -> None:
        from billing.invoicing.invoice_mail import payment_failed_notices

        clock = clock_as_of(current_app.config["CLOCK"], as_of)
        for message in payment_failed_notices(invoice_id, clock, Site.of(current_app.config)):
            send(message, as_of)

    return Hooks(
        queue_invoice_email=queue_invoice_email,
        payment_failed=payment_failed,
        charge=card_charges.charge_invoice,
        transient=(RedisError,),
    )


@job
def month_end(run_id: int) -> str:
    """Work on a billing run until it waits for approval or is done (safe to run twice), at
    the moment the run was started as of, if it was."""
    state = monthend_work.work(
        run_id, current_app.config["CLOCK"], month_end_hooks(), site=Site.of(current_app.config)
    )
    log.info("billing run %s: %s", run_id, state)
    return state


def queue_month_end(run_id: int):
    return enqueue(month_end, run_id, queue_name="billing", job_timeout=6 * 3600)


@job
def start_month_end() -> int | None:
    """The scheduled run on the 1st: bill the month that just ended (once, whoever asks)."""
    clock = current_app.config["CLOCK"]
    try:
        started = monthend.start_run(monthend.last_closed_period(clock), SYSTEM, clock)
    except DomainError as error:
        log.info("month-end run not started: %s", error)
        return None
    monthend_work.work(started.run_id, clock, month_end_hooks(), site=Site.of(current_app.config))
    return started.run_id


@job
def resume_stalled_runs() -> list[int]:
    """Queue every run whose worker died (its lease ran out) again."""
    clock = current_app.config["CLOCK"]
    resumed = []
    for run_id in monthend.stalled_runs():
        try:
            monthend.start_run(monthend.get_run(run_id).period, SYSTEM, clock)
        except DomainError:
            continue
        queue_month_end(run_id)
        resumed.append(run_id)
    return resumed
