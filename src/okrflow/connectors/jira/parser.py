"""Jira issue JSON → :class:`WorkRecord` (pure: no HTTP, no database).

Works on the issue shape of Cloud REST v3, Server/Data Center REST v2 and the Agile API alike: everything is
read from ``fields`` and the ``changelog.histories`` (each with ``author``, ``created`` and ``items``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from okrflow.domain.work import FieldChangeRecord, StatusHistory, WorkRecord

DEFAULT_EPIC_LINK_FIELDS = ("customfield_10014",)
DEFAULT_STORY_POINT_FIELDS = ("customfield_10016", "customfield_10026")
DEFAULT_KR_PATTERN = r"okr:(\S+)"

# Changelog fields kept as field changes (matched case-insensitively on the item's ``field`` or ``fieldId``).
DEFAULT_TRACKED_FIELDS = ("issuetype", "parent", "epic link", "sprint", "team")

_fromisoformat = datetime.fromisoformat
_jira_fixed = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", re.ASCII).fullmatch
_JIRA_TS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?$")


class JiraParseError(ValueError):
    """An issue that cannot be read (names the issue and the field)."""


def _fast_jira_datetime(value: str) -> datetime | None:
    """Jira's own fixed format ``2024-01-05T10:15:30.000+0000`` → aware UTC, else ``None`` (use the slow path).

    Every character is checked here (ASCII digits and separators) and ``fromisoformat`` checks the ranges, so a
    string taken here is one the regular expression of :func:`parse_jira_datetime` accepts too, with the same
    result (property-tested)."""
    if _jira_fixed(value) is not None:
        try:
            return _fromisoformat(value).astimezone(UTC)
        except ValueError:
            return None
    return None


def parse_jira_datetime(value: str | None) -> datetime | None:
    """``2020-06-12T08:17:32.778+0800`` (Jira's offset has no colon), ``…+08:00``, ``…Z`` → aware UTC.

    A timestamp without an offset is rejected: Jira always sends one, and guessing a zone corrupts flow times.
    """
    if value is None or value == "":
        return None
    if type(value) is str:
        fast = _fast_jira_datetime(value)
        if fast is not None:
            return fast
    return _slow_jira_datetime(value)


def _slow_jira_datetime(value: str) -> datetime:
    m = _JIRA_TS.match(value.strip())
    if not m:
        raise ValueError(f"not a Jira timestamp: {value!r}")
    stamp, zone = m.groups()
    if zone is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    if zone == "Z":
        zone = "+00:00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    return datetime.fromisoformat(stamp + zone).astimezone(UTC)


@dataclass(frozen=True)
class FieldConfig:
    """Which Jira fields carry what (custom field ids differ per site). Built from ``source.settings``."""

    epic_link_fields: tuple[str, ...] = DEFAULT_EPIC_LINK_FIELDS
    story_point_fields: tuple[str, ...] = DEFAULT_STORY_POINT_FIELDS
    kr_pattern: str = DEFAULT_KR_PATTERN
    tracked_fields: tuple[str, ...] = DEFAULT_TRACKED_FIELDS
    _kr_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _kr_seen: dict[str, tuple[Any, ...]] = field(init=False, repr=False, compare=False)  # label → refs (memo)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_kr_seen", {})
        try:
            object.__setattr__(self, "_kr_re", re.compile(self.kr_pattern))
        except re.error as exc:
            raise ValueError(f"kr_label_pattern is not a valid regular expression: {exc}") from None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> FieldConfig:
        s = settings or {}

        def ids(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            value = s.get(key)
            if value is None or value == "":
                return default
            return (value,) if isinstance(value, str) else tuple(value)

        return cls(
            epic_link_fields=ids("epic_link_field", DEFAULT_EPIC_LINK_FIELDS),
            story_point_fields=ids("story_points_field", DEFAULT_STORY_POINT_FIELDS),
            kr_pattern=s.get("kr_label_pattern") or DEFAULT_KR_PATTERN,
            tracked_fields=tuple(t.casefold() for t in ids("tracked_fields", DEFAULT_TRACKED_FIELDS)),
        )

    def kr_refs(self, labels: Iterable[str]) -> tuple[str, ...]:
        out: list[str] = []
        seen = self._kr_seen
        for label in labels:
            refs = seen.get(label)
            if refs is None:
                refs = self._kr_ref(label)
                if len(seen) < 10_000:  # labels repeat across issues; the memo stays small either way
                    seen[label] = refs
            for ref in refs:
                if ref not in out:
                    out.append(ref)
        return tuple(out)

    def _kr_ref(self, label: str) -> tuple[Any, ...]:
        """``()`` when the label names no key result, else ``(ref,)``."""
        m = self._kr_re.fullmatch(label) or self._kr_re.search(label)
        if not m:
            return ()
        return (m.group(1) if m.groups() else m.group(0),)


def _text(value: Any) -> str:
    """A string as stored: without NUL characters (PostgreSQL text cannot hold them; Jira titles can)."""
    if type(value) is str:
        return value.replace("\x00", "") if "\x00" in value else value
    return "" if value is None else str(value).replace("\x00", "")


def _name(value: Any, key: str = "name") -> str | None:
    if type(value) is dict or isinstance(value, Mapping):
        got = value.get(key)
        return None if got is None else _text(got)
    return None


def _number(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def epic_key(fields: Mapping[str, Any], config: FieldConfig) -> str | None:
    """The epic key named by an epic-link custom field (Jira sends the key, e.g. ``"K5-4"``)."""
    for fid in config.epic_link_fields:
        value = fields.get(fid)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, Mapping) and value.get("key"):
            return str(value["key"])
    return None


def _status_name(item: Mapping[str, Any], end: str, names: Mapping[str, str]) -> str:
    """A changelog status by its id's current name (renamed statuses stay one status), else as logged."""
    sid = item.get(end)
    if sid is not None and str(sid) in names:
        return names[str(sid)]
    return _text(item.get(f"{end}String"))


def _history(
    histories: Iterable[Mapping[str, Any]], config: FieldConfig, where: str, names: Mapping[str, str]
) -> tuple[StatusHistory, tuple[FieldChangeRecord, ...]]:
    # The hot loop of an import (a million changes): plain dicts, Jira's timestamp format and the common
    # item shapes take fast paths; everything else goes the general way with the same result. The status
    # changes come out as columns (StatusHistory), not as an object per change.
    status: list[tuple[datetime, str, str, str]] = []  # (at, to, from, author), in changelog order
    changes: list[FieldChangeRecord] = []
    tracked = config.tracked_fields
    in_order = True
    last: datetime | None = None
    fixed, fromiso, utc = _jira_fixed, _fromisoformat, UTC
    for h in histories:
        created = h.get("created")
        at = None
        if type(created) is str and fixed(created) is not None:
            try:
                at = fromiso(created).astimezone(utc)
            except ValueError:
                at = None
        if at is None:
            try:
                at = parse_jira_datetime(created)
            except ValueError as exc:
                raise JiraParseError(f"{where}: changelog {h.get('id', '?')}: {exc}") from None
            if at is None:
                raise JiraParseError(f"{where}: changelog {h.get('id', '?')} has no created time")
        person = h.get("author")
        if type(person) is dict:
            author = person.get("displayName")
            if type(author) is not str or "\x00" in author:
                author = "" if author is None else _text(author)
        else:
            author = _name(person, "displayName") or ""
        for item in h.get("items") or ():
            fname = item.get("field")
            fname = fname if type(fname) is str else str(fname or "")
            fid = item.get("fieldId")
            fid = fid if type(fid) is str else str(fid or "")
            if fname == "status" or fid == "status":
                if names:
                    sid = item.get("to")
                    to = names.get(sid) if type(sid) is str else None
                    if to is None:
                        to = _status_name(item, "to", names)
                    sid = item.get("from")
                    frm = names.get(sid) if type(sid) is str else None
                    if frm is None:
                        frm = _status_name(item, "from", names)
                else:
                    to, frm = item.get("toString"), item.get("fromString")
                    if type(to) is not str or "\x00" in to:
                        to = _text(to)
                    if type(frm) is not str or "\x00" in frm:
                        frm = _text(frm)
                if last is not None and at < last:
                    in_order = False
                last = at
                status.append((at, to, frm, author))
            elif fname.casefold() in tracked or fid.casefold() in tracked:
                changes.append(
                    FieldChangeRecord(at, fname, _text(item.get("fromString")), _text(item.get("toString")), author)
                )
    if not in_order:
        status.sort(key=_first)  # stable: same-instant changes keep their order
    return StatusHistory.from_rows(status), tuple(sorted(changes, key=_at) if len(changes) > 1 else changes)


def _first(row: tuple[datetime, str, str, str]) -> datetime:
    return row[0]


def _at(change: FieldChangeRecord) -> datetime:
    return change.at


def parse_issue(
    issue: Mapping[str, Any],
    *,
    base_url: str,
    config: FieldConfig | None = None,
    status_categories: Mapping[str, str] | None = None,
    epic_ids: Mapping[str, str] | None = None,
    status_names: Mapping[str, str] | None = None,
    warnings: list[str] | None = None,
) -> WorkRecord:
    """One issue → a record. ``status_categories`` (status name → category key, from ``/status``) fills the
    category when the issue does not carry one; ``epic_ids`` (key → id) resolves an epic link to the parent id;
    ``status_names`` (status id → current name, from ``/status``) names the statuses of the changelog by id, so
    that a renamed status is one status — an id not listed keeps the name the changelog logged
    (``fromString`` / ``toString``). Values that are kept out (a negative estimate) are told in ``warnings``."""
    config = config or FieldConfig()
    ext_id = str(issue.get("id") or "")
    key = str(issue.get("key") or "")
    where = f"issue {key or ext_id or '?'}"
    fields = issue.get("fields")
    if not isinstance(fields, Mapping):
        raise JiraParseError(f"{where}: no fields (was the search made with fields=*all?)")
    status_obj = fields.get("status")
    status = _name(status_obj) or ""
    category = _name(status_obj.get("statusCategory") if isinstance(status_obj, Mapping) else None, "key")
    if category is None and status_categories:
        category = status_categories.get(status) or status_categories.get(status.casefold())
    try:
        created = parse_jira_datetime(fields.get("created"))
        resolved = parse_jira_datetime(fields.get("resolutiondate"))
        updated = parse_jira_datetime(fields.get("updated"))
    except ValueError as exc:
        raise JiraParseError(f"{where}: {exc}") from None
    if created is None:
        raise JiraParseError(f"{where}: no created time")
    parent = fields.get("parent")
    parent_id = str(parent["id"]) if isinstance(parent, Mapping) and parent.get("id") else None
    if parent_id is None:
        ek = epic_key(fields, config)
        if ek and epic_ids:
            parent_id = epic_ids.get(ek)
    points = None
    for fid in config.story_point_fields:
        points = _number(fields.get(fid))
        if points is not None:
            if not points >= 0:  # negative or NaN: Jira allows it, an estimate it is not
                if warnings is not None:
                    warnings.append(f"{where}: story points {fields.get(fid)!r} ignored (not a number ≥ 0)")
                points = None
            break
    labels = tuple([_text(x) for x in fields.get("labels") or ()])
    changelog = issue.get("changelog") or {}
    history, field_changes = _history(changelog.get("histories") or (), config, where, status_names or {})
    base = base_url.rstrip("/")
    return WorkRecord(
        external_id=ext_id,
        key=key,
        url=f"{base}/browse/{key}" if key else "",
        title=_text(fields.get("summary")),
        issue_type=_name(fields.get("issuetype")) or "",
        status=status,
        status_category=category,
        created=created,
        resolved=resolved,
        updated=updated,
        parent_external_id=parent_id,
        labels=labels,
        story_points=points,
        assignee=_name(fields.get("assignee"), "displayName"),
        history=history,
        field_changes=field_changes,
        kr_refs=config.kr_refs(labels),
    )
