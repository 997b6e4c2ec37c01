"""Tabular answers: JSON rows from Polars frames (NaN/inf → null, dates ISO) and CSV for ``?format=csv`` or
``Accept: text/csv``."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import Query, Request, Response

from okrflow.domain.errors import InvalidInputError

Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="`csv` for a CSV file (or send `Accept: text/csv`); JSON by default."),
]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def cell(value: Any) -> Any:
    """A JSON-safe value: NaN/inf → None, durations → seconds."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def rows(frame: pl.DataFrame, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The frame's rows as dicts (only ``columns`` when given), JSON-safe."""
    if columns is not None:
        frame = frame.select([c for c in columns if c in frame.columns])
    return [{k: cell(v) for k, v in r.items()} for r in frame.iter_rows(named=True)]


def _text(value: Any) -> str:
    value = cell(value)
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return ";".join(_text(v) for v in value)
    return str(value)


def csv_response(columns: Sequence[str], records: Iterable[Sequence[Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_text(v) for v in record])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def frame_csv(frame: pl.DataFrame, filename: str, columns: Sequence[str] | None = None) -> Response:
    cols = [c for c in (columns or frame.columns) if c in frame.columns]
    return csv_response(cols, frame.select(cols).iter_rows(), filename)


def dict_csv(records: Sequence[dict[str, Any]], filename: str, columns: Sequence[str]) -> Response:
    return csv_response(columns, ([r.get(c) for c in columns] for r in records), filename)


# ------------------------------------------------------------------ CSV uploads

MAX_CSV_BYTES = 20 * 1024 * 1024


async def csv_body(request: Request) -> str:
    """The CSV file: a ``text/csv`` body, or the ``file`` field of a ``multipart/form-data`` upload."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=10)
        except Exception:  # a malformed multipart body is the client's error
            raise InvalidInputError("the multipart body cannot be read", field="file") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInputError("send the CSV as the form field 'file'", field="file")
        raw = await upload.read(MAX_CSV_BYTES + 1)
    elif ctype in ("text/csv", "text/plain", "application/csv"):
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_CSV_BYTES:
                break
    else:
        raise InvalidInputError(
            "send the CSV with Content-Type: text/csv, or as the 'file' field of multipart/form-data",
            field="Content-Type",
        )
    if len(raw) > MAX_CSV_BYTES:
        raise InvalidInputError(f"the file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB", field="file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"the file is not UTF-8 text (byte {exc.start})", field="file") from None
    if "\x00" in text:
        raise InvalidInputError("the file contains NUL characters", field="file")
    return text


def line_error(message: str) -> dict[str, Any]:
    """``"line 3: value 'x' is not a number"`` → ``{"line": 3, "field": "line 3", "message": ..., "type": ...}``."""
    head, sep, rest = message.partition(":")
    number = head.removeprefix("line ").strip()
    line = int(number) if sep and head.startswith("line ") and number.isdigit() else None
    return {
        "line": line,
        "field": head if line is not None else "file",
        "message": rest.strip() if line is not None else message,
        "type": "invalid_line",
    }
