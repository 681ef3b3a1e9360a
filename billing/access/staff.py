"""Staff accounts: creation and sign-in (SPEC §1)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func

from billing.access.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from billing.kernel import audit
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import AuthenticationFailed, DomainError
from billing.kernel.i18n import _
from models import StaffRole, StaffUser, db


def normalise_email(email: str) -> str:
    """A syntactically valid address, stripped; raises DomainError otherwise."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise DomainError(_("Please enter a valid e-mail address."), field="email") from None


def find_staff(email: str) -> StaffUser | None:
    return db.session.scalar(
        db.select(StaffUser).where(func.lower(StaffUser.email) == email.strip().lower())
    )


def create_staff(
    email: str, role: str, password: str, clock: Clock, name: str = "", actor: Actor = SYSTEM
) -> StaffUser:
    """Create a staff account.

    Raises DomainError for an invalid e-mail, unknown role, short password or a taken e-mail.
    """
    email = normalise_email(email)
    if role not in StaffRole.codes():
        raise DomainError(_("Unknown role %(role)s.", role=role), field="role")
    if len(password) < MIN_LENGTH:
        raise DomainError(
            _("The password needs at least %(n)d characters.", n=MIN_LENGTH), field="password"
        )
    if find_staff(email) is not None:
        raise DomainError(_("A staff account with this e-mail exists already."), field="email")
    staff = StaffUser(
        email=email,
        name=name,
        role=role,
        password_hash=hash_password(password),
        created_at=clock.now(),
    )
    db.session.add(staff)
    db.session.flush()
    audit.record(actor, "staff.create", clock, after={"email": email, "role": role})
    db.session.commit()
    return staff


def authenticate_staff(email: str, password: str, clock: Clock, ip: str = "") -> StaffUser:
    """Check the credentials; the same error for an unknown account and a wrong password."""
    staff = find_staff(email)
    ok = verify_password(staff.password_hash if staff else None, password)
    if not ok or staff is None or not staff.active:
        audit.record(
            Actor(SYSTEM.type, None, email.strip()[:320], ip),
            "staff.sign_in",
            clock,
            outcome="failed",
        )
        db.session.commit()
        raise AuthenticationFailed(_("Invalid e-mail or password."))
    if needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    staff.last_login_at = clock.now()
    audit.record(Actor.staff(staff, ip), "staff.sign_in", clock)
    db.session.commit()
    return staff


def sign_out_everywhere(staff_id: int, clock: Clock, ip: str = "") -> None:
    """End every session of a staff member (their session cookies stop working, and so does
    every browser signed in as a customer by them); ``ip`` is the address the sign-out came
    from (none for a command)."""
    staff = db.session.get(StaffUser, staff_id)
    if staff is not None:
        actor = Actor.staff(staff, ip)
        _end_sessions(staff, actor, clock, "staff signed out")
        audit.record(actor, "staff.sign_out", clock)
        db.session.commit()


def _end_sessions(staff: StaffUser, actor: Actor, clock: Clock, reason: str) -> None:
    """Every session cookie of ``staff`` stops working and their impersonations end."""
    # imported here: impersonation needs the customer rules, which need this module
    from billing.customers.impersonation import end_all_of_staff

    staff.session_version += 1
    end_all_of_staff(staff.id, actor, clock, reason)


def _existing(email: str) -> StaffUser:
    staff = find_staff(email)
    if staff is None:
        raise DomainError(_("There is no staff account with this e-mail."), field="email")
    return staff


def set_staff_password(email: str, password: str, clock: Clock, actor: Actor = SYSTEM) -> StaffUser:
    """Give a staff member a new password; every session (and impersonation) of theirs ends.

    Raises DomainError for an unknown account or a short password.
    """
    staff = _existing(email)
    if len(password) < MIN_LENGTH:
        raise DomainError(
            _("The password needs at least %(n)d characters.", n=MIN_LENGTH), field="password"
        )
    staff.password_hash = hash_password(password)
    _end_sessions(staff, actor, clock, "new staff password")
    audit.record(actor, "staff.password", clock, after={"email": staff.email})
    db.session.commit()
    return staff


def set_staff_active(email: str, active: bool, clock: Clock, actor: Actor = SYSTEM) -> StaffUser:
    """Enable or disable a staff account; disabling ends every session (and impersonation) of
    theirs at once.

    Raises DomainError for an unknown account.
    """
    staff = _existing(email)
    before = staff.active
    staff.active = active
    if not active:
        _end_sessions(staff, actor, clock, "staff account disabled")
    audit.record(
        actor,
        "staff.enable" if active else "staff.disable",
        clock,
        before={"email": staff.email, "active": before},
        after={"email": staff.email, "active": active},
    )
    db.session.commit()
    return staff


def staff_recipients(
    roles: tuple[str, ...] = ("admin", "billing"),
) -> list[tuple[str, str, str]]:
    """(e-mail, language, name) of the active staff members with one of ``roles``."""
    rows = db.session.execute(
        db.select(StaffUser.email, StaffUser.language, StaffUser.name)
        .where(StaffUser.active.is_(True), StaffUser.role.in_(roles))
        .order_by(StaffUser.email)
    ).all()
    return [(email, language or "en", name or "") for email, language, name in rows]
