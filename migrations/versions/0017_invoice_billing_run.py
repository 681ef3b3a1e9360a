"""invoices belong to the month-end run that drafted them

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-06 22:00:00

A run numbered, charged and e-mailed every invoice of its month, also those drafted before it
started (the demo's history): it charged and e-mailed them again. Each invoice now names its run.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its reference in place; no table rebuild
        op.execute("ALTER TABLE invoice ADD COLUMN billing_run_id INTEGER REFERENCES billing_run (id)")
    else:
        op.add_column("invoice", sa.Column("billing_run_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_invoice_billing_run_id_billing_run",
            "invoice",
            "billing_run",
            ["billing_run_id"],
            ["id"],
        )
    # an existing run owns the invoices of its month drafted since it started (a run awaiting
    # approval keeps its drafts); invoices drafted before it are no run's
    op.execute(
        "UPDATE invoice SET billing_run_id = ("
        " SELECT billing_run.id FROM billing_run"
        " WHERE billing_run.period = invoice.period"
        " AND invoice.created_at >= billing_run.started_at)"
        " WHERE kind = 'invoice'"
    )
    op.create_index("ix_invoice_billing_run", "invoice", ["billing_run_id", "state", "id"])


def downgrade():
    op.drop_index("ix_invoice_billing_run", table_name="invoice")
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # the batch below copies the table; its lines and payments point at it meanwhile
        op.execute("PRAGMA foreign_keys=OFF")
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_column("billing_run_id")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
