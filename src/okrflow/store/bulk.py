"""Fast multi-row inserts for imports: the driver's own bulk path, inside the caller's transaction.

SQLAlchemy's generic executemany spends most of its time building parameters row by row. For the million-row
status histories of an import we go one level down: SQLite gets one prepared ``INSERT`` with ``executemany``
and values already in SQLAlchemy's storage format; PostgreSQL gets ``COPY ... FROM STDIN`` (psycopg 3).
Values must round-trip exactly as the ORM would have written them, which the tests check on both engines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Table
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


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False) builds one per call


def _json(value: Any) -> str | None:
    return None if value is None else _JSON.encode(value)


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
        # psycopg adapts datetimes and numbers itself; only JSON columns need converting, so rows without
        # one go to COPY untouched (the per-value Python work is what dominates at a million rows).
        json_cols = [i for i, c in enumerate(conv) if c is _json]
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:  # type: ignore[attr-defined]
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


def _sqlite_batch(
    conn: Any, sql: str, batch: list[Sequence[Any]], convert: list[tuple[int, Callable[[Any], Any]]], width: int
) -> int:
    if any(len(row) != width for row in batch):
        raise ValueError(f"every row needs {width} values")
    if convert:
        cols: list[Any] = list(zip(*batch, strict=True))
        for i, c in convert:
            cols[i] = list(map(c, cols[i]))
        params: list[tuple[Any, ...]] = list(zip(*cols, strict=True))
    else:
        params = [tuple(row) for row in batch]
    conn.exec_driver_sql(sql, params)
    return len(params)
