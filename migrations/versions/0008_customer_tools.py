"""customer tools (impersonation, ledger)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "impersonation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("allow_changes", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_impersonation_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_user.id"], name=op.f("fk_impersonation_staff_id_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_impersonation_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_impersonation")),
    )
    op.create_index(
        "ix_impersonation_customer_started", "impersonation", ["customer_id", "started_at"]
    )
    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.CheckConstraint(
            "kind IN ('manual', 'credit_note', 'invoice')", name=op.f("ck_ledger_entry_kind")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_ledger_entry_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_ledger_entry_invoice_id_invoice")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
    )
    op.create_index("ix_ledger_entry_customer", "ledger_entry", ["customer_id", "id"])
    op.create_index("ix_ledger_entry_invoice", "ledger_entry", ["invoice_id"])


def downgrade():
    op.drop_index("ix_ledger_entry_invoice", table_name="ledger_entry")
    op.drop_index("ix_ledger_entry_customer", table_name="ledger_entry")
    op.drop_table("ledger_entry")
    op.drop_index("ix_impersonation_customer_started", table_name="impersonation")
    op.drop_table("impersonation")
