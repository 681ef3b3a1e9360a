"""The dashboard screen (SPEC §9): the figures table, the IP chart and the billing data download.

``DashboardMixin`` gives the admin index view (``index.DashboardView``) its page and download
route. What a row shows is declared in ``figure_sections``; the chart geometry is computed here
and drawn as inline SVG by ``templates/admin/dashboard.html`` (no JavaScript).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask_admin import expose
from flask_babel import format_currency, format_date, format_decimal, lazy_gettext
from flask_babel import gettext as _

from billing.invoicing.purchase_orders import expiring_orders
from billing.kernel.errors import DomainError
from billing.kernel.permissions import Permission
from billing.reporting import dashboard as figures_service
from billing.reporting.billing_data import billing_data_export, default_billing_month
from billing.reporting.dashboard import Dashboard, IpMonth, MonthFigures

from .auth import clock, requires, staff_actor, staff_can

SOURCE_LABELS = {
    figures_service.INVOICES: lazy_gettext("Invoiced"),
    figures_service.SUBSCRIPTIONS: lazy_gettext("Estimate"),
    figures_service.FORECAST: lazy_gettext("Forecast"),
}
COLUMN_HINTS = (lazy_gettext("Last month"), lazy_gettext("This month"), lazy_gettext("Next month"))
CATEGORY_LABELS = {
    "free": lazy_gettext("Free"),
    "managed": lazy_gettext("Managed"),
    "self_service": lazy_gettext("Self-Service"),
    "project_key": lazy_gettext("Project key"),
}


@dataclass(frozen=True)
class FigureRow:
    key: str
    label: str
    values: list[str]
    total: bool = False


@dataclass(frozen=True)
class FigureSection:
    key: str
    title: str
    rows: list[FigureRow]


def _row(key, label, columns, value: Callable[[MonthFigures], str], total=False) -> FigureRow:
    return FigureRow(key, str(label), [value(column) for column in columns], total)


def figure_sections(dashboard: Dashboard, show_money: bool) -> list[FigureSection]:
    """The rows of the figures table; money rows only for roles that may see money."""
    currency = current_app.config["CURRENCY"]

    def money(amount) -> str:
        return "–" if amount is None else format_currency(amount, currency)

    money_sections = _money_sections(dashboard, money) if show_money else []
    return money_sections + _count_sections(dashboard.columns)


def _money_sections(dashboard: Dashboard, money) -> list[FigureSection]:
    """Income, purchase cost and the result (margin, average price per IP)."""
    columns = dashboard.columns
    income = [
        _row(f"income.{c}", CATEGORY_LABELS[c], columns, lambda m, c=c: money(m.income[c]))
        for c in ("self_service", "managed", "project_key", "free")
        if c != "free" or any(m.income["free"] for m in columns)
    ]
    income.append(
        _row("income.total", _("Total income"), columns, lambda m: money(m.income_total), True)
    )
    ip_cost_label = _("IPs (%(price)s per IP and month)", price=money(dashboard.ip_purchase_price))
    cost = [
        _row("cost.project_key", _("Project keys"), columns, lambda m: money(m.key_cost)),
        _row("cost.ips", ip_cost_label, columns, lambda m: money(m.ip_cost)),
        _row("cost.total", _("Total cost"), columns, lambda m: money(m.purchase_cost), True),
    ]
    result = [
        _row("result.margin", _("Margin"), columns, lambda m: money(m.margin)),
        _row(
            "result.average_ip_price",
            _("Average price per IP"),
            columns,
            lambda m: money(m.average_ip_price),
        ),
    ]
    return [
        FigureSection("income", _("Income"), income),
        FigureSection("cost", _("Purchase cost"), cost),
        FigureSection("result", _("Result"), result),
    ]


def _count_sections(columns) -> list[FigureSection]:
    """Subscriptions by category and IP addresses, for every role."""
    subscriptions = [
        _row(
            f"subscriptions.{c}",
            CATEGORY_LABELS[c],
            columns,
            lambda m, c=c: format_decimal(m.subscriptions[c]),
        )
        for c in ("free", "managed", "self_service", "project_key")
    ]
    subscriptions.append(
        _row(
            "subscriptions.total",
            _("All subscriptions"),
            columns,
            lambda m: format_decimal(m.subscription_total),
            True,
        )
    )
    ips = [
        _row("ips.internal", _("Internal"), columns, lambda m: format_decimal(m.internal_ips)),
        _row("ips.external", _("External"), columns, lambda m: format_decimal(m.external_ips)),
        _row("ips.total", _("All IPs"), columns, lambda m: format_decimal(m.total_ips), True),
    ]
    return [
        FigureSection("subscriptions", _("Subscriptions"), subscriptions),
        FigureSection("ips", _("IP addresses"), ips),
    ]


# --- the IP chart ------------------------------------------------------------------------------

CHART_WIDTH = 520
CHART_HEIGHT = 320
PLOT_LEFT, PLOT_RIGHT = 64, CHART_WIDTH - 16
PLOT_TOP, PLOT_BOTTOM = 52, CHART_HEIGHT - 40
BAR_SHARE = 0.56


@dataclass(frozen=True)
class Bar:
    month: str  # YYYY-MM
    label: str
    internal: int
    external: int
    x: float
    width: float
    internal_y: float
    internal_height: float
    external_y: float
    external_height: float

    @property
    def total(self) -> int:
        return self.internal + self.external

    @property
    def centre(self) -> float:
        return round(self.x + self.width / 2, 1)


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[Bar]
    ticks: list[Tick]


def nice_scale(largest: int, steps: int = 4) -> tuple[int, int]:
    """The top of the axis and the whole-number gridline step (1, 2, 2.5 or 5 times a power of
    ten) that fit ``largest`` in about ``steps`` steps."""
    if largest <= 0:
        return steps, 1
    raw = largest / steps
    power = 10 ** math.floor(math.log10(raw))
    candidates = (m * power for m in (1, 2, 2.5, 5, 10))
    step = next(int(c) for c in candidates if c >= raw and c == int(c))
    return step * math.ceil(largest / step), step


def ip_chart(history: Sequence[IpMonth], label: Callable[[date], str]) -> Chart:
    """Stacked bars (internal below, external on top) for each month of ``history``."""
    top, step = nice_scale(max((m.total_ips for m in history), default=0))
    height = PLOT_BOTTOM - PLOT_TOP

    def y(value: int) -> float:
        return round(PLOT_BOTTOM - value / top * height, 1)

    slot = (PLOT_RIGHT - PLOT_LEFT) / max(1, len(history))
    width = round(slot * BAR_SHARE, 1)
    bars = []
    for index, month in enumerate(history):
        internal_y, total_y = y(month.internal_ips), y(month.total_ips)
        bars.append(
            Bar(
                month=f"{month.period:%Y-%m}",
                label=label(month.period),
                internal=month.internal_ips,
                external=month.external_ips,
                x=round(PLOT_LEFT + index * slot + (slot - width) / 2, 1),
                width=width,
                internal_y=internal_y,
                internal_height=round(PLOT_BOTTOM - internal_y, 1),
                external_y=total_y,
                external_height=round(internal_y - total_y, 1),
            )
        )
    ticks = [Tick(value, y(value)) for value in range(0, top + 1, step)]
    return Chart(
        CHART_WIDTH, CHART_HEIGHT, PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM, bars, ticks
    )


# --- the screen --------------------------------------------------------------------------------


class DashboardMixin:
    """The admin start page and the monthly billing data download."""

    @expose("/")
    def index(self):
        show_money = staff_can(Permission.SEE_FINANCIALS)
        now = clock()
        dashboard = figures_service.dashboard_figures(now)
        history = figures_service.ip_history(now)
        columns = [
            {
                "month": f"{m.period:%Y-%m}",
                "title": format_date(m.period, "LLLL yyyy"),
                "hint": hint,
                "source": m.source,
                "source_label": SOURCE_LABELS[m.source],
            }
            for m, hint in zip(dashboard.columns, COLUMN_HINTS, strict=True)
        ]
        return self.render(
            "admin/dashboard.html",
            counts=figures_service.status_counts(),
            columns=columns,
            sections=figure_sections(dashboard, show_money),
            chart=ip_chart(history, lambda d: format_date(d, "MMM yyyy")),
            show_money=show_money,
            number=format_decimal,
            billing_month=f"{default_billing_month(now):%Y-%m}",
            latest_month=f"{now.today():%Y-%m}",
            expiring_orders=expiring_orders(now),
        )

    @expose("/billing-data/<export_format>/")
    @requires(Permission.SEE_FINANCIALS)
    def billing_data(self, export_format):
        """Stream one month's billing data per customer (``?month=YYYY-MM``) as JSON or CSV."""
        try:
            export = billing_data_export(
                request.args.get("month"),
                export_format,
                staff_actor(),
                clock(),
                current_app.config["CURRENCY"],
            )
        except DomainError as error:
            flash(error.message, "error")
            return redirect(url_for(".index"))
        return Response(
            stream_with_context(export.chunks),
            mimetype=export.mimetype,
            headers={
                "Content-Disposition": f'attachment; filename="{export.filename}"',
                "Cache-Control": "no-store",
            },
        )
