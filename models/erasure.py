"""The erasure of a customer marked for deletion (SPEC §4 Delete): one row per request, so the
work survives a lost queue or a dead worker and a sweeper can hand it out again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, StrEnum, check_in


class ErasureState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


class CustomerErasure(Base):
    """What the erasure needs after the data is gone (``notice``: the company name and the
    confirmation's recipients) and how far it got. ``lease_until`` is when the work counts as
    stuck: a queued job that never started, or a worker that died while running it."""

    __tablename__ = "customer_erasure"
    __table_args__ = (
        CheckConstraint(check_in("state", ErasureState), name="state"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    )

    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    notice: Mapped[dict]
    state: Mapped[str] = mapped_column(String(20), default=ErasureState.QUEUED.value)
    requested_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None]

    def __str__(self) -> str:
        return f"Erasure of customer {self.customer_id} ({self.state})"
