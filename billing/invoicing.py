"""Invoices for a booking month (SPEC §8): drafting, VAT, gap-free numbering, payment state."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal

from models import (
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceState,
    Setting,
    Subscription,
    db,
)

from . import audit
from .audit import SYSTEM
from .clock import Clock, add_months
from .customers import subscription_price
from .errors import DomainError, NotFound
from .i18n import _
from .pricing import load_tiers, to_cents

EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
DOMESTIC_VAT = Decimal("19.00")
REVERSE_CHARGE_NOTE = "reverse_charge"
NON_EU_NOTE = "outside_eu"
NUMBER_KEY = "invoice.last_number"


def vat_treatment(
    customer: Customer, home_country: str = "DE", domestic_rate: Decimal = DOMESTIC_VAT
) -> tuple[Decimal, str]:
    """VAT rate and note code (SPEC §8.4): domestic rate at home, reverse charge for EU
    businesses with a VAT-ID, nothing outside the EU."""
    country = (customer.country or "").upper()
    if country == home_country:
        return domestic_rate, ""
    if country in EU_COUNTRIES:
        if customer.vat_id:
            return Decimal("0.00"), REVERSE_CHARGE_NOTE
        return domestic_rate, ""
    return Decimal("0.00"), NON_EU_NOTE


def month_end(period: date) -> date:
    return add_months(period, 1) - timedelta(days=1)


def _billable_subscriptions(customer_id: int, period: date) -> list[Subscription]:
    last = month_end(period)
    return list(
        db.session.scalars(
            db.select(Subscription)
            .where(
                Subscription.customer_id == customer_id,
                Subscription.valid_from <= last,
                (Subscription.valid_until.is_(None)) | (Subscription.valid_until >= period),
            )
            .order_by(Subscription.valid_from, Subscription.id)
        )
    )


def draft_invoice(
    customer_id: int, period: date, clock: Clock, home_country: str = "DE", tiers=None
) -> Invoice | None:
    """Create the draft invoice of ``customer_id`` for the month starting ``period``.

    Idempotent: an existing invoice for that month is returned unchanged. Returns None when
    nothing is billable. A subscription that covers part of the month is prorated by days.
    """
    period = period.replace(day=1)
    existing = db.session.scalar(
        db.select(Invoice).where(
            Invoice.customer_id == customer_id, Invoice.period == period, Invoice.kind == "invoice"
        )
    )
    if existing is not None:
        return existing
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(_("This customer does not exist."))
    subs = _billable_subscriptions(customer_id, period)
    if not subs:
        return None
    tiers = tiers if tiers is not None else load_tiers()
    days_in_month = calendar.monthrange(period.year, period.month)[1]
    last = month_end(period)
    invoice = Invoice(
        customer_id=customer_id,
        period=period,
        language=customer.language,
        billing_name=customer.company_name,
        billing_address="\n".join(
            p
            for p in (
                customer.street,
                f"{customer.postal_code} {customer.city}".strip(),
                customer.country,
            )
            if p
        ),
        created_at=clock.now(),
    )
    for position, sub in enumerate(subs):
        start = max(sub.valid_from, period)
        end = min(sub.valid_until or last, last)
        days = (end - start).days + 1
        if days <= 0:
            continue
        price = subscription_price(sub, tiers)
        if days >= days_in_month:
            amount = price
            description = (
                f"{sub.internal_ips} internal + {sub.external_ips} external IPs, {period:%m/%Y}"
            )
        else:
            amount = to_cents(price * Decimal(days) / Decimal(days_in_month))
            description = (
                f"{sub.internal_ips} internal + {sub.external_ips} external IPs, "
                f"{start:%d.%m.}–{end:%d.%m.%Y} ({days}/{days_in_month} days)"
            )
        invoice.lines.append(
            InvoiceLine(
                position=position,
                description=description,
                quantity=sub.total_ips,
                unit_price=(price / sub.total_ips) if sub.total_ips else Decimal("0"),
                amount=amount,
            )
        )
    rate, note = vat_treatment(customer, home_country)
    invoice.net = sum((line.amount for line in invoice.lines), Decimal("0.00"))
    invoice.vat_rate = rate
    invoice.vat = to_cents(invoice.net * rate / Decimal(100))
    invoice.gross = invoice.net + invoice.vat
    invoice.vat_note = note
    db.session.add(invoice)
    db.session.flush()
    audit.record(
        SYSTEM,
        "invoice.draft",
        clock,
        customer_id=customer_id,
        after={"period": period.isoformat(), "net": str(invoice.net)},
    )
    db.session.commit()
    return invoice


def _next_number(clock: Clock) -> int:
    row = db.session.scalar(db.select(Setting).where(Setting.key == NUMBER_KEY).with_for_update())
    if row is None:
        row = Setting(key=NUMBER_KEY, value="0", updated_at=clock.now())
        db.session.add(row)
    number = int(row.value) + 1
    row.value = str(number)
    row.updated_at = clock.now()
    return number


def finalize_invoice(invoice_id: int, clock: Clock) -> Invoice:
    """Give a draft its gap-free number and freeze it."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(_("This invoice does not exist."))
    if invoice.state != InvoiceState.DRAFT.value:
        raise DomainError(_("Only draft invoices can be finalized."))
    number = _next_number(clock)
    invoice.number = f"{clock.today().year}-{number:06d}"
    invoice.state = InvoiceState.FINALIZED.value
    invoice.finalized_at = clock.now()
    audit.record(
        SYSTEM,
        "invoice.finalize",
        clock,
        customer_id=invoice.customer_id,
        after={"number": invoice.number, "gross": str(invoice.gross)},
    )
    db.session.commit()
    return invoice


def mark_paid(invoice_id: int, actor, clock: Clock) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(_("This invoice does not exist."))
    if invoice.state not in (InvoiceState.FINALIZED.value, InvoiceState.PAYMENT_FAILED.value):
        raise DomainError(_("Only finalized invoices can be marked paid."))
    invoice.state = InvoiceState.PAID.value
    invoice.paid_at = clock.now()
    audit.record(
        actor,
        "invoice.paid",
        clock,
        customer_id=invoice.customer_id,
        after={"number": invoice.number},
    )
    db.session.commit()
    return invoice
