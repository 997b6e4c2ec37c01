"""Logical backup and restore of the whole database, generic over ``Base.metadata.sorted_tables``.

A backup is one JSON document::

    {"format": "okrflow-backup", "format_version": 1, "schema_revision": "0001", "created_at": "...",
     "okrflow_version": "0.1.0", "tables": {"workspaces": {"columns": [...], "rows": [[...], ...]}, ...},
     "checksum": "sha256:..."}

Values are JSON: timestamps as ISO 8601 strings, JSON columns as JSON, binary as base64. ``checksum`` covers
the table data, so a truncated or edited file is refused before anything is written. The same file restores
into SQLite or PostgreSQL. This module knows tables and rows only; the audited use case (who restored what)
is in :mod:`okrflow.services.backup`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    JSON,
    Connection,
    Date,
    DateTime,
    LargeBinary,
    Numeric,
    Table,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeDecorator

from okrflow.domain.errors import IntegrityViolationError, InvalidInputError
from okrflow.store.db import Database
from okrflow.store.models import Base

FORMAT = "okrflow-backup"
FORMAT_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
BATCH = 1000

# progress(table, rows done, rows in table)
Progress = Callable[[str, int, int], None]


def _no_progress(_table: str, _done: int, _total: int) -> None:
    return None


def tables() -> list[Table]:
    """All okrflow tables, parents before children."""
    return list(Base.metadata.sorted_tables)


# ------------------------------------------------------------------ values


def encode_value(value: Any) -> Any:
    """A column value as JSON."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _decoder(table: Table, column_name: str) -> Callable[[Any], Any]:
    col_type = table.c[column_name].type
    if isinstance(col_type, TypeDecorator):
        col_type = col_type.impl_instance
    if isinstance(col_type, JSON):
        return lambda v: v
    if isinstance(col_type, DateTime):
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if isinstance(col_type, Date):
        return lambda v: None if v is None else date.fromisoformat(v)
    if isinstance(col_type, Numeric):
        return lambda v: None if v is None else Decimal(str(v))
    if isinstance(col_type, LargeBinary):
        return lambda v: None if v is None else base64.b64decode(v)
    return lambda v: v


# ------------------------------------------------------------------ export


@dataclass
class TableData:
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class BackupData:
    """A parsed, checked backup."""

    schema_revision: str | None
    created_at: str
    okrflow_version: str
    tables: dict[str, TableData] = field(default_factory=dict)

    def row_counts(self) -> dict[str, int]:
        return {name: len(t.rows) for name, t in self.tables.items()}


def _order_by(table: Table) -> list[Any]:
    return list(table.primary_key.columns) or list(table.columns)


def count_rows(conn: Connection) -> dict[str, int]:
    return {t.name: conn.scalar(select(func.count()).select_from(t)) or 0 for t in tables()}


def iter_rows(conn: Connection, table: Table, batch: int = BATCH) -> Iterator[list[Any]]:
    """The table's rows as JSON-ready lists, in primary-key order."""
    result = conn.execution_options(yield_per=batch).execute(select(table).order_by(*_order_by(table)))
    for row in result:
        yield [encode_value(v) for v in row]


class _Checksum:
    """SHA-256 over a canonical rendering of every table's columns and rows, in file order."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def table(self, name: str, columns: Sequence[str]) -> None:
        self._h.update(f"{json.dumps(name)}\n{_canon(list(columns))}\n".encode())

    def row(self, row: Sequence[Any]) -> None:
        self._h.update(_canon(list(row)).encode("utf-8") + b"\n")

    def hexdigest(self) -> str:
        return "sha256:" + self._h.hexdigest()


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def snapshot_connection(db: Database) -> Connection:
    """A connection whose reads all see one consistent snapshot of the database."""
    if db.backend == "postgresql":
        return db.engine.connect().execution_options(isolation_level="REPEATABLE READ")
    return db.engine.connect()  # SQLite: a read transaction sees one snapshot (WAL)


def write_json(
    db: Database,
    out: IO[str],
    *,
    schema_revision: str | None,
    okrflow_version: str,
    created_at: datetime,
    progress: Progress = _no_progress,
) -> dict[str, int]:
    """Stream a JSON backup of every table to ``out``; returns the row count per table."""
    counts: dict[str, int] = {}
    checksum = _Checksum()
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_revision": schema_revision,
        "created_at": created_at.isoformat(),
        "okrflow_version": okrflow_version,
    }
    out.write("{\n")
    for key, value in header.items():
        out.write(f"{json.dumps(key)}: {json.dumps(value)},\n")
    out.write('"tables": {')
    with snapshot_connection(db) as conn, conn.begin():
        totals = count_rows(conn)
        for i, table in enumerate(tables()):
            columns = [c.name for c in table.columns]
            checksum.table(table.name, columns)
            out.write(("," if i else "") + f'\n{json.dumps(table.name)}: {{"columns": {json.dumps(columns)}, ')
            out.write('"rows": [')
            done = 0
            progress(table.name, 0, totals[table.name])
            for row in iter_rows(conn, table):
                checksum.row(row)
                out.write(("," if done else "") + "\n" + json.dumps(row, ensure_ascii=False, allow_nan=False))
                done += 1
                if done % BATCH == 0:
                    progress(table.name, done, totals[table.name])
            progress(table.name, done, done)
            out.write("]}")
            counts[table.name] = done
    out.write("\n},\n")
    out.write(f'"checksum": {json.dumps(checksum.hexdigest())}\n}}\n')
    return counts


def atomic_output(path: Path) -> tuple[IO[str], Callable[[bool], None]]:
    """A temporary file next to ``path`` and a ``finish(ok)`` that renames it into place or removes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    stream = os.fdopen(fd, "w", encoding="utf-8")

    def finish(ok: bool) -> None:
        stream.close()
        if ok:
            os.replace(tmp, path)
        else:
            Path(tmp).unlink(missing_ok=True)

    return stream, finish


# ------------------------------------------------------------------ reading a backup file


def _corrupt(path: Path, why: str) -> IntegrityViolationError:
    return IntegrityViolationError(f"{path} is not a usable okrflow backup: {why}")


def read_json(path: Path) -> BackupData:
    """Parse and check a backup file completely (format, tables, columns, checksum) before any write."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head == SQLITE_MAGIC:
        raise InvalidInputError(f"{path} is a SQLite database file, not a JSON backup")
    try:
        with path.open(encoding="utf-8") as fh:
            doc = json.load(fh)
    except UnicodeDecodeError:
        raise _corrupt(path, "it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _corrupt(path, f"invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidInputError(f'{path} is not an okrflow backup (no "format": "{FORMAT}" field)')
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise InvalidInputError(
            f"{path} has backup format version {version!r}; this okrflow reads version {FORMAT_VERSION}"
        )
    raw_tables = doc.get("tables")
    if not isinstance(raw_tables, dict):
        raise _corrupt(path, 'the "tables" object is missing')
    known = {t.name: t for t in tables()}
    unknown = sorted(set(raw_tables) - set(known))
    if unknown:
        raise _corrupt(path, f"unknown table(s) {', '.join(unknown)}")
    checksum = _Checksum()
    data = BackupData(
        schema_revision=doc.get("schema_revision"),
        created_at=str(doc.get("created_at", "")),
        okrflow_version=str(doc.get("okrflow_version", "")),
    )
    for name, raw in raw_tables.items():
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("columns"), list)
            or not isinstance(raw.get("rows"), list)
        ):
            raise _corrupt(path, f"table {name} needs a columns list and a rows list")
        columns = raw["columns"]
        expected = {c.name for c in known[name].columns}
        if set(columns) != expected or len(columns) != len(expected):
            raise _corrupt(path, f"the columns of table {name} do not match this okrflow's schema")
        checksum.table(name, columns)
        for n, row in enumerate(raw["rows"], start=1):
            if not isinstance(row, list) or len(row) != len(columns):
                raise _corrupt(path, f"row {n} of table {name} does not have {len(columns)} values")
            checksum.row(row)
        data.tables[name] = TableData(columns, raw["rows"])
    stated = doc.get("checksum")
    if stated is None:
        raise _corrupt(path, "the checksum is missing")
    if stated != checksum.hexdigest():
        raise _corrupt(path, "the checksum does not match its content (the file was changed or damaged)")
    return data


# ------------------------------------------------------------------ restore


def is_empty(conn: Connection) -> bool:
    return not any(count_rows(conn).values())


def empty_all_tables(conn: Connection) -> None:
    """Delete every row of every okrflow table inside the caller's transaction.

    PostgreSQL: ``TRUNCATE`` (it fires no row triggers, so the append-only guard of the audit log does not
    object). SQLite: the table's triggers are dropped, the rows deleted and the triggers recreated from their
    stored SQL, all in the same transaction.
    """
    ordered = tables()
    if conn.dialect.name == "postgresql":
        names = ", ".join(conn.dialect.identifier_preparer.quote(t.name) for t in ordered)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    triggers = conn.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL ORDER BY name")
    ).all()
    for name, _sql in triggers:
        conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    # RESTRICT is checked row by row in SQLite: first cut the references that point back up the order
    # (self-references, cycle-breaking ones), then delete children before parents.
    forward = _forward_references(ordered)
    for table in ordered:
        for col in sorted(set(_self_reference_columns(table)) | set(forward[table.name])):
            if table.c[col].nullable:
                conn.execute(table.update().where(table.c[col].is_not(None)).values({col: None}))
    for table in reversed(ordered):
        conn.execute(table.delete())
    for _name, sql in triggers:
        conn.exec_driver_sql(sql)


def _self_reference_columns(table: Table) -> list[str]:
    return [fk.parent.name for fk in table.foreign_keys if fk.column.table is table and fk.parent.nullable]


def _parents_first(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a self-referencing table (teams) ordered so that every parent row comes before its children."""
    refs = [(fk.parent.name, fk.column.name) for fk in table.foreign_keys if fk.column.table is table]
    if not refs:
        return rows
    key_of = {(col, row[col]) for row in rows for _, col in refs}
    placed: set[tuple[str, Any]] = set()
    ordered: list[dict[str, Any]] = []
    pending = rows
    while pending:
        rest = []
        for row in pending:
            ready = all(
                row[child] is None or (parent, row[child]) in placed or (parent, row[child]) not in key_of
                for child, parent in refs
            )
            if ready:
                ordered.append(row)
                placed.update((parent, row[parent]) for _, parent in refs)
            else:
                rest.append(row)
        if len(rest) == len(pending):
            raise IntegrityViolationError(f"the rows of table {table.name} refer to each other in a cycle")
        pending = rest
    return ordered


def _forward_references(order: list[Table]) -> dict[str, list[str]]:
    """Per table, the foreign-key columns that point at a table inserted *later*.

    ``sorted_tables`` breaks a cycle between tables (e.g. objectives -> key_results -> objectives, declared
    with ``use_alter``) by ignoring one of its foreign keys; those columns are inserted as NULL and filled in
    once every table is loaded.
    """
    position = {t.name: i for i, t in enumerate(order)}
    return {
        t.name: sorted(
            {fk.parent.name for fk in t.foreign_keys if position.get(fk.column.table.name, -1) > position[t.name]}
        )
        for t in order
    }


def insert_all(conn: Connection, data: BackupData, progress: Progress = _no_progress, batch: int = BATCH) -> None:
    """Insert every table of ``data`` in dependency order (inside the caller's transaction)."""
    order = tables()
    forward = _forward_references(order)
    pending_updates: list[tuple[Table, list[str], list[dict[str, Any]]]] = []
    for table in order:
        td = data.tables.get(table.name)
        if td is None or not td.rows:
            progress(table.name, 0, 0)
            continue
        decoders = [_decoder(table, c) for c in td.columns]
        try:
            rows = [{c: dec(v) for c, dec, v in zip(td.columns, decoders, raw, strict=True)} for raw in td.rows]
        except (TypeError, ValueError) as exc:
            raise IntegrityViolationError(f"a value in table {table.name} cannot be read: {exc}") from None
        rows = _parents_first(table, rows)
        later = forward[table.name]
        if later:
            pk = [c.name for c in table.primary_key.columns]
            # Columns with an ``onupdate`` default (updated_at) keep their backed-up value in the fill-in.
            kept = later + [c.name for c in table.columns if c.onupdate is not None and c.name not in later]
            fills = [
                {**{f"pk_{c}": row[c] for c in pk}, **{f"v_{c}": row[c] for c in kept}}
                for row in rows
                if any(row[c] is not None for c in later)
            ]
            if fills:
                pending_updates.append((table, kept, fills))
            rows = [{**row, **dict.fromkeys(later)} for row in rows]
        total = len(rows)
        progress(table.name, 0, total)
        for start in range(0, total, batch):
            conn.execute(table.insert(), rows[start : start + batch])
            progress(table.name, min(start + batch, total), total)
    for table, later, fills in pending_updates:
        statement = (
            table.update()
            .where(*(c == bindparam(f"pk_{c.name}") for c in table.primary_key.columns))
            .values({c: bindparam(f"v_{c}") for c in later})
        )
        for start in range(0, len(fills), batch):
            conn.execute(statement, fills[start : start + batch])


def reset_sequences(conn: Connection) -> None:
    """PostgreSQL: set each serial column's sequence to the highest id, so new rows get fresh ids."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables():
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or pk[0].autoincrement is False:
            continue
        seq = conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk[0].name})
        if seq is None:
            continue
        quoted_table = conn.dialect.identifier_preparer.quote(table.name)
        quoted_col = conn.dialect.identifier_preparer.quote(pk[0].name)
        conn.execute(
            text(
                f"SELECT setval(CAST(:seq AS regclass), COALESCE(MAX({quoted_col}), 1), MAX({quoted_col}) IS NOT NULL) "
                f"FROM {quoted_table}"
            ),
            {"seq": seq},
        )


# ------------------------------------------------------------------ SQLite file copy


def sqlite_path(db: Database) -> Path:
    """The file behind a SQLite database URL."""
    url = make_url(db.engine.url)
    if url.get_backend_name() != "sqlite":
        raise InvalidInputError(
            "--format sqlite copies a SQLite database file; this database is "
            f"{url.get_backend_name()} - use --format json (or the tools of your PostgreSQL server, e.g. pg_dump)"
        )
    if url.database in (None, "", ":memory:"):
        raise InvalidInputError("an in-memory SQLite database has no file to copy; use --format json")
    return Path(url.database)


def copy_sqlite_file(source: Path, out: Path, progress: Progress = _no_progress) -> int:
    """Copy a live SQLite database with sqlite3's online backup API (consistent while others write).

    Returns the number of pages copied. The copy is written to a temporary file and renamed into place.
    """
    if not source.exists():
        raise InvalidInputError(f"the SQLite database {source} does not exist")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    copied = 0

    def on_progress(_status: int, remaining: int, total: int) -> None:
        nonlocal copied
        copied = total
        progress("pages", total - remaining, total)

    try:
        src = sqlite3.connect(str(source))
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst, pages=256, progress=on_progress)
            # A single-file copy: no WAL side files are needed to open it.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
            src.close()
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return copied
