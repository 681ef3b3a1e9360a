"""additional subscriptions per customer with suspensions

Revision ID: 0015
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "service_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("internal_ips", sa.Integer(), nullable=False),
        sa.Column("external_ips", sa.Integer(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("term_end", sa.Date(), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('active', 'suspended', 'ended')", name=op.f("ck_service_subscription_state")
        ),
        sa.CheckConstraint(
            "internal_ips + external_ips >= 1", name=op.f("ck_service_subscription_ips_total")
        ),
        sa.CheckConstraint(
            "internal_ips >= 0 AND external_ips >= 0",
            name=op.f("ck_service_subscription_ips_non_negative"),
        ),
        sa.CheckConstraint(
            "term_months IN (1, 12, 24, 36)", name=op.f("ck_service_subscription_term_months")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_service_subscription_customer_id_customer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_subscription")),
    )
    op.create_index(
        "ix_service_subscription_customer_id", "service_subscription", ["customer_id", "state"]
    )
    op.create_index(
        "ix_service_subscription_state_term_end", "service_subscription", ["state", "term_end"]
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_service_subscription_name ON service_subscription "
        "(customer_id, lower(name)) WHERE state <> 'ended'"
    )
    op.create_table(
        "service_suspension",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("suspended_from", sa.Date(), nullable=False),
        sa.Column("suspended_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["service_subscription.id"],
            name=op.f("fk_service_suspension_subscription_id_service_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_suspension")),
    )
    op.create_index(
        "ix_service_suspension_subscription", "service_suspension", ["subscription_id"]
    )


def downgrade():
    op.drop_index("ix_service_suspension_subscription", table_name="service_suspension")
    op.drop_table("service_suspension")
    op.execute("DROP INDEX IF EXISTS uq_service_subscription_name")
    op.drop_index("ix_service_subscription_state_term_end", table_name="service_subscription")
    op.drop_index("ix_service_subscription_customer_id", table_name="service_subscription")
    op.drop_table("service_subscription")
