"""No open redirects (SPEC §13; issue 8 item 6): every parameter that names where to go next —
``next`` on staff and portal sign-in and on both language switches, Flask-Admin's ``url`` on
the model screens — lands on a page of this site, whatever a tricky value tries."""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin, urlsplit

from seed.demo import CUSTOMER_PASSWORD
from tests.conftest import csrf_token
from tests.security.conftest import STAFF_LOGINS, portal_signed_in, staff_signed_in

TRICKY = [
    "//evil.example",
    "///evil.example",
    "////evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "https://evil.example/",
    "http://evil.example",
    "HTTPS://EVIL.EXAMPLE",
    "https:evil.example",
    "http:/evil.example",
    "https:/\\evil.example",
    "https:///evil.example",
    "ftp://evil.example",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "%5C%5Cevil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "javascript://%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    " //evil.example",
    "\t//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "\r\n//evil.example",
    "/\x00/evil.example",
    "//evil.example@localhost",
    "//localhost@evil.example",
    "https://localhost@evil.example",
    "//user:password@evil.example",
    "http://localhost.evil.example/",
    "//localhost.evil.example",
    "/.//evil.example",
    "/..//evil.example",
    "\uff0f\uff0fevil.example",
    "evil.example",
    "@evil.example",
]
SITE = "https://billing.example/admin/"
NOT_NAVIGATION = ("mailto:", "tel:", "#", "data:image/")


def is_local(location: str | None) -> bool:
    """Where a browser would go: a path on this site, never another host or a script."""
    if not location or "\\" in location or any(ord(ch) < 32 for ch in location):
        return False
    parts = urlsplit(location)
    return (
        not parts.scheme
        and not parts.netloc
        and location.startswith("/")
        and not location.startswith("//")
        and urlsplit(urljoin(SITE, location)).netloc == "billing.example"
    )


def refused_outright(response, target: str) -> bool:
    """A NUL byte in a form or an address is refused with 400 before anything runs: no
    redirect at all."""
    return response.status_code == 400 and "\x00" in target


def _report(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


def test_staff_sign_in_lands_on_a_local_page(demo_app):
    email, password = STAFF_LOGINS["admin"]
    problems = []
    for target in TRICKY:
        client = demo_app.test_client()
        token = csrf_token(client, "/admin/login/")
        response = client.post(
            f"/admin/login/?next={quote(target, safe='')}",
            data={"email": email, "password": password, "csrf_token": token},
        )
        again = client.get(f"/admin/login/?next={quote(target, safe='')}")  # signed in already
        for answer in (response, again):
            if refused_outright(answer, target):
                continue
            if answer.status_code != 302 or not is_local(answer.location):
                problems.append(f"{target!r}: {answer.status_code} {answer.location!r}")
    _report(problems)


def test_portal_sign_in_lands_on_a_portal_page(demo_app):
    problems = []
    for target in TRICKY:
        client = demo_app.test_client()
        token = csrf_token(client, "/portal/login")
        response = client.post(
            f"/portal/login?next={quote(target, safe='')}",
            data={
                "csrf_token": token,
                "email": demo_app.demo.customer_email,
                "password": CUSTOMER_PASSWORD,
            },
        )
        location = response.location or ""
        if refused_outright(response, target):
            continue
        if not (is_local(location) and location.startswith("/portal/")):
            problems.append(f"{target!r}: {response.status_code} {location!r}")
    _report(problems)


def test_language_switches_land_on_a_local_page(demo_app):
    """The EN/DE buttons of the admin (signed in or not) and of the portal."""
    staff = staff_signed_in(demo_app, "support")
    anonymous = demo_app.test_client()
    customer = portal_signed_in(demo_app, demo_app.demo.customer_email)
    cases = [
        (staff, "/admin/language/", staff.token),
        (anonymous, "/admin/language/", csrf_token(anonymous, "/admin/login/")),
        (customer, "/portal/language", customer.token),
    ]
    problems = []
    for target in TRICKY:
        for client, url, token in cases:
            response = client.post(
                url, data={"csrf_token": token, "language": "en", "next": target}
            )
            if refused_outright(response, target):
                continue
            if response.status_code != 302 or not is_local(response.location):
                problems.append(f"{url} {target!r}: {response.status_code} {response.location!r}")
    _report(problems)


def _targets(html: str) -> list[str]:
    found = re.findall(r'(?<![\w-])(?:href|action|formaction)="([^"]*)"', html)
    return [value.replace("&amp;", "&") for value in found]


def test_flask_admin_return_url_stays_local(demo_app):
    """Flask-Admin's ``url`` argument (the "back" target of its screens) never puts another
    site into a link or form of the page, a missing record or unknown export goes back to a
    local page, and the screens a view does not offer answer 404 instead of redirecting."""
    client = staff_signed_in(demo_app, "admin")
    ids = demo_app.demo.ids
    problems = []
    for target in TRICKY:
        quoted = quote(target, safe="")
        for page in (
            f"/admin/customer/details/?id={ids['customer_id']}&url={quoted}",
            f"/admin/customer/?url={quoted}",
        ):
            response = client.get(page)
            if refused_outright(response, target):
                continue
            assert response.status_code == 200, page
            for value in _targets(response.get_data(as_text=True)):
                if value in ("", "javascript:void(0)") or value.startswith(NOT_NAVIGATION):
                    continue
                if value.startswith("https://") and "evil" not in value:
                    continue  # e.g. a customer's stored website, checked when it was saved
                if not is_local(value):
                    problems.append(f"{page}: {value!r}")
        for page in (
            f"/admin/customer/details/?id=987654&url={quoted}",
            f"/admin/customer/export/bogus/?url={quoted}",
        ):
            response = client.get(page)
            if refused_outright(response, target):
                continue
            if response.status_code != 302 or not is_local(response.location):
                problems.append(f"{page}: {response.status_code} {response.location!r}")
        for stock in ("edit", "new"):
            response = client.get(f"/admin/customer/{stock}/?id={ids['customer_id']}&url={quoted}")
            if response.status_code != 404 and not refused_outright(response, target):
                problems.append(f"{stock} {target!r}: {response.status_code}")
    _report(problems)
