"""Portal → Register (SPEC §10 self-registration onto a free trial, seed 3.5.1; §13 rate limits
and no account probing)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.audit import SYSTEM
from billing.customers import current_subscription
from billing.selfservice import save_self_service
from models import AuditEvent, Customer, User, db
from tests import factories
from tests.conftest import csrf_token
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
        "password": PASSWORD,
        "password_again": PASSWORD,
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
    assert db.session.get(User, 1).registered_at is None  # a GET confirms nothing
    done = client.post(
        f"/portal/register/confirm/{link}",
        data={"csrf_token": csrf_token(client, f"/portal/register/confirm/{link}")},
    )
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
    again = _data(client, password="Another-Pass-99", password_again="Another-Pass-99")
    client.post("/portal/register", data=again)
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
        ({"password_again": "Something-Else-1"}, "password_again", "do not match"),
        ({"password": "short", "password_again": "short"}, "password", "at least 10"),
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
