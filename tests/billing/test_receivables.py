"""What is open on an invoice and what it allows (SPEC §14; issue 13 item 2): a credit note
settles what is still open first, only the paid part becomes account credit, and an invoice
with nothing open is no longer marked paid, retried, charged at month end or offered for
payment in the portal."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from billing.invoicing import monthend, monthend_work
from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.invoicing.invoice_payment import mark_paid, retry_payment
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import lease_now
from billing.kernel.errors import DomainError
from billing.payments import card_charges, ledger, stripe_cards
from billing.payments.cards import failed_card_invoices
from billing.payments.receivables import invoice_actions, open_amount
from models import AuditEvent, BillingRun, Invoice, PaymentAttempt, db
from tests import factories
from tests.conftest import berlin
from tests.support.cards import stripe_on

OCTOBER = date(2026, 10, 1)
SETTLED = "Nothing is open on this invoice any more: a credit note settled it."


def _customer(app, **kwargs):
    """A customer with 12 IPs since September (54.00 net, 64.26 gross a month); the clock on
    2 November 2026."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    customer = factories.customer(app, **kwargs)
    clock.instant = berlin(2026, 11, 2, 9, 0)
    return clock, customer.id


def _october(app, **kwargs) -> tuple:
    clock, customer_id = _customer(app, **kwargs)
    invoice = finalize_invoice(draft_invoice(customer_id, OCTOBER, clock).id, clock)
    return clock, customer_id, invoice


def test_the_open_amount_and_the_actions_follow_payment_and_credit_notes(app):
    clock, customer_id, invoice = _october(app)
    assert open_amount(invoice) == D("64.26")
    actions = invoice_actions(invoice)
    assert (actions.mark_paid, actions.credit_note, actions.retry_payment) == (True, True, False)

    create_credit_note(invoice.id, "cancelled", SYSTEM, clock)
    invoice = db.session.get(Invoice, invoice.id)
    assert open_amount(invoice) == D("0.00")
    actions = invoice_actions(invoice)
    assert (actions.mark_paid, actions.credit_note, actions.open_amount) == (False, False, 0)
    with pytest.raises(DomainError, match=SETTLED):
        mark_paid(invoice.id, SYSTEM, clock)
    assert ledger.balance(customer_id) == D("0.00")


def test_a_paid_invoice_has_nothing_open_and_can_still_be_credited(app):
    clock, customer_id, invoice = _october(app)
    mark_paid(invoice.id, SYSTEM, clock)
    with pytest.raises(DomainError, match="paid already"):
        mark_paid(invoice.id, SYSTEM, clock)
    invoice = db.session.get(Invoice, invoice.id)
    actions = invoice_actions(invoice)
    assert (actions.open_amount, actions.mark_paid, actions.credit_note) == (0, False, True)
    note = create_credit_note(invoice.id, "goodwill", SYSTEM, clock)
    assert note.settled_amount == D("0.00") and ledger.balance(customer_id) == D("54.00")


@pytest.fixture
def card_app(app, localstripe):
    factories.reference(app)
    stripe_on(app, localstripe)
    return app


def test_a_credited_failed_card_invoice_is_neither_retried_nor_offered_to_the_customer(
    card_app,
):
    """Issue 13.2: the card was declined; staff credit the invoice. It leaves the portal's
    failed payments, "Retry card payment" is not offered and refused, nothing is charged."""
    clock, customer_id, invoice = _october(card_app, payment="card")
    stripe_cards.attach_card(customer_id, "pm_card_chargeCustomerFail")
    assert card_charges.charge_invoice(invoice.id, clock).state == "failed"
    assert [i.id for i in failed_card_invoices(customer_id)] == [invoice.id]
    assert invoice_actions(db.session.get(Invoice, invoice.id)).retry_payment

    note = create_credit_note(invoice.id, "cancelled", SYSTEM, clock)

    assert note.settled_amount == D("64.26") and ledger.balance(customer_id) == D("0.00")
    assert failed_card_invoices(customer_id) == []
    assert not invoice_actions(db.session.get(Invoice, invoice.id)).retry_payment
    stripe_cards.attach_card(customer_id, "pm_card_visa")
    with pytest.raises(DomainError, match=SETTLED):
        retry_payment(invoice.id, SYSTEM, clock)
    with pytest.raises(DomainError, match=SETTLED):
        card_charges.charge_invoice(invoice.id, clock)
    attempts = db.session.scalars(db.select(PaymentAttempt.state)).all()
    assert attempts == ["failed"], "no further charge"
    assert db.session.get(Invoice, invoice.id).state == "payment_failed"


def test_a_credit_note_waits_for_a_pending_card_payment(card_app, localstripe):
    """While a charge's outcome is unknown (Stripe unreachable, the attempt pending), what is
    open is unknown too: the credit note is refused until the payment is settled."""
    clock, customer_id, invoice = _october(card_app, payment="card")
    stripe_cards.attach_card(customer_id, "pm_card_visa")
    card_app.config["STRIPE_API_BASE"] = "http://127.0.0.1:9"
    with pytest.raises(DomainError, match="could not be reached"):
        card_charges.charge_invoice(invoice.id, clock)
    with pytest.raises(DomainError, match="card payment of this invoice is still pending"):
        create_credit_note(invoice.id, "cancelled", SYSTEM, clock)

    card_app.config["STRIPE_API_BASE"] = localstripe.url
    assert card_charges.charge_invoice(invoice.id, clock).state == "succeeded"
    note = create_credit_note(invoice.id, "cancelled", SYSTEM, clock)
    assert note.settled_amount == D("0.00") and ledger.balance(customer_id) == D("54.00")


def test_mark_paid_waits_while_the_card_is_being_charged(app):
    """A bank transfer recorded while the month-end run is charging the card would make the
    customer pay twice: refused while a charge holds its claim, allowed once it is over."""
    clock, _customer_id, invoice = _october(app, payment="card")
    attempt = PaymentAttempt(
        invoice_id=invoice.id,
        idempotency_key=f"msp-invoice-{invoice.id}-attempt-1",
        amount=invoice.gross,
        currency="EUR",
        claimed_until=lease_now() + timedelta(minutes=2),
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    db.session.add(attempt)
    db.session.commit()
    with pytest.raises(DomainError, match="being charged right now"):
        mark_paid(invoice.id, SYSTEM, clock)
    attempt.claimed_until = None
    db.session.commit()
    assert mark_paid(invoice.id, SYSTEM, clock).state == "paid"


def test_month_end_does_not_charge_an_invoice_a_credit_note_settled(card_app):
    """SPEC §14: staff credit a card invoice between its numbering and the run's charging step
    (a run resumed later does the same): that invoice is not charged, the other one is."""
    clock = card_app.config["CLOCK"]
    clock.instant = berlin(2026, 9, 1, 9, 0)
    first = factories.customer(card_app, payment="card").id
    second = factories.customer(card_app, payment="card")
    for customer_id in (first, second.id):
        stripe_cards.attach_card(customer_id, "pm_card_visa")
    clock.instant = berlin(2026, 11, 2, 9, 0)
    run_id = monthend.start_run(OCTOBER, SYSTEM, clock, auto_finalize=True).run_id
    charged, credited = [], []

    def credit_first(run):
        invoice = db.session.scalar(db.select(Invoice).where(Invoice.customer_id == first))
        if invoice.number and not credited:
            credited.append(create_credit_note(invoice.id, "cancelled", SYSTEM, clock).id)

    def charge(invoice_id, clock):
        charged.append(db.session.get(Invoice, invoice_id).customer_id)
        return card_charges.charge_invoice(invoice_id, clock)

    hooks = monthend_work.Hooks(progress=credit_first, charge=charge)
    assert monthend_work.work(run_id, clock, hooks) == "done"
    assert credited and charged == [second.id]
    first_invoice = db.session.scalar(
        db.select(Invoice).where(Invoice.customer_id == first, Invoice.kind == "invoice")
    )
    assert first_invoice.state == "finalized" and open_amount(first_invoice) == 0
    assert db.session.get(BillingRun, run_id).payment_failed == 0


def test_a_refund_is_made_once(card_app):
    clock, customer_id, invoice = _october(card_app, payment="card")
    stripe_cards.attach_card(customer_id, "pm_card_visa")
    attempt = card_charges.charge_invoice(invoice.id, clock)
    assert card_charges.refund(attempt.id, SYSTEM, clock).state == "refunded"
    with pytest.raises(DomainError, match="refunded already"):
        card_charges.refund(attempt.id, SYSTEM, clock)
    events = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "payment.refund")
    ).all()
    assert len(events) == 1


def test_the_invoices_actions_are_decided_here_with_a_reason_for_each_refusal(app):
    """Issue 15 item 2: ``available_actions(invoice)`` decides which buttons an invoice shows
    and which endpoints answer, ``refusal`` says why one does not apply; the open amounts of a
    page of invoices (``open_amounts``) agree with ``open_amount`` for each."""
    from billing.payments.receivables import available_actions, open_amounts, refusal

    clock, customer_id, invoice = _october(app)
    draft = draft_invoice(customer_id, date(2026, 9, 1), clock)
    assert available_actions(draft) == ["pdf", "redraft"]
    assert available_actions(invoice) == ["pdf", "mark_paid", "credit_note"]
    assert refusal(invoice, "retry_payment") == (
        "Only card invoices whose payment failed can be charged again."
    )
    mark_paid(invoice.id, SYSTEM, clock)
    invoice = db.session.get(Invoice, invoice.id)
    assert available_actions(invoice) == ["pdf", "credit_note"]
    assert refusal(invoice, "mark_paid") == "This invoice is paid already."
    note = create_credit_note(invoice.id, "goodwill", SYSTEM, clock)
    invoice = db.session.get(Invoice, invoice.id)
    assert available_actions(invoice) == ["pdf"]
    assert refusal(invoice, "credit_note") == "This invoice has a credit note already."
    invoices = [invoice, note, draft]
    assert open_amounts(invoices) == {i.id: open_amount(i) for i in invoices}


def test_open_items_say_what_is_open_and_what_is_overdue(app):
    """SPEC §14: overdue = the business date after the due date with an amount open; paid
    invoices and invoices a credit note settled are not open."""
    from billing.payments.receivables import open_items

    clock, customer_id, october = _october(app)
    september = finalize_invoice(draft_invoice(customer_id, date(2026, 9, 1), clock).id, clock)
    due = october.due_date
    assert due == september.due_date and due > clock.today()
    owed = open_items(customer_id, due)
    assert [item.invoice.id for item in owed.items] == [september.id, october.id]
    assert owed.total == september.gross + october.gross and owed.overdue == []
    assert owed.next_due == due

    owed = open_items(customer_id, due + timedelta(days=1))
    assert [item.invoice.id for item in owed.overdue] == [september.id, october.id]
    assert owed.next_due is None

    mark_paid(september.id, SYSTEM, clock)
    create_credit_note(october.id, "cancelled", SYSTEM, clock)
    owed = open_items(customer_id, due + timedelta(days=1))
    assert owed.items == [] and owed.total == D("0.00")


def test_the_start_page_calls_an_invoice_a_credit_note_settled_credited(app):
    from billing.reporting.account_overview import account_overview

    clock, customer_id, invoice = _october(app)
    assert account_overview(customer_id, clock).invoices.latest_state == "finalized"
    create_credit_note(invoice.id, "cancelled", SYSTEM, clock)
    summary = account_overview(customer_id, clock).invoices
    assert (summary.latest.id, summary.latest_state, summary.open_count) == (
        invoice.id,
        "credited",
        0,
    )


def test_days_overdue_counts_from_the_due_date_while_something_is_open(app):
    """SPEC §14: overdue = the business date after the due date with an amount open. October's
    invoice, finalized on Monday 2 November, is due on Monday 16 November."""
    from billing.payments.receivables import days_overdue

    clock, customer_id, invoice = _october(app)
    due = invoice.due_date
    assert due == date(2026, 11, 16)
    assert days_overdue(invoice, due) == 0
    assert days_overdue(invoice, due + timedelta(days=1)) == 1
    assert days_overdue(invoice, due + timedelta(days=12)) == 12
    draft = draft_invoice(customer_id, date(2026, 9, 1), clock)
    assert days_overdue(draft, due + timedelta(days=12)) == 0, "a draft is not due"
    note = create_credit_note(invoice.id, "cancelled", SYSTEM, clock)
    assert days_overdue(note, due + timedelta(days=12)) == 0, "a credit note is never due"
    invoice = db.session.get(Invoice, invoice.id)
    assert days_overdue(invoice, due + timedelta(days=12)) == 0, "nothing is open any more"
