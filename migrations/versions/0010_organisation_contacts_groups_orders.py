"""organisation details, contacts, customer groups, purchase orders

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CUSTOMER_COLUMNS = (
    ("turnover_currency", 3, ""),
    ("account_type", 20, "customer"),
    ("street3", 200, ""),
    ("landmark", 200, ""),
    ("fax", 50, ""),
    ("billing_street3", 200, ""),
    ("billing_landmark", 200, ""),
    ("billing_phone", 50, ""),
    ("billing_fax", 50, ""),
)


def upgrade():
    op.create_table(
        "customer_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_group")),
        sa.UniqueConstraint("name", name=op.f("uq_customer_group_name")),
    )
    op.create_table(
        "customer_group_tag",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["customer_group.id"],
            name=op.f("fk_customer_group_tag_group_id_customer_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["tag.id"],
            name=op.f("fk_customer_group_tag_tag_id_tag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "tag_id", name=op.f("pk_customer_group_tag")),
    )
    op.create_table(
        "customer_group_member",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_customer_group_member_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["customer_group.id"],
            name=op.f("fk_customer_group_member_group_id_customer_group"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "customer_id", name=op.f("pk_customer_group_member")),
    )
    op.create_index(
        "ix_customer_group_member_customer_id",
        "customer_group_member",
        ["customer_id", "group_id"],
        unique=False,
    )

    op.create_table(
        "purchase_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("annual_value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_type", sa.String(length=100), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("renewal_date", sa.Date(), nullable=True),
        sa.Column("consumption_start_date", sa.Date(), nullable=True),
        sa.Column("consumption_base_value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("contract_period_days", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'expired', 'in_discussion')",
            name=op.f("ck_purchase_order_status"),
        ),
        sa.CheckConstraint(
            "annual_value >= 0 AND consumption_base_value >= 0",
            name=op.f("ck_purchase_order_values_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_purchase_order_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order")),
    )
    op.create_index(
        "ix_purchase_order_customer_id",
        "purchase_order",
        ["customer_id", "status", "start_date"],
        unique=False,
    )
    op.create_index(
        "ix_purchase_order_expiry", "purchase_order", ["status", "expiry_date"], unique=False
    )

    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("designation", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=False),
        sa.Column("mobile", sa.String(length=50), nullable=False),
        sa.Column("user_type", sa.String(length=20), nullable=False),
        sa.Column("billing_alerts", sa.Boolean(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "user_type IN ('billing', 'technical', 'management', 'other')",
            name=op.f("ck_contact_user_type"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_contact_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_contact_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
    )
    op.create_index("ix_contact_customer_id", "contact", ["customer_id", "id"], unique=False)

    # plain ADD COLUMN: a batch rebuild of customer would drop its search triggers on SQLite
    for name, length, default in CUSTOMER_COLUMNS:
        op.add_column(
            "customer",
            sa.Column(name, sa.String(length=length), server_default=default, nullable=False),
        )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its reference in place; no table rebuild
        op.execute(
            "ALTER TABLE invoice ADD COLUMN purchase_order_id INTEGER "
            "REFERENCES purchase_order (id)"
        )
    else:
        op.add_column("invoice", sa.Column("purchase_order_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_invoice_purchase_order_id_purchase_order",
            "invoice",
            "purchase_order",
            ["purchase_order_id"],
            ["id"],
        )


def downgrade():
    # SQLite cannot drop a referencing column in place; the batch copies the table
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_column("purchase_order_id")
    for name, _length, _default in reversed(CUSTOMER_COLUMNS):
        op.drop_column("customer", name)
    op.drop_index("ix_contact_customer_id", table_name="contact")
    op.drop_table("contact")
    op.drop_index("ix_purchase_order_expiry", table_name="purchase_order")
    op.drop_index("ix_purchase_order_customer_id", table_name="purchase_order")
    op.drop_table("purchase_order")
    op.drop_index("ix_customer_group_member_customer_id", table_name="customer_group_member")
    op.drop_table("customer_group_member")
    op.drop_table("customer_group_tag")
    op.drop_table("customer_group")
