"""Who may do what: the one table of staff roles and their permissions (SPEC §1).

Screens, endpoints, row actions, exports and rules ask ``can(role, permission)`` instead of
naming roles, so changing what a role may do is an edit of ``TABLE`` alone: the admin's views
declare the permission they need (``permission = Permission.X`` or ``@requires(...)``), the
access sweep in tests/security derives what each role must get from this table, and
docs/permissions.md is generated from it (``flask staff permissions``).
"""

from __future__ import annotations

from enum import StrEnum

from models import StaffRole


class Permission(StrEnum):
    READ = "read"
    MANAGE_CUSTOMERS = "manage_customers"
    MANAGE_BILLING = "manage_billing"
    SEE_FINANCIALS = "see_financials"
    RESEND_INVITES = "resend_invites"
    IMPERSONATE = "impersonate"
    IMPERSONATE_WITH_CHANGES = "impersonate_with_changes"
    SAVE_VIEWS = "save_views"
    MANAGE_SHARED_VIEWS = "manage_shared_views"
    MANAGE_SETTINGS = "manage_settings"


#: What each permission allows, for the docs (docs/permissions.md).
DESCRIPTIONS: dict[Permission, str] = {
    Permission.READ: (
        "open the admin and read every screen but the settings: customers, invoices, billing "
        "runs, project keys, Stripe events, the e-mail log, partners, groups, pending changes"
    ),
    Permission.MANAGE_CUSTOMERS: (
        "create, edit, lock, cancel, convert and delete customers; their subscriptions, "
        "project-key redemptions, profiles, contacts, tags, prices, partners and groups; "
        "withdraw pending changes"
    ),
    Permission.MANAGE_BILLING: (
        "the money side: month-end runs (start, approve, continue), invoices (credit notes, "
        "mark paid, redraft, card retries, resending), manual credits and debits, project keys, "
        "replaying Stripe events"
    ),
    Permission.SEE_FINANCIALS: (
        "the MSP's own money figures: purchase prices of project keys and IPs, purchase costs, "
        "income and margins (dashboard), the monthly billing data; every staff role sees what "
        "a customer pays"
    ),
    Permission.RESEND_INVITES: "send a customer's invite again (the old link stops working)",
    Permission.IMPERSONATE: (
        "sign in to the portal as a customer's main user: with a reason, read-only, "
        "time-limited, audited"
    ),
    Permission.IMPERSONATE_WITH_CHANGES: "allow changes while signed in as a customer",
    Permission.SAVE_VIEWS: "save, rename and delete one's own views of the customer list",
    Permission.MANAGE_SHARED_VIEWS: "delete views other staff members shared",
    Permission.MANAGE_SETTINGS: (
        "settings and secrets: payment methods, Stripe keys and webhook secret, self-service "
        "prices, the mail server, invoice settings, the demo mailbox"
    ),
}

TABLE: dict[str, frozenset[Permission]] = {
    StaffRole.ADMIN.value: frozenset(Permission),
    StaffRole.BILLING.value: frozenset(
        {
            Permission.READ,
            Permission.MANAGE_CUSTOMERS,
            Permission.MANAGE_BILLING,
            Permission.SEE_FINANCIALS,
            Permission.RESEND_INVITES,
            Permission.SAVE_VIEWS,
        }
    ),
    StaffRole.SUPPORT.value: frozenset(
        {Permission.READ, Permission.RESEND_INVITES, Permission.IMPERSONATE}
    ),
}


def can(role: str | None, permission: Permission) -> bool:
    """Whether staff with ``role`` have ``permission``; an unknown role or none has none."""
    return permission in TABLE.get(role or "", frozenset())


def roles_with(permission: Permission) -> tuple[str, ...]:
    """The roles that have ``permission``, in the table's order."""
    return tuple(role for role, granted in TABLE.items() if permission in granted)


def markdown_table() -> str:
    """The table as Markdown: one row per permission, one column per role."""
    roles = list(TABLE)
    lines = [
        "| permission | allows | " + " | ".join(roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for permission in Permission:
        marks = " | ".join("✓" if can(role, permission) else "–" for role in roles)
        lines.append(f"| `{permission.value}` | {DESCRIPTIONS[permission]} | {marks} |")
    return "\n".join(lines)
