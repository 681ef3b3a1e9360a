"""An impersonation lives no longer than the staff sign-in behind it (SPEC §11, §13; issue 13
item 3): when the staff member signs out in another browser, gets a new password or is
disabled, the browser signed in as the customer stops working at its next request, with a
message, and can change nothing more; the impersonation is recorded as ended at that moment."""

from __future__ import annotations

import pytest

from billing.customers import lookup
from models import AuditEvent, Impersonation, User, db
from tests import factories
from tests.conftest import STAFF_PASSWORD, csrf_token, make_staff, sign_in

NEW_PASSWORD = "Brand-New-Secret-42"


def _browser(app, staff):
    client = app.test_client()
    assert sign_in(client, staff.email).status_code == 302
    client.token = csrf_token(client, "/admin/")
    return client


def _impersonating(app, staff, customer, allow_changes=False, client=None):
    """A browser of ``staff`` signed in as the customer's main user."""
    client = client or _browser(app, staff)
    data = {"csrf_token": client.token, "reason": "Ticket 13"}
    if allow_changes:
        data["allow_changes"] = "y"
    started = client.post(f"/admin/customer/{customer.id}/impersonate/", data=data)
    assert started.status_code == 302 and started.location.endswith("/portal/")
    assert client.get("/portal/").status_code == 200
    client.token = csrf_token(client, "/portal/account")
    return client


def _signed_out_elsewhere(app, staff, other_browser):
    response = other_browser.post("/admin/logout/", data={"csrf_token": other_browser.token})
    assert response.status_code == 302


def _new_password(app, staff, other_browser):
    result = app.test_cli_runner().invoke(
        args=["staff", "set-password", staff.email, "--password", NEW_PASSWORD]
    )
    assert result.exit_code == 0, result.output


def _disabled(app, staff, other_browser):
    result = app.test_cli_runner().invoke(args=["staff", "disable", staff.email])
    assert result.exit_code == 0, result.output


ENDINGS = {
    _signed_out_elsewhere: "your staff sign-in has ended",
    _new_password: "your staff sign-in has ended",
    _disabled: "your staff account has been disabled",
}


@pytest.mark.parametrize("end", ENDINGS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("role", ["support", "admin"])
def test_the_impersonation_ends_with_the_staff_sign_in(app, end, role):
    """Two browsers of one staff member: one signed in to the admin, one signed in as the
    customer (read-only for support, with changes allowed for an admin). Sign-out in the
    first, a new password or ``flask staff disable`` end the second at its next request."""
    factories.reference(app)
    customer = factories.customer(app)
    staff = make_staff(app, role, f"{role}-13@staff.example")
    admin_browser = _browser(app, staff)
    customer_browser = _impersonating(app, staff, customer, allow_changes=role == "admin")

    end(app, staff, admin_browser)

    record = db.session.scalar(db.select(Impersonation))
    assert record.ended_at is not None, "the impersonation ends with the staff sign-in"
    page = customer_browser.get("/portal/")
    assert page.status_code == 302 and page.location.startswith("/admin/login/")
    login = customer_browser.get(page.location).get_data(as_text=True)
    assert ENDINGS[end] in login
    assert customer_browser.get("/portal/").status_code == 302
    assert customer_browser.get("/admin/customer/").status_code == 302
    change = customer_browser.post(
        "/portal/language",
        data={"csrf_token": customer_browser.token, "language": "de", "next": "/portal/"},
    )
    assert change.status_code in (302, 400)
    assert db.session.get(User, lookup.main_user(customer.id).id).language in (None, "en")
    ended = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "impersonation.end")
    ).all()
    assert len(ended) == 1 and ended[0].customer_id == customer.id


def test_a_change_posted_right_after_the_staff_member_is_disabled_is_refused(app):
    """The first request after ``flask staff disable`` is a change: it is refused, nothing is
    changed, and the browser is told why."""
    factories.reference(app)
    customer = factories.customer(app)
    staff = make_staff(app, "admin", "admin-13@staff.example")
    customer_browser = _impersonating(app, staff, customer, allow_changes=True)
    _disabled(app, staff, None)
    change = customer_browser.post(
        "/portal/language",
        data={"csrf_token": customer_browser.token, "language": "de", "next": "/portal/"},
    )
    assert change.status_code == 302 and change.location.startswith("/admin/login/")
    assert db.session.get(User, lookup.main_user(customer.id).id).language in (None, "en")
    login = customer_browser.get(change.location).get_data(as_text=True)
    assert "your staff account has been disabled" in login


def test_the_german_message(app):
    factories.reference(app)
    customer = factories.customer(app)
    staff = make_staff(app, "support", "support-13@staff.example")
    admin_browser = _browser(app, staff)
    german = _browser(app, staff)
    german.post("/admin/language/", data={"csrf_token": german.token, "language": "de"})
    customer_browser = _impersonating(app, staff, customer, client=german)
    _signed_out_elsewhere(app, staff, admin_browser)
    page = customer_browser.get("/portal/")
    login = customer_browser.get(page.location).get_data(as_text=True)
    assert "Ihre Anmeldung als Mitarbeiter ist beendet" in login


def test_another_staff_member_signing_out_leaves_the_impersonation_running(app):
    factories.reference(app)
    customer = factories.customer(app)
    staff = make_staff(app, "support", "support-13@staff.example")
    colleague = make_staff(app, "admin", "colleague-13@staff.example")
    customer_browser = _impersonating(app, staff, customer)
    colleague_browser = _browser(app, colleague)
    _signed_out_elsewhere(app, colleague, colleague_browser)
    assert customer_browser.get("/portal/").status_code == 200
    assert db.session.scalar(db.select(Impersonation.ended_at)) is None
    assert sign_in(app.test_client(), staff.email, STAFF_PASSWORD).status_code == 302
