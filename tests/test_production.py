"""The production shape: PostgreSQL + Redis, `flask db upgrade`, gunicorn with several workers
and `flask worker` processes (README "Production")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from redis import Redis
from rq import Queue

from tests.conftest import STRONG_SECRET
from tests.support.services import PATIENCE, free_port, start_gunicorn, wait_for_port

# gunicorn and worker processes, each importing and building the app
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def production_env(postgres, redis_server):
    admin_url = postgres.url().replace("+psycopg", "")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS msp_production WITH (FORCE)")
        conn.execute("CREATE DATABASE msp_production")
    env = dict(os.environ)
    env.update(
        APP_ENV="production",
        SECRET_KEY=STRONG_SECRET,
        ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DATABASE_URL=postgres.url("msp_production"),
        REDIS_URL=redis_server.url,
        FLASK_APP="app:create_app",
    )
    yield env
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS msp_production WITH (FORCE)")


def flask(env, *args):
    return subprocess.run(
        [str(BIN / "flask"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )


def test_gunicorn_with_two_workers_on_postgresql(production_env):
    upgrade = flask(production_env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert flask(production_env, "seed", "reference").returncode == 0
    port = free_port()
    server = start_gunicorn(production_env, port)
    try:
        wait_for_port(port, process=server)
        base = f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as plain:
            urllib.request.build_opener(NoRedirect).open(f"{base}/admin/login/", timeout=PATIENCE)
        assert plain.value.code == 302
        assert plain.value.headers["Location"].startswith("https://")
        proxied = {"X-Forwarded-Proto": "https"}
        with urllib.request.urlopen(
            urllib.request.Request(f"{base}/admin/login/", headers=proxied), timeout=PATIENCE
        ) as response:
            assert "max-age" in response.headers["Strict-Transport-Security"]
            assert response.status == 200
            assert "csrf_token" in response.read().decode()
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(
                urllib.request.Request(f"{base}/admin/customer/", headers=proxied), timeout=PATIENCE
            )
        assert redirect.value.code == 302
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(
                urllib.request.Request(
                    f"{base}/admin/login/",
                    data=b"email=a%40b.c&password=x",
                    method="POST",
                    headers=proxied,
                ),
                timeout=PATIENCE,
            )
        assert refused.value.code == 400
        workers = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True)
        assert len(workers.stdout.split()) == 2
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=PATIENCE)


def test_worker_process_runs_jobs_against_postgresql(production_env):
    assert flask(production_env, "db", "upgrade").returncode == 0
    connection = Redis.from_url(production_env["REDIS_URL"])
    job = Queue("default", connection=connection).enqueue("jobs.system.heartbeat", "prod-token")
    result = flask(production_env, "worker", "--burst")
    assert result.returncode == 0, result.stderr
    job.refresh()
    assert job.get_status() == "finished"
    with psycopg.connect(production_env["DATABASE_URL"].replace("+psycopg", "")) as conn:
        value = conn.execute("SELECT value FROM setting WHERE key = 'worker.heartbeat'").fetchone()
    assert value == ("prod-token",)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
