"""Subscriptions (with history) and the one pending scheduled change per customer."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import (
    Base,
    ChangeKind,
    ChangeState,
    PaymentMethodCode,
    PriceBasis,
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
