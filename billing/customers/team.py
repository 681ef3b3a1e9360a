"""A customer's team (seed 3.1, SPEC §10): the main user, the team users and the invitations.

Team users share the main user's subscription and permissions, so every registered user of a
customer may manage the team. Every function is scoped to one customer: an id of another
customer raises NotFound. Each change writes one audit event.

An invitation is not an account (``TeamInvitation``): the user is created when the invitee
accepts. So inviting answers the same for every address outside the team, and the team list
shows the invitation either way: neither whether an address has an account (with another
customer, a pending registration, an invite of its own) nor whether another customer invited
it shows. Only the owner of the address learns it: an address that has an account gets an
e-mail saying so instead of a link, and accepting a link is refused once the address has one.
Invitation e-mails are limited per address and per account (``mail_limits.INVITATION``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from billing.access.passwords import hash_password
from billing.access.staff import normalise_email
from billing.customers.accounts import check_new_password, recipient_language
from billing.customers.lookup import get_customer
from billing.customers.onboarding import (
    INVITE_VALID_DAYS,
    new_invite_token,
    token_hash,
    welcome_message,
)
from billing.customers.summary import refresh_summary
from billing.kernel import audit, mail_limits
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from models import ActorType, Contact, TeamInvitation, User, db

NAME_MAX = 200


@dataclass(frozen=True)
class Member:
    """A row of the team list: a user or a pending invitation (``kind``), its state and the
    actions offered on it."""

    id: int
    kind: str  # user | invitation
    name: str
    email: str
    state: str  # main | active | disabled | invited | invite_expired
    actions: tuple[str, ...]  # users: disable, enable; invitations: resend, revoke


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
    if user.is_main or user.id == acting_user_id or not user.is_registered:
        return ()
    return ("disable",) if user.enabled else ("enable",)


def _invitation_state(invitation: TeamInvitation, clock: Clock) -> str:
    return "invite_expired" if invitation.expires_at < clock.now() else "invited"


def team(customer_id: int, acting_user_id: int | None, clock: Clock) -> list[Member]:
    """The customer's users (the main user first, then by name), then its invitations."""
    users = db.session.scalars(
        db.select(User)
        .where(User.customer_id == customer_id)
        .order_by(User.is_main.desc(), func.lower(User.name), User.id)
    ).all()
    invitations = db.session.scalars(
        db.select(TeamInvitation)
        .where(TeamInvitation.customer_id == customer_id)
        .order_by(func.lower(TeamInvitation.name), TeamInvitation.id)
    ).all()
    return [
        Member(
            u.id,
            "user",
            u.name,
            u.email,
            member_state(u, clock),
            member_actions(u, acting_user_id),
        )
        for u in users
    ] + [
        Member(
            i.id, "invitation", i.name, i.email, _invitation_state(i, clock), ("resend", "revoke")
        )
        for i in invitations
    ]


def team_member(customer_id: int, user_id: int) -> User:
    """A user of this customer; NotFound for an unknown id or one of another customer."""
    user = db.session.get(User, user_id)
    if user is None or user.customer_id != customer_id:
        raise NotFound(_("This user does not exist."))
    return user


def team_invitation(customer_id: int, invitation_id: int) -> TeamInvitation:
    """An invitation of this customer; NotFound for an unknown id or one of another customer."""
    invitation = db.session.get(TeamInvitation, invitation_id)
    if invitation is None or invitation.customer_id != customer_id:
        raise NotFound(_("This invitation does not exist (any more)."))
    return invitation


def _require(user: User, action: str, actor: Actor) -> None:
    acting_user_id = actor.id if actor.type == ActorType.USER else None
    if action not in member_actions(user, acting_user_id):
        raise DomainError(_("This action is not available for this user (any more)."))


def _account_holder(email: str) -> User | None:
    return db.session.scalar(db.select(User).where(func.lower(User.email) == email.lower()))


def _invite_message(invitation: TeamInvitation, inviter: str, token: str, clock: Clock, url: str):
    """The invite with its link, or, when the address has an account already, a note to its
    owner without a link (an address belongs to one account only)."""
    from billing.kernel.mail import compose

    customer = invitation.customer
    context = {
        "customer_id": customer.id,
        "name": invitation.name,
        "inviter": inviter,
        "company": customer.company_name,
        "email": invitation.email,
    }
    holder = _account_holder(invitation.email)
    if holder is not None:
        language = recipient_language(holder)
        # the note goes to the address's owner: greeted by the name of their own account
        context["name"] = holder.name
        return compose("team_invite_taken", invitation.email, language, clock, **context)
    return compose(
        "team_invite",
        invitation.email,
        recipient_language(invitation),
        clock,
        link=f"{url}/portal/invite/{token}",
        expires=invitation.expires_at,
        **context,
    )


def _check_can_mail() -> None:
    from billing.kernel.mail import mail_configured

    if not mail_configured():
        raise DomainError(_("No e-mail can be sent at the moment. Please contact your provider."))


def invite_member(
    customer_id: int, email: str, name: str, actor: Actor, clock: Clock, public_url: str = ""
):
    """Invite ``email`` into the team and compose the e-mail (see the module rules); the
    invitee accepts through the usual invite link. Returns ``(TeamInvitation, Outgoing)``.

    Raises DomainError for an empty or too long name, an invalid address, an address that is
    in this team or invited to it already (in any case), a customer marked for deletion, when
    no mail can be sent, and TooManyMails when the address or the account had too many
    invitations lately.
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
    holder = _account_holder(address)
    if holder is not None and holder.customer_id == customer_id:
        raise DomainError(_("This person is in your team already."), field="email")
    if _pending(customer_id, address) is not None:
        raise DomainError(
            _("This address is invited already; you can send the invite again from the list."),
            field="email",
        )
    _check_can_mail()
    mail_limits.spend(
        mail_limits.INVITATION, address, mail_limits.account_of(actor, customer_id), "email"
    )
    now = clock.now()
    token, hashed = new_invite_token()
    invitation = TeamInvitation(
        customer_id=customer_id,
        email=address,
        name=clean_name,
        token_hash=hashed,
        expires_at=now + timedelta(days=INVITE_VALID_DAYS),
        created_at=now,
    )
    db.session.add(invitation)
    try:
        db.session.flush()
    except IntegrityError:
        # the same address invited into this team at the same moment: that one stands
        db.session.rollback()
        raise DomainError(
            _("This address is invited already; you can send the invite again from the list."),
            field="email",
        ) from None
    audit.record(actor, "team.invite", clock, customer_id=customer_id, after={"email": address})
    db.session.commit()
    return invitation, _invite_message(invitation, actor.label, token, clock, public_url)


def _pending(customer_id: int, email: str) -> TeamInvitation | None:
    return db.session.scalar(
        db.select(TeamInvitation).where(
            TeamInvitation.customer_id == customer_id,
            func.lower(TeamInvitation.email) == email.lower(),
        )
    )


def resend_invite(
    customer_id: int, invitation_id: int, actor: Actor, clock: Clock, public_url: str = ""
):
    """Send a pending invitation again with a new link (the old one stops working). Raises
    TooManyMails as ``invite_member``; nothing changes then."""
    invitation = team_invitation(customer_id, invitation_id)
    _check_can_mail()
    mail_limits.spend(
        mail_limits.INVITATION, invitation.email, mail_limits.account_of(actor, customer_id)
    )
    token, hashed = new_invite_token()
    invitation.token_hash = hashed
    invitation.expires_at = clock.now() + timedelta(days=INVITE_VALID_DAYS)
    audit.record(
        actor,
        "team.resend_invite",
        clock,
        customer_id=customer_id,
        after={"email": invitation.email},
    )
    db.session.commit()
    return _invite_message(invitation, actor.label, token, clock, public_url)


def revoke_invite(customer_id: int, invitation_id: int, actor: Actor, clock: Clock) -> None:
    """Withdraw a pending invitation: its link stops working."""
    invitation = team_invitation(customer_id, invitation_id)
    email = invitation.email
    db.session.delete(invitation)
    audit.record(
        actor, "team.revoke_invite", clock, customer_id=customer_id, before={"email": email}
    )
    db.session.commit()


def remove_all_but_main(customer_id: int) -> list[str]:
    """Remove every user but the main user and every invitation of the customer (not
    committed); the removed addresses, for the caller's audit event."""
    others = db.session.scalars(
        db.select(User).where(User.customer_id == customer_id, User.is_main.is_(False))
    ).all()
    invited = db.session.scalars(
        db.select(TeamInvitation).where(TeamInvitation.customer_id == customer_id)
    ).all()
    for record in [*others, *invited]:
        db.session.delete(record)
    db.session.flush()
    return [record.email for record in [*others, *invited]]


def find_invitation(token: str, clock: Clock) -> TeamInvitation | None:
    """The invitation a link belongs to, None when no invitation has this token; NotFound
    for a customer marked for deletion, DomainError when expired."""
    invitation = db.session.scalar(
        db.select(TeamInvitation).where(TeamInvitation.token_hash == token_hash(token))
    )
    if invitation is None:
        return None
    if invitation.customer.marked_for_deletion_at is not None:
        raise NotFound(_("This invite link is not valid or has already been used."))
    if invitation.expires_at < clock.now():
        raise DomainError(
            _("This invite link has expired. Please ask your team for a new invitation.")
        )
    return invitation


def _address_taken(invitation: TeamInvitation) -> DomainError:
    return DomainError(
        _(
            "This e-mail address has an account already, and an address can belong to one "
            "account only. Sign in with it, or ask %(company)s to invite another address.",
            company=invitation.customer.company_name,
        )
    )


def accept_invitation(
    invitation: TeamInvitation, token: str, password: str, password_again: str, clock, ip=""
):
    """Create the team user of an invitation with its password (single use, also when
    submitted twice at once). Returns the user and the welcome ``Outgoing``.

    Raises DomainError for a password outside the policy and when the address has an account
    by now (the invitation stays), NotFound when the link was used meanwhile."""
    check_new_password(password, password_again)
    if _account_holder(invitation.email) is not None:
        raise _address_taken(invitation)
    customer_id, email, name = invitation.customer_id, invitation.email, invitation.name
    claimed = db.session.execute(
        db.delete(TeamInvitation)
        .where(TeamInvitation.id == invitation.id, TeamInvitation.token_hash == token_hash(token))
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        raise NotFound(_("This invite link is not valid or has already been used."))
    now = clock.now()
    user = User(
        customer_id=customer_id,
        email=email,
        name=name,
        is_main=False,
        password_hash=hash_password(password),
        registered_at=now,
        created_at=now,
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        # the address got an account at the same moment: that one stands
        db.session.rollback()
        raise _address_taken(invitation) from None
    db.session.execute(
        db.update(Contact)
        .where(
            Contact.customer_id == customer_id,
            func.lower(Contact.email) == email.lower(),
            Contact.user_id.is_(None),
        )
        .values(user_id=user.id)
        .execution_options(synchronize_session=False)
    )
    customer = get_customer(customer_id)
    refresh_summary(customer)
    audit.record(Actor.user(user, ip), "user.register", clock, customer_id=customer_id)
    db.session.commit()
    return user, welcome_message(user, clock)


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
