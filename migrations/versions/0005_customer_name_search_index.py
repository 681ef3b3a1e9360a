"""customer list sort index that also holds search_text

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 04:30:00

"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    # Plain operations (no batch mode), so SQLite keeps the customer table and its FTS triggers.
    op.create_index(
        "ix_customer_name_search", "customer", ["company_name", "id", "search_text"], unique=False
    )
    op.drop_index("ix_customer_company_name", table_name="customer")


def downgrade():
    op.create_index("ix_customer_company_name", "customer", ["company_name", "id"], unique=False)
    op.drop_index("ix_customer_name_search", table_name="customer")
