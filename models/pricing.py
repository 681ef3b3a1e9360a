"""Price tiers, project keys and payment methods."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, PaymentMethodCode, ProjectKeyState, check_in


class PriceTier(Base):
    """One IP range of the graduated sales price table; ``upper`` is None for the open range."""

    __tablename__ = "price_tier"
    __table_args__ = (
        CheckConstraint("lower_bound >= 1", name="lower_positive"),
        CheckConstraint("upper_bound IS NULL OR upper_bound >= lower_bound", name="range"),
        CheckConstraint("unit_price >= 0", name="price_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lower_bound: Mapped[int] = mapped_column(Integer, unique=True)
    upper_bound: Mapped[int | None] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 4))

    def __str__(self) -> str:
        upper = "∞" if self.upper_bound is None else self.upper_bound
        return f"{self.lower_bound}–{upper}: {self.unit_price}"


class ProjectKey(Base):
    """A key bought from the upstream vendor, redeemable once for one managed customer."""

    __tablename__ = "project_key"
    __table_args__ = (
        CheckConstraint("ip_count >= 1", name="ip_count_positive"),
        CheckConstraint("runtime_months >= 1", name="runtime_positive"),
        CheckConstraint(check_in("state", ProjectKeyState), name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    ip_count: Mapped[int] = mapped_column(Integer)
    runtime_months: Mapped[int] = mapped_column(Integer)
    purchase_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    selling_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    state: Mapped[str] = mapped_column(String(16), default=ProjectKeyState.AVAILABLE.value)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    redeemed_at: Mapped[datetime | None]
    expiry_notified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    def __str__(self) -> str:
        return self.key


class PaymentMethod(Base):
    """A billing type that can be activated or deactivated (seed §3.6)."""

    __tablename__ = "payment_method"
    __table_args__ = (CheckConstraint(check_in("code", PaymentMethodCode), name="code"),)

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    def __str__(self) -> str:
        return self.code
