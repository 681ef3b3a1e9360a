"""Portal → Register (SPEC §10 self-registration onto a free trial, seed 3.5.1; §13 rate limits
and no account probing)."""

from __future__ import annotations

import time
from datetime import timedelta

import limits.storage.memory
import pytest

from billing.catalog.selfservice import save_self_service
from billing.customers.customers import current_subscription
from billing.kernel.audit import SYSTEM
from models import AuditEvent, Customer, User, db
from tests import factories
from tests.conftest import csrf_token, make_staff
from tests.portal.helpers import link_in, sign_in

PASSWORD = "Fresh-Start-2026"


@pytest.fixture
def outbox(outbox, monkeypatch):
    """The portal's outbox (tests/portal/conftest.py), also for the registration e-mails."""
    monkeypatch.setattr("portal.register.send", lambda message: outbox.append(message) or True)
    return outbox


@pytest.fixture
def open_registration(app, mail_on):
    factories.reference(app)
    save_self_service(True, "IP address scanning", "IP-SCAN-1", SYSTEM, app.config["CLOCK"])
    return app


def _data(client, **changes) -> dict:
    data = {
        "csrf_token": csrf_token(client, "/portal/register"),
        "contact_name": "Rita Reg",
        "email": "rita@newco.example",
        # the confirmation page asks for the password: one posted with the form is not taken
        "password": "Posted-With-The-Form-1",
        "password_again": "Posted-With-The-Form-1",
        "language": "de",
        "company_name": "NewCo GmbH",
        "street": "Hauptstr. 1",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
        "vat_id": "",
        "accept_terms": "y",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def _confirm(client, link: str, password: str = PASSWORD, again: str | None = None):
    url = f"/portal/register/confirm/{link}"
    return client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "password": password,
            "password_again": password if again is None else again,
        },
    )


def _customers() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(Customer))


def test_closed_registration_answers_404(app, client):
    """SPEC §10: when disabled in the Self-Service settings the page and its POST are 404."""
    factories.reference(app)
    assert client.get("/portal/register").status_code == 404
    assert client.post("/portal/register", data={"email": "x@y.example"}).status_code == 404
    assert client.get("/portal/register/confirm/whatever").status_code == 404
    assert "portal-register-link" not in client.get("/portal/login").get_data(as_text=True)


def test_register_confirm_and_sign_in(open_registration, client, outbox):
    """The whole way: register → unconfirmed (cannot sign in) → confirm → trial → sign in."""
    app = open_registration
    assert "/portal/register" in client.get("/portal/login").get_data(as_text=True)
    page = client.get("/portal/register")
    assert page.status_code == 200 and 'id="register-form"' in page.get_data(as_text=True)
    response = client.post("/portal/register", data=_data(client))
    assert response.status_code == 200
    assert "confirm" in response.get_data(as_text=True).lower()
    customer = db.session.scalars(db.select(Customer)).one()
    assert (customer.service_mode, customer.status, customer.language) == (
        "self_service",
        "invited",
        "de",
    )
    assert (customer.company_name, customer.city, customer.contact_email) == (
        "NewCo GmbH",
        "Berlin",
        "rita@newco.example",
    )
    assert current_subscription(customer.id) is None
    [message] = outbox
    assert message.recipient == "rita@newco.example" and "bestätigen" in message.subject
    link = link_in(message, "/portal/register/confirm/")

    assert "Invalid e-mail or password." in sign_in(
        app.test_client(), "rita@newco.example", PASSWORD
    ).get_data(as_text=True)
    assert client.get(f"/portal/invite/{link}").status_code == 404  # not an invite link

    page = client.get(f"/portal/register/confirm/{link}")
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert 'name="password"' in page.get_data(as_text=True), "the password is chosen here"
    assert db.session.get(User, 1).registered_at is None  # a GET confirms nothing
    assert db.session.get(User, 1).password_hash is None, "no password before confirmation"
    done = _confirm(client, link)
    assert done.status_code == 302 and "/portal/login" in done.headers["Location"]
    db.session.expire_all()
    sub = current_subscription(customer.id)
    assert (sub.payment_method, sub.total_ips) == ("free", 5)
    assert db.session.get(Customer, customer.id).status == "active"
    assert client.get(f"/portal/register/confirm/{link}").status_code == 404  # single use
    assert sign_in(app.test_client(), "RITA@newco.example", PASSWORD).status_code == 302
    actions = set(db.session.scalars(db.select(AuditEvent.action)))
    assert {
        "customer.self_register",
        "user.confirm_registration",
        "subscription.start_trial",
    } <= actions


def test_expired_confirmation_link_and_registering_again(open_registration, client, outbox):
    app = open_registration
    client.post("/portal/register", data=_data(client))
    first = link_in(outbox[0], "/portal/register/confirm/")
    clock = app.config["CLOCK"]
    app.config["CLOCK"] = type(clock)(clock.now() + timedelta(days=8))
    page = client.get(f"/portal/register/confirm/{first}")
    assert page.status_code == 410 and "Register again" in page.get_data(as_text=True)
    client.post("/portal/register", data=_data(client))
    assert _customers() == 1 and len(outbox) == 2
    second = link_in(outbox[1], "/portal/register/confirm/")
    assert client.get(f"/portal/register/confirm/{first}").status_code == 404
    assert client.get(f"/portal/register/confirm/{second}").status_code == 200


@pytest.mark.parametrize("email", ["taken@acme.example", "TAKEN@Acme.Example"])
def test_a_taken_e_mail_gets_no_second_account_and_the_answer_does_not_tell(
    open_registration, client, outbox, email
):
    """SPEC §2: e-mail unique in any case; the page looks the same (no account probing)."""
    factories.customer(open_registration, email="taken@acme.example", company="ACME")
    before = _customers()
    response = client.post("/portal/register", data=_data(client, email=email))
    assert response.status_code == 200 and "We have sent an e-mail" in response.get_data(
        as_text=True
    )
    assert _customers() == before
    [message] = outbox
    assert message.recipient == "taken@acme.example"
    assert "already have an account" in message.subject and "ACME" in message.text


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"accept_terms": None}, "accept_terms", "accept the terms"),
        ({"email": "not-an-address"}, "email", "valid e-mail"),
        ({"contact_name": " "}, "contact_name", "your name"),
        ({"company_name": ""}, "company_name", "company name"),
        ({"city": ""}, "city", "required"),
        ({"country": "AT"}, "vat_id", "VAT-ID is required"),
        ({"country": "AT", "vat_id": "ATU12345678"}, "vat_id", "not valid"),
    ],
)
def test_invalid_input_is_shown_on_its_field_and_nothing_is_created(
    open_registration, client, outbox, changes, field, text
):
    page = client.post("/portal/register", data=_data(client, **changes)).get_data(as_text=True)
    assert f'data-error-for="{field}"' in page and text in page
    assert _customers() == 0 and outbox == []


def test_a_foreign_company_with_a_valid_vat_id_registers(open_registration, client, outbox):
    client.post("/portal/register", data=_data(client, country="AT", vat_id="ATU 13585627"))
    customer = db.session.scalars(db.select(Customer)).one()
    assert (customer.country, customer.vat_id) == ("AT", "ATU13585627")


def test_without_a_mail_server_registration_is_refused(app, client, outbox):
    factories.reference(app)
    save_self_service(True, "IP address scanning", "IP-SCAN-1", SYSTEM, app.config["CLOCK"])
    page = client.post("/portal/register", data=_data(client)).get_data(as_text=True)
    assert "not possible at the moment" in page and _customers() == 0


def test_registration_is_rate_limited(open_registration, client, outbox):
    """SPEC §13: a burst of registrations from one address is stopped."""
    codes = [
        client.post(
            "/portal/register", data=_data(client, email=f"burst{n}@newco.example")
        ).status_code
        for n in range(6)
    ]
    assert codes[:5] == [200] * 5 and codes[5] == 429


# the registration is made in German, so its confirmation page answers in German
@pytest.mark.parametrize(
    ("password", "again", "text"),
    [
        (PASSWORD, "Something-Else-1", "stimmen nicht überein"),
        ("short", "short", "mindestens 10 Zeichen"),
    ],
)
def test_the_confirmation_page_follows_the_password_policy(
    open_registration, client, outbox, password, again, text
):
    client.post("/portal/register", data=_data(client))
    link = link_in(outbox[0], "/portal/register/confirm/")
    page = _confirm(client, link, password, again)
    assert page.status_code == 200 and text in page.get_data(as_text=True)
    assert db.session.scalar(db.select(User.registered_at)) is None
    assert _confirm(client, link).status_code == 302, "the link still works after a refusal"


ATTACKER_PASSWORD = "Attacker-Pass-666"


def test_registering_a_victims_address_first_gives_the_attacker_no_way_in(
    open_registration, outbox
):
    """Issue 13 item 1, end to end: an attacker registers the victim's address first, with
    their own password and company. The victim registers the same address later and confirms:
    the account is the victim's (company, password), the attacker's link is void, and the
    attacker's password does not sign in."""
    app = open_registration
    attacker = app.test_client()
    evil = _data(
        attacker,
        company_name="Evil Ltd",
        password=ATTACKER_PASSWORD,
        password_again=ATTACKER_PASSWORD,
    )
    assert attacker.post("/portal/register", data=evil).status_code == 200
    victim = app.test_client()
    assert victim.post("/portal/register", data=_data(victim)).status_code == 200
    attackers_link, victims_link = (link_in(m, "/portal/register/confirm/") for m in outbox)
    assert "NewCo GmbH" in outbox[1].text, "the victim's e-mail names the victim's company"

    assert victim.get(f"/portal/register/confirm/{attackers_link}").status_code == 404
    page = victim.get(f"/portal/register/confirm/{victims_link}").get_data(as_text=True)
    assert "NewCo GmbH" in page and "Evil Ltd" not in page, "the victim sees their own data"
    assert _confirm(victim, victims_link).status_code == 302

    assert "Invalid e-mail or password." in sign_in(
        app.test_client(), "rita@newco.example", ATTACKER_PASSWORD
    ).get_data(as_text=True)
    assert sign_in(app.test_client(), "rita@newco.example", PASSWORD).status_code == 302
    customer = db.session.scalars(db.select(Customer)).one()
    assert customer.company_name == "NewCo GmbH" and customer.status == "active"
    replaced = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.reason.like("replaces%"))
    ).one()
    assert replaced.before["company_name"] == "Evil Ltd"
    assert replaced.after["company_name"] == "NewCo GmbH"


def _team_invite_into(customer_id: int, app) -> str:
    """A team invite into a customer by someone other than the address's owner (staff's
    "create user accounts" from contacts takes this way); the invite link."""
    from billing.customers import team as team_rules
    from billing.kernel.audit import Actor

    staff = make_staff(app, "billing")
    _record, message = team_rules.invite_member(
        customer_id, "mallory@evil.example", "Mallory", Actor.staff(staff), app.config["CLOCK"]
    )
    return link_in(message, "/portal/invite/")


@pytest.mark.parametrize("victim_registers_again", [True, False])
def test_nobody_invited_into_an_unconfirmed_registration_stays_in_the_team(
    open_registration, outbox, victim_registers_again
):
    """Issue 13 item 1: a team user invited into the attacker's unconfirmed registration does
    not survive the victim's repeat registration, nor a confirmation of the attacker's own
    link by the address's owner: the victim's team is the victim alone."""
    app = open_registration
    attacker = app.test_client()
    attacker.post("/portal/register", data=_data(attacker, company_name="Evil Ltd"))
    pending = db.session.scalars(db.select(Customer)).one()
    invite = _team_invite_into(pending.id, app)
    victim = app.test_client()
    if victim_registers_again:
        victim.post("/portal/register", data=_data(victim))
    link = link_in(outbox[-1], "/portal/register/confirm/")
    assert _confirm(victim, link).status_code == 302

    assert app.test_client().get(f"/portal/invite/{invite}").status_code == 404
    assert db.session.scalars(db.select(User.email)).all() == ["rita@newco.example"]
    signed_in = app.test_client()
    assert sign_in(signed_in, "rita@newco.example", PASSWORD).status_code == 302
    team_page = signed_in.get("/portal/team").get_data(as_text=True)
    assert "mallory@evil.example" not in team_page


def _minutes_later(monkeypatch, minutes: float) -> None:
    """Let the rate limits' in-memory clock run ``minutes`` ahead (they use real time)."""

    class Later:
        @staticmethod
        def time():
            return time.time() + minutes * 60

    monkeypatch.setattr(limits.storage.memory, "time", Later)


def _register_from_elsewhere(app, email: str, n: int):
    visitor = app.test_client()
    visitor.environ_base["REMOTE_ADDR"] = f"10.1.0.{n}"
    return visitor.post("/portal/register", data=_data(visitor, email=email))


@pytest.mark.parametrize("email", ["taken@acme.example", "fresh@newco.example"])
def test_registration_e_mails_are_limited_per_address(
    open_registration, outbox, monkeypatch, email
):
    """Issue 13 item 5: repeat registrations of one address send at most three e-mails an
    hour (beyond the per-minute limit of the form), with the same answer whether or not the
    address has an account; an hour later the address gets e-mails again."""
    app = open_registration
    factories.customer(app, email="taken@acme.example", company="ACME")
    for n in range(3):
        assert _register_from_elsewhere(app, email, n).status_code == 200
    _minutes_later(monkeypatch, 2)
    refused = _register_from_elsewhere(app, email, 3)
    assert refused.status_code == 200
    assert "Too many e-mails to this address. Please try again in" in refused.get_data(as_text=True)
    assert len(outbox) == 3
    _minutes_later(monkeypatch, 62)
    assert "We have sent an e-mail" in _register_from_elsewhere(app, email, 4).get_data(
        as_text=True
    )
    assert len(outbox) == 4
