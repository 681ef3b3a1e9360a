"""RQ wiring end to end: a real Redis server and a real `flask worker` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from billing.settings import get_setting
from jobs import QUEUES, enqueue, queue
from jobs.system import heartbeat
from models import db

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
        timeout=120,
    )


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


def test_worker_refuses_unknown_queue_names(app, redis_server):
    result = run_worker(app, redis_server.url, "--queues", "default,bogus")
    assert result.returncode != 0
    assert "unknown queue" in result.stderr


def test_queue_names_are_fixed(app):
    assert QUEUES == ("default", "mail", "billing")
    with pytest.raises(ValueError):
        queue("elsewhere")
