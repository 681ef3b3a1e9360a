"""The processes `make run` starts besides the app (scripts/run.sh, issue 14): the mail sink that
keeps every e-mail in a Maildir, and the local Stripe (localstripe) that keeps its objects across
restarts and sends signed payment events to the app. Each is started here with the command
run.sh uses, on a free 127.0.0.1 port, and stopped by its process id."""

from __future__ import annotations

import mailbox
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import stripe
from werkzeug.serving import make_server

from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.kernel.audit import SYSTEM
from billing.kernel.mail import compose, deliver
from billing.payments import card_charges, stripe_account, stripe_cards
from models import EmailLog, Invoice, StripeEvent, db
from tests import factories
from tests.conftest import _build, _sqlite_url, csrf_token, make_staff, sign_in
from tests.support.services import PATIENCE, free_port, wait_for_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
RUN_SH = (ROOT / "scripts" / "run.sh").read_text()
MAIL_SINK = ROOT / "scripts" / "mail_sink.py"
LOCAL_STRIPE = ROOT / "scripts" / "localstripe_loopback.py"


def _start(script: Path, *args: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return process


def _stop(process: subprocess.Popen) -> int:
    process.terminate()
    return process.wait(timeout=PATIENCE)


@pytest.fixture
def sink_port():
    return free_port()


@pytest.fixture
def sink_app(sqlite_template, tmp_path, clock, sink_port):
    """The app sending through the mail sink (as run.sh configures it), with the demo mailbox."""
    app, ctx, _db = _build(
        _sqlite_url(sqlite_template, tmp_path),
        clock,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=sink_port,
        MAIL_DEFAULT_SENDER="MSP Billing <billing@msp.demo.example>",
        MAIL_SINK_MAILDIR=str(tmp_path / "maildir"),
    )
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()


def test_the_mail_sink_keeps_every_e_mail_in_a_maildir(sink_app, sink_port, clock):
    """An empty folder (what `make run` used to create, and what an older instance/ holds) is
    made a Maildir; the product's e-mail is delivered, kept, and readable in the admin."""
    assert 'scripts/mail_sink.py "$MAIL_SINK_MAILDIR" "$MAIL_PORT"' in RUN_SH
    maildir = Path(sink_app.config["MAIL_SINK_MAILDIR"])
    maildir.mkdir()
    sink = _start(MAIL_SINK, str(maildir), str(sink_port), port=sink_port)
    try:
        message = compose(
            "test",
            "sales@prospect.example",
            "en",
            clock,
            product="MSP Billing",
            sender="admin@demo.example",
        )
        deliver(message, clock)
        log = db.session.get(EmailLog, message.log_id)
        assert (log.state, log.error) == ("sent", "")
        box = mailbox.Maildir(maildir, create=False)
        (kept,) = wait_until(lambda: list(box), "the sink has kept the e-mail")
        assert kept["To"] == "sales@prospect.example"
        assert kept["Subject"] == message.subject

        staff = make_staff(sink_app, "admin")
        client = sink_app.test_client()
        sign_in(client, staff.email)
        client.token = csrf_token(client, "/admin/")
        page = client.get("/admin/mail-sink/").get_data(as_text=True)
        assert "1 e-mail." in page and message.subject in page
    finally:
        assert _stop(sink) == 0


def _stripe(port: int) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_run_services", base_addresses={"api": _url(port)})


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


@pytest.mark.slow
def test_the_local_stripe_keeps_its_objects_across_restarts(tmp_path):
    """run.sh keeps them next to the database: cards saved in one `make run` are there in the
    next. Without ``--data`` (the tests) nothing is kept."""
    assert "scripts/localstripe_loopback.py" in RUN_SH and "--data instance/" in RUN_SH
    data = tmp_path / "localstripe.pickle"
    port = free_port()
    server = _start(LOCAL_STRIPE, str(port), "--data", str(data), port=port)
    try:
        customer = _stripe(port).v1.customers.create({"name": "Acme"})
        card = _stripe(port).v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    finally:
        _stop(server)
    server = _start(LOCAL_STRIPE, str(port), "--data", str(data), port=port)
    try:
        assert _stripe(port).v1.customers.retrieve(customer.id).name == "Acme"
        listed = _stripe(port).v1.payment_methods.list({"customer": customer.id, "type": "card"})
        assert [c.id for c in listed.data] == [card.id]
    finally:
        _stop(server)
    server = _start(LOCAL_STRIPE, str(port), port=port)
    try:
        with pytest.raises(stripe.InvalidRequestError):
            _stripe(port).v1.customers.retrieve(customer.id)
    finally:
        _stop(server)


@pytest.mark.slow
@pytest.mark.fresh_database
def test_the_local_stripe_signs_payment_events_for_the_app(app, clock):
    """``--webhook`` (as run.sh starts it): a charge's payment_intent.succeeded reaches the
    app's endpoint with a valid signature and marks the invoice paid."""
    stripe_port, app_port = free_port(), free_port()
    secret = "whsec_run_services"
    server = _start(
        LOCAL_STRIPE,
        str(stripe_port),
        "--webhook",
        f"http://127.0.0.1:{app_port}/stripe/webhook",
        "--webhook-secret",
        secret,
        port=stripe_port,
    )
    web = make_server("127.0.0.1", app_port, app, threaded=True)
    thread = threading.Thread(target=web.serve_forever, daemon=True)
    thread.start()
    try:
        app.config["STRIPE_API_BASE"] = _url(stripe_port)
        factories.reference(app)
        stripe_account.save_stripe_keys(
            "sk_test_run_services", "pk_test_run_services", SYSTEM, clock
        )
        stripe_account.save_webhook_secret(secret, SYSTEM, clock)
        customer = factories.customer(app, payment="card")
        stripe_cards.make_default_card(customer.id, "pm_card_visa")
        invoice = draft_invoice(customer.id, clock.today().replace(day=1), clock)
        invoice_id = finalize_invoice(invoice.id, clock).id
        intent_id = card_charges.charge_invoice(invoice_id, clock).payment_intent_id

        def processed():
            db.session.rollback()
            return db.session.scalar(
                db.select(StripeEvent).where(
                    StripeEvent.type == "payment_intent.succeeded",
                    StripeEvent.payload.contains(intent_id),
                    StripeEvent.state == "processed",
                )
            )

        wait_until(processed, "the app has processed the payment event")
        assert db.session.get(Invoice, invoice_id).state == "paid"
        ignored = db.session.scalar(
            db.select(db.func.count()).where(StripeEvent.type == "customer.created")
        )
        assert ignored == 0  # only the payment events are sent
    finally:
        web.shutdown()
        thread.join(timeout=10)
        _stop(server)
