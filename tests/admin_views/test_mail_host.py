"""The mail server an admin saves may not point at the app's own machine or a link-local
address (issue 13, review note): a loopback address reaches the local services (Redis, the
database) and a link-local one a cloud's metadata service. Host names are resolved and every
address they resolve to is checked, on save and again before each delivery; the operator can
allow such hosts (``MAIL_ALLOW_LOCAL_HOSTS``, on in development, the demo and the tests)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from billing.kernel.audit import SYSTEM
from billing.kernel.errors import DomainError
from billing.kernel.mail import compose, deliver, load_mail_settings, save_mail_settings
from models import EmailLog, EmailState, db
from tests.conftest import csrf_token, make_staff, sign_in

REFUSED = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "localhost",
    "::1",
    "::ffff:127.0.0.1",
    "169.254.169.254",
    "fe80::1",
    "0.0.0.0",
]
ALLOWED = ["192.0.2.25", "10.1.2.3", "2001:db8::25", "smtp.does-not-resolve.invalid"]


def _form(client, host: str, port: str = "25") -> dict:
    return {
        "csrf_token": client.token,
        "host": host,
        "port": port,
        "tls_mode": "none",
        "username": "",
        "password": "",
        "sender_name": "MSP",
        "sender_address": "billing@msp.example",
    }


@pytest.fixture
def production_like(app):
    """The production default: local hosts not allowed."""
    app.config["MAIL_ALLOW_LOCAL_HOSTS"] = False
    client = app.test_client()
    assert sign_in(client, make_staff(app, "admin").email).status_code == 302
    client.token = csrf_token(client, "/admin/")
    return client


@pytest.mark.parametrize("host", REFUSED)
def test_a_local_or_link_local_mail_server_is_refused(app, production_like, host):
    response = production_like.post(
        "/admin/settings/mail/", data=_form(production_like, host, "6379")
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "points to this machine or a link-local address" in page
    assert "MAIL_ALLOW_LOCAL_HOSTS" in page
    assert load_mail_settings().host != host


@pytest.mark.parametrize("host", ALLOWED)
def test_other_mail_servers_are_saved(app, production_like, host):
    response = production_like.post("/admin/settings/mail/", data=_form(production_like, host))
    assert response.status_code == 302
    assert load_mail_settings().host == host


def test_the_message_in_german(app, production_like):
    production_like.post(
        "/admin/language/", data={"csrf_token": production_like.token, "language": "de"}
    )
    response = production_like.post(
        "/admin/settings/mail/", data=_form(production_like, "169.254.169.254")
    )
    assert "verweist auf diesen Rechner oder eine Link-Local-Adresse" in response.get_data(
        as_text=True
    )


def test_the_operator_setting_allows_local_hosts(app):
    """Development, the demo and the tests send to a mail sink on 127.0.0.1."""
    assert app.config["MAIL_ALLOW_LOCAL_HOSTS"] is True
    settings = save_mail_settings(
        "127.0.0.1", 8025, "none", "", "", "MSP", "b@msp.example", SYSTEM, app.config["CLOCK"]
    )
    assert settings.host == "127.0.0.1"


def test_production_refuses_local_hosts_by_default(monkeypatch, tmp_path):
    from app import create_app
    from tests.conftest import STRONG_SECRET

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    assert create_app().config["MAIL_ALLOW_LOCAL_HOSTS"] is False
    monkeypatch.setenv("MAIL_ALLOW_LOCAL_HOSTS", "1")
    assert create_app().config["MAIL_ALLOW_LOCAL_HOSTS"] is True


def test_delivery_checks_the_saved_host_again(app, smtp_sink):
    """A name that resolved elsewhere when it was saved (or settings saved while local hosts
    were allowed) is checked before each delivery: the message fails with the reason logged."""
    clock = app.config["CLOCK"]
    save_mail_settings(
        "localhost", smtp_sink.port, "none", "", "", "MSP", "b@msp.example", SYSTEM, clock
    )
    app.config["MAIL_ALLOW_LOCAL_HOSTS"] = False
    message = compose("test", "ops@msp.example", "en", clock, product="MSP", sender="x")
    with pytest.raises(DomainError):
        deliver(message, clock)
    log = db.session.get(EmailLog, message.log_id)
    assert log.state == EmailState.FAILED.value and log.error == "host_refused"
    assert smtp_sink.messages == []
