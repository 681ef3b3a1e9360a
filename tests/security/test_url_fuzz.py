"""Every GET URL and every path argument of the admin and the portal, called with random and
boundary values (SPEC §13: "bad input anywhere (forms, URLs, …) gets a clear error and changes
nothing; never a 500, never a stack trace shown to a user").

Query arguments: a crawler (``crawl.crawl_client``) GETs every page a signed-in ``admin``, the
demo customer's main user and an anonymous visitor reach on the demo data. Per page (one per
path shape) it knows the argument names its links and GET forms send, and for Flask-Admin lists
the stock ones (``page``, ``page_size``, ``sort``, ``desc``, ``search``, ``url``, ``id``, every
``flt…`` filter of the view and unknown filter keys). Hypothesis then sends each argument alone
and all of them together with hostile values: empty, huge, negative and non-numeric numbers,
NaN, unicode (right-to-left marks, other digits, emoji), NUL bytes, 10,000 characters, SQL- and
template-ish text, path traversal, invalid dates, repeated arguments, invalid percent-encoding
and hostile argument names.

Path arguments: every rule of the URL map with a converter, called (GET, and POST with the
client's CSRF token) with 0, -1, 2**63, 10**30, text where a number belongs, and the ids of
another customer's records (the portal's invoices and team members; an admin URL that pairs a
customer with another customer's contact, purchase order or subscription). A record that does
not exist, or is not the customer's, answers 404.

Checks per request: no 500 and nothing logged by ``msp.errors`` (no unhandled error and no value
that reached the database unchecked), no traceback, SQL error or file path in the answer, and
after every page every table except the logs is exactly as before (a GET changes nothing). Runs
on PostgreSQL, which refuses NUL bytes and out-of-range numbers hardest.

``URL_FUZZ_EXAMPLES`` sets the rounds per page (default 1; the first round walks the fixed
values, further ones add generated text and numbers), ``URL_FUZZ_PAGES`` the pages crawled per
visitor (default 150).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from flask_admin.model import BaseModelView
from hypothesis import given
from hypothesis import strategies as st

from billing.kernel.clock import FixedClock
from tests.conftest import PgDatabase, _build, berlin, csrf_token
from tests.security.conftest import (
    _extras,
    demo_ids,
    pg_fingerprint,
    portal_signed_in,
    staff_signed_in,
)
from tests.security.corpus import BOUNDARY, VALUES, fuzz_settings
from tests.security.crawl import crawl_client, local_path
from tests.security.routes import ACCESS, PORTAL, PUBLIC

# the PostgreSQL demo is seeded once per test process: the module's tests go to one worker
pytestmark = pytest.mark.xdist_group("pg_demo")

EXAMPLES = int(os.environ.get("URL_FUZZ_EXAMPLES", "1"))
MAX_PAGES = int(os.environ.get("URL_FUZZ_PAGES", "150"))
# sign-out is a POST; nothing else a link reaches ends the session
SKIP = re.compile(r"/static/|logout")
LIST_ARGUMENTS = ("page", "page_size", "sort", "desc", "search", "url", "id")
UNKNOWN_FILTERS = ("flt0_no_such_filter", "flt_x", "fltx", "flt99999999999999999999_name")
EVERY_PAGE = ("next", "url")
REFUSED = re.compile(r"alert-danger|alert-error|alert-warning")
# what a user must never see: a traceback, the database's error text, a file of the server
LEAKS = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+|sqlalchemy|psycopg|"
    r"SQLSTATE|Background on this error|sqlite3\.|site-packages|/work/|Werkzeug Debugger",
    re.I,
)
URL_BOUNDARY = [
    "2026-13-45",
    "2026-00",
    "2026-1",
    "0000-00",
    "13/2026",
    str(2**63),
    str(10**30),
    str(-(2**63) - 1),
    "99",
    "-99",
    "1.5",
    "1e3",
    "true",
    "null",
    "[]",
    "\u200f42",
    "٣",
    "१२",
    "𝟗",
    "%s%s%n",
    "../../../../etc/passwd",
    "..\\..\\app.py",
    "/admin/../portal/",
    "x" * 10_000,
    "\x00",
    "1\x00",
    "\x7f\x1b[31m",
]
FIXED = BOUNDARY + URL_BOUNDARY
# already percent-encoded: broken escapes, an encoded NUL, overlong and truncated UTF-8
RAW = ["%", "%%", "%zz", "%0", "%00", "a%00b", "%C0%AF", "%ff%fe", "%E2%80", "%ED%A0%80", "+%2"]
NAMES = ["", "\x00", "flt", "flt0_", "a" * 2000, "\u202e", "x[]", "x.y", "__proto__", "%zz"]
# how a pair is sent: mostly one hostile value, now and then repeated, as raw junk or (for a
# filter) a valid choice
SHAPES = ("one", "valid", "one", "repeated", "one", "valid", "raw")


@pytest.fixture(scope="session")
def pg_demo_template(postgres, pg_template) -> str:
    """A PostgreSQL database with the demo seed and the security extras, built once."""
    database = PgDatabase(postgres, pg_template)
    clock = FixedClock(berlin(2026, 11, 15, 10, 0))
    _app, ctx, db = _build(database.url, clock)
    from seed.demo import seed_demo

    seed_demo(clock)
    _extras(clock)
    db.session.remove()
    db.engine.dispose()
    ctx.pop()
    return database.name


@pytest.fixture
def pg_demo(postgres, pg_demo_template, clock):
    """The app on a fresh copy of the PostgreSQL demo; ``app.demo`` has the ids."""
    database = PgDatabase(postgres, pg_demo_template)
    app, ctx, db = _build(database.url, clock)
    app.demo = demo_ids()
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()
    database.drop()


def _model_view(app, path: str) -> BaseModelView | None:
    """The Flask-Admin model view whose list ``path`` is, if it is one."""
    try:
        endpoint, _args = app.url_map.bind("localhost").match(path, method="GET")
    except Exception:  # noqa: BLE001 - a redirect or 404: no list
        return None
    blueprint, _dot, name = endpoint.partition(".")
    for admin in app.extensions.get("admin", []):
        for view in admin._views:
            if view.endpoint == blueprint and isinstance(view, BaseModelView):
                return view if name == "index_view" else None
    return None


def targets(app, site) -> list[tuple[str, list[str], dict[str, list[str]]]]:
    """One URL per path shape, with every argument name to fuzz on it and the valid values of
    its filters (a valid filter next to hostile paging finds other faults than garbage alone)."""
    by_shape: dict[str, tuple[str, set[str], dict[str, list[str]]]] = {}
    for url in site.pages:
        path = urlsplit(url).path
        shape = re.sub(r"/\d+", "/N", path)
        _first, names, choices = by_shape.setdefault(shape, (url, set(), {}))
        names.update(key for key, _value in parse_qsl(urlsplit(url).query))
        names.update(site.arguments.get(path, ()))
        names.update(EVERY_PAGE)
        view = _model_view(app, path)
        if view is not None:
            names.update(LIST_ARGUMENTS)
            names.update(UNKNOWN_FILTERS)
            for arg, (_index, flt) in (view._filter_args or {}).items():
                names.add(f"flt0_{arg}")
                options = [str(code) for code, _label in flt.get_options(view) or ()]
                if options:
                    choices[f"flt0_{arg}"] = options
    return [(url, sorted(names - {"csrf_token"}), c) for url, names, c in by_shape.values()]


class Hostile:
    """Picks the hostile values for one page and round. Each list is walked in turn from
    ``start`` (the pages before this one take the entries before), so a single round sends every
    fixed value somewhere; hypothesis (``data``) shifts the picks and mixes in generated text
    and numbers."""

    def __init__(self, data, start: int) -> None:
        self.data = data
        self.start = start
        self.turn: dict[int, int] = {}

    def pick(self, choices, label: str):
        turn = self.turn[id(choices)] = self.turn.get(id(choices), self.start - 1) + 1
        shift = self.data.draw(st.integers(0, len(choices) - 1), label=label)
        return choices[(turn + shift) % len(choices)]

    def value(self, label: str) -> str:
        if self.data.draw(st.booleans(), label=f"generated {label}"):
            return self.data.draw(VALUES, label=label)
        return self.pick(FIXED, label)

    def pair(self, name: str, choices: list[str] | None) -> str:
        """``name=value``: a hostile value (or three, or raw percent-encoding junk, or for a
        filter a valid choice)."""
        key = quote(name, safe="")
        shape = self.pick(SHAPES, f"shape of {name}")
        if shape == "raw":
            return f"{key}={self.pick(RAW, name)}"
        if shape == "valid" and choices:
            return f"{key}={quote(self.pick(choices, name), safe='')}"
        count = 3 if shape == "repeated" else 1
        return "&".join(f"{key}={quote(self.value(name), safe='')}" for _ in range(count))

    def queries(self, url: str, names: list[str], choices: dict) -> Iterator[str]:
        """The query strings for one page: each argument hostile alone (the page's own
        arguments kept), all of them at once, and an argument with a hostile name."""
        own = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        for name in names:
            kept = [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in own if k != name]
            yield "&".join([*kept, self.pair(name, choices.get(name))])
        yield "&".join(self.pair(name, choices.get(name)) for name in names)
        yield self.pair(self.pick(NAMES, "name"), None)


def check(client, method: str, url: str, query: str, caplog, **kwargs):
    """Call and check one request: no 500, nothing for ``msp.errors``, nothing leaked."""
    where = f"{method} {url}?{query}"[:600]
    caplog.clear()
    try:
        response = client.open(urlsplit(url).path, method=method, query_string=query, **kwargs)
    except Exception as error:  # noqa: BLE001 - reported with the request that caused it
        raise AssertionError(f"{where}: {type(error).__name__}: {error}"[:3000]) from error
    logged = [r.exc_text or r.getMessage() for r in caplog.records if r.name == "msp.errors"]
    assert response.status_code < 500 and not logged, (
        f"{where}: HTTP {response.status_code}\n{logged[-1:]}"[-5000:]
    )
    if response.mimetype.startswith(("text/", "application/json")):
        leak = LEAKS.search(response.get_data(as_text=True))
        assert leak is None, f"{where}: the answer shows {leak.group(0)!r}"
    return response


def refused(client, method: str, response, expectation: str) -> bool:
    """Whether the answer refuses a record that does not exist (404; a button may also go back
    with an error message) or, for a static file, serves nothing."""
    if expectation == "nothing served":
        return response.status_code != 200
    if response.status_code == 404:
        return True
    if method != "POST" or response.status_code != 302:
        return False
    page = client.get(response.location, follow_redirects=True).get_data(as_text=True)
    return REFUSED.search(page) is not None


def _clients(app):
    admin = staff_signed_in(app, "admin")
    customer = portal_signed_in(app, app.demo.customer_email)
    anonymous = app.test_client()
    return admin, customer, anonymous


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_query_argument_answers_500_or_changes_anything(pg_demo, caplog):
    """SPEC §13: hostile values in every query argument of every page an admin, a customer
    user and an anonymous visitor reach; never a 500 or a traceback, and no GET changes data."""
    admin, customer, anonymous = _clients(pg_demo)
    before = pg_fingerprint()
    plan = []
    for client, starts, area in (
        (admin, ["/admin/", "/admin/customer/"], "/admin"),
        (customer, ["/portal/", "/portal/account"], "/portal"),
        (anonymous, ["/admin/login/", "/portal/login", "/portal/forgot", "/portal/register"], "/"),
    ):
        site = crawl_client(client, starts, area, MAX_PAGES, SKIP, SKIP)
        plan += [(client, *target) for target in targets(pg_demo, site)]
    assert len(plan) >= 40, [url for _client, url, *_rest in plan]
    assert pg_fingerprint() == before, "crawling changed data"

    @fuzz_settings(EXAMPLES)
    @given(data=st.data())
    def one_page(client, url, names, choices, start, data):
        hostile = Hostile(data, start)
        sent = []
        for query in hostile.queries(url, names, choices):
            sent.append(query)
            check(client, "GET", url, query, caplog)
        after = pg_fingerprint()
        changed = sorted(t for t in before if before[t] != after.get(t))
        assert not changed, f"GET {local_path(url)} changed {changed} (sent {sent!r:.2000})"

    start = 0
    for client, url, names, choices in plan:
        one_page(client, url, names, choices, start)
        start += 2 * len(names) + 1


INT_ARGUMENTS = ["0", "-1", str(2**31), str(2**63), str(10**30), "abc", "1.5", "١", "%00", "0x1"]
TEXT_ARGUMENTS = [
    "x" * 5000,
    "%00",
    "a%00b",
    "%zz",
    "%C0%AF",
    "..%2F..%2F..%2Fapp.py",
    "..%5C..%5Capp.py",
    quote("😀" * 20),
    quote("\u202eexe.txt"),
    quote("' OR '1'='1' --"),
    quote("{{7*7}}"),
    "-1",
    str(10**30),
]
PATH_ARGUMENTS = [
    "../../app.py",
    "..%2F..%2Fapp.py",
    "%2e%2e/%2e%2e/app.py",
    "/etc/passwd",
    "a%00.css",
]


def foreign_ids(owner_id: int) -> dict[str, object]:
    """Ids of records that belong to a customer other than the demo owner."""
    from models import Contact, Invoice, PurchaseOrder, ServiceSubscription, User, db

    def other(model):
        return db.session.scalar(
            db.select(model.id).where(model.customer_id != owner_id).order_by(model.id).limit(1)
        )

    ids = {
        "invoice_id": other(Invoice),
        "user_id": other(User),
        "contact_id": other(Contact),
        "order_id": other(PurchaseOrder),
        "service_id": other(ServiceSubscription),
    }
    return {name: value for name, value in ids.items() if value is not None}


def _url(rule, values: dict[str, str]) -> str:
    """``rule`` with its arguments replaced by ``values`` (already percent-encoded)."""
    return re.sub(r"<(?:[^<>:]+:)?(\w+)>", lambda m: values[m.group(1)], rule.rule)


def path_calls(app) -> Iterator[tuple[str, str, str, str, str]]:
    """(endpoint, method, URL, who, expectation) for every rule with arguments: each argument
    in turn hostile or another customer's, the others real ids."""
    from werkzeug.routing import IntegerConverter, PathConverter

    ids = app.demo.ids
    foreign = foreign_ids(ids["customer_id"])
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.arguments:
            continue
        access = ACCESS.get(rule.endpoint)
        who = "customer" if access == PORTAL else "anonymous" if access == PUBLIC else "admin"
        real = {name: quote(str(ids[name]), safe="/") for name in rule.arguments}
        for name, converter in rule._converters.items():
            if isinstance(converter, IntegerConverter):
                hostile = [(v, "404") for v in INT_ARGUMENTS]
                # another customer's record: in the portal, or under this customer's URL
                scoped = who == "customer" or "customer_id" in rule.arguments
                if name in foreign and scoped:
                    hostile.append((str(foreign[name]), "404"))
            elif isinstance(converter, PathConverter):
                hostile = [(v, "nothing served") for v in PATH_ARGUMENTS]
            else:
                hostile = [(v, "no 500") for v in TEXT_ARGUMENTS]
            for method in sorted(rule.methods & {"GET", "POST"}):
                for value, expectation in hostile:
                    url = _url(rule, {**real, name: value})
                    yield rule.endpoint, method, url, who, expectation


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_no_path_argument_answers_500_and_a_foreign_id_answers_404(pg_demo, caplog):
    """SPEC §13 and §1: every rule with path arguments, called with 0, -1, 2**63, 10**30, text
    where a number belongs, another customer's ids, long, NUL and traversal text: no 500, a
    record that does not exist (or is another customer's) answers 404, nothing changes."""
    admin, customer, anonymous = _clients(pg_demo)
    anonymous.token = csrf_token(anonymous, "/portal/login")
    clients = {"admin": admin, "customer": customer, "anonymous": anonymous}
    before = pg_fingerprint()
    calls = list(path_calls(pg_demo))
    assert len(calls) > 500 and {who for *_rest, who, _e in calls} == set(clients)
    wrong = []
    for endpoint, method, url, who, expectation in calls:
        client = clients[who]
        data = {"csrf_token": client.token} if method == "POST" else None
        response = check(client, method, url, "", caplog, data=data)
        if expectation == "no 500":
            continue
        # SPEC §1: in the portal, another customer's id answers exactly 404
        if not (
            response.status_code == 404
            if who == "customer"
            else refused(client, method, response, expectation)
        ):
            wrong.append(f"{method} {url[:200]} ({endpoint}, {who}): {response.status_code}")
    assert not wrong, "\n".join(wrong)
    changed = sorted(t for t, digest in pg_fingerprint().items() if before.get(t) != digest)
    assert not changed, f"calls with bad path arguments changed {changed}"
