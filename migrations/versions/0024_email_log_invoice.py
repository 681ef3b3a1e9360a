"""the e-mail log names the invoice a message is about

An invoice's page shows when, and to whom, it was e-mailed, and the notices of its failed card
payments. Messages logged before name the invoice only in their subject ("Your invoice
2026-000123 for October 2026", "Payment for invoice 2026-000123 failed"): they are linked to
the customer's invoice of that number.

Revision ID: 0024
Revises: 0023
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

FK_NAME = "fk_email_log_invoice_id_invoice"
NUMBER = re.compile(r"\b\d{4}-\d{6,}\b")
BATCH = 5000


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its reference in place; no table rebuild is needed.
        op.execute(
            "ALTER TABLE email_log ADD COLUMN invoice_id INTEGER "
            f"CONSTRAINT {FK_NAME} REFERENCES invoice (id)"
        )
    else:
        op.add_column("email_log", sa.Column("invoice_id", sa.Integer(), nullable=True))
        op.create_foreign_key(FK_NAME, "email_log", "invoice", ["invoice_id"], ["id"])
    op.create_index("ix_email_log_invoice", "email_log", ["invoice_id"])
    _backfill()


def _backfill():
    bind = op.get_bind()
    log = sa.table(
        "email_log",
        sa.column("id", sa.Integer),
        sa.column("template", sa.String),
        sa.column("subject", sa.String),
        sa.column("customer_id", sa.Integer),
        sa.column("invoice_id", sa.Integer),
    )
    invoice = sa.table(
        "invoice",
        sa.column("id", sa.Integer),
        sa.column("customer_id", sa.Integer),
        sa.column("number", sa.String),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(log.c.id, log.c.customer_id, log.c.subject)
            .where(
                log.c.template.in_(("invoice", "payment_failed")),
                log.c.customer_id.is_not(None),
                log.c.id > last,
            )
            .order_by(log.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        numbers = {}
        for log_id, customer_id, subject in rows:
            found = NUMBER.search(subject or "")
            if found:
                numbers[log_id] = (customer_id, found.group(0))
        wanted = {number for _customer, number in numbers.values()}
        invoices = {
            (customer_id, number): invoice_id
            for invoice_id, customer_id, number in bind.execute(
                sa.select(invoice.c.id, invoice.c.customer_id, invoice.c.number).where(
                    invoice.c.number.in_(wanted)
                )
            )
        }
        updates = [
            {"key": log_id, "invoice": invoices[key]}
            for log_id, key in numbers.items()
            if key in invoices
        ]
        if updates:
            bind.execute(
                log.update()
                .where(log.c.id == sa.bindparam("key"))
                .values(invoice_id=sa.bindparam("invoice")),
                updates,
            )
        last = rows[-1][0]


def downgrade():
    op.drop_index("ix_email_log_invoice", table_name="email_log")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite does not name a reference added with its column: the table is rebuilt without
        # the column, and so without its reference
        with op.batch_alter_table("email_log", schema=None) as batch_op:
            batch_op.drop_column("invoice_id")
        return
    op.drop_constraint(FK_NAME, "email_log", type_="foreignkey")
    op.drop_column("email_log", "invoice_id")
