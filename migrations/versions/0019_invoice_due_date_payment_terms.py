"""invoices get a payment term and a due date; customers may have their own payment term

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-12 09:00:00

"""

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op
from flask import current_app

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# the payment term every invoice so far was printed with ("within 14 days")
TERM = 14
BATCH = 5000


def upgrade():
    op.add_column("customer", sa.Column("payment_term_days", sa.Integer(), nullable=True))
    op.add_column("invoice", sa.Column("payment_term_days", sa.Integer(), nullable=True))
    op.add_column("invoice", sa.Column("due_date", sa.Date(), nullable=True))
    op.create_index("ix_invoice_state_due_date", "invoice", ["state", "due_date"])
    _backfill(current_app.config.get("APP_TIMEZONE", "Europe/Berlin"))


def _backfill(timezone):
    """Invoices finalized before: due 14 days after the day (in the MSP's time zone) they were
    finalized, a Saturday or Sunday moved to the Monday after (billing.invoicing.payment_terms)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(
            sa.text(
                "UPDATE invoice SET payment_term_days = :term, due_date = issued.due "
                "+ CASE EXTRACT(ISODOW FROM issued.due) WHEN 6 THEN 2 WHEN 7 THEN 1 ELSE 0 END "
                "FROM (SELECT id, (finalized_at AT TIME ZONE :tz)::date + :term AS due "
                "FROM invoice WHERE kind = 'invoice' AND finalized_at IS NOT NULL) AS issued "
                "WHERE invoice.id = issued.id"
            ),
            {"term": TERM, "tz": timezone},
        )
        return
    # SQLite stores the UTC instant without its zone, and has no time zones to convert with
    zone = ZoneInfo(timezone)
    invoice = sa.table(
        "invoice",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("finalized_at", sa.DateTime),
        sa.column("payment_term_days", sa.Integer),
        sa.column("due_date", sa.Date),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(invoice.c.id, invoice.c.finalized_at)
            .where(
                invoice.c.kind == "invoice",
                invoice.c.finalized_at.is_not(None),
                invoice.c.id > last,
            )
            .order_by(invoice.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        updates = []
        for invoice_id, finalized_at in rows:
            due = finalized_at.replace(tzinfo=UTC).astimezone(zone).date() + timedelta(days=TERM)
            if due.weekday() >= 5:
                due += timedelta(days=7 - due.weekday())
            updates.append({"key": invoice_id, "due": due})
        bind.execute(
            invoice.update()
            .where(invoice.c.id == sa.bindparam("key"))
            .values(payment_term_days=TERM, due_date=sa.bindparam("due")),
            updates,
        )
        last = rows[-1][0]


def downgrade():
    op.drop_index("ix_invoice_state_due_date", table_name="invoice")
    op.drop_column("invoice", "due_date")
    op.drop_column("invoice", "payment_term_days")
    op.drop_column("customer", "payment_term_days")
