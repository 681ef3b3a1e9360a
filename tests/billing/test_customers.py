"""Customer status, list summary and lifecycle basics (SPEC §2, §3, §4)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from billing.customers import lifecycle, lookup, onboarding, sign_in
from billing.customers.onboarding import NewCustomer
from billing.customers.summary import derive_status
from billing.kernel.audit import SYSTEM
from billing.kernel.errors import DomainError
from models import AuditEvent, Customer, CustomerStatus, Subscription, User, db
from tests import factories


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            {
                "marked_for_deletion": True,
                "main_registered": False,
                "locked": True,
                "has_active": True,
            },
            CustomerStatus.MARKED_FOR_DELETION,
        ),
        (
            {
                "marked_for_deletion": False,
                "main_registered": False,
                "locked": True,
                "has_active": True,
            },
            CustomerStatus.INVITED,
        ),
        (
            {
                "marked_for_deletion": False,
                "main_registered": True,
                "locked": True,
                "has_active": True,
            },
            CustomerStatus.LOCKED,
        ),
        (
            {
                "marked_for_deletion": False,
                "main_registered": True,
                "locked": False,
                "has_active": True,
            },
            CustomerStatus.ACTIVE,
        ),
        (
            {
                "marked_for_deletion": False,
                "main_registered": True,
                "locked": False,
                "has_active": False,
            },
            CustomerStatus.INACTIVE,
        ),
    ],
)
def test_status_precedence(flags, expected):
    """SPEC §3: marked for deletion > invited > locked > active > inactive."""
    assert derive_status(**flags) is expected


@pytest.mark.parametrize("state", ["invited", "active", "inactive", "locked", "deleted"])
def test_persisted_status_follows_every_state_change(any_app, state):
    """SPEC §3: the indexed status column is kept right by the domain functions."""
    factories.reference(any_app)
    created = factories.customer(any_app, state=state)
    expected = {"deleted": "marked_for_deletion"}.get(state, state)
    assert db.session.get(Customer, created.id).status == expected


def test_summary_columns_reflect_the_current_subscription(any_app):
    """SPEC §3/§5: IP columns, payment method, monthly and average IP price from the tiers."""
    factories.reference(any_app)
    created = factories.customer(any_app, internal=280, external=20, payment="card")
    row = db.session.get(Customer, created.id)
    assert (row.internal_ips, row.external_ips, row.payment_method) == (280, 20, "card")
    # 300 IPs = 50 × 4.50 + 200 × 3.20 + 50 × 2.10 (SPEC §5 worked example)
    assert row.monthly_price == Decimal("970.00")
    assert row.average_ip_price == Decimal("3.2333")


def test_cancel_makes_the_customer_inactive_at_once_but_billed_to_month_end(any_app):
    """SPEC §4 Cancel Active Subscription: inactive at once, the booking month still billed."""
    factories.reference(any_app)
    created = factories.customer(any_app)
    sub = lifecycle.cancel_subscription(created.id, SYSTEM, any_app.config["CLOCK"])
    assert db.session.get(Customer, created.id).status == "inactive"
    assert sub.valid_until.isoformat() == "2026-11-30"
    assert db.session.get(Customer, created.id).internal_ips == 0


def test_a_new_pending_change_replaces_the_old_one(any_app):
    """SPEC §2: at most one pending change per customer."""
    factories.reference(any_app)
    created = factories.customer(any_app, internal=100)
    clock = any_app.config["CLOCK"]
    first = lifecycle.schedule_change(created.id, 50, 2, SYSTEM, clock)
    second = lifecycle.schedule_change(created.id, 40, 2, SYSTEM, clock)
    assert first.state == "replaced"
    assert second.state == "pending"
    assert second.effective_date.isoformat() == "2026-12-01"
    assert db.session.get(Customer, created.id).has_pending_change is True


def test_create_customer_refuses_a_taken_email_in_any_case(any_app):
    """SPEC §2: user e-mail unique case-insensitively; nothing is created on refusal."""
    factories.reference(any_app)
    factories.customer(any_app, email="Boss@Example.com")
    before = db.session.query(Customer).count()
    with pytest.raises(DomainError, match="exists already"):
        factories.customer(any_app, email="boss@example.COM")
    assert db.session.query(Customer).count() == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("company_name", "  ", "company name"),
        ("contact_name", "", "contact person"),
        ("contact_email", "not-an-address", "valid e-mail"),
        ("country", "XX", "country"),
        ("language", "fr", "English or German"),
    ],
)
def test_create_customer_validates_its_input(app, field, value, message):
    data = NewCustomer(company_name="ACME", contact_name="Ann", contact_email="ann@acme.example")
    setattr(data, field, value)
    with pytest.raises(DomainError, match=message):
        onboarding.create_customer(data, SYSTEM, app.config["CLOCK"])
    assert db.session.query(Customer).count() == 0


def test_create_customer_stores_only_a_hash_of_the_invite_token(app):
    """SPEC §2: invite token stored hashed, expiring after 7 days."""
    created, token = onboarding.create_customer(
        NewCustomer(company_name="ACME", contact_name="Ann", contact_email="ann@acme.example"),
        SYSTEM,
        app.config["CLOCK"],
    )
    user = lookup.main_user(created.id)
    assert token not in (user.invite_token_hash or "")
    assert len(user.invite_token_hash) == 64
    assert (user.invite_expires_at - app.config["CLOCK"].now()).days == 7
    assert created.status == "invited"


def test_every_state_change_writes_an_audit_event(app):
    """SPEC §2/§4: who, what, which customer, before/after."""
    factories.reference(app)
    created = factories.customer(app, state="locked")
    actions = [
        e.action
        for e in db.session.scalars(
            db.select(AuditEvent)
            .where(AuditEvent.customer_id == created.id)
            .order_by(AuditEvent.id)
        )
    ]
    assert actions == ["customer.create", "user.register", "subscription.start", "customer.lock"]
    lock = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "customer.lock"))
    assert lock.before["locked"] is False and lock.after["locked"] is True
    assert lock.after["status"] == "locked"


def test_locked_and_deleted_customers_users_may_not_sign_in(app):
    """SPEC §4 lock (3.2.3) and delete (3.2.9)."""
    factories.reference(app)
    for state, allowed in (("active", True), ("locked", False), ("deleted", False)):
        created = factories.customer(app, state=state)
        user = lookup.main_user(created.id)
        assert sign_in.user_may_sign_in(user) is allowed


def test_database_refuses_negative_ip_counts(any_app):
    """SPEC §13: non-negative counts are a database constraint, not only a form check."""
    factories.reference(any_app)
    created = factories.customer(any_app)
    sub = db.session.scalar(db.select(Subscription).where(Subscription.customer_id == created.id))
    sub.internal_ips = -1
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_database_refuses_a_second_active_subscription(any_app):
    factories.reference(any_app)
    created = factories.customer(any_app)
    clock = any_app.config["CLOCK"]
    db.session.add(
        Subscription(
            customer_id=created.id,
            internal_ips=1,
            external_ips=0,
            payment_method="invoice",
            valid_from=clock.today(),
            created_at=clock.now(),
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_database_refuses_duplicate_user_email_in_another_case(any_app):
    factories.reference(any_app)
    created = factories.customer(any_app, email="dup@example.com")
    db.session.add(
        User(
            customer_id=created.id,
            email="DUP@example.com",
            name="x",
            created_at=any_app.config["CLOCK"].now(),
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.fresh_database
def test_concurrent_edit_with_stale_version_is_refused(any_app):
    """SPEC §13 optimistic locking: two editors load a customer; the second save is refused."""
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.exc import StaleDataError

    factories.reference(any_app)
    created = factories.customer(any_app)
    with Session(db.engine) as first, Session(db.engine) as second:
        mine = first.get(Customer, created.id)
        theirs = second.get(Customer, created.id)
        theirs.notes = "changed by the other staff member"
        second.commit()
        mine.notes = "my change"
        with pytest.raises(StaleDataError):
            first.commit()
    db.session.expire_all()
    assert db.session.get(Customer, created.id).notes == "changed by the other staff member"
