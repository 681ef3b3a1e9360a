"""Sign-in, roles and CSRF on the admin (SPEC §1, §13)."""

from __future__ import annotations

import pytest

from tests import factories
from tests.conftest import STAFF_PASSWORD, csrf_token, make_staff, sign_in


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/customer/",
        "/admin/customer/details/?id=1",
        "/admin/customer/export/json/",
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/admin/login/" in response.headers["Location"]


@pytest.mark.parametrize("role", ["admin", "billing", "support"])
def test_every_staff_role_reads_the_customer_list(app, role):
    staff = make_staff(app, role)
    client = app.test_client()
    assert sign_in(client, staff.email).status_code == 302
    assert client.get("/admin/customer/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_wrong_password_and_unknown_user_show_the_same_message(app, client):
    make_staff(app, "admin", "boss@staff.example")
    wrong = sign_in(client, "boss@staff.example", "nope-nope-nope")
    unknown = sign_in(client, "ghost@staff.example", STAFF_PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert "Invalid e-mail or password." in response.get_data(as_text=True)


def test_sign_in_without_csrf_token_is_refused(app, client):
    make_staff(app, "admin", "boss@staff.example")
    response = client.post(
        "/admin/login/", data={"email": "boss@staff.example", "password": STAFF_PASSWORD}
    )
    assert response.status_code == 400
    assert client.get("/admin/customer/").status_code == 302


def test_sign_in_gives_a_fresh_session(app, client):
    make_staff(app, "admin", "boss@staff.example")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    sign_in(client, "boss@staff.example")
    with client.session_transaction() as session:
        assert "planted" not in session


def test_sign_out_ends_the_session_even_for_a_copied_cookie(app, staff_client):
    """SPEC §13: logout that really ends the session."""
    cookie = staff_client.get_cookie("session").value
    response = staff_client.post("/admin/logout/", data={"csrf_token": staff_client.token})
    assert response.status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/admin/customer/").status_code == 302


def test_sign_out_needs_post_with_csrf(staff_client):
    assert staff_client.get("/admin/logout/").status_code == 405
    assert staff_client.post("/admin/logout/").status_code == 400
    assert staff_client.get("/admin/customer/").status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
    ],
)
def test_sign_in_never_redirects_off_site(app, client, target):
    make_staff(app, "admin", "boss@staff.example")
    token = csrf_token(client)
    response = client.post(
        f"/admin/login/?next={target}",
        data={"email": "boss@staff.example", "password": STAFF_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_sign_in_returns_to_the_requested_local_page(app, client):
    make_staff(app, "admin", "boss@staff.example")
    token = csrf_token(client)
    response = client.post(
        "/admin/login/?next=/admin/customer/?flt0_status_equals=active",
        data={"email": "boss@staff.example", "password": STAFF_PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/admin/customer/?flt0_status_equals=active"


def test_customer_users_never_reach_the_admin(app):
    """SPEC §1: customer users can never reach /admin."""
    factories.reference(app)
    created = factories.customer(app)
    user = created.users[0]
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    for url in ("/admin/", "/admin/customer/", "/admin/customer/export/json/"):
        response = client.get(url)
        assert response.status_code in (302, 403)
        if response.status_code == 302:
            assert "/admin/login/" in response.headers["Location"]


def test_disabling_a_staff_member_ends_their_session(app, staff_client):
    from models import StaffUser, db

    staff = db.session.scalar(db.select(StaffUser))
    staff.active = False
    db.session.commit()
    assert staff_client.get("/admin/customer/").status_code == 302


def test_unknown_pages_get_a_friendly_404(staff_client):
    response = staff_client.get("/admin/no-such-page/")
    assert response.status_code == 404
    assert "does not exist" in response.get_data(as_text=True)


def test_staff_sign_in_is_throttled_per_account_and_recovers(app, monkeypatch):
    """SPEC §13 / issue 8 item 3: five failed sign-ins for one staff address (any case) lock it
    for a minute with a 429; the real password works again after the window."""
    import time

    import limits.storage.memory

    make_staff(app, "billing", "bob@staff.example")
    attacker = app.test_client()
    for email in ["bob@staff.example", "BOB@staff.example"] * 2 + ["Bob@Staff.example"]:
        assert sign_in(attacker, email, "wrong-password").status_code == 200
    assert sign_in(attacker, "bob@staff.example", "wrong-password").status_code == 429
    assert sign_in(app.test_client(), "bob@staff.example").status_code == 429

    class Later:
        @staticmethod
        def time():
            return time.time() + 61

    monkeypatch.setattr(limits.storage.memory, "time", Later)
    assert sign_in(app.test_client(), "bob@staff.example").status_code == 302
