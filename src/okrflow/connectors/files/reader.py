"""Reading work items, status changes, deployments, changes and incidents from CSV or JSON.

CSV files are recognised by their header (the required columns of one kind); JSON files hold an object with
any of the keys ``work_items`` (each may carry ``history``: a list of status changes), ``status_changes``,
``deployments``, ``changes`` and ``incidents``. Timestamps are ISO 8601; a timestamp without an offset is
read in the ``timezone`` given (UTC by default). Every problem names its file and line (CSV) or entry (JSON).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from okrflow.domain.delivery import ChangeRecord, DeploymentRecord, IncidentRecord
from okrflow.domain.work import StatusChangeRecord, WorkRecord

REQUIRED: dict[str, tuple[str, ...]] = {
    "work_items": ("external_id", "type", "status", "created"),
    "status_changes": ("external_id", "at", "to_status"),
    "deployments": ("external_id", "service", "environment", "status", "finished_at"),
    "changes": ("external_id", "kind", "service", "created_at"),
    "incidents": ("external_id", "service", "started_at"),
}
OPTIONAL: dict[str, tuple[str, ...]] = {
    "work_items": (
        "key",
        "title",
        "url",
        "status_category",
        "resolved",
        "updated",
        "parent",
        "labels",
        "story_points",
        "assignee",
        "history",
    ),
    "status_changes": ("from_status", "author"),
    "deployments": ("started_at", "commit_sha", "commit_shas", "ref", "url"),
    "changes": ("title", "author", "first_commit_at", "merged_at", "merge_commit_sha", "commit_shas", "url"),
    "incidents": ("title", "resolved_at", "severity", "url"),
}
# Order matters: the first kind whose required columns are all present wins.
DETECT_ORDER = ("status_changes", "work_items", "deployments", "changes", "incidents")


class FileFormatError(Exception):
    """A file cannot be read at all (unknown kind, bad JSON); per-row problems go to ``FileBatch.errors``."""


@dataclass
class FileBatch:
    work_items: list[WorkRecord] = field(default_factory=list)
    deployments: list[DeploymentRecord] = field(default_factory=list)
    changes: list[ChangeRecord] = field(default_factory=list)
    incidents: list[IncidentRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.work_items or self.deployments or self.changes or self.incidents)


def detect_kind(columns: Iterable[str]) -> str | None:
    cols = {c.strip() for c in columns}
    for kind in DETECT_ORDER:
        if set(REQUIRED[kind]) <= cols:
            return kind
    return None


class _Row:
    """Typed access to one row with errors that name the column."""

    def __init__(self, data: Mapping[str, Any], tz: tzinfo) -> None:
        self.data = data
        self.tz = tz

    def text(self, name: str, required: bool = False) -> str:
        value = self.data.get(name)
        text = "" if value is None else str(value).strip()
        if required and not text:
            raise ValueError(f"{name} is empty")
        return text

    def opt_text(self, name: str) -> str | None:
        return self.text(name) or None

    def time(self, name: str, required: bool = False) -> datetime | None:
        raw = self.text(name, required)
        if not raw:
            return None
        try:
            if "T" in raw or " " in raw or ":" in raw:
                value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            else:
                d = date.fromisoformat(raw)
                value = datetime(d.year, d.month, d.day)
        except ValueError:
            raise ValueError(f"{name} {raw!r} is not an ISO 8601 date or timestamp") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.tz)
        return value.astimezone(UTC)

    def number(self, name: str) -> float | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{name} {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{name} is not a finite number")
        return value

    def items(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name)
        if isinstance(value, list):
            return tuple(str(v).strip() for v in value if str(v).strip())
        return tuple(p.strip() for p in self.text(name).split(";") if p.strip())


def _work_item(r: _Row, history: tuple[StatusChangeRecord, ...] = ()) -> WorkRecord:
    created = r.time("created", True)
    assert created is not None
    return WorkRecord(
        external_id=r.text("external_id", True),
        issue_type=r.text("type", True),
        status=r.text("status", True),
        created=created,
        key=r.text("key"),
        title=r.text("title"),
        url=r.text("url"),
        status_category=r.opt_text("status_category"),
        resolved=r.time("resolved"),
        updated=r.time("updated"),
        parent_external_id=r.opt_text("parent"),
        labels=r.items("labels"),
        story_points=r.number("story_points"),
        assignee=r.opt_text("assignee"),
        history=history,
    )


def _status_change(r: _Row) -> StatusChangeRecord:
    at = r.time("at", True)
    assert at is not None
    return StatusChangeRecord(at, r.text("to_status", True), r.text("from_status"), r.text("author"))


def _deployment(r: _Row) -> DeploymentRecord:
    return DeploymentRecord(
        r.text("external_id", True),
        r.text("service", True),
        r.text("environment", True),
        r.text("status", True),
        r.time("finished_at"),
        r.time("started_at"),
        r.opt_text("commit_sha"),
        r.items("commit_shas"),
        r.text("ref"),
        r.text("url"),
    )


def _change(r: _Row) -> ChangeRecord:
    created = r.time("created_at", True)
    assert created is not None
    return ChangeRecord(
        r.text("external_id", True),
        r.text("kind", True),
        r.text("service", True),
        created,
        r.text("title"),
        r.text("author"),
        r.time("first_commit_at"),
        r.time("merged_at"),
        r.opt_text("merge_commit_sha"),
        r.items("commit_shas"),
        r.text("url"),
    )


def _incident(r: _Row) -> IncidentRecord:
    started = r.time("started_at", True)
    assert started is not None
    return IncidentRecord(
        r.text("external_id", True),
        r.text("service", True),
        started,
        r.text("title"),
        r.time("resolved_at"),
        r.text("severity"),
        r.text("url"),
    )


BUILDERS: dict[str, Callable[[_Row], Any]] = {
    "work_items": _work_item,
    "status_changes": _status_change,
    "deployments": _deployment,
    "changes": _change,
    "incidents": _incident,
}


def _rows_from_csv(name: str, text: str) -> tuple[str, list[tuple[str, Mapping[str, Any]]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    kind = detect_kind(header)
    if kind is None:
        wanted = "; ".join(f"{k}: {', '.join(v)}" for k, v in REQUIRED.items())
        raise FileFormatError(f"{name}: line 1: cannot tell what the file holds from its columns; required — {wanted}")
    known = set(REQUIRED[kind]) | set(OPTIONAL[kind])
    unknown = [h for h in header if h not in known]
    if unknown:
        raise FileFormatError(f"{name}: line 1: unknown column {unknown[0]!r} for {kind.replace('_', ' ')}")
    rows = [(f"{name}: line {n}", {(k or "").strip(): v for k, v in row.items()}) for n, row in enumerate(reader, 2)]
    return kind, rows


def read_files(files: Mapping[str, str], timezone: str = "UTC") -> FileBatch:
    """Parse files (name → text). Status-change files add history to the work items of the other files."""
    try:
        tz: tzinfo = ZoneInfo(timezone)
    except Exception:
        raise FileFormatError(f"unknown time zone {timezone!r}") from None
    batch = FileBatch()
    item_rows: list[tuple[str, Mapping[str, Any]]] = []
    history: dict[str, list[StatusChangeRecord]] = {}
    other: dict[str, list[tuple[str, Mapping[str, Any]]]] = {"deployments": [], "changes": [], "incidents": []}
    for name, text in files.items():
        if name.lower().endswith(".json"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise FileFormatError(f"{name}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
            if not isinstance(data, dict) or not set(data) & set(REQUIRED):
                raise FileFormatError(f"{name}: expected an object with any of {', '.join(REQUIRED)}")
            unknown = set(data) - set(REQUIRED)
            if unknown:
                raise FileFormatError(f"{name}: unknown key {sorted(unknown)[0]!r}")
            for kind, entries in data.items():
                if not isinstance(entries, list):
                    raise FileFormatError(f"{name}: {kind} must be a list")
                rows = [(f"{name}: {kind}[{i}]", e if isinstance(e, dict) else {}) for i, e in enumerate(entries)]
                _collect(kind, rows, item_rows, history, other, batch, tz)
        else:
            kind, rows = _rows_from_csv(name, text)
            _collect(kind, rows, item_rows, history, other, batch, tz)
    for where, data in item_rows:
        try:
            row = _Row(data, tz)
            ext = row.text("external_id", True)
            own = (
                tuple(_status_change(_Row(h, tz)) for h in data.get("history") or [])
                if isinstance(data.get("history"), list)
                else ()
            )
            batch.work_items.append(_work_item(row, own + tuple(history.pop(ext, []))))
        except ValueError as exc:
            batch.errors.append(f"{where}: {exc}")
    for ext in history:
        batch.errors.append(f"status changes for {ext!r}: no work item with that external id in these files")
    for kind, rows in other.items():
        for where, data in rows:
            try:
                getattr(batch, kind).append(BUILDERS[kind](_Row(data, tz)))
            except ValueError as exc:
                batch.errors.append(f"{where}: {exc}")
    return batch


def _collect(
    kind: str,
    rows: list[tuple[str, Mapping[str, Any]]],
    item_rows: list[tuple[str, Mapping[str, Any]]],
    history: dict[str, list[StatusChangeRecord]],
    other: dict[str, list[tuple[str, Mapping[str, Any]]]],
    batch: FileBatch,
    tz: tzinfo,
) -> None:
    if kind == "work_items":
        item_rows.extend(rows)
    elif kind == "status_changes":
        for where, data in rows:
            try:
                r = _Row(data, tz)
                history.setdefault(r.text("external_id", True), []).append(_status_change(r))
            except ValueError as exc:
                batch.errors.append(f"{where}: {exc}")
    else:
        other[kind].extend(rows)


def read_paths(paths: Iterable[Path], timezone: str = "UTC") -> FileBatch:
    files = {}
    for p in paths:
        try:
            files[p.name] = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FileFormatError(f"{p}: cannot read it ({exc})") from None
    return read_files(files, timezone)
