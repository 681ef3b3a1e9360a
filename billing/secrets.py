"""Encryption of stored secrets (SMTP password, Stripe keys) with keys from the environment.

``ENCRYPTION_KEYS`` holds comma-separated Fernet keys; the first encrypts, all decrypt, so a new
key can be put in front and old values re-encrypted (key rotation).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from .errors import DomainError
from .i18n import _


def _cipher() -> MultiFernet:
    keys = [k.strip() for k in current_app.config["ENCRYPTION_KEYS"].split(",") if k.strip()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


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


def mask(plain: str) -> str:
    """What a page may show of a secret: nothing but its length class and last characters."""
    if not plain:
        return ""
    return "•" * 8 + plain[-4:] if len(plain) > 8 else "•" * 8


def new_key() -> str:
    return Fernet.generate_key().decode()
