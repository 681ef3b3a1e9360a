"""SPEC §9 dashboard figures, IP history and the monthly billing data, computed by hand.

The clock is frozen at 2026-11-15 10:00 Europe/Berlin: last month is October, this month
November, the forecast December. Tiers (seed reference): 1–50 at 4.50, 51–250 at 3.20, 251+ at
2.10. The IP purchase price is set to 0.50 per IP and month.

| customer | mode, payment | IPs (int+ext) | from | monthly price |
|---|---|---|---|---|
| A | managed, invoice | 10+2 | 2026-09-01 | 12 × 4.50 = 54.00 |
| B | self-service, card | 40+20 | 2026-11-11 | 50 × 4.50 + 10 × 3.20 = 257.00 (Nov: 20/30 days) |
| C | managed, free | 5+0 | 2026-10-01 | free trial, never billed |
| D | managed, project key | 80+20 | redeemed Nov 15 | 2400 / 12 = 200.00 (Nov: 16/30 days) |
| E | managed, invoice | 100+20 → 60+20 on Dec 1 | 2026-01-01 | 449.00 → 321.00 |
| F | managed, card, cancelled today | 20+0 | 2026-10-01 | 90.00, ends Nov 30 |
| G | managed, invoice | 40+10 → key 80+20 on Dec 1 | 2026-10-01 | 225.00 → 2880 / 12 = 240.00 |

Key costs: D 1200 / 12 = 100.00 a month, G's key 1800 / 12 = 150.00 a month.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event

from billing.customers.lifecycle import cancel_subscription, schedule_change
from billing.invoicing.drafting import IP_PURCHASE_PRICE_KEY, draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import FixedClock
from billing.kernel.errors import DomainError
from billing.kernel.settings import set_setting
from billing.reporting.billing_data import (
    billing_data_export,
    billing_data_rows,
    iter_billing_csv,
    iter_billing_json,
)
from billing.reporting.dashboard import dashboard_figures, ip_history
from billing.subscriptions.project_keys import create_key, redeem
from models import AuditEvent, Invoice, db
from tests import factories
from tests.conftest import berlin

D = Decimal
OCTOBER, NOVEMBER, DECEMBER = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)


def _scenario(app) -> dict:
    clock = app.config["CLOCK"]
    factories.reference(app)
    set_setting(IP_PURCHASE_PRICE_KEY, "0.50", clock)
    c = {
        "A": factories.customer(app, company="A", internal=10, external=2, since=date(2026, 9, 1)),
        "B": factories.customer(
            app,
            company="B",
            mode="self_service",
            payment="card",
            internal=40,
            external=20,
            since=date(2026, 11, 11),
        ),
        "C": factories.customer(
            app, company="C", payment="free", internal=5, external=0, since=OCTOBER
        ),
        "D": factories.customer(app, company="D", state="registered"),
        "E": factories.customer(
            app, company="E", internal=100, external=20, since=date(2026, 1, 1)
        ),
        "F": factories.customer(
            app, company="F", payment="card", internal=20, external=0, since=OCTOBER
        ),
        "G": factories.customer(app, company="G", internal=40, external=10, since=OCTOBER),
    }
    create_key("PK-D", 100, 12, "1200.00", SYSTEM, clock)
    redeem(c["D"].id, "PK-D", "2400", 80, 20, False, SYSTEM, clock)
    schedule_change(c["E"].id, 60, 20, SYSTEM, clock)
    cancel_subscription(c["F"].id, SYSTEM, clock)
    create_key("PK-G", 100, 12, "1800.00", SYSTEM, clock)
    redeem(c["G"].id, "PK-G", "2880", 80, 20, False, SYSTEM, clock)
    return {name: customer.id for name, customer in c.items()}


def _categories(free=0, managed=0, self_service=0, project_key=0) -> dict:
    return {
        "free": free,
        "managed": managed,
        "self_service": self_service,
        "project_key": project_key,
    }


def _money(free="0.00", managed="0.00", self_service="0.00", project_key="0.00") -> dict:
    return {k: D(v) for k, v in _categories(free, managed, self_service, project_key).items()}


def test_this_month_is_estimated_from_the_subscriptions(any_app):
    """SPEC §9: income by category, purchase cost, average IP price, subscriptions, IPs."""
    _scenario(any_app)
    current = dashboard_figures(any_app.config["CLOCK"]).current

    assert current.period == NOVEMBER and current.source == "subscriptions"
    # managed A 54 + E 449 + F 90 + G 225; B 257 × 20/30 = 171.33; D 200 × 16/30 = 106.67
    assert current.income == _money(managed="818.00", self_service="171.33", project_key="106.67")
    assert current.income_total == D("1096.00")
    assert current.key_cost == D("53.33")  # 100 × 16/30
    # 0.50 × (A 12 + B 60 × 20/30 + C 5 + E 120 + F 20 + G 50)
    assert current.ip_cost == D("123.50")
    assert current.purchase_cost == D("176.83")
    assert current.margin == D("919.17")
    assert current.subscriptions == _categories(free=1, managed=4, self_service=1, project_key=1)
    assert (current.internal_ips, current.external_ips, current.total_ips) == (295, 72, 367)
    assert current.paying_ips == 362  # all but C's 5 free IPs
    assert current.average_ip_price == D("3.0276")  # 1096.00 / 362


def test_last_month_without_invoices_is_estimated(any_app):
    _scenario(any_app)
    last = dashboard_figures(any_app.config["CLOCK"]).last

    assert last.period == OCTOBER and last.source == "subscriptions"
    assert last.income == _money(managed="818.00")  # A, E, F, G in full; B and D not yet
    assert (last.key_cost, last.ip_cost) == (D("0.00"), D("103.50"))
    assert last.subscriptions == _categories(free=1, managed=4)
    assert (last.internal_ips, last.external_ips) == (175, 32)
    assert last.average_ip_price == D("4.0495")  # 818.00 / 202


def test_the_forecast_applies_pending_changes_and_drops_cancelled_subscriptions(any_app):
    """SPEC §9 forecast: E shrinks to 80 IPs, G moves to its project key, F's cancellation
    ended its service on Nov 30; B and D are billed for the whole month."""
    _scenario(any_app)
    forecast = dashboard_figures(any_app.config["CLOCK"]).forecast

    assert forecast.period == DECEMBER and forecast.source == "forecast"
    assert forecast.income == _money(managed="375.00", self_service="257.00", project_key="440.00")
    assert forecast.key_cost == D("250.00")  # D 100 + G 150
    assert forecast.ip_cost == D("78.50")  # 0.50 × (A 12 + B 60 + C 5 + E 80)
    assert forecast.subscriptions == _categories(free=1, managed=2, self_service=1, project_key=2)
    assert (forecast.internal_ips, forecast.external_ips) == (275, 82)
    assert forecast.average_ip_price == D("3.0455")  # 1072.00 / 352


def _invoice(customer_id, net, ips=(0, 0), cost="0.00", state="finalized", **values) -> None:
    """An October invoice as the month-end run stores it (hand-made, to fix its figures)."""
    values.setdefault("category", "managed")
    db.session.add(
        Invoice(
            customer_id=customer_id,
            period=OCTOBER,
            state=state,
            net=D(net),
            purchase_cost=D(cost),
            ips_internal=ips[0],
            ips_external=ips[1],
            created_at=FixedClock(berlin(2026, 11, 1, 2, 0)).now(),
            **values,
        )
    )


def test_a_billed_month_takes_its_figures_from_the_finalized_invoices(any_app):
    """SPEC §9: once October is billed its invoices count (credit notes subtract; drafts and
    void invoices do not); free trials, never invoiced, still come from the subscriptions."""
    ids = _scenario(any_app)
    _invoice(ids["A"], "54.00", (10, 2), "6.00")
    _invoice(ids["E"], "449.00", (100, 20), "60.00", state="paid")
    _invoice(ids["F"], "90.00", (20, 0), "10.00", state="payment_failed")
    _invoice(ids["G"], "225.00", (40, 10), "25.00")
    _invoice(ids["A"], "-54.00", (10, 2), kind="credit_note")
    _invoice(ids["C"], "99.99", (5, 0), state="draft")
    _invoice(ids["D"], "500.00", (80, 20), "100.00", state="void", category="project_key")
    db.session.commit()

    last = dashboard_figures(any_app.config["CLOCK"]).last

    assert last.source == "invoices"
    assert last.income == _money(managed="764.00")  # 54 + 449 + 90 + 225 − 54
    assert last.key_cost == D("0.00")
    assert last.ip_cost == D("103.50")  # invoices 101.00 + C's free 5 IPs × 0.50
    assert last.subscriptions == _categories(free=1, managed=4)
    assert (last.internal_ips, last.external_ips) == (175, 32)
    assert last.average_ip_price == D("3.7822")  # 764.00 / 202


def test_the_estimate_matches_what_the_month_end_run_bills(any_app):
    """The subscription estimate of a month and the invoices the run drafts agree."""
    ids = _scenario(any_app)
    clock = any_app.config["CLOCK"]
    before = dashboard_figures(clock).last
    for customer_id in ids.values():
        invoice = draft_invoice(customer_id, OCTOBER, clock)
        if invoice is not None:
            finalize_invoice(invoice.id, clock)
    after = dashboard_figures(clock).last

    assert before.source == "subscriptions" and after.source == "invoices"
    for figure in ("income", "key_cost", "ip_cost", "subscriptions", "internal_ips"):
        assert getattr(after, figure) == getattr(before, figure), figure
    assert after.external_ips == before.external_ips


def _count_queries():
    counter = {"n": 0}

    def count(*_args):
        counter["n"] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    return counter, lambda: event.remove(db.engine, "before_cursor_execute", count)


def _queries(clock) -> tuple[int, int]:
    counter, stop = _count_queries()
    try:
        dashboard_figures(clock)
        figures = counter["n"]
        counter["n"] = 0
        ip_history(clock)
        return figures, counter["n"]
    finally:
        stop()


@pytest.mark.fresh_database
def test_the_dashboard_needs_five_queries_whatever_the_customers(any_app):
    """The figures are aggregated in SQL: tiers, IP price, two invoice sums, one subscription
    scan (PostgreSQL also sets the transaction's work memory); the history is one query."""
    _scenario(any_app)
    clock = any_app.config["CLOCK"]
    db.session.commit()
    expected = (5 + (db.engine.dialect.name == "postgresql"), 1)
    assert _queries(clock) == expected
    for n in range(5):
        factories.customer(any_app, internal=10 + n, external=n, since=date(2026, 8, 1))
    db.session.commit()
    assert _queries(clock) == expected


def test_ip_history_counts_the_last_day_of_each_month_and_today(any_app):
    """SPEC §9 chart: internal/external IPs for the last six months, oldest first."""
    _scenario(any_app)
    history = ip_history(any_app.config["CLOCK"])

    assert [m.period for m in history] == [date(2026, m, 1) for m in range(6, 12)]
    assert [m.day for m in history] == [
        date(2026, 6, 30),
        date(2026, 7, 31),
        date(2026, 8, 31),
        date(2026, 9, 30),
        date(2026, 10, 31),
        date(2026, 11, 15),
    ]
    assert [(m.internal_ips, m.external_ips) for m in history] == [
        (100, 20),
        (100, 20),
        (100, 20),
        (110, 22),
        (175, 32),
        (295, 72),
    ]


def test_an_empty_database_gives_zero_figures(any_app):
    clock = any_app.config["CLOCK"]
    dashboard = dashboard_figures(clock)
    for month in dashboard.columns:
        assert month.income_total == D("0.00") and month.subscription_total == 0
        assert month.average_ip_price is None
    assert [m.total_ips for m in ip_history(clock)] == [0] * 6


def _rows(period, clock) -> dict:
    return {row[2]: row for row in billing_data_rows(period, clock)}


def test_billing_data_rows_come_from_the_subscriptions_before_billing(any_app):
    """SPEC §9 billing data: one row per customer, what the run would bill (free: 0.00)."""
    _scenario(any_app)
    rows = _rows(NOVEMBER, any_app.config["CLOCK"])

    assert sorted(rows) == ["A", "B", "C", "D", "E", "F", "G"]
    assert rows["B"][3:] == (
        "self_service",
        "card",
        40,
        20,
        60,
        D("171.33"),
        "EUR",
        "self_service",
        "subscription",
        None,
    )
    assert rows["C"][8] == D("0.00") and rows["C"][10] == "free"
    assert rows["D"][4:9] == ("project_key", 80, 20, 100, D("106.67"))
    assert rows["D"][10] == "project_key"
    assert rows["E"][8] == D("449.00") and rows["F"][8] == D("90.00")
    assert all(row[0] == "2026-11" for row in rows.values())


def test_billing_data_rows_take_the_invoice_when_there_is_one(any_app):
    ids = _scenario(any_app)
    clock = any_app.config["CLOCK"]
    invoice = draft_invoice(ids["E"], OCTOBER, clock)
    finalize_invoice(invoice.id, clock)
    db.session.execute(db.update(Invoice).values(net=D("400.00")))  # a corrected amount
    db.session.commit()

    rows = _rows(OCTOBER, clock)

    assert sorted(rows) == ["A", "C", "E", "F", "G"]  # B, D start in November
    assert rows["E"][8:] == (D("400.00"), "EUR", "managed", "invoice", invoice.number)
    assert rows["E"][5:8] == (100, 20, 120)
    assert rows["A"][8:12] == (D("54.00"), "EUR", "managed", "subscription")


def test_billing_data_files_are_typed_json_and_defused_csv(any_app):
    _scenario(any_app)
    clock = any_app.config["CLOCK"]
    factories.customer(any_app, company="=HYPERLINK(1)", internal=1, external=0, since=OCTOBER)
    rows = list(billing_data_rows(NOVEMBER, clock))

    data = json.loads("".join(iter_billing_json(rows)))
    first = data[0]
    assert list(first) == [
        "month",
        "customer_id",
        "company_name",
        "service_mode",
        "payment_method",
        "internal_ips",
        "external_ips",
        "total_ips",
        "net",
        "currency",
        "category",
        "source",
        "invoice_number",
    ]
    assert first["company_name"] == "A" and first["net"] == "54.00"
    assert first["total_ips"] == 12 and first["invoice_number"] is None
    table = list(csv.DictReader(io.StringIO("".join(iter_billing_csv(rows)))))
    assert len(table) == len(data) == 8
    assert table[-1]["company_name"] == "'=HYPERLINK(1)"
    assert json.loads("".join(iter_billing_json([]))) == []


@pytest.mark.parametrize(
    "month", [None, "", "2026", "2026-13", "26-10", "2026-10-01", "1999-12", "2026-12"]
)
def test_billing_data_refuses_bad_and_future_months(app, month):
    clock = app.config["CLOCK"]
    with pytest.raises(DomainError):
        billing_data_export(month, "csv", SYSTEM, clock)
    assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)) == 0


def test_billing_data_export_is_audited(app):
    clock = app.config["CLOCK"]
    export = billing_data_export("2026-11", "json", SYSTEM, clock)
    assert export.filename == "billing-data-2026-11.json"
    assert json.loads("".join(export.chunks)) == []
    event_row = db.session.scalar(db.select(AuditEvent))
    assert event_row.action == "billing_data.export"
    assert event_row.after == {"month": "2026-11", "format": "json"}
    with pytest.raises(DomainError):
        billing_data_export("2026-11", "xml", SYSTEM, clock)


def test_an_immediate_upgrade_counts_both_parts_of_the_month(any_app):
    """10 IPs (45.00) since October, raised at once to 20 IPs (90.00) on Nov 15: November is
    45.00 in full plus the difference for the 16 remaining days, 45 + 45 × 16/30 = 69.00."""
    from billing.subscriptions.distribution import change_ip_distribution

    factories.reference(any_app)
    clock = any_app.config["CLOCK"]
    customer = factories.customer(any_app, internal=10, external=0, since=OCTOBER)
    change_ip_distribution(customer.id, 20, 0, True, SYSTEM, clock)

    (row,) = billing_data_rows(NOVEMBER, clock)
    assert row[5:9] == (20, 0, 20, D("69.00"))
    current = dashboard_figures(clock).current
    assert current.income == _money(managed="69.00")
    assert current.subscriptions == _categories(managed=1)
    assert (current.internal_ips, current.external_ips) == (20, 0)
