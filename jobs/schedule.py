"""Periodic jobs, declared as data, and the scheduler that enqueues them (rq's cron).

Every periodic job is idempotent, so a second scheduler process enqueuing it again does no
harm. Times are in the server's time zone (rq cron uses UTC on a UTC server).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from rq.cron import CronScheduler

from . import billing, customers


@dataclass(frozen=True)
class Periodic:
    func: object
    queue: str
    cron: str
    description: str


PERIODIC = (
    Periodic(
        billing.start_month_end,
        "billing",
        "30 0 1 * *",
        "month-end run for the month that just ended (once per month: guarded in the database)",
    ),
    Periodic(
        billing.resume_stalled_runs,
        "billing",
        "*/5 * * * *",
        "continue billing runs whose worker died",
    ),
    Periodic(
        customers.resume_stalled_erasures,
        "default",
        "*/5 * * * *",
        "queue customer erasures again whose job was lost or whose worker died",
    ),
    Periodic(
        billing.apply_changes,
        "billing",
        "5 0 * * *",
        "apply scheduled changes due today; end expired runtimes",
    ),
    Periodic(
        billing.renew_subscriptions,
        "billing",
        "10 0 * * *",
        "renew additional subscriptions whose term ended (auto-renew on), end the others",
    ),
    Periodic(
        billing.notify_expiring_keys,
        "mail",
        "0 7 * * *",
        "e-mail staff about project keys ending within 30 days",
    ),
)


def build_scheduler(connection: Redis) -> CronScheduler:
    scheduler = CronScheduler(connection=connection, name="msp-scheduler")
    for periodic in PERIODIC:
        scheduler.register(periodic.func, periodic.queue, cron=periodic.cron, job_timeout=3600)
    return scheduler
