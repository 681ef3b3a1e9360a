"""Partners (resellers), issue 7 item 6 / SPEC §11 (Sectigo): create, rename, disable and
re-enable, assignment; every change audited."""

from __future__ import annotations

import pytest

from billing.customers import partners
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import Conflict, DomainError
from models import AuditEvent, Customer, Partner, db
from tests import factories


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == action)))


def test_create_and_rename_validate_the_name(app, clock):
    partner = partners.create_partner("  Nordic   Resellers ", SYSTEM, clock)
    assert partner.name == "Nordic Resellers" and partner.enabled
    with pytest.raises(DomainError, match="already exists"):
        partners.create_partner("nordic resellers", SYSTEM, clock)
    with pytest.raises(DomainError, match="enter the partner's name"):
        partners.create_partner("   ", SYSTEM, clock)
    with pytest.raises(DomainError, match="too long"):
        partners.rename_partner(partner.id, "x" * 201, SYSTEM, clock)
    partners.rename_partner(partner.id, "Nordic Partners", SYSTEM, clock)
    assert db.session.get(Partner, partner.id).name == "Nordic Partners"
    assert len(_events("partner.create")) == 1 and len(_events("partner.rename")) == 1


def test_disabling_keeps_customers_and_reports_how_many(app, clock):
    partner = partners.create_partner("Alpen IT", SYSTEM, clock)
    owned = [factories.customer(app) for _ in range(3)]
    for customer in owned:
        partners.assign_partner(customer.id, partner.id, SYSTEM, clock)
    assert partners.set_partner_enabled(partner.id, False, SYSTEM, clock) == 3
    assert not db.session.get(Partner, partner.id).enabled
    assert all(db.session.get(Customer, c.id).partner_id == partner.id for c in owned)
    (event,) = _events("partner.disable")
    assert event.after == {"partner_id": partner.id, "enabled": False, "customers": 3}
    assert [row.customers for row in partners.list_partners()] == [3]
    assert partners.set_partner_enabled(partner.id, True, SYSTEM, clock) == 3
    assert db.session.get(Partner, partner.id).enabled and len(_events("partner.enable")) == 1


def test_a_disabled_partner_cannot_be_assigned(app, clock):
    old = partners.create_partner("Old Reseller", SYSTEM, clock)
    new = partners.create_partner("New Reseller", SYSTEM, clock)
    customer = factories.customer(app)
    partners.assign_partner(customer.id, old.id, SYSTEM, clock)
    partners.set_partner_enabled(old.id, False, SYSTEM, clock)
    other = factories.customer(app)
    with pytest.raises(DomainError, match="disabled"):
        partners.assign_partner(other.id, old.id, SYSTEM, clock)
    assert db.session.get(Customer, other.id).partner_id is None
    # the current (disabled) partner is offered to its own customer only
    assert [p.name for p in partners.assignable_partners(customer.partner_id)] == [
        "New Reseller",
        "Old Reseller",
    ]
    assert [p.name for p in partners.assignable_partners(None)] == ["New Reseller"]
    with pytest.raises(DomainError, match="choose a partner"):
        partners.assign_partner(other.id, 9999, SYSTEM, clock)
    partners.assign_partner(customer.id, new.id, SYSTEM, clock)
    partners.assign_partner(customer.id, None, SYSTEM, clock)
    events = _events("customer.partner")
    assert [e.after["partner_id"] for e in events] == [old.id, new.id, None]


def test_assignment_refuses_a_stale_form(app, clock):
    partner = partners.create_partner("Reseller", SYSTEM, clock)
    customer = factories.customer(app)
    seen = customer.version
    partners.assign_partner(customer.id, partner.id, SYSTEM, clock, seen)
    with pytest.raises(Conflict):
        partners.assign_partner(customer.id, None, SYSTEM, clock, seen)
