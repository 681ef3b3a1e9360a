"""``flask seed demo --customers N``: many generated customers through a bulk insert path.

Each customer gets a main user and, once registered, a subscription; the list summary columns
are computed with the same pricing and status functions the domain uses, so the rows look exactly
like real ones. Values go through each column's SQLAlchemy bind processing, then to the driver's
fastest path: ``COPY … FROM STDIN`` on PostgreSQL, ``executemany`` on SQLite.

The load is one transaction. A large load (``REBUILD_FROM`` customers or more) drops the secondary
indexes of the three tables (and, on SQLite, the search table's insert trigger) inside that
transaction and builds them again at the end, which is several times faster than maintaining
them row by row; since DDL is transactional on both backends, a failed load leaves the schema as
it was.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Table, bindparam, func, text

from billing.catalog.pricing import average_ip_price, load_tiers, monthly_price
from billing.customers.summary import derive_status
from billing.kernel.clock import Clock, add_months
from models import Customer, Subscription, User, db
from models.bulk import BulkWriter

BATCH = 10_000
REBUILD_FROM = 50_000
SEARCH_INSERT_TRIGGER = "customer_search_ai"
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

CUSTOMER_COLUMNS = (
    "id",
    "company_name",
    "contact_name",
    "contact_email",
    "street",
    "street2",
    "postal_code",
    "city",
    "state",
    "country",
    "phone",
    "vat_id",
    "use_billing_address",
    "billing_street",
    "billing_street2",
    "billing_postal_code",
    "billing_city",
    "billing_state",
    "billing_country",
    "service_mode",
    "language",
    "locked",
    "marked_for_deletion_at",
    "notes",
    "industry",
    "website",
    "created_at",
    "updated_at",
    "version",
    "status",
    "internal_ips",
    "external_ips",
    "payment_method",
    "monthly_price",
    "average_ip_price",
    "has_pending_change",
)
USER_COLUMNS = (
    "id",
    "customer_id",
    "email",
    "name",
    "password_hash",
    "is_main",
    "enabled",
    "registered_at",
    "session_version",
    "created_at",
)
SUBSCRIPTION_COLUMNS = (
    "id",
    "customer_id",
    "internal_ips",
    "external_ips",
    "payment_method",
    "price_basis",
    "valid_from",
    "valid_until",
    "state",
    "created_at",
    "cancelled_at",
)


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
    """Insert ``count`` generated customers (with main users and subscriptions), committed."""
    if count <= 0:
        return 0
    today = clock.today()
    generation = _Generation(
        rng=random.Random(seed),
        tiers=load_tiers(),
        now=clock.now(),
        today=today,
        # what cancel_subscription sets: billed to the end of the current month
        cancelled_until=add_months(today, 1) - timedelta(days=1),
        start_id=(db.session.scalar(db.select(func.max(Customer.id))) or 0) + 1,
        start_user=(db.session.scalar(db.select(func.max(User.id))) or 0) + 1,
        start_sub=(db.session.scalar(db.select(func.max(Subscription.id))) or 0) + 1,
    )
    conn = db.session.connection()
    tables = (Customer.__table__, User.__table__, Subscription.__table__)
    writers = [
        BulkWriter(conn, table, columns)
        for table, columns in zip(
            tables, (CUSTOMER_COLUMNS, USER_COLUMNS, SUBSCRIPTION_COLUMNS), strict=True
        )
    ]
    done = 0
    with _indexes_rebuilt(conn, tables, enabled=count >= REBUILD_FROM):
        for batch in _batches(count):
            customers, users, subs = [], [], []
            for n in range(done, done + batch):
                customer, user, sub = generation.rows(n)
                customers.append(customer)
                users.append(user)
                if sub is not None:
                    subs.append(sub)
            for writer, rows in zip(writers, (customers, users, subs), strict=True):
                writer.write(rows)
            done += batch
    _advance_sequences(conn)
    db.session.commit()
    _analyze(tables)
    return done


@dataclass
class _Generation:
    """What generating the customers shares: the random source, the tiers, the moment, the
    first free ids, and each IP count's price and average price, computed once."""

    rng: random.Random
    tiers: list
    now: datetime
    today: date
    cancelled_until: date
    start_id: int
    start_user: int
    start_sub: int
    prices: dict[int, tuple[Decimal, Decimal | None]] = field(default_factory=dict)

    def rows(self, n: int) -> tuple[tuple, tuple, tuple | None]:
        """The ``n``-th generated customer's row, its main user's, and its subscription's
        (None while the main user has not registered)."""
        rng, now = self.rng, self.now
        cid = self.start_id + n
        marked, registered, locked, active = _statuses(rng)
        internal = rng.randint(1, 400)
        external = rng.randint(0, 60)
        payment = rng.choice(PAYMENTS)
        total = internal + external
        if total not in self.prices:
            price = monthly_price(total, self.tiers)
            self.prices[total] = (price, average_ip_price(price, total))
        price, average = self.prices[total]
        country = rng.choice(COUNTRIES)
        first, second, suffix = rng.choice(PREFIXES), rng.choice(PREFIXES), rng.choice(SUFFIXES)
        email = f"contact{cid}@bulk{cid % 997}.example"
        contact = f"Contact {cid}"
        status = derive_status(
            marked_for_deletion=marked, main_registered=registered, locked=locked, has_active=active
        ).value
        # CUSTOMER_COLUMNS: the address, then service mode to notes, then the list summary
        customer = (
            *(cid, f"{first}{second.lower()} {suffix} {cid}", contact, email),
            *(f"Weg {cid % 300}", "", f"{10000 + cid % 89999}", "Musterstadt", "", country),
            *("", "", False, "", "", "", "", "", ""),
            *("self_service" if cid % 3 == 0 else "managed", "de" if cid % 2 else "en", locked),
            *(now if marked else None, "", "", "", now, now, 1, status),
            *(internal if active else 0, external if active else 0),
            *(payment if registered else None, price if active else Decimal("0.00")),
            *(average if active else None, False),
        )
        user_id = self.start_user + n
        user = (user_id, cid, email, contact, None, True, True, now if registered else None, 1, now)
        if not registered:
            return customer, user, None
        sub = (
            *(self.start_sub + n, cid, internal, external, payment, "tiers"),
            *(self.today - timedelta(days=n % 400), None if active else self.cancelled_until),
            *("active" if active else "cancelled", now, None if active else now),
        )
        return customer, user, sub


def _batches(count: int) -> Iterator[int]:
    while count > 0:
        size = min(BATCH, count)
        yield size
        count -= size


@contextmanager
def _indexes_rebuilt(conn, tables: Sequence[Table], enabled: bool):
    """Drop the secondary indexes of ``tables`` for the duration, then create them again."""
    if not enabled:
        yield
        return
    names = [t.name for t in tables]
    triggers: list = []
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        indexes = conn.execute(
            text(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                "WHERE t.relname IN :tables AND pg_table_is_visible(t.oid) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            ).bindparams(bindparam("tables", names, expanding=True))
        ).all()
    else:
        cache_size = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql("PRAGMA cache_size = -262144")
        indexes = conn.execute(
            text(
                "SELECT name, sql FROM sqlite_master "
                "WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN :tables"
            ).bindparams(bindparam("tables", names, expanding=True))
        ).all()
        # migration 0001 fills the FTS5 search table from an insert trigger: one rebuild from
        # the content table at the end is faster than a trigger run per row
        triggers = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": SEARCH_INSERT_TRIGGER},
        ).all()
    for name, _sql in indexes:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    for name, _sql in triggers:
        conn.exec_driver_sql(f"DROP TRIGGER {name}")
    yield
    for _name, sql in indexes:
        conn.exec_driver_sql(sql)
    for _name, sql in triggers:
        conn.exec_driver_sql("INSERT INTO customer_search(customer_search) VALUES ('rebuild')")
        conn.exec_driver_sql(sql)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache_size)}")


def _advance_sequences(conn) -> None:
    if conn.dialect.name != "postgresql":
        return
    for table in ("customer", "user_account", "subscription"):
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
            f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
        )


def _analyze(tables: Sequence[Table]) -> None:
    """PostgreSQL: fresh planner statistics and visibility map, as autovacuum would leave them."""
    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table.name}")
