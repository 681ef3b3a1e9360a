"""RQ wiring end to end: a real Redis server and a real `flask worker` process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from billing.kernel.settings import get_setting
from jobs import QUEUES, enqueue, queue
from jobs.system import heartbeat
from models import db
from tests.support.services import PATIENCE, wait_until

# real workers are processes of their own on the test's database
pytestmark = pytest.mark.fresh_database

ROOT = Path(__file__).resolve().parents[2]


def worker_env(app, redis_url: str) -> dict:
    env = dict(os.environ)
    env.update(
        FLASK_APP="app:create_app",
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=redis_url,
        SECRET_KEY=app.config["SECRET_KEY"],
    )
    return env


def run_worker(app, redis_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "worker", "--burst", *args],
        cwd=ROOT,
        env=worker_env(app, redis_url),
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["app", "pg_app"])
def test_a_queued_job_runs_in_a_real_worker(request, redis_server, backend):
    app = request.getfixturevalue(backend)
    app.config["REDIS_URL"] = redis_server.url
    job = enqueue(heartbeat, "token-123")
    assert job.get_status() == "queued"
    result = run_worker(app, redis_server.url)
    assert result.returncode == 0, result.stderr
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == "token-123"
    db.session.rollback()
    assert get_setting("worker.heartbeat") == "token-123"


@pytest.mark.slow
def test_worker_refuses_unknown_queue_names(app, redis_server):
    result = run_worker(app, redis_server.url, "--queues", "default,bogus")
    assert result.returncode != 0
    assert "unknown queue" in result.stderr


def test_a_worker_that_is_told_to_stop_exits_within_seconds(redis_server):
    """A worker that is done (``--burst``) or shut down stops its command listener and exits.
    That took up to a minute when the listener had read the answer to the unsubscribe before it
    was told to stop: it then waited 60 s for a subscription that never came."""
    from redis import Redis

    from jobs import Worker

    connection = Redis.from_url(redis_server.url)
    worker = Worker([queue("default", connection)], connection=connection)
    worker.subscribe()
    unsubscribe = worker.pubsub.unsubscribe

    def unsubscribe_and_let_the_listener_read_the_answer(*args):
        unsubscribe(*args)
        wait_until(lambda: not worker.pubsub.subscribed, "the listener read the answer")

    worker.pubsub.unsubscribe = unsubscribe_and_let_the_listener_read_the_answer
    started = time.monotonic()
    worker.unsubscribe()
    assert time.monotonic() - started < 10


def test_queue_names_are_fixed(app):
    assert QUEUES == ("default", "mail", "billing")
    with pytest.raises(ValueError):
        queue("elsewhere")


def test_periodic_jobs_are_declared_with_valid_schedules(redis_server):
    """Issue pricing/project keys: the 30-day key notice and scheduled changes run daily;
    SPEC §11: additional subscriptions are renewed or ended daily; SPEC §4: stuck erasures are
    queued again."""
    from redis import Redis
    from rq.cron import CronScheduler

    from jobs import billing as billing_jobs
    from jobs import customers as customer_jobs
    from jobs.schedule import PERIODIC, build_scheduler

    funcs = {p.func for p in PERIODIC}
    assert funcs == {
        billing_jobs.apply_changes,
        billing_jobs.renew_subscriptions,
        billing_jobs.notify_expiring_keys,
        billing_jobs.start_month_end,
        billing_jobs.resume_stalled_runs,
        customer_jobs.resume_stalled_erasures,
    }
    month_end = next(p for p in PERIODIC if p.func is billing_jobs.start_month_end)
    assert month_end.cron.split()[2] == "1", "SPEC §8: the month-end run starts on the 1st"
    assert all(p.queue in QUEUES for p in PERIODIC)
    scheduler = build_scheduler(Redis.from_url(redis_server.url))
    assert isinstance(scheduler, CronScheduler)
    jobs = scheduler.get_jobs()
    assert len(jobs) == len(PERIODIC) == 6
    assert all(job.get_next_enqueue_time() is not None for job in jobs)


@pytest.mark.slow
def test_scheduled_jobs_run_in_a_worker(app, redis_server):
    """What the scheduler enqueues runs in a real worker process."""
    from redis import Redis

    from jobs.schedule import build_scheduler

    connection = Redis.from_url(redis_server.url)
    enqueued = [cron_job.enqueue(connection) for cron_job in build_scheduler(connection).get_jobs()]
    result = run_worker(app, redis_server.url)
    assert result.returncode == 0, result.stderr
    for job in enqueued:
        job.refresh()
        assert job.get_status() == "finished"
    results = {job.func_name.rsplit(".", 1)[1]: job.return_value() for job in enqueued}
    assert results["apply_changes"] == {"applied": 0, "expired": 0}
    assert results["renew_subscriptions"] == {"renewed": 0, "ended": 0}
    assert results["notify_expiring_keys"] == 0
    assert results["resume_stalled_runs"] == []
    assert isinstance(results["start_month_end"], int), "the month-end run was started"
