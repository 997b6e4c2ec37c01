"""decisions: the action column; the database refuses UPDATE and DELETE on decisions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MESSAGE = "a recorded decision cannot be changed or deleted; record a new decision that supersedes it"

_PG_GUARD_FUNCTION = f"""
CREATE OR REPLACE FUNCTION okrflow_decisions_immutable() RETURNS trigger AS $$
BEGIN
    -- integrity_constraint_violation: the application reports it as a conflict (409), as on SQLite
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("action", sa.String(length=16), nullable=True))
    # Decisions recorded before this column kept their action in the evidence.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE decisions SET action = evidence::jsonb ->> 'action' WHERE evidence::jsonb ? 'action'")
        op.execute(_PG_GUARD_FUNCTION)
        for verb in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER decisions_no_{verb} BEFORE {verb.upper()} ON decisions "
                "FOR EACH ROW EXECUTE FUNCTION okrflow_decisions_immutable()"
            )
    else:
        op.execute(
            "UPDATE decisions SET action = json_extract(evidence, '$.action') "
            "WHERE json_extract(evidence, '$.action') IS NOT NULL"
        )
        for verb in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER decisions_no_{verb} BEFORE {verb.upper()} ON decisions "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS decisions_no_{verb}" + (" ON decisions" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS okrflow_decisions_immutable()")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("action")
