"""The facts of a batch of customers that drafting their invoices for a month needs (SPEC §8.3),
read in bulk: a handful of queries for the whole batch, plain rows instead of ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from billing.invoicing.draft_lines import KeyRow, ServiceRow, SubRow, month_end
from models import (
    Customer,
    Invoice,
    InvoiceKind,
    ProjectKey,
    ServiceSubscription,
    ServiceSuspension,
    Subscription,
    db,
)
from models.bulk import among


@dataclass(frozen=True)
class Existing:
    """An invoice the customer has for the month already."""

    id: int
    state: str
    billing_run_id: int | None


def load_batch(customer_ids: list[int], period: date):
    """The facts of ``customer_ids`` drafting needs for the month starting ``period``, each
    read with one query for the whole batch: the customers' rows, their subscriptions in the
    month (customer → ``SubRow``s), the project keys of those (id → ``KeyRow``), the invoices
    of the month they have already (customer → ``Existing``) and their additional
    subscriptions (customer → ``ServiceRow``s)."""
    last = month_end(period)
    wanted = set(customer_ids)
    subs = _subscriptions(customer_ids, period, last)
    return (
        _customers(customer_ids, wanted),
        subs,
        _keys(subs),
        _existing_invoices(customer_ids, wanted, period),
        _services(customer_ids, wanted, period, last),
    )


def _customers(customer_ids: list[int], wanted: set[int]) -> list:
    rows = db.session.execute(
        db.select(
            Customer.id,
            Customer.service_mode,
            Customer.language,
            Customer.company_name,
            Customer.street,
            Customer.postal_code,
            Customer.city,
            Customer.country,
            Customer.vat_id,
            Customer.unit_price,
            Customer.payment_method,
        ).where(among(Customer.id, customer_ids))
    ).all()
    return [row for row in rows if row.id in wanted]


def _subscriptions(customer_ids: list[int], period: date, last: date) -> dict[int, list[SubRow]]:
    subs: dict[int, list[SubRow]] = {}
    for row in db.session.execute(
        db.select(
            Subscription.id,
            Subscription.customer_id,
            Subscription.internal_ips,
            Subscription.external_ips,
            Subscription.payment_method,
            Subscription.price_basis,
            Subscription.unit_price,
            Subscription.project_key_id,
            Subscription.valid_from,
            Subscription.valid_until,
        ).where(
            among(Subscription.customer_id, customer_ids),
            Subscription.valid_from <= last,
            (Subscription.valid_until.is_(None)) | (Subscription.valid_until >= period),
        )
    ):
        subs.setdefault(row.customer_id, []).append(SubRow(*row))
    return subs


def _keys(subs: dict[int, list[SubRow]]) -> dict[int, KeyRow]:
    key_ids = {s.project_key_id for rows in subs.values() for s in rows if s.project_key_id}
    if not key_ids:
        return {}
    return {
        row.id: KeyRow(*row[1:])
        for row in db.session.execute(
            db.select(
                ProjectKey.id,
                ProjectKey.key,
                ProjectKey.runtime_months,
                ProjectKey.purchase_price,
                ProjectKey.selling_price,
            ).where(ProjectKey.id.in_(key_ids))
        )
    }


def _existing_invoices(
    customer_ids: list[int], wanted: set[int], period: date
) -> dict[int, Existing]:
    return {
        row.customer_id: Existing(row.id, row.state, row.billing_run_id)
        for row in db.session.execute(
            db.select(Invoice.customer_id, Invoice.id, Invoice.state, Invoice.billing_run_id).where(
                among(Invoice.customer_id, customer_ids),
                Invoice.period == period,
                Invoice.kind == InvoiceKind.INVOICE.value,
            )
        )
        if row.customer_id in wanted
    }


def _services(
    customer_ids: list[int], wanted: set[int], period: date, last: date
) -> dict[int, list[ServiceRow]]:
    """The batch's additional subscriptions running in the month with the suspensions that
    touch it: one query for the whole batch."""
    service, pause = ServiceSubscription, ServiceSuspension
    rows = db.session.execute(
        db.select(
            service.id,
            service.customer_id,
            service.name,
            service.internal_ips,
            service.external_ips,
            service.started_on,
            service.ended_on,
            service.term_end,
            service.auto_renew,
            pause.suspended_from,
            pause.suspended_until,
        )
        .outerjoin(
            pause,
            (pause.subscription_id == service.id)
            & (pause.suspended_from <= last)
            & (pause.suspended_until.is_(None) | (pause.suspended_until >= period)),
        )
        .where(
            among(service.customer_id, customer_ids),
            service.started_on <= last,
            service.ended_on.is_(None) | (service.ended_on >= period),
        )
        .order_by(service.customer_id, service.name, service.id)
    ).all()
    found: dict[int, tuple[tuple, list]] = {}
    for row in rows:
        if row.customer_id not in wanted:
            continue
        facts, pauses = found.setdefault(row.id, (tuple(row[:9]), []))
        if row.suspended_from is not None:
            pauses.append((row.suspended_from, row.suspended_until))
    services: dict[int, list[ServiceRow]] = {}
    for facts, pauses in found.values():
        services.setdefault(facts[1], []).append(ServiceRow(*facts, suspensions=tuple(pauses)))
    return services
