"""Purchase orders (Aquila BillOps, SPEC §11): a customer's POs with their values and dates;
the active PO covering an invoice's month is named on the invoice, and POs expiring soon are
listed on the dashboard."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from babel.numbers import list_currencies

from billing.customers.lookup import get_customer
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _, amount_from_text
from models import Customer, PurchaseOrder, PurchaseOrderStatus, db
from models.bulk import among

MAX_VALUE = Decimal("999999999999.99")
MAX_PERIOD_DAYS = 36500
EXPIRING_DAYS = 30


@dataclass
class PurchaseOrderInput:
    """Form values as text; ``validate_purchase_order`` turns them into typed values."""

    name: str = ""
    annual_value: str = ""
    status: str = PurchaseOrderStatus.ACTIVE.value
    provider_type: str = ""
    start_date: str = ""
    expiry_date: str = ""
    renewal_date: str = ""
    consumption_start_date: str = ""
    consumption_base_value: str = ""
    contract_period_days: str = ""
    currency: str = "EUR"
    comment: str = ""


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def input_of(order: PurchaseOrder) -> PurchaseOrderInput:
    return PurchaseOrderInput(
        **{f.name: _text(getattr(order, f.name)) for f in fields(PurchaseOrderInput)}
    )


def _money(value: str, field: str, required: bool) -> Decimal:
    text = (value or "").strip().replace(" ", "")
    if not text:
        if required:
            raise DomainError(_("Please enter an amount such as 1250000.00."), field=field)
        return Decimal("0.00")
    try:
        amount = amount_from_text(text)
    except InvalidOperation:
        raise DomainError(_("Please enter an amount such as 1250000.00."), field=field) from None
    if not amount.is_finite() or amount < 0:
        raise DomainError(_("The amount must be 0 or more."), field=field)
    if amount > MAX_VALUE or amount != amount.quantize(Decimal("0.01")):
        raise DomainError(_("Please enter an amount such as 1250000.00."), field=field)
    return amount.quantize(Decimal("0.01"))


def _date(value, field: str, required: bool) -> date | None:
    if isinstance(value, date):
        return value
    text = (value or "").strip()
    if not text:
        if required:
            raise DomainError(_("Please enter a date."), field=field)
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DomainError(_("Please enter a date as YYYY-MM-DD."), field=field) from None


def validate_purchase_order(data: PurchaseOrderInput) -> dict:
    """Typed, checked values; DomainError with the field of the first problem: name required,
    values 0 or more, a known status and currency, the expiry after the start, consumption not
    starting before the start, a contract period of 1 day or more."""
    name = (data.name or "").strip()
    if not name:
        raise DomainError(_("Please enter the name."), field="name")
    if len(name) > 200:
        raise DomainError(_("At most %(n)d characters.", n=200), field="name")
    clean: dict = {"name": name}
    clean["annual_value"] = _money(data.annual_value, "annual_value", True)
    if data.status not in PurchaseOrderStatus.codes():
        raise DomainError(_("Please choose a status."), field="status")
    clean["status"] = data.status
    provider = (data.provider_type or "").strip()
    if len(provider) > 100:
        raise DomainError(_("At most %(n)d characters.", n=100), field="provider_type")
    clean["provider_type"] = provider
    start = _date(data.start_date, "start_date", True)
    expiry = _date(data.expiry_date, "expiry_date", True)
    if expiry <= start:
        raise DomainError(_("The expiry date must be after the start date."), field="expiry_date")
    renewal = _date(data.renewal_date, "renewal_date", False)
    consumption = _date(data.consumption_start_date, "consumption_start_date", False)
    if consumption is not None and consumption < start:
        raise DomainError(
            _("Consumption cannot start before the start date."), field="consumption_start_date"
        )
    clean.update(
        start_date=start,
        expiry_date=expiry,
        renewal_date=renewal,
        consumption_start_date=consumption,
    )
    clean["consumption_base_value"] = _money(
        data.consumption_base_value, "consumption_base_value", False
    )
    period = (data.contract_period_days or "").strip()
    if period:
        if not period.isdigit() or not 1 <= int(period) <= MAX_PERIOD_DAYS:
            raise DomainError(
                _("Please enter a number of days from 1 to %(n)d.", n=MAX_PERIOD_DAYS),
                field="contract_period_days",
            )
        clean["contract_period_days"] = int(period)
    else:
        clean["contract_period_days"] = None
    currency = (data.currency or "").strip().upper()
    if currency not in list_currencies():
        raise DomainError(_("Please choose a currency."), field="currency")
    clean["currency"] = currency
    comment = (data.comment or "").strip()
    if len(comment) > 2000:
        raise DomainError(_("At most %(n)d characters.", n=2000), field="comment")
    clean["comment"] = comment
    return clean


def _audit_values(values: dict) -> dict:
    return {k: _text(v) if v is not None else None for k, v in values.items()}


def purchase_orders(customer_id: int) -> list[PurchaseOrder]:
    return db.session.scalars(
        db.select(PurchaseOrder)
        .where(PurchaseOrder.customer_id == customer_id)
        .order_by(PurchaseOrder.start_date.desc(), PurchaseOrder.id.desc())
    ).all()


def get_purchase_order(customer_id: int, order_id: int) -> PurchaseOrder:
    """A PO of this customer; NotFound for an unknown id or one of another customer."""
    order = db.session.get(PurchaseOrder, order_id)
    if order is None or order.customer_id != customer_id:
        raise NotFound(_("This purchase order does not exist."))
    return order


def save_purchase_order(
    customer_id: int,
    order_id: int | None,
    data: PurchaseOrderInput,
    actor: Actor,
    clock: Clock,
) -> PurchaseOrder:
    """Add (``order_id`` None) or change a purchase order; audited as ``purchase_order.add`` /
    ``purchase_order.edit``. DomainError with the field for bad input; nothing changes then."""
    customer: Customer = get_customer(customer_id)
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is marked for deletion."))
    order = get_purchase_order(customer_id, order_id) if order_id is not None else None
    clean = validate_purchase_order(data)
    now = clock.now()
    if order is None:
        order = PurchaseOrder(customer_id=customer_id, created_at=now, updated_at=now, **clean)
        db.session.add(order)
        db.session.flush()
        audit.record(
            actor,
            "purchase_order.add",
            clock,
            customer_id=customer_id,
            after={"id": order.id, **_audit_values(clean)},
        )
    else:
        before = {k: getattr(order, k) for k in clean}
        changed = {k: v for k, v in clean.items() if before[k] != v}
        for name, value in clean.items():
            setattr(order, name, value)
        order.updated_at = now
        audit.record(
            actor,
            "purchase_order.edit",
            clock,
            customer_id=customer_id,
            before={"id": order.id, **_audit_values({k: before[k] for k in changed})},
            after={"id": order.id, **_audit_values(changed)},
        )
    db.session.commit()
    return order


def covering_orders(customer_ids: list[int], period: date) -> dict[int, int]:
    """For each customer, the active PO covering the month starting ``period`` (start ≤ period ≤
    expiry); the latest-starting one when several do. One query for the whole batch (it may
    also answer for customers near the given ids)."""
    rows = db.session.execute(
        db.select(PurchaseOrder.customer_id, PurchaseOrder.id)
        .where(
            among(PurchaseOrder.customer_id, customer_ids),
            PurchaseOrder.status == PurchaseOrderStatus.ACTIVE.value,
            PurchaseOrder.start_date <= period,
            PurchaseOrder.expiry_date >= period,
        )
        .order_by(PurchaseOrder.start_date, PurchaseOrder.id)
    ).all()
    return {customer_id: order_id for customer_id, order_id in rows}


@dataclass(frozen=True)
class ExpiringOrder:
    id: int
    customer_id: int
    company_name: str
    name: str
    expiry_date: date
    annual_value: Decimal
    currency: str


def expiring_orders(clock: Clock, days: int = EXPIRING_DAYS) -> list[ExpiringOrder]:
    """Active POs whose expiry date is today or within the next ``days`` days, soonest first."""
    today = clock.today()
    rows = db.session.execute(
        db.select(
            PurchaseOrder.id,
            PurchaseOrder.customer_id,
            Customer.company_name,
            PurchaseOrder.name,
            PurchaseOrder.expiry_date,
            PurchaseOrder.annual_value,
            PurchaseOrder.currency,
        )
        .join(Customer, Customer.id == PurchaseOrder.customer_id)
        .where(
            PurchaseOrder.status == PurchaseOrderStatus.ACTIVE.value,
            PurchaseOrder.expiry_date >= today,
            PurchaseOrder.expiry_date <= today + timedelta(days=days),
            Customer.marked_for_deletion_at.is_(None),
        )
        .order_by(PurchaseOrder.expiry_date, PurchaseOrder.id)
    ).all()
    return [ExpiringOrder(*row) for row in rows]
