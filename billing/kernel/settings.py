"""Named settings stored in the database."""

from __future__ import annotations

from billing.kernel.clock import Clock
from models import Setting, db

# the MSP's company name (Settings → Invoices): it issues the invoices and signs the e-mails
SELLER_NAME = "invoice.seller_name"


def get_setting(key: str, default: str = "") -> str:
    row = db.session.get(Setting, key)
    return default if row is None else row.value


def store_settings(values: dict[str, str], clock: Clock) -> None:
    """Store each value under its key, in the caller's transaction (it audits and commits)."""
    now = clock.now()
    for key, value in values.items():
        row = db.session.get(Setting, key)
        if row is None:
            db.session.add(Setting(key=key, value=value, updated_at=now))
        else:
            row.value, row.updated_at = value, now


def set_setting(key: str, value: str, clock: Clock) -> None:
    """Store ``value`` under ``key`` and commit."""
    store_settings({key: value}, clock)
    db.session.commit()


def seller_name(product_name: str) -> str:
    """Who the customers deal with: the seller's name saved under Settings → Invoices, else
    ``product_name`` (the deployment's ``PRODUCT_NAME``). Invoices name it as the seller and
    every e-mail is signed with it."""
    return get_setting(SELLER_NAME) or product_name
