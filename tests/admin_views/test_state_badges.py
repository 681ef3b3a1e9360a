"""Invoice and billing run states as coloured badges, like the customer status (issue 16): in
the invoice list, an invoice's page, the customer overview's invoices, the run list and a run's
page; in words as well as colour, and every colour readable (WCAG AA)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from admin_views.labels import (
    ATTEMPT_STATE_LABELS,
    EMAIL_STATE_LABELS,
    INVOICE_STATE_STYLE,
    RUN_STATE_STYLE,
    STATUS_STYLE,
    USER_STATE_LABELS,
)
from billing.invoicing import monthend, monthend_work
from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.invoicing.invoice_payment import mark_paid
from billing.kernel.audit import SYSTEM
from tests import factories
from tests.conftest import berlin

CSS = Path(__file__).resolve().parents[2] / "static" / "msp.css"
# Bootstrap 4.6's badge colours (background, text), which static/msp.css may override
BOOTSTRAP = {
    "primary": ("#007bff", "#ffffff"),
    "secondary": ("#6c757d", "#ffffff"),
    "success": ("#28a745", "#ffffff"),
    "info": ("#17a2b8", "#ffffff"),
    "warning": ("#ffc107", "#212529"),
    "danger": ("#dc3545", "#ffffff"),
    "light": ("#f8f9fa", "#212529"),
    "dark": ("#343a40", "#ffffff"),
}
BADGE = (
    r'<span class="badge badge-(\w+)(?: border)? msp-badge"(?: data-badge="\w+")? '
    r'data-state="(\w+)">([^<]+)</span>'
)


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_every_badge_colour_the_screens_use_is_readable():
    """WCAG AA: at least 4.5:1 between a badge's text and its background."""
    overrides = dict(
        re.findall(r"\.badge-(\w+) \{ background-color: (#[0-9a-f]{6}); \}", CSS.read_text())
    )
    used = {style for style, _icon in STATUS_STYLE.values()}
    used |= set(INVOICE_STATE_STYLE.values()) | set(RUN_STATE_STYLE.values())
    for labels in (USER_STATE_LABELS, EMAIL_STATE_LABELS, ATTEMPT_STATE_LABELS):
        used |= {style for _label, style in labels.values()}
    for style in sorted(used):
        background, text = BOOTSTRAP[style]
        background = overrides.get(style, background)
        assert contrast(background, text) >= 4.5, (style, background)


@pytest.fixture
def invoices(app):
    """October invoices of four customers: a draft, an open, a paid and a credited one."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    made = [factories.customer(app, company=f"{name} GmbH") for name in "ABCD"]
    clock.instant = berlin(2026, 11, 2, 9, 0)
    october = date(2026, 10, 1)
    draft = draft_invoice(made[0].id, october, clock)
    opened = finalize_invoice(draft_invoice(made[1].id, october, clock).id, clock)
    paid = finalize_invoice(draft_invoice(made[2].id, october, clock).id, clock)
    mark_paid(paid.id, SYSTEM, clock)
    credited = finalize_invoice(draft_invoice(made[3].id, october, clock).id, clock)
    create_credit_note(credited.id, "Cancelled", SYSTEM, clock)
    return {"draft": draft, "open": opened, "paid": paid, "credited": credited}


def test_the_invoice_list_shows_each_state_as_a_badge(staff_client, invoices):
    html = staff_client.get("/admin/invoice/?flt0_kind_equals=invoice").get_data(as_text=True)
    badges = {(state, words, style) for style, state, words in re.findall(BADGE, html)}
    assert badges == {
        ("draft", "Draft", "secondary"),
        ("finalized", "Open", "info"),
        ("paid", "Paid", "success"),
        ("finalized", "Credited", "light"),
    }
    staff_client.post(
        "/admin/language/",
        data={"language": "de", "next": "/admin/", "csrf_token": staff_client.token},
    )
    german = staff_client.get("/admin/invoice/?flt0_kind_equals=invoice").get_data(as_text=True)
    assert {words for _style, _state, words in re.findall(BADGE, german)} == {
        "Entwurf",
        "Offen",
        "Bezahlt",
        "Gutgeschrieben",
    }


def test_an_invoices_page_and_the_overview_show_the_same_badge(staff_client, invoices):
    paid = invoices["paid"]
    details = staff_client.get(f"/admin/invoice/details/?id={paid.id}").get_data(as_text=True)
    header = details[details.index('id="record-name"') :][:400]
    assert re.findall(BADGE, header) == [("success", "paid", "Paid")]
    overview = staff_client.get(f"/admin/customer/details/?id={paid.customer_id}")
    invoices_tab = overview.get_data(as_text=True).split('id="customer-invoices"')[1]
    assert ("success", "paid", "Paid") in re.findall(BADGE, invoices_tab)


def test_billing_runs_show_their_state_as_a_badge(app, staff_client):
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 9, 0)
    factories.customer(app)
    clock.instant = berlin(2026, 11, 2, 9, 0)
    started = monthend.start_run(date(2026, 10, 1), SYSTEM, clock)
    listing = staff_client.get("/admin/billing_run/").get_data(as_text=True)
    assert re.findall(BADGE, listing) == [("info", "drafting", "Drafting (queued)")]
    monthend_work.work(started.run_id, clock)
    listing = staff_client.get("/admin/billing_run/").get_data(as_text=True)
    assert re.findall(BADGE, listing) == [("warning", "awaiting_approval", "Awaiting approval")]
    details = staff_client.get(f"/admin/billing_run/details/?id={started.run_id}")
    page = details.get_data(as_text=True)
    assert "<title>Billing run October 2026 · Billing Runs · " in page
    assert re.findall(BADGE, page) == [("warning", "awaiting_approval", "Awaiting approval")]
