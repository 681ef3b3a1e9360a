"""The month-end billing run (SPEC §8): one row per booking month, its progress and counts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, StrEnum, check_in


class RunState(StrEnum):
    DRAFTING = "drafting"
    AWAITING_APPROVAL = "awaiting_approval"
    FINALIZING = "finalizing"
    DONE = "done"
    FAILED = "failed"


class BillingRun(Base):
    """The run for one booking month. The unique period is the database guard that keeps two
    schedulers (or two clicks) from starting two runs. ``lease_owner`` is empty while the run
    waits in the queue (``lease_until`` is then how long it may wait before its job counts as
    lost); a worker that takes the run writes its id there, and ``lease_until`` tells a live
    worker's run from one whose worker died, so a new worker can take it over where it stopped.
    Its invoices name it (``Invoice.billing_run_id``). ``as_of`` is the moment a run was started
    as of (a rehearsal or a catch-up): every step of the run, in whichever worker, happens at that
    moment; empty for a run on the running clock."""

    __tablename__ = "billing_run"
    __table_args__ = (
        CheckConstraint(check_in("state", RunState), name="state"),
        CheckConstraint("processed >= 0 AND total >= 0", name="counts_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[date] = mapped_column(unique=True)
    state: Mapped[str] = mapped_column(String(20), default=RunState.DRAFTING.value)
    auto_finalize: Mapped[bool] = mapped_column(default=False)
    started_by: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime]
    as_of: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    approved_by: Mapped[str] = mapped_column(String(200), default="")
    approved_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str] = mapped_column(String(64), default="")
    # drafting walks customers in id order; the checkpoint is the last id whose batch committed
    last_customer_id: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    billed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    finalized: Mapped[int] = mapped_column(Integer, default=0)
    payment_failed: Mapped[int] = mapped_column(Integer, default=0)
    changes_applied: Mapped[int] = mapped_column(Integer, default=0)
    subscriptions_expired: Mapped[int] = mapped_column(Integer, default=0)
    skip_reasons: Mapped[str] = mapped_column(Text, default="{}")  # JSON: reason -> count
    error: Mapped[str] = mapped_column(Text, default="")

    @property
    def progress_percent(self) -> int:
        if self.state == RunState.DRAFTING.value:
            return min(100, self.processed * 100 // self.total) if self.total else 0
        if self.state == RunState.FINALIZING.value:
            return min(100, self.finalized * 100 // self.billed) if self.billed else 0
        return 100

    def __str__(self) -> str:
        return f"billing run {self.period:%Y-%m} ({self.state})"
