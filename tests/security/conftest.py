"""Fixtures of the browser security tests: the demo seed plus the XSS payload corpus, served on
loopback with card payment through the suite's ``localstripe`` and mail settings pointing at an
SMTP sink; the demo ``admin`` and the payload customer signed in once each."""

from __future__ import annotations

import re
import shutil
import threading

import pytest
from playwright.sync_api import expect
from sqlalchemy import event
from werkzeug.serving import make_server

from billing.clock import FixedClock
from tests.conftest import _config, berlin
from tests.e2e import conftest as e2e
from tests.e2e.conftest import DEMO_ADMIN, LiveServer, _free_port, _no_fsync, _QuietHandler
from tests.e2e.helpers import portal_sign_in, sign_in
from tests.security import corpus
from tests.support.cards import stripe_on
from tests.support.services import SmtpSink

# The page fixtures of the e2e tests (a context and page per test, a screenshot of a failure),
# here opening their pages on this package's ``live_server``; ``browser`` is tests/conftest.py's.
context = e2e.context
page = e2e.page
pytest_runtest_makereport = e2e.pytest_runtest_makereport


@pytest.fixture(scope="session")
def security_server(sqlite_template, tmp_path_factory, localstripe):
    """The app on the demo seed and the payload corpus; yields (LiveServer, Planted)."""
    from app import create_app
    from billing.audit import SYSTEM
    from billing.mail import save_mail_settings
    from models import db
    from seed.demo import seed_demo

    sink = SmtpSink().start()
    clock = FixedClock(berlin(2026, 11, 15, 10, 0))
    path = tmp_path_factory.mktemp("security") / "security.db"
    shutil.copy(sqlite_template, path)
    app = create_app(_config(f"sqlite:///{path}", clock, STRIPE_API_BASE=localstripe.url))
    with app.app_context():
        event.listen(db.engine, "connect", _no_fsync)
        db.engine.dispose()
        seed_demo(clock)
        stripe_on(app, localstripe)
        save_mail_settings(
            "127.0.0.1", sink.port, "none", "", "", "MSP", "billing@msp.example", SYSTEM, clock
        )
        planted = corpus.plant(clock, DEMO_ADMIN[0])
        db.session.remove()

    server = make_server(
        "127.0.0.1", _free_port(), app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="security-server", daemon=True)
    thread.start()
    yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app, clock=clock), planted
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    sink.stop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(security_server) -> LiveServer:
    """The shared ``context``/``page`` fixtures open their pages on this server."""
    return security_server[0]


@pytest.fixture(scope="session")
def planted(security_server) -> corpus.Planted:
    return security_server[1]


def _cookies(browser, live_server, sign_in_page) -> list:
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    try:
        sign_in_page(context.new_page())
        return context.cookies()
    finally:
        context.close()


@pytest.fixture(scope="session")
def admin_cookies(browser, live_server) -> list:
    def admin(page) -> None:
        sign_in(page, DEMO_ADMIN[0], DEMO_ADMIN[2])
        expect(page).to_have_url(re.compile(r"/admin/$"))

    return _cookies(browser, live_server, admin)


@pytest.fixture(scope="session")
def customer_cookies(browser, live_server, planted) -> list:
    def customer(page) -> None:
        portal_sign_in(page, corpus.EMAIL, corpus.PASSWORD)
        expect(page).to_have_url(re.compile(r"/portal/$"))

    return _cookies(browser, live_server, customer)
