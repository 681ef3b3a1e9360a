"""Encryption of stored secrets (SMTP password, Stripe keys) with keys from the environment.

``ENCRYPTION_KEYS`` holds comma-separated Fernet keys; the first encrypts, all decrypt, so a new
key can be put in front and old values re-encrypted (key rotation).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from billing.kernel.clock import Clock
from billing.kernel.errors import DomainError
from billing.kernel.i18n import _


def _keys() -> list[str]:
    # Key material stays with the running app (ENCRYPTION_KEYS from the environment): it is
    # never handed around as an argument.
    return [k.strip() for k in current_app.config["ENCRYPTION_KEYS"].split(",") if k.strip()]


def _cipher() -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in _keys()])


def encrypt(plain: str) -> str:
    return _cipher().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """The plain value; DomainError when no configured key opens it."""
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DomainError(
            _("A stored secret cannot be decrypted with the configured keys.")
        ) from None


def rotate(token: str) -> str:
    return _cipher().rotate(token.encode()).decode()


# Every setting whose value is stored encrypted (SMTP password, Stripe secret and webhook secret).
SECRET_SETTINGS = ("mail.password", "stripe.secret_key", "stripe.webhook_secret")


@dataclass(frozen=True)
class RotationReport:
    """What ``rotate_all`` did: secrets re-encrypted with the first key, those that used it
    already, and the names of settings that are empty or absent."""

    rotated: int
    current: int
    absent: tuple[str, ...]


def rotate_all(clock: Clock) -> RotationReport:
    """Re-encrypt every stored secret with the first configured key and commit.

    Idempotent: a secret that the first key already opens is left as it is. All or nothing:
    raises DomainError, naming the settings, when a stored secret opens with none of the
    configured keys (nothing is changed then).
    """
    from billing.kernel import audit
    from models import Setting, db

    first = Fernet(_keys()[0].encode())
    rows = {
        row.key: row
        for row in db.session.scalars(db.select(Setting).where(Setting.key.in_(SECRET_SETTINGS)))
    }
    stale, unreadable = [], []
    for key in SECRET_SETTINGS:
        row = rows.get(key)
        if row is None or not row.value:
            continue
        try:
            first.decrypt(row.value.encode())
        except InvalidToken:
            try:
                stale.append((row, rotate(row.value)))
            except InvalidToken:
                unreadable.append(key)
    if unreadable:
        db.session.rollback()
        raise DomainError(
            _(
                "These stored secrets cannot be decrypted with the configured keys: %(names)s. "
                "Nothing was changed.",
                names=", ".join(unreadable),
            )
        )
    present = [key for key in SECRET_SETTINGS if rows.get(key) is not None and rows[key].value]
    now = clock.now()
    for row, token in stale:
        row.value, row.updated_at = token, now
    if stale:
        audit.record(
            audit.SYSTEM,
            "settings.rotate_secrets",
            clock,
            after={"rotated": sorted(row.key for row, _token in stale)},
        )
    db.session.commit()
    return RotationReport(
        rotated=len(stale),
        current=len(present) - len(stale),
        absent=tuple(key for key in SECRET_SETTINGS if key not in present),
    )


def mask(plain: str) -> str:
    """What a page may show of a secret: nothing but its length class and last characters."""
    if not plain:
        return ""
    return "•" * 8 + plain[-4:] if len(plain) > 8 else "•" * 8


def new_key() -> str:
    return Fernet.generate_key().decode()
