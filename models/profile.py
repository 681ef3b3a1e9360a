"""A customer's profile beyond its address (Aquila BillOps, SPEC §11): contacts, customer groups
and purchase orders."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, StrEnum, check_in
from .customer import Customer, Tag


class AccountType(StrEnum):
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    PARTNER = "partner"


class ContactUserType(StrEnum):
    BILLING = "billing"
    TECHNICAL = "technical"
    MANAGEMENT = "management"
    OTHER = "other"


class PurchaseOrderStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    EXPIRED = "expired"
    IN_DISCUSSION = "in_discussion"


customer_group_members = Table(
    "customer_group_member",
    Base.metadata,
    Column("group_id", ForeignKey("customer_group.id", ondelete="CASCADE"), primary_key=True),
    Column("customer_id", ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_customer_group_member_customer_id", "customer_id", "group_id"),
)

customer_group_tags = Table(
    "customer_group_tag",
    Base.metadata,
    Column("group_id", ForeignKey("customer_group.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True),
)


class CustomerGroup(Base):
    """A named group of customers with free key=value attributes and tags."""

    __tablename__ = "customer_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    attributes: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime]

    tags: Mapped[list[Tag]] = relationship(
        secondary=customer_group_tags, order_by="Tag.name", lazy="select"
    )
    customers: Mapped[list[Customer]] = relationship(
        secondary=customer_group_members, order_by="Customer.company_name", lazy="select"
    )

    def __str__(self) -> str:
        return self.name


class Contact(Base):
    """A person at the customer; with ``billing_alerts`` it gets the invoice and payment
    e-mails too. ``user_id`` links the portal user created from it."""

    __tablename__ = "contact"
    __table_args__ = (
        CheckConstraint(check_in("user_type", ContactUserType), name="user_type"),
        Index("ix_contact_customer_id", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100), default="")
    designation: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str] = mapped_column(String(50), default="")
    mobile: Mapped[str] = mapped_column(String(50), default="")
    user_type: Mapped[str] = mapped_column(String(20), default=ContactUserType.BILLING.value)
    billing_alerts: Mapped[bool] = mapped_column(Boolean, default=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class PurchaseOrder(Base):
    """A customer's purchase order; an active one whose dates cover an invoice's month is
    named on that invoice."""

    __tablename__ = "purchase_order"
    __table_args__ = (
        CheckConstraint(check_in("status", PurchaseOrderStatus), name="status"),
        CheckConstraint(
            "annual_value >= 0 AND consumption_base_value >= 0", name="values_non_negative"
        ),
        Index("ix_purchase_order_customer_id", "customer_id", "status", "start_date"),
        Index("ix_purchase_order_expiry", "status", "expiry_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    annual_value: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    status: Mapped[str] = mapped_column(String(16), default=PurchaseOrderStatus.ACTIVE.value)
    provider_type: Mapped[str] = mapped_column(String(100), default="")
    start_date: Mapped[date]
    expiry_date: Mapped[date]
    renewal_date: Mapped[date | None]
    consumption_start_date: Mapped[date | None]
    consumption_base_value: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    contract_period_days: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    customer: Mapped[Customer] = relationship(lazy="select")

    def __str__(self) -> str:
        return self.name
