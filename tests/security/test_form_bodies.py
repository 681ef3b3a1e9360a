"""Forms take form bodies only (SPEC §13 "bad input gets a clear message, never a 500"; issue
13 item 9): a JSON body, whatever its types (numbers, objects, lists, null), and a file part
where a form expects text are refused with a 400 on every sign-in, anonymous and signed-in form
of the admin and the portal, and nothing changes; the key import still takes its file, and the
two machine endpoints (the Stripe webhook and CSP reports) still take JSON (their own tests)."""

from __future__ import annotations

import io
import json
import re

import pytest

from billing.catalog.selfservice import save_self_service
from billing.customers import onboarding
from billing.customers.accounts import request_password_reset
from billing.customers.onboarding import NewCustomer
from billing.kernel.audit import SYSTEM
from models import AuditEvent, Customer, StaffUser, User, db
from tests import factories
from tests.conftest import csrf_token, make_staff, sign_in
from tests.portal.helpers import PASSWORD, link_in, main_email
from tests.portal.helpers import sign_in as portal_sign_in
from tests.security.crawl import crawl_client, local_path

WRONG_TYPES = [123, {"$ne": ""}, ["a@b.example", "c@d.example"], None, True]
ANONYMOUS_FORMS = ["/portal/login", "/portal/forgot", "/admin/login/"]
SKIP = re.compile(r"logout|sign-?out|impersonat|/static/|export|download|\.pdf|\.csv")


def _post_json(client, path: str, body, token: str):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers={"X-CSRFToken": token}
    )


@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
@pytest.mark.parametrize("path", ANONYMOUS_FORMS)
def test_a_json_body_on_an_anonymous_form_is_refused(app, path, value):
    """The review's requests: ``{"email": 123}`` or ``{"email": {"$ne": ""}}`` posted as JSON
    (with a valid CSRF token in the header) to the sign-ins and the forgotten-password form."""
    client = app.test_client()
    token = csrf_token(client, path)
    body = {"email": value, "password": value, "csrf_token": token}
    response = _post_json(client, path, body, token)
    assert response.status_code == 400


def test_the_message_is_clear_in_both_languages(app):
    for language, text in [
        ("en", "Please send the form from its page"),
        ("de", "Bitte senden Sie das Formular von seiner Seite ab"),
    ]:
        client = app.test_client()
        token = csrf_token(client, "/portal/forgot")
        response = client.post(
            "/portal/forgot",
            data=json.dumps({"email": 1}),
            content_type="application/json",
            headers={"X-CSRFToken": token, "Accept-Language": language},
        )
        assert response.status_code == 400 and text in response.get_data(as_text=True)


def test_a_json_sign_in_with_the_right_password_does_not_sign_in(app):
    """Not a way around the form: a JSON body with valid credentials signs nobody in."""
    factories.reference(app)
    customer = factories.customer(app)
    staff = make_staff(app, "admin", "json@staff.example")
    portal = app.test_client()
    token = csrf_token(portal, "/portal/login")
    body = {"email": main_email(customer), "password": PASSWORD}
    assert _post_json(portal, "/portal/login", body, token).status_code == 400
    assert portal.get("/portal/").status_code == 302
    admin = app.test_client()
    token = csrf_token(admin, "/admin/login/")
    body = {"email": staff.email, "password": "Correct-Horse-9"}
    assert _post_json(admin, "/admin/login/", body, token).status_code == 400
    assert admin.get("/admin/customer/").status_code == 302


@pytest.mark.parametrize("path", ANONYMOUS_FORMS)
def test_a_file_where_a_form_expects_text_is_refused(app, path):
    """A multipart body with the e-mail sent as a file part: a form reads it as the field."""
    client = app.test_client()
    token = csrf_token(client, path)
    data = {"csrf_token": token, "email": (io.BytesIO(b"a@b.example"), "e.txt"), "password": "x"}
    response = client.post(path, data=data, content_type="multipart/form-data")
    assert response.status_code == 400


def test_the_key_import_still_takes_its_file_and_only_there(app, staff_client):
    csv = io.BytesIO(b"KEY-FORM-1,10,12,1200.00\n")
    data = {"csrf_token": staff_client.token, "file": (csv, "keys.csv")}
    imported = staff_client.post(
        "/admin/project_key/import/", data=data, content_type="multipart/form-data"
    )
    assert imported.status_code == 302
    assert "1 project keys imported" in staff_client.get("/admin/project_key/").get_data(
        as_text=True
    )
    data = {"csrf_token": staff_client.token, "key": (io.BytesIO(b"K"), "k.txt")}
    refused = staff_client.post(
        "/admin/project_key/new-key/", data=data, content_type="multipart/form-data"
    )
    assert refused.status_code == 400


def _counts() -> tuple:
    return tuple(
        db.session.scalar(db.select(db.func.count()).select_from(model))
        for model in (Customer, User, StaffUser, AuditEvent)
    )


def test_every_form_refuses_a_json_body_and_changes_nothing(app, mail_on):
    """Every POST form a signed-in admin, a signed-in customer and an anonymous visitor reach,
    sent as JSON with wrong types in every field (and the form's CSRF token in the header):
    400, never a 500, and nothing is stored."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    save_self_service(True, "IP address scanning", "IP-SCAN-1", SYSTEM, clock)
    factories.customer(app, company="Managed GmbH")
    _invited, invite = onboarding.create_customer(
        NewCustomer("Invited AG", "Ines", "ines@invited.example", country="DE"), SYSTEM, clock
    )
    own = factories.customer(app, mode="self_service", company="Self Ltd")
    reset = link_in(request_password_reset(main_email(own), clock), "/portal/reset/")
    staff = app.test_client()
    assert sign_in(staff, make_staff(app, "admin").email).status_code == 302
    customer = app.test_client()
    assert portal_sign_in(customer, main_email(own), PASSWORD).status_code == 302
    anonymous = app.test_client()
    visits = [
        (staff, ["/admin/", "/admin/customer/"], "/admin"),
        (customer, ["/portal/", "/portal/account"], "/portal"),
        (
            anonymous,
            [*ANONYMOUS_FORMS, "/portal/register", f"/portal/invite/{invite}"],
            "/portal",
        ),
        (app.test_client(), [f"/portal/reset/{reset}"], "/portal/reset"),
    ]
    checked = set()
    for client, starts, area in visits:
        for form in crawl_client(client, starts, area, 60, SKIP, SKIP).forms:
            token = next((f.value for f in form.fields if f.name == "csrf_token"), "")
            path = local_path(form.action)
            for value in (123, {"$ne": ""}, [1, 2]):
                body = {f.name: value for f in form.fields if f.name != "csrf_token"}
                before = _counts()
                response = _post_json(client, path, body, token)
                where = f"POST {path} as JSON {body!r}"
                assert response.status_code == 400, f"{where}: {response.status_code}"
                assert _counts() == before, f"{where} changed data"
            texts = [f.name for f in form.fields if f.kind not in ("file", "submit")]
            files = {name: (io.BytesIO(b"x"), "x.txt") for name in texts if name != "csrf_token"}
            if files:
                before = _counts()
                response = client.post(
                    path,
                    data={"csrf_token": token, **files},
                    content_type="multipart/form-data",
                )
                where = f"POST {path} with the files {sorted(files)}"
                assert response.status_code == 400, f"{where}: {response.status_code}"
                assert _counts() == before, f"{where} changed data"
            checked.add(local_path(form.action))
    anonymous_forms = {"/portal/register", f"/portal/invite/{invite}", f"/portal/reset/{reset}"}
    assert anonymous_forms | set(ANONYMOUS_FORMS) <= checked, checked
    assert len(checked) >= 25, checked
