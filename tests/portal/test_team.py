"""The team page: invite, enable/disable, resend and withdraw invites (seed 3.1, SPEC §10)."""

from __future__ import annotations

import re

import pytest

from billing.customers import team as team_rules
from billing.kernel.audit import Actor
from billing.kernel.errors import DomainError
from models import AuditEvent, TeamInvitation, User, db
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
    "email", ["ann@acme.example", "ANN@Acme.Example", "bob@acme.example", "BOB@acme.EXAMPLE"]
)
def test_an_address_in_the_own_team_is_refused_in_any_case(app, acme, outbox, email):
    """The inviter sees their own team: saying so reveals nothing."""
    add_member(app, acme, "bob@acme.example")
    client = signed_in(app, "ann@acme.example")
    page = _invite(client, email)
    assert page.status_code == 200
    assert "This person is in your team already." in page.get_data(as_text=True)
    assert outbox == []
    assert _actions("team.invite") == 1, "only the member added above"


def test_an_address_invited_into_the_own_team_is_refused(app, acme, outbox):
    client = signed_in(app, "ann@acme.example")
    assert _invite(client, "carl@acme.example").status_code == 302
    page = _invite(client, "CARL@acme.example").get_data(as_text=True)
    assert "This address is invited already" in page
    assert len(outbox) == 1


def _answer(client, email: str) -> tuple[int, str, str]:
    """What the inviter sees after inviting ``email``: the status, the flash on the page it
    leads to, and the invitee's row of the team list (with the address and ids taken out)."""
    response = _invite(client, email)
    page = client.get("/portal/team").get_data(as_text=True)
    flash = re.search(r'<div class="alert[^>]*>(.*?)</div>', page, re.S)
    row = re.search(rf"<tr [^>]*>\s*<td>[^<]*<div[^>]*>{re.escape(email)}.*?</tr>", page, re.S)
    row = re.sub(r'name="csrf_token" value="[^"]+"', "", row.group(0)) if row else "not listed"
    return (
        response.status_code,
        flash.group(1).replace(email, "EMAIL") if flash else "no message",
        re.sub(r"\d+", "N", row.replace(email, "EMAIL")),
    )


def test_inviting_an_address_of_another_customer_answers_like_a_new_one(app, acme, outbox):
    """Issue 13 item 4: the answer and the team list are the same whether the address belongs
    to a user of another customer or to nobody, and a pending invite of one customer holds the
    address for nobody else; only the address's owner learns that it has an account."""
    factories.customer(app, company="Other", email="otto@other.example")
    client = signed_in(app, "ann@acme.example")
    taken = _answer(client, "otto@other.example")
    new = _answer(client, "nina@nowhere.example")
    assert taken == new
    assert taken[0] == 302 and "has been invited" in taken[1]
    to_owner, to_new = outbox
    assert to_owner.recipient == "otto@other.example" and "/portal/invite/" not in to_owner.text
    assert "has an account" in to_owner.text and "ACME" in to_owner.text
    link = link_in(to_new, "/portal/invite/")
    assert app.test_client().get(f"/portal/invite/{link}").status_code == 200
    assert _user("otto@other.example").customer_id != acme.id

    beta = factories.customer(app, company="Beta", email="bea@beta.example")
    other_inviter = signed_in(app, "bea@beta.example")
    assert _answer(other_inviter, "nina@nowhere.example") == new, "ACME's invite holds nothing"
    assert beta.id and _user("nina@nowhere.example") is None


def test_accepting_an_invite_once_the_address_has_an_account_is_refused(app, acme, outbox):
    """The one who holds the link holds the address: the refusal tells the owner only."""
    client = signed_in(app, "ann@acme.example")
    _invite(client, "nina@nowhere.example")
    link = link_in(outbox[0], "/portal/invite/")
    factories.customer(app, company="Other", email="nina@nowhere.example")
    invitee = app.test_client()
    page = invitee.post(
        f"/portal/invite/{link}",
        data={
            "csrf_token": csrf_token(invitee, f"/portal/invite/{link}"),
            "password": MEMBER_PASSWORD,
            "password_again": MEMBER_PASSWORD,
        },
    )
    assert page.status_code == 200 and "has an account already" in page.get_data(as_text=True)
    assert _user("nina@nowhere.example").customer_id != acme.id


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


def _invitation(email: str) -> TeamInvitation:
    db.session.rollback()
    return db.session.scalar(
        db.select(TeamInvitation).where(db.func.lower(TeamInvitation.email) == email.lower())
    )


def test_resend_gives_a_new_link_and_the_old_one_stops_working(app, acme, outbox):
    client = signed_in(app, "ann@acme.example")
    _invite(client, "bob@acme.example")
    invitation = _invitation("bob@acme.example")
    client.post(
        f"/portal/team/invitations/{invitation.id}/resend", data={"csrf_token": client.token}
    )
    old, new = (link_in(m, "/portal/invite/") for m in outbox)
    assert old != new
    assert app.test_client().get(f"/portal/invite/{old}").status_code == 404
    assert app.test_client().get(f"/portal/invite/{new}").status_code == 200
    assert _actions("team.resend_invite") == 1


def test_revoking_an_invite_removes_it_and_its_link(app, acme, outbox):
    client = signed_in(app, "ann@acme.example")
    _invite(client, "bob@acme.example")
    link = link_in(outbox[0], "/portal/invite/")
    invitation = _invitation("bob@acme.example")
    client.post(
        f"/portal/team/invitations/{invitation.id}/revoke", data={"csrf_token": client.token}
    )
    assert _invitation("bob@acme.example") is None and _user("bob@acme.example") is None
    assert app.test_client().get(f"/portal/invite/{link}").status_code == 404
    assert _actions("team.revoke_invite") == 1
    assert _invite(client, "bob@acme.example").status_code == 302, "the address is free again"


def test_registered_users_cannot_be_revoked_nor_invites_disabled(app, acme):
    member = add_member(app, acme, "bob@acme.example")
    pending = add_member(app, acme, "carl@acme.example", register=False)
    client = signed_in(app, "ann@acme.example")
    revoke = client.post(f"/portal/team/{member.id}/revoke", data={"csrf_token": client.token})
    disable = client.post(
        f"/portal/team/invitations/{pending.id}/disable", data={"csrf_token": client.token}
    )
    assert revoke.status_code == disable.status_code == 404
    assert _user("bob@acme.example") is not None and _invitation("carl@acme.example") is not None


def test_invites_and_resends_are_limited_per_address(app, acme, outbox):
    """Issue 13 item 5: a burst of resends to one address is stopped with a clear message;
    the refused resend changes nothing (the last link keeps working)."""
    client = signed_in(app, "ann@acme.example")
    _invite(client, "bob@acme.example")
    invitation = _invitation("bob@acme.example")
    url = f"/portal/team/invitations/{invitation.id}/resend"
    pages = [
        client.post(url, data={"csrf_token": client.token}, follow_redirects=True)
        for _ in range(25)
    ]
    assert len(outbox) == 3, "three invitation e-mails an hour to one address"
    refused = pages[-1].get_data(as_text=True)
    assert "Too many invitations to this address. Please try again in" in refused
    last = link_in(outbox[-1], "/portal/invite/")
    assert app.test_client().get(f"/portal/invite/{last}").status_code == 200
    assert _actions("team.resend_invite") == 2


def test_invites_are_limited_per_account(app, acme, outbox):
    """Issue 13 item 5: one customer (all its users together) cannot mail many addresses."""
    client = signed_in(app, "ann@acme.example")
    codes = [_invite(client, f"p{n}@spam.example").status_code for n in range(31)]
    assert codes == [302] * 30 + [200]
    page = _invite(client, "p99@spam.example").get_data(as_text=True)
    assert "Too many invitations from this account. Please try again in" in page
    assert len(outbox) == 30


def test_the_limit_message_follows_the_language(app, acme, outbox):
    client = signed_in(app, "ann@acme.example")
    client.post("/portal/language", data={"csrf_token": client.token, "language": "de"})
    _invite(client, "x@y.example")
    url = f"/portal/team/invitations/{_invitation('x@y.example').id}/resend"
    for _ in range(3):
        page = client.post(url, data={"csrf_token": client.token}, follow_redirects=True)
    assert len(outbox) == 3
    assert "Zu viele Einladungen an diese Adresse" in page.get_data(as_text=True)
