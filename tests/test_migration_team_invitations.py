"""Revisions 0020 and 0021 on a database that has data: pending team invites become
invitations whose links keep working, waiting self-registrations are marked, and the address
index survives."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from billing.customers import onboarding
from billing.customers.onboarding import new_invite_token
from models import TeamInvitation, User, db
from tests.conftest import _build
from tests.support.migrations import empty_database as empty_database_for


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    yield from empty_database_for(request, tmp_path, "t_migration_0020")


ROWS = {
    # (e-mail, is_main, registered, password, self-service)
    "ann@acme.example": (True, True, "hash", False),
    "pending@acme.example": (False, False, None, False),
    "rita@newco.example": (True, False, "hash", True),
    "ivy@invited.example": (True, False, None, True),
}


def test_0020_0021_move_pending_invites_and_mark_waiting_registrations(empty_database, clock):
    app, ctx, _db = _build(empty_database, clock)
    try:
        upgrade(revision="0014")
        now = clock.now()
        tokens = {}
        for n, (email, (main, registered, password, self_service)) in enumerate(ROWS.items()):
            mode = "self_service" if self_service else "managed"
            customer_id = 1 if email.endswith("acme.example") else n + 1
            if main:
                db.session.execute(
                    text(
                        "INSERT INTO customer (id, company_name, contact_name, contact_email, "
                        "street, street2, postal_code, city, state, country, phone, vat_id, "
                        "use_billing_address, billing_street, billing_street2, "
                        "billing_postal_code, billing_city, billing_state, billing_country, "
                        "service_mode, language, locked, notes, industry, website, "
                        "created_at, updated_at, version, status, internal_ips, external_ips, "
                        "monthly_price, has_pending_change) VALUES (:id, 'Co', 'C', :email, "
                        "'', '', '', '', '', 'DE', '', '', false, '', '', '', '', '', '', "
                        ":mode, 'en', false, '', '', '', :now, :now, 1, 'invited', 0, 0, 0, "
                        "false)"
                    ),
                    {"id": customer_id, "email": email, "mode": mode, "now": now},
                )
            tokens[email], hashed = new_invite_token()
            db.session.execute(
                text(
                    "INSERT INTO user_account (customer_id, email, name, password_hash, is_main, "
                    "enabled, registered_at, invite_token_hash, invite_expires_at, "
                    "session_version, created_at) VALUES (:customer, :email, 'N', :password, "
                    ":main, true, :registered, :token, :expires, 1, :now)"
                ),
                {
                    "customer": customer_id,
                    "email": email,
                    "password": password,
                    "main": main,
                    "registered": now if registered else None,
                    "token": None if registered else hashed,
                    "expires": None if registered else now.replace(year=now.year + 1),
                    "now": now,
                },
            )
        db.session.commit()

        upgrade()

        [invitation] = db.session.scalars(db.select(TeamInvitation)).all()
        assert (invitation.customer_id, invitation.email) == (1, "pending@acme.example")
        users = {u.email: u for u in db.session.scalars(db.select(User))}
        assert "pending@acme.example" not in users
        assert users["rita@newco.example"].confirmation_pending
        assert not users["ivy@invited.example"].confirmation_pending
        assert not users["ann@acme.example"].confirmation_pending
        found = onboarding.find_invite(tokens["pending@acme.example"], clock)
        assert found.email == "pending@acme.example", "a link sent before keeps working"
        db.session.add(User(customer_id=1, email="ANN@acme.example", name="x", created_at=now))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()

        downgrade(revision="0019")
        emails = set(db.session.scalars(text("SELECT email FROM user_account")))
        assert "pending@acme.example" in emails
        with pytest.raises(IntegrityError):
            db.session.execute(
                text(
                    "INSERT INTO user_account (customer_id, email, name, is_main, enabled, "
                    "session_version, created_at) VALUES (1, 'ANN@ACME.example', 'x', false, "
                    "true, 1, :now)"
                ),
                {"now": now},
            )
        db.session.rollback()
    finally:
        db.session.remove()
        db.engine.dispose()
        ctx.pop()
