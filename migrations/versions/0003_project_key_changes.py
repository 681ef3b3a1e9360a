"""project key changes and expiry notice

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:56:47.708143

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


FK_NAME = "fk_scheduled_change_project_key_id_project_key"


def upgrade():
    op.add_column("project_key", sa.Column("expiry_notified_at", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its reference in place; no table rebuild is needed.
        op.execute(
            "ALTER TABLE scheduled_change ADD COLUMN project_key_id INTEGER "
            f"CONSTRAINT {FK_NAME} REFERENCES project_key (id)"
        )
    else:
        op.add_column("scheduled_change", sa.Column("project_key_id", sa.Integer(), nullable=True))
        op.create_foreign_key(FK_NAME, "scheduled_change", "project_key", ["project_key_id"], ["id"])


def downgrade():
    with op.batch_alter_table("scheduled_change", schema=None) as batch_op:
        batch_op.drop_constraint(FK_NAME, type_="foreignkey")
        batch_op.drop_column("project_key_id")
    op.drop_column("project_key", "expiry_notified_at")
