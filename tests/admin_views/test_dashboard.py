"""SPEC §9 on the admin index: the figures table, the IP chart, the billing data download, roles.

Support sees the dashboard without money figures and gets 403 for the download (SPEC §1: the
billing data is per-customer money; support reads, but billing is for admin and billing).
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

import pytest

from admin_views.dashboard import ip_chart, nice_scale
from billing.invoicing.drafting import IP_PURCHASE_PRICE_KEY
from billing.kernel.settings import set_setting
from billing.reporting.dashboard import IpMonth
from models import AuditEvent, db
from tests import factories
from tests.conftest import csrf_token, make_staff, sign_in


def _client(app, role: str):
    staff = make_staff(app, role)
    client = app.test_client()
    assert sign_in(client, staff.email).status_code == 302
    return client


def _customers(app) -> None:
    """Two managed customers (54.00 and 90.00 a month) and a self-service one (171.33 this
    month, from Nov 11); IP purchase price 0.50."""
    factories.reference(app)
    set_setting(IP_PURCHASE_PRICE_KEY, "0.50", app.config["CLOCK"])
    factories.customer(app, company="Alpha", internal=10, external=2, since=date(2026, 9, 1))
    factories.customer(
        app, company="Beta", payment="card", internal=20, external=0, since=date(2026, 10, 1)
    )
    factories.customer(
        app,
        company="Gamma",
        mode="self_service",
        payment="card",
        internal=40,
        external=20,
        since=date(2026, 11, 11),
    )


def _export_event():
    return db.session.scalar(
        db.select(AuditEvent).where(AuditEvent.action == "billing_data.export")
    )


def _cell(html: str, figure: str, month: str) -> str:
    row = re.search(rf'<tr data-figure="{re.escape(figure)}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, f"no row {figure}"
    cell = re.search(rf'<td[^>]*data-month="{month}"[^>]*>(.*?)</td>', row.group(1), re.S)
    assert cell, f"no {month} cell in {figure}"
    return cell.group(1).strip()


def test_the_admin_index_shows_the_three_months(app):
    """SPEC §9: last month, this month and the forecast with income, cost, IPs, counts."""
    _customers(app)
    html = _client(app, "admin").get("/admin/").get_data(as_text=True)

    for month, title in (("2026-10", "October 2026"), ("2026-11", "November 2026")):
        assert re.search(rf'<th scope="col"[^>]*data-month="{month}"[^>]*>\s*<div>{title}', html)
    assert 'data-month="2026-12" data-source="forecast"' in html
    assert _cell(html, "income.managed", "2026-10") == "€144.00"
    assert _cell(html, "income.self_service", "2026-11") == "€171.33"
    assert _cell(html, "income.total", "2026-11") == "€315.33"
    assert _cell(html, "income.total", "2026-12") == "€401.00"  # Gamma's first full month
    assert _cell(html, "cost.ips", "2026-11") == "€36.00"  # 0.50 × (12 + 20 + 60 × 20/30)
    assert _cell(html, "result.margin", "2026-11") == "€279.33"
    assert _cell(html, "result.average_ip_price", "2026-11") == "€3.43"  # 315.33 / 92
    assert _cell(html, "subscriptions.managed", "2026-11") == "2"
    assert _cell(html, "subscriptions.self_service", "2026-10") == "0"
    assert _cell(html, "ips.total", "2026-11") == "92"
    assert "IPs (€0.50 per IP and month)" in html
    assert 'id="billing-data-form"' in html and 'value="2026-10"' in html


def test_the_chart_has_six_stacked_months_with_titles(app):
    """SPEC §9: internal/external IPs over the last 6 months as inline SVG."""
    _customers(app)
    html = _client(app, "billing").get("/admin/").get_data(as_text=True)

    svg = re.search(r'<svg class="msp-chart" id="ip-chart".*?</svg>', html, re.S).group(0)
    assert 'role="img"' in svg and '<title id="ip-chart-title">' in svg
    bars = re.findall(
        r'<g class="msp-chart-bar" data-month="([\d-]+)" data-internal="(\d+)" '
        r'data-external="(\d+)">',
        svg,
    )
    assert bars == [
        ("2026-06", "0", "0"),
        ("2026-07", "0", "0"),
        ("2026-08", "0", "0"),
        ("2026-09", "10", "2"),
        ("2026-10", "30", "2"),
        ("2026-11", "70", "22"),
    ]
    assert "<title>Nov 2026: 70 internal IPs</title>" in svg
    assert "Internal IPs" in svg and "External IPs" in svg
    assert "<script" not in html.split('id="ip-chart"')[1].split("</svg>")[0]
    assert 'style="' not in svg


def test_the_figures_follow_the_language(app):
    _customers(app)
    client = _client(app, "admin")
    client.post(
        "/admin/language/",
        data={"language": "de", "csrf_token": csrf_token(client, "/admin/")},
    )
    html = client.get("/admin/").get_data(as_text=True)
    assert "Oktober 2026" in html
    assert _cell(html, "income.total", "2026-11") == "315,33\xa0€"


def test_support_sees_counts_but_no_money(app):
    _customers(app)
    client = _client(app, "support")
    html = client.get("/admin/").get_data(as_text=True)

    assert 'data-figure="ips.total"' in html and 'data-figure="subscriptions.managed"' in html
    assert 'data-figure="income' not in html and 'data-figure="cost' not in html
    assert "€" not in html.split('id="dashboard-figures"')[1].split("</table>")[0]
    assert 'id="billing-data-form"' not in html
    assert client.get("/admin/billing-data/csv/?month=2026-10").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in_for_the_download(client):
    response = client.get("/admin/billing-data/csv/?month=2026-10")
    assert response.status_code == 302 and "/admin/login/" in response.headers["Location"]


@pytest.mark.parametrize("role", ["admin", "billing"])
def test_billing_data_csv_has_a_row_per_customer(app, role):
    """SPEC §9: the monthly billing data download per customer."""
    _customers(app)
    response = _client(app, role).get("/admin/billing-data/csv/?month=2026-11")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="billing-data-2026-11.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["company_name"], r["total_ips"], r["net"], r["category"]) for r in rows] == [
        ("Alpha", "12", "54.00", "managed"),
        ("Beta", "20", "90.00", "managed"),
        ("Gamma", "60", "171.33", "self_service"),
    ]
    assert {r["source"] for r in rows} == {"subscription"}
    event = _export_event()
    assert event.after == {"month": "2026-11", "format": "csv"}


def test_billing_data_json_of_last_month(app):
    _customers(app)
    response = _client(app, "billing").get("/admin/billing-data/json/?month=2026-10")

    assert response.status_code == 200 and response.mimetype == "application/json"
    data = json.loads(response.get_data(as_text=True))
    assert [(d["company_name"], d["net"], d["month"]) for d in data] == [
        ("Alpha", "54.00", "2026-10"),
        ("Beta", "90.00", "2026-10"),
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/admin/billing-data/csv/?month=2026-13", "Please give the month as YYYY-MM"),
        ("/admin/billing-data/csv/?month=%3Cscript%3E", "Please give the month as YYYY-MM"),
        ("/admin/billing-data/json/", "Please give the month as YYYY-MM"),
        ("/admin/billing-data/csv/?month=2027-01", "has not started yet"),
        ("/admin/billing-data/xlsx/?month=2026-10", "Unknown export format."),
    ],
)
def test_bad_download_requests_redirect_with_a_message(app, url, message):
    client = _client(app, "admin")
    response = client.get(url)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    page = client.get("/admin/").get_data(as_text=True)
    assert message in page and "alert-danger" in page
    assert _export_event() is None


def test_the_audit_names_the_staff_member(app):
    client = _client(app, "billing")
    client.get("/admin/billing-data/json/?month=2026-11")
    event = _export_event()
    assert event.actor_label == "billing@staff.example" and event.actor_type == "staff"


@pytest.mark.parametrize(
    ("largest", "top", "step"),
    [(0, 4, 1), (3, 3, 1), (10, 10, 5), (92, 100, 25), (8575, 10000, 2500), (120, 150, 50)],
)
def test_the_chart_axis_uses_round_steps(largest, top, step):
    assert nice_scale(largest) == (top, step)


def test_bars_stack_external_on_internal_and_share_the_scale():
    history = [
        IpMonth(date(2026, 10, 1), date(2026, 10, 31), 30, 10),
        IpMonth(date(2026, 11, 1), date(2026, 11, 15), 60, 20),
    ]
    chart = ip_chart(history, lambda d: f"{d:%b}")
    low, high = chart.bars
    assert [b.label for b in chart.bars] == ["Oct", "Nov"]
    assert high.internal_y + high.internal_height == chart.bottom
    assert high.external_y + high.external_height == pytest.approx(high.internal_y)
    assert high.internal_height == pytest.approx(2 * low.internal_height, abs=0.2)
    assert chart.ticks[0].y == chart.bottom and chart.ticks[-1].y == chart.top
    assert high.external_y == chart.top  # 80 IPs on a 0–80 axis
