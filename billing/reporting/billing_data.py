"""The monthly billing data per customer (SPEC §9), streamed as JSON or CSV: from the customer's
invoice when there is one, otherwise what the month-end run would draft."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import date
from itertools import groupby

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from billing.catalog.pricing import load_tiers
from billing.invoicing.draft_lines import ZERO, KeyRow, SubRow, compute_draft, month_end
from billing.invoicing.monthend import parse_period
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock, add_months
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.reporting.exports import CONVERTERS, Field, defuse, html_safe
from billing.reporting.subscription_shapes import PriceShape, ShapePricing, overlapping
from models import Customer, Invoice, InvoiceKind, InvoiceState, ProjectKey, Subscription, db

BATCH = 2000


BILLING_DATA_FIELDS: tuple[Field, ...] = (
    Field("month", "code", description="booking month, YYYY-MM"),
    Field("customer_id", "int", description="customer id"),
    Field("company_name", "text", description="company name"),
    Field("service_mode", "code", description="managed | self_service"),
    Field("payment_method", "code", description="card | invoice | project_key | free"),
    Field("internal_ips", "int", description="internal IPs billed for the month"),
    Field("external_ips", "int", description="external IPs billed for the month"),
    Field("total_ips", "int", description="internal + external"),
    Field("net", "money", description="net amount of the month, decimal string"),
    Field("currency", "code", description="ISO 4217 code of the amount"),
    Field("category", "code", description="free | managed | self_service | project_key"),
    Field(
        "source",
        "code",
        description="invoice (its figures) | subscription (what the run would bill)",
    ),
    Field(
        "invoice_number",
        "text",
        description="the invoice's number; null without one or for a draft",
    ),
)


_FIELD_CONVERTERS = tuple(CONVERTERS[f.kind] for f in BILLING_DATA_FIELDS)


# what the run's drafting reads of a subscription and its project key, in field order
SUB_ROW_COLUMNS = tuple(getattr(Subscription, f.name) for f in fields(SubRow))


KEY_ROW_COLUMNS = tuple(getattr(ProjectKey, f.name) for f in fields(KeyRow))


def billing_month(text: str | None, clock: Clock) -> date:
    """The booking month ``YYYY-MM`` as its first day. DomainError for anything else or for a
    month that has not started yet."""
    period = parse_period(text)
    if period > clock.today():
        raise DomainError(
            _("There is no billing data for a month that has not started yet."), field="period"
        )
    return period


def default_billing_month(clock: Clock) -> date:
    """The month the download offers first: last month, the one the month-end run closed."""
    return add_months(clock.today(), -1)


def billing_data_rows(period: date, clock: Clock, currency: str = "EUR") -> Iterator[tuple]:
    """One row per customer billed for the month starting ``period`` (``BILLING_DATA_FIELDS``
    order): from the customer's invoice when there is one (any state but void), otherwise what
    the month-end run would draft from the subscriptions (free trials: net 0), customers in id
    order. Rows are read from one streamed query. DomainError for a month not yet started."""
    period = billing_month(f"{period:%Y-%m}", clock)
    last = month_end(period)
    tiers = load_tiers()
    invoice = aliased(Invoice)
    statement = (
        select(
            Customer.id,
            Customer.company_name,
            Customer.service_mode,
            invoice.id,
            invoice.number,
            invoice.payment_method,
            invoice.ips_internal,
            invoice.ips_external,
            invoice.net,
            invoice.category,
            *SUB_ROW_COLUMNS,
            *KEY_ROW_COLUMNS,
        )
        .outerjoin(
            invoice,
            and_(
                invoice.customer_id == Customer.id,
                invoice.period == period,
                invoice.kind == InvoiceKind.INVOICE.value,
                invoice.state != InvoiceState.VOID.value,
            ),
        )
        .outerjoin(
            Subscription,
            and_(
                Subscription.customer_id == Customer.id,
                invoice.id.is_(None),
                overlapping(period, last),
            ),
        )
        .outerjoin(ProjectKey, ProjectKey.id == Subscription.project_key_id)
        .where(or_(invoice.id.is_not(None), Subscription.id.is_not(None)))
        .order_by(Customer.id, Subscription.valid_from, Subscription.id)
        .execution_options(yield_per=BATCH)
    )
    rows = db.session.connection().execute(statement)
    return _billing_rows(rows, period, tiers, currency)


def _billing_rows(rows, period: date, tiers, currency: str) -> Iterator[tuple]:
    month, last = f"{period:%Y-%m}", month_end(period)
    pricing = ShapePricing(tiers, period)
    for customer_id, group in groupby(rows, key=lambda row: row[0]):
        group = list(group)
        first = group[0]
        company, service_mode = first[1], first[2]
        if first[3] is not None:
            number, payment, internal, external, net, category = first[4:10]
            source = "invoice"
        else:
            subs = [SubRow(*row[10:20]) for row in group]
            number, source = None, "subscription"
            sub = subs[-1]
            payment, internal, external = sub.payment_method, sub.internal_ips, sub.external_ips
            whole_month = sub.valid_from <= period and (
                sub.valid_until is None or sub.valid_until >= last
            )
            if len(subs) == 1 and whole_month:  # most customers: the shape's monthly price
                shape = PriceShape(
                    service_mode,
                    payment,
                    sub.price_basis,
                    sub.unit_price,
                    sub.total_ips,
                    *first[21:24],
                )
                category, net = pricing(shape)
            else:
                keys = {
                    sub.project_key_id: KeyRow(*row[20:24])
                    for sub, row in zip(subs, group, strict=True)
                    if sub.project_key_id is not None
                }
                draft = compute_draft(customer_id, service_mode, "en", subs, period, tiers, keys)
                net = ZERO if draft.skip else sum((line[3] for line in draft.lines), ZERO)
                category = draft.category
        yield (
            month,
            customer_id,
            company,
            service_mode,
            payment,
            internal,
            external,
            internal + external,
            net,
            currency,
            category,
            source,
            number,
        )


def _typed(row: tuple) -> list:
    return [
        None if value is None else convert(value)
        for convert, value in zip(_FIELD_CONVERTERS, row, strict=True)
    ]


def iter_billing_json(rows: Iterable[tuple]) -> Iterator[str]:
    """A JSON array of objects with the ``BILLING_DATA_FIELDS`` keys, produced in chunks."""
    keys = [f.key for f in BILLING_DATA_FIELDS]
    chunk: list[str] = []
    separator = "["
    for row in rows:
        chunk.append(
            separator
            + html_safe(json.dumps(dict(zip(keys, _typed(row), strict=True)), ensure_ascii=False))
        )
        separator = ",\n"
        if len(chunk) >= BATCH:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk) + ("]\n" if separator != "[" else "[]\n")


def iter_billing_csv(rows: Iterable[tuple]) -> Iterator[str]:
    """CSV with a header row; text cells are protected against formula injection."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([f.key for f in BILLING_DATA_FIELDS])
    for n, row in enumerate(rows, 1):
        writer.writerow(["" if v is None else defuse(v) for v in _typed(row)])
        if n % BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


BILLING_DATA_FORMATS = {
    "json": ("application/json", iter_billing_json),
    "csv": ("text/csv; charset=utf-8", iter_billing_csv),
}


@dataclass(frozen=True)
class BillingDataExport:
    filename: str
    mimetype: str
    chunks: Iterator[str]


def billing_data_export(
    month: str | None, export_format: str, actor: Actor, clock: Clock, currency: str = "EUR"
) -> BillingDataExport:
    """The billing data of ``month`` (``YYYY-MM``) as a streamed ``json`` or ``csv`` file.

    Records an audit event and commits it before the rows are read. DomainError for an unknown
    format, a malformed month or one that has not started yet.
    """
    if export_format not in BILLING_DATA_FORMATS:
        raise DomainError(_("Unknown export format."), field="format")
    period = billing_month(month, clock)
    audit.record(
        actor,
        "billing_data.export",
        clock,
        after={"month": f"{period:%Y-%m}", "format": export_format},
    )
    db.session.commit()
    mimetype, writer = BILLING_DATA_FORMATS[export_format]
    return BillingDataExport(
        filename=f"billing-data-{period:%Y-%m}.{export_format}",
        mimetype=mimetype,
        chunks=writer(billing_data_rows(period, clock, currency)),
    )
