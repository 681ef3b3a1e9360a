"""a billing run keeps the moment it is run as of

``flask billing run-month-end --now … --queue`` handed the run to a worker that drafted and
finalized on its own clock: the moment the operator gave was lost. The run now stores it.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("billing_run", sa.Column("as_of", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # a plain DROP COLUMN (SQLite 3.35+): no table rebuild that could lose its constraints
    op.drop_column("billing_run", "as_of")
