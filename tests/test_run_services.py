"""The processes `make run` starts besides the app (scripts/run.sh, issue 14): the mail sink that
keeps every e-mail in a Maildir. Each is started here with the command run.sh uses, on a free
127.0.0.1 port, and stopped by its process id."""

from __future__ import annotations

import mailbox
import subprocess
import sys
import time
from pathlib import Path

import pytest

from billing.mail import compose, deliver
from models import EmailLog, db
from tests.conftest import _build, _sqlite_url, csrf_token, make_staff, sign_in
from tests.support.services import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
RUN_SH = (ROOT / "scripts" / "run.sh").read_text()
MAIL_SINK = ROOT / "scripts" / "mail_sink.py"


def _start(script: Path, *args: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return process


def _stop(process: subprocess.Popen) -> int:
    process.terminate()
    return process.wait(timeout=20)


def _until(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


@pytest.fixture
def sink_port():
    return free_port()


@pytest.fixture
def sink_app(sqlite_template, tmp_path, clock, sink_port):
    """The app sending through the mail sink (as run.sh configures it), with the demo mailbox."""
    app, ctx, _db = _build(
        _sqlite_url(sqlite_template, tmp_path),
        clock,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=sink_port,
        MAIL_DEFAULT_SENDER="MSP Billing <billing@msp.demo.example>",
        MAIL_SINK_MAILDIR=str(tmp_path / "maildir"),
    )
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()


def test_the_mail_sink_keeps_every_e_mail_in_a_maildir(sink_app, sink_port, clock):
    """An empty folder (what `make run` used to create, and what an older instance/ holds) is
    made a Maildir; the product's e-mail is delivered, kept, and readable in the admin."""
    assert 'scripts/mail_sink.py "$MAIL_SINK_MAILDIR" "$MAIL_PORT"' in RUN_SH
    maildir = Path(sink_app.config["MAIL_SINK_MAILDIR"])
    maildir.mkdir()
    sink = _start(MAIL_SINK, str(maildir), str(sink_port), port=sink_port)
    try:
        message = compose(
            "test",
            "sales@prospect.example",
            "en",
            clock,
            product="MSP Billing",
            sender="admin@demo.example",
        )
        deliver(message, clock)
        log = db.session.get(EmailLog, message.log_id)
        assert (log.state, log.error) == ("sent", "")
        box = mailbox.Maildir(maildir, create=False)
        (kept,) = _until(lambda: list(box))
        assert kept["To"] == "sales@prospect.example"
        assert kept["Subject"] == message.subject

        staff = make_staff(sink_app, "admin")
        client = sink_app.test_client()
        sign_in(client, staff.email)
        client.token = csrf_token(client, "/admin/")
        page = client.get("/admin/mail-sink/").get_data(as_text=True)
        assert "1 e-mail." in page and message.subject in page
    finally:
        assert _stop(sink) == 0
