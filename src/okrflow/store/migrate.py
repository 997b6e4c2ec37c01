"""Schema migrations shipped inside the package, the same for SQLite and PostgreSQL."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from okrflow.store.db import Database


def alembic_config(db: Database | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("okrflow.store") / "migrations"))
    if db is not None:
        cfg.set_main_option(
            "sqlalchemy.url", db.engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
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
