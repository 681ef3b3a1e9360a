"""Billing → Invoices → an invoice's page: what staff look for first when a customer calls
(SPEC §14): invoice and due date (and since when it is overdue), payment method, when and how
it was paid, when and to whom it was e-mailed, its month-end run; its card payment attempts
(the readable reason a card failed, the Stripe payment intent), a bank transfer marked paid by
whom, its credit notes; and on a credit note's page the invoice it corrects. Card payments go
through the suite's local Stripe."""

from __future__ import annotations

import re
from datetime import date

import pytest

from billing.invoicing import monthend, monthend_work
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.invoicing.invoice_mail import email_invoice
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import DomainError
from billing.payments import card_charges, stripe_account, stripe_cards
from models import BillingRun, EmailLog, Invoice, PaymentAttempt, db
from tests import factories
from tests.conftest import berlin, csrf_token, make_staff, sign_in
from tests.support.services import free_port

OCTOBER = date(2026, 10, 1)
ADMIN = "admin@staff.example"


@pytest.fixture
def staff(app):
    """Signs the admin in at the clock's time: a session ends after 30 idle minutes on the
    clock, which these tests move on by days."""
    make_staff(app, "admin", ADMIN)

    def signed_in():
        client = app.test_client()
        assert sign_in(client, ADMIN).status_code == 302
        client.token = csrf_token(client, "/admin/")
        return client

    return signed_in


@pytest.fixture
def billed(app):
    """Customers since 1 September 2026; the clock on 2 November 2026, when October is
    invoiced (an invoice finalized that day is due on Monday, 16 November)."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    return clock


@pytest.fixture
def stripe_ready(app, localstripe, billed):
    app.config["STRIPE_API_BASE"] = localstripe.url
    stripe_account.save_stripe_keys("sk_test_details123", "pk_test_details123", SYSTEM, billed)
    return billed


def _invoice(app, clock, payment: str = "invoice", card: str | None = None) -> Invoice:
    """The October invoice of a new customer, finalized on 2 November; a card customer gets
    ``card`` saved at Stripe."""
    clock.instant = berlin(2026, 9, 1, 9, 0)
    customer = factories.customer(app, payment=payment, company="Kiel Kältetechnik GmbH")
    if card:
        stripe_cards.attach_card(customer.id, card)
    clock.instant = berlin(2026, 11, 2, 9, 0)
    return finalize_invoice(draft_invoice(customer.id, OCTOBER, clock).id, clock)


def _page(staff, invoice_id: int, language: str = "en") -> str:
    response = staff().get(
        f"/admin/invoice/details/?id={invoice_id}", headers={"Accept-Language": language}
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _post(staff, url: str, **data) -> None:
    client = staff()
    assert client.post(url, data={"csrf_token": client.token, **data}).status_code == 302


def _fact(page: str, name: str) -> str:
    """The text of a fact at the top of the page (``data-fact``), tags removed."""
    found = re.search(rf'<dd data-fact="{name}"[^>]*>(.*?)</dd>', page, re.S)
    assert found, f"no fact {name}"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def _rows(page: str, table: str) -> list[str]:
    body = page[page.index(f'id="{table}"') :]
    body = body[: body.index("</table>")]
    return re.findall(r"<tr data-[^>]*>.*?</tr>", body, re.S)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.parametrize(("language", "paid"), [("en", "by card"), ("de", "per Karte")])
def test_a_card_invoice_paid_by_card_shows_the_charge_with_its_payment_intent(
    app, staff, stripe_ready, language, paid
):
    clock = stripe_ready
    invoice = _invoice(app, clock, "card", "pm_card_visa")
    attempt = card_charges.charge_invoice(invoice.id, clock)
    assert attempt.state == "succeeded"

    page = _page(staff, invoice.id, language)
    assert _fact(page, "paid").endswith(paid)
    assert _fact(page, "paid").startswith("02.11.2026" if language == "de" else "Nov 2, 2026")
    assert _fact(page, "payment_method") == ("Kreditkarte" if language == "de" else "Credit card")
    [row] = _rows(page, "invoice-payments")
    assert 'data-payment="card"' in row and 'data-state="succeeded"' in row
    assert f"<code data-intent>{attempt.payment_intent_id}</code>" in row
    assert attempt.payment_intent_id.startswith("pi_")
    assert "data-reason" not in row
    assert 'data-action="mark_paid"' not in page and 'id="invoice-overdue"' not in page


@pytest.mark.parametrize(
    ("language", "declined", "retried_by"),
    [
        ("en", "The card was declined.", "by admin@staff.example"),
        ("de", "Die Karte wurde abgelehnt.", "von admin@staff.example"),
    ],
)
def test_a_declined_card_payment_retried_by_staff_shows_both_attempts(
    app, staff, stripe_ready, language, declined, retried_by
):
    """The first attempt's reason reads as a sentence in the reader's language, never as
    Stripe's request text or a Python exception; the retry names who asked for it."""
    clock = stripe_ready
    invoice = _invoice(app, clock, "card", "pm_card_chargeCustomerFail")
    failed = card_charges.charge_invoice(invoice.id, clock)
    assert failed.state == "failed"
    page = _page(staff, invoice.id, language)
    assert 'data-action="retry_payment"' in page
    stripe_cards.make_default_card(invoice.customer_id, "pm_card_visa")
    clock.instant = berlin(2026, 11, 4, 11, 30)
    _post(staff, f"/admin/invoice/{invoice.id}/retry-payment/")

    page = _page(staff, invoice.id, language)
    first, second = _rows(page, "invoice-payments")
    assert 'data-attempt="1"' in first and 'data-state="failed"' in first
    assert f'<div class="text-danger" data-reason>{declined}</div>' in first
    assert "data-by" not in first, "the month-end charge is nobody's"
    assert 'data-attempt="2"' in second and 'data-state="succeeded"' in second
    assert retried_by in _text(second)
    retry = db.session.scalar(db.select(PaymentAttempt).where(PaymentAttempt.number == 2))
    assert f"<code data-intent>{retry.payment_intent_id}</code>" in second
    for technical in ("Error:", "Request req_", "CardError", "Traceback"):
        assert technical not in page
    assert 'data-action="retry_payment"' not in page


def test_a_charge_stripe_did_not_answer_says_so_in_words(app, staff, stripe_ready):
    """Stripe unreachable (a closed port): the attempt waits for its retry, and both the
    invoice's page and the customer's Payments tab say why in a sentence, never with the
    exception's name."""
    clock = stripe_ready
    invoice = _invoice(app, clock, "card", "pm_card_visa")
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DomainError):
        card_charges.charge_invoice(invoice.id, clock)
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert attempt.state == "pending" and attempt.error == "unreachable"

    for url in (
        f"/admin/invoice/details/?id={invoice.id}",
        f"/admin/customer/details/?id={invoice.customer_id}",
    ):
        page = staff().get(url).get_data(as_text=True)
        assert "Stripe could not be reached; the charge will be retried." in page, url
        assert "APIConnectionError" not in page and "Error:" not in page, url


@pytest.mark.parametrize(
    ("language", "paid", "row"),
    [
        ("en", "Nov 20, 2026 · bank transfer, marked paid by admin@staff.example", "by admin@"),
        (
            "de",
            "20.11.2026 · Überweisung, als bezahlt markiert von admin@staff.example",
            "von admin@",
        ),
    ],
)
def test_a_bank_transfer_marked_paid_names_who_and_when(app, staff, billed, language, paid, row):
    clock = billed
    invoice = _invoice(app, clock)
    page = _page(staff, invoice.id, language)
    assert _fact(page, "paid") == "–"
    assert 'data-action="mark_paid"' in page
    clock.instant = berlin(2026, 11, 20, 14, 5)
    _post(staff, f"/admin/invoice/{invoice.id}/mark-paid/")

    page = _page(staff, invoice.id, language)
    assert _fact(page, "paid") == paid
    [transfer] = _rows(page, "invoice-payments")
    assert 'data-payment="transfer"' in transfer and row in _text(transfer)
    assert ("20.11.2026, 14:05" if language == "de" else "Nov 20, 2026, 2:05") in _text(transfer)
    assert 'data-action="mark_paid"' not in page


@pytest.mark.parametrize(
    ("language", "due", "overdue"),
    [("en", "Nov 16, 2026", "12 days overdue"), ("de", "16.11.2026", "seit 12 Tagen überfällig")],
)
def test_an_unpaid_invoice_past_its_due_date_is_overdue(app, staff, billed, language, due, overdue):
    """SPEC §14: overdue = the business date (the injectable clock's) after the due date with
    an amount open; on the due date itself it is not, and a payment ends it."""
    clock = billed
    invoice = _invoice(app, clock)
    clock.instant = berlin(2026, 11, 16, 23, 0)
    page = _page(staff, invoice.id, language)
    assert _fact(page, "due") == due and 'id="invoice-overdue"' not in page

    clock.instant = berlin(2026, 11, 28, 9, 0)
    page = _page(staff, invoice.id, language)
    assert _fact(page, "due") == due
    badge = re.search(r'<span [^>]*id="invoice-overdue" data-days="(\d+)">([^<]*)</span>', page)
    assert badge and badge.groups() == ("12", overdue)

    _post(staff, f"/admin/invoice/{invoice.id}/mark-paid/")
    assert 'id="invoice-overdue"' not in _page(staff, invoice.id, language)


@pytest.mark.parametrize(
    ("language", "emailed", "run"),
    [
        ("en", "Nov 2, 2026, 9:15 AM · to {to}", "October 2026"),
        ("de", "02.11.2026, 09:15 · an {to}", "Oktober 2026"),
    ],
)
def test_an_invoice_of_a_run_e_mailed_to_the_customer(
    app, staff, billed, mail_on, language, emailed, run
):
    """The facts name the month-end run (a link) and when and to whom the invoice went; its
    e-mails are listed from the e-mail log, each linked to its entry."""
    clock = billed
    customer = factories.customer(app, company="Elbe Kontor KG", email="buchhaltung@elbe.example")
    clock.instant = berlin(2026, 11, 2, 0, 30)
    run_id = monthend.start_run(OCTOBER, SYSTEM, clock, auto_finalize=True).run_id
    monthend_work.work(run_id, clock)
    invoice = db.session.scalar(db.select(Invoice).where(Invoice.customer_id == customer.id))
    assert invoice.billing_run_id == run_id
    page = _page(staff, invoice.id, language)
    assert _fact(page, "emailed") == ("noch nicht" if language == "de" else "not yet")

    clock.instant = berlin(2026, 11, 2, 9, 15)
    assert email_invoice(invoice.id, clock) is True

    page = _page(staff, invoice.id, language)
    assert _fact(page, "emailed") == emailed.format(to="buchhaltung@elbe.example")
    assert _fact(page, "run") == run
    assert f'href="/admin/billing_run/details/?id={run_id}" id="run-link"' in page
    assert db.session.get(BillingRun, run_id).period == OCTOBER
    log = db.session.scalar(db.select(EmailLog).where(EmailLog.template == "invoice"))
    assert log.invoice_id == invoice.id
    [row] = _rows(page, "invoice-emails")
    assert f'data-email="{log.id}"' in row and "buchhaltung@elbe.example" in row
    assert f'href="/admin/email_log/details/?id={log.id}"' in row
    assert 'data-state="sent"' in row


@pytest.mark.parametrize(
    ("language", "corrects", "settled"),
    [("en", "Corrects", "Settled on the invoice"), ("de", "Korrigiert", "Auf der Rechnung")],
)
def test_an_invoice_settled_by_a_credit_note_links_both_ways(
    app, staff, billed, language, corrects, settled
):
    clock = billed
    invoice = _invoice(app, clock)
    clock.instant = berlin(2026, 11, 10, 10, 0)
    _post(staff, f"/admin/invoice/{invoice.id}/credit-note/", reason="Service outage in October")
    note = db.session.scalar(db.select(Invoice).where(Invoice.kind == "credit_note"))

    page = _page(staff, invoice.id, language)
    [row] = _rows(page, "invoice-credit-notes")
    assert f'href="/admin/invoice/details/?id={note.id}">{note.number}</a>' in row
    gross = f"{invoice.gross:,.2f}"
    shown = f"{gross.replace(',', 'X').replace('.', ',').replace('X', '.')}\xa0€"
    amount = shown if language == "de" else f"€{gross}"
    assert f'<td class="text-right" data-settled>{amount}</td>' in row
    assert "Service outage in October" in row and "admin@staff.example" in row
    assert 'id="invoice-overdue"' not in page

    page = _page(staff, note.id, language)
    facts = page[page.index('id="invoice-facts"') : page.index("</dl>")]
    assert f"<dt>{corrects}</dt>" in facts and settled in facts
    assert f'id="corrects-link">{invoice.number}</a>' in facts
    assert f'id="credit-settled">{amount}<' in facts
    assert "Service outage in October" in page
    assert 'id="invoice-payments"' not in page, "a credit note is not paid"


def test_the_page_reads_its_history_in_a_handful_of_queries(app, staff, stripe_ready):
    """However many attempts, e-mails and credit notes an invoice has, its history is read
    in the same number of queries (no query per row)."""
    from sqlalchemy import event

    from billing.invoicing.invoice_facts import invoice_history

    clock = stripe_ready
    invoice = _invoice(app, clock, "card", "pm_card_chargeCustomerFail")
    statements = []

    def count(*args):
        if args[2].lstrip().upper().startswith("SELECT"):
            statements.append(args[2])

    def queries() -> int:
        statements.clear()
        db.session.expire_all()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            invoice_history(invoice.id, clock)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    card_charges.charge_invoice(invoice.id, clock)
    once = queries()
    for _ in range(3):
        card_charges.charge_invoice(invoice.id, clock)
    assert db.session.scalar(db.select(db.func.count()).select_from(PaymentAttempt)) == 4
    assert queries() == once <= 8
