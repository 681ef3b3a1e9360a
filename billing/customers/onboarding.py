"""A new customer (SPEC §4, seed 3.1): creating it, inviting its main user, and the main user's
registration from the invite link.

Every function takes ids and values plus the acting ``Actor`` and the ``Clock``, writes one audit
event per state change and commits its own transaction."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pycountry
from sqlalchemy import func

from billing.access.passwords import MIN_LENGTH, hash_password
from billing.access.staff import normalise_email
from billing.customers.accounts import check_new_password, claim_link
from billing.customers.lookup import get_customer, is_invited, main_user
from billing.customers.summary import audit_snapshot, refresh_summary
from billing.kernel import audit, mail_limits
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.site import Site
from models import Customer, Language, ServiceMode, User, db

INVITE_VALID_DAYS = 7


def _check_country(code: str) -> str:
    code = (code or "").strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise DomainError(_("Please choose a country from the list."), field="country")
    return code


@dataclass
class NewCustomer:
    company_name: str
    contact_name: str
    contact_email: str
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = "DE"
    phone: str = ""
    language: str = Language.EN.value
    service_mode: str = ServiceMode.MANAGED.value


def new_invite_token() -> tuple[str, str]:
    """A fresh invite token and the hash that is stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def _checked(data: NewCustomer) -> tuple[str, str, str, str]:
    """The company, contact name, e-mail and country of a new customer, or DomainError."""
    company = data.company_name.strip()
    contact = data.contact_name.strip()
    if not company:
        raise DomainError(_("Please enter the company name."), field="company_name")
    if not contact:
        raise DomainError(_("Please enter the contact person's name."), field="contact_name")
    email = normalise_email(data.contact_email)
    if data.language not in Language.codes():
        raise DomainError(_("Please choose English or German."), field="language")
    if data.service_mode not in ServiceMode.codes():
        raise DomainError(_("Unknown service mode."), field="service_mode")
    country = _check_country(data.country)
    # staff see every customer: telling them that the address is taken reveals nothing
    if db.session.scalar(db.select(User.id).where(func.lower(User.email) == email.lower())):
        raise DomainError(_("A user with this e-mail exists already."), field="contact_email")
    return company, contact, email, country


def create_customer(data: NewCustomer, actor: Actor, clock: Clock) -> tuple[Customer, str]:
    """Create a customer with an unregistered main user (SPEC §4, seed 3.1).

    Returns the customer and the plain invite token (only its hash is stored).
    Raises DomainError for missing names, an invalid or taken e-mail or an unknown country.
    """
    company, contact, email, country = _checked(data)
    now = clock.now()
    customer = Customer(
        company_name=company,
        contact_name=contact,
        contact_email=email,
        street=data.street.strip(),
        postal_code=data.postal_code.strip(),
        city=data.city.strip(),
        country=country,
        phone=data.phone.strip(),
        language=data.language,
        service_mode=data.service_mode,
        created_at=now,
        updated_at=now,
    )
    db.session.add(customer)
    db.session.flush()
    token, hashed = new_invite_token()
    db.session.add(
        User(
            customer_id=customer.id,
            email=email,
            name=contact,
            is_main=True,
            invite_token_hash=hashed,
            invite_expires_at=now + timedelta(days=INVITE_VALID_DAYS),
            created_at=now,
        )
    )
    db.session.flush()
    refresh_summary(customer)
    audit.record(
        actor, "customer.create", clock, customer_id=customer.id, after=audit_snapshot(customer)
    )
    db.session.commit()
    return customer, token


def register_user(user_id: int, password: str, clock: Clock) -> User:
    """Set the password of an invited user and mark them registered."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("This user does not exist."))
    if len(password) < MIN_LENGTH:
        raise DomainError(
            _("The password needs at least %(n)d characters.", n=MIN_LENGTH), field="password"
        )
    user.password_hash = hash_password(password)
    user.registered_at = clock.now()
    user.invite_token_hash = None
    user.invite_expires_at = None
    user.confirmation_pending = False
    customer = user.customer
    refresh_summary(customer)
    audit.record(Actor.user(user), "user.register", clock, customer_id=customer.id)
    db.session.commit()
    return user


def token_hash(token: str) -> str:
    """The hash an invite token is stored as."""
    return hashlib.sha256(token.encode()).hexdigest()


def invite_customer(data: NewCustomer, actor: Actor, clock: Clock, site: Site = Site()):
    """Create a managed customer and compose its invite e-mail (seed 3.1).

    Returns the customer and the ``Outgoing`` message for the mail job. Refused with a message
    pointing to the mail settings when no mail server is configured, with ``create_customer``'s
    errors, and with TooManyMails when the address or the staff member sent too many
    invitations lately.
    """
    from billing.kernel.mail import mail_configured

    if not mail_configured():
        raise DomainError(
            _(
                "No mail server is configured, so no invite can be sent. "
                "Please enter the mail server under Settings \u2192 Mail server first."
            )
        )
    data.service_mode = ServiceMode.MANAGED.value
    email = _checked(data)[2]
    mail_limits.spend(mail_limits.INVITATION, email, mail_limits.account_of(actor), "contact_email")
    customer, token = create_customer(data, actor, clock)
    return customer, invite_message(customer.id, token, clock, site)


def invite_message(customer_id: int, token: str, clock: Clock, site: Site = Site()):
    """The invite e-mail of the customer's main user, its link on ``site``'s address."""
    from billing.kernel.mail import compose

    customer = get_customer(customer_id)
    user = main_user(customer_id)
    expires = user.invite_expires_at.astimezone(clock.tz)
    return compose(
        "invite",
        user.email,
        customer.language,
        clock,
        customer_id=customer_id,
        name=user.name,
        company=customer.company_name,
        email=user.email,
        link=f"{site.public_url}/portal/invite/{token}",
        expires=expires,
    )


def resend_invite(customer_id: int, actor: Actor, clock: Clock, site: Site = Site()):
    """Issue a new invite token (the old one stops working) and compose the e-mail again.
    Raises TooManyMails when the address or the staff member sent too many invitations lately
    (nothing changes then)."""
    customer = get_customer(customer_id)
    if not is_invited(customer):
        raise DomainError(_("Only customers whose main user has not registered can be re-invited."))
    user = main_user(customer_id)
    mail_limits.spend(mail_limits.INVITATION, user.email, mail_limits.account_of(actor))
    token, hashed = new_invite_token()
    user.invite_token_hash = hashed
    user.invite_expires_at = clock.now() + timedelta(days=INVITE_VALID_DAYS)
    audit.record(actor, "customer.resend_invite", clock, customer_id=customer_id)
    db.session.commit()
    return invite_message(customer_id, token, clock, site)


def find_invite(token: str, clock: Clock):
    """The invited main user (a ``User``) or the team invitation (a ``TeamInvitation``) an
    invite link belongs to; both name the ``email`` and the ``customer``. NotFound when
    unknown or used, DomainError when expired."""
    from billing.customers.team import find_invitation

    invalid = NotFound(_("This invite link is not valid or has already been used."))
    if not token or len(token) > 200:
        raise invalid
    user = db.session.scalar(db.select(User).where(User.invite_token_hash == token_hash(token)))
    if user is None:
        invitation = find_invitation(token, clock)
        if invitation is None:
            raise invalid
        return invitation
    if user.is_registered:
        raise invalid
    if user.invite_expires_at is None or user.invite_expires_at < clock.now():
        raise DomainError(
            _("This invite link has expired. Please ask your provider for a new invitation.")
        )
    if user.customer.marked_for_deletion_at is not None:
        raise invalid
    return user


def welcome_message(user: User, clock: Clock):
    """The e-mail that confirms a registration from an invite."""
    from billing.kernel.mail import compose

    customer = user.customer
    return compose(
        "registration_done",
        user.email,
        user.language or customer.language,
        clock,
        customer_id=customer.id,
        name=user.name,
        company=customer.company_name,
        email=user.email,
    )


def accept_invite(token: str, password: str, password_again: str, clock: Clock, ip: str = ""):
    """Register from an invite link with a password (single use, even when submitted twice at
    once): the invited main user, or a team user created from the invitation
    (``team.accept_invitation``); ``ip`` is the client's address for the audit event.

    Returns the user and the welcome ``Outgoing`` message.
    """
    from billing.customers.team import accept_invitation

    invited = find_invite(token, clock)
    if not isinstance(invited, User):
        return accept_invitation(invited, token, password, password_again, clock, ip)
    user = invited
    check_new_password(password, password_again)
    claim_link(
        user,
        token_hash(token),
        password,
        clock,
        _("This invite link is not valid or has already been used."),
    )
    customer = user.customer
    refresh_summary(customer)
    audit.record(Actor.user(user, ip), "user.register", clock, customer_id=customer.id)
    db.session.commit()
    return user, welcome_message(user, clock)
