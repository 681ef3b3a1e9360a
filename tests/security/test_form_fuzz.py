"""Every form of the admin and the portal, filled with random and boundary values (SPEC §13:
"bad input anywhere gets a clear error and changes nothing; never a 500").

The forms are not listed by hand: a crawler GETs the pages a signed-in ``admin``, a signed-in
customer (self-service, so the portal's own forms are editable) and an anonymous visitor reach
from their start pages, parses every ``<form method=post>`` with its inputs, selects,
textareas and buttons, and keeps each form's CSRF token. Hypothesis then fills the fields with
values from a mix of strategies: empty, whitespace, huge and negative numbers, NaN and infinity,
unicode (emoji, right-to-left marks, other digits), SQL- and template-ish text, NUL bytes and very
long strings; selects get a valid option or garbage, hidden fields (the record version) are
fuzzed too, only the CSRF token is kept.

Checks per submission: no 500 (and no exception out of the app), and a submission the app
refuses (400, or the form again with an error) leaves every table except the audit and e-mail
logs exactly as it was. Runs on PostgreSQL, which enforces column lengths and rejects NUL bytes.

``FORM_FUZZ_EXAMPLES`` sets the rounds over all forms (default 1), ``FORM_FUZZ_PAGES`` the pages
crawled per visitor (default 100).
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from billing.audit import SYSTEM
from billing.mail import save_mail_settings
from models import db
from tests import factories
from tests.conftest import make_staff, sign_in
from tests.portal.helpers import PASSWORD, main_email
from tests.portal.helpers import sign_in as portal_sign_in

EXAMPLES = int(os.environ.get("FORM_FUZZ_EXAMPLES", "1"))
MAX_PAGES = int(os.environ.get("FORM_FUZZ_PAGES", "100"))
PER_PATTERN = 1
# GETs that end the session or leave the signed-in area; the forms are fuzzed elsewhere
SKIP_LINKS = re.compile(r"logout|sign-?out|impersonat|/static/|export|download|\.pdf|\.csv")
SKIP_FORMS = re.compile(r"logout|sign-?out|impersonat")
REFUSED = re.compile(r"is-invalid|alert-danger|alert-error|alert-warning")
# rows that a refused submission may add: the audit trail and the e-mail log
LOG_TABLES = {"audit_event", "email_log", "alembic_version"}

BOUNDARY = [
    "",
    " ",
    "0",
    "-1",
    "-0",
    "1",
    "2147483648",
    "-99999999999999999999999",
    "1e309",
    "NaN",
    "nan",
    "Infinity",
    "-inf",
    "0.005",
    "1,5",
    "0x1F",
    "١٢٣",
    "١e٣",
    "\u202etxt.exe",
    "😀" * 40,
    "Zoë Ærøskøbing ß",
    "' OR '1'='1' --",
    "1; DROP TABLE customer; --",
    "%(name)s {0} {{7*7}} ${7*7}",
    "<script>alert(1)</script>",
    "a\x00b",
    "\x00",
    "line\r\nbreak",
    "x" * 201,
    "9" * 400,
    "y" * 20_000,
    "DELETE",
    "yes",
    "on",
    "2026-02-30",
    "9999-12-31",
    "0000-00-00",
    "DE000000000",
    "ZZ",
    "user@",
    "@example.com",
    "a@b.c",
    "https://evil.example/",
    "//evil.example",
    "../../../etc/passwd",
]
VALUES = st.one_of(
    st.sampled_from(BOUNDARY),
    st.text(max_size=60),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=250, max_size=2000),
)


@dataclass
class Field:
    tag: str
    name: str
    kind: str = "text"
    value: str = ""
    options: list[str] = field(default_factory=list)


@dataclass
class Form:
    page: str
    action: str
    fields: list[Field] = field(default_factory=list)
    multipart: bool = False

    @property
    def signature(self) -> tuple:
        return (_pattern(self.action), tuple(sorted({f.name for f in self.fields})))


class PageParser(HTMLParser):
    """The links and the POST forms of one page."""

    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.url = url
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: Field | None = None
        self._textarea: Field | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(urljoin(self.url, a["href"]))
        elif tag == "form":
            if a.get("method", "get").lower() == "post":
                action = urljoin(self.url, a.get("action") or self.url)
                multipart = "multipart" in a.get("enctype", "")
                self._form = Form(self.url, action, multipart=multipart)
                self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag in ("input", "button") and a.get("name"):
            kind = a.get("type", "text" if tag == "input" else "submit").lower()
            self._form.fields.append(Field(tag, a["name"], kind, a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self._select = Field("select", a["name"], "select")
            self._form.fields.append(self._select)
        elif tag == "option" and self._select is not None:
            self._select.options.append(a.get("value", ""))
        elif tag == "textarea" and a.get("name"):
            self._textarea = Field("textarea", a["name"], "textarea")
            self._form.fields.append(self._textarea)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _pattern(url: str) -> str:
    parts = urlsplit(url)
    keys = sorted({q.split("=")[0] for q in parts.query.split("&") if q})
    return re.sub(r"/\d+", "/N", parts.path) + "?" + "&".join(keys)


def crawl(client, starts: list[str], area: str) -> list[Form]:
    """GET every page under ``area`` reachable from ``starts`` (at most ``PER_PATTERN`` of
    each URL shape); return the distinct POST forms found on them."""
    queue, seen, patterns, forms = list(starts), set(), {}, {}
    while queue and len(seen) < MAX_PAGES:
        url = _path(queue.pop(0))
        pattern = _pattern(url)
        if url in seen or patterns.get(pattern, 0) >= PER_PATTERN:
            continue
        seen.add(url)
        patterns[pattern] = patterns.get(pattern, 0) + 1
        response = client.get(url)
        assert response.status_code < 500, f"GET {url}: {response.status_code}"
        if response.status_code != 200 or "html" not in response.content_type:
            continue
        parser = PageParser("http://localhost" + url)
        parser.feed(response.get_data(as_text=True))
        for form in parser.forms:
            if not SKIP_FORMS.search(form.action):
                forms.setdefault(form.signature, form)
        for link in parser.links:
            parts = urlsplit(link)
            if parts.netloc in ("", "localhost") and parts.path.startswith(area):
                if not SKIP_LINKS.search(link):
                    queue.append(link)
    return list(forms.values())


def _fingerprint() -> dict[str, str]:
    """A digest of every table but the logs (PostgreSQL), in one query."""
    global _DIGEST_SQL
    db.session.rollback()
    if _DIGEST_SQL is None:
        tables = db.session.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        ).all()
        _DIGEST_SQL = " UNION ALL ".join(
            f"SELECT '{table}', md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
            f'FROM "{table}" t'
            for table in tables
            if table not in LOG_TABLES
        )
    digests = dict(db.session.execute(text(_DIGEST_SQL)).all())
    db.session.rollback()
    return digests


_DIGEST_SQL: str | None = None
# the digest after the last submission: only the fuzzed submissions change the data
_STATE: dict[str, dict] = {}


def _fill(form: Form, data) -> dict:
    """Values for every field of ``form``: garbage or a valid choice; the CSRF token kept."""
    values: dict = {}
    buttons = [f for f in form.fields if f.kind == "submit"]
    for f in form.fields:
        if f.name == "csrf_token":
            values[f.name] = f.value
        elif f.kind == "submit":
            continue
        elif f.kind in ("checkbox", "radio"):
            if data.draw(st.booleans(), label=f.name):
                values[f.name] = f.value or "y"
        elif f.kind == "select":
            choices = [o for o in f.options if o] or [""]
            values[f.name] = data.draw(st.sampled_from(choices) | VALUES, label=f.name)
        elif f.kind == "file":
            content = data.draw(VALUES, label=f.name).encode("utf-8", "surrogatepass")
            values[f.name] = (io.BytesIO(content), "fuzz.csv")
        elif f.kind == "hidden" and data.draw(st.booleans(), label=f"keep {f.name}"):
            values[f.name] = f.value
        else:
            values[f.name] = data.draw(VALUES, label=f.name)
    if buttons:
        button = data.draw(st.sampled_from(buttons), label="button")
        values[button.name] = button.value
    return values


def _submit(client, form: Form, values: dict, caplog) -> None:
    """POST ``values``; fail on a 500 or an exception, or on a refusal that changed data."""
    before = _STATE.get("digest") or _fingerprint()
    shown = {k: (v if not isinstance(v, tuple) else "<file>") for k, v in values.items()}
    where = f"POST {_path(form.action)} (form on {_path(form.page)}) with {shown!r}"[:3000]
    try:
        response = client.post(
            _path(form.action),
            data=values,
            content_type="multipart/form-data" if form.multipart else None,
        )
    except Exception as error:  # noqa: BLE001 - reported with the input that caused it
        raise AssertionError(f"{where}: {type(error).__name__}: {error}"[:4000]) from error
    if response.status_code >= 500:
        logged = [r.exc_text or r.getMessage() for r in caplog.records if r.name == "msp.errors"]
        raise AssertionError(f"{where}: HTTP {response.status_code}\n{logged[-1:]}"[-6000:])
    body = response.get_data(as_text=True) if response.status_code in (200, 400, 409) else ""
    after = _STATE["digest"] = _fingerprint()
    if response.status_code == 400 or REFUSED.search(body):
        changed = [t for t in before if before[t] != after.get(t)]
        assert not changed, f"{where}: refused, yet changed {changed}"


@pytest.fixture
def world(pg_app, smtp_sink):
    """Customers in the states the forms act on, a mail server, an admin and a customer."""
    app = pg_app
    clock = app.config["CLOCK"]
    factories.reference(app)
    save_mail_settings(
        "127.0.0.1", smtp_sink.port, "none", "", "", "MSP", "billing@msp.example", SYSTEM, clock
    )
    factories.customer(app, company="Managed GmbH")
    factories.customer(app, state="invited", company="Invited AG")
    factories.customer(app, state="inactive", company="Cancelled KG")
    own = factories.customer(app, mode="self_service", payment="invoice", company="Self Ltd")
    staff = app.test_client()
    assert sign_in(staff, make_staff(app, "admin").email).status_code == 302
    customer = app.test_client()
    assert portal_sign_in(customer, main_email(own), PASSWORD).status_code == 302
    return app, staff, customer, app.test_client()


@pytest.mark.postgres
@pytest.mark.timeout(1200)
def test_no_form_answers_500_and_a_refused_submit_changes_nothing(world, caplog):
    """SPEC §13: random and boundary values in every admin, portal and sign-in form."""
    _app, staff, customer, anonymous = world
    _STATE.clear()
    targets = [(staff, form) for form in crawl(staff, ["/admin/", "/admin/customer/"], "/admin")]
    admin_forms = len(targets)
    targets += [
        (customer, form) for form in crawl(customer, ["/portal/", "/portal/account"], "/portal")
    ]
    portal_forms = len(targets) - admin_forms
    targets += [
        (anonymous, form)
        for form in crawl(
            anonymous,
            ["/admin/login/", "/portal/login", "/portal/forgot", "/portal/register"],
            "/portal",
        )
    ]
    assert admin_forms >= 15 and portal_forms >= 4, (admin_forms, portal_forms)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        # a failure names the form and its values; shrinking would replay every form
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
    )
    @given(data=st.data())
    def every_form(data):
        for client, form in targets:
            _submit(client, form, _fill(form, data), caplog)

    every_form()
