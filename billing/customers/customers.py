"""Customer lifecycle rules and the list summary (SPEC §2–§4).

Every function takes ids and values plus the acting ``Actor`` and the ``Clock``, writes one audit
event per state change and commits its own transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pycountry
from sqlalchemy import func, literal, union_all

from billing.access.passwords import MIN_LENGTH, hash_password
from billing.access.staff import normalise_email
from billing.catalog.pricing import average_ip_price, load_tiers, monthly_price, to_cents
from billing.kernel import audit, mail_limits
from billing.kernel.audit import SYSTEM, Actor
from billing.kernel.clock import Clock, add_months
from billing.kernel.errors import Conflict, DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.locking import lock_row
from models import (
    ChangeKind,
    ChangeState,
    Customer,
    CustomerStatus,
    Language,
    PaymentMethodCode,
    PriceBasis,
    ProjectKey,
    ScheduledChange,
    ServiceMode,
    ServiceState,
    ServiceSubscription,
    Subscription,
    SubscriptionState,
    User,
    db,
)

INVITE_VALID_DAYS = 7


def derive_status(
    *, marked_for_deletion: bool, main_registered: bool, locked: bool, has_active: bool
) -> CustomerStatus:
    """The list status in SPEC §3's precedence."""
    if marked_for_deletion:
        return CustomerStatus.MARKED_FOR_DELETION
    if not main_registered:
        return CustomerStatus.INVITED
    if locked:
        return CustomerStatus.LOCKED
    if has_active:
        return CustomerStatus.ACTIVE
    return CustomerStatus.INACTIVE


def get_customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(_("This customer does not exist."))
    return customer


def lock_customer(customer_id: int) -> Customer:
    """The customer with its latest committed state, locked until the transaction ends
    (``billing.kernel.locking``): of simultaneous changes checked against the version the user saw,
    one is made and the others are told someone else changed the customer, never a 500."""
    customer = lock_row(Customer, customer_id)
    if customer is None:
        raise NotFound(_("This customer does not exist."))
    return customer


def check_version(customer: Customer, expected_version: int | None) -> None:
    """Refuse a change based on a customer record that someone else changed since."""
    if expected_version is not None and int(expected_version) != customer.version:
        raise Conflict(
            _(
                "This customer was changed by someone else in the meantime. "
                "Please reload the page and try again."
            )
        )


def current_subscription(customer_id: int) -> Subscription | None:
    return db.session.scalar(
        db.select(Subscription).where(
            Subscription.customer_id == customer_id,
            Subscription.state == SubscriptionState.ACTIVE.value,
        )
    )


def main_user(customer_id: int) -> User | None:
    return db.session.scalar(
        db.select(User).where(User.customer_id == customer_id, User.is_main.is_(True))
    )


def pending_change(customer_id: int) -> ScheduledChange | None:
    return db.session.scalar(
        db.select(ScheduledChange).where(
            ScheduledChange.customer_id == customer_id,
            ScheduledChange.state == ChangeState.PENDING.value,
        )
    )


def subscription_price(sub: Subscription, tiers=None) -> Decimal:
    """Net monthly price of a subscription on its price basis."""
    if sub.price_basis == PriceBasis.PROJECT_KEY.value:
        key = db.session.get(ProjectKey, sub.project_key_id) if sub.project_key_id else None
        if key is not None and key.selling_price is not None:
            return to_cents(Decimal(key.selling_price) / key.runtime_months)
        return (
            Decimal("0.00")
            if sub.unit_price is None
            else monthly_price(sub.total_ips, (), sub.unit_price)
        )
    unit = sub.unit_price if sub.price_basis == PriceBasis.CUSTOMER_PRICE.value else None
    return monthly_price(sub.total_ips, tiers if tiers is not None else load_tiers(), unit)


def _active_services(customer_id: int) -> list[tuple[int, int]]:
    """(internal, external) of the customer's active additional subscriptions (suspended and
    ended ones are not counted)."""
    return [
        (row.internal_ips, row.external_ips)
        for row in db.session.execute(
            db.select(ServiceSubscription.internal_ips, ServiceSubscription.external_ips).where(
                ServiceSubscription.customer_id == customer_id,
                ServiceSubscription.state == ServiceState.ACTIVE.value,
            )
        )
    ]


def refresh_summary(customer: Customer, tiers=None) -> None:
    """Recompute the list columns of ``customer`` from its subscriptions, users and changes.

    The IP columns and the monthly price count the main subscription plus the active
    additional subscriptions (SPEC §11); the payment method is the main subscription's."""
    sub = current_subscription(customer.id)
    services = _active_services(customer.id)
    main = main_user(customer.id)
    customer.status = derive_status(
        marked_for_deletion=customer.marked_for_deletion_at is not None,
        main_registered=main is not None and main.is_registered,
        locked=customer.locked,
        has_active=sub is not None or bool(services),
    ).value
    if sub is None:
        internal, external, price = 0, 0, Decimal("0.00")
        latest = db.session.scalar(
            db.select(Subscription.payment_method)
            .where(Subscription.customer_id == customer.id)
            .order_by(Subscription.valid_from.desc(), Subscription.id.desc())
            .limit(1)
        )
        # a customer without any subscription keeps the method it was given ("create similar")
        customer.payment_method = latest if latest is not None else customer.payment_method
    else:
        internal, external = sub.internal_ips, sub.external_ips
        customer.payment_method = sub.payment_method
        price = subscription_price(sub, tiers)
    if services:
        if tiers is None and customer.unit_price is None:
            tiers = load_tiers()
        for service_internal, service_external in services:
            internal += service_internal
            external += service_external
            total = service_internal + service_external
            price += monthly_price(total, tiers or (), customer.unit_price)
    customer.internal_ips = internal
    customer.external_ips = external
    customer.monthly_price = price
    customer.average_ip_price = average_ip_price(price, internal + external)
    customer.has_pending_change = pending_change(customer.id) is not None


def audit_snapshot(customer: Customer) -> dict:
    """The customer's list facts an audit event records before and after a change."""
    return {
        "status": customer.status,
        "internal_ips": customer.internal_ips,
        "external_ips": customer.external_ips,
        "payment_method": customer.payment_method,
        "locked": customer.locked,
        "service_mode": customer.service_mode,
    }


def mark_updated(customer: Customer, clock: Clock) -> None:
    """Stamp the customer as changed now (the list's "updated" column)."""
    customer.updated_at = clock.now()


def commit_change(
    customer: Customer,
    actor: Actor,
    action: str,
    clock: Clock,
    before: dict,
    details: dict | None = None,
) -> None:
    """Recompute the list summary, stamp, audit with before/after (plus ``details``), and
    commit."""
    db.session.flush()
    refresh_summary(customer)
    mark_updated(customer, clock)
    after = audit_snapshot(customer) | (details or {})
    audit.record(actor, action, clock, customer_id=customer.id, before=before, after=after)
    db.session.commit()


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


def start_subscription(
    customer_id: int,
    internal_ips: int,
    external_ips: int,
    payment_method: str,
    actor: Actor,
    clock: Clock,
    *,
    valid_from: date | None = None,
    price_basis: str = PriceBasis.TIERS.value,
    unit_price: Decimal | None = None,
) -> Subscription:
    """Give a customer without an active subscription a new one (SPEC §4, reactivation 3.2.5)."""
    customer = get_customer(customer_id)
    _check_counts(internal_ips, external_ips)
    if payment_method not in PaymentMethodCode.codes():
        raise DomainError(_("Unknown payment method."), field="payment_method")
    if current_subscription(customer_id) is not None:
        raise DomainError(_("This customer already has an active subscription."))
    before = audit_snapshot(customer)
    sub = Subscription(
        customer_id=customer_id,
        internal_ips=internal_ips,
        external_ips=external_ips,
        payment_method=payment_method,
        price_basis=price_basis,
        unit_price=unit_price,
        valid_from=valid_from or clock.today(),
        created_at=clock.now(),
    )
    db.session.add(sub)
    commit_change(customer, actor, "subscription.start", clock, before)
    return sub


def _check_counts(internal_ips: int, external_ips: int) -> None:
    if internal_ips < 0 or external_ips < 0:
        raise DomainError(_("IP counts cannot be negative."), field="internal_ips")
    if internal_ips + external_ips < 1:
        raise DomainError(_("The total number of IPs must be at least 1."), field="total_ips")


def schedule_change(
    customer_id: int, internal_ips: int, external_ips: int, actor: Actor, clock: Clock
) -> ScheduledChange:
    """Schedule new IP counts for the 1st of next month, replacing any pending change."""
    customer = get_customer(customer_id)
    _check_counts(internal_ips, external_ips)
    if current_subscription(customer_id) is None:
        raise DomainError(_("This customer has no active subscription."))
    old = pending_change(customer_id)
    if old is not None:
        old.state = ChangeState.REPLACED.value
        db.session.flush()
    change = ScheduledChange(
        customer_id=customer_id,
        kind=ChangeKind.CHANGE.value,
        internal_ips=internal_ips,
        external_ips=external_ips,
        effective_date=add_months(clock.today(), 1),
        created_at=clock.now(),
        created_by=actor.label,
    )
    db.session.add(change)
    db.session.flush()
    refresh_summary(customer)
    mark_updated(customer, clock)
    audit.record(
        actor,
        "subscription.schedule_change",
        clock,
        customer_id=customer_id,
        before={"pending": str(old)} if old else None,
        after={"pending": str(change)},
    )
    db.session.commit()
    return change


def set_locked(
    customer_id: int, locked: bool, actor: Actor, clock: Clock, expected_version: int | None = None
) -> Customer:
    """Lock or unlock a customer (seed 3.2.3): locked users cannot sign in, billing goes on."""
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    if customer.locked == locked:
        return customer
    before = audit_snapshot(customer)
    customer.locked = locked
    if locked:
        for user in customer.users:
            user.session_version += 1
    commit_change(customer, actor, "customer.lock" if locked else "customer.unlock", clock, before)
    return customer


def cancel_subscription(
    customer_id: int, actor: Actor, clock: Clock, expected_version: int | None = None
) -> Subscription:
    """Cancel the active subscription (seed 3.2.4): inactive at once, billed to month end."""
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    sub = current_subscription(customer_id)
    if sub is None:
        raise DomainError(_("This customer has no active subscription."))
    before = audit_snapshot(customer)
    sub.state = SubscriptionState.CANCELLED.value
    sub.cancelled_at = clock.now()
    sub.valid_until = add_months(clock.today(), 1) - timedelta(days=1)
    pending = pending_change(customer_id)
    if pending is not None:
        pending.state = ChangeState.WITHDRAWN.value
    commit_change(customer, actor, "subscription.cancel", clock, before)
    return sub


def mark_for_deletion(customer_id: int, actor: Actor, clock: Clock) -> Customer:
    """Mark a customer for deletion (seed 3.2.9): nobody of it can sign in from now on."""
    customer = get_customer(customer_id)
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is already marked for deletion."))
    before = audit_snapshot(customer)
    customer.marked_for_deletion_at = clock.now()
    for user in customer.users:
        user.session_version += 1
    commit_change(customer, actor, "customer.mark_for_deletion", clock, before)
    return customer


__all__ = [
    "INVITE_VALID_DAYS",
    "NewCustomer",
    "SYSTEM",
    "cancel_subscription",
    "create_customer",
    "current_subscription",
    "derive_status",
    "get_customer",
    "main_user",
    "mark_for_deletion",
    "pending_change",
    "refresh_summary",
    "register_user",
    "schedule_change",
    "set_locked",
    "start_subscription",
    "subscription_price",
]


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


def token_hash(token: str) -> str:
    """The hash an invite token is stored as."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_invited(customer: Customer) -> bool:
    main = main_user(customer.id)
    return customer.marked_for_deletion_at is None and (main is None or not main.is_registered)


def invite_customer(data: NewCustomer, actor: Actor, clock: Clock):
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
    return customer, invite_message(customer.id, token, clock)


def invite_message(customer_id: int, token: str, clock: Clock):
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
        link=f"{_public_url()}/portal/invite/{token}",
        expires=expires,
    )


def _public_url() -> str:
    from flask import current_app

    return current_app.config["PUBLIC_URL"]


def resend_invite(customer_id: int, actor: Actor, clock: Clock):
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
    return invite_message(customer_id, token, clock)


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
    if password != password_again:
        raise DomainError(_("The two passwords do not match."), field="password_again")
    if len(password) < MIN_LENGTH:
        raise DomainError(
            _("The password needs at least %(n)d characters.", n=MIN_LENGTH), field="password"
        )
    claimed = db.session.execute(
        db.update(User)
        .where(User.id == user.id, User.invite_token_hash == token_hash(token))
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
        raise NotFound(_("This invite link is not valid or has already been used."))
    db.session.expire(user)
    customer = user.customer
    refresh_summary(customer)
    audit.record(Actor.user(user, ip), "user.register", clock, customer_id=customer.id)
    db.session.commit()
    return user, welcome_message(user, clock)


def convert_to_managed(
    customer_id: int, actor: Actor, clock: Clock, expected_version: int | None = None
) -> Customer:
    """Self-service → managed (seed 3.2.1). Cannot be undone."""
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    if customer.service_mode != ServiceMode.SELF_SERVICE.value:
        raise DomainError(_("Only self-service customers can be converted to managed."))
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is marked for deletion."))
    before = audit_snapshot(customer)
    customer.service_mode = ServiceMode.MANAGED.value
    commit_change(customer, actor, "customer.convert_to_managed", clock, before)
    return customer


def other_main_user_candidates(customer_id: int) -> list[User]:
    """Enabled, registered users of the customer other than the main user (seed 3.2.8)."""
    return list(
        db.session.scalars(
            db.select(User)
            .where(
                User.customer_id == customer_id,
                User.is_main.is_(False),
                User.enabled.is_(True),
                User.registered_at.is_not(None),
            )
            .order_by(User.name)
        )
    )


def change_main_user(
    customer_id: int,
    user_id: int,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> User:
    """Make another enabled, registered user the main user; the old one stays a member."""
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    candidates = {u.id: u for u in other_main_user_candidates(customer_id)}
    new_main = candidates.get(int(user_id)) if str(user_id).isdigit() else None
    if new_main is None:
        raise DomainError(
            _("Please choose an enabled, registered user of this customer."), field="user_id"
        )
    old = main_user(customer_id)
    if old is not None:
        old.is_main = False
        db.session.flush()
    new_main.is_main = True
    customer.contact_name = new_main.name
    customer.contact_email = new_main.email
    db.session.flush()
    refresh_summary(customer)
    mark_updated(customer, clock)
    audit.record(
        actor,
        "customer.change_main_user",
        clock,
        customer_id=customer_id,
        before={"main_user": old.email if old else None},
        after={"main_user": new_main.email},
    )
    db.session.commit()
    return new_main


DELETE_WORD = "DELETE"


def request_deletion(
    customer_id: int,
    confirmation: str,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> Customer:
    """Mark a customer for deletion (seed 3.2.9) after the right confirmation: a registered
    customer needs ``DELETE`` typed exactly, an invited one a plain confirmation."""
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is already marked for deletion."))
    if is_invited(customer):
        if confirmation not in (DELETE_WORD, "yes"):
            raise DomainError(_("Please confirm the deletion."), field="confirmation")
    elif (confirmation or "") != DELETE_WORD:
        raise DomainError(
            _("Please type DELETE in capital letters to confirm."), field="confirmation"
        )
    return mark_for_deletion(customer_id, actor, clock)


OTHER_USER, SUBSCRIBED = "other_user", "subscribed"


def available_actions(
    customer: Customer, has_other_user: bool | None = None, has_subscription: bool | None = None
) -> list[str]:
    """The actions on ``customer`` whose precondition holds: SPEC §3's row actions, lock or
    unlock and cancel (§4), the Flexiant tools (§11) and the edits of the customer's page.
    A customer marked for deletion only has its details. ``has_other_user`` (another enabled,
    registered user) and ``has_subscription`` (a current main subscription) are looked up when
    not given (``available_actions_for`` gives them for a whole page)."""
    if customer.marked_for_deletion_at is not None:
        return ["details"]
    from billing.subscriptions.service_subscriptions import may_add_service

    if has_other_user is None:
        has_other_user = bool(other_main_user_candidates(customer.id))
    if has_subscription is None:
        has_subscription = current_subscription(customer.id) is not None
    managed = customer.service_mode == ServiceMode.MANAGED.value
    actions = []
    if not managed:
        actions.append("convert")
    actions.append("ip_distribution")
    if customer.status == CustomerStatus.INVITED.value:
        actions.append("resend_invite")
    actions += ["details", "unlock" if customer.locked else "lock"]
    if has_subscription:
        actions.append("cancel_subscription")
    if managed:
        actions += ["add_project_key", "edit_address"]
    if has_other_user:
        actions.append("change_main_user")
    actions += ["create_similar", "send_email"]
    # the main user can sign in: registered, not locked (the status says both)
    if customer.status in (CustomerStatus.ACTIVE.value, CustomerStatus.INACTIVE.value):
        actions.append("impersonate")
    actions += ["delete", "edit_profile", "edit_tags", "set_language", "assign_partner"]
    # which team user's invite can be resent or withdrawn: ``team.member_actions``
    actions += ["book_ledger", "resend_team_invite", "withdraw_team_invite"]
    if managed:
        actions.append("set_price")
    if may_add_service(customer):
        actions.append("add_subscription")
    return actions


def available_actions_for(customers: list[Customer]) -> dict[int, list[str]]:
    """``available_actions`` for a page of customers with one query (which of them have
    another enabled, registered user, and which a current main subscription)."""
    ids = [c.id for c in customers]
    if not ids:
        return {}
    other_users = (
        db.select(User.customer_id, literal(OTHER_USER))
        .where(
            User.customer_id.in_(ids),
            User.is_main.is_(False),
            User.enabled.is_(True),
            User.registered_at.is_not(None),
        )
        .distinct()
    )
    subscribed = db.select(Subscription.customer_id, literal(SUBSCRIBED)).where(
        Subscription.customer_id.in_(ids),
        Subscription.state == SubscriptionState.ACTIVE.value,
    )
    found = set(db.session.execute(union_all(other_users, subscribed)).tuples())
    return {
        c.id: available_actions(c, (c.id, OTHER_USER) in found, (c.id, SUBSCRIBED) in found)
        for c in customers
    }


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
            raise AuthenticationFailed(
                _(
                    "Your company's account is locked, so you cannot sign in. Please contact "
                    "your provider."
                )
            )
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


def set_customer_price(
    customer_id: int,
    unit_price: str | Decimal | None,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> Customer:
    """Give a managed customer its own net price per IP and month, or (None/"") return it to
    the tier table (SPEC §5). The current subscription is repriced at once; audited."""
    from decimal import InvalidOperation

    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    if customer.service_mode != ServiceMode.MANAGED.value:
        raise DomainError(_("Only managed customers can have their own price."))
    price = None
    if unit_price not in (None, ""):
        try:
            price = Decimal(str(unit_price).strip().replace(",", "."))
        except InvalidOperation:
            raise DomainError(_("Please enter a price such as 2.75."), field="unit_price") from None
        if not price.is_finite() or price < 0 or price.as_tuple().exponent < -4 or price > 10000:
            raise DomainError(
                _("The price must be between 0 and 10,000 with at most four decimal places."),
                field="unit_price",
            )
    before = {"unit_price": str(customer.unit_price) if customer.unit_price is not None else None}
    customer.unit_price = price
    sub = current_subscription(customer_id)
    if sub is not None and sub.price_basis != PriceBasis.PROJECT_KEY.value:
        sub.price_basis = (
            PriceBasis.CUSTOMER_PRICE if price is not None else PriceBasis.TIERS
        ).value
        sub.unit_price = price
    db.session.flush()
    refresh_summary(customer)
    mark_updated(customer, clock)
    audit.record(
        actor,
        "customer.set_price",
        clock,
        customer_id=customer_id,
        before=before,
        after={"unit_price": str(price) if price is not None else None},
    )
    db.session.commit()
    return customer
