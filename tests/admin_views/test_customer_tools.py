"""Flexiant's "Manage Customer" tools through the admin and the portal (SPEC §11, issue 7
items 1–4): create similar, log in as the customer, tags, e-mail, language, ledger."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal as D

from billing.customers import lookup
from billing.payments import ledger
from models import AuditEvent, Customer, EmailLog, Impersonation, Tag, User, db
from tests import factories
from tests.conftest import csrf_token, make_staff, sign_in


def _staff(app, role):
    staff = make_staff(app, role, f"{role}-tools@staff.example")
    client = app.test_client()
    sign_in(client, staff.email)
    client.token = csrf_token(client, "/admin/")
    return client, staff


def _actions(customer_id):
    return [
        (e.action, e.actor_label, e.reason)
        for e in db.session.scalars(
            db.select(AuditEvent)
            .where(AuditEvent.customer_id == customer_id)
            .order_by(AuditEvent.id)
        )
    ]


def test_create_similar_opens_a_prefilled_form_and_creates_through_the_invite(
    app, staff_client, mail_on
):
    """Issue 7.1: Details → Create similar; identity empty, settings shown and copied."""
    factories.reference(app)
    source = factories.customer(app, language="de", company="Muster GmbH")
    page = staff_client.get(f"/admin/customer/{source.id}/similar/").get_data(as_text=True)
    assert 'id="similar-settings"' in page and "Muster GmbH" in page
    assert 'name="company_name" required type="text" value=""' in page or re.search(
        r'name="company_name"[^>]*value=""', page
    )
    assert re.search(r'<option selected value="de">', page)
    response = staff_client.post(
        f"/admin/customer/{source.id}/similar/",
        data={
            "csrf_token": staff_client.token,
            "company_name": "Neu AG",
            "contact_name": "Nina Neu",
            "contact_email": "nina@neu.example",
            "country": "DE",
            "language": "de",
        },
    )
    assert response.status_code == 302
    copy = db.session.scalar(db.select(Customer).where(Customer.company_name == "Neu AG"))
    assert copy.language == "de" and copy.payment_method == "invoice"
    assert "customer.create_similar" in [a for a, _l, _r in _actions(copy.id)]
    assert (
        db.session.scalar(
            db.select(EmailLog.template).where(EmailLog.recipient == "nina@neu.example")
        )
        == "invite"
    )
    listing = staff_client.get("/admin/customer/").get_data(as_text=True)
    assert f"/admin/customer/{source.id}/similar/" in listing


def test_support_cannot_create_similar_or_edit_tags_language_ledger_or_send_mail(app):
    factories.reference(app)
    customer = factories.customer(app)
    client, _support = _staff(app, "support")
    for url in ("similar/", "message/"):
        assert client.get(f"/admin/customer/{customer.id}/{url}").status_code == 403
    for url in ("tags/", "language/", "ledger/", "message/", "similar/"):
        response = client.post(
            f"/admin/customer/{customer.id}/{url}",
            data={"csrf_token": client.token, "tags": "x", "language": "de", "amount": "5"},
        )
        assert response.status_code == 403
    assert db.session.get(Customer, customer.id).tags == []


def test_tags_language_and_ledger_forms_on_details(app, staff_client):
    """Issue 7.3/7.4: Details edits tags and language, books credit; balance shown."""
    factories.reference(app)
    customer = factories.customer(app)
    base = f"/admin/customer/{customer.id}"
    post = staff_client.post
    post(f"{base}/tags/", data={"csrf_token": staff_client.token, "tags": "VIP, Nord"})
    post(f"{base}/language/", data={"csrf_token": staff_client.token, "language": "de"})
    post(
        f"{base}/ledger/",
        data={
            "csrf_token": staff_client.token,
            "direction": "credit",
            "amount": "25.00",
            "description": "Goodwill",
        },
    )
    bad = post(
        f"{base}/ledger/",
        data={
            "csrf_token": staff_client.token,
            "direction": "debit",
            "amount": "-3",
            "description": "x",
        },
        follow_redirects=True,
    )
    assert "above 0" in bad.get_data(as_text=True)
    customer = db.session.get(Customer, customer.id)
    assert sorted(t.name for t in customer.tags) == ["Nord", "VIP"]
    assert customer.language == "de"
    assert ledger.balance(customer.id) == D("25.00")
    details = staff_client.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    assert 'data-balance="25.00"' in details and "Goodwill" in details
    listing = staff_client.get("/admin/customer/?tag_equals=Nord").get_data(as_text=True)
    assert customer.company_name in listing
    assert db.session.scalar(db.select(db.func.count()).select_from(Tag)) == 2
    # no CSRF token: refused, nothing changes
    assert post(f"{base}/tags/", data={"tags": ""}).status_code == 400


def test_send_an_email_from_the_admin(app, staff_client, mail_on):
    factories.reference(app)
    customer = factories.customer(app)
    url = f"/admin/customer/{customer.id}/message/"
    empty = staff_client.post(url, data={"csrf_token": staff_client.token, "subject": "Hi"})
    assert (
        empty.status_code == 200
        and db.session.scalar(
            db.select(db.func.count())
            .select_from(EmailLog)
            .where(EmailLog.template == "staff_message")
        )
        == 0
    )
    response = staff_client.post(
        url, data={"csrf_token": staff_client.token, "subject": "Hi", "message": "Hello"}
    )
    assert response.status_code == 302
    log = db.session.scalar(db.select(EmailLog).where(EmailLog.template == "staff_message"))
    assert log.recipient == lookup.main_user(customer.id).email and log.subject == "Hi"


def _impersonate(client, customer_id, reason="Ticket 7", allow=False):
    data = {"csrf_token": client.token, "reason": reason}
    if allow:
        data["allow_changes"] = "y"
    return client.post(f"/admin/customer/{customer_id}/impersonate/", data=data)


def test_impersonation_read_only_banner_refusal_and_end_back_to_details(app):
    """Issue 7.2: support signs in as the customer, sees the banner, cannot change anything,
    ends the session and is back on Details, still signed in as staff."""
    factories.reference(app)
    customer = factories.customer(app)
    client, support = _staff(app, "support")
    assert _impersonate(client, customer.id, reason="").status_code == 200
    refused = _impersonate(client, customer.id, allow=True)
    assert refused.status_code == 200 and "Only an admin" in refused.get_data(as_text=True)
    started = _impersonate(client, customer.id)
    assert started.status_code == 302 and started.location.endswith("/portal/")
    home = client.get("/portal/").get_data(as_text=True)
    assert 'id="impersonation-banner"' in home and support.email in home
    token = csrf_token(client, "/portal/account")
    change = client.post(
        "/portal/language", data={"csrf_token": token, "language": "de", "next": "/portal/"}
    )
    assert change.status_code == 403 and "read-only" in change.get_data(as_text=True)
    assert db.session.get(User, lookup.main_user(customer.id).id).language in (None, "en")
    assert client.get("/admin/customer/").status_code == 302  # the admin waits meanwhile
    ended = client.post("/portal/impersonation/end", data={"csrf_token": token})
    assert ended.status_code == 302
    assert ended.location.endswith(f"/admin/customer/details/?id={customer.id}")
    assert client.get(f"/admin/customer/details/?id={customer.id}").status_code == 200
    assert client.get("/portal/").status_code == 302
    actions = _actions(customer.id)
    assert ("impersonation.start", support.email, "Ticket 7") in actions
    assert ("impersonation.end", support.email, "") in actions
    assert db.session.scalar(db.select(Impersonation.ended_at)) is not None


def test_impersonation_with_changes_audits_them_as_the_staff_member(app):
    factories.reference(app)
    customer = factories.customer(app)
    client, admin = _staff(app, "admin")
    assert _impersonate(client, customer.id, allow=True).status_code == 302
    token = csrf_token(client, "/portal/account")
    response = client.post(
        "/portal/language", data={"csrf_token": token, "language": "de", "next": "/portal/"}
    )
    assert response.status_code == 302
    user = lookup.main_user(customer.id)
    assert db.session.get(User, user.id).language == "de"
    labels = [(a, label) for a, label, _r in _actions(customer.id) if label.endswith(user.email)]
    assert any(label == f"{admin.email} as {user.email}" for _a, label in labels)


def test_impersonation_ends_after_30_minutes(app):
    factories.reference(app)
    customer = factories.customer(app)
    client, admin = _staff(app, "admin")
    clock = app.config["CLOCK"]
    _impersonate(client, customer.id)
    assert client.get("/portal/").status_code == 200
    clock.instant = clock.instant + timedelta(minutes=30)
    expired = client.get("/portal/")
    assert expired.status_code == 302
    assert expired.location.endswith(f"/admin/customer/details/?id={customer.id}")
    assert client.get(f"/admin/customer/details/?id={customer.id}").status_code == 200
    assert ("impersonation.expire", admin.email, "") in _actions(customer.id)


def test_billing_staff_cannot_impersonate(app):
    factories.reference(app)
    customer = factories.customer(app)
    client, _staff_member = _staff(app, "billing")
    assert client.get(f"/admin/customer/{customer.id}/impersonate/").status_code == 403
    assert _impersonate(client, customer.id).status_code == 403
