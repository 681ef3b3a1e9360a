"""Flexiant's "Manage Customer" tools (SPEC §11): create a similar customer, tags, the
customer's default language and a message from staff to the customer's users."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from billing.customers.lookup import get_customer
from billing.customers.onboarding import NewCustomer, create_customer, invite_message
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _
from billing.kernel.site import Site
from models import Customer, Language, ServiceMode, Tag, User, db

MAX_TAGS = 20
TAG_LENGTH = 64
SUBJECT_LENGTH = 200
MESSAGE_LENGTH = 10000


@dataclass(frozen=True)
class SimilarSettings:
    """What a similar customer takes over: settings, never identity, users or history."""

    source_id: int
    service_mode: str
    unit_price: Decimal | None
    tags: tuple[str, ...]
    partner_id: int | None
    language: str
    payment_method: str | None

    def as_dict(self) -> dict:
        return {
            "source_id": self.source_id,
            "service_mode": self.service_mode,
            "unit_price": None if self.unit_price is None else str(self.unit_price),
            "tags": list(self.tags),
            "partner_id": self.partner_id,
            "language": self.language,
            "payment_method": self.payment_method,
        }


def similar_settings(customer_id: int) -> SimilarSettings:
    """The settings of ``customer_id`` that "Create similar" copies. NotFound if unknown."""
    source = get_customer(customer_id)
    return SimilarSettings(
        source_id=source.id,
        service_mode=source.service_mode,
        unit_price=source.unit_price,
        tags=tuple(sorted(t.name for t in source.tags)),
        partner_id=source.partner_id,
        language=source.language,
        payment_method=source.payment_method,
    )


def create_similar(
    source_id: int, data: NewCustomer, actor: Actor, clock: Clock, site: Site = Site()
):
    """Create a customer with the identity in ``data`` and the settings of ``source_id`` (its
    service mode, customer price, tags, partner and payment method; ``data.language`` is the
    form's choice, prefilled from the source) and compose the invite like "New Customer".

    Returns the customer and the invite ``Outgoing``. Raises what ``create_customer`` raises,
    and DomainError when no mail server is configured (nothing is created then).
    """
    from billing.kernel.mail import mail_configured

    settings = similar_settings(source_id)
    if not mail_configured():
        raise DomainError(
            _(
                "No mail server is configured, so no invite can be sent. "
                "Please enter the mail server under Settings \u2192 Mail server first."
            )
        )
    customer, token = create_customer(
        replace(data, service_mode=settings.service_mode), actor, clock
    )
    customer.unit_price = (
        settings.unit_price if settings.service_mode == ServiceMode.MANAGED.value else None
    )
    customer.partner_id = settings.partner_id
    customer.payment_method = settings.payment_method
    customer.tags = list(db.session.scalars(db.select(Tag).where(Tag.name.in_(settings.tags))))
    audit.record(
        actor,
        "customer.create_similar",
        clock,
        customer_id=customer.id,
        after=settings.as_dict(),
    )
    db.session.commit()
    return customer, invite_message(customer.id, token, clock, site)


def parse_tags(raw: str | list[str]) -> list[str]:
    """Comma-separated (or listed) tag names, trimmed, de-duplicated case-insensitively."""
    items = raw.split(",") if isinstance(raw, str) else raw
    names: list[str] = []
    for item in items:
        name = " ".join((item or "").split())
        if name and name.lower() not in {n.lower() for n in names}:
            names.append(name)
    for name in names:
        if len(name) > TAG_LENGTH:
            raise DomainError(
                _("A tag can have at most %(n)d characters.", n=TAG_LENGTH), field="tags"
            )
    if len(names) > MAX_TAGS:
        raise DomainError(_("A customer can have at most %(n)d tags.", n=MAX_TAGS), field="tags")
    return names


def set_tags(customer_id: int, raw: str | list[str], actor: Actor, clock: Clock) -> list[str]:
    """Give the customer exactly the tags in ``raw`` (comma-separated); unknown names become
    new tags, an existing tag is matched regardless of case. Audited; returns the names."""
    customer = get_customer(customer_id)
    names = parse_tags(raw)
    existing = {
        tag.name.lower(): tag
        for tag in db.session.scalars(
            db.select(Tag).where(db.func.lower(Tag.name).in_([n.lower() for n in names]))
        )
    }
    tags = []
    for name in names:
        tag = existing.get(name.lower())
        if tag is None:
            tag = Tag(name=name)
            db.session.add(tag)
        tags.append(tag)
    before = sorted(t.name for t in customer.tags)
    after = sorted(t.name for t in tags)
    if before == after:
        return after
    customer.tags = tags
    customer.updated_at = clock.now()
    audit.record(
        actor,
        "customer.tags",
        clock,
        customer_id=customer.id,
        before={"tags": before},
        after={"tags": after},
    )
    db.session.commit()
    return after


def add_tag(customer_id: int, name: str, actor: Actor, clock: Clock) -> list[str]:
    """Give the customer the tag ``name`` next to the tags it has (a bulk action on the list).
    Audited when it changes anything; returns the customer's tag names. DomainError for an
    empty or too long name, or when the customer would have more than ``MAX_TAGS`` tags."""
    names = parse_tags([name])
    if not names:
        raise DomainError(_("Please enter a tag."), field="tag")
    customer = get_customer(customer_id)
    return set_tags(customer_id, [tag.name for tag in customer.tags] + names, actor, clock)


def set_language(customer_id: int, language: str, actor: Actor, clock: Clock) -> Customer:
    """Set the customer's default language: its e-mails, invoices and the portal of users who
    chose none use it. DomainError for anything but English or German."""
    customer = get_customer(customer_id)
    if language not in Language.codes():
        raise DomainError(_("Please choose English or German."), field="language")
    if customer.language == language:
        return customer
    before = customer.language
    customer.language = language
    customer.updated_at = clock.now()
    audit.record(
        actor,
        "customer.language",
        clock,
        customer_id=customer.id,
        before={"language": before},
        after={"language": language},
    )
    db.session.commit()
    return customer


def message_recipients(customer_id: int) -> list[User]:
    """The enabled, registered users of the customer, main user first."""
    return db.session.scalars(
        db.select(User)
        .where(
            User.customer_id == customer_id,
            User.enabled.is_(True),
            User.registered_at.is_not(None),
        )
        .order_by(User.is_main.desc(), User.id)
    ).all()


def send_staff_message(customer_id: int, subject: str, message: str, actor: Actor, clock: Clock):
    """Compose a plain-text message from staff to every enabled registered user of the
    customer, each in their language (else the customer's). Returns the ``Outgoing`` messages
    for the mail job; each is in the e-mail log and the customer's timeline.

    DomainError without a subject or message, when they are too long, when no mail server is
    configured or when the customer has no user who could read it.
    """
    from billing.kernel.mail import compose, mail_configured

    customer = get_customer(customer_id)
    subject = " ".join((subject or "").split())
    message = (message or "").strip()
    if not subject:
        raise DomainError(_("Please enter a subject."), field="subject")
    if len(subject) > SUBJECT_LENGTH:
        raise DomainError(
            _("The subject can have at most %(n)d characters.", n=SUBJECT_LENGTH), field="subject"
        )
    if not message:
        raise DomainError(_("Please enter a message."), field="message")
    if len(message) > MESSAGE_LENGTH:
        raise DomainError(
            _("The message can have at most %(n)d characters.", n=MESSAGE_LENGTH), field="message"
        )
    if not mail_configured():
        raise DomainError(
            _("No mail server is configured; please enter it under Settings \u2192 Mail server.")
        )
    users = message_recipients(customer.id)
    if not users:
        raise DomainError(_("This customer has no registered, enabled user to write to."))
    audit.record(
        actor,
        "customer.message",
        clock,
        customer_id=customer.id,
        after={"subject": subject, "recipients": [u.email for u in users]},
    )
    db.session.commit()
    return [
        compose(
            "staff_message",
            user.email,
            user.language or customer.language,
            clock,
            customer_id=customer.id,
            name=user.name,
            company=customer.company_name,
            subject=subject,
            message=message,
        )
        for user in users
    ]
