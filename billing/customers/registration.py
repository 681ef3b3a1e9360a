"""Self-registration in the portal (SPEC §10, seed 3.5.1): when the Self-Service settings allow
it, anyone can open an account for their company.

- The form gives the main user's e-mail and name, the company's address and VAT-ID (the same
  validation as the admin's Edit address) and the acceptance of the terms.
- The result is a self-service customer whose main user must confirm the e-mail address
  through a single-use link, valid ``CONFIRM_VALID_DAYS`` days, before signing in.
- The password is chosen on the confirmation page, so it is always the choice of whoever
  reads the address's e-mail: a waiting registration holds no password a later confirmation
  could inherit.
- Confirming starts the free trial (``own_subscription.start_trial``).
- An e-mail address that has an account already gets no second one, and the form's answer does
  not tell (no account probing): the address receives a note that it has an account. A repeat
  registration of an address that still waits for its confirmation replaces that registration
  entirely (company, name, language, link; anyone else in its team) and sends a new link; the
  earlier link stops working.
- Registration e-mails are limited per address (``mail_limits.REGISTRATION``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from billing.access.staff import normalise_email
from billing.catalog.selfservice import load_self_service
from billing.customers.accounts import check_new_password, claim_link, recipient_language
from billing.customers.addresses import AddressInput, validate_address
from billing.customers.summary import audit_snapshot, refresh_summary
from billing.customers.team import remove_all_but_main
from billing.kernel import audit, mail_limits
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.mail import Outgoing, compose, mail_configured
from billing.kernel.site import Site
from billing.subscriptions.own_subscription import start_trial
from models import Customer, Language, ServiceMode, User, db

CONFIRM_VALID_DAYS = 7


def registration_enabled() -> bool:
    return load_self_service().registration_enabled


@dataclass
class Registration:
    email: str
    contact_name: str
    accept_terms: bool
    address: AddressInput
    language: str = Language.EN.value


def _confirm_hash(token: str) -> str:
    # Its own prefix, so a confirmation token never works as an invite token (same column).
    return hashlib.sha256(f"confirm:{token}".encode()).hexdigest()


def _validate(data: Registration, home_country: str) -> tuple[str, str, AddressInput]:
    name = (data.contact_name or "").strip()
    if not name:
        raise DomainError(_("Please enter your name."), field="contact_name")
    if len(name) > 200:
        raise DomainError(_("At most %(n)d characters.", n=200), field="contact_name")
    try:
        email = normalise_email(data.email or "")
    except DomainError as error:
        raise DomainError(error.message, field="email") from None
    if len(email) > 320:
        raise DomainError(_("Please enter a valid e-mail address."), field="email")
    if data.language not in Language.codes():
        raise DomainError(_("Please choose English or German."), field="language")
    address = validate_address(data.address, home_country)
    if not data.accept_terms:
        raise DomainError(_("Please accept the terms and conditions."), field="accept_terms")
    return name, email, address


@dataclass(frozen=True)
class Registered:
    """The e-mail to send; ``customer_id`` is None when the address had an account already."""

    message: Outgoing | None
    customer_id: int | None


def register(data: Registration, clock: Clock, site: Site = Site(), ip: str = "") -> Registered:
    """Open a self-service customer with an unconfirmed main user and compose the confirmation
    e-mail (see the module rules for a taken address and a repeat registration).

    Raises NotFound when self-registration is switched off, DomainError (with ``field``) for
    invalid input, DomainError when no mail server is configured, and TooManyMails when the
    address had too many registration e-mails lately.
    """
    if not registration_enabled():
        raise NotFound(_("Registration is not available."))
    name, email, address = _validate(data, site.home_country)
    if not mail_configured():
        raise DomainError(_("Registration is not possible at the moment. Please try again later."))
    mail_limits.spend(mail_limits.REGISTRATION, email, field="email")
    existing = db.session.scalar(db.select(User).where(func.lower(User.email) == email.lower()))
    if existing is not None and _waits_for_confirmation(existing):
        message = _replace(existing, name, data.language, address, clock, ip, site.public_url)
        return Registered(message, existing.customer_id)
    if existing is not None:
        return Registered(_existing_account_message(existing, clock, ip, site.public_url), None)
    now = clock.now()
    customer = Customer(
        contact_name=name,
        contact_email=email,
        language=data.language,
        service_mode=ServiceMode.SELF_SERVICE.value,
        created_at=now,
        updated_at=now,
        **_address_fields(address),
    )
    db.session.add(customer)
    db.session.flush()
    token = secrets.token_urlsafe(32)
    user = User(
        customer_id=customer.id,
        email=email,
        name=name,
        is_main=True,
        confirmation_pending=True,
        invite_token_hash=_confirm_hash(token),
        invite_expires_at=now + timedelta(days=CONFIRM_VALID_DAYS),
        language=data.language,
        created_at=now,
    )
    db.session.add(user)
    db.session.flush()
    refresh_summary(customer)
    audit.record(
        Actor.user(user, ip),
        "customer.self_register",
        clock,
        customer_id=customer.id,
        after={**audit_snapshot(customer), "terms_accepted": True},
    )
    try:
        db.session.commit()
    except IntegrityError:
        # the same address registered at the same moment: that one stands
        db.session.rollback()
        return Registered(None, None)
    return Registered(_confirmation_message(user, token, clock, site.public_url), customer.id)


def _address_fields(address: AddressInput) -> dict:
    return {key: getattr(address, key) for key in AddressInput.__dataclass_fields__}


def _registration_snapshot(customer: Customer) -> dict:
    return {
        **audit_snapshot(customer),
        "company_name": customer.company_name,
        "contact_name": customer.contact_name,
        "country": customer.country,
        "language": customer.language,
    }


def _replace(
    user: User,
    name: str,
    language: str,
    address: AddressInput,
    clock: Clock,
    ip: str,
    public_url: str,
) -> Outgoing:
    """A repeat registration of an address that waits for its confirmation: the new one
    replaces it (company, address, name, language; no password; no one else in its team) and
    gets a new link, the earlier one stops working."""
    customer = user.customer
    before = _registration_snapshot(customer)
    removed = remove_all_but_main(customer.id)
    for key, value in _address_fields(address).items():
        setattr(customer, key, value)
    customer.contact_name, customer.language = name, language
    customer.updated_at = clock.now()
    token = secrets.token_urlsafe(32)
    user.name, user.language, user.password_hash = name, language, None
    user.invite_token_hash = _confirm_hash(token)
    user.invite_expires_at = clock.now() + timedelta(days=CONFIRM_VALID_DAYS)
    refresh_summary(customer)
    audit.record(
        Actor.user(user, ip),
        "customer.self_register",
        clock,
        customer_id=customer.id,
        before=before,
        after={**_registration_snapshot(customer), "terms_accepted": True, "removed": removed},
        reason="replaces the unconfirmed registration of the same address",
    )
    db.session.commit()
    return _confirmation_message(user, token, clock, public_url)


def _mail(template: str, user: User, link: str, clock: Clock, **context) -> Outgoing:
    return compose(
        template,
        user.email,
        recipient_language(user),
        clock,
        customer_id=user.customer_id,
        name=user.name,
        company=user.customer.company_name,
        email=user.email,
        link=link,
        **context,
    )


def _confirmation_message(user: User, token: str, clock: Clock, public_url: str) -> Outgoing:
    expires = user.invite_expires_at.astimezone(clock.tz)
    return _mail(
        "registration_confirm",
        user,
        f"{public_url}/portal/register/confirm/{token}",
        clock,
        expires=expires,
    )


def _waits_for_confirmation(user: User) -> bool:
    return (
        user.confirmation_pending
        and not user.is_registered
        and user.customer.marked_for_deletion_at is None
    )


def _existing_account_message(
    user: User, clock: Clock, ip: str, public_url: str
) -> Outgoing | None:
    """A note that the address has an account (nothing for a customer marked for deletion)."""
    if user.customer.marked_for_deletion_at is not None:
        return None
    audit.record(
        Actor.user(user, ip),
        "customer.self_register",
        clock,
        customer_id=user.customer_id,
        outcome="refused",
        reason="e-mail address taken",
    )
    db.session.commit()
    return _mail("registration_exists", user, f"{public_url}/portal/login", clock)


def find_confirmation(token: str, clock: Clock) -> User:
    """The user a confirmation link belongs to; NotFound when unknown or used, DomainError when
    expired (registering again sends a new link)."""
    invalid = NotFound(_("This confirmation link is not valid or has already been used."))
    if not token or len(token) > 200:
        raise invalid
    user = db.session.scalar(db.select(User).where(User.invite_token_hash == _confirm_hash(token)))
    if user is None or not _waits_for_confirmation(user):
        raise invalid
    if user.invite_expires_at is None or user.invite_expires_at < clock.now():
        raise DomainError(
            _("This confirmation link has expired. Register again to receive a new one.")
        )
    return user


def confirm_registration(
    token: str, password: str, password_again: str, clock: Clock, ip: str = ""
) -> User:
    """Confirm the e-mail address and set the main user's password (single use, also when
    submitted twice at once): the main user may sign in from now on, the free trial starts,
    and no one else is in the team (nobody could have been invited by the address's owner).

    Raises ``find_confirmation``'s errors and the password policy's DomainError (nothing
    changes then)."""
    user = find_confirmation(token, clock)
    check_new_password(password, password_again)
    claim_link(
        user,
        _confirm_hash(token),
        password,
        clock,
        _("This confirmation link is not valid or has already been used."),
    )
    actor = Actor.user(user, ip)
    customer = user.customer
    before = audit_snapshot(customer)
    removed = remove_all_but_main(customer.id)
    start_trial(customer.id, actor, clock)
    db.session.flush()
    refresh_summary(customer)
    audit.record(
        actor,
        "user.confirm_registration",
        clock,
        customer_id=customer.id,
        before=before,
        after={**audit_snapshot(customer), "removed": removed}
        if removed
        else audit_snapshot(customer),
    )
    db.session.commit()
    return user
