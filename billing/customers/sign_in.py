"""Whether and how a customer's user signs in to the portal (seed 3.2.3, 3.2.9), and signing
them out everywhere."""

from __future__ import annotations

from sqlalchemy import func

from billing.kernel import audit
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import Clock
from billing.kernel.i18n import _
from models import User, db


def user_may_sign_in(user: User) -> bool:
    """Customer users sign in only when enabled, registered, and the customer is neither
    locked nor marked for deletion (seed 3.2.3, 3.2.9)."""
    customer = user.customer
    return (
        user.enabled
        and user.is_registered
        and not customer.locked
        and customer.marked_for_deletion_at is None
    )


def locked_out(user: User) -> bool:
    """The user could sign in but for the customer's lock (seed 3.2.3): the one refusal the
    user is told about, and only after the right password."""
    customer = user.customer
    return (
        user.enabled
        and user.is_registered
        and customer.locked
        and customer.marked_for_deletion_at is None
    )


def locked_message(*, signed_out: bool = False) -> str:
    """What a user of a locked customer is told at sign-in, or when the lock ended their
    session (``signed_out``): the account is locked, and whom to write to, with the provider's
    address when the product sends e-mails (``cards.provider_email``)."""
    from billing.payments.cards import provider_email

    email = provider_email()
    if signed_out:
        if email:
            return _(
                "You have been signed out because your company's account is locked. Please "
                "contact your provider at %(email)s.",
                email=email,
            )
        return _(
            "You have been signed out because your company's account is locked. Please contact "
            "your provider."
        )
    if email:
        return _(
            "Your company's account is locked, so you cannot sign in. Please contact your "
            "provider at %(email)s.",
            email=email,
        )
    return _(
        "Your company's account is locked, so you cannot sign in. Please contact your provider."
    )


def authenticate_user(email: str, password: str, clock: Clock, ip: str = "") -> User:
    """Portal sign-in. Unknown user, wrong password, disabled user and deleted customer all get
    the same answer (no account probing); the right password of a locked customer's user is
    told that the account is locked."""
    from billing.access.passwords import verify_password
    from billing.kernel.errors import AuthenticationFailed

    user = db.session.scalar(
        db.select(User).where(func.lower(User.email) == (email or "").strip().lower())
    )
    ok = verify_password(user.password_hash if user else None, password or "")
    if not ok or user is None or not user_may_sign_in(user):
        locked = ok and user is not None and locked_out(user)
        audit.record(
            Actor(SYSTEM.type, None, (email or "").strip()[:320], ip),
            "user.sign_in",
            clock,
            customer_id=user.customer_id if user else None,
            reason="customer locked" if locked else "",
            outcome="failed",
        )
        db.session.commit()
        if locked:
            raise AuthenticationFailed(locked_message())
        raise AuthenticationFailed(_("Invalid e-mail or password."))
    audit.record(Actor.user(user, ip), "user.sign_in", clock, customer_id=user.customer_id)
    db.session.commit()
    return user


def end_user_sessions(user_id: int, clock: Clock, ip: str = "") -> None:
    """Sign a customer user out everywhere (their session cookies stop working); ``ip`` is the
    address the sign-out came from."""
    user = db.session.get(User, user_id)
    if user is not None:
        user.session_version += 1
        audit.record(Actor.user(user, ip), "user.sign_out", clock, customer_id=user.customer_id)
        db.session.commit()
