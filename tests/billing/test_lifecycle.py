"""Customer actions of seed chapter 3 (SPEC §4) and mail delivery (SPEC §7)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from billing.customers import actions, lifecycle, lookup, onboarding
from billing.customers.addresses import AddressInput, edit_address
from billing.customers.deletion import deletion_notice, erase_customer
from billing.customers.onboarding import NewCustomer
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import FixedClock
from billing.kernel.errors import Conflict, DomainError, NotFound
from billing.kernel.mail import deliver, load_mail_settings, save_mail_settings
from models import AuditEvent, Customer, EmailLog, Invoice, Subscription, User, db
from tests import factories


def _new(**kw):
    data = dict(
        company_name="ACME GmbH",
        contact_name="Ann Admin",
        contact_email="ann@acme.example",
        country="DE",
        language="de",
    )
    data.update(kw)
    return NewCustomer(**data)


def test_invite_is_refused_without_a_mail_server(app):
    """SPEC §4 Create customer: refuse with a message that points to the mail settings."""
    factories.reference(app)
    with pytest.raises(DomainError, match="Mail server"):
        onboarding.invite_customer(_new(), SYSTEM, app.config["CLOCK"])
    assert db.session.query(Customer).count() == 0


def test_invite_creates_a_managed_invited_customer_and_delivers_the_mail(app, mail_on):
    clock = app.config["CLOCK"]
    customer, message = onboarding.invite_customer(_new(service_mode="self_service"), SYSTEM, clock)
    assert customer.service_mode == "managed" and customer.status == "invited"
    deliver(message, clock)
    ((recipients, mail),) = mail_on.messages
    assert recipients == ["ann@acme.example"]
    assert mail["Subject"] == "Ihre Einladung zum Kundenportal von MSP Billing"
    text = mail.get_body(("plain",)).get_content()
    assert "/portal/invite/" in text and "Guten Tag Ann Admin" in text
    log = db.session.get(EmailLog, message.log_id)
    assert (log.state, log.template, log.language) == ("sent", "invite", "de")


def test_failed_delivery_is_logged_with_its_error(app):
    clock = app.config["CLOCK"]
    save_mail_settings("127.0.0.1", 1, "none", "", "", "MSP", "billing@msp.example", SYSTEM, clock)
    factories.reference(app)
    _customer, message = onboarding.invite_customer(_new(), SYSTEM, clock)
    with pytest.raises(OSError):
        deliver(message, clock, final_attempt=False)
    assert db.session.get(EmailLog, message.log_id).state == "queued"
    with pytest.raises(OSError):
        deliver(message, clock, final_attempt=True)
    log = db.session.get(EmailLog, message.log_id)
    assert log.state == "failed" and log.error == "unreachable"


def _token_of(message) -> str:
    return message.text.split("/portal/invite/")[1].split()[0]


def test_resend_invite_voids_the_old_token(app, mail_on):
    clock = app.config["CLOCK"]
    customer, first = onboarding.invite_customer(_new(), SYSTEM, clock)
    second = onboarding.resend_invite(customer.id, SYSTEM, clock)
    with pytest.raises(NotFound):
        onboarding.find_invite(_token_of(first), clock)
    assert onboarding.find_invite(_token_of(second), clock).email == "ann@acme.example"


def test_accepting_an_invite_registers_once(app, mail_on):
    clock = app.config["CLOCK"]
    customer, message = onboarding.invite_customer(_new(), SYSTEM, clock)
    token = _token_of(message)
    user, welcome = onboarding.accept_invite(token, "Secret-Pass-1", "Secret-Pass-1", clock)
    assert user.is_registered and welcome.subject.startswith("Willkommen")
    assert db.session.get(Customer, customer.id).status == "inactive"
    with pytest.raises(NotFound, match="already been used"):
        onboarding.accept_invite(token, "Other-Pass-22", "Other-Pass-22", clock)


@pytest.mark.fresh_database
def test_two_concurrent_acceptances_create_one_registration(pg_app, smtp_sink):
    """SPEC §4 Register from invite: the token is single-use even under a race."""
    clock = pg_app.config["CLOCK"]
    save_mail_settings(
        "127.0.0.1", smtp_sink.port, "none", "", "", "MSP", "b@msp.example", SYSTEM, clock
    )
    factories.reference(pg_app)
    _customer, message = onboarding.invite_customer(_new(), SYSTEM, clock)
    token = _token_of(message)
    outcomes, barrier = [], threading.Barrier(2)

    def attempt(password):
        with pg_app.app_context():
            barrier.wait()
            try:
                onboarding.accept_invite(token, password, password, clock)
                outcomes.append("ok")
            except NotFound:
                outcomes.append("refused")

    threads = [
        threading.Thread(target=attempt, args=(p,)) for p in ("First-Pass-11", "Second-Pass-22")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "refused"]
    registrations = db.session.scalar(
        db.select(db.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "user.register")
    )
    assert registrations == 1


def test_expired_invites_are_refused(app, mail_on):
    clock = app.config["CLOCK"]
    _customer, message = onboarding.invite_customer(_new(), SYSTEM, clock)
    later = FixedClock(clock.now() + timedelta(days=7, seconds=1))
    with pytest.raises(DomainError, match="expired"):
        onboarding.accept_invite(_token_of(message), "Secret-Pass-1", "Secret-Pass-1", later)


@pytest.mark.parametrize(
    ("password", "again", "message"),
    [("Secret-Pass-1", "Secret-Pass-2", "do not match"), ("short", "short", "at least")],
)
def test_bad_passwords_change_nothing(app, mail_on, password, again, message):
    clock = app.config["CLOCK"]
    _customer, invite = onboarding.invite_customer(_new(), SYSTEM, clock)
    with pytest.raises(DomainError, match=message):
        onboarding.accept_invite(_token_of(invite), password, again, clock)
    assert onboarding.find_invite(_token_of(invite), clock) is not None


def test_convert_to_managed_only_for_self_service(app):
    """SPEC §4 Convert to managed (3.2.1)."""
    factories.reference(app)
    created = factories.customer(app, mode="self_service")
    clock = app.config["CLOCK"]
    lifecycle.convert_to_managed(created.id, SYSTEM, clock)
    assert db.session.get(Customer, created.id).service_mode == "managed"
    with pytest.raises(DomainError, match="Only self-service"):
        lifecycle.convert_to_managed(created.id, SYSTEM, clock)


def _address(**kw) -> AddressInput:
    data = dict(
        company_name="ACME GmbH",
        street="Main St 1",
        postal_code="1010",
        city="Wien",
        country="AT",
        vat_id="ATU 1358 5627",
    )
    data.update(kw)
    return AddressInput(**data)


def test_edit_address_validates_the_vat_id(app):
    """SPEC §4 Edit address (3.2.7): VAT-ID required abroad, checked for check digits."""
    factories.reference(app)
    created = factories.customer(app)
    clock = app.config["CLOCK"]
    saved = edit_address(created.id, _address(), SYSTEM, clock)
    assert saved.vat_id == "ATU13585627" and saved.country == "AT"
    for bad, message in (
        (_address(vat_id=""), "VAT-ID is required"),
        (_address(vat_id="ATU13585628"), "not valid"),
        (_address(country="XX"), "country"),
        (_address(city=""), "required"),
        (_address(use_billing_address=True), "required"),
    ):
        with pytest.raises(DomainError, match=message):
            edit_address(created.id, bad, SYSTEM, clock)
    assert db.session.get(Customer, created.id).vat_id == "ATU13585627"
    home = edit_address(created.id, _address(country="DE", vat_id="", city="Berlin"), SYSTEM, clock)
    assert home.vat_id == "" and home.country == "DE"


def test_edit_address_only_for_managed_customers(app):
    factories.reference(app)
    created = factories.customer(app, mode="self_service")
    with pytest.raises(DomainError, match="managed"):
        edit_address(created.id, _address(), SYSTEM, app.config["CLOCK"])


def test_edit_address_refuses_a_stale_version(app):
    factories.reference(app)
    created = factories.customer(app)
    seen = db.session.get(Customer, created.id).version
    clock = app.config["CLOCK"]
    edit_address(created.id, _address(), SYSTEM, clock, expected_version=seen)
    with pytest.raises(Conflict):
        edit_address(created.id, _address(city="Graz"), SYSTEM, clock, expected_version=seen)
    assert db.session.get(Customer, created.id).city == "Wien"


def _team_member(app, customer_id, registered=True, enabled=True, email="bob@acme.example"):
    clock = app.config["CLOCK"]
    user = User(
        customer_id=customer_id,
        email=email,
        name="Bob",
        created_at=clock.now(),
        enabled=enabled,
        registered_at=clock.now() if registered else None,
    )
    db.session.add(user)
    db.session.commit()
    return user


def test_change_main_user(app):
    """SPEC §4 Change main user (3.2.8): enabled, registered users only; old one stays."""
    factories.reference(app)
    created = factories.customer(app)
    clock = app.config["CLOCK"]
    disabled = _team_member(app, created.id, enabled=False, email="off@acme.example")
    with pytest.raises(DomainError, match="enabled, registered"):
        lifecycle.change_main_user(created.id, disabled.id, SYSTEM, clock)
    bob = _team_member(app, created.id)
    old = lookup.main_user(created.id)
    lifecycle.change_main_user(created.id, bob.id, SYSTEM, clock)
    assert lookup.main_user(created.id).id == bob.id
    assert db.session.get(User, old.id).is_main is False
    assert db.session.get(Customer, created.id).contact_email == "bob@acme.example"
    assert "change_main_user" in actions.available_actions(db.session.get(Customer, created.id))


def test_delete_needs_the_typed_word_for_registered_customers(app):
    """SPEC §4 Delete (3.2.9)."""
    factories.reference(app)
    registered = factories.customer(app)
    invited = factories.customer(app, state="invited")
    clock = app.config["CLOCK"]
    for word in ("", "delete", "DELETE ", "yes"):
        with pytest.raises(DomainError, match="DELETE"):
            lifecycle.request_deletion(registered.id, word, SYSTEM, clock)
    assert db.session.get(Customer, registered.id).marked_for_deletion_at is None
    lifecycle.request_deletion(invited.id, "yes", SYSTEM, clock)
    lifecycle.request_deletion(registered.id, "DELETE", SYSTEM, clock)
    assert db.session.get(Customer, registered.id).status == "marked_for_deletion"
    assert actions.available_actions(db.session.get(Customer, registered.id)) == ["details"]


def test_erasure_keeps_invoices_pseudonymised_and_is_restartable(app, mail_on):
    from billing.invoicing.drafting import draft_invoice

    factories.reference(app)
    clock = app.config["CLOCK"]
    created = factories.customer(app, company="Secret Corp", email="boss@secret.example")
    draft_invoice(created.id, clock.today().replace(day=1), clock)
    notice = deletion_notice(created.id, "staff@msp.example")
    lifecycle.request_deletion(created.id, "DELETE", SYSTEM, clock)
    messages = erase_customer(created.id, notice, clock)
    assert erase_customer(created.id, notice, clock) == []
    row = db.session.get(Customer, created.id)
    assert row.erased_at is not None and "Secret" not in row.company_name
    assert db.session.query(User).filter_by(customer_id=created.id).count() == 0
    invoice = db.session.scalar(db.select(Invoice).where(Invoice.customer_id == created.id))
    assert invoice.net > 0 and "Secret" not in invoice.billing_name
    sub = db.session.scalar(db.select(Subscription).where(Subscription.customer_id == created.id))
    assert sub.state == "cancelled" and sub.valid_until.isoformat() == "2026-11-30"
    assert sorted(m.recipient for m in messages) == ["boss@secret.example", "staff@msp.example"]
    assert all("Secret Corp" in m.text for m in messages)


def test_the_deletion_confirmation_greets_people_by_name_never_by_address(app, mail_on):
    """SPEC §4 Delete: the confirmation greets the staff member who deleted and the customer's
    main user by name, each in their language; an address that is no staff member's gets a
    neutral greeting, never "Guten Tag ops@…"."""
    from billing.access.staff import create_staff
    from billing.customers.deletion import delete_customer

    clock = app.config["CLOCK"]
    staff = create_staff("sam@msp.example", "admin", "Correct-Horse-9", clock, name="Sam Staff")
    named = factories.customer(app, state="registered", language="de")
    main = (named.id, named.contact_email, named.contact_name)
    delete_customer(named.id, "DELETE", staff.email, "en", Actor.staff(staff), clock)
    greetings = {m.recipient: m.text.splitlines()[0] for m in erase_customer(main[0], None, clock)}
    assert greetings == {"sam@msp.example": "Hello Sam Staff,", main[1]: f"Guten Tag {main[2]},"}
    unnamed = factories.customer(app, state="invited")
    delete_customer(unnamed.id, "yes", "ops@msp.example", "de", SYSTEM, clock)
    [message] = erase_customer(unnamed.id, None, clock)
    assert message.text.splitlines()[0] == "Guten Tag,"
    assert "<p>Guten Tag,</p>" in message.html


def test_mail_settings_store_the_password_encrypted(app):
    clock = app.config["CLOCK"]
    save_mail_settings(
        "smtp.example",
        "587",
        "starttls",
        "user",
        "canary-pass-123",
        "MSP",
        "billing@msp.example",
        SYSTEM,
        clock,
    )
    from models import Setting

    stored = db.session.get(Setting, "mail.password").value
    assert "canary-pass-123" not in stored
    assert load_mail_settings().password == "canary-pass-123"
    save_mail_settings(
        "smtp.example", "587", "starttls", "user", "", "MSP", "billing@msp.example", SYSTEM, clock
    )
    assert load_mail_settings().password == "canary-pass-123"
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "settings.mail"))
    assert "canary" not in str(event.after) + str(event.before)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("host", "", "host"),
        ("port", "0", "port"),
        ("port", "abc", "port"),
        ("tls_mode", "magic", "TLS"),
        ("sender_address", "nope", "sender"),
    ],
)
def test_bad_mail_settings_are_refused(app, field, value, message):
    values = dict(
        host="smtp.example",
        port="25",
        tls_mode="none",
        username="",
        password="",
        sender_name="MSP",
        sender_address="billing@msp.example",
    )
    values[field] = value
    with pytest.raises(DomainError, match=message):
        save_mail_settings(**values, actor=SYSTEM, clock=app.config["CLOCK"])
