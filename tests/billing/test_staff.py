"""Staff accounts and sign-in (SPEC §1, §13)."""

from __future__ import annotations

import pytest

from billing.access.staff import authenticate_staff, create_staff
from billing.kernel.errors import AuthenticationFailed, DomainError
from models import AuditEvent, StaffUser, db


def test_passwords_are_stored_as_argon2id(app):
    staff = create_staff("a@x.example", "billing", "Long-Enough-1", app.config["CLOCK"])
    assert staff.password_hash.startswith("$argon2id$")
    assert "Long-Enough-1" not in staff.password_hash


def test_unknown_user_and_wrong_password_get_the_same_answer(app):
    clock = app.config["CLOCK"]
    create_staff("a@x.example", "billing", "Long-Enough-1", clock)
    with pytest.raises(AuthenticationFailed) as unknown:
        authenticate_staff("nobody@x.example", "Long-Enough-1", clock)
    with pytest.raises(AuthenticationFailed) as wrong:
        authenticate_staff("a@x.example", "wrong-password", clock)
    assert unknown.value.message == wrong.value.message == "Invalid e-mail or password."
    outcomes = db.session.scalars(
        db.select(AuditEvent.outcome).where(AuditEvent.action == "staff.sign_in")
    ).all()
    assert outcomes == ["failed", "failed"]


def test_sign_in_is_case_insensitive_on_the_email(app):
    clock = app.config["CLOCK"]
    create_staff("Anna@X.example", "support", "Long-Enough-1", clock)
    assert authenticate_staff("anna@x.EXAMPLE", "Long-Enough-1", clock).role == "support"


def test_disabled_staff_cannot_sign_in(app):
    clock = app.config["CLOCK"]
    staff = create_staff("a@x.example", "admin", "Long-Enough-1", clock)
    staff.active = False
    db.session.commit()
    with pytest.raises(AuthenticationFailed):
        authenticate_staff("a@x.example", "Long-Enough-1", clock)


@pytest.mark.parametrize(
    ("email", "role", "password", "message"),
    [
        ("bad", "admin", "Long-Enough-1", "valid e-mail"),
        ("a@x.example", "owner", "Long-Enough-1", "Unknown role"),
        ("a@x.example", "admin", "short", "at least"),
    ],
)
def test_create_staff_validates(app, email, role, password, message):
    with pytest.raises(DomainError, match=message):
        create_staff(email, role, password, app.config["CLOCK"])
    assert db.session.query(StaffUser).count() == 0
