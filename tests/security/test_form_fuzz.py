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

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.kernel.audit import SYSTEM
from billing.kernel.mail import save_mail_settings
from tests import factories
from tests.conftest import make_staff, sign_in
from tests.portal.helpers import PASSWORD, main_email
from tests.portal.helpers import sign_in as portal_sign_in
from tests.security.conftest import pg_fingerprint
from tests.security.corpus import VALUES, fuzz_settings
from tests.security.crawl import Form, crawl_client, local_path

EXAMPLES = int(os.environ.get("FORM_FUZZ_EXAMPLES", "1"))
MAX_PAGES = int(os.environ.get("FORM_FUZZ_PAGES", "100"))
PER_PATTERN = 1
# GETs that end the session or leave the signed-in area; the forms are fuzzed elsewhere
SKIP_LINKS = re.compile(r"logout|sign-?out|impersonat|/static/|export|download|\.pdf|\.csv")
SKIP_FORMS = re.compile(r"logout|sign-?out|impersonat")
REFUSED = re.compile(r"is-invalid|alert-danger|alert-error|alert-warning")


def crawl(client, starts: list[str], area: str) -> list[Form]:
    """The distinct POST forms on the pages under ``area`` reachable from ``starts``."""
    return crawl_client(client, starts, area, MAX_PAGES, SKIP_LINKS, SKIP_FORMS, PER_PATTERN).forms


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
    before = _STATE.get("digest") or pg_fingerprint()
    shown = {k: (v if not isinstance(v, tuple) else "<file>") for k, v in values.items()}
    where = f"POST {local_path(form.action)} (form on {local_path(form.page)}) with {shown!r}"[
        :3000
    ]
    try:
        response = client.post(
            local_path(form.action),
            data=values,
            content_type="multipart/form-data" if form.multipart else None,
        )
    except Exception as error:  # noqa: BLE001 - reported with the input that caused it
        raise AssertionError(f"{where}: {type(error).__name__}: {error}"[:4000]) from error
    if response.status_code >= 500:
        logged = [r.exc_text or r.getMessage() for r in caplog.records if r.name == "msp.errors"]
        raise AssertionError(f"{where}: HTTP {response.status_code}\n{logged[-1:]}"[-6000:])
    body = response.get_data(as_text=True) if response.status_code in (200, 400, 409) else ""
    after = _STATE["digest"] = pg_fingerprint()
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
@pytest.mark.slow
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

    @fuzz_settings(EXAMPLES)
    @given(data=st.data())
    def every_form(data):
        for client, form in targets:
            _submit(client, form, _fill(form, data), caplog)

    every_form()
