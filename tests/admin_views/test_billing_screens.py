"""Billing → Billing Runs and Invoices (SPEC §8): start, review, approve, report, credit
notes, bank payments, roles and bad input."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from billing.invoicing import monthend, monthend_work
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.kernel.audit import SYSTEM
from models import AuditEvent, BillingRun, Invoice, db
from tests import factories
from tests.conftest import berlin, csrf_token, make_staff, sign_in


@pytest.fixture
def billed(app):
    """Two customers with September history; the clock on 2 November 2026."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    first = factories.customer(app, company="Alpha GmbH")
    second = factories.customer(app, company="Beta AG", payment="card")
    clock.instant = berlin(2026, 11, 2, 9, 0)
    return clock, first.id, second.id


def test_a_run_is_started_reviewed_and_approved_from_the_screen(app, staff_client, billed):
    """SPEC §8: Start run → drafts to review → Approve and finalize → report."""
    clock, first, second = billed
    page = staff_client.get("/admin/billing_run/").get_data(as_text=True)
    assert 'value="2026-10"' in page, "the form suggests the month that just ended"
    response = staff_client.post(
        "/admin/billing_run/start/", data={"csrf_token": staff_client.token, "period": "2026-10"}
    )
    assert response.status_code == 302
    run = db.session.scalar(db.select(BillingRun))
    assert run.period == date(2026, 10, 1) and run.state == "drafting"
    # the worker's part, done here in-process
    monthend_work.work(run.id, clock)
    details = staff_client.get(f"/admin/billing_run/details/?id={run.id}").get_data(as_text=True)
    assert "Awaiting approval" in details and "2 drafts to review" in details
    drafts = staff_client.get("/admin/invoice/?flt0_period_equals=2026-10-01").get_data(
        as_text=True
    )
    assert "Alpha GmbH" in drafts and "Beta AG" in drafts
    staff_client.post(
        f"/admin/billing_run/{run.id}/approve/", data={"csrf_token": staff_client.token}
    )
    db.session.expire_all()
    assert db.session.get(BillingRun, run.id).state == "finalizing"
    monthend_work.work(run.id, clock)
    report = staff_client.get(f"/admin/billing_run/{run.id}/report.csv")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    rows = [r for r in csv.reader(io.StringIO(report.get_data(as_text=True))) if r[0][:1] != "#"]
    assert rows[0][:2] == ["invoice_id", "number"]
    assert sorted(r[1] for r in rows[1:]) == ["2026-000001", "2026-000002"]
    again = staff_client.post(
        "/admin/billing_run/start/",
        data={"csrf_token": staff_client.token, "period": "2026-10"},
        follow_redirects=True,
    )
    assert "is done already" in again.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Invoice)) == 2


def test_the_confirmation_counts_the_runs_drafts_and_a_done_month_is_refused(
    app, staff_client, billed
):
    """Issue 14 (3): a month with an invoice finalized before the run: the confirmation names
    the run's one draft, finalizing leaves the earlier invoice alone, and starting the month
    again says it is done and shows the run."""
    clock, first, second = billed
    earlier = finalize_invoice(draft_invoice(first, date(2026, 10, 1), clock).id, clock)
    staff_client.post(
        "/admin/billing_run/start/", data={"csrf_token": staff_client.token, "period": "2026-10"}
    )
    run = db.session.scalar(db.select(BillingRun))
    monthend_work.work(run.id, clock)
    details = staff_client.get(f"/admin/billing_run/details/?id={run.id}").get_data(as_text=True)
    assert "1 drafts to review" in details
    assert 'data-confirm="Finalize 1 invoices' in details
    assert "1 × invoiced before, outside this run" in details
    staff_client.post(
        f"/admin/billing_run/{run.id}/approve/", data={"csrf_token": staff_client.token}
    )
    mailed = []
    monthend_work.work(
        run.id,
        clock,
        monthend_work.Hooks(
            queue_invoice_email=lambda invoice_id, as_of: mailed.append(invoice_id)
        ),
    )
    db.session.expire_all()
    assert db.session.get(Invoice, earlier.id).number == earlier.number
    assert mailed == [db.session.scalar(db.select(Invoice.id).where(Invoice.customer_id == second))]
    done = db.session.get(BillingRun, run.id)
    assert (done.state, done.finalized) == ("done", 1)
    again = staff_client.post(
        "/admin/billing_run/start/",
        data={"csrf_token": staff_client.token, "period": "2026-10"},
    )
    assert again.location.endswith(f"/admin/billing_run/details/?id={run.id}")
    page = staff_client.get(again.location).get_data(as_text=True)
    assert "The billing run for 10/2026 is done already: nothing is left to do." in page


@pytest.mark.parametrize(
    ("language", "as_of"),
    [("en", "as of Nov 1, 2026, 12:30\u202fAM"), ("de", "mit Stichtag 01.11.2026, 00:30")],
)
def test_a_run_started_as_of_another_moment_says_so(app, staff_client, billed, language, as_of):
    """A run started as of a moment (``flask billing run-month-end --now``) shows it next to
    when it was started; a run on the running clock shows none."""
    clock, first, second = billed
    rehearsed = monthend.start_run(
        date(2026, 10, 1), SYSTEM, clock, as_of=berlin(2026, 11, 1, 0, 30)
    ).run_id
    plain = monthend.start_run(date(2026, 9, 1), SYSTEM, clock).run_id
    headers = {"Accept-Language": language}
    page = staff_client.get(f"/admin/billing_run/details/?id={rehearsed}", headers=headers)
    assert f'<span id="run-as-of">{as_of}</span>' in page.get_data(as_text=True)
    page = staff_client.get(f"/admin/billing_run/details/?id={plain}", headers=headers)
    assert 'id="run-as-of"' not in page.get_data(as_text=True)


@pytest.mark.parametrize("period", ["", "2026-13", "next month", "2026-11", "<script>"])
def test_bad_or_open_months_are_refused_with_a_message(app, staff_client, billed, period):
    """Bad input: a clear message, no run."""
    page = staff_client.post(
        "/admin/billing_run/start/",
        data={"csrf_token": staff_client.token, "period": period},
        follow_redirects=True,
    )
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "YYYY-MM" in text or "has not ended" in text or "Please give the month" in text
    assert db.session.scalar(db.select(db.func.count()).select_from(BillingRun)) == 0


def test_support_sees_runs_and_invoices_but_changes_nothing(app, billed):
    clock, first, second = billed
    make_staff(app, "support")
    client = app.test_client()
    sign_in(client, "support@staff.example")
    token = csrf_token(client, "/admin/")
    assert client.get("/admin/billing_run/").status_code == 200
    assert client.get("/admin/invoice/").status_code == 200
    refused = client.post(
        "/admin/billing_run/start/", data={"csrf_token": token, "period": "2026-10"}
    )
    assert refused.status_code == 403
    invoice = finalize_invoice(draft_invoice(first, date(2026, 10, 1), clock).id, clock)
    assert (
        client.post(
            f"/admin/invoice/{invoice.id}/mark-paid/", data={"csrf_token": token}
        ).status_code
        == 403
    )
    assert db.session.get(Invoice, invoice.id).state == "finalized"


def test_anonymous_visitors_are_sent_to_sign_in(app, client):
    for url in ["/admin/billing_run/", "/admin/invoice/", "/admin/invoice/1/pdf/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response.location


def test_credit_note_mark_paid_and_pdf(app, staff_client, billed):
    """SPEC §8: a finalized invoice is corrected by a credit note, never edited."""
    clock, first, second = billed
    invoice = finalize_invoice(draft_invoice(first, date(2026, 10, 1), clock).id, clock)
    gross = invoice.gross
    no_reason = staff_client.post(
        f"/admin/invoice/{invoice.id}/credit-note/",
        data={"csrf_token": staff_client.token, "reason": " "},
        follow_redirects=True,
    )
    assert "Please give a reason" in no_reason.get_data(as_text=True)
    staff_client.post(
        f"/admin/invoice/{invoice.id}/credit-note/",
        data={"csrf_token": staff_client.token, "reason": "Service outage in October"},
    )
    note = db.session.scalar(db.select(Invoice).where(Invoice.kind == "credit_note"))
    assert note.gross == -gross and note.corrects_invoice_id == invoice.id
    assert note.number == "2026-000002"
    assert [line.amount for line in note.lines] == [-line.amount for line in invoice.lines]
    assert db.session.get(Invoice, invoice.id).gross == gross, "the invoice itself is unchanged"
    twice = staff_client.post(
        f"/admin/invoice/{invoice.id}/credit-note/",
        data={"csrf_token": staff_client.token, "reason": "again"},
        follow_redirects=True,
    )
    assert "has a credit note already" in twice.get_data(as_text=True)
    event = db.session.scalar(
        db.select(AuditEvent).where(AuditEvent.action == "invoice.credit_note")
    )
    assert event.reason == "Service outage in October"
    pdf = staff_client.get(f"/admin/invoice/{invoice.id}/pdf/")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert staff_client.get("/admin/invoice/999999/pdf/").status_code == 404
    details = staff_client.get(f"/admin/invoice/details/?id={invoice.id}").get_data(as_text=True)
    assert note.number in details and 'id="invoice-open">€0.00' in details


def test_a_credited_unpaid_invoice_is_no_longer_payable(app, staff_client, billed):
    """Issue 13.2 (SPEC §14): the credit note settled the open invoice, so it is neither
    offered nor accepted for "Mark paid"; the note shows what it settled."""
    clock, first, second = billed
    invoice = finalize_invoice(draft_invoice(first, date(2026, 10, 1), clock).id, clock)
    before = staff_client.get(f"/admin/invoice/details/?id={invoice.id}").get_data(as_text=True)
    assert 'id="mark-paid-form"' in before and 'id="credit-note-form"' in before
    staff_client.post(
        f"/admin/invoice/{invoice.id}/credit-note/",
        data={"csrf_token": staff_client.token, "reason": "Cancelled order"},
    )
    after = staff_client.get(f"/admin/invoice/details/?id={invoice.id}").get_data(as_text=True)
    assert 'id="mark-paid-form"' not in after and 'id="credit-note-form"' not in after
    assert 'data-state="finalized">Credited<' in after
    listing = staff_client.get("/admin/invoice/?flt0_kind_equals=invoice").get_data(as_text=True)
    assert "Credited" in listing
    paid = staff_client.post(
        f"/admin/invoice/{invoice.id}/mark-paid/",
        data={"csrf_token": staff_client.token},
        follow_redirects=True,
    )
    assert "a credit note settled it" in paid.get_data(as_text=True)
    assert db.session.get(Invoice, invoice.id).state == "finalized"
    note = db.session.scalar(db.select(Invoice).where(Invoice.kind == "credit_note"))
    page = staff_client.get(f"/admin/invoice/details/?id={note.id}").get_data(as_text=True)
    assert f'id="credit-settled">€{invoice.gross}' in page
    assert 'id="credit-account">€0.00' in page


def test_a_paid_invoice_is_credited_to_the_account(app, staff_client, billed):
    """SPEC §14: crediting a paid invoice books its net amount as account credit."""
    clock, first, second = billed
    invoice = finalize_invoice(draft_invoice(first, date(2026, 10, 1), clock).id, clock)
    staff_client.post(
        f"/admin/invoice/{invoice.id}/mark-paid/", data={"csrf_token": staff_client.token}
    )
    assert db.session.get(Invoice, invoice.id).state == "paid"
    staff_client.post(
        f"/admin/invoice/{invoice.id}/credit-note/",
        data={"csrf_token": staff_client.token, "reason": "Goodwill"},
    )
    note = db.session.scalar(db.select(Invoice).where(Invoice.kind == "credit_note"))
    page = staff_client.get(f"/admin/invoice/details/?id={note.id}").get_data(as_text=True)
    assert 'id="credit-settled">€0.00' in page
    assert f'id="credit-account">€{invoice.net}' in page


def test_invoice_filters_and_bad_filter_values(app, staff_client, billed):
    clock, first, second = billed
    finalize_invoice(draft_invoice(first, date(2026, 10, 1), clock).id, clock)
    draft_invoice(second, date(2026, 10, 1), clock)
    listing = staff_client.get("/admin/invoice/?flt0_state_equals=draft").get_data(as_text=True)
    assert "Beta AG" in listing and "Alpha GmbH" not in listing
    card = staff_client.get("/admin/invoice/?flt0_payment_method_equals=card").get_data(
        as_text=True
    )
    assert "Beta AG" in card and "Alpha GmbH" not in card
    for bogus in ["flt0_state_equals=bogus", "flt0_period_equals=notadate", "sort=99", "page=-4"]:
        assert staff_client.get(f"/admin/invoice/?{bogus}").status_code == 200
    by_customer = staff_client.get(f"/admin/invoice/?customer_id={first}").get_data(as_text=True)
    assert "Alpha GmbH" in by_customer and "Beta AG" not in by_customer


def test_retry_is_offered_only_for_failed_card_payments(app, staff_client, billed):
    clock, first, second = billed
    invoice = finalize_invoice(draft_invoice(first, date(2026, 10, 1), clock).id, clock)
    page = staff_client.post(
        f"/admin/invoice/{invoice.id}/retry-payment/",
        data={"csrf_token": staff_client.token},
        follow_redirects=True,
    )
    assert "Only card invoices whose payment failed" in page.get_data(as_text=True)
    assert db.session.get(Invoice, invoice.id).gross > Decimal(0)


def test_the_auto_finalize_setting(app, staff_client):
    staff_client.post(
        "/admin/billing_run/settings/",
        data={"csrf_token": staff_client.token, "auto_finalize": "y"},
    )
    assert monthend.auto_finalize_enabled()
    staff_client.post("/admin/billing_run/settings/", data={"csrf_token": staff_client.token})
    assert not monthend.auto_finalize_enabled()


def test_a_draft_is_computed_again_after_a_correction(app, staff_client, billed):
    """SPEC §8.5 review: a corrected address reaches the draft through Redraft."""
    from models import Customer

    clock, first, second = billed
    draft = draft_invoice(first, date(2026, 10, 1), clock)
    db.session.get(Customer, first).city = "Hamburg"
    db.session.commit()
    staff_client.post(
        f"/admin/invoice/{draft.id}/redraft/", data={"csrf_token": staff_client.token}
    )
    again = db.session.scalar(db.select(Invoice).where(Invoice.customer_id == first))
    assert "Hamburg" in again.billing_address and again.state == "draft"
    assert db.session.scalar(db.select(db.func.count()).select_from(Invoice)) == 1
    finalized = finalize_invoice(again.id, clock)
    page = staff_client.post(
        f"/admin/invoice/{finalized.id}/redraft/",
        data={"csrf_token": staff_client.token},
        follow_redirects=True,
    )
    assert "Only draft invoices" in page.get_data(as_text=True)


def test_a_redraft_sent_again_for_a_replaced_draft_says_so(app, staff_client, billed):
    """A Redraft that arrives after another one replaced the draft (a double click, two staff
    members) ends on the invoice list with a message, not on a "not found" page; the same for
    any POST action on a record that is gone. A GET of it stays a 404."""
    clock, first, second = billed
    draft_invoice(first, date(2026, 10, 1), clock)
    gone = 999999  # the replaced draft's id (SQLite may give the new draft the old id)
    listing = "/admin/invoice/?sort=1&page=0"
    page = staff_client.post(
        f"/admin/invoice/{gone}/redraft/?url={listing.replace('&', '%26')}",
        data={"csrf_token": staff_client.token},
    )
    assert page.status_code == 302 and page.location.endswith(listing)
    shown = staff_client.get(page.location).get_data(as_text=True)
    assert "it may have been drafted again already" in shown
    assert db.session.scalar(db.select(db.func.count()).select_from(Invoice)) == 1
    customer_gone = staff_client.post(
        f"/admin/customer/{gone}/lock/", data={"csrf_token": staff_client.token}
    )
    assert customer_gone.status_code == 302
    shown = staff_client.get(customer_gone.location).get_data(as_text=True)
    assert "it may have been removed in the meantime" in shown
    assert staff_client.get(f"/admin/invoice/{gone}/pdf/").status_code == 404
