"""Migrations: the same revisions on both engines, matching the models, reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from okrflow.store import migrate
from okrflow.store.models import Base


def test_migrated_schema_matches_models(db):
    assert migrate.current_revision(db) == migrate.head_revision()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_downgrade_to_base_and_upgrade_again(db):
    migrate.downgrade(db, "base")
    assert migrate.current_revision(db) is None
    assert not set(inspect(db.engine).get_table_names()) & {t.name for t in Base.metadata.sorted_tables}
    before, after = migrate.upgrade(db)
    assert (before, after) == (None, migrate.head_revision())


def test_reset_empties_a_database_with_data(db, admin_setup):
    migrate.reset(db)
    with db.read() as s:
        from okrflow.store.models import User

        assert s.query(User).count() == 0
    assert migrate.is_current(db)
