"""Fixtures for the customer lifecycle walk: a live server of its own with real services.

Unlike the shared demo ``live_server`` (tests/e2e/conftest.py), this one changes data, so every
test gets a fresh copy of the migrated template with only the reference data (price tiers,
payment methods), one ``admin`` staff account, the mail settings pointing at the ``smtp_sink``
and ``REDIS_URL`` pointing at the ``redis_server``. Jobs are processed by a real RQ worker:
``python -m flask worker --burst`` in a subprocess, run by the test whenever it needs the queued
work done (so every e-mail really goes Redis → worker → SMTP).

The live app runs on the suite's frozen clock (2026-11-15 10:00 Berlin); the worker has the real
clock. That is fine: the worker never validates invite tokens (only the portal does, with the
app's clock) and the walk asserts nothing the worker dates.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext
from sqlalchemy import event
from werkzeug.serving import make_server

from billing.kernel.clock import FixedClock
from tests.conftest import STAFF_PASSWORD, _config, berlin
from tests.e2e.conftest import ARTIFACTS, TIMEOUT_MS, _no_fsync, _QuietHandler
from tests.support.services import PATIENCE

ROOT = Path(__file__).resolve().parents[2]
STAFF_EMAIL = "lena.staff@msp.example"
SENDER = "billing@msp.example"


@dataclass(frozen=True)
class Mail:
    """One message the SMTP sink received, as the recipient reads it."""

    to: tuple[str, ...]
    sender: str
    subject: str
    text: str
    html: str

    @classmethod
    def parse(cls, rcpt_tos: list[str], message: EmailMessage) -> Mail:
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        return cls(
            to=tuple(rcpt_tos),
            sender=str(message["From"]),
            subject=str(message["Subject"]),
            text=text.get_content() if text is not None else "",
            html=html.get_content() if html is not None else "",
        )


@dataclass
class LifecycleServer:
    url: str
    app: Flask
    clock: FixedClock
    database_url: str
    redis_url: str
    staff_email: str
    staff_password: str
    sink: object
    worker_log: Path

    def mails(self) -> list[Mail]:
        return [Mail.parse(rcpt, message) for rcpt, message in list(self.sink.messages)]

    def run_worker(self) -> str:
        """Process every queued job with a real ``flask worker --burst``; returns its log.

        Fails when the worker exits with an error or leaves a failed or retry-scheduled job.
        """
        env = {
            **os.environ,
            "FLASK_APP": "app:create_app",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": self.app.config["SECRET_KEY"],
            "ENCRYPTION_KEYS": self.app.config["ENCRYPTION_KEYS"],
            "PUBLIC_URL": self.url,
        }
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "flask", "worker", "--burst"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        log = result.stdout + result.stderr
        with self.worker_log.open("a") as handle:
            handle.write(f"--- worker run ({time.monotonic() - started:.1f} s)\n{log}\n")
        assert result.returncode == 0, f"the worker failed:\n{log[-4000:]}"
        leftovers = self._unfinished_jobs()
        assert not leftovers, f"jobs failed or wait for a retry: {leftovers}\n{log[-4000:]}"
        return log

    def _unfinished_jobs(self) -> list[str]:
        from redis import Redis
        from rq import Queue
        from rq.registry import FailedJobRegistry, ScheduledJobRegistry

        from jobs import QUEUES

        connection = Redis.from_url(self.redis_url)
        try:
            found = []
            for name in QUEUES:
                queue = Queue(name, connection=connection)
                for registry in (FailedJobRegistry, ScheduledJobRegistry):
                    ids = registry(queue=queue).get_job_ids()
                    found += [f"{name}:{registry.__name__}:{job_id}" for job_id in ids]
                found += [f"{name}:queued:{job_id}" for job_id in queue.get_job_ids()]
            return found
        finally:
            connection.close()

    def wait_for_mails(self, count: int, timeout: float = PATIENCE) -> list[Mail]:
        """The sink's messages once there are ``count`` of them (never more)."""
        deadline = time.monotonic() + timeout
        while len(self.sink.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        mails = self.mails()
        assert len(mails) == count, (
            f"expected {count} e-mail(s) at the SMTP sink, got {len(mails)}: "
            f"{[(m.to, m.subject) for m in mails]}\n{self.worker_log.read_text()[-3000:]}"
        )
        return mails


@pytest.fixture
def lifecycle_server(
    sqlite_template, tmp_path, redis_server, smtp_sink
) -> Iterator[LifecycleServer]:
    """A fresh database and app served on loopback, CSRF on, real Redis and SMTP sink."""
    from app import create_app
    from billing.access.staff import create_staff
    from billing.kernel import audit
    from billing.kernel.mail import save_mail_settings
    from models import db
    from seed.reference import seed_reference

    clock = FixedClock(berlin(2026, 11, 15, 10, 0))
    path = tmp_path / "lifecycle.db"
    shutil.copy(sqlite_template, path)
    database_url = f"sqlite:///{path}"
    app = create_app(_config(database_url, clock, REDIS_URL=redis_server.url))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_URL"] = url  # invite links in the e-mails point here
    with app.app_context():
        event.listen(db.engine, "connect", _no_fsync)
        db.engine.dispose()
        seed_reference(clock)
        save_mail_settings(
            host="127.0.0.1",
            port=smtp_sink.port,
            tls_mode="none",
            username="",
            password="",
            sender_name="MSP",
            sender_address=SENDER,
            actor=audit.SYSTEM,
            clock=clock,
        )
        create_staff(STAFF_EMAIL, "admin", STAFF_PASSWORD, clock, name="Lena Staff")
        db.session.remove()

    thread = threading.Thread(target=server.serve_forever, name="e2e-lifecycle", daemon=True)
    thread.start()
    yield LifecycleServer(
        url=url,
        app=app,
        clock=clock,
        database_url=database_url,
        redis_url=redis_server.url,
        staff_email=STAFF_EMAIL,
        staff_password=STAFF_PASSWORD,
        sink=smtp_sink,
        worker_log=tmp_path / "worker.log",
    )
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def open_context(browser, lifecycle_server, request) -> Iterator[Callable[..., BrowserContext]]:
    """A factory of browser contexts (own cookies each) on the lifecycle server.

    A failing test leaves a screenshot of every open page in test-artifacts/.
    """
    opened: list[BrowserContext] = []

    def open_(locale: str = "en-US") -> BrowserContext:
        context = browser.new_context(
            base_url=lifecycle_server.url,
            locale=locale,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        opened.append(context)
        return context

    yield open_
    report = getattr(request.node, "rep_call", None)
    failed = report is not None and report.failed
    for number, context in enumerate(opened):
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
            for index, page in enumerate(context.pages):
                try:
                    page.screenshot(
                        path=str(ARTIFACTS / f"{name}-{number}-{index}.png"), full_page=True
                    )
                except Exception:  # noqa: BLE001 - a screenshot must never mask the failure
                    pass
        context.close()
