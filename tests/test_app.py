"""The application factory, configuration and migrations (issue: foundation; SPEC §13)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import inspect

from app import create_app
from models import Base, db
from models.base import include_in_autogenerate
from tests.conftest import STRONG_SECRET


@pytest.mark.fresh_database
def test_factory_builds_independent_apps(app, tmp_path, clock):
    other = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k" * 40,
            "CLOCK": clock,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'other.db'}",
        }
    )
    assert other is not app
    assert other.extensions["admin"][0] is not app.extensions["admin"][0]


def test_production_refuses_to_start_without_a_strong_secret(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()
    monkeypatch.setenv("SECRET_KEY", "changeme")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_to_start_without_encryption_keys(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.delenv("ENCRYPTION_KEYS", raising=False)
    with pytest.raises(RuntimeError, match="ENCRYPTION_KEYS"):
        create_app()


def test_production_cookies_are_secure(monkeypatch, tmp_path):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    prod = create_app()
    assert prod.config["SESSION_COOKIE_SECURE"] is True
    assert prod.config["SESSION_COOKIE_HTTPONLY"] is True
    assert prod.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_environment_configuration(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6399/3")
    monkeypatch.setenv("APP_TIMEZONE", "Europe/Vienna")
    monkeypatch.setenv("HOME_COUNTRY", "at")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example")
    monkeypatch.setenv("MAIL_PORT", "2525")
    configured = create_app({"SECRET_KEY": "k" * 40})
    assert configured.config["SQLALCHEMY_DATABASE_URI"].endswith("env.db")
    assert configured.config["REDIS_URL"] == "redis://127.0.0.1:6399/3"
    assert configured.config["APP_TIMEZONE"] == "Europe/Vienna"
    assert configured.config["HOME_COUNTRY"] == "AT"
    assert configured.config["MAIL_PORT"] == 2525
    assert str(configured.config["CLOCK"].tz) == "Europe/Vienna"


def test_migrations_create_every_model_table(any_app):
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrations_match_the_models(any_app):
    """Autogenerate finds nothing to do: every schema change has a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_in_autogenerate})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_security_headers(client):
    """SPEC §13: secure headers on every page (the CSP is checked in tests/security/)."""
    response = client.get("/admin/login/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.status_code == 200
