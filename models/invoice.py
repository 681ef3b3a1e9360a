"""Invoices, credit notes and their lines."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, InvoiceKind, InvoiceState, check_in


class Invoice(Base):
    """One invoice per customer and billing month; credit notes correct finalized invoices."""

    __tablename__ = "invoice"
    __table_args__ = (
        CheckConstraint(check_in("state", InvoiceState), name="state"),
        CheckConstraint(check_in("kind", InvoiceKind), name="kind"),
        Index(
            "uq_invoice_customer_period",
            "customer_id",
            "period",
            unique=True,
            sqlite_where=text("kind = 'invoice'"),
            postgresql_where=text("kind = 'invoice'"),
        ),
        Index("ix_invoice_period_state", "period", "state"),
        Index("ix_invoice_state_period", "state", "period", "id"),
        Index("ix_invoice_corrects", "corrects_invoice_id"),
        Index("ix_invoice_billing_run", "billing_run_id", "state", "id"),
        # what dunning asks: the open invoices whose due date has passed (SPEC §14)
        Index("ix_invoice_state_due_date", "state", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    period: Mapped[date]
    kind: Mapped[str] = mapped_column(String(16), default=InvoiceKind.INVOICE.value)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=InvoiceState.DRAFT.value)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    language: Mapped[str] = mapped_column(String(2), default="en")
    net: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0.00"))
    vat: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    gross: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    vat_note: Mapped[str] = mapped_column(Text, default="")
    billing_name: Mapped[str] = mapped_column(String(200), default="")
    billing_address: Mapped[str] = mapped_column(Text, default="")
    corrects_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    # a credit note: how much of the corrected invoice's open amount (gross, positive) it
    # settled; the rest of it became account credit (SPEC §14)
    settled_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    created_at: Mapped[datetime]
    finalized_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    # fixed at finalization (billing.invoicing.payment_terms); credit notes are never due
    payment_term_days: Mapped[int | None] = mapped_column(Integer)
    due_date: Mapped[date | None]
    # what the invoice bills, frozen at drafting: free | managed | self_service | project_key
    category: Mapped[str] = mapped_column(String(16), default="managed")
    payment_method: Mapped[str] = mapped_column(String(20), default="invoice")
    ips_internal: Mapped[int] = mapped_column(Integer, default=0)
    ips_external: Mapped[int] = mapped_column(Integer, default=0)
    purchase_cost: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    emailed_at: Mapped[datetime | None]
    # a mail worker's claim on sending the invoice (two workers never both send it)
    email_claimed_until: Mapped[datetime | None]
    # the purchase order covering the invoice's month, found at drafting
    purchase_order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"))
    purchase_order: Mapped[PurchaseOrder | None] = relationship(lazy="select")  # noqa: F821
    # the month-end run that drafted the invoice (or took in a draft no run owned): that run
    # numbers, charges and e-mails it, and no other invoice
    billing_run_id: Mapped[int | None] = mapped_column(ForeignKey("billing_run.id"))

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", cascade="all, delete-orphan"
    )

    def __str__(self) -> str:
        return self.number or f"draft {self.customer_id}/{self.period:%Y-%m}"


class InvoiceLine(Base):
    __tablename__ = "invoice_line"
    __table_args__ = (Index("ix_invoice_line_invoice", "invoice_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))

    invoice: Mapped[Invoice] = relationship(back_populates="lines")

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"
