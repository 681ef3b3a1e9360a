"""Subscriptions (with history) and the one pending scheduled change per customer."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import (
    Base,
    ChangeKind,
    ChangeState,
    PaymentMethodCode,
    PriceBasis,
    ServiceState,
    SubscriptionState,
    check_in,
)


class Subscription(Base):
    """One period of service for a customer; at most one per customer is ``active``."""

    __tablename__ = "subscription"
    __table_args__ = (
        CheckConstraint("internal_ips >= 0 AND external_ips >= 0", name="ips_non_negative"),
        CheckConstraint(check_in("state", SubscriptionState), name="state"),
        CheckConstraint(check_in("price_basis", PriceBasis), name="price_basis"),
        CheckConstraint(check_in("payment_method", PaymentMethodCode), name="payment_method"),
        Index(
            "uq_subscription_one_active",
            "customer_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_subscription_customer_from", "customer_id", "valid_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    internal_ips: Mapped[int] = mapped_column(Integer)
    external_ips: Mapped[int] = mapped_column(Integer)
    payment_method: Mapped[str] = mapped_column(String(20))
    price_basis: Mapped[str] = mapped_column(String(20), default=PriceBasis.TIERS.value)
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    project_key_id: Mapped[int | None] = mapped_column(ForeignKey("project_key.id"))
    valid_from: Mapped[date]
    valid_until: Mapped[date | None]
    state: Mapped[str] = mapped_column(String(16), default=SubscriptionState.ACTIVE.value)
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(back_populates="subscriptions")  # noqa: F821

    @property
    def total_ips(self) -> int:
        return self.internal_ips + self.external_ips

    def __str__(self) -> str:
        return f"{self.internal_ips}+{self.external_ips} IPs from {self.valid_from} ({self.state})"


class ScheduledChange(Base):
    """A pending change of IP counts, or a cancellation, effective on ``effective_date``."""

    __tablename__ = "scheduled_change"
    __table_args__ = (
        CheckConstraint(check_in("kind", ChangeKind), name="kind"),
        CheckConstraint(check_in("state", ChangeState), name="state"),
        CheckConstraint("internal_ips >= 0 AND external_ips >= 0", name="ips_non_negative"),
        Index(
            "uq_scheduled_change_one_pending",
            "customer_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_scheduled_change_due", "state", "effective_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    kind: Mapped[str] = mapped_column(String(16))
    internal_ips: Mapped[int] = mapped_column(Integer, default=0)
    external_ips: Mapped[int] = mapped_column(Integer, default=0)
    effective_date: Mapped[date]
    project_key_id: Mapped[int | None] = mapped_column(ForeignKey("project_key.id"))
    state: Mapped[str] = mapped_column(String(16), default=ChangeState.PENDING.value)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200), default="")

    def __str__(self) -> str:
        if self.kind == ChangeKind.CANCEL:
            return f"cancel on {self.effective_date}"
        return f"{self.internal_ips}+{self.external_ips} IPs on {self.effective_date}"


class ServiceSubscription(Base):
    """An additional, named subscription of a customer next to its main IP subscription
    (Sectigo's "several subscriptions per customer", SPEC §11): its own IP counts and term,
    auto-renewal, and suspension. The name is unique per customer among those not ended
    (case-insensitive; the expression index is written in the migration)."""

    __tablename__ = "service_subscription"
    __table_args__ = (
        CheckConstraint("internal_ips >= 0 AND external_ips >= 0", name="ips_non_negative"),
        CheckConstraint("internal_ips + external_ips >= 1", name="ips_total"),
        CheckConstraint("term_months IN (1, 12, 24, 36)", name="term_months"),
        CheckConstraint(check_in("state", ServiceState), name="state"),
        Index("ix_service_subscription_customer_id", "customer_id", "state"),
        Index("ix_service_subscription_state_term_end", "state", "term_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    name: Mapped[str] = mapped_column(String(100))
    internal_ips: Mapped[int] = mapped_column(Integer)
    external_ips: Mapped[int] = mapped_column(Integer)
    term_months: Mapped[int] = mapped_column(Integer)
    started_on: Mapped[date]
    # the last day of the current term; a renewal moves it on by one term
    term_end: Mapped[date]
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), default=ServiceState.ACTIVE.value)
    # the last day of service (billed up to and including it)
    ended_on: Mapped[date | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    suspensions: Mapped[list[ServiceSuspension]] = relationship(
        order_by="ServiceSuspension.suspended_from, ServiceSuspension.id",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def total_ips(self) -> int:
        return self.internal_ips + self.external_ips

    def __str__(self) -> str:
        return f"{self.name}: {self.internal_ips}+{self.external_ips} IPs ({self.state})"


class ServiceSuspension(Base):
    """One period in which an additional subscription was suspended (not billed, not usable),
    from ``suspended_from`` to ``suspended_until`` inclusive; open while it lasts."""

    __tablename__ = "service_suspension"
    __table_args__ = (Index("ix_service_suspension_subscription", "subscription_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("service_subscription.id", ondelete="CASCADE")
    )
    suspended_from: Mapped[date]
    suspended_until: Mapped[date | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(320), default="")

    def __str__(self) -> str:
        return f"suspended {self.suspended_from} – {self.suspended_until or '…'}"


Index(
    "uq_service_subscription_name",
    ServiceSubscription.customer_id,
    func.lower(ServiceSubscription.name),
    unique=True,
    sqlite_where=text("state <> 'ended'"),
    postgresql_where=text("state <> 'ended'"),
)
