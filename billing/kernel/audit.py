"""Writing audit events: one per state change, in the same transaction as the change."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from billing.kernel.clock import Clock
from models import ActorType, AuditEvent, StaffUser, User, db


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member, a customer user, or the system (jobs, CLI, seed)."""

    type: ActorType
    id: int | None = None
    label: str = "system"
    ip: str = ""

    @classmethod
    def staff(cls, staff: StaffUser, ip: str = "") -> Actor:
        return cls(ActorType.STAFF, staff.id, staff.email, ip)

    @classmethod
    def user(cls, user: User, ip: str = "") -> Actor:
        return cls(ActorType.USER, user.id, user.email, ip)


SYSTEM = Actor(ActorType.SYSTEM)

# While staff act in the portal as a customer user, that user's events name them both.
ON_BEHALF: ContextVar[tuple[str, int] | None] = ContextVar("on_behalf", default=None)


def on_behalf_of(staff_label: str, impersonation_id: int):
    """Mark the events of customer users in this context as made by ``staff_label`` through
    impersonation ``impersonation_id``; returns the token for ``ON_BEHALF.reset``."""
    return ON_BEHALF.set((staff_label, impersonation_id))


def event_row(
    actor: Actor,
    action: str,
    clock: Clock,
    *,
    customer_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    outcome: str = "ok",
) -> dict:
    """An audit event as a row for a bulk insert (batch operations write many at once)."""
    label = actor.label
    behalf = ON_BEHALF.get()
    if behalf is not None and actor.type == ActorType.USER:
        label = f"{behalf[0]} as {actor.label}"[:320]
        reason = reason or f"impersonation #{behalf[1]}"
    return {
        "at": clock.now(),
        "actor_type": actor.type.value,
        "actor_id": actor.id,
        "actor_label": label,
        "action": action,
        "customer_id": customer_id,
        "before": before,
        "after": after,
        "reason": reason,
        "ip": actor.ip,
        "outcome": outcome,
    }


def record(
    actor: Actor,
    action: str,
    clock: Clock,
    *,
    customer_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    outcome: str = "ok",
) -> AuditEvent:
    """Add an audit event to the session (the caller commits it with the change)."""
    event = AuditEvent(
        **event_row(
            actor,
            action,
            clock,
            customer_id=customer_id,
            before=before,
            after=after,
            reason=reason,
            outcome=outcome,
        )
    )
    db.session.add(event)
    return event
