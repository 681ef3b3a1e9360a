"""Fixtures: the app on SQLite or PostgreSQL, a real Redis, an SMTP sink, a frozen clock and
signed-in clients.

Each test process (pytest-xdist worker) creates one app per database, on a migrated database of
its own, and every test runs inside a transaction on one connection that is rolled back when the
test ends: the product's commits end savepoints within it (SQLAlchemy's
``join_transaction_mode="create_savepoint"``), and each request's session joins the same
connection. The app's configuration, its clock and the rate limiter's counters are reset for
each test. A test marked ``fresh_database`` gets an app and a database of its own instead, whose
commits are real: for a test that uses more than one connection (threads, a subprocess, a
worker, a second app on the same database) or changes the app itself."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import uuid
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import event

from billing.access.passwords import use_low_cost_for_tests
from billing.kernel.clock import FixedClock
from tests.support.services import LocalStripe, Postgres, Redis, SmtpSink

use_low_cost_for_tests()

# random-looking enough for the production start-up check (``app.strong_secret``)
STRONG_SECRET = "c41f9e0b7d2a58e3f6b1a09d4c7e2f5b8a3d6e1f0c9b4a7d"
SECRET = "test-" + STRONG_SECRET
BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``-n``), the slow tests first, then the browser tests: a worker that
    starts a fault or fuzz run last would keep the whole run waiting for it. (The workers
    collect; the order they agree on is the order tests are handed out in, one at a time to
    whichever worker is free: ``--dist loadgroup`` in pyproject.toml.)"""
    if hasattr(config, "workerinput"):
        items.sort(
            key=lambda item: (
                not item.get_closest_marker("slow"),
                not item.get_closest_marker("browser"),
            )
        )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(berlin(2026, 11, 15, 10, 0))


def _config(url: str, clock, **extra) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "SQLALCHEMY_DATABASE_URI": url,
        "CLOCK": clock,
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "RATELIMIT_STORAGE_URI": "memory://",
        "MAIL_SERVER": "",
        # the tests' mail sink listens on 127.0.0.1
        "MAIL_ALLOW_LOCAL_HOSTS": True,
    }
    config.update(extra)
    return config


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    from app import create_app
    from models import db

    app = create_app(_config(url, FixedClock(berlin(2026, 1, 1, 0, 0))))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def built_once(tmp_path_factory, name: str, build) -> str:
    """The file ``name``, made by ``build(path)`` once for the whole run: under pytest-xdist the
    first worker to ask builds it while the others wait, then each copies it."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, shared by its workers
    path = base / name
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            partial = base / f"{name}.partial"
            build(partial)
            partial.rename(path)
    return str(path)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    return built_once(tmp_path_factory, "template.db", lambda path: _migrate(f"sqlite:///{path}"))


@pytest.fixture(scope="session")
def demo_database(sqlite_template, tmp_path_factory) -> str:
    """The migrated SQLite database with the demo seed at the suite's frozen instant (see
    ``clock``), seeded once for the whole run; the live servers and the security tests' demo
    start from copies of it (tests/support/demo.py)."""
    from tests.support.demo import seed_demo_into

    clock = FixedClock(berlin(2026, 11, 15, 10, 0))
    return built_once(
        tmp_path_factory, "demo.db", lambda path: seed_demo_into(sqlite_template, path, clock)
    )


@pytest.fixture(scope="session")
def postgres():
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(postgres) -> str:
    with psycopg.connect(postgres.url().replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("CREATE DATABASE msp_template")
    _migrate(postgres.url("msp_template"))
    return "msp_template"


@pytest.fixture(scope="session")
def redis_process():
    server = Redis().start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(redis_process):
    """The suite's Redis server, emptied for this test."""
    from redis import Redis as Client

    Client.from_url(redis_process.url).flushall()
    return redis_process


@pytest.fixture(scope="session")
def localstripe():
    server = LocalStripe().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium for the browser tests of every folder (tests/e2e/conftest.py
    has the settings): one per session, as Playwright's sync API runs only one at a time."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def _sqlite_url(sqlite_template, tmp_path) -> str:
    path = tmp_path / "test.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


class PgDatabase:
    def __init__(self, postgres, template: str) -> None:
        self.admin_url = postgres.url().replace("+psycopg", "")
        self.name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}" TEMPLATE "{template}"')
        self.url = postgres.url(self.name)

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class FreshContextClient(FlaskClient):
    """Each request runs in its own app context, as in production (no ``g`` shared with the
    test), and the test's session lets go of its transaction around it."""

    def open(self, *args, **kwargs):
        from models import db

        kwargs.setdefault("buffered", True)
        db.session.rollback()
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.rollback()
        return response


def _build(url: str, clock, **extra):
    from app import create_app
    from models import db

    app = create_app(_config(url, clock, **extra))
    app.test_client_class = FreshContextClient
    ctx = app.app_context()
    ctx.push()
    return app, ctx, db


def _explicit_begin(engine) -> None:
    """SQLite savepoints as SQLAlchemy documents them for pysqlite: the driver's own
    transaction handling off, and ``BEGIN`` sent when SQLAlchemy begins a transaction (the
    driver would begin one only before a write, so releasing the first savepoint would commit)."""

    @event.listens_for(engine, "connect")
    def no_driver_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def begin(connection):
        connection.exec_driver_sql("BEGIN")

    engine.dispose()


def _no_lock_waits(engine) -> None:
    """A test's sessions share one connection, which never waits for a lock of its own: a lock
    wait means a second connection (a test to mark ``fresh_database``), reported rather than
    waited for until the test's time runs out."""

    @event.listens_for(engine, "connect")
    def lock_timeout(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '60s'")
        dbapi_connection.commit()

    engine.dispose()


def _extension_settings() -> tuple:
    """What the app last built set on the extensions that keep settings of their own rather than
    per app (a production app turns on HTTPS redirects, another app counts sign-ins in Redis)."""
    from extensions import limiter, talisman

    return (
        type(limiter.storage),
        talisman.force_https,
        talisman.strict_transport_security,
        talisman.session_cookie_secure,
        talisman.content_security_policy,
    )


class SharedApp:
    """This test process's app on ``url`` (a migrated database of its own) with the settings
    ``extra``, built again when a test built an app of other settings since; ``prepare`` is
    called with each new app before its first request (to add views, say)."""

    def __init__(self, url: str, prepare=None, **extra) -> None:
        self.url = url
        self.prepare = prepare
        self.extra = extra
        self.app = None
        self.settings = None

    def get(self):
        if self.app is None or _extension_settings() != self.settings:
            self.close()
            self.app = self._build()
            self.settings = _extension_settings()
        return self.app

    def _build(self):
        from app import create_app
        from models import db

        app = create_app(_config(self.url, FixedClock(berlin(2026, 1, 1, 0, 0)), **self.extra))
        app.test_client_class = FreshContextClient
        if self.prepare is not None:
            self.prepare(app)
        with app.app_context():
            if db.engine.dialect.name == "sqlite":
                _explicit_begin(db.engine)
            else:
                _no_lock_waits(db.engine)
        app.initial_config = dict(app.config)
        return app

    def close(self) -> None:
        from models import db

        if self.app is not None:
            with self.app.app_context():
                db.engine.dispose()
            self.app = None


@contextmanager
def rolled_back(shared: SharedApp, clock):
    """The shared app inside an app context with ``clock``, every session of the test bound to
    one connection whose transaction is rolled back at the end; the configuration and the rate
    limiter's counters as they were."""
    from extensions import limiter
    from models import db

    app = shared.get()
    app.config.update(app.initial_config, CLOCK=clock)
    limiter.reset()
    sessions = db.session.session_factory
    with app.app_context(), db.engine.connect() as connection:
        transaction = connection.begin()
        sessions.configure(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield app
        finally:
            try:
                db.session.remove()
            finally:
                sessions.configure(bind=None)
                transaction.rollback()
                app.config.clear()
                app.config.update(app.initial_config)


def _fresh(request) -> bool:
    return request.node.get_closest_marker("fresh_database") is not None


@pytest.fixture(scope="session")
def sqlite_shared(sqlite_template, tmp_path_factory):
    """This test process's app on SQLite (see the module's docstring)."""
    path = tmp_path_factory.mktemp("shared") / "shared.db"
    shutil.copy(sqlite_template, path)
    shared = SharedApp(f"sqlite:///{path}")
    yield shared
    shared.close()


@pytest.fixture(scope="session")
def pg_shared(postgres, pg_template):
    """This test process's app on PostgreSQL (see the module's docstring)."""
    database = PgDatabase(postgres, pg_template)
    shared = SharedApp(database.url)
    yield shared
    shared.close()
    database.drop()


@pytest.fixture
def app(request, sqlite_template, tmp_path, clock):
    """The app on a migrated SQLite database, inside an app context; what the test writes is
    rolled back after it (a database of its own when marked ``fresh_database``)."""
    if not _fresh(request):
        with rolled_back(request.getfixturevalue("sqlite_shared"), clock) as app:
            yield app
        return
    app, ctx, db = _build(_sqlite_url(sqlite_template, tmp_path), clock)
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()


@pytest.fixture
def pg_app(request, postgres, pg_template, clock):
    """The app on a migrated PostgreSQL database, as ``app``."""
    if not _fresh(request):
        with rolled_back(request.getfixturevalue("pg_shared"), clock) as app:
            yield app
        return
    database = PgDatabase(postgres, pg_template)
    app, ctx, db = _build(database.url, clock)
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()
    database.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request, clock):
    """The app on each supported database in turn."""
    fixture = "app" if request.param == "sqlite" else "pg_app"
    return request.getfixturevalue(fixture)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def mail_on(app, smtp_sink):
    """Mail settings saved in the admin, pointing at the SMTP sink."""
    from billing.kernel.audit import SYSTEM
    from billing.kernel.mail import save_mail_settings

    save_mail_settings(
        "127.0.0.1",
        smtp_sink.port,
        "none",
        "",
        "",
        "MSP",
        "billing@msp.example",
        SYSTEM,
        app.config["CLOCK"],
    )
    return smtp_sink


STAFF_PASSWORD = "Correct-Horse-9"


def csrf_token(client, url: str = "/admin/login/") -> str:
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def make_staff(app, role: str, email: str | None = None):
    from billing.access.staff import create_staff

    return create_staff(email or f"{role}@staff.example", role, STAFF_PASSWORD, app.config["CLOCK"])


def sign_in(client, email: str, password: str = STAFF_PASSWORD):
    token = csrf_token(client)
    return client.post(
        "/admin/login/", data={"email": email, "password": password, "csrf_token": token}
    )


@pytest.fixture
def staff_client(app):
    """A client signed in as an ``admin``; ``staff_client.token`` is its CSRF token."""
    staff = make_staff(app, "admin")
    client = app.test_client()
    response = sign_in(client, staff.email)
    assert response.status_code == 302
    # any admin page carries the session's token; the (empty) saved views page is the quickest
    client.token = csrf_token(client, "/admin/saved-views/")
    return client
