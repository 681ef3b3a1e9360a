"""Who may do what: the one table of staff roles and their permissions (SPEC §1).

Screens, exports and rules ask ``can(role, permission)`` instead of naming roles, so changing
what a role may do is an edit of ``TABLE`` alone.
"""

from __future__ import annotations

from enum import StrEnum

from models import StaffRole


class Permission(StrEnum):
    #: the MSP's own money figures: purchase prices of project keys and IPs, purchase costs,
    #: income and margins (dashboard), the monthly billing data; customers' prices are not
    #: among them (every staff role sees what a customer pays)
    SEE_FINANCIALS = "see_financials"


TABLE: dict[str, frozenset[Permission]] = {
    StaffRole.ADMIN.value: frozenset({Permission.SEE_FINANCIALS}),
    StaffRole.BILLING.value: frozenset({Permission.SEE_FINANCIALS}),
    StaffRole.SUPPORT.value: frozenset(),
}


def can(role: str | None, permission: Permission) -> bool:
    """Whether staff with ``role`` have ``permission``; an unknown role or none has none."""
    return permission in TABLE.get(role or "", frozenset())


def roles_with(permission: Permission) -> tuple[str, ...]:
    """The roles that have ``permission``, in the table's order."""
    return tuple(role for role, granted in TABLE.items() if permission in granted)
