"""Application factory: configuration, extensions, the admin site, the portal and CLI commands."""

from __future__ import annotations

import logging
import math
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from flask_babel import format_currency, format_date, format_datetime, format_decimal, get_locale
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from werkzeug.routing import IntegerConverter

from billing.kernel.clock import Clock, use_worker_clock
from extensions import (
    babel,
    csrf,
    db,
    limiter,
    login_manager,
    mail,
    migrate,
    rate_windows,
    select_locale,
    talisman,
)
from models import MAX_RECORD_ID

ROOT = Path(__file__).resolve().parent
WEAK_SECRETS = {"", "dev", "secret", "changeme", "change-me"}
# A random key of 32 hex characters has 128 bits. Its character frequencies estimate about
# 110, and in 300,000 generated keys never less than 87 bits or fewer than 8 characters.
MIN_SECRET_BITS = 72
MIN_SECRET_SYMBOLS = 6
# Every admin and portal page: scripts and style sheets only from this origin or carrying the
# request's nonce (no inline handlers, no eval); images may also be data: URIs (Bootstrap's CSS
# draws its form controls with them). The portal's payment page adds Stripe's hosts
# (``stripe_js=True`` on the view, sources from ``billing.payments.stripe_account.csp_sources``).
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "frame-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
# browsers report violations of the policy here (``admin_views.csp_report``: a log line each)
CSP_REPORT_URI = "/csp-report"


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _dev_secret(instance: Path) -> str:
    """The development secret key, generated once into the instance folder."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _dev_encryption_key(instance: Path) -> str:
    """The development encryption key for stored secrets, generated once."""
    from cryptography.fernet import Fernet

    path = instance / "encryption_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return path.read_text().strip()


def absolute_sqlite_url(url: str, base: Path) -> str:
    """A SQLite URL with a relative file (``sqlite:///instance/staging.db``) names that file
    from ``base`` (the working directory), as a shell user means it; Flask-SQLAlchemy would
    look for it inside the instance folder, where ``instance/instance/staging.db`` does not
    exist. Other URLs, absolute paths, in-memory databases and ``file:`` URIs stay as they are."""
    try:
        parsed = make_url(url)
    except ArgumentError:  # SQLAlchemy reports a bad URL when it connects
        return url
    database = parsed.database or ""
    if (
        parsed.get_backend_name() != "sqlite"
        or database in ("", ":memory:")
        or database.startswith("file:")
        or Path(database).is_absolute()
    ):
        return url
    return parsed.set(database=str(base / database)).render_as_string(hide_password=False)


def load_config(app: Flask, overrides: dict | None) -> None:
    """Configuration from environment variables (see the README table), then ``overrides``."""
    instance = Path(app.instance_path)
    app.config.update(environment_settings(os.environ, instance))
    if overrides:
        app.config.update(overrides)
    app.config["SQLALCHEMY_DATABASE_URI"] = absolute_sqlite_url(
        app.config["SQLALCHEMY_DATABASE_URI"], Path.cwd()
    )
    # Sign-in throttling counts in the app's Redis, shared by every web process; should Redis be
    # down, each process counts in memory instead of letting every attempt through.
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "msp-limits")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    check_secrets(app, instance)
    if "CLOCK" not in app.config:
        app.config["CLOCK"] = system_clock(app.config["APP_TIMEZONE"])
    use_worker_clock(system_clock(app.config["APP_TIMEZONE"]))


def environment_settings(env, instance: Path) -> dict:
    """The configuration the environment variables ``env`` give (defaults for the others)."""
    production = env.get("APP_ENV", "development") == "production"
    return dict(
        APP_ENV="production" if production else "development",
        SQLALCHEMY_DATABASE_URI=env.get("DATABASE_URL", f"sqlite:///{instance / 'msp.db'}"),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        REDIS_URL=env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        SECRET_KEY=env.get("SECRET_KEY", ""),
        ENCRYPTION_KEYS=env.get("ENCRYPTION_KEYS", ""),
        PUBLIC_URL=env.get("PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/"),
        STRIPE_API_BASE=env.get("STRIPE_API_BASE", ""),
        TRUSTED_PROXIES=int(env.get("TRUSTED_PROXIES", "1" if production else "0")),
        APP_TIMEZONE=env.get("APP_TIMEZONE", "Europe/Berlin"),
        HOME_COUNTRY=env.get("HOME_COUNTRY", "DE").upper(),
        CURRENCY=env.get("CURRENCY", "EUR").upper(),
        MAIL_SERVER=env.get("MAIL_SERVER", ""),
        MAIL_PORT=int(env.get("MAIL_PORT", "25")),
        MAIL_USE_TLS=_env_bool("MAIL_USE_TLS"),
        MAIL_USE_SSL=_env_bool("MAIL_USE_SSL"),
        MAIL_USERNAME=env.get("MAIL_USERNAME") or None,
        MAIL_PASSWORD=env.get("MAIL_PASSWORD") or None,
        PRODUCT_NAME=env.get("PRODUCT_NAME", "MSP Billing"),
        MAIL_DEFAULT_SENDER=env.get("MAIL_DEFAULT_SENDER", "MSP Billing <billing@localhost>"),
        MAIL_SINK_MAILDIR=env.get("MAIL_SINK_MAILDIR", ""),
        # a mail server saved in the admin may be on this machine or link-local only when the
        # operator allows it (development: a local mail sink)
        MAIL_ALLOW_LOCAL_HOSTS=_env_bool("MAIL_ALLOW_LOCAL_HOSTS", not production),
        PORT=int(env.get("PORT", "5000")),
        BABEL_DEFAULT_LOCALE="en",
        BABEL_DEFAULT_TIMEZONE=env.get("APP_TIMEZONE", "Europe/Berlin"),
        BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "translations"),
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        REMEMBER_COOKIE_SECURE=production,
        STAFF_SESSION_IDLE_MINUTES=int(env.get("STAFF_SESSION_IDLE_MINUTES", "30")),
        STAFF_SESSION_MAX_HOURS=int(env.get("STAFF_SESSION_MAX_HOURS", "12")),
        PORTAL_SESSION_IDLE_MINUTES=int(env.get("PORTAL_SESSION_IDLE_MINUTES", "60")),
        PORTAL_SESSION_MAX_HOURS=int(env.get("PORTAL_SESSION_MAX_HOURS", "24")),
        SIGN_IN_LIMIT_PER_IP=env.get("SIGN_IN_LIMIT_PER_IP", "10 per minute"),
        SIGN_IN_LIMIT_PER_ACCOUNT=env.get("SIGN_IN_LIMIT_PER_ACCOUNT", "5 per minute"),
        CSP_REPORT_LIMIT=env.get("CSP_REPORT_LIMIT", "30 per minute"),
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        # Flask-Admin would flash an exception's text (SQL included) on a failed save; raising
        # lets the generic error page with its correlation id answer instead
        FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION=True,
        RQ_ASYNC=True,
    )


def check_secrets(app: Flask, instance: Path) -> None:
    """Production needs a strong ``SECRET_KEY`` and ``ENCRYPTION_KEYS`` and no debug mode;
    development generates both keys once into the instance folder."""
    production = app.config["APP_ENV"] == "production"
    if not app.config["SECRET_KEY"]:
        if production:
            raise RuntimeError("SECRET_KEY must be set in production.")
        app.config["SECRET_KEY"] = _dev_secret(instance)
    if production:
        if not strong_secret(app.config["SECRET_KEY"]):
            raise RuntimeError("SECRET_KEY must be at least 32 random characters in production.")
        if app.debug:
            raise RuntimeError("Refusing to run in debug mode in production.")
    if not app.config["ENCRYPTION_KEYS"]:
        if production:
            raise RuntimeError("ENCRYPTION_KEYS must be set in production.")
        app.config["ENCRYPTION_KEYS"] = _dev_encryption_key(instance)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


class RecordIdConverter(IntegerConverter):
    """``<int:…>`` in every route: a record id, so ASCII digits up to ``MAX_RECORD_ID``. A
    larger number answers 404 like any id without a record, instead of reaching the database
    (PostgreSQL refuses it as out of range), and so do other scripts' digits (``١``), which
    would otherwise name the same record as ``1`` under a second address."""

    regex = r"[0-9]+"

    def __init__(self, url_map, fixed_digits=0, min=None, max=MAX_RECORD_ID, signed=False):  # noqa: A002
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def register_routing(app: Flask) -> None:
    app.url_map.converters["int"] = RecordIdConverter


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    mail.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals.update(
        get_locale=get_locale,
        format_currency=format_currency,
        format_date=format_date,
        format_decimal=format_decimal,
        format_datetime=format_datetime,
    )
    login_manager.init_app(app)
    limiter.init_app(app)
    app.extensions["rate_windows"] = rate_windows
    from billing.payments.stripe_account import csp_sources

    production = app.config["APP_ENV"] == "production"
    talisman.init_app(
        app,
        force_https=production,
        strict_transport_security=production,
        session_cookie_secure=production,
        session_cookie_http_only=True,
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
        content_security_policy=CONTENT_SECURITY_POLICY,
        content_security_policy_nonce_in=["script-src", "style-src"],
        content_security_policy_report_uri=CSP_REPORT_URI,
        stripe_sources=csp_sources,
    )


def register_auth(app: Flask) -> None:
    from flask_login import user_logged_in

    from admin_views.auth import load_principal, start_session

    login_manager.user_loader(load_principal)
    user_logged_in.connect(start_session, app)
    login_manager.login_view = "admin.login_view"
    login_manager.blueprint_login_views = {"portal": "portal.login"}
    login_manager.session_protection = "strong"


def register_admin(app: Flask) -> None:
    from admin_views import build_admin

    build_admin(app)


def register_portal(app: Flask) -> None:
    from portal import bp
    from portal.webhooks import bp as webhooks

    app.register_blueprint(bp)
    csrf.exempt(webhooks)
    app.register_blueprint(webhooks)
    from admin_views.csp_report import bp as csp_reports

    csrf.exempt(csp_reports)
    app.register_blueprint(csp_reports)


def register_errors(app: Flask) -> None:
    from admin_views.errors import register_error_handlers

    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    from cli import COMMANDS

    for command in COMMANDS:
        app.cli.add_command(command)


def system_time() -> datetime:
    """The system time: the one place the product reads it (billing takes it from a clock)."""
    return datetime.now(UTC)


def system_clock(timezone: str = "Europe/Berlin") -> Clock:
    """The running clock: the system time, dates in ``timezone``."""
    return Clock(timezone, system_time)


def strong_secret(key: str) -> bool:
    """At least 32 characters, not a placeholder, and random-looking: at least 6 different
    characters, not one piece repeated, and at least 72 bits estimated from the frequency of
    its characters (``"x" * 64`` has none, ``"ab" * 20`` 40)."""
    if len(key) < 32 or key.lower() in WEAK_SECRETS or len(set(key)) < MIN_SECRET_SYMBOLS:
        return False
    if (key + key).find(key, 1) < len(key):
        return False  # a repetition of a shorter piece
    counts = [key.count(symbol) for symbol in set(key)]
    bits = -sum(n * math.log2(n / len(key)) for n in counts)
    return bits >= MIN_SECRET_BITS


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(ROOT / "instance"), static_folder="static")
    load_config(app, overrides)
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    register_routing(app)
    register_extensions(app)
    register_auth(app)
    register_admin(app)
    register_portal(app)
    register_errors(app)
    register_commands(app)

    @app.get("/")
    def root():
        from flask import redirect, url_for

        return redirect(url_for("admin.index"))

    @app.get("/favicon.ico")
    def favicon():
        from flask import send_from_directory

        return send_from_directory(app.static_folder, "favicon.ico", max_age=86400)

    return app
