"""Append-only records: audit events, the e-mail log and key/value settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import ActorType, Base, EmailState, check_in


class AuditEvent(Base):
    """Who did what to which customer, with before/after values. Never updated or deleted."""

    __tablename__ = "audit_event"
    __table_args__ = (
        CheckConstraint(check_in("actor_type", ActorType), name="actor_type"),
        Index("ix_audit_event_customer_at", "customer_id", "at"),
        Index("ix_audit_event_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(320), default="")
    action: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    before: Mapped[dict | None]
    after: Mapped[dict | None]
    reason: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(16), default="ok")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"


class EmailLog(Base):
    """Every message the product sends, with its delivery state."""

    __tablename__ = "email_log"
    __table_args__ = (
        CheckConstraint(check_in("state", EmailState), name="state"),
        Index("ix_email_log_customer_at", "customer_id", "created_at"),
        Index("ix_email_log_invoice", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    template: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(16), default=EmailState.QUEUED.value)
    error: Mapped[str] = mapped_column(Text, default="")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    # the invoice or credit note the message is about (its e-mail, a failed card payment)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))

    def __str__(self) -> str:
        return f"{self.template} to {self.recipient} ({self.state})"


class Setting(Base):
    """A named setting; secret values are stored encrypted by ``billing.kernel.settings``."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]

    def __str__(self) -> str:
        return self.key
