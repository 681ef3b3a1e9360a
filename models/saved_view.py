"""A saved customer-list view: a name for a list query string, private or shared with all staff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class SavedView(Base):
    __tablename__ = "saved_view"
    __table_args__ = (
        UniqueConstraint("owner_id", "name"),
        Index("ix_saved_view_shared", "shared"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(1000), default="")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]

    def __str__(self) -> str:
        return self.name
