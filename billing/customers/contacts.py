"""A customer's contacts (Aquila BillOps, SPEC §11): people with a designation and phones; those
subscribed to billing alerts get the invoice and payment e-mails too, and selected contacts can be
made portal users of the customer (they receive the team invite).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import func

from billing.access.staff import normalise_email
from billing.customers.lookup import get_customer
from billing.customers.team import invite_member
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from billing.kernel.mail_limits import TooManyMails
from models import Contact, ContactUserType, Customer, TeamInvitation, User, db


@dataclass
class ContactInput:
    first_name: str = ""
    last_name: str = ""
    designation: str = ""
    email: str = ""
    phone: str = ""
    mobile: str = ""
    user_type: str = ContactUserType.BILLING.value
    billing_alerts: bool = False


LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "designation": 100,
    "email": 320,
    "phone": 50,
    "mobile": 50,
}


def contacts(customer_id: int) -> list[Contact]:
    return db.session.scalars(
        db.select(Contact)
        .where(Contact.customer_id == customer_id)
        .order_by(func.lower(Contact.last_name), func.lower(Contact.first_name), Contact.id)
    ).all()


def get_contact(customer_id: int, contact_id: int) -> Contact:
    """A contact of this customer; NotFound for an unknown id or one of another customer."""
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.customer_id != customer_id:
        raise NotFound(_("This contact does not exist."))
    return contact


def validate_contact(data: ContactInput) -> dict:
    clean: dict = {}
    for name, limit in LIMITS.items():
        value = (getattr(data, name) or "").strip()
        if len(value) > limit:
            raise DomainError(_("At most %(n)d characters.", n=limit), field=name)
        clean[name] = value
    if not clean["first_name"]:
        raise DomainError(_("Please enter the first name."), field="first_name")
    if not clean["email"]:
        raise DomainError(_("Please enter a valid e-mail address."), field="email")
    clean["email"] = normalise_email(clean["email"])
    if data.user_type not in ContactUserType.codes():
        raise DomainError(_("Please choose a user type."), field="user_type")
    clean["user_type"] = data.user_type
    clean["billing_alerts"] = bool(data.billing_alerts)
    return clean


def _editable(customer: Customer) -> None:
    if customer.marked_for_deletion_at is not None:
        raise DomainError(_("This customer is marked for deletion."))


def _duplicate(customer_id: int, email: str, contact_id: int | None) -> None:
    query = db.select(Contact.id).where(
        Contact.customer_id == customer_id, func.lower(Contact.email) == email.lower()
    )
    if contact_id is not None:
        query = query.where(Contact.id != contact_id)
    if db.session.scalar(query) is not None:
        raise DomainError(_("This customer has a contact with this e-mail already."), field="email")


def _snapshot(contact: Contact) -> dict:
    return {f.name: getattr(contact, f.name) for f in fields(ContactInput)}


def add_contact(customer_id: int, data: ContactInput, actor: Actor, clock: Clock) -> Contact:
    """Add a contact; DomainError (with ``field``) for bad input or a duplicate e-mail."""
    customer = get_customer(customer_id)
    _editable(customer)
    clean = validate_contact(data)
    _duplicate(customer_id, clean["email"], None)
    contact = Contact(customer_id=customer_id, created_at=clock.now(), **clean)
    db.session.add(contact)
    db.session.flush()
    audit.record(
        actor, "contact.add", clock, customer_id=customer_id, after={"id": contact.id, **clean}
    )
    db.session.commit()
    return contact


def edit_contact(
    customer_id: int, contact_id: int, data: ContactInput, actor: Actor, clock: Clock
) -> Contact:
    """Change a contact; the same checks as ``add_contact``."""
    _editable(get_customer(customer_id))
    contact = get_contact(customer_id, contact_id)
    clean = validate_contact(data)
    _duplicate(customer_id, clean["email"], contact.id)
    before = _snapshot(contact)
    for name, value in clean.items():
        setattr(contact, name, value)
    changed = {k: v for k, v in clean.items() if before[k] != v}
    audit.record(
        actor,
        "contact.edit",
        clock,
        customer_id=customer_id,
        before={"id": contact.id, **{k: before[k] for k in changed}},
        after={"id": contact.id, **changed},
    )
    db.session.commit()
    return contact


def delete_contact(customer_id: int, contact_id: int, actor: Actor, clock: Clock) -> None:
    """Remove a contact (a portal user made from it stays a user)."""
    _editable(get_customer(customer_id))
    contact = get_contact(customer_id, contact_id)
    before = {"id": contact.id, **_snapshot(contact)}
    db.session.delete(contact)
    audit.record(actor, "contact.delete", clock, customer_id=customer_id, before=before)
    db.session.commit()


def billing_alert_recipients(customer_id: int, exclude: str = "") -> list[tuple[str, str]]:
    """(e-mail address, name) of the contacts subscribed to billing alerts, each address once,
    without ``exclude`` (the customer's own contact address), compared case-insensitively."""
    seen = {exclude.lower()} if exclude else set()
    recipients = []
    for contact in db.session.scalars(
        db.select(Contact)
        .where(Contact.customer_id == customer_id, Contact.billing_alerts.is_(True))
        .order_by(Contact.id)
    ):
        if contact.email.lower() not in seen:
            seen.add(contact.email.lower())
            recipients.append((contact.email, contact.name))
    return recipients


@dataclass(frozen=True)
class AccountsResult:
    invited: list  # of (Contact, Outgoing)
    skipped: list[tuple[Contact, str]]  # contact and the reason, already translated


def create_user_accounts(
    customer_id: int, contact_ids: list[int], actor: Actor, clock: Clock, public_url: str = ""
) -> AccountsResult:
    """Invite the selected contacts into the customer's team
    (``billing.customers.team.invite_member``);
    each gets its own invite e-mail to send, and is linked to its user once it accepts.

    A contact whose e-mail belongs to some user, or that is invited already, is skipped with
    the reason (staff see every customer, so naming it reveals nothing), and so is one beyond
    the invitation limits (``mail_limits.INVITATION``). Raises DomainError when nothing is
    selected, NotFound for a contact of another customer, and the invite's errors (no mail
    server, customer marked for deletion).
    """
    if not contact_ids:
        raise DomainError(_("Please select at least one contact."), field="contact_ids")
    _editable(get_customer(customer_id))
    selected = [get_contact(customer_id, int(cid)) for cid in dict.fromkeys(contact_ids)]
    invited, skipped = [], []
    for contact in selected:
        existing = db.session.scalar(
            db.select(User).where(func.lower(User.email) == contact.email.lower())
        )
        if existing is not None:
            if existing.customer_id == customer_id and contact.user_id != existing.id:
                contact.user_id = existing.id
                db.session.commit()
            skipped.append((contact, _("already a user")))
            continue
        if db.session.scalar(
            db.select(TeamInvitation.id).where(
                TeamInvitation.customer_id == customer_id,
                func.lower(TeamInvitation.email) == contact.email.lower(),
            )
        ):
            skipped.append((contact, _("invited already")))
            continue
        try:
            invitation, message = invite_member(
                customer_id, contact.email, contact.name, actor, clock, public_url
            )
        except TooManyMails as error:
            skipped.append((contact, error.message))
            continue
        audit.record(
            actor,
            "contact.create_user",
            clock,
            customer_id=customer_id,
            after={"contact": contact.id, "email": invitation.email},
        )
        db.session.commit()
        invited.append((contact, message))
    return AccountsResult(invited, skipped)
