"""A deployment's own values reach billing's rules through the views and jobs that call them,
handed in like the clock (``billing.kernel.site.Site``): the address e-mail links point at, the
product's name, the MSP's home country, currency and time zone. Billing reads none of them
from the configuration (``tests/test_layout.py``), so every view and job must pass them on."""

from __future__ import annotations

import json
from datetime import date

import pypdfium2 as pdfium
import pytest
from redis import Redis
from rq import Queue

from jobs.billing import start_month_end
from models import Invoice, db
from tests import factories
from tests.conftest import _build, _sqlite_url, csrf_token, make_staff, sign_in

DEPLOYMENT = {
    "PUBLIC_URL": "https://billing.example.at",
    "PRODUCT_NAME": "Alpen Scan",
    "HOME_COUNTRY": "AT",
    "CURRENCY": "CHF",
    "APP_TIMEZONE": "Europe/Vienna",
}


@pytest.fixture
def deployed(sqlite_template, tmp_path, clock):
    app, ctx, db = _build(_sqlite_url(sqlite_template, tmp_path), clock, **DEPLOYMENT)
    factories.reference(app)
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()


@pytest.fixture
def admin(deployed):
    make_staff(deployed, "admin")
    client = deployed.test_client()
    sign_in(client, "admin@staff.example")
    client.token = csrf_token(client, "/admin/")
    return client


def test_the_month_end_job_drafts_in_the_deployments_currency_for_its_home_country(deployed):
    home = factories.customer(deployed, country="AT", since=date(2026, 10, 1)).id
    abroad = factories.customer(deployed, country="DE", since=date(2026, 10, 1)).id
    run_id = start_month_end()
    drafts = {
        invoice.customer_id: invoice
        for invoice in db.session.scalars(
            db.select(Invoice).where(Invoice.billing_run_id == run_id)
        )
    }
    assert {invoice.currency for invoice in drafts.values()} == {"CHF"}
    # the address of a customer in the home country names no country, one abroad does
    assert "Austria" not in drafts[home].billing_address
    assert drafts[abroad].billing_address.endswith("Germany")


def test_the_customer_export_states_the_deployments_currency(deployed, admin):
    factories.customer(deployed)
    rows = json.loads(admin.get("/admin/customer/export/json/").data)
    assert [row["currency"] for row in rows] == ["CHF"]


def test_a_resent_invite_links_to_the_deployments_address(deployed, admin, smtp_sink, redis_server):
    from billing.kernel.audit import SYSTEM
    from billing.kernel.mail import save_mail_settings

    clock = deployed.config["CLOCK"]
    save_mail_settings(
        "127.0.0.1", smtp_sink.port, "none", "", "", "MSP", "billing@msp.example", SYSTEM, clock
    )
    deployed.config["REDIS_URL"] = redis_server.url
    invited = factories.customer(deployed, state="invited")
    admin.post(f"/admin/customer/{invited.id}/resend-invite/", data={"csrf_token": admin.token})
    [queued] = Queue("mail", connection=Redis.from_url(redis_server.url)).jobs
    text = queued.args[3]
    assert "https://billing.example.at/portal/invite/" in text


def test_an_invoice_pdf_names_the_product_as_seller_until_one_is_set(deployed, admin):
    from billing.invoicing.drafting import draft_invoice

    customer = factories.customer(deployed, since=date(2026, 10, 1))
    draft = draft_invoice(customer.id, date(2026, 10, 1), deployed.config["CLOCK"])
    pdf = pdfium.PdfDocument(admin.get(f"/admin/invoice/{draft.id}/pdf/").data)
    assert "Alpen Scan" in pdf[0].get_textpage().get_text_range()


def test_the_customer_timeline_books_amounts_in_the_deployments_currency(deployed, admin):
    from billing.kernel.audit import SYSTEM
    from billing.payments import ledger

    customer = factories.customer(deployed)
    ledger.book_manual(customer.id, "credit", "50.00", "Goodwill", SYSTEM, deployed.config["CLOCK"])
    page = admin.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    assert "booked a credit of CHF" in page.replace("\xa0", " ")
