"""Schema migrations shipped inside the package, the same for SQLite and PostgreSQL."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from okrflow.store.db import Database
from okrflow.store.models import Base


def alembic_config(db: Database | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("okrflow.store") / "migrations"))
    if db is not None:
        cfg.set_main_option("sqlalchemy.url", db.engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to ``revision``; returns (before, after)."""
    before = current_revision(db)
    cfg = alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return before, current_revision(db)


def is_current(db: Database) -> bool:
    return current_revision(db) == head_revision()


def reset(db: Database) -> None:
    """Drop every okrflow table (data included) and migrate an empty schema to head.

    Used by ``okrflow demo --force`` and ``okrflow restore --force``. Foreign keys are switched off on SQLite
    for the drop, and PostgreSQL drops with CASCADE, so the order and the append-only triggers don't matter.
    """
    names = [t.name for t in reversed(Base.metadata.sorted_tables)] + ["alembic_version"]
    if db.backend == "sqlite":
        raw = db.engine.raw_connection()
        try:
            # PRAGMA foreign_keys is ignored inside a transaction: set it on the bare connection.
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute("BEGIN IMMEDIATE")
            for name in names:
                raw.execute(f'DROP TABLE IF EXISTS "{name}"')
            raw.execute("COMMIT")
            raw.execute("PRAGMA foreign_keys=ON")
        finally:
            raw.close()
    else:
        with db.engine.begin() as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')
            conn.exec_driver_sql("DROP FUNCTION IF EXISTS okrflow_audit_append_only() CASCADE")
            conn.exec_driver_sql("DROP FUNCTION IF EXISTS okrflow_decisions_immutable() CASCADE")
    upgrade(db)


def downgrade(db: Database, revision: str) -> None:
    """Step the schema back to ``revision`` (``base`` drops every okrflow table)."""
    cfg = alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
