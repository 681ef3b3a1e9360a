"""The words (English and German) and badge colours the admin screens show for stored codes:
customer status, service mode, payment method, language, invoice state and kind, a billing
run's state, a team user's state, an e-mail's and a card payment's state. One place, so the
list, the customer overview, the invoice and the billing run screens say the same
(``badges`` draws them)."""

from __future__ import annotations

from flask_babel import lazy_gettext

from models import (
    AttemptState,
    CustomerStatus,
    EmailState,
    InvoiceKind,
    InvoiceState,
    PaymentMethodCode,
    RunState,
    ServiceMode,
)

SERVICE_MODE_LABELS = {
    ServiceMode.MANAGED.value: lazy_gettext("Managed service"),
    ServiceMode.SELF_SERVICE.value: lazy_gettext("Self service"),
}
STATUS_LABELS = {
    CustomerStatus.MARKED_FOR_DELETION.value: lazy_gettext("Marked for deletion"),
    CustomerStatus.INVITED.value: lazy_gettext("Invited"),
    CustomerStatus.LOCKED.value: lazy_gettext("Locked"),
    CustomerStatus.ACTIVE.value: lazy_gettext("Active"),
    CustomerStatus.INACTIVE.value: lazy_gettext("Inactive"),
}
#: (Bootstrap colour, Font Awesome icon) of each customer status
STATUS_STYLE = {
    CustomerStatus.MARKED_FOR_DELETION.value: ("danger", "fa-trash"),
    CustomerStatus.INVITED.value: ("info", "fa-envelope"),
    CustomerStatus.LOCKED.value: ("warning", "fa-lock"),
    CustomerStatus.ACTIVE.value: ("success", "fa-check-circle"),
    CustomerStatus.INACTIVE.value: ("secondary", "fa-pause-circle"),
}
PAYMENT_LABELS = {
    PaymentMethodCode.CARD.value: lazy_gettext("Credit card"),
    PaymentMethodCode.INVOICE.value: lazy_gettext("Invoice"),
    PaymentMethodCode.PROJECT_KEY.value: lazy_gettext("Project Key"),
    PaymentMethodCode.FREE.value: lazy_gettext("Free"),
}
LANGUAGE_LABELS = {"en": lazy_gettext("English"), "de": lazy_gettext("German")}

INVOICE_STATE_LABELS = {
    InvoiceState.DRAFT.value: lazy_gettext("Draft"),
    InvoiceState.FINALIZED.value: lazy_gettext("Open"),
    InvoiceState.PAID.value: lazy_gettext("Paid"),
    InvoiceState.PAYMENT_FAILED.value: lazy_gettext("Payment failed"),
    InvoiceState.VOID.value: lazy_gettext("Void"),
}
# an unpaid invoice a credit note settled in full (``receivables.credited_in_full``)
CREDITED_LABEL = lazy_gettext("Credited")
INVOICE_STATE_STYLE = {
    InvoiceState.DRAFT.value: "secondary",
    InvoiceState.FINALIZED.value: "info",
    InvoiceState.PAID.value: "success",
    InvoiceState.PAYMENT_FAILED.value: "danger",
    InvoiceState.VOID.value: "dark",
    "credited": "light",
}
RUN_STATE_LABELS = {
    RunState.DRAFTING.value: lazy_gettext("Drafting"),
    RunState.AWAITING_APPROVAL.value: lazy_gettext("Awaiting approval"),
    RunState.FINALIZING.value: lazy_gettext("Finalizing"),
    RunState.DONE.value: lazy_gettext("Done"),
    RunState.FAILED.value: lazy_gettext("Failed"),
}
RUN_STATE_STYLE = {
    RunState.DRAFTING.value: "info",
    RunState.AWAITING_APPROVAL.value: "warning",
    RunState.FINALIZING.value: "primary",
    RunState.DONE.value: "success",
    RunState.FAILED.value: "danger",
}
INVOICE_KIND_LABELS = {
    InvoiceKind.INVOICE.value: lazy_gettext("Invoice"),
    InvoiceKind.CREDIT_NOTE.value: lazy_gettext("Credit note"),
}

#: a user's state (``billing.customers.team.member_state``) and its colour
USER_STATE_LABELS = {
    "main": (lazy_gettext("Main user"), "primary"),
    "active": (lazy_gettext("Active"), "success"),
    "disabled": (lazy_gettext("Disabled"), "secondary"),
    "invited": (lazy_gettext("Invited"), "info"),
    "invite_expired": (lazy_gettext("Invite expired"), "warning"),
}
EMAIL_STATE_LABELS = {
    EmailState.QUEUED.value: (lazy_gettext("queued"), "info"),
    EmailState.SENT.value: (lazy_gettext("sent"), "success"),
    EmailState.FAILED.value: (lazy_gettext("failed"), "danger"),
}
#: what each e-mail of ``billing.kernel.mail.TEMPLATES`` is, for the e-mail log
EMAIL_TEMPLATE_LABELS = {
    "invite": lazy_gettext("Invitation"),
    "registration_done": lazy_gettext("Welcome"),
    "deletion_done": lazy_gettext("Deletion confirmed"),
    "test": lazy_gettext("Test e-mail"),
    "project_key_expiring": lazy_gettext("Project key expiring"),
    "invoice": lazy_gettext("Invoice"),
    "payment_failed": lazy_gettext("Payment failed"),
    "password_reset": lazy_gettext("Password reset"),
    "team_invite": lazy_gettext("Team invitation"),
    "team_invite_taken": lazy_gettext("Team invitation to a taken address"),
    "registration_confirm": lazy_gettext("Registration to confirm"),
    "registration_exists": lazy_gettext("Registration of an existing account"),
    "staff_message": lazy_gettext("Message to the customer"),
}
ATTEMPT_STATE_LABELS = {
    AttemptState.PENDING.value: (lazy_gettext("pending"), "info"),
    AttemptState.SUCCEEDED.value: (lazy_gettext("succeeded"), "success"),
    AttemptState.FAILED.value: (lazy_gettext("failed"), "danger"),
    AttemptState.REFUNDED.value: (lazy_gettext("refunded"), "secondary"),
}
