"""Deny by default (SPEC §1, §13; issue 8 item 1): a sweep over every route of ``app.url_map``
with the ids of real demo records. Anonymous visitors get nothing, each staff role gets exactly
the routes its permissions give it (tests/security/routes.py names each route's permission; the
roles that have it come from the one table, ``billing.kernel.permissions.TABLE``), portal users get
nothing under /admin, and no refused request changes the database."""

from __future__ import annotations

import pytest

from billing.kernel.permissions import can
from tests.conftest import csrf_token
from tests.security.conftest import changed_tables, fingerprint, portal_signed_in, staff_signed_in
from tests.security.routes import (
    NOBODY,
    PORTAL,
    PUBLIC,
    STAFF_ROLES,
    access_of,
    calls,
    is_sign_in_redirect,
)

REFUSED = (401, 403, 404)


def _open(client, call, token: str):
    data = {"csrf_token": token} if call.method != "GET" else None
    return client.open(call.url, method=call.method, data=data)


def test_every_route_is_classified(demo_app):
    """SPEC §1 "every route needs an explicit role": a new route fails here until it is given
    its roles in tests/security/routes.py (and so is swept below)."""
    unclassified = sorted(
        rule.endpoint for rule in demo_app.url_map.iter_rules() if access_of(rule.endpoint) is None
    )
    assert not unclassified, f"classify in tests/security/routes.py: {unclassified}"


def test_anonymous_visitors_get_nothing(demo_app):
    """SPEC §1: every route but the short public list answers an anonymous visitor with a
    redirect to a sign-in page or 401/403/404 (never 200, never 500); POST-only routes are
    posted to, with a valid CSRF token so that it is the access check that answers."""
    client = demo_app.test_client()
    token = csrf_token(client, "/admin/login/")
    before = fingerprint()
    checked = []
    for call in calls(demo_app, demo_app.demo.ids):
        if call.access == PUBLIC:
            continue
        post_only = call.method == "POST" and not any(
            other.url == call.url and other.method == "GET"
            for other in calls(demo_app, demo_app.demo.ids)
            if other.endpoint == call.endpoint
        )
        if call.method != "GET" and not post_only:
            continue
        response = _open(client, call, token)
        checked.append(call)
        assert is_sign_in_redirect(response) or response.status_code in REFUSED, (
            f"{call}: {response.status_code} {response.headers.get('Location', '')}"
        )
    assert len(checked) > 100
    assert changed_tables(before, fingerprint()) == []


def _expect_allowed(call, response) -> str | None:
    status = response.status_code
    if call.method == "GET":
        if status == 200:
            return None
        location = response.headers.get("Location", "")
        if status == 302 and location.startswith("/admin/") and not is_sign_in_redirect(response):
            return None  # e.g. "this action is not available for this customer"
        return f"{call}: allowed, but {status} {location}"
    if status in (403, 404) or status >= 500 or is_sign_in_redirect(response):
        return f"{call}: allowed, but {status} {response.headers.get('Location', '')}"
    return None


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_each_staff_role_gets_exactly_its_routes(demo_app, role):
    """SPEC §1, as the permission table says: admin everything; billing customers,
    subscriptions, keys, invoices and the month-end review but no settings; support reads
    everything but the secrets, resends invites and impersonates read-only. Refused means 403
    and nothing changed; stock screens no view offers answer 404; portal pages send staff to the
    portal's sign-in."""
    client = staff_signed_in(demo_app, role)
    every = calls(demo_app, demo_app.demo.ids)
    problems = []
    # reads first, then refused changes (nothing may change), then the allowed changes
    allowed_changes = [c for c in every if c.method != "GET" and not _refused(c.access, role)]
    ordered = (
        [c for c in every if c.method == "GET"]
        + [c for c in every if c.method != "GET" and _refused(c.access, role)]
        + sorted(allowed_changes, key=lambda c: "delete" in c.endpoint)
    )
    before = fingerprint()
    refused_done = False
    for call in ordered:
        if call.access == PUBLIC:
            continue
        if call.method != "GET" and not _refused(call.access, role) and not refused_done:
            assert changed_tables(before, fingerprint()) == [], "a refused request changed data"
            refused_done = True
        response = _open(client, call, client.token)
        status = response.status_code
        if call.access == PORTAL:
            if not (is_sign_in_redirect(response) or status in REFUSED):
                problems.append(f"{call}: staff got {status} on a portal page")
        elif call.access == NOBODY:
            if status != 404:
                problems.append(f"{call}: not offered, but {status}")
        elif not can(role, call.access):
            if status != 403:
                problems.append(f"{call}: refused for {role}, but {status}")
        else:
            problem = _expect_allowed(call, response)
            if problem:
                problems.append(problem)
    assert not problems, "\n".join(problems)


def _refused(access, role: str) -> bool:
    return access in (PORTAL, PUBLIC, NOBODY) or not can(role, access)


def test_portal_users_get_nothing_under_admin(demo_app):
    """SPEC §1: customer users can never reach /admin: every admin route, read or change,
    answers a signed-in portal user with the staff sign-in or 403/404, and nothing changes."""
    client = portal_signed_in(demo_app, demo_app.demo.customer_email)
    before = fingerprint()
    checked = 0
    for call in calls(demo_app, demo_app.demo.ids):
        if not call.url.startswith("/admin") or call.access == PUBLIC:
            continue
        response = _open(client, call, client.token)
        checked += 1
        assert is_sign_in_redirect(response) or response.status_code in REFUSED, (
            f"{call}: {response.status_code}"
        )
    assert checked > 100
    assert changed_tables(before, fingerprint()) == []
    assert client.get("/portal/").status_code == 200, "still signed in to the portal"
