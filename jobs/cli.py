"""``flask worker``: an RQ worker with the scheduler, inside the app context."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from rq import Worker

from . import QUEUES, queue, redis_connection


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--queues", "names", default=",".join(QUEUES), show_default=True)
@click.option("--no-scheduler", is_flag=True, help="Do not run the RQ scheduler in this worker.")
@with_appcontext
def worker_command(burst: bool, names: str, no_scheduler: bool) -> None:
    """Process background jobs (e-mail, billing, deletion)."""
    connection = redis_connection(current_app.config["REDIS_URL"])
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in QUEUES]
    if unknown:
        raise click.BadParameter(f"unknown queue(s): {', '.join(unknown)}", param_hint="--queues")
    queues = [queue(n, connection) for n in wanted]
    Worker(queues, connection=connection).work(burst=burst, with_scheduler=not no_scheduler)


@click.group("billing")
def billing_group() -> None:
    """Billing maintenance."""


@billing_group.command("apply-changes")
@with_appcontext
def apply_changes_command() -> None:
    """Apply scheduled changes due by today and expire subscriptions whose runtime ended."""
    from .billing import apply_changes

    result = apply_changes()
    click.echo(
        f"Applied {result['applied']} change(s); expired {result['expired']} subscription(s)."
    )


@billing_group.command("notify-expiring-keys")
@with_appcontext
def notify_expiring_keys_command() -> None:
    """Queue the e-mails about project keys whose subscription ends within 30 days."""
    from .billing import notify_expiring_keys

    click.echo(f"Queued {notify_expiring_keys()} e-mail(s).")


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Enqueue the periodic jobs on their schedule (run one such process)."""
    from .schedule import PERIODIC, build_scheduler

    for periodic in PERIODIC:
        click.echo(f"{periodic.cron:<12} {periodic.queue:<8} {periodic.description}")
    build_scheduler(redis_connection(current_app.config["REDIS_URL"])).start()
