"""Audit events are append-only on PostgreSQL (SPEC §2 "Audit event … Append-only", SPEC §13
"audit log"): migration 0011's trigger refuses UPDATE, DELETE and TRUNCATE for every role,
the application's included."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError

from billing.customers import lifecycle, lookup
from billing.customers.deletion import deletion_notice, erase_customer
from billing.kernel.audit import SYSTEM
from models import AuditEvent, db
from tests import factories


def _count() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(AuditEvent))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor_label = 'someone else'",
        "UPDATE audit_event SET outcome = 'ok' WHERE outcome = 'ok'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
    ],
)
def test_the_app_cannot_rewrite_or_remove_audit_events(pg_app, statement):
    """SPEC §2/§13: through the application's own connection, changing or deleting audit rows
    fails and leaves every row as it was."""
    factories.reference(pg_app)
    factories.customer(pg_app)
    before = db.session.execute(
        db.select(AuditEvent.id, AuditEvent.actor_label, AuditEvent.action).order_by(AuditEvent.id)
    ).all()
    assert before
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(db.text(statement))
    db.session.rollback()
    after = db.session.execute(
        db.select(AuditEvent.id, AuditEvent.actor_label, AuditEvent.action).order_by(AuditEvent.id)
    ).all()
    assert after == before


@pytest.mark.fresh_database
def test_a_direct_database_connection_cannot_delete_audit_events_either(pg_app):
    """SPEC §13: the guard lives in the database, not in the ORM: a plain psycopg connection
    with the app's credentials gets the same refusal, while new events can still be added."""
    factories.reference(pg_app)
    url = pg_app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_event WHERE id = (SELECT min(id) FROM audit_event)")
        conn.execute(
            "INSERT INTO audit_event (at, actor_type, actor_label, action, reason, ip, outcome) "
            "VALUES (now(), 'system', 'system', 'test.append', '', '', 'ok')"
        )
    assert (
        db.session.scalar(db.select(db.func.count()).where(AuditEvent.action == "test.append")) == 1
    )


def test_customer_erasure_still_works_and_adds_an_event(pg_app):
    """SPEC §4 Delete: erasing a customer's personal data never rewrites its audit events; it
    adds a ``customer.erase`` event and keeps the earlier ones untouched."""
    clock = pg_app.config["CLOCK"]
    factories.reference(pg_app)
    customer = factories.customer(pg_app)
    lifecycle.mark_for_deletion(customer.id, SYSTEM, clock)
    history = db.session.execute(
        db.select(AuditEvent.id, AuditEvent.action, AuditEvent.after)
        .where(AuditEvent.customer_id == customer.id)
        .order_by(AuditEvent.id)
    ).all()
    count = _count()

    erase_customer(customer.id, deletion_notice(customer.id, ""), clock)

    db.session.expire_all()
    assert lookup.get_customer(customer.id).erased_at is not None
    assert _count() == count + 1
    rows = db.session.execute(
        db.select(AuditEvent.id, AuditEvent.action, AuditEvent.after)
        .where(AuditEvent.customer_id == customer.id)
        .order_by(AuditEvent.id)
    ).all()
    assert rows[:-1] == history
    assert rows[-1].action == "customer.erase"
