"""Shared steps of the portal tests: signing in, the outbox of composed e-mails, team users."""

from __future__ import annotations

from billing.customers import lookup, onboarding
from billing.customers import team as team_rules
from billing.kernel.audit import Actor
from models import User, db
from tests.conftest import csrf_token

PASSWORD = "Customer-Pass-1"  # the factories register every main user with it
MEMBER_PASSWORD = "Member-Pass-12"


def token(client) -> str:
    return csrf_token(client, "/portal/login")


def sign_in(client, email: str, password: str = PASSWORD, next_url: str | None = None):
    url = "/portal/login" + (f"?next={next_url}" if next_url else "")
    return client.post(
        url, data={"csrf_token": token(client), "email": email, "password": password}
    )


def signed_in(app, email: str, password: str = PASSWORD):
    client = app.test_client()
    response = sign_in(client, email, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    client.token = csrf_token(client, "/portal/account")
    return client


def main_email(customer) -> str:
    return lookup.main_user(customer.id).email


def add_member(app, customer, email: str, name: str = "Member", register: bool = True):
    """A team user invited by the main user and registered through the invite link (a
    ``User``), or with ``register=False`` the pending invitation (a ``TeamInvitation``)."""
    clock = app.config["CLOCK"]
    main = lookup.main_user(customer.id)
    invitation, message = team_rules.invite_member(
        customer.id, email, name, Actor.user(main), clock, "http://portal.test"
    )
    if not register:
        return invitation
    link = message.text.split("/portal/invite/")[1].split()[0]
    user, _welcome = onboarding.accept_invite(link, MEMBER_PASSWORD, MEMBER_PASSWORD, clock)
    return db.session.get(User, user.id)


def link_in(message, path: str) -> str:
    return message.text.split(path)[1].split()[0]
