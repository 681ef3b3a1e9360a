"""People who sign in: customer users (portal) and staff accounts (admin)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, false, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, StaffRole, check_in


class Principal:
    """The interface Flask-Login expects; ``get_id`` carries the session version."""

    kind = ""
    is_anonymous = False
    is_authenticated = True

    def get_id(self) -> str:
        return f"{self.kind}:{self.id}:{self.session_version}"


class User(Principal, Base):
    """A customer-side user; the main user's e-mail is the customer's contact login."""

    __tablename__ = "user_account"
    __table_args__ = (
        Index("ix_user_account_customer_main", "customer_id", "is_main"),
        Index("uq_user_account_invite_token", "invite_token_hash", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_main: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    registered_at: Mapped[datetime | None]
    invite_token_hash: Mapped[str | None] = mapped_column(String(64))
    invite_expires_at: Mapped[datetime | None]
    # a self-registered main user whose e-mail address is not confirmed yet (seed 3.5.1)
    confirmation_pending: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    language: Mapped[str | None] = mapped_column(String(2))
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]

    customer: Mapped[Customer] = relationship(back_populates="users")  # noqa: F821

    kind = "user"

    @property
    def is_active(self) -> bool:
        return self.enabled and self.is_registered

    @property
    def is_registered(self) -> bool:
        return self.registered_at is not None

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class TeamInvitation(Base):
    """A pending invitation into a customer's team (seed 3.1). It is no account: the user is
    created when the invitee accepts, so an invitation neither holds the address nor depends
    on whether the address has an account elsewhere. The link's token is stored hashed."""

    __tablename__ = "team_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]

    customer: Mapped[Customer] = relationship()  # noqa: F821

    def __str__(self) -> str:
        return f"invitation of {self.name} <{self.email}>"


class StaffUser(Principal, Base):
    """An MSP staff member with one role (SPEC §1)."""

    __tablename__ = "staff_user"
    __table_args__ = (CheckConstraint(check_in("role", StaffRole), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str | None] = mapped_column(String(2))
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]

    kind = "staff"

    @property
    def is_active(self) -> bool:
        return self.active

    def __str__(self) -> str:
        return f"{self.email} ({self.role})"


Index("uq_user_account_email_lower", func.lower(User.email), unique=True)
Index(
    "uq_team_invitation_customer_email_lower",
    TeamInvitation.customer_id,
    func.lower(TeamInvitation.email),
    unique=True,
)
Index("uq_staff_user_email_lower", func.lower(StaffUser.email), unique=True)
