"""Jira's "Export Excel CSV (all fields)" file → records.

What an export holds and what it does not:

- one row per issue with its **current** state: key, id, type, status, created / updated / resolved, summary,
  labels (one ``Labels`` column per label: the header repeats), parent id, epic link, story points, assignee;
- **no changelog**: an item read from an export has no status history (only its created / resolved times and
  current status) — flow times need the REST connector (documented in docs/connectors/jira.md).

Dates are written in the exporting user's format and time zone (default ``12/Jun/20 8:17 AM``); both are
settings (``csv_date_format``, a ``strptime`` format, and ``csv_timezone``). Every problem names its line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from okrflow.connectors.jira.parser import FieldConfig
from okrflow.domain.errors import ConfigurationError
from okrflow.domain.work import WorkRecord

DEFAULT_DATE_FORMAT = "%d/%b/%y %I:%M %p"
DEFAULT_STORY_POINT_COLUMNS = ("Custom field (Story Points)", "Custom field (Story point estimate)")
EPIC_LINK_COLUMNS = ("Custom field (Epic Link)", "Epic Link")
PARENT_COLUMNS = ("Parent id", "Parent")
REQUIRED = ("Issue key", "Issue id", "Issue Type", "Status", "Created")


@dataclass(frozen=True)
class CsvOptions:
    base_url: str = ""
    date_format: str = DEFAULT_DATE_FORMAT
    timezone: str = "UTC"
    story_point_columns: tuple[str, ...] = DEFAULT_STORY_POINT_COLUMNS
    fields: FieldConfig = field(default_factory=FieldConfig)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None, base_url: str = "") -> CsvOptions:
        s = settings or {}
        col = s.get("csv_story_points_column")
        try:
            fields = FieldConfig.from_settings(s)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        return cls(
            base_url=base_url,
            date_format=s.get("csv_date_format") or DEFAULT_DATE_FORMAT,
            timezone=s.get("csv_timezone") or s.get("timezone") or "UTC",
            story_point_columns=(col,) if isinstance(col, str) and col else DEFAULT_STORY_POINT_COLUMNS,
            fields=fields,
        )


@dataclass
class CsvResult:
    records: list[WorkRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _date(raw: str, fmt: str, tz: ZoneInfo) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    return datetime.strptime(raw, fmt).replace(tzinfo=tz).astimezone(UTC)


def parse_csv(text: str | Iterable[str], options: CsvOptions | None = None) -> CsvResult:
    """Read an export. Rows with problems are listed in ``errors`` as ``line N (KEY): …``; the caller imports
    nothing when there are any."""
    options = options or CsvOptions()
    try:
        tz = ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown csv_timezone {options.timezone!r}") from None
    stream = io.StringIO(text.lstrip("\ufeff")) if isinstance(text, str) else text
    reader = csv.reader(stream)
    out = CsvResult()
    try:
        header = next(reader)
    except StopIteration:
        out.errors.append("line 1: the file is empty (expected Jira's CSV header)")
        return out
    header = [h.strip().lstrip("\ufeff") for h in header]
    columns: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        columns.setdefault(name, []).append(i)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        out.errors.append(f"line 1: missing column(s) {', '.join(missing)} — is this Jira's 'all fields' CSV export?")
        return out

    def first(row: list[str], names: Iterable[str]) -> str:
        for name in names:
            for i in columns.get(name, ()):
                if i < len(row) and row[i].strip():
                    return row[i].strip()
        return ""

    base = options.base_url.rstrip("/")
    epic_links: list[tuple[int, str, int]] = []
    ids: dict[str, str] = {}
    line = 2
    for row in reader:
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        key = first(row, ["Issue key"])
        where = f"line {start} ({key or '?'})"
        problems: list[str] = []
        dates: dict[str, datetime | None] = {}
        for col in ("Created", "Updated", "Resolved"):
            raw = first(row, [col])
            try:
                dates[col] = _date(raw, options.date_format, tz)
            except ValueError:
                problems.append(f"{col} {raw!r} does not match the date format {options.date_format!r}")
        points_raw = first(row, options.story_point_columns)
        points = None
        if points_raw:
            try:
                points = float(points_raw)
            except ValueError:
                problems.append(f"story points {points_raw!r} is not a number")
        if problems:
            out.errors.extend(f"{where}: {p}" for p in problems)
            continue
        created = dates["Created"]
        if created is None:
            out.errors.append(f"{where}: Created is empty")
            continue
        labels = tuple(row[i].strip() for i in columns.get("Labels", ()) if i < len(row) and row[i].strip())
        status = first(row, ["Status"])
        rec = WorkRecord(
            external_id=first(row, ["Issue id"]),
            key=key,
            url=f"{base}/browse/{key}" if base and key else "",
            title=first(row, ["Summary"]),
            issue_type=first(row, ["Issue Type"]),
            status=status,
            status_category=_category(first(row, ["Status Category"])),
            created=created,
            resolved=dates["Resolved"],
            updated=dates["Updated"],
            parent_external_id=first(row, PARENT_COLUMNS) or None,
            labels=labels,
            story_points=points,
            assignee=first(row, ["Assignee"]) or None,
            # No changelog in an export: no status history at all (inventing "in this status since created"
            # would make every item look done on its first day).
            kr_refs=options.fields.kr_refs(labels),
        )
        for problem in rec.problems():
            out.errors.append(f"{where}: {problem}")
        if rec.key:
            ids[rec.key] = rec.external_id
        epic = first(row, EPIC_LINK_COLUMNS)
        if epic and rec.parent_external_id is None:
            epic_links.append((len(out.records), epic, start))
        out.records.append(rec)
    for index, epic, at_line in epic_links:
        if epic in ids:
            out.records[index] = replace(out.records[index], parent_external_id=ids[epic])
        else:
            out.warnings.append(f"line {at_line}: epic {epic} is not in the file; imported without parent")
    return out


_CATEGORIES = {"to do": "new", "in progress": "indeterminate", "done": "done"}


def _category(name: str) -> str | None:
    """The export writes the category's name ("To Do"); the REST API its key ("new")."""
    if not name:
        return None
    return _CATEGORIES.get(name.casefold(), name)
