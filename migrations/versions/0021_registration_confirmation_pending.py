"""self-registrations waiting for their confirmation are marked

A repeat registration of an address that waits for its confirmation replaces that registration;
the mark tells such a registration from a main user that staff invited (who has no password
either, now that the password is chosen at confirmation).

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    # a plain ADD COLUMN: a batch (copy and move) table on SQLite would lose the unique index
    # on lower(email), which SQLite cannot reflect
    op.add_column(
        "user_account",
        sa.Column("confirmation_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # until now a waiting self-registration was the only unregistered main user of a
    # self-service customer that had a password
    op.execute(
        "UPDATE user_account SET confirmation_pending = TRUE "
        "WHERE is_main AND registered_at IS NULL AND password_hash IS NOT NULL "
        "AND customer_id IN (SELECT id FROM customer WHERE service_mode = 'self_service')"
    )


def downgrade():
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("confirmation_pending")
    op.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS uq_user_account_email_lower "
        "ON user_account (lower(email))"
    )
