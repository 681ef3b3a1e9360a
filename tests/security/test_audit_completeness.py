"""Every customer action, sign-in, export and settings change writes exactly one audit event
naming the actor, their IP address and the outcome (SPEC §2 "Audit event", SPEC §4 "recorded in
the audit log", SPEC §13 "audit log").

Each step is done through the product's own pages from its own IP address (as a browser
would), and the audit log must grow by exactly one event for it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import pytest

from billing.customers import lookup, onboarding
from billing.customers.onboarding import NewCustomer
from billing.invoicing import monthend, monthend_work
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.kernel.audit import SYSTEM
from billing.subscriptions.project_keys import create_key
from models import AuditEvent, Customer, db
from tests import factories
from tests.conftest import STAFF_PASSWORD, berlin, csrf_token, make_staff
from tests.portal.helpers import PASSWORD, add_member

STAFF_IP = "203.0.113.10"
CUSTOMER_IP = "198.51.100.20"
STRANGER_IP = "192.0.2.30"


@dataclass(frozen=True)
class Expected:
    action: str
    actor: str
    ip: str
    outcome: str = "ok"


class AuditLog:
    """Checks that a step adds exactly one audit event and what it says."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    @contextmanager
    def one_event(self, expected: Expected, customer_id: int | None = None):
        last = db.session.scalar(db.select(db.func.max(AuditEvent.id))) or 0
        yield
        db.session.expire_all()
        events = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.id > last).order_by(AuditEvent.id)
        ).all()
        described = [(e.action, e.actor_label, e.ip, e.outcome) for e in events]
        assert len(events) == 1, f"{expected.action}: {described}"
        event = events[0]
        assert (event.action, event.actor_label, event.ip, event.outcome) == (
            expected.action,
            expected.actor,
            expected.ip,
            expected.outcome,
        ), described
        if customer_id is not None:
            assert event.customer_id == customer_id, expected.action
        self.checked.append(expected.action)


def _client(app, ip: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def _version(customer_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Customer, customer_id).version


@pytest.fixture
def world(app, mail_on, redis_server):
    """Reference data, an admin (not yet signed in) and customers in the states the actions
    need; the clock stands in mid-November 2026."""
    app.config["REDIS_URL"] = redis_server.url
    factories.reference(app)
    admin = make_staff(app, "admin", "ops@msp.example")
    people = {
        "managed": factories.customer(app, internal=40, external=10).id,
        "self_service": factories.customer(app, mode="self_service").id,
        "invited": factories.customer(app, state="invited").id,
        "doomed": factories.customer(app).id,
        "keyed": factories.customer(app, internal=40, external=10).id,
    }
    create_key("PK-AUDIT", 100, 12, "1800", SYSTEM, app.config["CLOCK"])
    return app, admin, people


def test_sign_ins_ok_and_failed_are_audited_with_ip(world):
    """SPEC §13: every staff and portal sign-in, successful or not, is one event with the
    address typed in (or the account), the client's IP and the outcome."""
    app, admin, people = world
    log = AuditLog()
    staff = _client(app, STAFF_IP)
    stranger = _client(app, STRANGER_IP)
    customer_email = lookup.main_user(people["managed"]).email
    cases = [
        (staff, "/admin/login/", admin.email, "wrong-password", "staff.sign_in", "failed"),
        (stranger, "/admin/login/", "nobody@x.example", "whatever", "staff.sign_in", "failed"),
        (staff, "/admin/login/", admin.email, STAFF_PASSWORD, "staff.sign_in", "ok"),
        (stranger, "/portal/login", customer_email, "wrong-password", "user.sign_in", "failed"),
        (stranger, "/portal/login", "nobody@x.example", "whatever", "user.sign_in", "failed"),
        (stranger, "/portal/login", customer_email, PASSWORD, "user.sign_in", "ok"),
    ]
    for client, url, email, password, action, outcome in cases:
        ip = client.environ_base["REMOTE_ADDR"]
        token = csrf_token(client, url)
        with log.one_event(Expected(action, email, ip, outcome)):
            client.post(url, data={"csrf_token": token, "email": email, "password": password})
    assert len(log.checked) == len(cases)


def test_sign_outs_are_audited_with_ip(world):
    """SPEC §13: signing out of the admin and of the portal is one event with the client's IP."""
    app, admin, people = world
    log = AuditLog()
    staff = _signed_in_admin(app, admin)
    with log.one_event(Expected("staff.sign_out", admin.email, STAFF_IP)):
        assert staff.post("/admin/logout/", data={"csrf_token": staff.token}).status_code == 302
    email = lookup.main_user(people["managed"]).email
    customer = _signed_in_customer(app, email)
    token = csrf_token(customer, "/portal/account")
    with log.one_event(Expected("user.sign_out", email, CUSTOMER_IP), people["managed"]):
        assert customer.post("/portal/logout", data={"csrf_token": token}).status_code == 302
    assert len(log.checked) == 2


def test_invoice_pdf_downloads_are_audited(world):
    """SPEC §10/§13: an invoice PDF (the customer's billing data) downloaded by staff or by the
    customer is one event naming the invoice, the downloader and their IP; a refused download
    (another customer's invoice) writes none."""
    app, admin, people = world
    clock = app.config["CLOCK"]
    clock.instant = berlin(2026, 12, 2, 9, 0)
    invoice = finalize_invoice(draft_invoice(people["managed"], date(2026, 11, 1), clock).id, clock)
    other = finalize_invoice(draft_invoice(people["keyed"], date(2026, 11, 1), clock).id, clock)
    log = AuditLog()
    staff = _signed_in_admin(app, admin)
    with log.one_event(Expected("invoice.download", admin.email, STAFF_IP), people["managed"]):
        assert staff.get(f"/admin/invoice/{invoice.id}/pdf/").status_code == 200
    email = lookup.main_user(people["managed"]).email
    customer = _signed_in_customer(app, email)
    with log.one_event(Expected("invoice.download", email, CUSTOMER_IP), people["managed"]):
        assert customer.get(f"/portal/invoices/{invoice.id}/pdf").status_code == 200
    event = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "invoice.download")
    ).first()
    assert event.after == {"invoice": invoice.id, "number": invoice.number}
    before = db.session.scalar(db.select(db.func.count(AuditEvent.id)))
    assert customer.get(f"/portal/invoices/{other.id}/pdf").status_code == 404
    assert db.session.scalar(db.select(db.func.count(AuditEvent.id))) == before
    assert len(log.checked) == 2


def _signed_in_customer(app, email: str):
    client = _client(app, CUSTOMER_IP)
    token = csrf_token(client, "/portal/login")
    client.post("/portal/login", data={"csrf_token": token, "email": email, "password": PASSWORD})
    return client


def _signed_in_admin(app, admin):
    client = _client(app, STAFF_IP)
    token = csrf_token(client, "/admin/login/")
    client.post(
        "/admin/login/",
        data={"csrf_token": token, "email": admin.email, "password": STAFF_PASSWORD},
    )
    client.token = csrf_token(client, "/admin/")
    return client


def test_every_customer_action_writes_one_event_with_actor_and_ip(world):
    """SPEC §4: create, resend invite, register from invite, convert to managed, IP
    distribution, lock, unlock, cancel, reactivate, add project key, edit address, change main
    user and delete each write exactly one event naming the staff member (or the customer
    user) and their IP."""
    app, admin, people = world
    log = AuditLog()
    client = _signed_in_admin(app, admin)
    me = Expected("", admin.email, STAFF_IP)

    def post(url: str, customer_id: int | None = None, **data):
        if customer_id is not None:
            data.setdefault("version", _version(customer_id))
        response = client.post(url, data={"csrf_token": client.token, **data})
        assert response.status_code == 302, (url, response.get_data(as_text=True)[:500])
        return response

    def action(name: str, customer_id: int | None = None):
        return log.one_event(Expected(name, me.actor, me.ip), customer_id)

    with action("customer.create"):
        post(
            "/admin/customer/new-customer/",
            company_name="Audit Trail GmbH",
            contact_name="Ann Audit",
            contact_email="ann@audit.example",
            country="DE",
            language="en",
        )
    invited = people["invited"]
    with action("customer.resend_invite", invited):
        post(f"/admin/customer/{invited}/resend-invite/")
    with action("customer.convert_to_managed", people["self_service"]):
        post(f"/admin/customer/{people['self_service']}/convert/", people["self_service"])
    managed = people["managed"]
    ips = {"total_ips": "60", "internal_ips": "50", "external_ips": "10", "instantly": "y"}
    with action("subscription.change", managed):
        post(f"/admin/customer/{managed}/ip-distribution/", managed, **ips)
    with action("customer.lock", managed):
        post(f"/admin/customer/{managed}/lock/", managed, locked="y")
    with action("customer.unlock", managed):
        post(f"/admin/customer/{managed}/unlock/", managed)
    with action("subscription.cancel", managed):
        post(f"/admin/customer/{managed}/cancel/", managed)
    with action("subscription.start", managed):
        post(f"/admin/customer/{managed}/ip-distribution/", managed, **ips)
    keyed = people["keyed"]
    wizard = {"key": "PK-AUDIT", "selling_price": "2880", "internal_ips": "80"}
    with action("project_key.redeem", keyed):
        for step in ("key", "price", "split"):
            client.post(
                f"/admin/customer/{keyed}/project-key/",
                data={"csrf_token": client.token, "step": step, "external_ips": "20", **wizard},
            )
        post(
            f"/admin/customer/{keyed}/project-key/",
            step="summary",
            external_ips="20",
            instantly="y",
            **wizard,
        )
    with action("customer.edit_address", managed):
        post(
            f"/admin/customer/{managed}/address/",
            managed,
            company_name="Audit Address AG",
            street="Ring 1",
            postal_code="1010",
            city="Wien",
            country="AT",
            vat_id="ATU13585627",
        )
    second = add_member(app, lookup.get_customer(managed), "second@audit.example")
    with action("customer.change_main_user", managed):
        post(f"/admin/customer/{managed}/main-user/", managed, user_id=str(second.id))
    doomed = people["doomed"]
    with action("customer.mark_for_deletion", doomed):
        post(f"/admin/customer/{doomed}/delete/", doomed, confirmation="DELETE")

    # register from the invite: the customer's contact, from their own address
    clock = app.config["CLOCK"]
    created, token = onboarding.create_customer(
        NewCustomer(
            company_name="Invitee Ltd",
            contact_name="Ivy",
            contact_email="ivy@invitee.example",
            country="DE",
        ),
        SYSTEM,
        clock,
    )
    browser = _client(app, CUSTOMER_IP)
    page = f"/portal/invite/{token}"
    expected = Expected("user.register", "ivy@invitee.example", CUSTOMER_IP)
    with log.one_event(expected, created.id):
        response = browser.post(
            page,
            data={
                "csrf_token": csrf_token(browser, page),
                "password": "Invitee-Pass-1",
                "password_again": "Invitee-Pass-1",
            },
        )
        assert response.status_code == 302
    assert len(log.checked) == 13


def test_every_export_writes_one_event(world):
    """SPEC §3 (list exports), §9 (billing data download), §8 (run report): each download is one
    event with the staff member, their IP and what was exported."""
    app, admin, _people = world
    log = AuditLog()
    client = _signed_in_admin(app, admin)
    clock = app.config["CLOCK"]
    clock.instant = berlin(2026, 11, 1, 0, 30)
    run = monthend.start_run(date(2026, 10, 1), SYSTEM, clock)
    monthend_work.work(run.run_id, clock)
    downloads = [
        ("customer.export", "/admin/customer/export/json/"),
        ("customer.export", "/admin/customer/export/csv/?search=Company"),
        ("customer.export", "/admin/customer/export/xlsx/"),
        ("billing_data.export", "/admin/billing-data/json/?month=2026-10"),
        ("billing_data.export", "/admin/billing-data/csv/?month=2026-10"),
        ("billing_run.report_export", f"/admin/billing_run/{run.run_id}/report.csv"),
    ]
    for name, url in downloads:
        with log.one_event(Expected(name, admin.email, STAFF_IP)):
            response = client.get(url)
            assert response.status_code == 200, url
            response.get_data()
    assert len(log.checked) == len(downloads)


def test_every_settings_change_writes_one_event(world, localstripe):
    """SPEC §5, §6, §7, §8: mail server, Stripe keys, webhook secret, payment methods,
    self-service switch and prices, invoice settings and automatic finalizing: each save is one
    event with the admin, their IP and the outcome."""
    app, admin, _people = world
    app.config["STRIPE_API_BASE"] = localstripe.url
    log = AuditLog()
    client = _signed_in_admin(app, admin)
    changes = [
        (
            "settings.mail",
            "/admin/settings/mail/",
            {
                "host": "127.0.0.1",
                "port": "2525",
                "tls_mode": "none",
                "username": "",
                "password": "smtp-secret",
                "sender_name": "MSP",
                "sender_address": "billing@msp.example",
            },
        ),
        (
            "settings.stripe",
            "/admin/payment-methods/stripe/",
            {"secret_key": "sk_test_audit42", "publishable_key": "pk_test_audit42"},
        ),
        (
            "settings.stripe_webhook",
            "/admin/payment-methods/webhook/",
            {"webhook_secret": "whsec_audit42"},
        ),
        (
            "payment_method.activate",
            "/admin/payment-methods/toggle/",
            {"code": "card", "active": "1"},
        ),
        (
            "payment_method.deactivate",
            "/admin/payment-methods/toggle/",
            {"code": "card", "active": "0"},
        ),
        (
            "settings.self_service",
            "/admin/self-service/",
            {"registration_enabled": "y", "article_name": "Scanning", "article_number": "VS-1"},
        ),
        (
            "pricing.replace_tiers",
            "/admin/self-service/prices/",
            {
                "action": "save",
                "lower": ["1", "51", "251"],
                "upper": ["50", "250", ""],
                "price": ["5.00", "3.20", "2.10"],
            },
        ),
        (
            "settings.invoice",
            "/admin/settings/invoices/",
            {
                "seller_name": "Nordlicht IT GmbH",
                "seller_address": "Hafenstraße 5\n20457 Hamburg",
                "seller_vat_id": "DE136695976",
                "ip_purchase_price": "1.15",
            },
        ),
        ("billing.auto_finalize", "/admin/billing_run/settings/", {"auto_finalize": "y"}),
    ]
    for name, url, data in changes:
        with log.one_event(Expected(name, admin.email, STAFF_IP)):
            response = client.post(url, data={"csrf_token": client.token, **data})
            assert response.status_code == 302, (url, response.get_data(as_text=True)[:300])
    assert len(log.checked) == len(changes)
