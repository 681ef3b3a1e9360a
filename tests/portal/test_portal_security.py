"""Portal security (SPEC §1, §13; issue 6 "Security", issue 8 items 1–3 and 6): every query is
scoped to the signed-in user's customer, portal users never reach /admin, sign-in and reset are
rate limited, and ``next`` never leads off the portal."""

from __future__ import annotations

import time
from datetime import date

import limits.storage.memory
import pytest

from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from models import Invoice, TeamInvitation, User, db
from tests import factories
from tests.conftest import berlin, csrf_token
from tests.portal.helpers import PASSWORD, add_member, sign_in, signed_in, token


@pytest.fixture
def two_customers(app, mail_on):
    """ACME (with a team member, a pending invite and an invoice) and Other, signed in."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    acme = factories.customer(app, company="ACME", email="ann@acme.example")
    factories.customer(app, company="Other", email="otto@other.example")
    clock.instant = berlin(2026, 11, 2, 9, 0)
    member = add_member(app, acme, "bob@acme.example")
    pending = add_member(app, acme, "carl@acme.example", register=False)
    invoice = finalize_invoice(draft_invoice(acme.id, date(2026, 10, 1), clock).id, clock)
    return {"member": member, "pending": pending, "invoice": invoice}


# every portal URL that takes an id: (method, URL, which of ACME's records it names)
ID_ROUTES = {
    "portal.team_action": [
        ("POST", "/portal/team/{id}/disable", "member"),
        ("POST", "/portal/team/{id}/enable", "member"),
    ],
    "portal.team_invitation_resend": [
        ("POST", "/portal/team/invitations/{id}/resend", "pending"),
    ],
    "portal.team_invitation_revoke": [
        ("POST", "/portal/team/invitations/{id}/revoke", "pending"),
    ],
    "portal.invoice_pdf": [("GET", "/portal/invoices/{id}/pdf", "invoice")],
}
SWEEP = [case for cases in ID_ROUTES.values() for case in cases]


def test_every_portal_url_with_an_id_is_in_the_sweep(app):
    with_ids = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/portal/")
        and any(
            type(conv).__name__ in {"IntegerConverter", "UUIDConverter"}
            for conv in rule._converters.values()
        )
    }
    assert with_ids <= set(ID_ROUTES), f"add to ID_ROUTES: {sorted(with_ids - set(ID_ROUTES))}"


@pytest.mark.parametrize("method, url, record", SWEEP, ids=[case[1] for case in SWEEP])
def test_another_customers_id_answers_404(app, two_customers, method, url, record):
    """SPEC §1: a customer can never see another customer's data; a foreign id answers 404
    and changes nothing."""
    target = url.format(id=two_customers[record].id)
    before = _snapshot()
    other = signed_in(app, "otto@other.example")
    response = other.open(target, method=method, data={"csrf_token": other.token})
    assert response.status_code == 404
    assert _snapshot() == before
    own = signed_in(app, "ann@acme.example")
    assert own.open(target, method=method, data={"csrf_token": own.token}).status_code in (
        200,
        302,
    )


def _snapshot():
    db.session.rollback()
    users = db.session.execute(
        db.select(User.id, User.enabled, User.invite_token_hash, User.session_version).order_by(
            User.id
        )
    ).all()
    invitations = db.session.execute(
        db.select(TeamInvitation.id, TeamInvitation.token_hash).order_by(TeamInvitation.id)
    ).all()
    invoices = db.session.execute(db.select(Invoice.id, Invoice.state).order_by(Invoice.id)).all()
    return users, invitations, invoices


def test_an_unknown_id_answers_404_too(app, two_customers):
    client = signed_in(app, "ann@acme.example")
    for method, url, _record in SWEEP:
        response = client.open(
            url.format(id=987654), method=method, data={"csrf_token": client.token}
        )
        assert response.status_code == 404


def test_portal_users_never_reach_the_admin(app, two_customers):
    """SPEC §1: customer users can never reach /admin."""
    client = signed_in(app, "ann@acme.example")
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.arguments or "GET" not in rule.methods:
            continue
        if rule.endpoint in {"admin.login_view", "admin.static"}:
            continue
        response = client.get(rule.rule)
        checked += 1
        assert response.status_code in (302, 403, 404), rule.rule
        if response.status_code == 302:
            assert "/admin/login/" in response.headers["Location"], rule.rule
    assert checked > 10
    assert client.get("/portal/").status_code == 200, "still signed in to the portal"


def _later(monkeypatch, seconds: float) -> None:
    """Let the limiter's in-memory clock run ``seconds`` ahead (Flask-Limiter uses real time)."""

    class Later:
        @staticmethod
        def time():
            return time.time() + seconds

    monkeypatch.setattr(limits.storage.memory, "time", Later)


def test_sign_in_is_throttled_per_account_and_recovers_after_the_window(
    app, two_customers, monkeypatch
):
    """Issue 8 item 3: per account, the same answer for unknown user and wrong password, the
    real user signs in again after the window."""
    attacker = app.test_client()
    for _ in range(5):
        page = sign_in(attacker, "ann@acme.example", "wrong-password")
        assert page.status_code == 200
        assert "Invalid e-mail or password." in page.get_data(as_text=True)
    owner = app.test_client()
    blocked = sign_in(owner, "ANN@acme.example", PASSWORD)
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)
    assert blocked.headers["Retry-After"] == "60"
    assert sign_in(app.test_client(), "otto@other.example").status_code == 302, "others go on"
    _later(monkeypatch, 61)
    assert sign_in(owner, "ann@acme.example", PASSWORD).status_code == 302


def test_sign_in_is_throttled_per_ip(app, two_customers, monkeypatch):
    client = app.test_client()
    for n in range(10):
        page = sign_in(client, f"probe{n}@nowhere.example", "whatever-123")
        assert "Invalid e-mail or password." in page.get_data(as_text=True)
    assert sign_in(client, "ann@acme.example", PASSWORD).status_code == 429
    _later(monkeypatch, 61)
    assert sign_in(client, "ann@acme.example", PASSWORD).status_code == 302


def test_successful_sign_ins_do_not_count(app, two_customers):
    for _ in range(12):
        assert sign_in(app.test_client(), "ann@acme.example").status_code == 302


def test_the_429_page_follows_the_language(app, two_customers):
    client = app.test_client()
    client.post("/portal/language", data={"csrf_token": token(client), "language": "de"})
    for _ in range(5):
        sign_in(client, "ann@acme.example", "wrong-password")
    blocked = sign_in(client, "ann@acme.example", PASSWORD)
    assert blocked.status_code == 429 and '<html lang="de">' in blocked.get_data(as_text=True)


def test_forgot_password_is_throttled(app, two_customers):
    client = app.test_client()
    for _ in range(3):
        response = client.post(
            "/portal/forgot", data={"csrf_token": token(client), "email": "ann@acme.example"}
        )
        assert response.status_code == 200
    blocked = client.post(
        "/portal/forgot", data={"csrf_token": token(client), "email": "ann@acme.example"}
    )
    assert blocked.status_code == 429


def test_reset_is_throttled(app, two_customers):
    client = app.test_client()
    statuses = [
        client.post("/portal/reset/guess", data={"csrf_token": token(client)}).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [404] * 10 and statuses[10] == 429


@pytest.mark.fresh_database
def test_limits_are_kept_in_redis(app, redis_server):
    """Production counts in the app's Redis, shared by every web process."""
    from redis import Redis

    from app import create_app
    from tests.conftest import _config

    factories.customer(app, email="ann@acme.example")
    shared = create_app(
        _config(
            app.config["SQLALCHEMY_DATABASE_URI"],
            app.config["CLOCK"],
            REDIS_URL=redis_server.url,
            RATELIMIT_STORAGE_URI=redis_server.url,
        )
    )
    client = shared.test_client()
    with shared.app_context():
        for _ in range(5):
            assert sign_in(client, "ann@acme.example", "wrong-password").status_code == 200
        assert sign_in(client, "ann@acme.example", PASSWORD).status_code == 429
        db.engine.dispose()
    keys = Redis.from_url(redis_server.url).keys("*msp-limits*")
    assert keys, "the counters live in Redis"


TRICKY_TARGETS = [
    "https://evil.example/",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "http:/evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "/%2F%2Fevil.example",
    "/portal/%2e%2e/admin/",
    "/portal/../admin/",
    "/portal\t//evil.example",
    "/admin/",
    "evil.example",
]


@pytest.mark.parametrize("target", TRICKY_TARGETS)
def test_no_open_redirect_through_next(app, two_customers, target):
    """Issue 8 item 6: sign-in and the language switch only ever land on a portal page."""
    from urllib.parse import quote

    client = app.test_client()
    response = client.post(
        f"/portal/login?next={quote(target, safe='')}",
        data={"csrf_token": token(client), "email": "ann@acme.example", "password": PASSWORD},
    )
    assert response.headers["Location"] == "/portal/"
    switched = client.post(
        "/portal/language",
        data={"csrf_token": csrf_token(client, "/portal/"), "language": "en", "next": target},
    )
    assert switched.headers["Location"] == "/portal/"


def test_safe_portal_targets_are_kept(app, two_customers):
    client = app.test_client()
    response = sign_in(client, "ann@acme.example", next_url="/portal/invoices")
    assert response.headers["Location"] == "/portal/invoices"


def test_portal_forms_need_the_csrf_token(app, two_customers):
    client = signed_in(app, "ann@acme.example")
    for url, data in (
        ("/portal/login", {"email": "ann@acme.example", "password": PASSWORD}),
        ("/portal/forgot", {"email": "ann@acme.example"}),
        ("/portal/account", {"name": "X", "language": "en"}),
        ("/portal/team", {"name": "X", "email": "x@acme.example"}),
        ("/portal/language", {"language": "de"}),
        ("/portal/logout", {}),
    ):
        assert client.post(url, data=data).status_code == 400, url
    assert client.get("/portal/account").status_code == 200
