"""The customer aggregate: company, addresses, partner, tags and the list summary columns."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import (
    Base,
    CustomerStatus,
    Language,
    PaymentMethodCode,
    ServiceMode,
    check_in,
)

SEARCH_TEXT_SQL = (
    "lower(company_name || ' ' || contact_name || ' ' || contact_email || ' ' || vat_id)"
)

customer_tags = Table(
    "customer_tag",
    Base.metadata,
    Column("customer_id", ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_customer_tag_tag_id", "tag_id", "customer_id"),
)


class Partner(Base):
    """A reseller that owns customers."""

    __tablename__ = "partner"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    def __str__(self) -> str:
        return self.name


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)

    def __str__(self) -> str:
        return self.name


class Customer(Base):
    """A business customer of the MSP.

    ``status``, ``internal_ips``, ``external_ips``, ``payment_method``, ``monthly_price``,
    ``average_ip_price`` and ``has_pending_change`` summarise the current subscription and users
    for the list view; only ``billing.customers.summary.refresh_summary`` writes them.
    """

    __tablename__ = "customer"
    __table_args__ = (
        CheckConstraint(check_in("service_mode", ServiceMode), name="service_mode"),
        CheckConstraint(check_in("status", CustomerStatus), name="status"),
        CheckConstraint(check_in("language", Language), name="language"),
        CheckConstraint(
            "payment_method IS NULL OR " + check_in("payment_method", PaymentMethodCode),
            name="payment_method",
        ),
        CheckConstraint("internal_ips >= 0 AND external_ips >= 0", name="ips_non_negative"),
        # The list's sort order; holding search_text lets a frequent search term walk it alone,
        # holding erased_at lets the list leave out erased customers from the index alone.
        Index("ix_customer_list_name", "company_name", "id", "search_text", "erased_at"),
        # the erased customers (few), for the list's "Erased" filter
        Index(
            "ix_customer_erased_name",
            "company_name",
            "id",
            "search_text",
            "erased_at",
            postgresql_where=text("erased_at IS NOT NULL"),
            sqlite_where=text("erased_at IS NOT NULL"),
        ),
        # the dashboard's customers by status, erased ones left out
        Index("ix_customer_status_erased", "status", "erased_at"),
        Index("ix_customer_status_mode_name", "status", "service_mode", "company_name", "id"),
        Index("ix_customer_mode_name", "service_mode", "company_name", "id"),
        Index("ix_customer_payment_name", "payment_method", "company_name", "id"),
        Index("ix_customer_contact_email", "contact_email"),
        Index("ix_customer_internal_ips", "internal_ips", "id"),
        Index("ix_customer_external_ips", "external_ips", "id"),
        Index("ix_customer_average_ip_price", "average_ip_price", "id"),
        Index("ix_customer_partner_name", "partner_id", "company_name", "id"),
        Index("ix_customer_country_name", "country", "company_name", "id"),
        Index("ix_customer_pending_name", "has_pending_change", "company_name", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(320))
    street: Mapped[str] = mapped_column(String(200), default="")
    street2: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="DE")
    phone: Mapped[str] = mapped_column(String(50), default="")
    vat_id: Mapped[str] = mapped_column(String(32), default="")
    use_billing_address: Mapped[bool] = mapped_column(Boolean, default=False)
    billing_street: Mapped[str] = mapped_column(String(200), default="")
    billing_street2: Mapped[str] = mapped_column(String(200), default="")
    billing_postal_code: Mapped[str] = mapped_column(String(20), default="")
    billing_city: Mapped[str] = mapped_column(String(100), default="")
    billing_state: Mapped[str] = mapped_column(String(100), default="")
    billing_country: Mapped[str] = mapped_column(String(2), default="")
    service_mode: Mapped[str] = mapped_column(String(20), default=ServiceMode.MANAGED.value)
    language: Mapped[str] = mapped_column(String(2), default=Language.EN.value)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    marked_for_deletion_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"))
    notes: Mapped[str] = mapped_column(Text, default="")
    industry: Mapped[str] = mapped_column(String(100), default="")
    website: Mapped[str] = mapped_column(String(200), default="")
    turnover: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    turnover_currency: Mapped[str] = mapped_column(String(3), default="", server_default="")
    account_type: Mapped[str] = mapped_column(
        String(20), default="customer", server_default="customer"
    )
    street3: Mapped[str] = mapped_column(String(200), default="", server_default="")
    landmark: Mapped[str] = mapped_column(String(200), default="", server_default="")
    fax: Mapped[str] = mapped_column(String(50), default="", server_default="")
    billing_street3: Mapped[str] = mapped_column(String(200), default="", server_default="")
    billing_landmark: Mapped[str] = mapped_column(String(200), default="", server_default="")
    billing_phone: Mapped[str] = mapped_column(String(50), default="", server_default="")
    billing_fax: Mapped[str] = mapped_column(String(50), default="", server_default="")
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    # days until an invoice is due; None follows Settings → Invoices
    # (billing.invoicing.payment_terms)
    payment_term_days: Mapped[int | None] = mapped_column(Integer)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)

    status: Mapped[str] = mapped_column(String(24), default=CustomerStatus.INVITED.value)
    internal_ips: Mapped[int] = mapped_column(Integer, default=0)
    external_ips: Mapped[int] = mapped_column(Integer, default=0)
    payment_method: Mapped[str | None] = mapped_column(String(20))
    monthly_price: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    average_ip_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    has_pending_change: Mapped[bool] = mapped_column(Boolean, default=False)
    search_text: Mapped[str | None] = mapped_column(Text, Computed(SEARCH_TEXT_SQL, persisted=True))

    partner: Mapped[Partner | None] = relationship(lazy="select")
    tags: Mapped[list[Tag]] = relationship(secondary=customer_tags, lazy="select")
    users: Mapped[list[User]] = relationship(  # noqa: F821
        back_populates="customer", order_by="User.id", lazy="select"
    )
    subscriptions: Mapped[list[Subscription]] = relationship(  # noqa: F821
        back_populates="customer", order_by="Subscription.valid_from.desc()", lazy="select"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def total_ips(self) -> int:
        return self.internal_ips + self.external_ips

    def __str__(self) -> str:
        return self.company_name
