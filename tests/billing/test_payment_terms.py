"""Due dates (SPEC §14): finalization date + payment term (the customer's own, else the
setting, default 14 days) on the MSP's calendar, a weekend moved to the Monday after; fixed on
the invoice at finalization."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from flask_migrate import downgrade, upgrade

from billing.customers.addresses import address_of, edit_address
from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.drafting import draft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.invoicing.payment_terms import PAYMENT_TERM_KEY, business_day, due_date, due_on
from billing.kernel.audit import SYSTEM
from billing.kernel.clock import FixedClock
from billing.kernel.errors import DomainError
from billing.kernel.settings import set_setting
from models import AuditEvent, Customer, Invoice, db
from tests import factories


@pytest.fixture
def billing(app):
    factories.reference(app)
    return app


def _draft(app, **customer):
    created = factories.customer(app, since=date(2026, 11, 1), **customer)
    return draft_invoice(created.id, date(2026, 11, 1), app.config["CLOCK"])


def _address(customer_id: int):
    address = address_of(db.session.get(Customer, customer_id))
    return replace(address, street="Hafenstraße 7", postal_code="20457", city="Hamburg")


def _own_term(app, customer_id: int, days: str) -> Customer:
    """Staff set the customer's own payment term in its address form (Edit address)."""
    return edit_address(
        customer_id, _address(customer_id), SYSTEM, app.config["CLOCK"], payment_term_days=days
    )


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 27), date(2026, 11, 27)),  # Friday
        (date(2026, 11, 28), date(2026, 11, 30)),  # Saturday → Monday
        (date(2026, 11, 29), date(2026, 11, 30)),  # Sunday → Monday
        (date(2026, 11, 30), date(2026, 11, 30)),  # Monday
    ],
)
def test_a_weekend_moves_to_the_monday_after(day, expected):
    assert business_day(day) == expected


def test_the_due_date_counts_the_term_from_the_invoice_date():
    assert due_on(date(2026, 11, 16), 14) == date(2026, 11, 30)
    assert due_on(date(2026, 11, 15), 14) == date(2026, 11, 30)  # Sunday 29th → Monday
    assert due_on(date(2026, 11, 20), 0) == date(2026, 11, 20)


def test_finalizing_fixes_the_default_term_and_its_due_date(billing):
    """Finalized on Sunday 15 November with the default 14 days: due Monday 30 November."""
    invoice = finalize_invoice(_draft(billing).id, billing.config["CLOCK"])

    assert (invoice.payment_term_days, invoice.due_date) == (14, date(2026, 11, 30))
    assert due_date(invoice) == date(2026, 11, 30)
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "invoice.finalize"))
    assert event.after["due_date"] == "2026-11-30"


def test_the_setting_and_the_customers_own_term_decide(billing):
    clock = billing.config["CLOCK"]
    set_setting(PAYMENT_TERM_KEY, "10", clock)
    by_setting = _draft(billing)
    own = _draft(billing)
    _own_term(billing, own.customer_id, "30")

    assert finalize_invoice(by_setting.id, clock).due_date == date(2026, 11, 25)
    assert finalize_invoice(own.id, clock).due_date == date(2026, 12, 15)


def test_an_empty_own_term_follows_the_setting_again(billing):
    draft = _draft(billing)
    _own_term(billing, draft.customer_id, "30")
    customer = _own_term(billing, draft.customer_id, "")

    assert customer.payment_term_days is None
    assert finalize_invoice(draft.id, billing.config["CLOCK"]).payment_term_days == 14


def test_the_customers_profile_form_leaves_the_term_alone(billing):
    """The customer's own profile (portal) has no payment term: it keeps the staff's."""
    draft = _draft(billing)
    _own_term(billing, draft.customer_id, "21")
    edit_address(draft.customer_id, _address(draft.customer_id), SYSTEM, billing.config["CLOCK"])

    assert db.session.get(Customer, draft.customer_id).payment_term_days == 21


@pytest.mark.parametrize("days", ["x", "-3", "400"])
def test_a_bad_own_term_is_refused_and_nothing_changes(billing, days):
    draft = _draft(billing)
    with pytest.raises(DomainError) as refused:
        _own_term(billing, draft.customer_id, days)

    assert refused.value.field == "payment_term_days"
    db.session.rollback()
    assert db.session.get(Customer, draft.customer_id).payment_term_days is None


def test_a_later_change_of_the_term_leaves_issued_invoices_alone(billing):
    clock = billing.config["CLOCK"]
    invoice = finalize_invoice(_draft(billing).id, clock)
    set_setting(PAYMENT_TERM_KEY, "60", clock)
    _own_term(billing, invoice.customer_id, "90")

    db.session.expire_all()
    assert due_date(invoice) == date(2026, 11, 30)


def test_the_invoice_date_is_the_msps_not_utcs(billing):
    """23:30 UTC on Friday 20 November is already Saturday in Berlin: 14 days later is a
    Saturday, so the invoice is due on Monday 7 December (not Friday 4 December)."""
    late = FixedClock(datetime(2026, 11, 20, 23, 30, tzinfo=UTC))
    invoice = finalize_invoice(_draft(billing).id, late)

    assert invoice.due_date == date(2026, 12, 7)


def test_a_draft_previews_its_due_date_and_a_credit_note_has_none(billing):
    clock = billing.config["CLOCK"]
    draft = _draft(billing)
    assert draft.due_date is None and due_date(draft) == date(2026, 11, 30)

    invoice = finalize_invoice(draft.id, clock)
    note = create_credit_note(invoice.id, "wrong IP count", SYSTEM, clock)
    assert note.due_date is None and due_date(note) is None


@pytest.mark.fresh_database
def test_the_migration_gives_invoices_finalized_before_a_due_date(any_app):
    """Migration 0019 on SQLite and PostgreSQL: invoices finalized before it are due 14 days
    after their finalization day in Berlin (a weekend moved to the Monday); credit notes and
    drafts get none."""
    factories.reference(any_app)
    clock = any_app.config["CLOCK"]
    sunday = finalize_invoice(_draft(any_app).id, clock)
    saturday_in_berlin = FixedClock(datetime(2026, 11, 20, 23, 30, tzinfo=UTC))
    late = finalize_invoice(_draft(any_app).id, saturday_in_berlin)
    note = create_credit_note(sunday.id, "wrong IP count", SYSTEM, clock)
    ids = sunday_id, late_id, note_id, draft_id = [
        sunday.id,
        late.id,
        note.id,
        _draft(any_app).id,
    ]
    db.session.remove()

    downgrade(revision="0018")
    upgrade()

    rows = db.session.execute(
        db.select(Invoice.id, Invoice.due_date, Invoice.payment_term_days).where(
            Invoice.id.in_(ids)
        )
    )
    assert {row.id: (row.due_date, row.payment_term_days) for row in rows} == {
        sunday_id: (date(2026, 11, 30), 14),
        late_id: (date(2026, 12, 7), 14),
        note_id: (None, None),
        draft_id: (None, None),
    }
