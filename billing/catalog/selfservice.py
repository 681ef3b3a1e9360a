"""Self-Service settings (seed 3.5): self-registration, article name and number, sales prices.

Changing the tier table never rewrites past invoices (they store their amounts); the list
summary of every customer priced by the tiers is recomputed at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import func

from billing.catalog.pricing import Tier, average_ip_price, load_tiers, monthly_price, replace_tiers
from billing.kernel import audit
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.kernel.settings import get_setting, store_settings
from models import (
    Customer,
    PriceBasis,
    ServiceState,
    ServiceSubscription,
    Subscription,
    SubscriptionState,
    db,
)

KEY = "self_service."


@dataclass
class SelfServiceSettings:
    registration_enabled: bool = False
    article_name: str = "IP address scanning"
    article_number: str = "IP-SCAN-1"
    # the article's name for German readers; empty: ``article_name`` for everyone
    article_name_de: str = ""

    def article_name_in(self, language: str) -> str:
        """The article's name for a reader of ``language``."""
        if language == "de" and self.article_name_de:
            return self.article_name_de
        return self.article_name


# the German name of the default article, until the MSP names the article itself
DEFAULT_ARTICLE_NAME_DE = "IP-Adressen-Scan"


def load_self_service() -> SelfServiceSettings:
    defaults = SelfServiceSettings()
    name = get_setting(KEY + "article_name", None)
    return SelfServiceSettings(
        registration_enabled=get_setting(KEY + "registration_enabled", "0") == "1",
        article_name=name if name is not None else defaults.article_name,
        article_number=get_setting(KEY + "article_number", defaults.article_number),
        article_name_de=get_setting(
            KEY + "article_name_de", DEFAULT_ARTICLE_NAME_DE if name is None else ""
        ),
    )


def save_self_service(
    registration_enabled: bool,
    article_name: str,
    article_number: str,
    actor,
    clock: Clock,
    *,
    article_name_de: str = "",
) -> SelfServiceSettings:
    """Store the switches and article data (audited); ``article_name_de`` is the name German
    readers see (optional)."""

    name = (article_name or "").strip()
    name_de = (article_name_de or "").strip()
    number = (article_number or "").strip()
    if not name:
        raise DomainError(_("Please enter the article name."), field="article_name")
    if not number:
        raise DomainError(_("Please enter the article number."), field="article_number")
    if len(name) > 200 or len(number) > 64:
        raise DomainError(_("The article name or number is too long."), field="article_name")
    if len(name_de) > 200:
        raise DomainError(_("The article name or number is too long."), field="article_name_de")
    before = load_self_service()
    values = {
        "registration_enabled": "1" if registration_enabled else "0",
        "article_name": name,
        "article_number": number,
        "article_name_de": name_de,
    }
    store_settings({KEY + key: value for key, value in values.items()}, clock)
    audit.record(actor, "settings.self_service", clock, before=before.__dict__, after=values)
    db.session.commit()
    return load_self_service()


def parse_tiers(rows: Sequence[tuple[str, str, str]]) -> list[Tier]:
    """Form rows (lower, upper, price) → tiers; blank rows are skipped, an empty upper means
    open-ended. DomainError on non-numeric input."""
    tiers = []
    for number, (lower, upper, price) in enumerate(rows, 1):
        if not any((str(lower).strip(), str(upper).strip(), str(price).strip())):
            continue
        try:
            low = int(str(lower).strip())
            high = int(str(upper).strip()) if str(upper).strip() else None
            unit = Decimal(str(price).strip().replace(",", "."))
        except (ValueError, InvalidOperation):
            raise DomainError(
                _("Row %(n)d: please enter whole numbers for the range and a price.", n=number)
            ) from None
        if not unit.is_finite() or unit.as_tuple().exponent < -4:
            raise DomainError(_("Row %(n)d: at most four decimal places.", n=number))
        tiers.append(Tier(low, high, unit))
    return tiers


def _tier_priced_totals():
    """(total IPs, number of customers) of active customers priced by the tier table."""
    total = Customer.internal_ips + Customer.external_ips
    return db.session.execute(
        db.select(total, func.count())
        .join(Subscription, Subscription.customer_id == Customer.id)
        .where(
            Subscription.state == SubscriptionState.ACTIVE.value,
            Subscription.price_basis == PriceBasis.TIERS.value,
        )
        .group_by(total)
        .order_by(total)
    ).all()


@dataclass(frozen=True)
class PriceChange:
    total_ips: int
    customers: int
    old_price: Decimal
    new_price: Decimal

    @property
    def difference(self) -> Decimal:
        return self.new_price - self.old_price


def preview_tiers(new_tiers: Sequence[Tier]) -> list[PriceChange]:
    """What current tier-priced customers would pay under ``new_tiers``, per IP count."""
    from billing.catalog.pricing import validate_tiers

    ordered = validate_tiers(new_tiers)
    old = load_tiers()
    return [
        PriceChange(n, count, monthly_price(n, old), monthly_price(n, ordered))
        for n, count in _tier_priced_totals()
    ]


def save_tiers(new_tiers: Sequence[Tier], actor, clock: Clock) -> int:
    """Store a new tier table and reprice the list summary of tier-priced customers.

    Returns how many customers' monthly price changed.
    """
    ordered = replace_tiers(new_tiers, actor, clock)
    changed = 0
    tier_priced = (
        db.select(Subscription.customer_id)
        .where(
            Subscription.state == SubscriptionState.ACTIVE.value,
            Subscription.price_basis == PriceBasis.TIERS.value,
        )
        .scalar_subquery()
    )
    # the list columns of a customer with active additional subscriptions add those up, so
    # such customers are repriced one by one below instead of by their total
    with_services = (
        db.select(ServiceSubscription.customer_id)
        .where(ServiceSubscription.state == ServiceState.ACTIVE.value)
        .scalar_subquery()
    )
    for n, _customers in _tier_priced_totals():
        price = monthly_price(n, ordered)
        result = db.session.execute(
            db.update(Customer)
            .where(
                Customer.id.in_(tier_priced),
                Customer.id.not_in(with_services),
                Customer.internal_ips + Customer.external_ips == n,
                Customer.monthly_price != price,
            )
            .values(
                monthly_price=price,
                average_ip_price=average_ip_price(price, n),
                version=Customer.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        changed += result.rowcount or 0
    from billing.customers.summary import refresh_summary

    for customer in db.session.scalars(db.select(Customer).where(Customer.id.in_(with_services))):
        before = customer.monthly_price
        refresh_summary(customer, ordered)
        changed += int(customer.monthly_price != before)
    db.session.commit()
    return changed
