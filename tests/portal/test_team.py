"""The team page: invite, enable/disable, resend and withdraw invites (seed 3.1, SPEC §10)."""

from __future__ import annotations

import pytest

from billing import team as team_rules
from billing.audit import Actor
from billing.errors import DomainError
from models import AuditEvent, User, db
from tests import factories
from tests.conftest import csrf_token
from tests.portal.helpers import (
    MEMBER_PASSWORD,
    add_member,
    link_in,
    sign_in,
    signed_in,
)


@pytest.fixture
def acme(app, mail_on):
    return factories.customer(app, company="ACME", email="ann@acme.example")


def _user(email: str) -> User:
    db.session.rollback()
    return db.session.scalar(db.select(User).where(db.func.lower(User.email) == email.lower()))


def _invite(client, email, name="Bob Builder"):
    return client.post(
        "/portal/team", data={"csrf_token": client.token, "email": email, "name": name}
    )


def _actions(action: str) -> int:
    return db.session.scalar(
        db.select(db.func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def test_team_lists_the_main_user_and_team_users_with_their_state(app, acme):
    add_member(app, acme, "bob@acme.example", "Bob")
    add_member(app, acme, "carl@acme.example", "Carl", register=False)
    client = signed_in(app, "ann@acme.example")
    page = client.get("/portal/team").get_data(as_text=True)
    assert 'data-state="main"' in page and "ann@acme.example" in page
    assert 'data-state="active"' in page and "bob@acme.example" in page
    assert 'data-state="invited"' in page and "carl@acme.example" in page
    assert page.index("ann@acme.example") < page.index("bob@acme.example"), "main user first"


def test_invited_member_accepts_and_shares_the_main_users_permissions(app, acme, outbox):
    """Seed 3.1: a team user gets an invite e-mail, accepts through the invite page and then
    has the same permissions as the main user."""
    client = signed_in(app, "ann@acme.example")
    response = _invite(client, "Bob@ACME.example")
    assert response.status_code == 302
    [message] = outbox
    assert message.recipient == "Bob@acme.example" and "ACME" in message.subject
    link = link_in(message, "/portal/invite/")
    bob = app.test_client()
    accepted = bob.post(
        f"/portal/invite/{link}",
        data={
            "csrf_token": csrf_token(bob, f"/portal/invite/{link}"),
            "password": MEMBER_PASSWORD,
            "password_again": MEMBER_PASSWORD,
        },
    )
    assert accepted.status_code == 302
    assert sign_in(bob, "bob@acme.example", MEMBER_PASSWORD).status_code == 302
    assert "ann@acme.example" in bob.get("/portal/team").get_data(as_text=True)
    member = _user("bob@acme.example")
    assert member.customer_id == acme.id and not member.is_main
    assert _actions("team.invite") == 1


@pytest.mark.parametrize(
    "email",
    ["ann@acme.example", "ANN@Acme.Example", "bob@acme.example", "BOB@acme.EXAMPLE", "x@other.ex"],
)
def test_an_address_that_has_a_user_is_refused_in_any_case(app, acme, outbox, email):
    add_member(app, acme, "bob@acme.example")
    factories.customer(app, email="x@other.ex")
    client = signed_in(app, "ann@acme.example")
    page = _invite(client, email)
    assert page.status_code == 200
    assert "A user with this e-mail exists already." in page.get_data(as_text=True)
    assert outbox == []
    assert _actions("team.invite") == 1, "only the member added above"


def test_invite_needs_a_valid_address_and_a_name(app, acme, outbox):
    client = signed_in(app, "ann@acme.example")
    assert "valid e-mail" in _invite(client, "not-an-address").get_data(as_text=True)
    assert _invite(client, "new@acme.example", " ").status_code == 200
    assert outbox == [] and _user("new@acme.example") is None


def test_invite_without_a_mail_server_is_refused(app, outbox):
    customer = factories.customer(app, email="solo@acme.example")
    client = signed_in(app, "solo@acme.example")
    page = _invite(client, "new@acme.example")
    assert "No e-mail can be sent at the moment" in page.get_data(as_text=True)
    assert _user("new@acme.example") is None and customer.id


def test_disabling_a_member_ends_their_session_at_once(app, acme):
    """Issue 6: a disabled user's sessions end; a copied cookie stops working."""
    member = add_member(app, acme, "bob@acme.example")
    bob = signed_in(app, "bob@acme.example", MEMBER_PASSWORD)
    cookie = bob.get_cookie("session").value
    ann = signed_in(app, "ann@acme.example")
    response = ann.post(f"/portal/team/{member.id}/disable", data={"csrf_token": ann.token})
    assert response.status_code == 302
    assert not _user("bob@acme.example").enabled
    assert bob.get("/portal/").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/portal/team").status_code == 302
    again = sign_in(app.test_client(), "bob@acme.example", MEMBER_PASSWORD)
    assert "Invalid e-mail or password." in again.get_data(as_text=True)
    page = ann.get("/portal/team").get_data(as_text=True)
    assert 'data-state="disabled"' in page
    ann.post(f"/portal/team/{member.id}/enable", data={"csrf_token": ann.token})
    assert _user("bob@acme.example").enabled
    assert sign_in(app.test_client(), "bob@acme.example", MEMBER_PASSWORD).status_code == 302
    assert _actions("team.disable") == 1 and _actions("team.enable") == 1


def test_a_team_user_manages_the_team_too(app, acme):
    add_member(app, acme, "bob@acme.example")
    carl = add_member(app, acme, "carl@acme.example")
    bob = signed_in(app, "bob@acme.example", MEMBER_PASSWORD)
    bob.post(f"/portal/team/{carl.id}/disable", data={"csrf_token": bob.token})
    assert not _user("carl@acme.example").enabled


def test_the_main_user_and_oneself_cannot_be_disabled(app, acme):
    member = add_member(app, acme, "bob@acme.example")
    main = _user("ann@acme.example")
    bob = signed_in(app, "bob@acme.example", MEMBER_PASSWORD)
    for target in (main.id, member.id):
        response = bob.post(
            f"/portal/team/{target}/disable", data={"csrf_token": bob.token}, follow_redirects=True
        )
        assert "not available" in response.get_data(as_text=True)
    assert _user("ann@acme.example").enabled and _user("bob@acme.example").enabled
    page = bob.get("/portal/team").get_data(as_text=True)
    assert f'action="/portal/team/{main.id}/disable"' not in page
    with pytest.raises(DomainError):
        team_rules.set_member_enabled(
            acme.id, main.id, False, Actor.user(member), app.config["CLOCK"]
        )


def test_resend_gives_a_new_link_and_the_old_one_stops_working(app, acme, outbox):
    client = signed_in(app, "ann@acme.example")
    _invite(client, "bob@acme.example")
    member = _user("bob@acme.example")
    client.post(f"/portal/team/{member.id}/resend", data={"csrf_token": client.token})
    old, new = (link_in(m, "/portal/invite/") for m in outbox)
    assert old != new
    assert app.test_client().get(f"/portal/invite/{old}").status_code == 404
    assert app.test_client().get(f"/portal/invite/{new}").status_code == 200
    assert _actions("team.resend_invite") == 1


def test_revoking_an_invite_removes_the_user_and_its_link(app, acme, outbox):
    client = signed_in(app, "ann@acme.example")
    _invite(client, "bob@acme.example")
    link = link_in(outbox[0], "/portal/invite/")
    member = _user("bob@acme.example")
    client.post(f"/portal/team/{member.id}/revoke", data={"csrf_token": client.token})
    assert _user("bob@acme.example") is None
    assert app.test_client().get(f"/portal/invite/{link}").status_code == 404
    assert _actions("team.revoke_invite") == 1
    assert _invite(client, "bob@acme.example").status_code == 302, "the address is free again"


def test_registered_users_cannot_be_revoked_nor_invites_disabled(app, acme):
    member = add_member(app, acme, "bob@acme.example")
    pending = add_member(app, acme, "carl@acme.example", register=False)
    client = signed_in(app, "ann@acme.example")
    client.post(f"/portal/team/{member.id}/revoke", data={"csrf_token": client.token})
    client.post(f"/portal/team/{pending.id}/disable", data={"csrf_token": client.token})
    assert _user("bob@acme.example") is not None and _user("carl@acme.example").enabled


def test_row_buttons_need_the_csrf_token(app, acme):
    member = add_member(app, acme, "bob@acme.example")
    client = signed_in(app, "ann@acme.example")
    assert client.post(f"/portal/team/{member.id}/disable").status_code == 400
    assert client.get(f"/portal/team/{member.id}/disable").status_code == 405
    assert _user("bob@acme.example").enabled
