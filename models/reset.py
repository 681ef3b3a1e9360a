"""Password-reset links for customer users: stored as a hash, single use, expiring."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class PasswordReset(Base):
    """One e-mailed reset link; ``used_at`` is set when it is redeemed or superseded."""

    __tablename__ = "password_reset"
    __table_args__ = (Index("ix_password_reset_user", "user_id", "used_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    def __str__(self) -> str:
        return f"password reset {self.id} for user {self.user_id}"
