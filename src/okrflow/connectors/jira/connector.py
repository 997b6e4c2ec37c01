"""Reading a Jira source: the search JQL for an (incremental) run, then every issue → a record."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from okrflow.connectors.jira.client import API_VERSIONS, JiraClient
from okrflow.connectors.jira.parser import FieldConfig, JiraParseError, epic_key, parse_issue
from okrflow.domain.errors import ConfigurationError
from okrflow.domain.work import WorkRecord

DEFAULT_OVERLAP_MINUTES = 10
_ORDER_BY = re.compile(r"\s+ORDER\s+BY\s+.*$", re.IGNORECASE | re.DOTALL)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class JiraSettings:
    """A Jira source's ``settings``: see docs/connectors/jira.md."""

    jql: str = ""
    api: str = "cloud"
    page_size: int = 100
    overlap_minutes: int = DEFAULT_OVERLAP_MINUTES
    timezone: str | None = None  # the zone Jira reads JQL dates in (the API user's); None: ask /myself
    history_status_names: str = "current"  # "current": by status id via /status; "logged": as the changelog has it
    fields: FieldConfig = field(default_factory=FieldConfig)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> JiraSettings:
        s = dict(settings or {})
        api = str(s.get("api", "cloud"))
        if api not in API_VERSIONS:
            raise ConfigurationError(f"settings.api of a Jira source is one of {', '.join(API_VERSIONS)}, not {api!r}")
        try:
            page_size = int(s.get("page_size", 100))
            overlap = int(s.get("overlap_minutes", DEFAULT_OVERLAP_MINUTES))
        except (TypeError, ValueError):
            raise ConfigurationError("settings.page_size and settings.overlap_minutes are whole numbers") from None
        if not 1 <= page_size <= 1000 or overlap < 0:
            raise ConfigurationError("settings.page_size is 1…1000 and settings.overlap_minutes ≥ 0")
        names = str(s.get("history_status_names", "current"))
        if names not in ("current", "logged"):
            raise ConfigurationError("settings.history_status_names is 'current' or 'logged'")
        try:
            fields = FieldConfig.from_settings(s)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        return cls(
            jql=str(s.get("jql") or "").strip(),
            api=api,
            page_size=page_size,
            overlap_minutes=overlap,
            timezone=s.get("timezone") or None,
            history_status_names=names,
            fields=fields,
        )


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown time zone {name!r}") from None


def build_jql(base: str, cursor: datetime | None, *, overlap_minutes: int, tz: ZoneInfo) -> str:
    """``(<base>) AND updated >= "<cursor − overlap, in the JQL zone, minute precision>" ORDER BY updated ASC``.

    JQL dates have minute precision and are read in the API user's time zone: the cursor is converted into that
    zone and floored to the minute, which only widens the window (re-read items are unchanged, so harmless)."""
    base = _ORDER_BY.sub("", base).strip()
    clauses = [f"({base})"] if base else []
    if cursor is not None:
        since = (cursor - timedelta(minutes=overlap_minutes)).astimezone(tz)
        clauses.append(f'updated >= "{since:%Y-%m-%d %H:%M}"')
    return " AND ".join(clauses) + (" " if clauses else "") + "ORDER BY updated ASC"


def parse_cursor(cursor: str | None) -> datetime | None:
    if not cursor:
        return None
    try:
        value = datetime.fromisoformat(cursor)
    except ValueError:
        return None  # an unreadable cursor means a full run, never a crash
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_cursor(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass
class FetchResult:
    records: list[WorkRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    max_updated: datetime | None = None
    status_categories: dict[str, str] = field(default_factory=dict)
    status_names: dict[str, str] = field(default_factory=dict)
    jql: str = ""
    requests: int = 0


def fetch(
    client: JiraClient,
    jql: str,
    *,
    config: FieldConfig | None = None,
    known_ids: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    use_status_ids: bool = True,
) -> FetchResult:
    """Run ``jql`` and turn every issue into a record. An issue that cannot be read is reported in
    ``errors`` (by key) and skipped; the caller decides (the sync writes nothing when there are errors).

    ``known_ids`` (issue key → id, e.g. the items stored already) resolves epic links without a request; an
    epic not found there nor in this run is looked up with ``GET /issue/{key}``."""
    config = config or FieldConfig()
    out = FetchResult(jql=jql)
    for status in client.statuses():
        name, sid = status.get("name"), status.get("id")
        category = (status.get("statusCategory") or {}).get("key")
        if sid is not None and name:
            out.status_names[str(sid)] = str(name)
        # Names are not unique in Jira (several workflows have a "Done"): the first category seen wins.
        if name and category and name not in out.status_categories:
            out.status_categories[str(name)] = str(category)
    ids: dict[str, str] = dict(known_ids or {})
    pending: list[tuple[int, str]] = []
    for n, issue in enumerate(client.search(jql), start=1):
        try:
            rec = parse_issue(
                issue,
                base_url=client.base_url,
                config=config,
                status_categories=out.status_categories,
                status_names=out.status_names if use_status_ids else None,
                warnings=out.warnings,
            )
        except JiraParseError as exc:
            out.errors.append(str(exc))
            continue
        if rec.key:
            ids[rec.key] = rec.external_id
        if rec.parent_external_id is None:
            ek = epic_key(issue.get("fields") or {}, config)
            if ek:
                pending.append((len(out.records), ek))
        if rec.updated and (out.max_updated is None or rec.updated > out.max_updated):
            out.max_updated = rec.updated
        out.records.append(rec)
        if progress:
            progress("fetched", n, 0)
    for index, ek in pending:
        if ek not in ids:
            found = client.issue_id(ek)
            if found is None:
                out.warnings.append(
                    f"issue {out.records[index].key}: epic {ek} is missing or not visible; imported without parent"
                )
                continue
            ids[ek] = found
        out.records[index] = replace(out.records[index], parent_external_id=ids[ek])
    out.requests = client.requests
    return out
