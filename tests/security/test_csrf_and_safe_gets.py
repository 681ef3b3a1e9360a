"""CSRF on every state change and no state change on GET (SPEC §13; issue 8 item 4): every
POST route of the admin and the portal refuses a missing or a foreign CSRF token with 400 and
changes nothing, and a crawl of every link an admin (and a customer user) can reach on the demo
leaves the database as it was, without a single server error."""

from __future__ import annotations

import re
from collections import Counter, deque
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest

from tests.conftest import csrf_token
from tests.security.conftest import changed_tables, fingerprint, portal_signed_in, staff_signed_in
from tests.security.routes import calls

CSRF_REFUSAL = (
    "The form was too old or incomplete.",
    "Das Formular war zu alt oder unvollständig.",
)
# signature-checked by Stripe's scheme instead of a CSRF token (tests/portal/test_payment.py);
# browsers send violation reports without a token, and a report changes nothing but the log
# (tests/security/test_csp_report.py)
NO_CSRF = {"webhooks.stripe_webhook", "csp.csp_report"}


def test_every_mutating_route_refuses_a_missing_or_foreign_token(demo_app):
    """Every POST/PUT/PATCH/DELETE rule of the url map, each with the client that could use it
    (an admin for /admin, the customer's main user for /portal): without a token, or with a
    valid token of another browser's session, the answer is 400 and nothing changes."""
    from billing.catalog.selfservice import save_self_service
    from billing.kernel.audit import SYSTEM

    save_self_service(True, "Managed scanning", "MS-1", SYSTEM, demo_app.config["CLOCK"])
    admin = staff_signed_in(demo_app, "admin")
    customer = portal_signed_in(demo_app, demo_app.demo.customer_email)
    foreign = csrf_token(demo_app.test_client(), "/admin/login/")
    before = fingerprint()
    mutating = [
        c
        for c in calls(demo_app, demo_app.demo.ids)
        if c.method != "GET" and c.endpoint not in NO_CSRF
    ]
    assert len(mutating) > 60
    problems = []
    for call in mutating:
        client = customer if call.url.startswith("/portal") else admin
        for label, data in (("no token", {}), ("a foreign token", {"csrf_token": foreign})):
            data = {**data, "email": "x@example.com", "password": "x", "language": "de"}
            response = client.open(call.url, method=call.method, data=data)
            page = response.get_data(as_text=True)
            if response.status_code != 400 or not any(text in page for text in CSRF_REFUSAL):
                problems.append(f"{call} with {label}: {response.status_code}")
    assert not problems, "\n".join(problems)
    assert changed_tables(before, fingerprint()) == []
    assert admin.get("/admin/customer/").status_code == 200, "the refused sign-out did nothing"
    assert customer.get("/portal/").status_code == 200


SKIP_PREFIXES = ("/static/", "/admin/static/")
PER_PATTERN = 3


def _pattern(url: str) -> tuple:
    parts = urlsplit(url)
    path = re.sub(r"/\d+", "/N", parts.path)
    keys = tuple(sorted({key for key, _value in parse_qsl(parts.query)}))
    return path, keys


def _links(base: str, html: str) -> list[str]:
    found = []
    for href in re.findall(r'href="([^"#]+)', html):
        href = href.replace("&amp;", "&")
        url = urljoin(base, href)
        parts = urlsplit(url)
        if parts.scheme not in ("", "http") or parts.netloc not in ("", "localhost"):
            continue
        local = parts.path + (f"?{parts.query}" if parts.query else "")
        if local.startswith(("/admin", "/portal")) and not local.startswith(SKIP_PREFIXES):
            found.append(local)
    return found


def crawl(client, start: str, bound: int) -> dict[str, int]:
    """Breadth-first over the links of every page reached, at most ``PER_PATTERN`` URLs per
    path shape (ids replaced) and query-argument set, ``bound`` requests in all."""
    seen, shapes, statuses = {start}, Counter(), {}
    queue = deque([start])
    while queue and len(statuses) < bound:
        url = queue.popleft()
        response = client.get(url)
        statuses[url] = response.status_code
        if "text/html" not in response.content_type:
            continue
        for link in _links(f"http://localhost{url}", response.get_data(as_text=True)):
            shape = _pattern(link)
            if link in seen or shapes[shape] >= PER_PATTERN:
                continue
            seen.add(link)
            shapes[shape] += 1
            queue.append(link)
    return statuses


@pytest.mark.parametrize("who", ["admin", "customer"])
def test_following_every_link_changes_nothing(demo_app, who):
    """SPEC §13 "CSRF on every state change" means no GET changes state: an admin's crawl of
    every link under /admin and /portal (and a customer user's crawl of the portal) leaves
    every table as it was (downloads may add their audit event), and no page fails."""
    if who == "admin":
        client, start, bound = staff_signed_in(demo_app, "admin"), "/admin/", 250
    else:
        client = portal_signed_in(demo_app, demo_app.demo.customer_email)
        start, bound = "/portal/", 80
    before = fingerprint()
    statuses = crawl(client, start, bound)
    failed = {url: status for url, status in statuses.items() if status >= 500}
    assert not failed
    assert len(statuses) > (100 if who == "admin" else 8), sorted(statuses)
    assert changed_tables(before, fingerprint()) == []
