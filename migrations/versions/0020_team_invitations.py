"""team invitations apart from accounts

Pending team invites move from unregistered ``user_account`` rows to ``team_invitation`` (their
token hashes move along, so links already sent keep working): an invitation no longer holds the
address for everyone else.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "team_invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_team_invitation_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_invitation")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_team_invitation_token_hash")),
    )
    op.create_index(
        "uq_team_invitation_customer_email_lower",
        "team_invitation",
        ["customer_id", sa.text("lower(email)")],
        unique=True,
    )
    op.execute(
        "INSERT INTO team_invitation "
        "(customer_id, email, name, token_hash, expires_at, created_at) "
        "SELECT customer_id, email, name, invite_token_hash, invite_expires_at, created_at "
        "FROM user_account WHERE NOT is_main AND registered_at IS NULL "
        "AND invite_token_hash IS NOT NULL AND invite_expires_at IS NOT NULL"
    )
    op.execute("DELETE FROM user_account WHERE NOT is_main AND registered_at IS NULL")


def downgrade():
    op.execute(
        "INSERT INTO user_account "
        "(customer_id, email, name, is_main, enabled, invite_token_hash, invite_expires_at, "
        "session_version, created_at) "
        "SELECT customer_id, email, name, FALSE, TRUE, token_hash, expires_at, 1, created_at "
        "FROM team_invitation "
        "WHERE id IN (SELECT min(id) FROM team_invitation GROUP BY lower(email)) "
        "AND lower(email) NOT IN (SELECT lower(email) FROM user_account)"
    )
    op.drop_index("uq_team_invitation_customer_email_lower", table_name="team_invitation")
    op.drop_table("team_invitation")
