"""Backing up and restoring the whole database, as audited operations.

``backup`` writes a logical JSON backup (any engine) or a copy of the SQLite file; ``restore`` loads a JSON
backup (or a SQLite file made by ``backup --format sqlite``) into an empty database of either engine, in one
transaction, and appends a ``restore`` entry to the audit log it brought along. See docs/backup.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import okrflow
from okrflow.domain.access import SYSTEM_ACTOR, Actor
from okrflow.domain.errors import (
    ConfigurationError,
    ConflictError,
    IntegrityViolationError,
    InvalidInputError,
)
from okrflow.services import audit
from okrflow.store import backup as store
from okrflow.store import migrate
from okrflow.store.db import Database

BackupFormat = Literal["json", "sqlite"]
FORMATS: tuple[str, ...] = ("json", "sqlite")


@dataclass(frozen=True)
class BackupResult:
    path: Path
    format: str
    schema_revision: str
    rows: dict[str, int] | None  # JSON backups: rows per table
    pages: int | None  # SQLite copies: database pages copied

    @property
    def total_rows(self) -> int:
        return sum((self.rows or {}).values())


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    schema_revision: str
    rows: dict[str, int]
    replaced_existing: bool
    audit_seq: int

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _require_current_schema(db: Database) -> str:
    current = migrate.current_revision(db)
    head = migrate.head_revision()
    if current is None:
        raise ConfigurationError(f"database {db.display_url} has no okrflow schema; there is nothing to back up")
    if current != head:
        raise ConfigurationError(
            f"database {db.display_url} is at schema revision {current}, this okrflow needs {head}; "
            "run `okrflow db upgrade` first"
        )
    return current


def backup(
    db: Database,
    out: Path,
    *,
    fmt: str = "json",
    actor: Actor = SYSTEM_ACTOR,
    overwrite: bool = False,
    progress: store.Progress | None = None,
    now: datetime | None = None,
) -> BackupResult:
    """Write a backup of the whole database to ``out`` and record it in the audit log.

    The file appears only when complete (written beside it, then renamed).
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown backup format {fmt!r}; use json or sqlite", field="format")
    out = Path(out)
    if out.exists() and not overwrite:
        raise ConflictError(f"{out} exists already; choose another file or allow overwriting it")
    if out.is_dir():
        raise InvalidInputError(f"{out} is a directory; give a file name")
    revision = _require_current_schema(db)
    progress = progress or (lambda _t, _d, _n: None)
    rows: dict[str, int] | None = None
    pages: int | None = None
    if fmt == "sqlite":
        source = store.sqlite_path(db)
        pages = store.copy_sqlite_file(source, out, progress)
    else:
        stream, finish = store.atomic_output(out)
        ok = False
        try:
            rows = store.write_json(
                db,
                stream,
                schema_revision=revision,
                okrflow_version=okrflow.__version__,
                created_at=(now or datetime.now(UTC)),
                progress=progress,
            )
            ok = True
        finally:
            finish(ok)
    with db.write() as session:
        audit.record(
            session,
            actor,
            "backup",
            "database",
            revision,
            after={"file": out.name, "format": fmt, "rows": sum(rows.values()) if rows else None, "pages": pages},
        )
    return BackupResult(out, fmt, revision, rows, pages)


def _read_sqlite_backup(path: Path) -> store.BackupData:
    """A SQLite file made by ``okrflow backup --format sqlite``, read like a JSON backup."""
    source = Database(f"sqlite:///{path.resolve()}")
    try:
        revision = migrate.current_revision(source)
        if revision is None:
            raise InvalidInputError(f"{path} is a SQLite database without an okrflow schema")
        data = store.BackupData(schema_revision=revision, created_at="", okrflow_version="")
        with source.engine.connect() as conn, conn.begin():
            if revision == migrate.head_revision():
                for table in store.tables():
                    rows = list(store.iter_rows(conn, table))
                    data.tables[table.name] = store.TableData([c.name for c in table.columns], rows)
        return data
    finally:
        source.dispose()


def read_backup(path: Path) -> store.BackupData:
    """Parse and check a backup file (JSON, or a SQLite copy) without touching any database."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist or is not a file")
    with path.open("rb") as fh:
        is_sqlite = fh.read(len(store.SQLITE_MAGIC)) == store.SQLITE_MAGIC
    return _read_sqlite_backup(path) if is_sqlite else store.read_json(path)


def restore(
    db: Database,
    path: Path,
    *,
    force: bool = False,
    actor: Actor = SYSTEM_ACTOR,
    progress: store.Progress | None = None,
) -> RestoreResult:
    """Load a backup into ``db``: all of it in one transaction, or nothing.

    The target is migrated to the current schema first; it must be empty unless ``force`` (which deletes
    everything in it within the same transaction). The backup's audit chain is verified after loading and a
    ``restore`` entry is appended to it.
    """
    path = Path(path)
    data = read_backup(path)
    head = migrate.head_revision()
    if data.schema_revision != head:
        made_with = f" (okrflow {data.okrflow_version})" if data.okrflow_version else ""
        raise InvalidInputError(
            f"{path} was made at schema revision {data.schema_revision}{made_with}, this okrflow is at {head}; "
            "restore it with the okrflow version that made it, then upgrade that database with `okrflow db upgrade`"
        )
    migrate.upgrade(db)
    with db.write() as session:
        conn = session.connection()
        counts = store.count_rows(conn)
        existing = sum(counts.values())
        if existing:
            if not force:
                raise ConflictError(
                    f"database {db.display_url} is not empty ({existing} rows); restore only into an empty "
                    "database, or use --force to replace everything in it"
                )
            store.empty_all_tables(conn)
        store.insert_all(conn, data, progress or (lambda _t, _d, _n: None))
        store.reset_sequences(conn)
        verdict = audit.verify(session)
        if not verdict.ok:
            raise IntegrityViolationError(
                f"the audit log in {path} does not verify ({verdict.reason}); nothing was restored"
            )
        entry = audit.record(
            session,
            actor,
            "restore",
            "database",
            head,
            after={
                "file": path.name,
                "backup_created_at": data.created_at or None,
                "okrflow_version": data.okrflow_version or None,
                "rows": sum(data.row_counts().values()),
                "replaced_rows": existing,
            },
        )
        seq = entry.seq
    return RestoreResult(path, head, data.row_counts(), bool(existing), seq)
