"""Staff signed in to the portal as a customer (SPEC §11 "log in as the customer").

Staff with ``Permission.IMPERSONATE`` (``billing.kernel.permissions``) may start it with a
reason; it is read-only unless one with ``IMPERSONATE_WITH_CHANGES`` allows changes, lasts at
most 30 minutes and no longer than the staff member's own sign-in (signing out anywhere, a new
password or a disabled account end it), and its start, end and every change made during it
are audited (the customer user's events name the staff member, see ``audit.on_behalf_of``).
"""

from __future__ import annotations

from datetime import timedelta

from billing.customers.lookup import get_customer, main_user
from billing.customers.sign_in import user_may_sign_in
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.permissions import Permission, can
from models import Impersonation, StaffUser, User, db

DURATION = timedelta(minutes=30)
# where the web session keeps the impersonation id and the staff sign-in meanwhile
SESSION_KEY = "impersonation"


def may_impersonate(role: str | None) -> bool:
    return can(role, Permission.IMPERSONATE)


def may_allow_changes(role: str | None) -> bool:
    return can(role, Permission.IMPERSONATE_WITH_CHANGES)


def start(
    customer_id: int, staff_id: int, reason: str, allow_changes: bool, clock: Clock, ip: str = ""
) -> Impersonation:
    """Open an impersonation of the customer's main user by ``staff_id``.

    Raises NotFound for an unknown customer or staff member, and DomainError when the staff
    member's role may not impersonate (or not with changes), without a reason, or when the
    main user cannot sign in (invited, disabled, locked or deleted customer).
    """
    staff = db.session.get(StaffUser, staff_id)
    if staff is None or not staff.active:
        raise NotFound(_("This staff account does not exist."))
    if not may_impersonate(staff.role):
        raise DomainError(_("Your role may not sign in as a customer."))
    if allow_changes and not may_allow_changes(staff.role):
        raise DomainError(
            _("Only an admin may make changes while signed in as a customer."),
            field="allow_changes",
        )
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Please give a reason."), field="reason")
    if len(reason) > 500:
        raise DomainError(_("The reason can have at most 500 characters."), field="reason")
    customer = get_customer(customer_id)
    user = main_user(customer.id)
    if user is None or not user_may_sign_in(user):
        raise DomainError(
            _(
                "The main user of this customer cannot sign in (not registered yet, disabled, "
                "locked or deleted), so you cannot sign in as them."
            )
        )
    now = clock.now()
    session = Impersonation(
        staff_id=staff.id,
        customer_id=customer.id,
        user_id=user.id,
        reason=reason,
        allow_changes=bool(allow_changes),
        started_at=now,
        expires_at=now + DURATION,
    )
    db.session.add(session)
    db.session.flush()
    audit.record(
        Actor.staff(staff, ip),
        "impersonation.start",
        clock,
        customer_id=customer.id,
        after={
            "impersonation": session.id,
            "user": user.email,
            "allow_changes": session.allow_changes,
            "expires_at": session.expires_at.isoformat(),
        },
        reason=reason,
    )
    db.session.commit()
    return session


def active(impersonation_id: int | None, clock: Clock) -> Impersonation | None:
    """The impersonation if it is still running (not ended, not expired), else None."""
    if impersonation_id is None:
        return None
    session = db.session.get(Impersonation, impersonation_id)
    if session is None or session.ended_at is not None or clock.now() >= session.expires_at:
        return None
    return session


class Ended(DomainError):
    """The impersonation a request ran in is over; ``impersonation`` is its record (None when
    it does not exist) and ``message`` says why, for the staff member."""

    def __init__(self, message: str, impersonation: Impersonation | None) -> None:
        super().__init__(message)
        self.impersonation = impersonation


def resume(
    impersonation_id: int | None, principal: str, user_id: int | None, clock: Clock, ip: str = ""
) -> Impersonation:
    """The impersonation a portal request runs in, checked on every request.

    ``principal`` is the staff sign-in kept aside when it started (``staff:<id>:<session
    version>``) and ``user_id`` the customer user the browser is signed in as. The staff member
    must still be enabled and signed in (no sign-out, no new password since), the session open,
    within its time and for that user. Otherwise it ends (audited) and ``Ended`` says why.
    """
    session = db.session.get(Impersonation, impersonation_id) if impersonation_id else None
    staff = db.session.get(StaffUser, session.staff_id) if session else None
    if staff is not None and not staff.active:
        why = _("Your session as the customer has ended: your staff account has been disabled.")
    elif staff is not None and returning_staff(session, principal) is None:
        why = _(
            "Your session as the customer has ended: your staff sign-in has ended (signed out "
            "or a new password). Please sign in again."
        )
    elif active(impersonation_id, clock) is None or user_id is None or user_id != session.user_id:
        why = _("Your session as the customer has ended.")
    else:
        return session
    if session is not None:
        end(session.id, clock, ip)
    raise Ended(why, session)


def end(impersonation_id: int, clock: Clock, ip: str = "") -> Impersonation | None:
    """End an impersonation (by the staff member, or found expired); ending twice is a no-op.
    Audited as ``impersonation.end`` or ``impersonation.expire``."""
    session = db.session.get(Impersonation, impersonation_id)
    if session is None or session.ended_at is not None:
        return session
    staff = db.session.get(StaffUser, session.staff_id)
    _close(session, Actor.staff(staff, ip) if staff else audit.SYSTEM, clock)
    db.session.commit()
    return session


def end_all_of_staff(staff_id: int, actor: Actor, clock: Clock, reason: str) -> int:
    """End every running impersonation of a staff member whose sign-in ends (sign-out, new
    password, disabled), audited with ``reason``; the caller commits. Returns how many."""
    running = db.session.scalars(
        db.select(Impersonation).where(
            Impersonation.staff_id == staff_id, Impersonation.ended_at.is_(None)
        )
    ).all()
    for session in running:
        _close(session, actor, clock, reason)
    return len(running)


def _close(session: Impersonation, actor: Actor, clock: Clock, reason: str = "") -> None:
    now = clock.now()
    expired = now >= session.expires_at
    session.ended_at = session.expires_at if expired else now
    audit.record(
        actor,
        "impersonation.expire" if expired else "impersonation.end",
        clock,
        customer_id=session.customer_id,
        after={"impersonation": session.id},
        reason=reason,
    )


def staff_label(session: Impersonation) -> str:
    staff = db.session.get(StaffUser, session.staff_id)
    return staff.email if staff else f"staff #{session.staff_id}"


def impersonated_user(session: Impersonation) -> User | None:
    return db.session.get(User, session.user_id) if session.user_id else None


def returning_staff(session: Impersonation, principal: str) -> StaffUser | None:
    """The staff member to sign back in after ``session``: the one who started it, if their
    admin sign-in (``principal`` = ``staff:<id>:<session version>``) is still valid."""
    try:
        kind, raw_id, version = (principal or "").split(":")
        staff_id, version_no = int(raw_id), int(version)
    except ValueError:
        return None
    if kind != "staff" or staff_id != session.staff_id:
        return None
    staff = db.session.get(StaffUser, staff_id)
    if staff is None or not staff.active or staff.session_version != version_no:
        return None
    return staff
