"""audit events are append-only on PostgreSQL

Revision ID: 0011
Revises: 0016

A trigger refuses UPDATE and DELETE of ``audit_event`` rows (and TRUNCATE of the table) for every
role, the application's included, so the guarantee holds whichever role the app connects as and
without a second database role. ``UPDATE``/``DELETE``/``TRUNCATE`` privileges are also revoked
from PUBLIC, so a separate application role granted only what it needs keeps none of them.
SQLite has no roles; there the application's code is the only guard.
"""

from alembic import op

revision = "0011"
down_revision = "0016"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM PUBLIC")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER audit_event_no_truncate ON audit_event")
    op.execute("DROP TRIGGER audit_event_no_update_delete ON audit_event")
    op.execute("DROP FUNCTION audit_event_append_only()")
