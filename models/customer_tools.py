"""Staff tools on a customer account: impersonation sessions and the credit/debit ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, StrEnum, check_in


class LedgerKind(StrEnum):
    MANUAL = "manual"
    CREDIT_NOTE = "credit_note"
    INVOICE = "invoice"


class Impersonation(Base):
    """A staff member signed in to the portal as a customer's main user (SPEC §11)."""

    __tablename__ = "impersonation"
    __table_args__ = (Index("ix_impersonation_customer_started", "customer_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    # the erasure job deletes users; the record of the session stays
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text)
    allow_changes: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    def __str__(self) -> str:
        return f"impersonation #{self.id} of customer {self.customer_id}"


class LedgerEntry(Base):
    """One booking on a customer's account: + credit, − debit (net amounts, in the currency)."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint(check_in("kind", LedgerKind), name="kind"),
        Index("ix_ledger_entry_customer", "customer_id", "id"),
        Index("ix_ledger_entry_invoice", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    description: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(320), default="")

    def __str__(self) -> str:
        return f"{self.amount:+} {self.description}"
