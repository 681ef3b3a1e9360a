"""Typed SQLAlchemy models of the domain (SPEC §2); one aggregate per module."""

from .audit import AuditEvent, EmailLog, Setting
from .base import (
    MAX_RECORD_ID,
    ActorType,
    Base,
    ChangeKind,
    ChangeState,
    CustomerStatus,
    EmailState,
    InvoiceKind,
    InvoiceState,
    Language,
    PaymentMethodCode,
    PriceBasis,
    ProjectKeyState,
    ServiceMode,
    ServiceState,
    StaffRole,
    SubscriptionState,
    db,
)
from .billing_run import BillingRun, RunState
from .customer import Customer, Partner, Tag, customer_tags
from .customer_tools import Impersonation, LedgerEntry, LedgerKind
from .erasure import CustomerErasure, ErasureState
from .invoice import Invoice, InvoiceLine
from .pricing import PaymentMethod, PriceTier, ProjectKey
from .profile import (
    AccountType,
    Contact,
    ContactUserType,
    CustomerGroup,
    PurchaseOrder,
    PurchaseOrderStatus,
    customer_group_members,
    customer_group_tags,
)
from .reset import PasswordReset
from .saved_view import SavedView
from .stripe import AttemptState, EventState, PaymentAttempt, StripeEvent
from .subscription import ScheduledChange, ServiceSubscription, ServiceSuspension, Subscription
from .user import StaffUser, TeamInvitation, User

__all__ = [
    "AccountType",
    "ActorType",
    "AttemptState",
    "AuditEvent",
    "Base",
    "BillingRun",
    "ChangeKind",
    "ChangeState",
    "Contact",
    "ContactUserType",
    "Customer",
    "CustomerErasure",
    "CustomerGroup",
    "CustomerStatus",
    "EmailLog",
    "EmailState",
    "ErasureState",
    "EventState",
    "Impersonation",
    "Invoice",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceState",
    "Language",
    "MAX_RECORD_ID",
    "LedgerEntry",
    "LedgerKind",
    "Partner",
    "PasswordReset",
    "PaymentAttempt",
    "PaymentMethod",
    "PaymentMethodCode",
    "PriceBasis",
    "PriceTier",
    "ProjectKey",
    "ProjectKeyState",
    "PurchaseOrder",
    "PurchaseOrderStatus",
    "RunState",
    "SavedView",
    "ScheduledChange",
    "ServiceState",
    "ServiceSubscription",
    "ServiceSuspension",
    "ServiceMode",
    "Setting",
    "StaffRole",
    "StaffUser",
    "StripeEvent",
    "Subscription",
    "SubscriptionState",
    "Tag",
    "TeamInvitation",
    "User",
    "customer_group_members",
    "customer_group_tags",
    "customer_tags",
    "db",
]
