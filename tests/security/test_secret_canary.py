"""A canary secret never appears in clear (SPEC §6 "stored encrypted, never shown again",
SPEC §7 "password stored encrypted", SPEC §3 "Exports never contain secrets", SPEC §13).

One unique canary is entered as the Stripe secret key, the SMTP password and the Stripe webhook
secret through the settings screens. Then the product is used for real: the month-end run
charges cards at localstripe and e-mails invoices through a real RQ worker, staff browse every
screen, list, details page and export, a customer browses the portal. The canary is looked for
in every page, every e-mail, the log (this process's and the worker's), every Redis key and a
dump of the database.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
import uuid
import zlib
from datetime import date
from pathlib import Path

import pytest
from redis import Redis

from billing.catalog.payment_methods import set_active
from billing.customers.lookup import get_customer
from billing.invoicing import monthend
from billing.kernel.audit import SYSTEM
from billing.kernel.mail import load_mail_settings
from billing.payments import stripe_account, stripe_cards
from jobs.billing import queue_month_end
from models import BillingRun, Invoice, StripeEvent, db
from tests import factories
from tests.conftest import berlin, csrf_token
from tests.portal.helpers import main_email, signed_in
from tests.reliability.test_month_end_kill import RUN_AT, _worker_env
from tests.support.services import PATIENCE

ROOT = Path(__file__).resolve().parents[2]
# the month-end worker of the reliability tests: same environment, clock fixed at RUN_AT
SKIPPED_RULES = ("/static/", "/admin/static/", "ajax/lookup", "/logout", "/language")


def _needles(canary: str) -> list[bytes]:
    """The canary, also cut short (a page may show the end of a key masked, never more)."""
    return [canary.encode(), canary[:16].encode()]


class Findings:
    """Where the canary was seen (empty when it never leaked)."""

    def __init__(self, canary: str) -> None:
        self.needles = _needles(canary)
        self.places: list[str] = []
        self.checked = 0

    def scan(self, place: str, data: bytes | str | None) -> None:
        if data is None:
            return
        raw = data.encode() if isinstance(data, str) else data
        self.checked += 1
        if any(needle in raw for needle in self.needles):
            self.places.append(place)


def _configure_secrets_through_the_screens(app, localstripe, smtp_sink, canary, admin, found):
    """The three secrets go in the way an admin enters them; the answers are checked too."""
    app.config["STRIPE_API_BASE"] = localstripe.url
    token = csrf_token(admin, "/admin/settings/mail/")
    saved = admin.post(
        "/admin/settings/mail/",
        data={
            "csrf_token": token,
            "host": "127.0.0.1",
            "port": str(smtp_sink.port),
            "tls_mode": "none",
            "username": "",
            "password": canary,
            "sender_name": "MSP",
            "sender_address": "billing@msp.example",
        },
        follow_redirects=True,
    )
    found.scan("mail settings answer", saved.data)
    token = csrf_token(admin, "/admin/payment-methods/")
    for url, data in (
        ("/admin/payment-methods/stripe/", {"secret_key": f"sk_test_{canary}"}),
        ("/admin/payment-methods/webhook/", {"webhook_secret": f"whsec_{canary}"}),
    ):
        data.update(csrf_token=token, publishable_key="pk_test_canarypublic")
        answer = admin.post(url, data=data, follow_redirects=True)
        assert answer.status_code == 200
        found.scan(f"answer of {url}", answer.data)
    db.session.expire_all()
    assert stripe_account.stored_secret_key() == f"sk_test_{canary}"
    assert load_mail_settings().password == canary
    set_active("card", True, SYSTEM, app.config["CLOCK"])


def _customers(app) -> dict[str, int]:
    clock = app.config["CLOCK"]
    clock.instant = berlin(2026, 10, 1, 9, 0)
    ids = {}
    for name, card in (("visa", "pm_card_visa"), ("declined", "pm_card_chargeCustomerFail")):
        customer = factories.customer(app, payment="card", internal=20, external=5)
        stripe_cards.attach_card(customer.id, card)
        ids[name] = customer.id
    ids["transfer"] = factories.customer(app, payment="invoice", country="FR").id
    clock.instant = RUN_AT
    return ids


def _scan_redis(redis_url: str, found: Findings, when: str) -> int:
    """Every key's value, whatever its type; RQ's compressed job data is unpacked first."""
    client = Redis.from_url(redis_url)
    keys = client.keys("*")
    for key in keys:
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key)]
        elif kind == "hash":
            values = [v for pair in client.hgetall(key).items() for v in pair]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [member for member, _score in client.zrange(key, 0, -1, withscores=True)]
        else:
            values = []
        for value in [key, *values]:
            found.scan(f"redis {key!r} ({when})", value)
            try:
                found.scan(f"redis {key!r} unpacked ({when})", zlib.decompress(value))
            except zlib.error:
                pass
    return len(keys)


def _admin_urls(app, ids: dict[str, int]) -> list[str]:
    """Every admin and portal GET page without arguments, plus each page that takes an id,
    a format or an export type, filled in with the test's records."""
    invoice_id = db.session.scalar(db.select(Invoice.id).order_by(Invoice.id))
    run_id = db.session.scalar(db.select(BillingRun.id))
    event_id = db.session.scalar(db.select(StripeEvent.id))
    values = {
        "customer_id": [ids["visa"], ids["declined"]],
        "invoice_id": [invoice_id],
        "run_id": [run_id],
        "export_type": ["csv", "json", "xlsx"],
        "export_format": ["json", "csv"],
    }
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or any(part in rule.rule for part in SKIPPED_RULES):
            continue
        if not rule.rule.startswith("/admin"):
            continue
        arguments = sorted(rule.arguments)
        if not arguments:
            urls.append(rule.rule)
        elif set(arguments) <= set(values) and len(arguments) == 1:
            name = arguments[0]
            for value in values[name]:
                urls.append(re.sub(r"<[^>]*" + name + ">", str(value), rule.rule))
    for view, record in (
        ("customer", ids["visa"]),
        ("invoice", invoice_id),
        ("stripe_event", event_id),
        ("billing_run", run_id),
    ):
        urls.append(f"/admin/{view}/details/?id={record}")
    urls += [
        f"/admin/billing-data/json/?month={RUN_AT:%Y}-10",
        f"/admin/billing-data/csv/?month={RUN_AT:%Y}-10",
        "/admin/customer/export/json/?search=Company",
    ]
    return urls


@pytest.fixture
def canary_app(request):
    backend = request.param
    return request.getfixturevalue("app" if backend == "sqlite" else "pg_app")


@pytest.mark.slow
@pytest.mark.fresh_database  # a worker process bills the month on the test's database
@pytest.mark.parametrize("canary_app", ["sqlite", "postgresql"], indirect=True)
def test_the_canary_secret_never_appears_in_clear(
    canary_app, localstripe, smtp_sink, redis_server, caplog, tmp_path
):
    """SPEC §6/§7/§13: the Stripe secret key, SMTP password and webhook secret are encrypted at
    rest and never leave in clear: not in any page, export, e-mail, log line, Redis job payload
    or database dump, while the product uses them (cards are charged, mail is delivered)."""
    from tests.conftest import make_staff, sign_in

    app = canary_app
    caplog.set_level(logging.DEBUG)
    canary = "cnry" + uuid.uuid4().hex
    found = Findings(canary)
    app.config["REDIS_URL"] = redis_server.url
    factories.reference(app)
    admin = app.test_client()
    sign_in(admin, make_staff(app, "admin").email)
    _configure_secrets_through_the_screens(app, localstripe, smtp_sink, canary, admin, found)
    ids = _customers(app)

    # jobs that touch mail and Stripe: a test e-mail, and the month-end run that charges cards
    # and e-mails every invoice
    token = csrf_token(admin, "/admin/settings/mail/")
    admin.post("/admin/settings/mail/test/", data={"csrf_token": token, "recipient": "t@x.test"})
    run = monthend.start_run(date(2026, 10, 1), SYSTEM, app.config["CLOCK"], auto_finalize=True)
    queue_month_end(run.run_id)
    assert _scan_redis(redis_server.url, found, "queued") > 0
    worker_log = tmp_path / "worker.log"
    with worker_log.open("w") as out:
        result = subprocess.run(
            [sys.executable, "-m", "tests.support.month_end_worker", "--burst", "billing", "mail"],
            cwd=ROOT,
            env=_worker_env(app, redis_server.url),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=PATIENCE,
        )
    assert result.returncode == 0, worker_log.read_text()[-3000:]
    _scan_redis(redis_server.url, found, "after the worker")
    found.scan("worker log", worker_log.read_bytes())
    db.session.expire_all()
    assert db.session.get(BillingRun, run.run_id).state == "done"
    paid = db.session.scalar(db.select(Invoice).where(Invoice.customer_id == ids["visa"]))
    assert paid.state == "paid", "the stored Stripe key works"
    assert smtp_sink.messages, "the stored SMTP settings work"
    for recipients, message in smtp_sink.messages:
        found.scan(f"e-mail to {recipients}", message.as_bytes())

    # a webhook signed with the stored secret is accepted (the secret works), and shows in lists
    import stripe

    payload = (
        '{"id": "evt_canary", "object": "event", "type": "payment_intent.succeeded", '
        '"data": {"object": {"id": "pi_unknown", "object": "payment_intent"}}}'
    )
    header = stripe.WebhookSignature._compute_signature  # noqa: SLF001
    stamp = int(time.time())
    signature = f"t={stamp},v1={header(f'{stamp}.{payload}', f'whsec_{canary}')}"
    delivered = app.test_client().post(
        "/stripe/webhook", data=payload, headers={"Stripe-Signature": signature}
    )
    assert delivered.status_code == 200, delivered.data
    found.scan("webhook answer", delivered.data)

    # staff browse every screen, list, details page and export
    pages = 0
    for url in _admin_urls(app, ids):
        response = admin.get(url, headers={"Accept-Language": "en"})
        assert response.status_code < 500, url
        found.scan(f"page {url}", response.data)
        pages += 1
    # a customer browses the portal
    portal = signed_in(app, main_email(get_customer(ids["visa"])))
    for url in (
        "/portal/",
        "/portal/account",
        "/portal/company",
        "/portal/team",
        "/portal/subscription",
        "/portal/payment",
        "/portal/invoices",
        f"/portal/invoices/{paid.id}/pdf",
        "/portal/subscription/preview?total=30&internal=25&external=5",
    ):
        response = portal.get(url)
        assert response.status_code < 500, url
        found.scan(f"portal {url}", response.data)
        pages += 1

    found.scan("this process's log", caplog.text)
    _scan_database(app, found)
    assert pages > 40 and found.checked > pages
    assert found.places == [], f"the canary leaked into: {found.places}"


def _scan_database(app, found: Findings) -> None:
    """A plain-SQL pg_dump of the PostgreSQL database, or the SQLite file and its WAL."""
    from billing.infra.backup import _pg_tool

    url = db.engine.url
    db.session.remove()
    if url.get_backend_name() == "postgresql":
        dump = subprocess.run(
            [
                _pg_tool("pg_dump"),
                "--host",
                url.host,
                "--port",
                str(url.port),
                "--username",
                url.username,
                url.database,
            ],
            capture_output=True,
            check=True,
            timeout=PATIENCE,
        )
        assert b"COPY public.setting" in dump.stdout
        found.scan("pg_dump", dump.stdout)
    else:
        path = Path(url.database)
        for part in (path, Path(f"{path}-wal")):
            if part.exists():
                found.scan(f"SQLite file {part.name}", part.read_bytes())
