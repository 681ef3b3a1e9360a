"""Saved customer-list views, issue 7 item 11 / SPEC §12: validated query strings, private or
shared, names unique per owner, rename and delete rules."""

from __future__ import annotations

import pytest

from billing.customers import saved_views
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import DomainError, NotFound
from models import AuditEvent, SavedView, db
from tests.conftest import make_staff

FILTERS = ["payment_method_equals", "partner_equals", "pending_change_equals"]


def test_clean_query_accepts_only_the_lists_arguments():
    assert (
        saved_views.clean_query("?payment_method_equals=card&search=acme&sort=2&desc=1", FILTERS)
        == "payment_method_equals=card&search=acme&sort=2&desc=1"
    )
    assert (
        saved_views.clean_query("flt0_payment_method_equals=card&flt1_partner_equals=3", FILTERS)
        == "flt0_payment_method_equals=card&flt1_partner_equals=3"
    )
    assert saved_views.clean_query("", FILTERS) == ""
    for bad in (
        "evil=1",
        "search=a&search=b",
        "sort=name",
        "search=" + "x" * 201,
        "x" * 1001,
        "payment_method_equals=card&url=http://evil.example",
        "search=a%0Ab",
        "novalue",
    ):
        with pytest.raises(DomainError):
            saved_views.clean_query(bad, FILTERS)


def test_views_are_private_or_shared(app, clock):
    alice = make_staff(app, "billing", "alice@staff.example")
    bob = make_staff(app, "billing", "bob@staff.example")
    own = saved_views.save_view(
        alice.id, "Cards", "payment_method_equals=card", False, FILTERS, SYSTEM, clock
    )
    shared = saved_views.save_view(
        alice.id, "Pending", "pending_change_equals=1", True, FILTERS, SYSTEM, clock
    )
    assert [v.id for v in saved_views.visible_views(alice.id)] == [own.id, shared.id]
    assert [v.id for v in saved_views.visible_views(bob.id)] == [shared.id]
    with pytest.raises(DomainError, match="already have a view"):
        saved_views.save_view(alice.id, "cards", "", False, FILTERS, SYSTEM, clock)
    # the same name is fine for somebody else
    saved_views.save_view(bob.id, "Cards", "", False, FILTERS, SYSTEM, clock)
    assert (
        db.session.scalar(
            db.select(AuditEvent).where(AuditEvent.action == "saved_view.create")
        ).after["query"]
        == "payment_method_equals=card"
    )


def test_a_tampered_query_is_not_stored(app, clock):
    alice = make_staff(app, "billing")
    with pytest.raises(DomainError, match="unknown list setting"):
        saved_views.save_view(alice.id, "Bad", "next=//evil.example", False, FILTERS, SYSTEM, clock)
    assert db.session.scalar(db.select(db.func.count()).select_from(SavedView)) == 0


def test_rename_and_delete_rules(app, clock):
    owner = make_staff(app, "billing", "owner@staff.example")
    colleague = make_staff(app, "billing", "colleague@staff.example")
    admin = make_staff(app, "admin", "admin@staff.example")
    support = make_staff(app, "support", "support@staff.example")
    private = saved_views.save_view(owner.id, "Mine", "", False, FILTERS, SYSTEM, clock)
    shared = saved_views.save_view(owner.id, "Ours", "", True, FILTERS, SYSTEM, clock)
    with pytest.raises(NotFound):
        saved_views.rename_view(colleague.id, private.id, "Taken", SYSTEM, clock)
    with pytest.raises(DomainError, match="Only the owner"):
        saved_views.rename_view(colleague.id, shared.id, "Taken", SYSTEM, clock)
    with pytest.raises(DomainError, match="owner or an admin"):
        saved_views.delete_view(colleague.id, shared.id, SYSTEM, clock)
    with pytest.raises(DomainError, match="may open saved views"):
        saved_views.save_view(support.id, "S", "", False, FILTERS, SYSTEM, clock)
    with pytest.raises(DomainError, match="already have a view"):
        saved_views.rename_view(owner.id, private.id, "ours", SYSTEM, clock)
    assert saved_views.rename_view(owner.id, private.id, "Mine 2", SYSTEM, clock).name == "Mine 2"
    assert saved_views.delete_view(admin.id, shared.id, SYSTEM, clock) == "Ours"
    assert saved_views.delete_view(owner.id, private.id, SYSTEM, clock) == "Mine 2"
    assert db.session.scalar(db.select(db.func.count()).select_from(SavedView)) == 0
    actions = db.session.scalars(
        db.select(AuditEvent.action).where(AuditEvent.action.like("saved_view.%"))
    ).all()
    assert sorted(actions) == sorted(
        ["saved_view.create"] * 2 + ["saved_view.rename"] + ["saved_view.delete"] * 2
    )
