"""Alembic environment. okrflow runs migrations programmatically (``okrflow db upgrade``); the connection is
handed in through ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context

from okrflow.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # pragma: no cover - only when someone runs the alembic CLI directly
        from okrflow.store.db import make_engine

        with make_engine(config.get_main_option("sqlalchemy.url")).connect() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs table rebuilds for ALTER
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
