"""Errors never leak internals (SPEC §13 "no stack traces to users"): a generic page in the
user's language with a correlation id that is also in a log line carrying the traceback; no
traceback, SQL or file path reaches the user; production refuses debug mode and weak keys."""

from __future__ import annotations

import logging
import re

import pytest
from cryptography.fernet import Fernet

from app import create_app, strong_secret
from models import db
from tests import factories
from tests.conftest import STRONG_SECRET, csrf_token
from tests.portal.helpers import main_email, signed_in

LEAKS = (
    "Traceback",
    'File "',
    ".py",
    "/work",
    "site-packages",
    "SELECT",
    "FROM ",
    "sqlite",
    "psycopg",
    "sqlalchemy",
    "OperationalError",
    "no such table",
    "partner_moved",
)
EN = {"Accept-Language": "en"}
DE = {"Accept-Language": "de"}


def _assert_no_leak(body: str) -> None:
    for marker in LEAKS:
        assert marker not in body, f"{marker!r} reached the user"


def _break_table(table: str) -> None:
    """A real database fault: the table the page reads is gone."""
    db.session.execute(db.text(f"ALTER TABLE {table} RENAME TO {table}_moved"))
    db.session.commit()


def _logged_with_traceback(caplog, correlation_id: str) -> None:
    records = [r for r in caplog.records if correlation_id in r.getMessage()]
    assert len(records) == 1, "the reference shown to the user is in exactly one log line"
    record = records[0]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    formatted = logging.Formatter("%(message)s").format(record)
    assert "Traceback" in formatted and "no such table" in formatted


def _assert_generic_500(response, title: str, caplog) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert title in body
    correlation_id = re.search(r'id="correlation-id">([0-9a-f]{12})<', body).group(1)
    _assert_no_leak(body)
    _logged_with_traceback(caplog, correlation_id)


@pytest.mark.parametrize(
    ("headers", "title"), [(EN, "Something went wrong"), (DE, "Etwas ist schiefgelaufen")]
)
def test_a_failing_admin_page_shows_a_reference_that_is_in_the_log(
    app, staff_client, caplog, headers, title
):
    """SPEC §13: a database fault on an admin screen gives HTTP 500 with a generic page in the
    user's language and a reference; the log line with that reference holds the traceback;
    the page holds no traceback, SQL or path."""
    _break_table("partner")
    with caplog.at_level(logging.ERROR):
        response = staff_client.get("/admin/partners/", headers=headers)
    _assert_generic_500(response, title, caplog)


@pytest.mark.parametrize(
    ("headers", "title"), [(EN, "Something went wrong"), (DE, "Etwas ist schiefgelaufen")]
)
def test_a_failing_portal_page_shows_a_reference_that_is_in_the_log(app, caplog, headers, title):
    """SPEC §10/§13: the same for a customer in the portal (their invoices page fails), in the
    customer's language."""
    factories.reference(app)
    customer = factories.customer(app, language=headers["Accept-Language"])
    client = signed_in(app, main_email(customer))
    _break_table("invoice")
    with caplog.at_level(logging.ERROR):
        response = client.get("/portal/invoices", headers=headers)
    _assert_generic_500(response, title, caplog)


def test_a_failing_webhook_answers_json_with_a_reference(app, caplog):
    """SPEC §6/§13: the Stripe webhook endpoint answers a fault with JSON (status 500, so Stripe
    delivers again) that names only a reference; the log line holds the traceback."""
    _break_table("setting")
    with caplog.at_level(logging.ERROR):
        response = app.test_client().post(
            "/stripe/webhook",
            data=b'{"id": "evt_1", "type": "payment_intent.succeeded"}',
            headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
        )
    assert response.status_code == 500
    payload = response.get_json()
    assert set(payload) == {"error", "message", "correlation_id"}
    _assert_no_leak(response.get_data(as_text=True))
    _logged_with_traceback(caplog, payload["correlation_id"])


def test_a_failing_json_request_answers_json(app, staff_client, caplog):
    """SPEC §13: an admin JSON request (the price preview) that fails gets a JSON error body
    with the reference, not an HTML page and not the exception."""
    factories.reference(app)
    customer = factories.customer(app)
    _break_table("price_tier")
    with caplog.at_level(logging.ERROR):
        response = staff_client.get(
            f"/admin/customer/{customer.id}/ip-distribution/preview?total=20&internal=10&external=10",
            headers={"Accept": "application/json"},
        )
    assert response.status_code == 500
    payload = response.get_json()
    _assert_no_leak(response.get_data(as_text=True))
    records = [r for r in caplog.records if payload["correlation_id"] in r.getMessage()]
    assert records and records[0].exc_info is not None


@pytest.mark.parametrize(
    ("headers", "texts"),
    [
        (EN, {404: "Not found", 405: "Not allowed", 400: "Form expired"}),
        (DE, {404: "Nicht gefunden", 405: "Nicht erlaubt", 400: "Formular abgelaufen"}),
    ],
)
def test_client_errors_are_plain_pages_in_the_users_language(app, staff_client, headers, texts):
    """SPEC §13: 404 (unknown page, foreign id), 405 (wrong method) and 400 (form without its
    token) answer with a short page in the user's language, without internals."""
    factories.reference(app)
    anonymous = app.test_client()
    cases = [
        (404, staff_client.get("/admin/no-such-screen/", headers=headers)),
        (404, anonymous.get("/portal/no-such-page", headers=headers)),
        (404, staff_client.get("/admin/customer/999999/ip-distribution/", headers=headers)),
        (405, anonymous.get("/portal/logout", headers=headers)),
        (405, anonymous.put("/admin/login/", headers=headers)),
        (400, anonymous.post("/admin/login/", data={"email": "a@b.c"}, headers=headers)),
        (
            400,
            anonymous.post(
                "/portal/login", data={"email": "a@b.c", "csrf_token": "forged"}, headers=headers
            ),
        ),
    ]
    for status, response in cases:
        body = response.get_data(as_text=True)
        assert response.status_code == status, (status, body[:200])
        assert texts[status] in body
        assert "correlation-id" not in body
        _assert_no_leak(body)


def test_a_bad_webhook_signature_is_a_plain_400(app):
    """SPEC §6: a delivery with a wrong signature gets 400 and a generic JSON body."""
    response = app.test_client().post(
        "/stripe/webhook", data=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid request"}


def _production(monkeypatch, tmp_path, key: str) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", key)
    monkeypatch.setenv("ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "dev",
        "secret",
        "change-me",
        "k3Y" * 10 + "x",  # short
        "x" * 64,  # one character
        "k3Y9" * 12,  # a repeated piece
        "aaaaaaaaaabbbbbbbbbbccccccccccdd",  # few different characters
        "0123456789" + "0" * 40,  # ten characters, most of it one
    ],
)
def test_production_refuses_a_missing_or_weak_secret_key(monkeypatch, tmp_path, key):
    """SPEC §13: no production start with an empty, well-known, short (< 32) or evidently
    non-random SECRET_KEY."""
    _production(monkeypatch, tmp_path, key)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


def test_production_accepts_generated_secret_keys(monkeypatch, tmp_path):
    """SPEC §13: every key the README's command generates (and shorter random ones) passes."""
    import secrets

    for _ in range(200):
        for key in (secrets.token_hex(16), secrets.token_hex(32), secrets.token_urlsafe(32)):
            assert strong_secret(key), key


def test_production_refuses_debug_mode(monkeypatch, tmp_path):
    """SPEC §13: debug mode (the interactive debugger shows tracebacks and runs code) never
    starts in production, whether asked for by FLASK_DEBUG or by configuration."""
    _production(monkeypatch, tmp_path, STRONG_SECRET)
    assert create_app().debug is False
    monkeypatch.setenv("FLASK_DEBUG", "1")
    with pytest.raises(RuntimeError, match="debug"):
        create_app()
    monkeypatch.delenv("FLASK_DEBUG")
    with pytest.raises(RuntimeError, match="debug"):
        create_app({"DEBUG": True})


# the test adds a screen: an app of its own, not the one the other tests share
@pytest.mark.fresh_database
def test_a_failed_save_in_a_customised_admin_screen_does_not_show_the_database_error(app, caplog):
    """SPEC §0/§13: staff customise the dashboard by editing view classes; when such a screen
    with Flask-Admin's stock create form hits a database error (a CHECK constraint), the user gets
    the generic page with a reference, not Flask-Admin's "Failed to create record" with SQL."""
    from admin_views.base import SecureModelView
    from billing.kernel.permissions import Permission
    from models import PriceTier
    from tests.conftest import make_staff, sign_in

    class TierEditor(SecureModelView):
        permission = Permission.MANAGE_SETTINGS
        can_create = True
        form_columns = ("lower_bound", "upper_bound", "unit_price")

    app.extensions["admin"][0].add_view(TierEditor(PriceTier, db, endpoint="tier_editor"))
    client = app.test_client()
    sign_in(client, make_staff(app, "admin").email)
    token = csrf_token(client, "/admin/tier_editor/new/")
    with caplog.at_level(logging.ERROR):
        response = client.post(
            "/admin/tier_editor/new/",
            data={"lower_bound": "0", "upper_bound": "", "unit_price": "1", "csrf_token": token},
            follow_redirects=True,
        )
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert re.search(r'id="correlation-id">[0-9a-f]{12}<', body)
    assert "Failed to create record" not in body and "CHECK" not in body
    _assert_no_leak(body)


@pytest.mark.postgres
def test_an_id_no_record_can_have_answers_404(pg_app, caplog):
    """SPEC §13: an id in a URL that no record can have (larger than PostgreSQL's integer, or
    written in another script's digits) is a record that does not exist: 404 in the user's
    language, for a page, a button and the portal, without reaching the database."""
    from tests.conftest import make_staff, sign_in
    from tests.portal.helpers import signed_in as portal_signed_in

    factories.reference(pg_app)
    customer = factories.customer(pg_app)
    staff = pg_app.test_client()
    sign_in(staff, make_staff(pg_app, "admin").email)
    token = csrf_token(staff, "/admin/")
    portal = portal_signed_in(pg_app, main_email(customer))
    arabic = str(customer.id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for number in (2**31, 2**63, 10**30, arabic):
        page = staff.get(f"/admin/customer/{number}/address/", headers=DE)
        assert page.status_code == 404 and "Nicht gefunden" in page.get_data(as_text=True)
        button = staff.post(f"/admin/customer/{number}/lock/", data={"csrf_token": token})
        assert button.status_code == 404
        assert portal.get(f"/portal/invoices/{number}/pdf").status_code == 404
    assert not [r for r in caplog.records if r.name == "msp.errors"]


@pytest.mark.postgres
@pytest.mark.parametrize("bogus", ["abc", "%25", "1,2", "1.5", "-1", "١", str(2**31), str(10**30)])
def test_a_details_screen_with_an_id_no_record_can_have_says_it_does_not_exist(
    pg_app, caplog, bogus
):
    """SPEC §13: ``?id=`` of a details screen that no record can have (text, several values,
    out of range) is a record that does not exist: back to the list with Flask-Admin's
    "Record does not exist", as for an unknown id, without reaching the database."""
    from tests.conftest import make_staff, sign_in

    staff = pg_app.test_client()
    sign_in(staff, make_staff(pg_app, "admin").email)
    for screen in ("customer", "invoice", "billing_run", "email_log", "stripe_event"):
        response = staff.get(f"/admin/{screen}/details/?id={bogus}", follow_redirects=True)
        assert response.status_code == 200, screen
        assert response.request.path == f"/admin/{screen}/"
        assert "Record does not exist." in response.get_data(as_text=True), screen
    assert not [r for r in caplog.records if r.name == "msp.errors"]
