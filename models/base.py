"""The declarative base, the shared ``db`` handle and the value enumerations of the domain."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import JSON, Connection, MetaData
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import DateTime, TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC timestamps on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given; use the clock")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING),
        type_annotation_map={datetime: UTCDateTime(), dict: JSON},
    )


class Session(FlaskSession):
    """Flask-SQLAlchemy's session, which takes the app's engine for every table, except that a
    session bound to a connection of that engine uses the connection (and so joins its
    transaction). The test suite binds each test's sessions to one connection whose transaction
    it rolls back at the end of the test; the product never binds one."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        engine = super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
        if isinstance(self.bind, Connection) and self.bind.engine is engine:
            return self.bind
        return engine


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})
# Every record id is an INTEGER column: no id beyond this exists (PostgreSQL refuses to compare
# an INTEGER with a larger number), so a larger one in a URL names no record.
MAX_RECORD_ID = 2**31 - 1


class StrEnum(enum.StrEnum):
    """An enumeration whose members are stored and exported as their code."""

    @classmethod
    def codes(cls) -> list[str]:
        return [m.value for m in cls]


class ServiceMode(StrEnum):
    MANAGED = "managed"
    SELF_SERVICE = "self_service"


class CustomerStatus(StrEnum):
    """Derived status in precedence order (SPEC §3)."""

    MARKED_FOR_DELETION = "marked_for_deletion"
    INVITED = "invited"
    LOCKED = "locked"
    ACTIVE = "active"
    INACTIVE = "inactive"


class Language(StrEnum):
    EN = "en"
    DE = "de"


class PaymentMethodCode(StrEnum):
    CARD = "card"
    INVOICE = "invoice"
    PROJECT_KEY = "project_key"
    FREE = "free"


class SubscriptionState(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ServiceState(StrEnum):
    """State of an additional subscription (Sectigo, SPEC §11)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class PriceBasis(StrEnum):
    TIERS = "tiers"
    CUSTOMER_PRICE = "customer_price"
    PROJECT_KEY = "project_key"


class ChangeKind(StrEnum):
    CHANGE = "change"
    CANCEL = "cancel"


class ChangeState(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    REPLACED = "replaced"
    WITHDRAWN = "withdrawn"


class ProjectKeyState(StrEnum):
    AVAILABLE = "available"
    REDEEMED = "redeemed"
    EXPIRED = "expired"


class InvoiceState(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    VOID = "void"


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class StaffRole(StrEnum):
    ADMIN = "admin"
    BILLING = "billing"
    SUPPORT = "support"


class ActorType(StrEnum):
    STAFF = "staff"
    USER = "user"
    SYSTEM = "system"


class EmailState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


def check_in(column: str, enum_cls: type[StrEnum]) -> str:
    """SQL for a CHECK constraint that keeps ``column`` within the enum's codes."""
    codes = ", ".join(f"'{c}'" for c in enum_cls.codes())
    return f"{column} IN ({codes})"


MIGRATION_ONLY_INDEXES = frozenset(
    {
        "uq_user_account_email_lower",
        "uq_staff_user_email_lower",
        "ix_customer_search_trgm",
        "uq_service_subscription_name",
    }
)


def include_in_autogenerate(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: the search table and expression indexes are written by hand in the
    migrations (autogenerate cannot reflect them)."""
    if type_ == "table" and name and name.startswith("customer_search"):
        return False
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)
