"""Fast multi-row inserts for imports: the driver's own bulk path, inside the caller's transaction.

SQLAlchemy's generic executemany spends most of its time building parameters row by row. For the million-row
status histories of an import we go one level down: SQLite gets one prepared ``INSERT`` with ``executemany``
and values already in SQLAlchemy's storage format; PostgreSQL gets ``COPY ... FROM STDIN`` (psycopg 3).
Values must round-trip exactly as the ORM would have written them, which the tests check on both engines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import repeat
from operator import attrgetter, is_, is_not, itemgetter, methodcaller
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, Float, Integer, SmallInteger, String, Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from okrflow.store.types import UTCDateTime


def _sqlite_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is UTC and type(value) is datetime:
        # Fast path (what parsers produce), same text: "YYYY-MM-DD HH:MM:SS.ffffff" without the "+00:00".
        return value.isoformat(" ", "microseconds")[:26]
    if value.tzinfo is None:
        raise ValueError("naive datetime given; okrflow stores aware UTC timestamps only")
    v = value.astimezone(UTC)
    # The format of SQLAlchemy's SQLite DATETIME, so that text comparisons in SQL stay right.
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"


_iso_us = methodcaller("isoformat", " ", "microseconds")
_first_26 = itemgetter(slice(0, 26))
_tzinfo = attrgetter("tzinfo")


def _sqlite_datetimes(values: Sequence[Any]) -> list[str | None]:
    """:func:`_sqlite_datetime` of a whole column; when every value is an aware UTC ``datetime`` (what parsers
    produce) the text is made at C speed, the same text (property-tested)."""
    if None in values:  # a nullable column (resolved, updated): the others as a column of their own
        texts = iter(_sqlite_datetimes([v for v in values if v is not None]))
        return [None if v is None else next(texts) for v in values]
    if all(map(is_, map(type, values), repeat(datetime))) and all(map(is_, map(_tzinfo, values), repeat(UTC))):
        return list(map(_first_26, map(_iso_us, values)))
    return list(map(_sqlite_datetime, values))


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False) builds one per call


def _json(value: Any) -> str | None:
    return None if value is None else _JSON.encode(value)


@contextmanager
def _driver_errors(conn: Connection, statement: str) -> Iterator[None]:
    """Errors of the driver called directly (COPY, executemany) as SQLAlchemy's own, as a statement run through
    SQLAlchemy raises them: a unique or foreign-key violation is an ``IntegrityError`` (→ ``ConflictError``)."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=conn.dialect) from exc


def _identity(value: Any) -> Any:
    return value


def _converters(table: Table, columns: Sequence[str], backend: str) -> list[Callable[[Any], Any]]:
    out: list[Callable[[Any], Any]] = []
    for name in columns:
        col_type = table.c[name].type
        if isinstance(col_type, UTCDateTime):
            out.append(_sqlite_datetime if backend == "sqlite" else _aware)
        elif (
            isinstance(col_type, JSON)
            or isinstance(getattr(col_type, "impl", None), JSON)
            or _is_json_variant(col_type)
        ):
            out.append(_json)
        else:
            out.append(_identity)
    return out


def _is_json_variant(col_type: Any) -> bool:
    return isinstance(col_type, JSON) or any(
        isinstance(t, JSON) for t in getattr(col_type, "_variant_mapping", {}).values()
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given; okrflow stores aware UTC timestamps only")
    return value


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``; returns the number of rows."""
    conn = session.connection()
    backend = conn.dialect.name
    conv = _converters(table, columns, backend)
    cols = ", ".join(f'"{c}"' for c in columns)
    count = 0
    if backend == "postgresql":
        raw = conn.connection.dbapi_connection
        assert raw is not None
        types = _pg_binary_types(table, columns)
        if types is not None:  # binary COPY: psycopg dumps the values in C, the server parses no text
            dt_cols = [i for i, t in enumerate(types) if t == "timestamptz"]
            copy_sql = f'COPY "{table.name}" ({cols}) FROM STDIN (FORMAT BINARY)'
            with _driver_errors(conn, copy_sql), raw.cursor() as cur, cur.copy(copy_sql) as copy:  # type: ignore[attr-defined]
                copy.set_types(types)
                for row in rows:
                    for i in dt_cols:
                        value = row[i]
                        if value is not None and value.tzinfo is None:
                            raise ValueError("naive datetime given; okrflow stores aware UTC timestamps only")
                    copy.write_row(row)
                    count += 1
            return count
        # psycopg adapts datetimes and numbers itself; only JSON columns need converting, so rows without
        # one go to COPY untouched (the per-value Python work is what dominates at a million rows).
        json_cols = [i for i, c in enumerate(conv) if c is _json]
        copy_sql = f'COPY "{table.name}" ({cols}) FROM STDIN'
        with _driver_errors(conn, copy_sql), raw.cursor() as cur, cur.copy(copy_sql) as copy:  # type: ignore[attr-defined]
            if not json_cols:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            else:
                for row in rows:
                    values = list(row)
                    for i in json_cols:
                        values[i] = _json(values[i])
                    copy.write_row(values)
                    count += 1
        return count
    sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({", ".join("?" for _ in columns)})'
    # Convert column by column (C-level zip/map) and only the columns that need it.
    convert = [(i, c) for i, c in enumerate(conv) if c is not _identity]
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= 50_000:
            count += _sqlite_batch(conn, sql, batch, convert, len(columns))
            batch = []
    if batch:
        count += _sqlite_batch(conn, sql, batch, convert, len(columns))
    return count


def _pg_binary_types(table: Table, columns: Sequence[str]) -> list[str] | None:
    """PostgreSQL type names for a binary ``COPY`` of these columns, or ``None`` (then text ``COPY``): only
    integers, strings, floats, timestamps and JSON, whose Python values psycopg dumps in binary to what the text
    path stores."""
    out = []
    for name in columns:
        col_type = table.c[name].type
        if isinstance(col_type, UTCDateTime):
            out.append("timestamptz")
        elif isinstance(col_type, Integer) and not isinstance(col_type, BigInteger | SmallInteger):
            out.append("int4")
        elif isinstance(col_type, String) and not isinstance(col_type, Enum):  # Text and VARCHAR alike
            out.append("text")
        elif isinstance(col_type, Float) and (col_type.precision or 53) > 24:  # not REAL (float4)
            out.append("float8")
        elif _is_json_variant(col_type):  # JSONType: JSONB on PostgreSQL
            variant = getattr(col_type, "_variant_mapping", {}).get("postgresql")
            out.append("jsonb" if isinstance(variant, postgresql.JSONB) else "json")
        else:
            return None
    return out


PG_DEFER_MIN_ROWS = 100_000  # deferred_constraints: a load this big or bigger
PG_LOCK_ATTEMPTS = 6  # deferred_constraints: NOWAIT lock attempts, ~0.75 s in all
SQLITE_BULK_CACHE_KIB = 256 * 1024  # page cache of a big insert: pages are not spilled and re-read mid-run


def insert_columns(session: Session, table: Table, columns: Sequence[str], data: Sequence[Sequence[Any]]) -> int:
    """Insert rows given as columns (``data[i]`` holds column ``columns[i]``, all of one length); returns the
    number of rows. Columns are converted whole, which is what a million-row status history needs: SQLite gets
    its datetime text made column by column; PostgreSQL a binary ``COPY`` when the columns allow it."""
    if len(data) != len(columns):
        raise ValueError(f"{len(columns)} columns named, {len(data)} given")
    n = len(data[0]) if data else 0
    if any(len(c) != n for c in data):
        raise ValueError("every column needs one value per row")
    if n == 0:
        return 0
    conn = session.connection()
    raw = conn.connection.dbapi_connection
    assert raw is not None
    names = ", ".join(f'"{c}"' for c in columns)
    if conn.dialect.name == "postgresql":
        types = _pg_binary_types(table, columns)
        if types is None:
            return insert_rows(session, table, columns, zip(*data, strict=True))
        for values, t in zip(data, types, strict=True):
            if t == "timestamptz" and not all(map(is_not, map(_tzinfo, values), repeat(None))):
                raise ValueError("naive datetime given; okrflow stores aware UTC timestamps only")
        copy_sql = f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT BINARY)'
        with (
            _driver_errors(conn, copy_sql),
            raw.cursor() as cur,  # type: ignore[attr-defined]
            cur.copy(copy_sql) as copy,
        ):
            copy.set_types(types)
            write = copy.write_row
            for row in zip(*data, strict=True):
                write(row)
        return n
    conv = _converters(table, columns, "sqlite")
    cols: list[Sequence[Any]] = []
    for values, c in zip(data, conv, strict=True):
        if c is _sqlite_datetime:
            cols.append(_sqlite_datetimes(values))
        elif c is _identity:
            cols.append(values)
        else:
            cols.append(list(map(c, values)))
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" for _ in columns)})'
    sqlite_cur: Any = raw.cursor()
    try:
        cache = sqlite_cur.execute("PRAGMA cache_size").fetchone()[0]
        if n >= 100_000:
            sqlite_cur.execute(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")  # this connection only, restored below
        try:
            with _driver_errors(conn, sql):  # rows made as sqlite3 asks for them: no list of a million
                sqlite_cur.executemany(sql, zip(*cols, strict=True))
        finally:
            sqlite_cur.execute(f"PRAGMA cache_size = {int(cache)}")
    finally:
        sqlite_cur.close()
    return n


@contextmanager
def deferred_constraints(session: Session, table: Table, rows: int) -> Iterator[bool]:
    """PostgreSQL, a load of ``rows`` (≥ ``PG_DEFER_MIN_ROWS``) into ``table`` that about doubles it or more:
    drop the table's foreign keys, unique constraints and secondary indexes, load, and re-create them exactly
    (definitions read from the catalog) in the same transaction — one index build and one foreign-key check by
    join instead of a million index insertions and row-by-row key checks. Yields whether it did.

    All-or-nothing as before: DDL is transactional, so a failed or killed run rolls the drop back too, and a
    duplicate or a dangling key fails the re-creation and so the run. The tables are locked (ACCESS EXCLUSIVE:
    readers of ``table`` and of the tables its foreign keys reference wait) until the run commits; the locks are
    taken with NOWAIT (a few times, briefly apart), so when anyone else holds one the load goes the ordinary way
    instead — never a lock wait, never a deadlock. SQLite and smaller loads: nothing changes."""
    conn = session.connection()
    if conn.dialect.name != "postgresql" or rows < PG_DEFER_MIN_ROWS:
        yield False
        return
    name = table.name
    size = conn.execute(text("SELECT pg_relation_size(CAST(:t AS regclass))"), {"t": name}).scalar() or 0
    if size > rows * _PG_ROW_BYTES:
        yield False
        return
    constraints = list(
        conn.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid), CASE WHEN contype = 'f' THEN confrelid::regclass::text END "
                "FROM pg_constraint "
                "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('f', 'u') ORDER BY contype DESC, conname"
            ),
            {"t": name},
        )
    )
    indexes = list(
        conn.execute(
            text(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "WHERE i.indrelid = CAST(:t AS regclass) "
                "AND NOT i.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
                " ORDER BY 1"
            ),
            {"t": name},
        )
    )
    referenced = conn.execute(
        text("SELECT 1 FROM pg_constraint WHERE contype = 'f' AND confrelid = CAST(:t AS regclass) LIMIT 1"),
        {"t": name},
    ).first()
    if referenced is not None:  # another table's foreign key would need one of the indexes
        yield False
        return
    # as regclass text: quoted and schema-qualified where needed; in one order, whoever locks them
    own = conn.execute(text("SELECT CAST(:t AS regclass)::text"), {"t": name}).scalar_one()
    locked = sorted({own, *(ref for _, _, ref in constraints if ref)})
    for attempt in range(PG_LOCK_ATTEMPTS):
        conn.exec_driver_sql("SAVEPOINT okrflow_bulk_lock")
        try:
            conn.exec_driver_sql(f"LOCK TABLE {', '.join(locked)} IN ACCESS EXCLUSIVE MODE NOWAIT")
        except OperationalError:  # someone else holds one (a reader, autovacuum): again shortly, then give up
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT okrflow_bulk_lock")
            conn.exec_driver_sql("RELEASE SAVEPOINT okrflow_bulk_lock")
            if attempt + 1 == PG_LOCK_ATTEMPTS:
                yield False  # the ordinary way
                return
            time.sleep(0.05 * (attempt + 1))
        else:
            conn.exec_driver_sql("RELEASE SAVEPOINT okrflow_bulk_lock")
            break
    for conname, _, _ in constraints:
        conn.exec_driver_sql(f"ALTER TABLE {own} DROP CONSTRAINT {_quote(conname)}")
    for index, _ in indexes:
        conn.exec_driver_sql(f"DROP INDEX {index}")
    yield True
    for _, definition in indexes:
        conn.exec_driver_sql(definition)
    for conname, definition, _ in constraints:  # unique ones first, then foreign keys
        conn.exec_driver_sql(f"ALTER TABLE {own} ADD CONSTRAINT {_quote(conname)} {definition}")


_PG_ROW_BYTES = 100  # a status change row with its share of pages, roughly


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sqlite_batch(
    conn: Any, sql: str, batch: list[Sequence[Any]], convert: list[tuple[int, Callable[[Any], Any]]], width: int
) -> int:
    if any(len(row) != width for row in batch):
        raise ValueError(f"every row needs {width} values")
    if convert:
        cols: list[Any] = list(zip(*batch, strict=True))
        for i, c in convert:
            cols[i] = _sqlite_datetimes(cols[i]) if c is _sqlite_datetime else list(map(c, cols[i]))
        params: list[tuple[Any, ...]] = list(zip(*cols, strict=True))
    else:
        params = [tuple(row) for row in batch]
    conn.exec_driver_sql(sql, params)
    return len(params)
