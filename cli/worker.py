"""``flask worker`` and ``flask scheduler``: the processes that run the background jobs."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from jobs import QUEUES, Worker, queue, redis_connection


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


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Enqueue the periodic jobs on their schedule (run one such process)."""
    from jobs.schedule import PERIODIC, build_scheduler

    for periodic in PERIODIC:
        click.echo(f"{periodic.cron:<12} {periodic.queue:<8} {periodic.description}")
    build_scheduler(redis_connection(current_app.config["REDIS_URL"])).start()
