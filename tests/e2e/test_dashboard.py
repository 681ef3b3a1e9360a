"""The dashboard in a real browser on the seeded demo (SPEC §9): figures, the IP chart of the
last six months, and the monthly billing data download."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from billing.reporting.billing_data import billing_data_rows, default_billing_month
from billing.reporting.dashboard import ip_history

pytestmark = pytest.mark.browser

MONTHS = ["Jun 2026", "Jul 2026", "Aug 2026", "Sep 2026", "Oct 2026", "Nov 2026"]


def test_the_chart_shows_six_months_of_growing_ip_bars(staff_page, live_server, tmp_path):
    """SPEC §9: a chart of internal/external IPs over the last six months, drawn from the
    demo's six months of history, with month names, a legend and accessible titles."""
    page = staff_page
    page.goto("/admin/")
    chart = page.locator("svg#ip-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("g.msp-chart-bar")).to_have_count(6)
    expect(chart.locator("text.msp-chart-month")).to_have_text(MONTHS)
    expect(chart.locator(".msp-chart-legend")).to_contain_text("Internal IPs")
    expect(chart.locator(".msp-chart-legend")).to_contain_text("External IPs")

    bars = chart.locator("g.msp-chart-bar").evaluate_all(
        """groups => groups.map(g => ({
            month: g.dataset.month,
            internal: Number(g.dataset.internal),
            external: Number(g.dataset.external),
            internalHeight: g.querySelector('rect.msp-chart-internal').getBBox().height,
            externalHeight: g.querySelector('rect.msp-chart-external').getBBox().height,
            title: g.querySelector('rect.msp-chart-internal title').textContent,
        }))"""
    )
    with live_server.app.app_context():
        history = ip_history(live_server.clock)
    assert [(b["internal"], b["external"]) for b in bars] == [
        (m.internal_ips, m.external_ips) for m in history
    ]
    for bar, label in zip(bars, MONTHS, strict=True):
        assert bar["internal"] > 0 and bar["internalHeight"] > 0, bar
        assert bar["external"] > 0 and bar["externalHeight"] > 0, bar
        assert bar["title"] == f"{label}: {bar['internal']:,} internal IPs"
    heights = [b["internalHeight"] + b["externalHeight"] for b in bars]
    assert heights[0] < heights[-1]  # customers joined over the demo's history

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_the_figures_table_shows_last_this_and_next_month(staff_page):
    page = staff_page
    page.goto("/admin/")
    headers = page.locator("#dashboard-figures thead th[data-month]")
    expect(headers).to_have_count(3)
    expect(headers.nth(0)).to_contain_text("October 2026")
    expect(headers.nth(1)).to_contain_text("November 2026")
    expect(headers.nth(2)).to_contain_text("December 2026")
    income = page.locator('tr[data-figure="income.total"] td')
    expect(income).to_have_count(3)
    for text in income.all_inner_texts():
        assert re.fullmatch(r"€[\d,]+\.\d\d", text.strip()) and text.strip() != "€0.00"
    total_ips = page.locator('tr[data-figure="ips.total"] td').all_inner_texts()
    assert all(int(text.replace(",", "")) > 0 for text in total_ips)


def test_billing_data_downloads_last_month_as_csv(staff_page, live_server):
    """SPEC §9: the monthly billing data per customer, last month by default."""
    page = staff_page
    page.goto("/admin/")
    with live_server.app.app_context():
        month = default_billing_month(live_server.clock)
        expected = {row[1] for row in billing_data_rows(month, live_server.clock)}
    expect(page.locator("#billing-month")).to_have_value(f"{month:%Y-%m}")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    download = info.value

    assert download.suggested_filename == f"billing-data-{month:%Y-%m}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert {int(r["customer_id"]) for r in rows} == expected and len(rows) == len(expected)
    assert {r["month"] for r in rows} == {f"{month:%Y-%m}"}
    assert {r["category"] for r in rows} >= {"managed", "self_service", "project_key"}
