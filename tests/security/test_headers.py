"""Security headers on every admin and portal page (SPEC §13): a strict Content-Security-Policy
with a fresh nonce per response that every script carries, no inline handlers or style
attributes in the pages, Stripe's hosts only on the portal's payment page (from the
configuration), HSTS and the HTTPS redirect in production, nosniff, frame-ancestors/DENY, and the
Referrer-Policy (no-referrer on the pages whose URL carries a token)."""

from __future__ import annotations

import re
import shutil

import pytest
from cryptography.fernet import Fernet

from tests import factories
from tests.conftest import STRONG_SECRET
from tests.portal.helpers import main_email, signed_in
from tests.support.cards import stripe_on

REQUIRED = {
    "default-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}
UNSAFE = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:", "https:")
# Inline and external scripts and style elements need the nonce; style sheets from the app's own
# origin are allowed by 'self' (Flask-Admin links some without a nonce).
TAG = re.compile(r"<(script|style)\b[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)


def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def nonce_of(directives: dict[str, list[str]]) -> str:
    nonces = [s for s in directives["script-src"] if s.startswith("'nonce-")]
    assert len(nonces) == 1, directives["script-src"]
    return nonces[0][len("'nonce-") : -1]


def assert_strict_page(response) -> str:
    """The policy is strict and the page keeps to it; returns the response's nonce."""
    assert response.status_code == 200, response.status_code
    directives = policy(response)
    for name, sources in REQUIRED.items():
        assert directives[name] == sources, (name, directives[name])
    nonce = nonce_of(directives)
    assert len(nonce) >= 22
    assert f"'nonce-{nonce}'" in directives["style-src"]
    for name in ("script-src", "style-src"):
        assert "'self'" in directives[name]
        assert not set(UNSAFE) & set(directives[name]), (name, directives[name])
    html = response.get_data(as_text=True)
    for tag in TAG.finditer(html):
        assert f'nonce="{nonce}"' in tag.group(0), tag.group(0)
    assert not INLINE_HANDLER.search(html), INLINE_HANDLER.search(html).group(0)
    assert not STYLE_ATTRIBUTE.search(html), STYLE_ATTRIBUTE.search(html).group(0)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    return nonce


@pytest.fixture
def managed(app):
    factories.reference(app)
    return factories.customer(app)


def test_admin_pages_have_a_strict_policy_that_their_scripts_keep(app, staff_client, managed):
    """SPEC §13: dashboard, list (with filters), details, the action forms and settings;
    Flask-Admin's own scripts carry the nonce too (``csp_nonce_generator``)."""
    pages = [
        "/admin/",
        "/admin/customer/?flt0_status_equals=active&search=a",
        f"/admin/customer/details/?id={managed.id}",
        f"/admin/customer/{managed.id}/ip-distribution/",
        f"/admin/customer/{managed.id}/project-key/",
        f"/admin/customer/{managed.id}/message/",
        "/admin/invoice/",
        "/admin/saved-views/",
        "/admin/settings/mail/",
        "/admin/self-service/",
    ]
    nonces = set()
    for url in pages:
        nonces.add(assert_strict_page(staff_client.get(url)))
    assert len(nonces) == len(pages)  # a fresh nonce for every response
    login = app.test_client().get("/admin/login/")
    assert_strict_page(login)
    assert "https://js.stripe.com" not in login.headers["Content-Security-Policy"]


def test_portal_pages_have_a_strict_policy_and_only_payment_may_use_stripe(app, localstripe, clock):
    """SPEC §6, §10, §13: Stripe.js, its frames and API are allowed on the payment page only,
    from the server ``STRIPE_API_BASE`` names (here localstripe)."""
    factories.reference(app)
    stripe_on(app, localstripe)
    customer = factories.customer(app, mode="self_service", payment="card")
    client = signed_in(app, main_email(customer))
    for url in ("/portal/", "/portal/subscription", "/portal/team", "/portal/account"):
        response = client.get(url)
        assert_strict_page(response)
        assert localstripe.url not in response.headers["Content-Security-Policy"]
    payment = client.get("/portal/payment")
    assert_strict_page(payment)
    directives = policy(payment)
    for name in ("script-src", "frame-src", "connect-src"):
        assert directives[name][:2] == ["'self'", localstripe.url], directives[name]
    assert f'src="{localstripe.url}/js.stripe.com/v3/"' in payment.get_data(as_text=True)
    assert_strict_page(app.test_client().get("/portal/login"))


def test_without_an_api_base_the_payment_page_allows_stripes_own_hosts(app):
    """SPEC §6: production loads Stripe.js from js.stripe.com and talks to api.stripe.com."""
    from billing.payments.stripe_account import csp_sources

    app.config["STRIPE_API_BASE"] = ""
    with app.test_request_context("/portal/payment"):
        sources = csp_sources()
    assert "https://js.stripe.com" in sources["script-src"]
    assert "https://hooks.stripe.com" in sources["frame-src"]
    assert sources["connect-src"] == ("https://api.stripe.com",)
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:8420/v1/"
    with app.test_request_context("/portal/payment"):
        assert csp_sources()["script-src"] == ("http://127.0.0.1:8420",)


def test_error_pages_carry_the_policy(client):
    """SPEC §13: a 404 is protected like any page."""
    response = client.get("/admin/no-such-page/")
    assert response.status_code == 404
    assert policy(response)["frame-ancestors"] == ["'none'"]


def test_referrer_policy_is_no_referrer_on_pages_with_a_token_in_the_url(client):
    """SPEC §10, §13: invite, password reset and registration confirmation links carry a secret
    token that must not leak to other sites; every other page sends the origin at most."""
    for url in ("/portal/invite/abc", "/portal/reset/abc", "/portal/register/confirm/abc"):
        assert client.get(url).headers["Referrer-Policy"] == "no-referrer", url
    for url in ("/portal/login", "/admin/login/", "/portal/forgot"):
        assert client.get(url).headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_production_sends_hsts_and_redirects_plain_http(monkeypatch, sqlite_template, tmp_path):
    """SPEC §13: behind the TLS proxy (``X-Forwarded-Proto: https``) every answer has HSTS;
    a plain HTTP request is sent to HTTPS; outside production there is no HSTS."""
    from app import create_app

    path = tmp_path / "prod.db"
    shutil.copy(sqlite_template, path)
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    client = create_app().test_client()
    secure = client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"] == "max-age=31556926; includeSubDomains"
    assert_strict_page(secure)
    plain = client.get("/portal/login")
    assert plain.status_code == 302
    assert plain.headers["Location"].startswith("https://")
    monkeypatch.setenv("APP_ENV", "development")
    development = create_app().test_client().get("/admin/login/")
    assert "Strict-Transport-Security" not in development.headers
