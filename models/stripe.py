"""Stripe bookkeeping: payment attempts (the guard against charging twice) and received events."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, StrEnum, check_in


class AttemptState(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class EventState(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class PaymentAttempt(Base):
    """One try to charge an invoice. At most one pending or succeeded attempt per invoice, and
    its idempotency key is stored before Stripe is called."""

    __tablename__ = "payment_attempt"
    __table_args__ = (
        CheckConstraint(check_in("state", AttemptState), name="state"),
        Index(
            "uq_payment_attempt_open_per_invoice",
            "invoice_id",
            unique=True,
            sqlite_where=text("state IN ('pending', 'succeeded')"),
            postgresql_where=text("state IN ('pending', 'succeeded')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"))
    number: Mapped[int] = mapped_column(Integer, default=1)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(100), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(16), default=AttemptState.PENDING.value)
    error: Mapped[str] = mapped_column(Text, default="")
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.state})"


class StripeEvent(Base):
    """A webhook event, stored once by its Stripe id and processed once."""

    __tablename__ = "stripe_event"
    __table_args__ = (
        CheckConstraint(check_in("state", EventState), name="state"),
        Index("ix_stripe_event_received", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=EventState.RECEIVED.value)
    error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]

    def __str__(self) -> str:
        return f"{self.id} {self.type} ({self.state})"
