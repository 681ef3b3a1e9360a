"""The bulk actions of the customer and invoice lists ("With selected", issue 15 item 1): lock
and tag customers, mark invoices paid, resend invoice e-mails. Each is a stock Flask-Admin
``@action``: POST with the list's CSRF token, editors only (support gets 403), one billing call
per selected row (which decides and audits), and the rows it refuses in one message."""

from __future__ import annotations

import re
from datetime import date

import pytest
from redis import Redis
from rq import Queue

from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from jobs.invoices import email_invoice
from models import AuditEvent, Customer, Invoice, db
from tests import factories
from tests.conftest import berlin, csrf_token, make_staff, sign_in


def _selection(html: str) -> tuple[list[str], str]:
    """The ids of the list's checkboxes and the CSRF token of its action form."""
    ids = re.findall(r'name="rowid" class="action-checkbox" value="([^"]+)"', html)
    form = html[html.index('id="action_form"') :]
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    return ids, token


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action)))


def _flashes(client) -> str:
    return client.get("/admin/").get_data(as_text=True)


def signed_in(app, role: str):
    make_staff(app, role)
    client = app.test_client()
    assert sign_in(client, f"{role}@staff.example").status_code == 302
    return client


@pytest.fixture
def customers(app):
    factories.reference(app)
    alpha = factories.customer(app, company="Alpha GmbH")
    bravo = factories.customer(app, state="invited", company="Bravo AG")
    charlie = factories.customer(app, company="Charlie KG")
    return alpha.id, bravo.id, charlie.id


def test_lock_customers_from_the_list(app, customers):
    """The customer list shows a checkbox per row (built with its rows in Python); "Lock
    accounts" locks the ticked customers through ``billing.customers.lifecycle.set_locked``,
    audited."""
    alpha, bravo, charlie = customers
    client = signed_in(app, "billing")
    html = client.get("/admin/customer/").get_data(as_text=True)
    assert 'data-bulk-action="lock"' in html and 'data-bulk-action="tag"' in html
    rows, token = _selection(html)
    assert sorted(rows) == sorted(str(i) for i in customers)
    response = client.post(
        "/admin/customer/action/",
        data={"csrf_token": token, "action": "lock", "rowid": [str(alpha), str(bravo)]},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert [db.session.get(Customer, i).locked for i in customers] == [True, True, False]
    assert sorted(e.customer_id for e in _events("customer.lock")) == sorted([alpha, bravo])
    assert "2 customers locked." in _flashes(client)
    listing = client.get("/admin/customer/?flt0_status_equals=locked").get_data(as_text=True)
    assert "Alpha GmbH" in listing and "Charlie KG" not in listing


def test_tag_customers_asks_for_the_tag_then_adds_it(app, customers):
    """ "Add a tag" first asks for the tag (a form posting back to the action with the same
    rows and a CSRF token), then adds it next to each customer's tags, audited."""
    from billing.customers.customer_tools import set_tags
    from billing.kernel.audit import SYSTEM

    alpha, bravo, charlie = customers
    set_tags(alpha, "priority", SYSTEM, app.config["CLOCK"])
    client = signed_in(app, "admin")
    rows, token = _selection(client.get("/admin/customer/").get_data(as_text=True))
    page = client.post(
        "/admin/customer/action/",
        data={"csrf_token": token, "action": "tag", "rowid": [str(alpha), str(charlie)]},
    )
    assert page.status_code == 200
    form = page.get_data(as_text=True)
    assert "Selected customers: 2." in form
    assert sorted(re.findall(r'name="rowid" value="(\d+)"', form)) == sorted(
        [str(alpha), str(charlie)]
    )
    tag_token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    client.post(
        "/admin/customer/action/",
        data={
            "csrf_token": tag_token,
            "action": "tag",
            "rowid": [str(alpha), str(charlie)],
            "tag": " VIP ",
        },
    )
    db.session.expire_all()
    tags = {i: sorted(t.name for t in db.session.get(Customer, i).tags) for i in customers}
    assert tags == {alpha: ["VIP", "priority"], bravo: [], charlie: ["VIP"]}
    assert len(_events("customer.tags")) == 3  # the setup's and the two of the bulk action
    assert "Tag VIP added to 2 customers." in _flashes(client)
    tagged = client.get("/admin/customer/?flt0_tag_equals=VIP").get_data(as_text=True)
    assert "Alpha GmbH" in tagged and "Charlie KG" in tagged and "Bravo AG" not in tagged


def test_a_refused_tag_is_reported_once_and_changes_nothing(app, customers):
    alpha, bravo, charlie = customers
    client = signed_in(app, "admin")
    _rows, token = _selection(client.get("/admin/customer/").get_data(as_text=True))
    client.post(
        "/admin/customer/action/",
        data={"csrf_token": token, "action": "tag", "rowid": [str(alpha)], "tag": "x" * 65},
    )
    html = _flashes(client)
    assert "1 selected record was not changed: A tag can have at most 64 characters." in html
    assert "(Alpha GmbH)" in html
    db.session.expire_all()
    assert db.session.get(Customer, alpha).tags == [] and _events("customer.tags") == []


def test_support_gets_no_checkboxes_and_is_refused(app, customers):
    """SPEC §1: support reads everything but changes nothing; a bulk action is refused with
    403 and nothing changes, on the customer and the invoice list."""
    client = signed_in(app, "support")
    html = client.get("/admin/customer/").get_data(as_text=True)
    assert "action-checkbox" not in html and 'id="action_form"' not in html
    token = csrf_token(client, "/admin/customer/")
    for url, action in (
        ("/admin/customer/action/", "lock"),
        ("/admin/invoice/action/", "mark_paid"),
    ):
        response = client.post(
            url, data={"csrf_token": token, "action": action, "rowid": [str(customers[0])]}
        )
        assert response.status_code == 403
    db.session.expire_all()
    assert not db.session.get(Customer, customers[0]).locked
    assert _events("customer.lock") == []


@pytest.fixture
def billed(app):
    """Alpha's October invoice finalized, Bravo's a draft."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    alpha = factories.customer(app, company="Alpha GmbH")
    bravo = factories.customer(app, company="Bravo AG", payment="card")
    clock.instant = berlin(2026, 11, 2, 9, 0)
    final = finalize_invoice(draft_invoice(alpha.id, date(2026, 10, 1), clock).id, clock)
    draft = draft_invoice(bravo.id, date(2026, 10, 1), clock)
    return final.id, draft.id


def test_mark_invoices_paid_reports_the_ones_that_cannot_be(app, billed):
    """ "Mark paid" calls ``billing.invoicing.invoice_payment.mark_paid`` for each ticked
    invoice: the finalized one is paid (audited), the draft is refused with billing's reason,
    named in one message."""
    final, draft = billed
    client = signed_in(app, "billing")
    html = client.get("/admin/invoice/").get_data(as_text=True)
    assert 'data-bulk-action="mark_paid"' in html
    rows, token = _selection(html)
    assert sorted(rows) == sorted([str(final), str(draft)])
    client.post(
        "/admin/invoice/action/", data={"csrf_token": token, "action": "mark_paid", "rowid": rows}
    )
    db.session.expire_all()
    assert db.session.get(Invoice, final).state == "paid"
    assert db.session.get(Invoice, draft).state == "draft"
    [event] = _events("invoice.paid")
    assert event.actor_label == "billing@staff.example"
    messages = _flashes(client)
    assert "1 invoice marked paid." in messages
    label = str(db.session.get(Invoice, draft))
    assert (
        "1 selected record was not changed: Only finalized invoices can be paid. "
        f"({label})" in messages
    )


def test_resend_invoice_emails(app, billed, redis_server, mail_on):
    """ "Resend e-mail": ``billing.invoicing.invoice_mail.request_resend`` lets an invoice that was
    e-mailed be sent again (audited) and the e-mail job is queued; a draft is refused."""
    app.config["REDIS_URL"] = redis_server.url
    final, draft = billed
    assert email_invoice(final) is True
    assert len(mail_on.messages) == 1
    client = signed_in(app, "admin")
    rows, token = _selection(client.get("/admin/invoice/").get_data(as_text=True))
    client.post(
        "/admin/invoice/action/",
        data={"csrf_token": token, "action": "resend_email", "rowid": rows},
    )
    messages = _flashes(client)
    assert "The e-mail of 1 invoice is on its way again." in messages
    assert "Drafts and void invoices are not e-mailed." in messages
    [event] = _events("invoice.resend_email")
    assert event.actor_label == "admin@staff.example"
    jobs = Queue("mail", connection=Redis.from_url(redis_server.url)).jobs
    assert [job.args for job in jobs] == [(final,)]
    assert email_invoice(final) is True, "the queued job sends it again"
    assert len(mail_on.messages) == 2
    assert email_invoice(final) is False, "and only once"


def test_resend_says_so_when_the_queue_is_down(app, billed):
    final, _draft = billed
    client = signed_in(app, "admin")
    _rows, token = _selection(client.get("/admin/invoice/").get_data(as_text=True))
    client.post(
        "/admin/invoice/action/",
        data={"csrf_token": token, "action": "resend_email", "rowid": [str(final)]},
    )
    assert "The e-mail could not be queued; please try again later." in _flashes(client)


def test_bulk_actions_in_german(app, customers):
    client = signed_in(app, "admin")
    html = client.get("/admin/customer/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Konten sperren" in html and "Tag hinzufügen" in html
    _rows, token = _selection(html)
    client.post(
        "/admin/customer/action/",
        data={"csrf_token": token, "action": "lock", "rowid": [str(customers[0])]},
        headers={"Accept-Language": "de"},
    )
    assert "1 Kunde gesperrt." in client.get("/admin/", headers={"Accept-Language": "de"}).get_data(
        as_text=True
    )
