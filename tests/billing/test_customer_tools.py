"""Flexiant's "Manage Customer" rules (SPEC §11, issue 7 items 1–4): create similar,
impersonation, tags, the staff e-mail, the default language and the credit/debit ledger."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from billing.customers import customer_tools, impersonation, lifecycle, lookup, onboarding, sign_in
from billing.customers.onboarding import NewCustomer
from billing.customers.timeline import customer_timeline
from billing.invoicing.credit_notes import create_credit_note
from billing.invoicing.drafting import draft_invoice, redraft_invoice
from billing.invoicing.finalizing import finalize_invoice
from billing.invoicing.invoice_payment import mark_paid
from billing.kernel.audit import SYSTEM, Actor, on_behalf_of
from billing.kernel.errors import Conflict, DomainError
from billing.payments import ledger
from models import AuditEvent, EmailLog, Impersonation, LedgerEntry, Partner, Tag, db
from tests import factories
from tests.conftest import berlin, make_staff


def _events(customer_id, action):
    return db.session.scalars(
        db.select(AuditEvent).where(
            AuditEvent.customer_id == customer_id, AuditEvent.action == action
        )
    ).all()


# item 1: create similar ------------------------------------------------------------------


def test_create_similar_copies_settings_but_not_identity_users_or_history(app, mail_on):
    """Issue 7.1: service mode, price, tags, partner, language, payment method are taken over."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    source = factories.customer(app, payment="card", language="de", company="Source GmbH")
    db.session.add(Partner(name="Reseller AG"))
    db.session.commit()
    partner = db.session.scalar(db.select(Partner))
    source = db.session.merge(source)
    source.partner_id = partner.id
    db.session.commit()
    lifecycle.set_customer_price(source.id, "3.10", SYSTEM, clock)
    customer_tools.set_tags(source.id, "VIP, Berlin", SYSTEM, clock)

    data = NewCustomer("Copy KG", "Eva Copy", "eva@copy.example", city="Hamburg", language="de")
    copy, message = customer_tools.create_similar(source.id, data, SYSTEM, clock)

    assert (copy.company_name, copy.contact_email, copy.city) == (
        "Copy KG",
        "eva@copy.example",
        "Hamburg",
    )
    assert copy.service_mode == "managed" and copy.language == "de"
    assert copy.unit_price == D("3.1000") and copy.partner_id == partner.id
    assert sorted(t.name for t in copy.tags) == ["Berlin", "VIP"]
    assert copy.payment_method == "card" and copy.status == "invited"
    assert [u.email for u in copy.users] == ["eva@copy.example"]
    assert lookup.current_subscription(copy.id) is None
    assert message.recipient == "eva@copy.example"
    assert _events(copy.id, "customer.create_similar")[0].after["source_id"] == source.id
    # the preferred payment method survives the summary refresh at registration
    onboarding.register_user(lookup.main_user(copy.id).id, "Customer-Pass-1", clock)
    assert db.session.get(type(copy), copy.id).payment_method == "card"


def test_create_similar_refuses_a_taken_email_and_creates_nothing(app, mail_on):
    clock = app.config["CLOCK"]
    factories.reference(app)
    source = factories.customer(app, email="taken@customer.example")
    before = db.session.scalar(db.select(db.func.count()).select_from(type(source)))
    with pytest.raises(DomainError) as error:
        customer_tools.create_similar(
            source.id, NewCustomer("X", "Y", "taken@customer.example"), SYSTEM, clock
        )
    assert error.value.field == "contact_email"
    assert db.session.scalar(db.select(db.func.count()).select_from(type(source))) == before


# item 2: impersonation -------------------------------------------------------------------


def test_impersonation_needs_a_reason_a_role_and_only_admins_allow_changes(app):
    """Issue 7.2: admin/support only; reason required; support is always read-only."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    customer = factories.customer(app)
    admin, support, billing_staff = (make_staff(app, r) for r in ("admin", "support", "billing"))
    with pytest.raises(DomainError) as error:
        impersonation.start(customer.id, admin.id, "  ", False, clock)
    assert error.value.field == "reason"
    with pytest.raises(DomainError):
        impersonation.start(customer.id, billing_staff.id, "help", False, clock)
    with pytest.raises(DomainError) as error:
        impersonation.start(customer.id, support.id, "help", True, clock)
    assert error.value.field == "allow_changes"
    assert db.session.scalar(db.select(db.func.count()).select_from(Impersonation)) == 0

    session = impersonation.start(customer.id, support.id, "Ticket 42", False, clock)
    assert session.expires_at - session.started_at == timedelta(minutes=30)
    assert session.user_id == lookup.main_user(customer.id).id
    started = _events(customer.id, "impersonation.start")[0]
    assert (started.actor_label, started.reason) == (support.email, "Ticket 42")


def test_impersonation_is_refused_for_an_invited_or_locked_customer(app):
    clock = app.config["CLOCK"]
    factories.reference(app)
    admin = make_staff(app, "admin")
    for state in ("invited", "locked"):
        customer = factories.customer(app, state=state)
        with pytest.raises(DomainError):
            impersonation.start(customer.id, admin.id, "why", False, clock)


def test_impersonation_expires_after_30_minutes_and_records_it(app):
    clock = app.config["CLOCK"]
    factories.reference(app)
    customer = factories.customer(app)
    admin = make_staff(app, "admin")
    session = impersonation.start(customer.id, admin.id, "check", True, clock)
    clock.instant = clock.instant + timedelta(minutes=29, seconds=59)
    assert impersonation.active(session.id, clock) is not None
    clock.instant = clock.instant + timedelta(seconds=1)
    assert impersonation.active(session.id, clock) is None
    impersonation.end(session.id, clock)
    impersonation.end(session.id, clock)
    assert len(_events(customer.id, "impersonation.expire")) == 1
    assert db.session.get(Impersonation, session.id).ended_at == session.expires_at


def test_events_of_the_customer_user_name_the_staff_member_during_impersonation(app):
    clock = app.config["CLOCK"]
    factories.reference(app)
    customer = factories.customer(app)
    user = lookup.main_user(customer.id)
    token = on_behalf_of("admin@staff.example", 7)
    try:
        sign_in.end_user_sessions(user.id, clock)
    finally:
        from billing.kernel.audit import ON_BEHALF

        ON_BEHALF.reset(token)
    event = _events(customer.id, "user.sign_out")[0]
    assert event.actor_label == f"admin@staff.example as {user.email}"
    assert event.reason == "impersonation #7"


# item 3: tags, e-mail, language ----------------------------------------------------------


def test_tags_are_added_created_and_removed_with_an_audit_event(app):
    clock = app.config["CLOCK"]
    factories.reference(app)
    customer = factories.customer(app)
    db.session.add(Tag(name="VIP"))
    db.session.commit()
    assert customer_tools.set_tags(customer.id, "vip, New one,  new ONE ", SYSTEM, clock) == [
        "New one",
        "VIP",
    ]
    assert db.session.scalar(db.select(db.func.count()).select_from(Tag)) == 2
    assert customer_tools.set_tags(customer.id, "", SYSTEM, clock) == []
    events = _events(customer.id, "customer.tags")
    assert [e.after["tags"] for e in events] == [["New one", "VIP"], []]
    with pytest.raises(DomainError):
        customer_tools.set_tags(customer.id, "x" * 65, SYSTEM, clock)


def test_staff_message_goes_to_enabled_registered_users_in_their_language(app, mail_on):
    clock = app.config["CLOCK"]
    factories.reference(app)
    customer = factories.customer(app, language="de")
    factories.customer(app)  # someone else's users never get it
    messages = customer_tools.send_staff_message(
        customer.id, "Wartung", "Am Montag <b>kurz</b> offline.", SYSTEM, clock
    )
    assert [m.recipient for m in messages] == [lookup.main_user(customer.id).email]
    assert messages[0].subject == "Wartung"
    assert "Guten Tag" in messages[0].text and "<b>kurz</b>" in messages[0].text
    assert "&lt;b&gt;kurz&lt;/b&gt;" in messages[0].html
    log = db.session.scalar(db.select(EmailLog).where(EmailLog.template == "staff_message"))
    assert (log.customer_id, log.language) == (customer.id, "de")
    assert any(i["action"] == "email.staff_message" for i in customer_timeline(customer.id))
    for subject, text in (("", "x"), ("x", " ")):
        with pytest.raises(DomainError):
            customer_tools.send_staff_message(customer.id, subject, text, SYSTEM, clock)


def test_staff_message_needs_a_user_who_can_read_it(app, mail_on):
    clock = app.config["CLOCK"]
    factories.reference(app)
    invited = factories.customer(app, state="invited")
    with pytest.raises(DomainError):
        customer_tools.send_staff_message(invited.id, "Hi", "There", SYSTEM, clock)


def test_default_language_is_validated_audited_and_used_for_invoices(app):
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 12, 0)
    customer = factories.customer(app)
    with pytest.raises(DomainError):
        customer_tools.set_language(customer.id, "fr", SYSTEM, clock)
    customer_tools.set_language(customer.id, "de", SYSTEM, clock)
    assert _events(customer.id, "customer.language")[0].after == {"language": "de"}
    invoice = draft_invoice(customer.id, date(2026, 10, 1), clock)
    assert invoice.language == "de" and "interne" in invoice.lines[0].description


# item 4: ledger --------------------------------------------------------------------------


def test_manual_credit_and_debit_are_validated_and_audited(app):
    clock = app.config["CLOCK"]
    factories.reference(app)
    customer = factories.customer(app)
    staff = Actor.staff(make_staff(app, "billing"))
    ledger.book_manual(customer.id, "credit", "30,50", "Goodwill", staff, clock)
    ledger.book_manual(customer.id, "debit", "10.25", "Extra scan", staff, clock)
    assert ledger.balance(customer.id) == D("20.25")
    for direction, amount, text in (
        ("credit", "-5", "x"),
        ("credit", "1.001", "x"),
        ("credit", "abc", "x"),
        ("credit", "5", " "),
        ("gift", "5", "x"),
    ):
        with pytest.raises(DomainError):
            ledger.book_manual(customer.id, direction, amount, text, staff, clock)
    assert ledger.balance(customer.id) == D("20.25")
    events = _events(customer.id, "ledger.credit") + _events(customer.id, "ledger.debit")
    assert [(e.after["amount"], e.reason) for e in events] == [
        ("30.50", "Goodwill"),
        ("-10.25", "Extra scan"),
    ]


def _customer_billed_from_september(app):
    clock = app.config["CLOCK"]
    factories.reference(app)
    clock.instant = berlin(2026, 9, 1, 12, 0)
    customer = factories.customer(app)  # 12 IPs × 4.50 = 54.00 net a month, 19 % VAT
    clock.instant = berlin(2026, 11, 1, 1, 0)
    return clock, customer


def test_month_end_applies_credit_once_as_a_negative_line(app):
    """Issue 7.4: credit 20.00 on a 54.00 invoice → net 34.00, VAT 6.46, gross 40.46."""
    clock, customer = _customer_billed_from_september(app)
    ledger.book_manual(customer.id, "credit", "20.00", "Goodwill", SYSTEM, clock)
    invoice = draft_invoice(customer.id, date(2026, 10, 1), clock)
    assert [(line.description, line.amount) for line in invoice.lines][-1] == (
        "Credit applied",
        D("-20.00"),
    )
    assert (invoice.net, invoice.vat, invoice.gross) == (D("34.00"), D("6.46"), D("40.46"))
    assert ledger.balance(customer.id) == D("0.00")
    again = draft_invoice(customer.id, date(2026, 10, 1), clock)
    assert again.id == invoice.id and again.net == D("34.00")
    debits = db.session.scalars(db.select(LedgerEntry).where(LedgerEntry.kind == "invoice")).all()
    assert [(d.amount, d.invoice_id) for d in debits] == [(D("-20.00"), invoice.id)]


def test_credit_larger_than_the_invoice_leaves_zero_net_and_the_rest_for_later(app):
    """Credit 100.00: October net 0.00 (54.00 used), 46.00 left; November 54.00 − 46.00."""
    clock, customer = _customer_billed_from_september(app)
    ledger.book_manual(customer.id, "credit", "100", "Refund", SYSTEM, clock)
    october = draft_invoice(customer.id, date(2026, 10, 1), clock)
    assert (october.net, october.gross) == (D("0.00"), D("0.00"))
    assert ledger.balance(customer.id) == D("46.00")
    clock.instant = berlin(2026, 12, 1, 1, 0)
    november = draft_invoice(customer.id, date(2026, 11, 1), clock)
    assert (november.net, november.vat) == (D("8.00"), D("1.52"))
    assert ledger.balance(customer.id) == D("0.00")


def test_a_debit_balance_is_not_applied(app):
    clock, customer = _customer_billed_from_september(app)
    ledger.book_manual(customer.id, "debit", "5", "Fee", SYSTEM, clock)
    invoice = draft_invoice(customer.id, date(2026, 10, 1), clock)
    assert invoice.net == D("54.00") and ledger.balance(customer.id) == D("-5.00")


def test_a_redraft_spends_the_credit_again_only_once(app):
    clock, customer = _customer_billed_from_september(app)
    ledger.book_manual(customer.id, "credit", "10", "Goodwill", SYSTEM, clock)
    invoice = draft_invoice(customer.id, date(2026, 10, 1), clock)
    redrafted = redraft_invoice(invoice.id, SYSTEM, clock)
    assert redrafted.net == D("44.00")
    assert ledger.balance(customer.id) == D("0.00")


def test_a_credit_note_on_a_paid_invoice_books_its_net_amount_as_credit(app):
    """SPEC §14: what was paid already becomes account credit (net, the ledger's unit)."""
    clock, customer = _customer_billed_from_september(app)
    invoice = finalize_invoice(draft_invoice(customer.id, date(2026, 10, 1), clock).id, clock)
    mark_paid(invoice.id, SYSTEM, clock)
    note = create_credit_note(invoice.id, "wrong count", SYSTEM, clock)
    assert ledger.balance(customer.id) == D("54.00")
    entry = db.session.scalar(db.select(LedgerEntry).where(LedgerEntry.kind == "credit_note"))
    assert (entry.amount, entry.invoice_id) == (D("54.00"), note.id)
    assert note.settled_amount == D("0.00")


def test_a_credit_note_on_an_unpaid_invoice_settles_it_instead_of_booking_credit(app):
    """Issue 13.2 (SPEC §14): crediting an invoice nobody paid cancels what is owed on it; the
    customer gets no account credit on top (they could pay the invoice and keep both)."""
    clock, customer = _customer_billed_from_september(app)
    invoice = finalize_invoice(draft_invoice(customer.id, date(2026, 10, 1), clock).id, clock)
    note = create_credit_note(invoice.id, "wrong count", SYSTEM, clock)
    assert ledger.balance(customer.id) == D("0.00")
    assert (
        db.session.scalar(db.select(LedgerEntry).where(LedgerEntry.kind == "credit_note")) is None
    )
    assert note.settled_amount == invoice.gross == D("64.26")


def test_crediting_an_invoice_that_used_credit_gives_that_credit_back(app):
    """Issue 7.4 (SPEC §11): credit 20.00 paid part of a 54.00 invoice (net 34.00, paid);
    crediting the invoice books its 34.00 and gives the 20.00 back, so the customer holds
    54.00 again."""
    clock, customer = _customer_billed_from_september(app)
    ledger.book_manual(customer.id, "credit", "20.00", "Goodwill", SYSTEM, clock)
    invoice = finalize_invoice(draft_invoice(customer.id, date(2026, 10, 1), clock).id, clock)
    assert invoice.net == D("34.00") and ledger.balance(customer.id) == D("0.00")
    mark_paid(invoice.id, SYSTEM, clock)

    note = create_credit_note(invoice.id, "wrong count", SYSTEM, clock)

    assert ledger.balance(customer.id) == D("54.00")
    booked = db.session.scalars(
        db.select(LedgerEntry).where(LedgerEntry.invoice_id == note.id).order_by(LedgerEntry.id)
    ).all()
    assert sorted(e.amount for e in booked) == [D("20.00"), D("34.00")]


def test_crediting_an_unpaid_invoice_that_used_credit_gives_only_that_credit_back(app):
    """SPEC §14 with issue 7.4: the unpaid 34.00 net (40.46 gross) is settled, not credited;
    the 20.00 of account credit the invoice had used comes back."""
    clock, customer = _customer_billed_from_september(app)
    ledger.book_manual(customer.id, "credit", "20.00", "Goodwill", SYSTEM, clock)
    invoice = finalize_invoice(draft_invoice(customer.id, date(2026, 10, 1), clock).id, clock)

    note = create_credit_note(invoice.id, "wrong count", SYSTEM, clock)

    assert note.settled_amount == D("40.46")
    assert ledger.balance(customer.id) == D("20.00")


def test_a_manual_booking_on_a_stale_page_is_refused(app):
    """Issue 13.2: the booking form carries the newest booking it showed; the same form sent
    again (a double click) or after someone else booked is refused, nothing is booked."""
    clock = app.config["CLOCK"]
    factories.reference(app)
    customer = factories.customer(app)
    seen = ledger.last_entry_id(customer.id)
    assert seen == 0
    ledger.book_manual(customer.id, "credit", "10", "Goodwill", SYSTEM, clock, seen_entry_id=seen)
    with pytest.raises(Conflict, match="booked in the meantime"):
        ledger.book_manual(
            customer.id, "credit", "10", "Goodwill", SYSTEM, clock, seen_entry_id=seen
        )
    assert ledger.balance(customer.id) == D("10.00")
    fresh = ledger.last_entry_id(customer.id)
    ledger.book_manual(customer.id, "debit", "4", "Fee", SYSTEM, clock, seen_entry_id=fresh)
    assert ledger.balance(customer.id) == D("6.00")
