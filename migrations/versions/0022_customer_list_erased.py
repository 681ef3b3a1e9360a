"""customer list leaves out erased customers from its indexes

Erased customers are hidden from the customer list and the dashboard's counts by default. The
list's sort index also holds erased_at, so the default list (and a frequent search) still reads
its page from that index alone; a small index holds the erased customers for the list's
"Erased" filter, and one the status next to erased_at for the dashboard's counts.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 00:56:12

"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

ERASED = sa.text("erased_at IS NOT NULL")


def upgrade():
    # Plain operations (no batch mode), so SQLite keeps the customer table and its FTS triggers.
    op.create_index(
        "ix_customer_list_name", "customer", ["company_name", "id", "search_text", "erased_at"]
    )
    op.drop_index("ix_customer_name_search", table_name="customer")
    op.create_index(
        "ix_customer_erased_name",
        "customer",
        ["company_name", "id", "search_text", "erased_at"],
        postgresql_where=ERASED,
        sqlite_where=ERASED,
    )
    op.create_index("ix_customer_status_erased", "customer", ["status", "erased_at"])


def downgrade():
    op.drop_index("ix_customer_status_erased", table_name="customer")
    op.drop_index("ix_customer_erased_name", table_name="customer")
    op.create_index("ix_customer_name_search", "customer", ["company_name", "id", "search_text"])
    op.drop_index("ix_customer_list_name", table_name="customer")
