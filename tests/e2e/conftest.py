"""Browser fixtures: the app with the demo seed served on loopback, headless Debian Chromium.

Seeding the demo is the slow part (argon2 hashes, ~1,000 commits): it is seeded once per run
(``demo_database``), and the live server on a copy of it is started once per test process. The
tests only read from it (an export adds an audit event); the one that signs out uses a staff
account of its own.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import expect
from werkzeug.serving import WSGIRequestHandler, make_server

from billing.kernel.clock import FixedClock
from seed.demo import DEMO_STAFF
from tests.conftest import berlin
from tests.e2e.helpers import sign_in
from tests.support.demo import _no_fsync, app_on_copy  # noqa: F401 - shared with the e2e tests

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
# Debian's build of Chromium's headless shell, what Playwright itself runs headless by default:
# the same engine as the full browser, and about a third less CPU per page in these tests; the
# full browser where the shell is not installed (scripts/system-deps.sh)
HEADLESS_SHELL = Path("/usr/bin/chromium-headless-shell")
CHROMIUM = str(HEADLESS_SHELL) if HEADLESS_SHELL.exists() else "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# how long an action or expectation waits for the page: generous, for a busy machine (a
# passing expectation returns as soon as it holds)
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class LiveServer:
    url: str
    app: Flask
    clock: FixedClock


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app: Flask, clock: FixedClock, name: str) -> Iterator[LiveServer]:
    """``app`` served on a free 127.0.0.1 port in a thread named ``name``, until the block
    ends; then the server stops and the app's database connections close."""
    from models import db

    server = make_server(
        "127.0.0.1", _free_port(), app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app, clock=clock)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(demo_database, tmp_path_factory) -> LiveServer:
    """The app on a copy of the demo database, served in a thread.

    CSRF stays on. The clock is the suite's usual frozen instant (see ``clock`` in
    tests/conftest.py), built here because that fixture is function-scoped.
    """
    clock = FixedClock(berlin(2026, 11, 15, 10, 0))
    app = app_on_copy(demo_database, tmp_path_factory.mktemp("e2e") / "e2e.db", clock)
    with serving(app, clock, "e2e-live-server") as server:
        yield server


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (the ``page`` fixture screenshots failures)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def context(browser, live_server):
    """A fresh browser context (own cookies) per test, English UI unless a test switches."""
    context = browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        accept_downloads=True,
        viewport={"width": 1400, "height": 900},
    )
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context, request):
    """A page in its own context; a failing test leaves a screenshot in test-artifacts/."""
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception:  # noqa: BLE001 - a screenshot must never mask the real failure
            pass
    page.close()


DEMO_ADMIN = next(entry for entry in DEMO_STAFF if entry[1] == "admin")


@pytest.fixture(scope="session")
def admin_cookies(browser, live_server) -> list:
    """The session cookie of the demo ``admin``, signed in once through the sign-in page."""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    try:
        page = context.new_page()
        sign_in(page, DEMO_ADMIN[0], DEMO_ADMIN[2])
        expect(page).to_have_url(re.compile(r"/admin/$"))
        return context.cookies()
    finally:
        context.close()


@pytest.fixture
def staff_page(page, admin_cookies):
    """A page in its own context, signed in as the demo ``admin`` (cookie of one real sign-in).

    Only ``test_sign_out_ends_the_session`` signs out, and it uses another staff account, so the
    shared ``admin`` session stays valid for every test.
    """
    page.context.add_cookies(admin_cookies)
    return page
