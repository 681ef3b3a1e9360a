"""credit notes record how much of the corrected invoice they settled

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-10 09:00:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    # SPEC §14: a credit note settles what is still open on the invoice it corrects; only the
    # part already paid becomes account credit. Notes issued before booked all as credit (0).
    op.add_column(
        "invoice",
        sa.Column("settled_amount", sa.Numeric(12, 2), nullable=False, server_default="0.00"),
    )


def downgrade():
    with op.batch_alter_table("invoice") as batch_op:
        batch_op.drop_column("settled_amount")
