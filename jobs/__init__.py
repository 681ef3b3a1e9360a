"""RQ queues, the one enqueue helper, the job decorator and the worker."""

from __future__ import annotations

import functools
import logging
import os

import rq
from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, get_current_job

QUEUES = ("default", "mail", "billing")
log = logging.getLogger("msp.jobs")
_engine_pid: int | None = None


def redis_connection(url: str | None = None) -> Redis:
    return Redis.from_url(url or current_app.config["REDIS_URL"])


def queue(name: str = "default", connection: Redis | None = None) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name}")
    return Queue(name, connection=connection or redis_connection())


def enqueue(func, *args, queue_name: str = "default", **options):
    """Put ``func(*args)`` on a queue. Jobs take ids and plain values, never objects."""
    return queue(queue_name).enqueue(func, *args, **options)


def listening_workers(queue_name: str) -> int | None:
    """How many live RQ workers listen on ``queue_name`` (a worker's registration expires
    when its heartbeat stops); None when Redis cannot be reached (within two seconds: a page
    asks)."""
    connection = Redis.from_url(
        current_app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=2
    )
    try:
        return len(rq.Worker.all(queue=queue(queue_name, connection)))
    except (RedisError, OSError):
        return None


def job(func):
    """Run a job inside an app context with a database pool of this process's own."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return _run(func, args, kwargs)
        from app import create_app

        with create_app().app_context():
            return _run(func, args, kwargs)

    return wrapper


def _run(func, args, kwargs):
    global _engine_pid
    from models import db

    if _engine_pid != os.getpid():
        db.engine.dispose(close=False)
        _engine_pid = os.getpid()
    current = get_current_job()
    job_id = current.id if current else "-"
    log.info("job %s %s started", job_id, func.__name__)
    try:
        result = func(*args, **kwargs)
    except Exception:
        db.session.rollback()
        log.exception("job %s %s failed", job_id, func.__name__)
        raise
    finally:
        db.session.remove()
    log.info("job %s %s done", job_id, func.__name__)
    return result


class Worker(rq.Worker):
    """RQ's worker, whose command listener (a pubsub thread) notices a stop within a second.

    RQ lets the listener wait up to 60 s at a time. Stopping it joins it (redis-py 8); when the
    listener had already read the answer to the unsubscribe, it was waiting for a subscription
    that never came, and a worker that was done (``--burst``) or shut down took up to a minute
    to exit.
    """

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )
