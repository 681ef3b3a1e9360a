"""Sessions end for real (SPEC §13 "logout that really ends the session, secure cookies";
issue 8 item 2): a copied session cookie stops working after sign-out, a password change,
disabling the account, locking or deleting the customer; every sign-in starts a new session;
idle and absolute lifetimes end sessions by the app's clock; the cookie flags are right."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from billing.customers import lifecycle
from models import Customer, db
from seed.demo import CUSTOMER_PASSWORD
from tests.conftest import _build, _config, csrf_token, sign_in
from tests.security.conftest import STAFF_LOGINS, portal_signed_in, staff_signed_in

NEW_PASSWORD = "Brand-New-Secret-42"


def _thief(app, victim):
    """Another browser holding a copy of ``victim``'s session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", victim.get_cookie("session").value)
    return thief


def _staff_signed_out(response) -> bool:
    return response.status_code == 302 and response.location.startswith("/admin/login/")


def _portal_signed_out(response) -> bool:
    return response.status_code == 302 and response.location.startswith("/portal/login")


# --- staff ------------------------------------------------------------------------------------


def _staff_sign_out(app, client):
    client.post("/admin/logout/", data={"csrf_token": client.token})


def _staff_password_change(app, client):
    result = app.test_cli_runner().invoke(
        args=["staff", "set-password", STAFF_LOGINS["billing"][0], "--password", NEW_PASSWORD]
    )
    assert result.exit_code == 0, result.output


def _staff_disabled(app, client):
    result = app.test_cli_runner().invoke(args=["staff", "disable", STAFF_LOGINS["billing"][0]])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "end", [_staff_sign_out, _staff_password_change, _staff_disabled], ids=lambda f: f.__name__
)
def test_a_copied_staff_cookie_stops_working(demo_app, end):
    """SPEC §13: sign-out, a new password (``flask staff set-password``) and disabling the
    account (``flask staff disable``) end every session, including a copied cookie."""
    client = staff_signed_in(demo_app, "billing")
    thief = _thief(demo_app, client)
    assert thief.get("/admin/customer/").status_code == 200, "the copy works before"
    end(demo_app, client)
    assert _staff_signed_out(thief.get("/admin/customer/"))
    assert _staff_signed_out(client.get("/admin/customer/"))


def test_a_staff_member_signs_in_with_the_new_password_only(demo_app):
    email, old = STAFF_LOGINS["billing"]
    _staff_password_change(demo_app, None)
    assert sign_in(demo_app.test_client(), email, old).status_code == 200
    assert sign_in(demo_app.test_client(), email, NEW_PASSWORD).status_code == 302


def test_a_disabled_staff_member_cannot_sign_in_until_enabled(demo_app):
    email, password = STAFF_LOGINS["billing"]
    _staff_disabled(demo_app, None)
    assert sign_in(demo_app.test_client(), email, password).status_code == 200
    runner = demo_app.test_cli_runner()
    assert runner.invoke(args=["staff", "enable", email]).exit_code == 0
    assert sign_in(demo_app.test_client(), email, password).status_code == 302
    unknown = runner.invoke(args=["staff", "disable", "nobody@staff.example"])
    assert unknown.exit_code != 0 and "no staff account" in unknown.output


# --- portal -----------------------------------------------------------------------------------


def _portal_sign_out(app, client, staff):
    client.post("/portal/logout", data={"csrf_token": client.token})


def _portal_password_change(app, client, staff):
    response = client.post(
        "/portal/account/password",
        data={
            "csrf_token": client.token,
            "current_password": CUSTOMER_PASSWORD,
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302


def _portal_user_disabled(app, client, staff):
    main = portal_signed_in(app, app.demo.customer_email)
    user_id = app.demo.ids["user_id"]
    response = main.post(f"/portal/team/{user_id}/disable", data={"csrf_token": main.token})
    assert response.status_code == 302


def _customer_locked(app, client, staff):
    customer_id = app.demo.ids["customer_id"]
    version = db.session.get(Customer, customer_id).version
    response = staff.post(
        f"/admin/customer/{customer_id}/lock/",
        data={"csrf_token": staff.token, "version": version, "locked": "y"},
    )
    assert response.status_code == 302
    assert db.session.get(Customer, customer_id).locked


def _customer_deleted(app, client, staff):
    customer_id = app.demo.ids["customer_id"]
    version = db.session.get(Customer, customer_id).version
    response = staff.post(
        f"/admin/customer/{customer_id}/delete/",
        data={"csrf_token": staff.token, "version": version, "confirmation": "DELETE"},
    )
    assert response.status_code == 302
    assert db.session.get(Customer, customer_id).marked_for_deletion_at is not None


@pytest.mark.parametrize(
    "end",
    [
        _portal_sign_out,
        _portal_password_change,
        _portal_user_disabled,
        _customer_locked,
        _customer_deleted,
    ],
    ids=lambda f: f.__name__,
)
def test_a_copied_portal_cookie_stops_working(demo_app, end):
    """SPEC §4, §10, §13: sign-out, a password change, a disabled team user, a locked customer
    and a customer marked for deletion end the portal session, including a copied cookie."""
    staff = staff_signed_in(demo_app, "admin")
    member = portal_signed_in(demo_app, demo_app.demo.member_email, "Member-Pass-12")
    if end is _portal_password_change:
        member = portal_signed_in(demo_app, demo_app.demo.customer_email)
    thief = _thief(demo_app, member)
    assert thief.get("/portal/").status_code == 200, "the copy works before"
    end(demo_app, member, staff)
    assert _portal_signed_out(thief.get("/portal/"))
    if end is _portal_password_change:
        assert member.get("/portal/").status_code == 200, "the changing browser goes on"
    else:
        assert _portal_signed_out(member.get("/portal/"))


# --- a new session at every sign-in -----------------------------------------------------------


@pytest.mark.parametrize("where", ["admin", "portal"])
def test_sign_in_starts_a_new_session(demo_app, where):
    """Session fixation: whatever the browser carried before signing in (e.g. a cookie an
    attacker planted) is dropped, and each sign-in gets a new random session id."""
    client = demo_app.test_client()
    with client.session_transaction() as session:
        session["_sid"] = "chosen-by-the-attacker"
        session["planted"] = "by an attacker"
    before = client.get_cookie("session").value
    ids = []
    for _attempt in range(2):
        if where == "admin":
            email, password = STAFF_LOGINS["support"]
            assert sign_in(client, email, password).status_code == 302
        else:
            assert _portal_sign_in_response(demo_app, client).status_code == 302
        with client.session_transaction() as session:
            assert "planted" not in session
            ids.append(session["_sid"])
        if where == "admin":
            client.post("/admin/logout/", data={"csrf_token": csrf_token(client, "/admin/")})
        else:
            client.post("/portal/logout", data={"csrf_token": csrf_token(client, "/portal/")})
    assert "chosen-by-the-attacker" not in ids and len(set(ids)) == 2 and all(ids)
    stale = demo_app.test_client()
    stale.set_cookie("session", before)
    home = "/admin/customer/" if where == "admin" else "/portal/"
    assert stale.get(home).status_code == 302, "the cookie from before sign-in grants nothing"


# --- lifetimes --------------------------------------------------------------------------------

LIFETIMES = {
    # where: (sign in, a page, idle minutes, absolute hours, signed out?)
    "admin": (lambda app: staff_signed_in(app, "billing"), "/admin/customer/", 30, 12),
    "portal": (
        lambda app: portal_signed_in(app, app.demo.customer_email),
        "/portal/",
        60,
        24,
    ),
}


def _signed_out(where, response) -> bool:
    return _staff_signed_out(response) if where == "admin" else _portal_signed_out(response)


@pytest.mark.parametrize("where", LIFETIMES)
def test_an_idle_session_ends(demo_app, where):
    """Issue 8 item 2: 30 minutes without a request end a staff session, 60 a portal session
    (``*_SESSION_IDLE_MINUTES``); each request starts the idle time again."""
    start, page, idle, _hours = LIFETIMES[where]
    clock = demo_app.config["CLOCK"]
    client = start(demo_app)
    for _step in range(3):
        clock.instant += timedelta(minutes=idle - 1)
        assert client.get(page).status_code == 200
    clock.instant += timedelta(minutes=idle, seconds=1)
    response = client.get(page)
    assert _signed_out(where, response)
    expired = client.get(response.location).get_data(as_text=True)
    assert "Your session has expired" in expired or "Ihre Sitzung ist abgelaufen" in expired
    clock.instant += timedelta(minutes=1)
    assert _signed_out(where, client.get(page)), "and it stays ended"


@pytest.mark.parametrize("where", LIFETIMES)
def test_a_session_ends_after_its_absolute_lifetime(demo_app, where):
    """Issue 8 item 2: a busy session still ends 12 hours (staff) or 24 hours (portal) after
    signing in (``*_SESSION_MAX_HOURS``)."""
    start, page, idle, hours = LIFETIMES[where]
    clock = demo_app.config["CLOCK"]
    signed_in_at = clock.instant
    client = start(demo_app)
    while clock.instant + timedelta(minutes=idle - 1) <= signed_in_at + timedelta(hours=hours):
        clock.instant += timedelta(minutes=idle - 1)
        assert client.get(page).status_code == 200
    clock.instant = signed_in_at + timedelta(hours=hours, seconds=1)
    assert _signed_out(where, client.get(page))


def test_lifetimes_come_from_the_configuration(demo_app):
    """The lifetimes are settings (README, Configuration)."""
    demo_app.config["STAFF_SESSION_IDLE_MINUTES"] = 5
    clock = demo_app.config["CLOCK"]
    client = staff_signed_in(demo_app, "billing")
    clock.instant += timedelta(minutes=6)
    assert _staff_signed_out(client.get("/admin/customer/"))


# --- cookie flags -----------------------------------------------------------------------------


def _session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, "the sign-in sets the session cookie"
    return cookies[-1]


def _flags(cookie: str) -> set[str]:
    return {part.strip().lower() for part in cookie.split(";")[1:]}


def test_cookies_are_http_only_and_same_site_lax_in_local_development(demo_app):
    """SPEC §13: the session cookie is out of reach of scripts and not sent by cross-site
    requests; plain-HTTP local development cannot use ``Secure``."""
    email, password = STAFF_LOGINS["admin"]
    for response in (
        sign_in(demo_app.test_client(), email, password),
        _portal_sign_in_response(demo_app),
    ):
        flags = _flags(_session_cookie(response))
        assert {"httponly", "samesite=lax"} <= flags
        assert "secure" not in flags


def _portal_sign_in_response(app, client=None):
    client = client or app.test_client()
    return client.post(
        "/portal/login",
        data={
            "csrf_token": csrf_token(client, "/portal/login"),
            "email": app.demo.customer_email,
            "password": CUSTOMER_PASSWORD,
        },
    )


def test_production_cookies_are_secure_http_only_and_same_site_lax(demo_app, monkeypatch, tmp_path):
    """SPEC §13: in production (``APP_ENV=production``, HTTPS) the session cookie set at
    staff and portal sign-in carries ``Secure``, ``HttpOnly`` and ``SameSite=Lax``."""
    monkeypatch.setenv("APP_ENV", "production")
    url = demo_app.config["SQLALCHEMY_DATABASE_URI"]
    clock = demo_app.config["CLOCK"]
    config = _config(url, clock, ENCRYPTION_KEYS=Fernet.generate_key().decode())
    assert config["SECRET_KEY"] and len(config["SECRET_KEY"]) >= 32
    prod, ctx, _db = _build(url, clock, ENCRYPTION_KEYS=config["ENCRYPTION_KEYS"])
    try:
        prod.demo = demo_app.demo
        email, password = STAFF_LOGINS["admin"]
        staff = prod.test_client()
        token = csrf_token_https(staff, "/admin/login/")
        staff_response = staff.post(
            "/admin/login/",
            data={"email": email, "password": password, "csrf_token": token},
            base_url="https://localhost",
            headers={"Referer": "https://localhost/admin/login/"},
        )
        portal = prod.test_client()
        portal_response = portal.post(
            "/portal/login",
            data={
                "csrf_token": csrf_token_https(portal, "/portal/login"),
                "email": prod.demo.customer_email,
                "password": CUSTOMER_PASSWORD,
            },
            base_url="https://localhost",
            headers={"Referer": "https://localhost/portal/login"},
        )
        for response in (staff_response, portal_response):
            assert response.status_code == 302
            assert {"secure", "httponly", "samesite=lax"} <= _flags(_session_cookie(response))
        plain = prod.test_client().get("/admin/login/")
        assert plain.status_code in (301, 302) and plain.location.startswith("https://")
    finally:
        db.session.remove()
        ctx.pop()


def csrf_token_https(client, url: str) -> str:
    import re

    html = client.get(url, base_url="https://localhost").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_locked_customer_users_cannot_sign_in_again(demo_app):
    """SPEC §4 "Account locked": a locked customer's users cannot sign in (and are told why,
    issue 14)."""
    customer_id = demo_app.demo.ids["customer_id"]
    from billing.kernel.audit import SYSTEM

    lifecycle.set_locked(customer_id, True, SYSTEM, demo_app.config["CLOCK"])
    response = _portal_sign_in_response(demo_app)
    assert response.status_code == 200
    assert "account is locked" in response.get_data(as_text=True)
