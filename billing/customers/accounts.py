"""A customer user's own account (SPEC §10, §13): forgotten password, name, language and
password change.

Reset links are single use, valid for an hour and stored only as a hash. Every password change
raises the user's ``session_version``, so copied session cookies stop working.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func

from billing.access.passwords import MIN_LENGTH, hash_password, verify_password
from billing.customers.sign_in import user_may_sign_in
from billing.kernel import audit, mail_limits
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from models import Language, PasswordReset, TeamInvitation, User, db

RESET_VALID = timedelta(hours=1)
NAME_MAX = 200


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_new_password(password: str, password_again: str) -> None:
    """The password policy of invite acceptance: both entries equal, at least ``MIN_LENGTH``
    characters. Raises DomainError naming the field."""
    if (password or "") != (password_again or ""):
        raise DomainError(_("The two passwords do not match."), field="password_again")
    if len(password or "") < MIN_LENGTH:
        raise DomainError(
            _("The password needs at least %(n)d characters.", n=MIN_LENGTH), field="password"
        )


def claim_link(user: User, stored_hash: str, password: str, clock: Clock, refusal: str) -> None:
    """Use the link stored as ``stored_hash`` on ``user`` (an invite or a registration
    confirmation) to set the first password: once, also when the form is sent twice at once
    (only the request whose update still finds the hash sets it). The other request rolls back
    and gets NotFound(``refusal``). The caller audits and commits."""
    claimed = db.session.execute(
        db.update(User)
        .where(User.id == user.id, User.invite_token_hash == stored_hash)
        .values(
            invite_token_hash=None,
            invite_expires_at=None,
            confirmation_pending=False,
            password_hash=hash_password(password),
            registered_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        raise NotFound(refusal)
    db.session.expire(user)


def recipient_language(recipient: User | TeamInvitation) -> str:
    """The language of the e-mails sent to ``recipient`` (SPEC §7), and so of the pages their
    links open (invite, team invitation, registration confirmation, password reset): a user's
    own language, else its customer's; an invitation's customer's."""
    own = recipient.language if isinstance(recipient, User) else None
    return own or recipient.customer.language


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("This user does not exist."))
    return user


def _find_by_email(email: str) -> User | None:
    address = (email or "").strip().lower()
    if not address or len(address) > 320:
        return None
    return db.session.scalar(db.select(User).where(func.lower(User.email) == address))


def accept_reset_request(email: str) -> str:
    """The web request's part of a forgotten password, the same work for every address: count
    the request against the address's budget (``mail_limits.PASSWORD_RESET``, whether or not
    the address has an account) and return the address for ``request_password_reset``, which a
    job runs. Raises TooManyMails (on the ``email`` field)."""
    address = (email or "").strip()[:320]
    mail_limits.spend(mail_limits.PASSWORD_RESET, address, field="email")
    return address


def request_password_reset(email: str, clock: Clock, ip: str = "", public_url: str = ""):
    """Issue a reset link for the user with ``email`` when that user may sign in (run by a
    job, after ``accept_reset_request``).

    Returns the ``Outgoing`` message to send, or None (unknown address, pending invite, disabled
    user, locked or deleted customer); the web request answered the same either way. Earlier
    open links of the user stop working.
    """
    from billing.kernel.mail import compose, mail_configured

    user = _find_by_email(email)
    if user is None or not user_may_sign_in(user) or not mail_configured():
        audit.record(
            Actor(SYSTEM.type, None, (email or "").strip()[:320], ip),
            "user.password_reset_request",
            clock,
            customer_id=user.customer_id if user else None,
            outcome="refused",
        )
        db.session.commit()
        return None
    now = clock.now()
    _retire_links(user.id, now)
    token = secrets.token_urlsafe(32)
    db.session.add(
        PasswordReset(
            user_id=user.id, token_hash=_hash(token), created_at=now, expires_at=now + RESET_VALID
        )
    )
    audit.record(
        Actor.user(user, ip), "user.password_reset_request", clock, customer_id=user.customer_id
    )
    db.session.commit()
    expires = (now + RESET_VALID).astimezone(clock.tz)
    return compose(
        "password_reset",
        user.email,
        recipient_language(user),
        clock,
        customer_id=user.customer_id,
        name=user.name,
        company=user.customer.company_name,
        email=user.email,
        link=f"{public_url}/portal/reset/{token}",
        expires=expires,
    )


def _retire_links(user_id: int, now) -> None:
    db.session.execute(
        db.update(PasswordReset)
        .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


def find_reset(token: str, clock: Clock) -> User:
    """The user a reset link belongs to. NotFound when unknown, used or the user may no longer
    sign in; DomainError when expired."""
    invalid = _("This link is not valid or has already been used.")
    if not token or len(token) > 200:
        raise NotFound(invalid)
    link = db.session.scalar(
        db.select(PasswordReset).where(PasswordReset.token_hash == _hash(token))
    )
    if link is None or link.used_at is not None:
        raise NotFound(invalid)
    user = db.session.get(User, link.user_id)
    if user is None or not user_may_sign_in(user):
        raise NotFound(invalid)
    if link.expires_at <= clock.now():
        raise DomainError(_("This link has expired. Please request a new one."))
    return user


def reset_password(
    token: str, password: str, password_again: str, clock: Clock, ip: str = ""
) -> User:
    """Set a new password through a reset link (single use, even when submitted twice at once).

    Ends every session of the user. Raises NotFound/DomainError as ``find_reset`` and the
    password policy's DomainError (nothing changes then).
    """
    user = find_reset(token, clock)
    check_new_password(password, password_again)
    now = clock.now()
    claimed = db.session.execute(
        db.update(PasswordReset)
        .where(PasswordReset.token_hash == _hash(token), PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        raise NotFound(_("This link is not valid or has already been used."))
    _retire_links(user.id, now)
    user.password_hash = hash_password(password)
    user.session_version += 1
    audit.record(Actor.user(user, ip), "user.password_reset", clock, customer_id=user.customer_id)
    db.session.commit()
    return user


def update_account(user_id: int, name: str, language: str, actor: Actor, clock: Clock) -> User:
    """Change a user's display name and language. Raises DomainError for an empty or too long
    name or a language other than English/German."""
    user = get_user(user_id)
    clean = (name or "").strip()
    if not clean:
        raise DomainError(_("Please enter your name."), field="name")
    if len(clean) > NAME_MAX:
        raise DomainError(_("At most %(n)d characters.", n=NAME_MAX), field="name")
    if language not in Language.codes():
        raise DomainError(_("Please choose English or German."), field="language")
    before = {"name": user.name, "language": user.language}
    user.name, user.language = clean, language
    if user.is_main:
        user.customer.contact_name = clean
    audit.record(
        actor,
        "user.update_account",
        clock,
        customer_id=user.customer_id,
        before=before,
        after={"name": clean, "language": language},
    )
    db.session.commit()
    return user


def set_language(user_id: int, language: str, actor: Actor, clock: Clock) -> User:
    """Remember the portal language a user chose. DomainError for an unknown language."""
    user = get_user(user_id)
    if language not in Language.codes():
        raise DomainError(_("Please choose English or German."), field="language")
    if user.language != language:
        before = {"language": user.language}
        user.language = language
        audit.record(
            actor,
            "user.set_language",
            clock,
            customer_id=user.customer_id,
            before=before,
            after={"language": language},
        )
        db.session.commit()
    return user


def change_password(
    user_id: int,
    current_password: str,
    password: str,
    password_again: str,
    actor: Actor,
    clock: Clock,
) -> User:
    """Change the password after checking the current one; every session of the user ends
    (the caller signs the current one in again). DomainError on a wrong current password or
    a new password outside the policy."""
    user = get_user(user_id)
    if not verify_password(user.password_hash, current_password or ""):
        audit.record(
            actor, "user.change_password", clock, customer_id=user.customer_id, outcome="failed"
        )
        db.session.commit()
        raise DomainError(_("The current password is not correct."), field="current_password")
    check_new_password(password, password_again)
    user.password_hash = hash_password(password)
    user.session_version += 1
    _retire_links(user.id, clock.now())
    audit.record(actor, "user.change_password", clock, customer_id=user.customer_id)
    db.session.commit()
    return user
