"""Portal: invite acceptance and sign-in (SPEC §4 Register from invite, §10, §13)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.customers import lifecycle, onboarding
from billing.customers.onboarding import NewCustomer
from billing.kernel.audit import SYSTEM
from billing.kernel.mail import save_mail_settings
from models import Customer, db
from tests.conftest import csrf_token


@pytest.fixture
def invited(app, smtp_sink):
    clock = app.config["CLOCK"]
    save_mail_settings(
        "127.0.0.1", smtp_sink.port, "none", "", "", "MSP", "b@msp.example", SYSTEM, clock
    )
    customer, message = onboarding.invite_customer(
        NewCustomer(company_name="ACME", contact_name="Ann", contact_email="ann@acme.example"),
        SYSTEM,
        clock,
    )
    token = message.text.split("/portal/invite/")[1].split()[0]
    return customer, token


def test_invite_page_sets_the_password_once(app, client, invited):
    customer, token = invited
    page = client.get(f"/portal/invite/{token}")
    assert page.status_code == 200 and "ann@acme.example" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    form = {
        "csrf_token": csrf_token(client, f"/portal/invite/{token}"),
        "password": "Brand-New-Pass-1",
        "password_again": "Brand-New-Pass-1",
    }
    response = client.post(f"/portal/invite/{token}", data=form)
    assert response.status_code == 302 and "/portal/login" in response.headers["Location"]
    assert db.session.get(Customer, customer.id).status == "inactive"
    used = client.get(f"/portal/invite/{token}")
    assert used.status_code == 404 and "already been used" in used.get_data(as_text=True)


def test_mismatching_passwords_keep_the_invite(app, client, invited):
    _customer, token = invited
    form = {
        "csrf_token": csrf_token(client, f"/portal/invite/{token}"),
        "password": "Brand-New-Pass-1",
        "password_again": "Brand-New-Pass-2",
    }
    page = client.post(f"/portal/invite/{token}", data=form)
    assert page.status_code == 200 and "do not match" in page.get_data(as_text=True)
    assert client.get(f"/portal/invite/{token}").status_code == 200


def test_expired_invite_page(app, client, invited):
    _customer, token = invited
    clock = app.config["CLOCK"]
    app.config["CLOCK"] = type(clock)(clock.now() + timedelta(days=8))
    page = client.get(f"/portal/invite/{token}")
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)


@pytest.mark.parametrize("token", ["bogus", "x" * 500, "..%2f..%2fetc"])
def test_unknown_tokens(client, token):
    assert client.get(f"/portal/invite/{token}").status_code == 404


def test_a_token_with_a_nul_byte_is_refused(client):
    """SPEC §13: a NUL byte in the link is refused before the token is looked up."""
    page = client.get("/portal/invite/ab%00cd")
    assert page.status_code == 400
    assert "contains characters that cannot be processed" in page.get_data(as_text=True)


def _register_and_sign_in(app, client, token):
    client.post(
        f"/portal/invite/{token}",
        data={
            "csrf_token": csrf_token(client, f"/portal/invite/{token}"),
            "password": "Brand-New-Pass-1",
            "password_again": "Brand-New-Pass-1",
        },
    )
    return client.post(
        "/portal/login",
        data={
            "csrf_token": csrf_token(client, "/portal/login"),
            "email": "ANN@acme.example",
            "password": "Brand-New-Pass-1",
        },
    )


def test_registered_user_signs_in(app, client, invited):
    _customer, token = invited
    response = _register_and_sign_in(app, client, token)
    assert response.status_code == 302
    home = client.get("/portal/")
    assert home.status_code == 200 and "ACME" in home.get_data(as_text=True)


def test_wrong_password_same_message(app, client, invited):
    _customer, token = invited
    _register_and_sign_in(app, client, token)
    other = app.test_client()
    for email, password in (
        ("ann@acme.example", "wrong-password"),
        ("nobody@acme.example", "Brand-New-Pass-1"),
    ):
        page = other.post(
            "/portal/login",
            data={
                "csrf_token": csrf_token(other, "/portal/login"),
                "email": email,
                "password": password,
            },
        )
        assert "Invalid e-mail or password." in page.get_data(as_text=True)


LOCKED = "Your company&#39;s account is locked, so you cannot sign in."
SIGNED_OUT_LOCKED = "You have been signed out because your company&#39;s account is locked."


def _sign_in_page(client, email: str, password: str) -> str:
    return client.post(
        "/portal/login",
        data={
            "csrf_token": csrf_token(client, "/portal/login"),
            "email": email,
            "password": password,
        },
    ).get_data(as_text=True)


def test_locking_the_customer_ends_portal_sessions_and_says_why(app, client, invited):
    """SPEC §4 Lock: no user of the customer can log in, existing sessions end; issue 14 (6):
    the sign-in page says the session ended because of the lock, and the right password is
    told the account is locked (a wrong one and an unknown address learn nothing)."""
    customer, token = invited
    _register_and_sign_in(app, client, token)
    assert client.get("/portal/").status_code == 200
    lifecycle.set_locked(customer.id, True, SYSTEM, app.config["CLOCK"])
    ended = client.get("/portal/account", follow_redirects=True)
    assert ended.request.path == "/portal/login"
    assert SIGNED_OUT_LOCKED in ended.get_data(as_text=True)
    assert SIGNED_OUT_LOCKED not in client.get("/portal/login").get_data(as_text=True)
    page = _sign_in_page(client, "ann@acme.example", "Brand-New-Pass-1")
    assert LOCKED in page and "Invalid e-mail or password." not in page
    for email, password in (
        ("ann@acme.example", "wrong-password"),
        ("nobody@acme.example", "Brand-New-Pass-1"),
    ):
        page = _sign_in_page(app.test_client(), email, password)
        assert "Invalid e-mail or password." in page and "locked" not in page
    lifecycle.set_locked(customer.id, False, SYSTEM, app.config["CLOCK"])
    assert (
        "/portal/"
        in client.post(
            "/portal/login",
            data={
                "csrf_token": csrf_token(client, "/portal/login"),
                "email": "ann@acme.example",
                "password": "Brand-New-Pass-1",
            },
        ).headers["Location"]
    )


def test_the_lock_is_explained_in_german(app, client, invited):
    """Issue 14 (6): both messages in the user's language."""
    customer, token = invited
    _register_and_sign_in(app, client, token)
    client.post(
        "/portal/language", data={"csrf_token": csrf_token(client, "/portal/"), "language": "de"}
    )
    lifecycle.set_locked(customer.id, True, SYSTEM, app.config["CLOCK"])
    ended = client.get("/portal/", follow_redirects=True).get_data(as_text=True)
    assert "Sie wurden abgemeldet, weil das Konto Ihres Unternehmens gesperrt ist." in ended
    page = _sign_in_page(client, "ann@acme.example", "Brand-New-Pass-1")
    assert "Das Konto Ihres Unternehmens ist gesperrt" in page


def test_portal_sign_out_ends_a_copied_session(app, client, invited):
    _customer, token = invited
    _register_and_sign_in(app, client, token)
    cookie = client.get_cookie("session").value
    client.post("/portal/logout", data={"csrf_token": csrf_token(client, "/portal/")})
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/portal/").status_code == 302
