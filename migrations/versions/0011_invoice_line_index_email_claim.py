"""invoice line and correction indexes, invoice e-mail claim

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-03 07:40:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    # an invoice's lines and its credit notes were found by scanning the whole table
    op.create_index("ix_invoice_line_invoice", "invoice_line", ["invoice_id", "position"])
    op.create_index("ix_invoice_corrects", "invoice", ["corrects_invoice_id"])
    # a mail worker claims an invoice before sending it, so two workers never both send it
    op.add_column(
        "invoice", sa.Column("email_claimed_until", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade():
    with op.batch_alter_table("invoice") as batch_op:
        batch_op.drop_column("email_claimed_until")
    op.drop_index("ix_invoice_corrects", table_name="invoice")
    op.drop_index("ix_invoice_line_invoice", table_name="invoice_line")
