"""Engine and session handling for SQLite (default) and PostgreSQL.

``Database.read()`` gives a session for reads; ``Database.write()`` a session whose transaction commits on
success and rolls back on any error. On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so
concurrent writers queue for the lock instead of failing half-way, and the connection runs in WAL mode with
foreign keys on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from okrflow.domain.errors import ConfigurationError, ConflictError, StaleVersionError, UnavailableError

DEFAULT_DATABASE_URL = "sqlite:///./okrflow.db"
ENV_DATABASE_URL = "OKRFLOW_DATABASE_URL"
_WRITE = "okrflow_write"


def resolve_url(url: str | None = None) -> str:
    """The URL given, else ``$OKRFLOW_DATABASE_URL``, else ``sqlite:///./okrflow.db``.

    ``postgresql://`` is read as ``postgresql+psycopg://`` (psycopg 3).
    """
    url = url or os.environ.get(ENV_DATABASE_URL) or DEFAULT_DATABASE_URL
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(f"cannot parse database URL {url!r}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"unsupported database {parsed.get_backend_name()!r}; use sqlite:///FILE or postgresql://..."
        )
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = resolve_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        engine = create_engine(url, **kwargs)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see the "begin" hook).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class Database:
    """One database: an engine and the read/write session factories bound to it."""

    def __init__(self, url: str | None = None, engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(url)
        self.url = self.engine.url
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.url.get_backend_name()

    @property
    def display_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _unavailable_as_error(self), self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends, rolls back everything if it raises."""
        with _unavailable_as_error(self), self._write() as session, session.begin():
            yield session

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _unavailable_as_error(db: Database) -> Iterator[None]:
    try:
        yield
    except StaleDataError as exc:
        raise StaleVersionError(
            "someone else changed this record meanwhile; reload it and apply your change again"
        ) from exc
    except IntegrityError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "constraint violated"
        raise ConflictError(f"the change conflicts with existing data ({reason})") from exc
    except (OperationalError, ProgrammingError) as exc:
        text_ = str(exc.orig or exc)
        if "no such table" in text_ or "UndefinedTable" in type(exc.orig).__name__:
            raise ConfigurationError(
                f"database {db.display_url} has no okrflow schema yet; run `okrflow db upgrade` (or `okrflow init`)"
            ) from exc
        if isinstance(exc, ProgrammingError):
            raise
        # Locking and connection problems reach the user as one clear line, never a traceback.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise UnavailableError(f"database {db.display_url} is unavailable: {reason}") from exc
