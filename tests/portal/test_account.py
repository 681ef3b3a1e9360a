"""Portal sign-in, forgotten password and the account page (SPEC §10, §13)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import limits.storage.memory
import pytest

from billing.customers import lifecycle, lookup
from billing.kernel.audit import SYSTEM
from models import AuditEvent, PasswordReset, User, db
from tests import factories
from tests.conftest import csrf_token
from tests.portal.helpers import (
    PASSWORD,
    add_member,
    link_in,
    main_email,
    sign_in,
    signed_in,
    token,
)

NEW_PASSWORD = "Another-Pass-77"


def _without_tokens(response) -> str:
    """The page without its CSRF tokens and CSP nonces (new ones on every request)."""
    return re.sub(r'(value="[^"]{40,}"|nonce="[^"]+")', "", response.get_data(as_text=True))


def _forgot(client, email):
    return client.post("/portal/forgot", data={"csrf_token": token(client), "email": email})


def _reset(client, link, password=NEW_PASSWORD, again=None):
    return client.post(
        f"/portal/reset/{link}",
        data={
            "csrf_token": csrf_token(client, f"/portal/reset/{link}"),
            "password": password,
            "password_again": again if again is not None else password,
        },
    )


@pytest.fixture
def customer(app, mail_on):
    return factories.customer(app, company="ACME", email="ann@acme.example", language="de")


def test_forgot_password_answers_the_same_for_unknown_addresses(app, client, customer, outbox):
    """SPEC §13: no account probing through the forgotten-password form."""
    known = _forgot(client, "ANN@acme.example")
    unknown = _forgot(app.test_client(), "nobody@acme.example")
    assert known.status_code == unknown.status_code == 200
    assert _without_tokens(known) == _without_tokens(unknown)
    assert "If an account exists for this address" in known.get_data(as_text=True)
    [message] = outbox
    assert message.recipient == "ann@acme.example"
    assert "Passwort" in message.subject, "in the customer's language"
    assert "/portal/reset/" in message.text and "/portal/reset/" in message.html


def _work_of(app, client, email) -> tuple[list[str], list[str]]:
    """The SQL statements a forgotten-password request runs and the jobs it queues."""
    from sqlalchemy import event

    from jobs import queue

    statements = []

    def record(_conn, _cursor, statement, _params, _context, _many):
        statements.append(statement)

    mail_queue = queue("mail")
    before = set(mail_queue.job_ids)
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = _forgot(client, email)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200
    queued = [mail_queue.fetch_job(i) for i in mail_queue.job_ids if i not in before]
    return statements, [job.func_name for job in queued]


@pytest.mark.fresh_database
def test_forgot_password_does_the_same_work_for_known_and_unknown_addresses(
    app, customer, mail_on, redis_server
):
    """Issue 13 item 6: no account probing by answer time. The request runs the same
    statements and queues the same single job for a known and an unknown address; the job
    decides, and only the known address gets an e-mail."""
    from rq import SimpleWorker

    from jobs import Worker, queue, redis_connection

    class InProcessWorker(Worker, SimpleWorker):
        """The product's worker (it exits within a second of being done; RQ's own took up to a
        minute at random), running the job in this process."""

    app.config["REDIS_URL"] = redis_server.url
    known = _work_of(app, app.test_client(), "ann@acme.example")
    unknown = _work_of(app, app.test_client(), "nobody@acme.example")
    assert known == unknown
    assert known[1] == ["jobs.accounts.password_reset"]
    assert db.session.scalar(db.select(db.func.count()).select_from(PasswordReset)) == 0

    InProcessWorker([queue("mail")], connection=redis_connection()).work(burst=True)
    delivered = [recipients for recipients, _message in mail_on.messages]
    assert delivered == [["ann@acme.example"]]
    refused = db.select(AuditEvent).where(
        AuditEvent.action == "user.password_reset_request", AuditEvent.outcome == "refused"
    )
    assert len(db.session.scalars(refused).all()) == 1, "the unknown address is recorded"


def _minutes_later(monkeypatch, minutes: float) -> None:
    """Let the rate limits' in-memory clock run ``minutes`` ahead (they use real time)."""

    class Later:
        @staticmethod
        def time():
            return time.time() + minutes * 60

    monkeypatch.setattr(limits.storage.memory, "time", Later)


@pytest.mark.parametrize("email", ["ann@acme.example", "nobody@acme.example"])
def test_reset_links_are_limited_per_address(app, customer, outbox, monkeypatch, email):
    """Issue 13 item 5: at most three reset e-mails an hour to one address (beyond the
    per-minute limit of the form), with the same answer for a known and an unknown address."""
    for n in range(3):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.2.0.{n}"
        assert "If an account exists" in _forgot(client, email).get_data(as_text=True)
    _minutes_later(monkeypatch, 2)
    refused = _forgot(app.test_client(), email).get_data(as_text=True)
    assert "Too many e-mails to this address. Please try again in" in refused
    assert len(outbox) == (3 if email.startswith("ann") else 0)


def test_reset_link_sets_a_new_password_once(app, client, customer, outbox):
    """SPEC §10: the e-mailed reset link is single use; only its hash is stored."""
    _forgot(client, "ann@acme.example")
    link = link_in(outbox[0], "/portal/reset/")
    assert db.session.scalar(db.select(PasswordReset.token_hash)) != link
    page = client.get(f"/portal/reset/{link}")
    assert page.status_code == 200 and "ann@acme.example" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    done = _reset(client, link)
    assert done.status_code == 302 and "/portal/login" in done.headers["Location"]
    assert sign_in(app.test_client(), "ann@acme.example", PASSWORD).status_code == 200
    assert sign_in(app.test_client(), "ann@acme.example", NEW_PASSWORD).status_code == 302
    used = client.get(f"/portal/reset/{link}")  # the session goes on in Ann's German
    assert used.status_code == 404 and "bereits verwendet" in used.get_data(as_text=True)
    assert _reset(app.test_client(), link, "Third-Pass-999").status_code == 404
    assert sign_in(app.test_client(), "ann@acme.example", "Third-Pass-999").status_code == 200


def test_reset_link_expires_after_an_hour(app, client, customer, outbox):
    _forgot(client, "ann@acme.example")
    link = link_in(outbox[0], "/portal/reset/")
    clock = app.config["CLOCK"]
    clock.instant = clock.instant + timedelta(minutes=59)
    assert client.get(f"/portal/reset/{link}").status_code == 200
    clock.instant = clock.instant + timedelta(minutes=2)
    page = client.get(f"/portal/reset/{link}")
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    assert _reset(client, link).status_code == 410


def test_a_new_link_replaces_the_old_one(app, client, customer, outbox):
    _forgot(client, "ann@acme.example")
    _forgot(client, "ann@acme.example")
    first, second = (link_in(m, "/portal/reset/") for m in outbox)
    assert client.get(f"/portal/reset/{first}").status_code == 404
    assert client.get(f"/portal/reset/{second}").status_code == 200


def test_reset_follows_the_password_policy(app, client, customer, outbox):
    _forgot(client, "ann@acme.example")
    link = link_in(outbox[0], "/portal/reset/")
    mismatch = _reset(client, link, NEW_PASSWORD, NEW_PASSWORD + "x")  # Ann's link: German
    assert mismatch.status_code == 200 and "stimmen nicht überein" in mismatch.get_data(
        as_text=True
    )
    short = _reset(client, link, "short")
    assert "mindestens 10 Zeichen" in short.get_data(as_text=True)
    assert _reset(client, link).status_code == 302, "the link still works after a refusal"


def test_reset_ends_every_session(app, customer, outbox):
    """SPEC §13: a password reset signs out copied session cookies."""
    victim = signed_in(app, "ann@acme.example")
    assert victim.get("/portal/").status_code == 200
    _forgot(app.test_client(), "ann@acme.example")
    _reset(app.test_client(), link_in(outbox[0], "/portal/reset/"))
    assert victim.get("/portal/").status_code == 302


@pytest.mark.parametrize("state", ["locked", "deleted", "invited"])
def test_barred_customers_neither_sign_in_nor_get_reset_links(app, client, mail_on, outbox, state):
    """SPEC §10 (seed 3.2.3, 3.2.9): locked customers, customers marked for deletion and
    unregistered users cannot sign in, and get no reset link; the right password of a locked
    customer's user is told why (issue 14)."""
    barred = factories.customer(app, state=state)
    page = sign_in(client, main_email(barred))
    expected = "account is locked" if state == "locked" else "Invalid e-mail or password."
    assert page.status_code == 200 and expected in page.get_data(as_text=True)
    _forgot(client, main_email(barred))
    assert outbox == []


def test_a_disabled_user_cannot_sign_in(app, client, customer, outbox):
    from billing.customers.team import set_member_enabled
    from billing.kernel.audit import Actor

    member = add_member(app, customer, "bob@acme.example")
    assert sign_in(app.test_client(), "bob@acme.example", "Member-Pass-12").status_code == 302
    main = lookup.main_user(customer.id)
    set_member_enabled(customer.id, member.id, False, Actor.user(main), app.config["CLOCK"])
    page = sign_in(client, "bob@acme.example", "Member-Pass-12")
    assert "Invalid e-mail or password." in page.get_data(as_text=True)
    _forgot(client, "bob@acme.example")
    assert outbox == []


def test_account_page_changes_name_and_language(app, customer):
    """SPEC §10: the account page (name, language); the portal follows the chosen language."""
    client = signed_in(app, "ann@acme.example")
    page = client.get("/portal/account").get_data(as_text=True)
    assert 'selected value="de"' in page, "defaults to the customer's language"
    response = client.post(
        "/portal/account",
        data={"csrf_token": client.token, "name": "Ann Admin", "language": "en"},
    )
    assert response.status_code == 302
    user = db.session.scalar(db.select(User).where(User.email == "ann@acme.example"))
    assert user.name == "Ann Admin" and user.language == "en"
    assert "Account" in client.get("/portal/account").get_data(as_text=True)
    refused = client.post(
        "/portal/account", data={"csrf_token": client.token, "name": " ", "language": "fr"}
    )
    assert refused.status_code == 200
    assert db.session.get(User, user.id).name == "Ann Admin"


def test_password_change_needs_the_current_password_and_ends_other_sessions(app, customer):
    """SPEC §13: changing the password ends the user's other sessions, not this one."""
    client = signed_in(app, "ann@acme.example")
    other_device = signed_in(app, "ann@acme.example")
    wrong = client.post(
        "/portal/account/password",
        data={
            "csrf_token": client.token,
            "current_password": "not-my-password",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    # the customer's language is German
    assert "aktuelle Passwort ist nicht richtig" in wrong.get_data(as_text=True)
    assert other_device.get("/portal/").status_code == 200
    changed = client.post(
        "/portal/account/password",
        data={
            "csrf_token": client.token,
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 302
    assert client.get("/portal/account").status_code == 200, "this session goes on"
    assert other_device.get("/portal/").status_code == 302, "the other one ended"
    assert sign_in(app.test_client(), "ann@acme.example", NEW_PASSWORD).status_code == 302
    actions = db.session.scalars(
        db.select(AuditEvent.outcome).where(AuditEvent.action == "user.change_password")
    ).all()
    assert sorted(actions) == ["failed", "ok"]


def test_language_switch_is_saved_on_the_account(app, customer):
    """Issue 6: EN/DE by the user's choice, defaulting to the customer's language."""
    client = signed_in(app, "ann@acme.example")
    assert "Abmelden" in client.get("/portal/").get_data(as_text=True)
    switched = client.post(
        "/portal/language",
        data={"csrf_token": client.token, "language": "en", "next": "/portal/account"},
    )
    assert switched.status_code == 302 and switched.headers["Location"] == "/portal/account"
    assert "Sign out" in client.get("/portal/").get_data(as_text=True)
    assert db.session.scalar(db.select(User.language).where(User.email == "ann@acme.example")) == (
        "en"
    )
    again = signed_in(app, "ann@acme.example")
    assert "Sign out" in again.get("/portal/").get_data(as_text=True)


def test_anonymous_visitors_switch_language_too(app, client):
    client.post("/portal/language", data={"csrf_token": token(client), "language": "de"})
    assert "Anmelden" in client.get("/portal/login").get_data(as_text=True)


def test_sign_in_returns_to_the_page_asked_for(app, customer):
    client = app.test_client()
    away = client.get("/portal/account")
    assert away.status_code == 302 and "next=/portal/account" in away.headers["Location"]
    response = sign_in(client, "ann@acme.example", next_url="/portal/account")
    assert response.headers["Location"] == "/portal/account"


def test_sign_out_leaves_no_working_cookie(app, customer):
    client = signed_in(app, "ann@acme.example")
    cookie = client.get_cookie("session").value
    client.post("/portal/logout", data={"csrf_token": client.token})
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/portal/account").status_code == 302


def test_staff_sessions_are_not_portal_sessions(app, staff_client):
    response = staff_client.get("/portal/account")
    assert response.status_code == 302 and "/portal/login" in response.headers["Location"]


def test_lock_by_staff_ends_the_portal_session(app, customer):
    client = signed_in(app, "ann@acme.example")
    lifecycle.set_locked(customer.id, True, SYSTEM, app.config["CLOCK"])
    assert client.get("/portal/account").status_code == 302
