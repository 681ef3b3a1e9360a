"""Project keys (seed 3.2.6, SPEC §2/§4): keys bought from the upstream vendor, redeemed once
for one managed customer at a selling price (the total for the whole runtime).

The key's subscription follows the IP Distribution timing rules: it starts today when the
customer has no subscription, when the count stays the same, or when it rises and "Perform
action instantly" is ticked; otherwise it starts on the 1st of next month (a scheduled change
that carries the key). It ends after the runtime; staff are e-mailed 30 days before.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from billing.catalog.pricing import to_cents
from billing.customers.lookup import (
    check_version,
    current_subscription,
    get_customer,
    lock_customer,
    pending_change,
)
from billing.customers.summary import audit_snapshot, commit_change
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock, add_months, shift_months
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.kernel.locking import releasing_locks
from models import (
    ChangeKind,
    ChangeState,
    PaymentMethodCode,
    PriceBasis,
    ProjectKey,
    ProjectKeyState,
    ScheduledChange,
    ServiceMode,
    Subscription,
    SubscriptionState,
    db,
)

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$")
NOTICE_DAYS = 30


# the largest amount the price columns hold (12 digits, 2 of them decimals)
MAX_AMOUNT = Decimal("10000000000")


def _decimal(value, field: str, message: str) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise DomainError(message, field=field) from None
    if (
        not number.is_finite()
        or number < 0
        or number >= MAX_AMOUNT
        or number.as_tuple().exponent < -2
    ):
        raise DomainError(message, field=field)
    return number


def _int(value, field: str, low: int, high: int, message: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise DomainError(message, field=field) from None
    if not low <= number <= high:
        raise DomainError(message, field=field)
    return number


def normalise_key(key: str) -> str:
    return (key or "").strip().upper()


def create_key(
    key, ip_count, runtime_months, purchase_price, actor: Actor, clock: Clock, commit: bool = True
) -> ProjectKey:
    """Register a purchased key. DomainError (with field) on bad or duplicate input."""
    key = normalise_key(key)
    if not KEY_PATTERN.match(key):
        raise DomainError(
            _("A key has 4 to 64 letters, digits, dashes or underscores."), field="key"
        )
    ips = _int(
        ip_count,
        "ip_count",
        1,
        1_000_000,
        _("The IP count must be a whole number from 1 to 1,000,000."),
    )
    months = _int(
        runtime_months,
        "runtime_months",
        1,
        120,
        _("The runtime must be a whole number of months from 1 to 120."),
    )
    price = _decimal(
        purchase_price,
        "purchase_price",
        _("Please enter the purchase price as an amount such as 1800.00."),
    )
    if db.session.scalar(db.select(ProjectKey.id).where(ProjectKey.key == key)):
        raise DomainError(_("The key %(key)s exists already.", key=key), field="key")
    row = ProjectKey(
        key=key, ip_count=ips, runtime_months=months, purchase_price=price, created_at=clock.now()
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        actor,
        "project_key.create",
        clock,
        after={"key": key, "ip_count": ips, "runtime_months": months, "purchase_price": str(price)},
    )
    if commit:
        db.session.commit()
    return row


def import_keys(text: str, actor: Actor, clock: Clock) -> int:
    """Import CSV lines ``key,ip_count,runtime_months,purchase_price`` (a header line is
    allowed). All or nothing: any bad line refuses the whole import and names the lines."""
    try:
        rows = list(csv.reader(io.StringIO(text or "", newline="")))
    except csv.Error:
        raise DomainError(_("The file is not a CSV file with one key per line.")) from None
    if rows and rows[0] and rows[0][0].strip().lower() == "key":
        rows = rows[1:]
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise DomainError(_("The file contains no keys."))
    if len(rows) > 10_000:
        raise DomainError(_("At most 10,000 keys per import."))
    problems, seen = [], set()
    for number, row in enumerate(rows, 1):
        if len(row) != 4:
            problems.append(_("line %(n)d: expected 4 columns", n=number))
            continue
        if normalise_key(row[0]) in seen:
            problems.append(_("line %(n)d: the key appears twice", n=number))
            continue
        seen.add(normalise_key(row[0]))
        try:
            create_key(*row, actor=actor, clock=clock, commit=False)
        except DomainError as error:
            problems.append(_("line %(n)d: %(error)s", n=number, error=error.message))
    if problems:
        db.session.rollback()
        shown = "; ".join(problems[:10]) + (" …" if len(problems) > 10 else "")
        raise DomainError(_("Nothing was imported. %(problems)s", problems=shown))
    db.session.commit()
    return len(rows)


def find_redeemable(key: str) -> ProjectKey:
    """An available key; unknown, used and expired keys are refused with a clear message."""
    row = db.session.scalar(db.select(ProjectKey).where(ProjectKey.key == normalise_key(key)))
    if row is None:
        raise DomainError(_("This project key is unknown."), field="key")
    if row.state == ProjectKeyState.REDEEMED.value:
        raise DomainError(_("This project key has already been used."), field="key")
    if row.state == ProjectKeyState.EXPIRED.value:
        raise DomainError(_("This project key has expired."), field="key")
    return row


def parse_selling_price(value) -> Decimal:
    return _decimal(
        value, "selling_price", _("Please enter the selling price as an amount such as 2880.00.")
    )


def key_monthly_price(selling_price: Decimal, runtime_months: int) -> Decimal:
    return to_cents(Decimal(selling_price) / runtime_months)


@dataclass(frozen=True)
class Redemption:
    key: str
    ip_count: int
    runtime_months: int
    purchase_price: Decimal
    selling_price: Decimal
    monthly_price: Decimal
    starts: date
    ends: date
    immediate: bool
    increase: bool
    replaces_pending: bool


def plan_redemption(
    customer_id: int,
    key: str,
    selling_price,
    internal_ips,
    external_ips,
    instantly: bool,
    clock: Clock,
) -> Redemption:
    """Check a redemption and say what it would do, without changing anything."""
    customer = get_customer(customer_id)
    if customer.service_mode != ServiceMode.MANAGED.value:
        raise DomainError(_("Project keys are for managed customers only."))
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is marked for deletion."))
    row = find_redeemable(key)
    price = parse_selling_price(selling_price)
    internal = _int(
        internal_ips,
        "internal_ips",
        0,
        row.ip_count,
        _("Please split the key's %(n)d IPs into internal and external.", n=row.ip_count),
    )
    external = _int(
        external_ips,
        "external_ips",
        0,
        row.ip_count,
        _("Please split the key's %(n)d IPs into internal and external.", n=row.ip_count),
    )
    if internal + external != row.ip_count:
        raise DomainError(
            _("Internal and external IPs must add up to the key's %(n)d IPs.", n=row.ip_count),
            field="external_ips",
        )
    current = current_subscription(customer_id)
    increase = current is not None and row.ip_count > current.total_ips
    same = current is not None and row.ip_count == current.total_ips
    immediate = current is None or same or (increase and instantly)
    today = clock.today()
    starts = today if immediate else add_months(today, 1)
    return Redemption(
        key=row.key,
        ip_count=row.ip_count,
        runtime_months=row.runtime_months,
        purchase_price=row.purchase_price,
        selling_price=price,
        monthly_price=key_monthly_price(price, row.runtime_months),
        starts=starts,
        ends=shift_months(starts, row.runtime_months) - timedelta(days=1),
        immediate=immediate,
        increase=increase,
        replaces_pending=not immediate and pending_change(customer_id) is not None,
    )


@releasing_locks
def redeem(
    customer_id: int,
    key: str,
    selling_price,
    internal_ips,
    external_ips,
    instantly: bool,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> Redemption:
    """Redeem ``key`` for a managed customer; the payment method becomes Project Key.

    The key is claimed by one conditional update, and the customer is locked from the version
    check to the commit: of simultaneous redemptions (the Finish button pressed twice, or two
    keys at once) one is made, the others are refused with a clear message."""
    customer = lock_customer(customer_id)
    check_version(customer, expected_version)
    plan = plan_redemption(
        customer_id, key, selling_price, internal_ips, external_ips, instantly, clock
    )
    row = find_redeemable(key)
    _claim_key(row, customer_id, plan.selling_price, clock)
    internal, external = int(internal_ips), int(external_ips)
    before = audit_snapshot(customer)
    old = pending_change(customer_id)
    if old is not None:
        old.state = (
            ChangeState.REPLACED.value if not plan.immediate else ChangeState.WITHDRAWN.value
        )
        db.session.flush()
    if plan.immediate:
        start_key_subscription(customer_id, row.id, internal, external, plan.starts, clock)
    else:
        db.session.add(
            ScheduledChange(
                customer_id=customer_id,
                kind=ChangeKind.CHANGE.value,
                internal_ips=internal,
                external_ips=external,
                effective_date=plan.starts,
                project_key_id=row.id,
                created_at=clock.now(),
                created_by=actor.label,
            )
        )
    details = {
        "key": plan.key,
        "selling_price": str(plan.selling_price),
        "starts": plan.starts.isoformat(),
        "ends": plan.ends.isoformat(),
    }
    commit_change(customer, actor, "project_key.redeem", clock, before, details)
    return plan


def _claim_key(row: ProjectKey, customer_id: int, selling_price, clock: Clock) -> None:
    """Mark the key redeemed for the customer with one conditional update, so of two
    simultaneous redemptions one claims it; DomainError for the other."""
    claimed = db.session.execute(
        db.update(ProjectKey)
        .where(ProjectKey.id == row.id, ProjectKey.state == ProjectKeyState.AVAILABLE.value)
        .values(
            state=ProjectKeyState.REDEEMED.value,
            customer_id=customer_id,
            selling_price=selling_price,
            redeemed_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        raise DomainError(_("This project key has already been used."), field="key")
    db.session.expire(row)


def start_key_subscription(
    customer_id: int, key_id: int, internal: int, external: int, starts: date, clock: Clock
) -> Subscription:
    """Start the subscription a redeemed key pays for on ``starts``, for the key's runtime,
    ending the current subscription the day before. Adds to the caller's transaction (a
    redemption, or a scheduled change that brings the key)."""
    row = db.session.get(ProjectKey, key_id)
    current = current_subscription(customer_id)
    if current is not None:
        current.state = SubscriptionState.EXPIRED.value
        current.valid_until = starts - timedelta(days=1)
        db.session.flush()
    sub = Subscription(
        customer_id=customer_id,
        internal_ips=internal,
        external_ips=external,
        payment_method=PaymentMethodCode.PROJECT_KEY.value,
        price_basis=PriceBasis.PROJECT_KEY.value,
        project_key_id=key_id,
        valid_from=starts,
        valid_until=shift_months(starts, row.runtime_months) - timedelta(days=1),
        created_at=clock.now(),
    )
    db.session.add(sub)
    db.session.flush()
    return sub


def expiring_keys(clock: Clock, days: int = NOTICE_DAYS) -> list[Subscription]:
    """Active key subscriptions ending within ``days`` whose staff notice is not yet sent."""
    limit = clock.today() + timedelta(days=days)
    return list(
        db.session.scalars(
            db.select(Subscription)
            .join(ProjectKey, ProjectKey.id == Subscription.project_key_id)
            .where(
                Subscription.state == SubscriptionState.ACTIVE.value,
                Subscription.price_basis == PriceBasis.PROJECT_KEY.value,
                Subscription.valid_until.is_not(None),
                Subscription.valid_until <= limit,
                ProjectKey.expiry_notified_at.is_(None),
            )
            .order_by(Subscription.valid_until)
        )
    )


def expiry_notices(staff_recipients: list[tuple[str, str, str]], clock: Clock) -> list:
    """Compose the "project key expiring" e-mail once per key (idempotent) to each of
    ``staff_recipients``: (address, language, name) of the staff members."""
    from billing.kernel.mail import compose

    messages = []
    for sub in expiring_keys(clock):
        row = db.session.get(ProjectKey, sub.project_key_id)
        customer = get_customer(sub.customer_id)
        for address, language, name in staff_recipients:
            messages.append(
                compose(
                    "project_key_expiring",
                    address,
                    language,
                    clock,
                    customer_id=customer.id,
                    company=customer.company_name,
                    key=row.key,
                    ends=sub.valid_until,
                    ips=sub.total_ips,
                    name=name,
                )
            )
        row.expiry_notified_at = clock.now()
        db.session.commit()
    return messages
