"""Money actions under concurrency on PostgreSQL (issue 13 item 2, SPEC §13 reliability, §14).

Each test fires the same action N times at once (threads released together by a barrier, each
with its own app context and database session, like N web processes or a double click) and
checks that exactly one of them had an effect and that the others got a clear message, never
a 500.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from decimal import Decimal as D

import pytest
import stripe

from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.invoicing.invoice_payment import mark_paid, retry_payment
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import DomainError
from billing.payments import card_charges, ledger, stripe_account, stripe_cards
from billing.subscriptions.distribution import change_ip_distribution
from billing.subscriptions.project_keys import create_key, redeem
from models import (
    AuditEvent,
    Customer,
    Invoice,
    LedgerEntry,
    PaymentAttempt,
    ProjectKey,
    ScheduledChange,
    StripeEvent,
    Subscription,
    db,
)
from tests import factories
from tests.conftest import berlin, csrf_token, make_staff, sign_in
from tests.support.cards import stripe_on

# the races are threads, each with a connection of its own
pytestmark = pytest.mark.fresh_database

N = 4
OCTOBER = date(2026, 10, 1)


def together(app, work, n: int = N) -> list:
    """Run ``work(i)`` in ``n`` threads started at the same moment, each in its own app
    context (its own session); returns what each returned, or the DomainError it raised."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results[i] = work(i)
            except DomainError as error:
                results[i] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def staff_clients(app, n: int = N) -> list:
    """``n`` browsers signed in as billing staff, each with its CSRF token."""
    staff = make_staff(app, "billing")
    clients = []
    for _ in range(n):
        client = app.test_client()
        assert sign_in(client, staff.email).status_code == 302
        client.token = csrf_token(client, "/admin/")
        clients.append(client)
    return clients


def post_together(app, clients: list, url: str, data: dict | None = None) -> list[str]:
    """Every client POSTs ``url`` at the same moment and follows the redirect; returns the
    pages (each must answer 200)."""

    def post(i: int):
        client = clients[i]
        response = client.post(
            url, data={"csrf_token": client.token, **(data or {})}, follow_redirects=True
        )
        return response.status_code, response.get_data(as_text=True)

    answers = together(app, post, len(clients))
    assert [status for status, _page in answers] == [200] * len(clients), "never a 500"
    return [page for _status, page in answers]


def count(model, *conditions) -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(db.func.count()).select_from(model).where(*conditions))


def events(action: str) -> int:
    return count(AuditEvent, AuditEvent.action == action)


def messages(results: list) -> list[str]:
    return sorted(r.message for r in results if isinstance(r, DomainError))


def _billed(app, **customer) -> tuple:
    """A customer (12 IPs, 54.00 net, 64.26 gross a month) billed for October 2026; the clock
    on 2 November 2026."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    created = factories.customer(app, company="Alpha GmbH", **customer)
    clock.instant = berlin(2026, 11, 2, 9, 0)
    invoice = finalize_invoice(draft_invoice(created.id, OCTOBER, clock).id, clock)
    return app, created.id, invoice.id


@pytest.fixture
def october(pg_app):
    return _billed(pg_app)


@pytest.mark.parametrize(
    "database", [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_one_invoice_is_credited_once_however_often_the_form_is_sent(request, database):
    """Issue 13.2: four simultaneous POSTs of the credit-note form (on PostgreSQL and SQLite):
    one numbered credit note that settles the unpaid invoice, no account credit, and the
    other three are told the invoice has a credit note already."""
    app, customer_id, invoice_id = _billed(
        request.getfixturevalue("app" if database == "sqlite" else "pg_app")
    )
    pages = post_together(
        app,
        staff_clients(app),
        f"/admin/invoice/{invoice_id}/credit-note/",
        {"reason": "Service outage"},
    )
    assert count(Invoice, Invoice.kind == "credit_note") == 1
    assert sum("Credit note 2026-000002 created" in page for page in pages) == 1
    assert sum("has a credit note already" in page for page in pages) == N - 1
    assert count(LedgerEntry, LedgerEntry.customer_id == customer_id) == 0
    assert events("invoice.credit_note") == 1


@pytest.mark.postgres
def test_an_invoice_is_marked_paid_once(october):
    """A double click on "Mark paid": one payment recorded, the other clicks are told."""
    app, _customer_id, invoice_id = october
    pages = post_together(app, staff_clients(app), f"/admin/invoice/{invoice_id}/mark-paid/")
    assert sum("is marked paid" in page for page in pages) == 1
    assert sum("This invoice is paid already." in page for page in pages) == N - 1
    assert events("invoice.paid") == 1


@pytest.mark.postgres
def test_crediting_and_marking_paid_at_once_never_gives_both(october):
    """Issue 13.2: one staff member credits the unpaid invoice while another marks it paid.
    Either it was paid first and the credit note books account credit, or the credit note
    settled it first and "Mark paid" is refused; never settled and paid, never paid and
    credited twice."""
    app, customer_id, invoice_id = october
    clock = app.config["CLOCK"]
    for round_ in range(3):
        if round_:
            app, customer_id, invoice_id = _billed(app)
        results = together(
            app,
            lambda i: (
                create_credit_note(invoice_id, "cancelled", SYSTEM, clock)
                if i == 0
                else mark_paid(invoice_id, SYSTEM, clock)
            ),
            2,
        )
        invoice = db.session.get(Invoice, invoice_id)
        note = db.session.scalar(
            db.select(Invoice).where(Invoice.corrects_invoice_id == invoice_id)
        )
        balance = ledger.balance(customer_id)
        if invoice.state == "paid":
            assert (note.settled_amount, balance) == (D("0.00"), D("54.00"))
        else:
            assert (note.settled_amount, balance) == (D("64.26"), D("0.00"))
            assert messages(results) == [
                "Nothing is open on this invoice any more: a credit note settled it."
            ]


@pytest.mark.postgres
def test_a_manual_booking_sent_several_times_books_once(october):
    """Issue 13.2: the credit/debit form sent four times at once (a double click, or two staff
    on the same page): one booking, the others are asked to check the bookings."""
    app, customer_id, _invoice_id = october
    clients = staff_clients(app)
    page = clients[0].get(f"/admin/customer/details/?id={customer_id}").get_data(as_text=True)
    assert 'name="seen" type="hidden" value="0"' in page
    pages = post_together(
        app,
        clients,
        f"/admin/customer/{customer_id}/ledger/",
        {"direction": "credit", "amount": "25.00", "description": "Goodwill", "seen": "0"},
    )
    assert ledger.balance(customer_id) == D("25.00")
    assert count(LedgerEntry, LedgerEntry.customer_id == customer_id) == 1
    assert sum("Booked +€25.00" in page for page in pages) == 1
    assert sum("The account was booked in the meantime" in page for page in pages) == N - 1
    assert events("ledger.credit") == 1


@pytest.mark.postgres
def test_a_draft_is_computed_again_once(pg_app):
    """Redraft sent several times: one new draft; the others are told it is gone."""
    clock = pg_app.config["CLOCK"]
    factories.reference(pg_app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    customer = factories.customer(pg_app)
    clock.instant = berlin(2026, 11, 2, 9, 0)
    ledger.book_manual(customer.id, "credit", "20.00", "Goodwill", SYSTEM, clock)
    draft = draft_invoice(customer.id, OCTOBER, clock)
    pages = post_together(pg_app, staff_clients(pg_app), f"/admin/invoice/{draft.id}/redraft/")
    assert sum("computed again from the current data" in page for page in pages) == 1
    assert sum("may have been drafted again already" in page for page in pages) == N - 1
    assert count(Invoice, Invoice.customer_id == customer.id) == 1
    assert ledger.balance(customer.id) == D("0.00"), "the credit is spent once"
    assert events("invoice.redraft") == 1


@pytest.mark.postgres
def test_two_months_drafted_at_once_spend_the_credit_once(pg_app):
    """SPEC §14: a customer's account credit goes to one invoice. The month-end run drafting
    November and a staff member redrafting October at the same moment both see 20.00 of
    credit; only one invoice may use it, the other is drafted without it."""
    clock = pg_app.config["CLOCK"]
    factories.reference(pg_app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    customer = factories.customer(pg_app)
    clock.instant = berlin(2026, 12, 2, 9, 0)
    ledger.book_manual(customer.id, "credit", "20.00", "Goodwill", SYSTEM, clock)
    months, customer_id = [date(2026, 10, 1), date(2026, 11, 1)], customer.id
    drafted = together(pg_app, lambda i: draft_invoice(customer_id, months[i], clock).id, 2)
    assert all(isinstance(d, int) for d in drafted), drafted
    assert count(Invoice, Invoice.customer_id == customer.id) == 2
    credit_lines = db.session.scalar(
        db.select(db.func.count())
        .select_from(LedgerEntry)
        .where(LedgerEntry.customer_id == customer.id, LedgerEntry.amount < 0)
    )
    assert credit_lines == 1, "the credit is used by one invoice"
    assert ledger.balance(customer.id) == D("0.00"), "and never spent twice"


@pytest.mark.postgres
def test_concurrent_ip_distribution_saves_answer_the_losers_with_a_conflict(pg_app):
    """Issue 13 note (SPEC §13 optimistic locking): four saves of the IP Distribution form
    opened at the same version: one applies, the others get "changed by someone else",
    never a 500; no second subscription, no stray change."""
    factories.reference(pg_app)
    customer = factories.customer(pg_app, internal=8, external=4)
    version = db.session.get(Customer, customer.id).version
    pages = post_together(
        pg_app,
        staff_clients(pg_app),
        f"/admin/customer/{customer.id}/ip-distribution/",
        {
            "version": str(version),
            "total_ips": "20",
            "internal_ips": "16",
            "external_ips": "4",
            "instantly": "y",
        },
    )
    assert sum("The new IP distribution applies now." in page for page in pages) == 1
    assert sum("was changed by someone else in the meantime" in page for page in pages) == N - 1
    active = db.session.scalars(
        db.select(Subscription).where(
            Subscription.customer_id == customer.id, Subscription.state == "active"
        )
    ).all()
    assert [(s.internal_ips, s.external_ips) for s in active] == [(16, 4)]
    assert count(ScheduledChange, ScheduledChange.customer_id == customer.id) == 0
    assert events("subscription.change") == 1


@pytest.mark.postgres
def test_concurrent_reactivations_start_one_subscription(pg_app):
    """IP Distribution on a cancelled customer starts a subscription (SPEC §4 reactivation):
    sent four times at once, one subscription starts."""
    factories.reference(pg_app)
    customer = factories.customer(pg_app, state="inactive")
    version = db.session.get(Customer, customer.id).version
    clock = pg_app.config["CLOCK"]
    results = together(
        pg_app,
        lambda i: change_ip_distribution(
            customer.id, 5, 5, False, SYSTEM, clock, expected_version=version
        ),
    )
    assert len(messages(results)) == N - 1
    assert all("changed by someone else" in m for m in messages(results))
    assert (
        count(Subscription, Subscription.customer_id == customer.id, Subscription.state == "active")
        == 1
    )


@pytest.mark.postgres
@pytest.mark.parametrize("keys", ["same key", "different keys"])
def test_a_project_key_wizard_finished_several_times_redeems_once(pg_app, keys):
    """Project-key redemption (SPEC §4 3.2.6) sent four times at once with one key, or with
    four keys for one customer: one key is redeemed, one key subscription starts; the others
    are refused with a clear message."""
    clock = pg_app.config["CLOCK"]
    factories.reference(pg_app)
    customer = factories.customer(pg_app, internal=8, external=4)
    names = [f"PK-RACE-{i}" for i in range(N)] if keys == "different keys" else ["PK-RACE-0"]
    for name in names:
        create_key(name, 100, 12, "1800.00", SYSTEM, clock)
    version = db.session.get(Customer, customer.id).version
    results = together(
        pg_app,
        lambda i: redeem(
            customer.id, names[i % len(names)], "2880", 80, 20, True, SYSTEM, clock, version
        ),
    )
    assert len(messages(results)) == N - 1
    assert all(
        "changed by someone else" in m or "already been used" in m for m in messages(results)
    )
    assert count(ProjectKey, ProjectKey.state == "redeemed") == 1
    active = db.session.scalars(
        db.select(Subscription).where(
            Subscription.customer_id == customer.id, Subscription.state == "active"
        )
    ).all()
    assert [(s.payment_method, s.total_ips) for s in active] == [("project_key", 100)]
    assert events("project_key.redeem") == 1


@pytest.mark.postgres
def test_one_key_for_several_customers_goes_to_one(pg_app):
    clock = pg_app.config["CLOCK"]
    factories.reference(pg_app)
    customers = [factories.customer(pg_app).id for _ in range(N)]
    create_key("PK-SHARED", 50, 12, "900.00", SYSTEM, clock)
    results = together(
        pg_app,
        lambda i: redeem(customers[i], "PK-SHARED", "1200", 50, 0, True, SYSTEM, clock),
    )
    assert messages(results) == ["This project key has already been used."] * (N - 1)
    assert count(ProjectKey, ProjectKey.state == "redeemed") == 1
    assert count(Subscription, Subscription.payment_method == "project_key") == 1


@pytest.fixture
def card_invoice(pg_app, localstripe):
    """A card customer's October invoice whose payment was declined; a good card is on file
    now."""
    factories.reference(pg_app)
    stripe_on(pg_app, localstripe)
    app, customer_id, invoice_id = _billed(pg_app, payment="card")
    clock = app.config["CLOCK"]
    stripe_cards.attach_card(customer_id, "pm_card_chargeCustomerFail")
    assert card_charges.charge_invoice(invoice_id, clock).state == "failed"
    stripe_cards.remove_cards(customer_id)
    stripe_cards.attach_card(customer_id, "pm_card_visa")
    return app, customer_id, invoice_id


def intents(customer_id: int) -> list:
    stripe_customer = db.session.get(Customer, customer_id).stripe_customer_id
    listed = stripe_account.client().v1.payment_intents.list({"limit": 100}).data
    return [i for i in listed if i.customer == stripe_customer]


@pytest.mark.postgres
def test_a_card_retry_sent_several_times_charges_once(card_invoice):
    """ "Retry card payment" clicked four times at once: one new attempt, one charge; the other
    clicks are told the invoice is being charged or paid already."""
    app, customer_id, invoice_id = card_invoice
    clock = app.config["CLOCK"]
    results = together(app, lambda i: retry_payment(invoice_id, SYSTEM, clock))
    assert len(messages(results)) == N - 1
    assert set(messages(results)) <= {
        "This invoice is being charged already.",
        "This invoice is paid already.",
    }
    assert db.session.get(Invoice, invoice_id).state == "paid"
    assert sorted(db.session.scalars(db.select(PaymentAttempt.state))) == ["failed", "succeeded"]
    assert [i.status for i in intents(customer_id)].count("succeeded") == 1
    assert events("invoice.retry_payment") == 1


@pytest.mark.postgres
def test_a_refund_asked_for_several_times_refunds_once(card_invoice):
    app, customer_id, invoice_id = card_invoice
    clock = app.config["CLOCK"]
    attempt = retry_payment(invoice_id, SYSTEM, clock)
    assert attempt.state == "succeeded"
    results = together(app, lambda i: card_charges.refund(attempt.id, SYSTEM, clock))
    assert messages(results) == ["This payment was refunded already."] * (N - 1)
    refunds = stripe_account.client().v1.refunds.list({"payment_intent": attempt.payment_intent_id})
    assert len(refunds.data) == 1
    assert events("payment.refund") == 1


@pytest.mark.postgres
def test_a_webhook_delivered_several_times_at_once_is_stored_and_processed_once(card_invoice):
    """Stripe may deliver an event more than once, also at the same moment: every delivery is
    answered 200, the event is stored once."""
    app, customer_id, invoice_id = card_invoice
    clock = app.config["CLOCK"]
    secret = "whsec_race_0123456789"
    stripe_account.save_webhook_secret(secret, SYSTEM, clock)
    attempt = db.session.scalar(db.select(PaymentAttempt))
    event = {
        "id": "evt_race_1",
        "object": "event",
        "type": "payment_intent.payment_failed",
        "data": {"object": {"id": attempt.payment_intent_id or "pi_unknown", "metadata": {}}},
    }
    payload = json.dumps(event)
    timestamp = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    header = f"t={timestamp},v1={signature}"

    def deliver(i: int):
        response = app.test_client().post(
            "/stripe/webhook",
            data=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
        return response.status_code

    assert together(app, deliver) == [200] * N
    assert count(StripeEvent) == 1
