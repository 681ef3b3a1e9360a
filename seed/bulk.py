"""``flask seed demo --customers N``: many generated customers through a bulk insert path.

Rows are built in batches and inserted with executemany; the list summary columns are computed
with the same pricing functions the domain uses, so the rows look exactly like real ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, insert, text

from billing.clock import Clock
from billing.customers import derive_status
from billing.pricing import average_ip_price, load_tiers, monthly_price
from models import Customer, Subscription, User, db

BATCH = 5000
PREFIXES = [
    "Alpha",
    "Nord",
    "Süd",
    "Blau",
    "Rhein",
    "Berg",
    "Stadt",
    "Data",
    "Secure",
    "Cloud",
    "Hansa",
    "Kontor",
    "Tech",
    "Meister",
    "Netz",
    "Werk",
    "Feld",
    "Stern",
    "Wald",
    "See",
]
SUFFIXES = ["GmbH", "AG", "KG", "Ltd", "SARL", "BV", "AB", "eG", "Inc", "GmbH & Co. KG"]
COUNTRIES = ["DE"] * 14 + ["AT", "FR", "NL", "CH", "US", "SE"]
PAYMENTS = ["invoice", "card", "card", "invoice", "free", "project_key"]


def _statuses(rng: random.Random) -> tuple[bool, bool, bool, bool]:
    """(marked, registered, locked, has_active) with a realistic mix of states."""
    roll = rng.random()
    if roll < 0.03:
        return True, True, False, True
    if roll < 0.12:
        return False, False, False, False
    if roll < 0.17:
        return False, True, True, True
    if roll < 0.27:
        return False, True, False, False
    return False, True, False, True


def bulk_customers(count: int, clock: Clock, seed: int = 7) -> int:
    """Insert ``count`` generated customers (with main users and subscriptions)."""
    rng = random.Random(seed)
    tiers = load_tiers()
    now = clock.now()
    today = clock.today()
    start_id = (db.session.scalar(db.select(func.max(Customer.id))) or 0) + 1
    start_user = (db.session.scalar(db.select(func.max(User.id))) or 0) + 1
    start_sub = (db.session.scalar(db.select(func.max(Subscription.id))) or 0) + 1
    done = 0
    conn = db.session.connection()
    for batch in _batches(count):
        customers, users, subs = [], [], []
        for offset in range(batch):
            n = done + offset
            cid = start_id + n
            marked, registered, locked, active = _statuses(rng)
            internal = rng.randint(1, 400)
            external = rng.randint(0, 60)
            payment = rng.choice(PAYMENTS)
            price = monthly_price(internal + external, tiers)
            country = rng.choice(COUNTRIES)
            company = (
                f"{rng.choice(PREFIXES)}{rng.choice(PREFIXES).lower()} {rng.choice(SUFFIXES)} {cid}"
            )
            email = f"contact{cid}@bulk{cid % 997}.example"
            customers.append(
                {
                    "id": cid,
                    "company_name": company,
                    "contact_name": f"Contact {cid}",
                    "contact_email": email,
                    "street": f"Weg {cid % 300}",
                    "street2": "",
                    "postal_code": f"{10000 + cid % 89999}",
                    "city": "Musterstadt",
                    "state": "",
                    "country": country,
                    "phone": "",
                    "vat_id": "",
                    "use_billing_address": False,
                    "billing_street": "",
                    "billing_street2": "",
                    "billing_postal_code": "",
                    "billing_city": "",
                    "billing_state": "",
                    "billing_country": "",
                    "service_mode": "self_service" if cid % 3 == 0 else "managed",
                    "language": "de" if cid % 2 else "en",
                    "locked": locked,
                    "marked_for_deletion_at": now if marked else None,
                    "notes": "",
                    "industry": "",
                    "website": "",
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                    "status": derive_status(
                        marked_for_deletion=marked,
                        main_registered=registered,
                        locked=locked,
                        has_active=active,
                    ).value,
                    "internal_ips": internal if active else 0,
                    "external_ips": external if active else 0,
                    "payment_method": payment if registered else None,
                    "monthly_price": price if active else Decimal("0.00"),
                    "average_ip_price": average_ip_price(price, internal + external)
                    if active
                    else None,
                    "has_pending_change": False,
                }
            )
            users.append(
                {
                    "id": start_user + n,
                    "customer_id": cid,
                    "email": email,
                    "name": f"Contact {cid}",
                    "password_hash": None,
                    "is_main": True,
                    "enabled": True,
                    "registered_at": now if registered else None,
                    "session_version": 1,
                    "created_at": now,
                }
            )
            if registered:
                subs.append(
                    {
                        "id": start_sub + n,
                        "customer_id": cid,
                        "internal_ips": internal,
                        "external_ips": external,
                        "payment_method": payment,
                        "price_basis": "tiers",
                        "valid_from": today - timedelta(days=n % 400),
                        "valid_until": None if active else today,
                        "state": "active" if active else "cancelled",
                        "created_at": now,
                    }
                )
        conn.execute(insert(Customer), customers)
        conn.execute(insert(User), users)
        if subs:
            conn.execute(insert(Subscription), subs)
        db.session.commit()
        conn = db.session.connection()
        done += batch
    _advance_sequences()
    return done


def _batches(count: int) -> Iterator[int]:
    while count > 0:
        size = min(BATCH, count)
        yield size
        count -= size


def _advance_sequences() -> None:
    if db.engine.dialect.name != "postgresql":
        return
    for table in ("customer", "user_account", "subscription"):
        db.session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )
    db.session.execute(text("ANALYZE customer"))
    db.session.commit()
