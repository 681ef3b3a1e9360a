"""Partners (resellers) that own customers (SPEC §11, issue 7 item 6).

A partner can be disabled and re-enabled; disabling keeps its customers (and says how many), but a
disabled partner cannot be chosen for a new assignment. Every change is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func

from billing.customers.lookup import check_version, get_customer
from billing.kernel import audit
from billing.kernel.audit import Actor
from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError, NotFound
from billing.kernel.i18n import _
from models import Customer, Partner, db

NAME_MAX = 200


@dataclass(frozen=True)
class PartnerRow:
    id: int
    name: str
    enabled: bool
    customers: int


def list_partners() -> list[PartnerRow]:
    """Every partner by name, with the number of customers it owns."""
    counts = (
        db.select(Customer.partner_id, func.count().label("n"))
        .where(Customer.partner_id.is_not(None))
        .group_by(Customer.partner_id)
        .subquery()
    )
    rows = db.session.execute(
        db.select(Partner.id, Partner.name, Partner.enabled, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.partner_id == Partner.id)
        .order_by(Partner.name, Partner.id)
    )
    return [PartnerRow(pid, name, bool(enabled), int(n)) for pid, name, enabled, n in rows]


def customer_count(partner_id: int) -> int:
    return db.session.scalar(
        db.select(func.count()).select_from(Customer).where(Customer.partner_id == partner_id)
    )


def get_partner(partner_id: int) -> Partner:
    partner = db.session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(_("This partner does not exist."))
    return partner


def _clean_name(name: str | None, exclude_id: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(_("Please enter the partner's name."), field="name")
    if len(name) > NAME_MAX:
        raise DomainError(
            _("The name is too long (at most %(n)d characters).", n=NAME_MAX), field="name"
        )
    # the database's lower() may leave non-ASCII letters alone (C locale): compare exactly too
    clash = db.session.scalar(
        db.select(Partner.id).where(
            (func.lower(Partner.name) == name.lower()) | (Partner.name == name),
            Partner.id != (exclude_id or 0),
        )
    )
    if clash is not None:
        raise DomainError(_("A partner with this name already exists."), field="name")
    return name


def create_partner(name: str, actor: Actor, clock: Clock) -> Partner:
    """Add an enabled partner. Raises ``DomainError`` for an empty, too long or taken name."""
    partner = Partner(name=_clean_name(name), enabled=True)
    db.session.add(partner)
    db.session.flush()
    audit.record(
        actor, "partner.create", clock, after={"partner_id": partner.id, "name": partner.name}
    )
    db.session.commit()
    return partner


def rename_partner(partner_id: int, name: str, actor: Actor, clock: Clock) -> Partner:
    """Rename a partner. Raises ``NotFound`` or ``DomainError`` (empty, too long, taken)."""
    partner = get_partner(partner_id)
    new_name = _clean_name(name, exclude_id=partner.id)
    if new_name == partner.name:
        return partner
    before = {"partner_id": partner.id, "name": partner.name}
    partner.name = new_name
    audit.record(
        actor,
        "partner.rename",
        clock,
        before=before,
        after={"partner_id": partner.id, "name": new_name},
    )
    db.session.commit()
    return partner


def set_partner_enabled(partner_id: int, enabled: bool, actor: Actor, clock: Clock) -> int:
    """Disable or re-enable a partner; its customers stay assigned. Returns how many customers
    the partner owns (the number the confirmation names). Raises ``NotFound``."""
    partner = get_partner(partner_id)
    affected = customer_count(partner.id)
    if partner.enabled == enabled:
        return affected
    partner.enabled = enabled
    audit.record(
        actor,
        "partner.enable" if enabled else "partner.disable",
        clock,
        before={"partner_id": partner.id, "enabled": not enabled},
        after={"partner_id": partner.id, "enabled": enabled, "customers": affected},
    )
    db.session.commit()
    return affected


def assignable_partners(current_partner_id: int | None = None) -> list[Partner]:
    """The partners a customer may be given: the enabled ones, plus its current one (so a form
    can show a disabled current partner without offering it to anybody else)."""
    condition = Partner.enabled.is_(True)
    if current_partner_id is not None:
        condition = condition | (Partner.id == current_partner_id)
    return list(db.session.scalars(db.select(Partner).where(condition).order_by(Partner.name)))


def assign_partner(
    customer_id: int,
    partner_id: int | None,
    actor: Actor,
    clock: Clock,
    expected_version: int | None = None,
) -> Customer:
    """Give a customer a partner, change it, or remove it (``partner_id`` None).

    Raises ``NotFound`` for an unknown customer, ``Conflict`` when the customer changed since the
    form was loaded, and ``DomainError`` for an unknown or disabled partner.
    """
    customer = get_customer(customer_id)
    check_version(customer, expected_version)
    if partner_id == customer.partner_id:
        return customer
    if partner_id is not None:
        partner = db.session.get(Partner, partner_id)
        if partner is None:
            raise DomainError(_("Please choose a partner from the list."), field="partner_id")
        if not partner.enabled:
            raise DomainError(
                _("The partner %(name)s is disabled and cannot be assigned.", name=partner.name),
                field="partner_id",
            )
    before = {"partner_id": customer.partner_id}
    customer.partner_id = partner_id
    customer.updated_at = clock.now()
    audit.record(
        actor,
        "customer.partner",
        clock,
        customer_id=customer.id,
        before=before,
        after={"partner_id": partner_id},
    )
    db.session.commit()
    return customer
