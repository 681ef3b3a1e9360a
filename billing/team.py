"""A customer's team (seed 3.1, SPEC §10): the main user and the team users it invites.

Team users share the main user's subscription and permissions, so every registered user of a
customer may manage the team. Every function is scoped to one customer: a user id of another
customer raises NotFound. Each change writes one audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func

from models import ActorType, User, db

from . import audit
from .audit import Actor
from .clock import Clock
from .customers import INVITE_VALID_DAYS, get_customer, new_invite_token
from .errors import DomainError, NotFound
from .i18n import _
from .staff import normalise_email

NAME_MAX = 200


@dataclass(frozen=True)
class Member:
    """A row of the team list: the user, its state and the actions offered on it."""

    user: User
    state: str  # main | active | disabled | invited | invite_expired
    actions: tuple[str, ...]  # of: disable, enable, resend, revoke


def member_state(user: User, clock: Clock) -> str:
    if not user.is_registered:
        if user.invite_expires_at is None or user.invite_expires_at < clock.now():
            return "invite_expired"
        return "invited"
    if not user.enabled:
        return "disabled"
    return "main" if user.is_main else "active"


def member_actions(user: User, acting_user_id: int | None) -> tuple[str, ...]:
    """What may be done to ``user``: never to the main user, nor to oneself."""
    if user.is_main or user.id == acting_user_id:
        return ()
    if not user.is_registered:
        return ("resend", "revoke")
    return ("disable",) if user.enabled else ("enable",)


def team(customer_id: int, acting_user_id: int | None, clock: Clock) -> list[Member]:
    """The customer's users: the main user first, then by name."""
    users = db.session.scalars(
        db.select(User)
        .where(User.customer_id == customer_id)
        .order_by(User.is_main.desc(), func.lower(User.name), User.id)
    ).all()
    return [Member(u, member_state(u, clock), member_actions(u, acting_user_id)) for u in users]


def team_member(customer_id: int, user_id: int) -> User:
    """A user of this customer; NotFound for an unknown id or one of another customer."""
    user = db.session.get(User, user_id)
    if user is None or user.customer_id != customer_id:
        raise NotFound(_("This user does not exist."))
    return user


def _require(user: User, action: str, actor: Actor) -> None:
    acting_user_id = actor.id if actor.type == ActorType.USER else None
    if action not in member_actions(user, acting_user_id):
        raise DomainError(_("This action is not available for this user (any more)."))


def _invite_message(user: User, inviter: str, token: str, clock: Clock, public_url: str):
    from .mail import compose

    customer = user.customer
    return compose(
        "team_invite",
        user.email,
        customer.language,
        clock,
        customer_id=customer.id,
        name=user.name,
        inviter=inviter,
        company=customer.company_name,
        email=user.email,
        link=f"{public_url}/portal/invite/{token}",
        expires=user.invite_expires_at,
    )


def _check_can_mail() -> None:
    from .mail import mail_configured

    if not mail_configured():
        raise DomainError(_("No e-mail can be sent at the moment. Please contact your provider."))


def invite_member(
    customer_id: int, email: str, name: str, actor: Actor, clock: Clock, public_url: str = ""
):
    """Add an unregistered team user and compose the invite e-mail; the invitee accepts through
    the usual invite link. Returns ``(user, Outgoing)``.

    Raises DomainError for an empty or too long name, an invalid address, an address that any
    user has already (in any case), a customer marked for deletion, or when no mail can be sent.
    """
    customer = get_customer(customer_id)
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is marked for deletion."))
    clean_name = (name or "").strip()
    if not clean_name:
        raise DomainError(_("Please enter the name."), field="name")
    if len(clean_name) > NAME_MAX:
        raise DomainError(_("At most %(n)d characters.", n=NAME_MAX), field="name")
    address = normalise_email(email or "")
    if db.session.scalar(db.select(User.id).where(func.lower(User.email) == address.lower())):
        raise DomainError(_("A user with this e-mail exists already."), field="email")
    _check_can_mail()
    now = clock.now()
    token, token_hash = new_invite_token()
    user = User(
        customer_id=customer_id,
        email=address,
        name=clean_name,
        is_main=False,
        invite_token_hash=token_hash,
        invite_expires_at=now + timedelta(days=INVITE_VALID_DAYS),
        created_at=now,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "team.invite", clock, customer_id=customer_id, after={"email": address})
    db.session.commit()
    return user, _invite_message(user, actor.label, token, clock, public_url)


def resend_invite(customer_id: int, user_id: int, actor: Actor, clock: Clock, public_url: str = ""):
    """Send a pending invite again with a new link (the old one stops working)."""
    user = team_member(customer_id, user_id)
    _require(user, "resend", actor)
    _check_can_mail()
    token, token_hash = new_invite_token()
    user.invite_token_hash = token_hash
    user.invite_expires_at = clock.now() + timedelta(days=INVITE_VALID_DAYS)
    audit.record(
        actor, "team.resend_invite", clock, customer_id=customer_id, after={"email": user.email}
    )
    db.session.commit()
    return _invite_message(user, actor.label, token, clock, public_url)


def revoke_invite(customer_id: int, user_id: int, actor: Actor, clock: Clock) -> None:
    """Withdraw a pending invite: the invited user is removed and the link stops working."""
    user = team_member(customer_id, user_id)
    _require(user, "revoke", actor)
    email = user.email
    db.session.delete(user)
    audit.record(
        actor, "team.revoke_invite", clock, customer_id=customer_id, before={"email": email}
    )
    db.session.commit()


def set_member_enabled(
    customer_id: int, user_id: int, enabled: bool, actor: Actor, clock: Clock
) -> User:
    """Enable or disable a registered team user. Disabling takes effect at once: the user's
    sessions end. The main user and the acting user themselves cannot be changed here."""
    user = team_member(customer_id, user_id)
    _require(user, "enable" if enabled else "disable", actor)
    user.enabled = enabled
    if not enabled:
        user.session_version += 1
    audit.record(
        actor,
        "team.enable" if enabled else "team.disable",
        clock,
        customer_id=customer_id,
        before={"email": user.email, "enabled": not enabled},
        after={"email": user.email, "enabled": enabled},
    )
    db.session.commit()
    return user
