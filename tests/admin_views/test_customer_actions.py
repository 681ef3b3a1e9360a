"""Customer actions through the admin (SPEC §3 row actions, §4)."""

from __future__ import annotations

import re

import pytest

from billing.customers.lookup import current_subscription, main_user, pending_change
from models import AuditEvent, Customer, EmailLog, User, db
from tests import factories
from tests.conftest import csrf_token, make_staff, sign_in


def actions_of(response, customer_id) -> list[str]:
    html = response.get_data(as_text=True)
    start = html.index(f'data-row-menu="{customer_id}"')
    menu = html[start : html.index("</td>", start)]
    return re.findall(r'data-action="(\w+)"', menu)


def test_row_actions_follow_their_preconditions(app, staff_client):
    """SPEC §3's table of row actions, with lock/unlock and cancel (§4) and the tools of §11,
    in the registry's order (``admin_views.actions.CUSTOMER_ACTIONS``)."""
    factories.reference(app)
    managed = factories.customer(app)
    self_service = factories.customer(app, mode="self_service")
    invited = factories.customer(app, state="invited")
    deleted = factories.customer(app, state="deleted")
    locked = factories.customer(app, state="locked")
    page = staff_client.get("/admin/customer/")
    assert actions_of(page, managed.id) == [
        "ip_distribution",
        "details",
        "lock",
        "add_project_key",
        "edit_address",
        "create_similar",
        "send_email",
        "impersonate",
        "cancel_subscription",
        "delete",
    ]
    assert actions_of(page, self_service.id) == [
        "convert",
        "ip_distribution",
        "details",
        "lock",
        "create_similar",
        "send_email",
        "impersonate",
        "cancel_subscription",
        "delete",
    ]
    invited_actions = actions_of(page, invited.id)
    assert "resend_invite" in invited_actions and "impersonate" not in invited_actions
    locked_actions = actions_of(page, locked.id)
    assert "unlock" in locked_actions and "lock" not in locked_actions
    assert "impersonate" not in locked_actions
    assert actions_of(page, deleted.id) == ["details"]


def test_support_sees_no_editing_actions_and_gets_403_on_them(app):
    factories.reference(app)
    created = factories.customer(app)
    invited = factories.customer(app, state="invited")
    support = make_staff(app, "support")
    client = app.test_client()
    sign_in(client, support.email)
    page = client.get("/admin/customer/")
    assert actions_of(page, created.id) == ["details", "impersonate"]
    assert actions_of(page, invited.id) == ["resend_invite", "details"]
    token = csrf_token(client, "/admin/")
    for url in (
        f"/admin/customer/{created.id}/ip-distribution/",
        f"/admin/customer/{created.id}/address/",
        f"/admin/customer/{created.id}/delete/",
        "/admin/customer/new-customer/",
    ):
        assert client.get(url).status_code == 403
        assert client.post(url, data={"csrf_token": token}).status_code == 403
    assert (
        client.post(f"/admin/customer/{created.id}/lock/", data={"csrf_token": token}).status_code
        == 403
    )
    assert db.session.get(Customer, created.id).locked is False


def test_new_customer_is_refused_without_mail_server(app, staff_client):
    response = staff_client.post(
        "/admin/customer/new-customer/",
        data={
            "csrf_token": staff_client.token,
            "company_name": "ACME",
            "contact_name": "Ann",
            "contact_email": "ann@acme.example",
            "country": "DE",
            "language": "en",
        },
    )
    html = response.get_data(as_text=True)
    assert "Mail server" in html and 'value="ACME"' in html
    assert db.session.query(Customer).count() == 0


def test_new_customer_invites_by_email(app, staff_client, mail_on, redis_server):
    app.config["REDIS_URL"] = redis_server.url
    response = staff_client.post(
        "/admin/customer/new-customer/",
        data={
            "csrf_token": staff_client.token,
            "company_name": "ACME",
            "contact_name": "Ann",
            "contact_email": "Ann@ACME.example",
            "country": "AT",
            "language": "de",
        },
    )
    assert response.status_code == 302
    customer = db.session.scalar(db.select(Customer))
    assert (customer.status, customer.service_mode) == ("invited", "managed")
    log = db.session.scalar(db.select(EmailLog))
    assert (log.template, log.state, log.recipient) == ("invite", "queued", "Ann@acme.example")
    again = staff_client.post(
        "/admin/customer/new-customer/",
        data={
            "csrf_token": staff_client.token,
            "company_name": "Other",
            "contact_name": "Ann",
            "contact_email": "ann@acme.EXAMPLE",
            "country": "DE",
            "language": "en",
        },
    )
    assert "exists already" in again.get_data(as_text=True)


def test_actions_need_post_and_csrf(app, staff_client):
    factories.reference(app)
    created = factories.customer(app)
    assert staff_client.get(f"/admin/customer/{created.id}/lock/").status_code == 405
    assert (
        staff_client.post(f"/admin/customer/{created.id}/lock/", data={"locked": "y"}).status_code
        == 400
    )
    assert staff_client.get(f"/admin/customer/{created.id}/cancel/").status_code == 405
    assert db.session.get(Customer, created.id).locked is False


def test_ip_distribution_form_saves_and_reports(app, staff_client):
    factories.reference(app)
    created = factories.customer(app, internal=40, external=10, since=_oct())
    version = db.session.get(Customer, created.id).version
    response = staff_client.post(
        f"/admin/customer/{created.id}/ip-distribution/",
        data={
            "csrf_token": staff_client.token,
            "version": version,
            "total_ips": "100",
            "internal_ips": "80",
            "external_ips": "20",
            "instantly": "y",
        },
    )
    assert response.status_code == 302
    assert current_subscription(created.id).total_ips == 100
    follow = staff_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "applies now" in follow


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"total_ips": "10", "internal_ips": "5", "external_ips": "4"}, "add up"),
        ({"total_ips": "-5", "internal_ips": "-5", "external_ips": "0"}, ""),
        ({"total_ips": "abc", "internal_ips": "1", "external_ips": "0"}, ""),
        (
            {"total_ips": "20", "internal_ips": "10", "external_ips": "10", "instantly": "y"},
            "end of the booking month",
        ),
    ],
)
def test_ip_distribution_bad_input_changes_nothing(app, staff_client, data, message):
    factories.reference(app)
    created = factories.customer(app, internal=40, external=10)
    version = db.session.get(Customer, created.id).version
    response = staff_client.post(
        f"/admin/customer/{created.id}/ip-distribution/",
        data={"csrf_token": staff_client.token, "version": version, **data},
    )
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert current_subscription(created.id).total_ips == 50
    assert pending_change(created.id) is None


def test_a_stale_form_gets_changed_by_someone_else(app, staff_client):
    factories.reference(app)
    created = factories.customer(app, internal=40, external=10)
    stale = db.session.get(Customer, created.id).version
    staff_client.post(
        f"/admin/customer/{created.id}/lock/",
        data={"csrf_token": staff_client.token, "version": stale, "locked": "y"},
    )
    response = staff_client.post(
        f"/admin/customer/{created.id}/ip-distribution/",
        data={
            "csrf_token": staff_client.token,
            "version": stale,
            "total_ips": "50",
            "internal_ips": "10",
            "external_ips": "40",
        },
    )
    assert "changed by someone else" in response.get_data(as_text=True)
    assert current_subscription(created.id).internal_ips == 40


def test_lock_unlock_and_cancel_from_details(app, staff_client):
    """SPEC §4 Lock (3.2.3) and Cancel (3.2.4); every change is audited."""
    factories.reference(app)
    created = factories.customer(app)
    details = staff_client.get(f"/admin/customer/details/?id={created.id}").get_data(as_text=True)
    assert 'id="lock-form"' in details and 'id="cancel-subscription-form"' in details
    assert 'id="unlock-form"' not in details
    version = db.session.get(Customer, created.id).version
    staff_client.post(
        f"/admin/customer/{created.id}/lock/",
        data={"csrf_token": staff_client.token, "version": version},
    )
    assert db.session.get(Customer, created.id).status == "locked"
    details = staff_client.get(f"/admin/customer/details/?id={created.id}").get_data(as_text=True)
    assert 'id="unlock-form"' in details and 'id="lock-form"' not in details
    version = db.session.get(Customer, created.id).version
    again = staff_client.post(
        f"/admin/customer/{created.id}/lock/",
        data={"csrf_token": staff_client.token, "version": version},
        follow_redirects=True,
    )
    assert "This action is not available for this customer (any more)." in again.get_data(
        as_text=True
    )
    staff_client.post(
        f"/admin/customer/{created.id}/unlock/",
        data={"csrf_token": staff_client.token, "version": version},
    )
    assert db.session.get(Customer, created.id).status == "active"
    version = db.session.get(Customer, created.id).version
    staff_client.post(
        f"/admin/customer/{created.id}/cancel/",
        data={"csrf_token": staff_client.token, "version": version},
    )
    assert db.session.get(Customer, created.id).status == "inactive"
    actions = db.session.scalars(
        db.select(AuditEvent.action).where(
            AuditEvent.customer_id == created.id, AuditEvent.actor_type == "staff"
        )
    ).all()
    assert actions == ["customer.lock", "customer.unlock", "subscription.cancel"]
    timeline = staff_client.get(f"/admin/customer/details/?id={created.id}").get_data(as_text=True)
    assert timeline.index("subscription.cancel") < timeline.index("customer.lock")


def test_edit_address_form_shows_field_errors_and_keeps_input(app, staff_client):
    factories.reference(app)
    created = factories.customer(app)
    version = db.session.get(Customer, created.id).version
    form = {
        "csrf_token": staff_client.token,
        "version": version,
        "company_name": "ACME",
        "street": "Ring 1",
        "postal_code": "1010",
        "city": "Wien",
        "country": "AT",
        "vat_id": "ATU13585628",
    }
    html = staff_client.post(f"/admin/customer/{created.id}/address/", data=form).get_data(
        as_text=True
    )
    assert 'data-error-for="vat_id"' in html and "not valid" in html and 'value="Ring 1"' in html
    form["vat_id"] = "ATU13585627"
    assert staff_client.post(f"/admin/customer/{created.id}/address/", data=form).status_code == 302
    assert db.session.get(Customer, created.id).vat_id == "ATU13585627"


def test_change_main_user_form(app, staff_client):
    factories.reference(app)
    created = factories.customer(app)
    clock = app.config["CLOCK"]
    bob = User(
        customer_id=created.id,
        email="bob@x.example",
        name="Bob",
        created_at=clock.now(),
        registered_at=clock.now(),
    )
    db.session.add(bob)
    db.session.commit()
    page = staff_client.get(f"/admin/customer/{created.id}/main-user/").get_data(as_text=True)
    assert "bob@x.example" in page
    version = db.session.get(Customer, created.id).version
    staff_client.post(
        f"/admin/customer/{created.id}/main-user/",
        data={"csrf_token": staff_client.token, "version": version, "user_id": str(bob.id)},
    )
    assert main_user(created.id).email == "bob@x.example"


def test_convert_asks_for_confirmation(app, staff_client):
    factories.reference(app)
    created = factories.customer(app, mode="self_service")
    page = staff_client.get(f"/admin/customer/{created.id}/convert/").get_data(as_text=True)
    assert "cannot be undone" in page
    version = db.session.get(Customer, created.id).version
    staff_client.post(
        f"/admin/customer/{created.id}/convert/",
        data={"csrf_token": staff_client.token, "version": version},
    )
    assert db.session.get(Customer, created.id).service_mode == "managed"
    again = staff_client.get(f"/admin/customer/{created.id}/convert/")
    assert again.status_code == 302


def test_delete_checks_the_typed_word_on_the_server(app, staff_client, redis_server):
    app.config["REDIS_URL"] = redis_server.url
    factories.reference(app)
    created = factories.customer(app)
    version = db.session.get(Customer, created.id).version
    wrong = staff_client.post(
        f"/admin/customer/{created.id}/delete/",
        data={"csrf_token": staff_client.token, "version": version, "confirmation": "delete"},
    )
    assert "DELETE" in wrong.get_data(as_text=True)
    assert db.session.get(Customer, created.id).marked_for_deletion_at is None
    right = staff_client.post(
        f"/admin/customer/{created.id}/delete/",
        data={"csrf_token": staff_client.token, "version": version, "confirmation": "DELETE"},
    )
    assert right.status_code == 302
    assert db.session.get(Customer, created.id).status == "marked_for_deletion"
    from redis import Redis
    from rq import Queue

    jobs = Queue("default", connection=Redis.from_url(redis_server.url)).jobs
    assert [j.func_name for j in jobs] == ["jobs.customers.erase"]


def test_mail_settings_are_admin_only_and_never_show_the_password(app, staff_client):
    response = staff_client.post(
        "/admin/settings/mail/",
        data={
            "csrf_token": staff_client.token,
            "host": "smtp.example",
            "port": "587",
            "tls_mode": "starttls",
            "username": "u",
            "password": "canary-secret-999",
            "sender_name": "MSP",
            "sender_address": "billing@msp.example",
        },
    )
    assert response.status_code == 302
    page = staff_client.get("/admin/settings/mail/").get_data(as_text=True)
    assert "canary-secret-999" not in page and "•" in page
    billing = make_staff(app, "billing")
    client = app.test_client()
    sign_in(client, billing.email)
    assert client.get("/admin/settings/mail/").status_code == 403


@pytest.mark.slow
@pytest.mark.fresh_database
def test_test_email_arrives(app, staff_client, mail_on, redis_server):
    import subprocess
    import sys

    from tests.support.services import PATIENCE

    app.config["REDIS_URL"] = redis_server.url
    staff_client.post(
        "/admin/settings/mail/test/",
        data={"csrf_token": staff_client.token, "recipient": "ops@msp.example"},
    )
    env = {
        "FLASK_APP": "app:create_app",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis_server.url,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "ENCRYPTION_KEYS": app.config["ENCRYPTION_KEYS"],
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "flask", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert result.returncode == 0, result.stderr
    ((recipients, message),) = mail_on.messages
    assert recipients == ["ops@msp.example"] and "Test e-mail" in message["Subject"]
    db.session.rollback()
    assert db.session.scalar(db.select(EmailLog.state)) == "sent"


def _oct():
    from datetime import date

    return date(2026, 10, 1)


def test_customer_price_overrides_the_tiers_and_is_audited(app, staff_client):
    """SPEC §5: managed customers may have a per-customer unit price."""
    from decimal import Decimal

    factories.reference(app)
    created = factories.customer(app, internal=100, external=0)
    version = db.session.get(Customer, created.id).version
    for bad in ("abc", "-1", "1.00001"):
        staff_client.post(
            f"/admin/customer/{created.id}/price/",
            data={"csrf_token": staff_client.token, "version": version, "unit_price": bad},
        )
        assert db.session.get(Customer, created.id).unit_price is None
    staff_client.post(
        f"/admin/customer/{created.id}/price/",
        data={"csrf_token": staff_client.token, "version": version, "unit_price": "2,5"},
    )
    row = db.session.get(Customer, created.id)
    assert row.unit_price == Decimal("2.5") and row.monthly_price == Decimal("250.00")
    assert current_subscription(created.id).price_basis == "customer_price"
    staff_client.post(
        f"/admin/customer/{created.id}/price/",
        data={"csrf_token": staff_client.token, "version": row.version, "unit_price": ""},
    )
    row = db.session.get(Customer, created.id)
    assert row.unit_price is None and row.monthly_price == Decimal("385.00")
    events = db.session.scalars(
        db.select(AuditEvent.after).where(AuditEvent.action == "customer.set_price")
    ).all()
    assert events == [{"unit_price": "2.5"}, {"unit_price": None}]


def test_row_menu_resend_form_works_as_rendered_and_speaks_german(app, staff_client):
    """SPEC §3 row actions, §0: the list's own Resend invite form (its address and token) sends
    a new invite, and the menu follows the staff language."""
    factories.reference(app)
    invited = factories.customer(app, state="invited")
    html = staff_client.get("/admin/customer/").get_data(as_text=True)
    start = html.index(f'data-row-menu="{invited.id}"')
    menu = html[start : html.index("</td>", start)]
    address = re.search(r'<form method="post" action="([^"]+)">', menu).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', menu).group(1)
    assert address == f"/admin/customer/{invited.id}/resend-invite/?url=%2Fadmin%2Fcustomer%2F"
    response = staff_client.post(address, data={"csrf_token": token})
    assert response.status_code == 302
    assert response.location == f"/admin/customer/?highlight={invited.id}"
    resent = db.select(AuditEvent).where(
        AuditEvent.action == "customer.resend_invite", AuditEvent.customer_id == invited.id
    )
    assert len(db.session.scalars(resent).all()) == 1
    staff_client.post(
        "/admin/language/",
        data={"language": "de", "next": "/admin/customer/", "csrf_token": staff_client.token},
    )
    german = staff_client.get("/admin/customer/").get_data(as_text=True)
    start = german.index(f'data-row-menu="{invited.id}"')
    menu = german[start : german.index("</td>", start)]
    assert 'title="Aktionen"' in german and "Einladung erneut senden" in menu
    assert "Details" in menu and "Resend invite" not in menu


def test_every_endpoint_asks_billing_whether_its_action_applies(app, staff_client):
    """Issue 15 item 2: an endpoint checks its row action (``CUSTOMER_ACTIONS``) and asks
    ``available_actions`` before it changes anything; a customer marked for deletion allows
    nothing but its details, whatever a stale page or a hand-made request posts."""
    from billing.payments import ledger

    factories.reference(app)
    deleted = factories.customer(app, state="deleted")
    before = db.session.get(Customer, deleted.id)
    language, version = before.language, before.version
    posts = {
        "tags": {"tags": "VIP"},
        "language": {"language": "de" if language == "en" else "en"},
        "ledger": {"direction": "credit", "amount": "10", "description": "goodwill"},
        "partner": {"partner_id": ""},
        "lock": {},
        "organisation": {"industry": "Retail"},
    }
    for path, data in posts.items():
        page = staff_client.post(
            f"/admin/customer/{deleted.id}/{path}/",
            data={"csrf_token": staff_client.token, "version": version, **data},
            follow_redirects=True,
        )
        assert "This action is not available for this customer (any more)." in page.get_data(
            as_text=True
        ), path
    db.session.expire_all()
    after = db.session.get(Customer, deleted.id)
    assert (after.tags, after.language, after.locked, after.industry) == ([], language, False, "")
    assert ledger.balance(deleted.id) == 0


def _invites_logged() -> int:
    return db.session.scalar(
        db.select(db.func.count()).select_from(EmailLog).where(EmailLog.template == "invite")
    )


def test_resend_invite_is_limited_per_address(app, staff_client, mail_on):
    """Issue 13 item 5: 25 resends in a row send three invites an hour to the address, then
    the admin says how long to wait; a refused resend changes nothing (the last link works)."""
    factories.reference(app)
    invited = factories.customer(app, state="invited")
    url = f"/admin/customer/{invited.id}/resend-invite/"
    pages = [
        staff_client.post(url, data={"csrf_token": staff_client.token}, follow_redirects=True)
        for _ in range(25)
    ]
    assert _invites_logged() == 3
    refused = pages[-1].get_data(as_text=True)
    assert "Too many invitations to this address. Please try again in" in refused
    resent = db.select(AuditEvent).where(AuditEvent.action == "customer.resend_invite")
    assert len(db.session.scalars(resent).all()) == 3
    db.session.expire_all()
    assert main_user(invited.id).invite_token_hash is not None


def _new_customer(client, n: int):
    return client.post(
        "/admin/customer/new-customer/",
        data={
            "csrf_token": client.token,
            "company_name": f"Company {n}",
            "contact_name": "Ann",
            "contact_email": f"ann{n}@company.example",
            "country": "DE",
            "language": "en",
        },
    )


def test_new_customer_invites_are_limited_per_staff_account(app, staff_client, mail_on):
    """Issue 13 item 5: one staff account sends at most 30 invites an hour; the refusal names
    the wait and creates nothing; another staff member is not held up by it."""
    factories.reference(app)
    assert [_new_customer(staff_client, n).status_code for n in range(30)] == [302] * 30
    refused = _new_customer(staff_client, 30)
    assert refused.status_code == 200
    page = refused.get_data(as_text=True)
    assert "Too many invitations from this account. Please try again in" in page
    assert db.session.query(Customer).count() == 30 and _invites_logged() == 30
    colleague = app.test_client()
    sign_in(colleague, make_staff(app, "billing").email)
    colleague.token = csrf_token(colleague, "/admin/")
    assert _new_customer(colleague, 30).status_code == 302
