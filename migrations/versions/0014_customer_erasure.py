"""customer erasure requests (restartable, swept when stuck)

Revision ID: 0014
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "customer_erasure",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("notice", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done')", name=op.f("ck_customer_erasure_state")
        ),
        sa.CheckConstraint(
            "attempts >= 0", name=op.f("ck_customer_erasure_attempts_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_customer_erasure_customer_id_customer"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_erasure")),
    )


def downgrade():
    op.drop_table("customer_erasure")
