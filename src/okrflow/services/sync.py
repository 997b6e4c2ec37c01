"""Sync runs of connector sources: read the source with its connector, then import as one run.

``sync_source`` is what ``okrflow sync SOURCE``, the API and the web "run" button call. A Jira run:

1. reads the source's settings (JQL, ``api`` cloud|server, field ids), decrypts its credentials;
2. searches ``(<jql>) AND updated >= "<cursor − overlap>" ORDER BY updated ASC`` (no cursor, or ``full=True``:
   everything the JQL matches);
3. imports the records with :func:`okrflow.services.imports.import_records` (one transaction, idempotent),
   moving the cursor to the largest ``updated`` seen.

Failures before the import (auth, network, an unreadable issue) leave a failed run with the error and write
nothing else; the cursor does not move, so the next run reads the same window again.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import select

from okrflow.connectors.jira import connector as jira
from okrflow.connectors.jira import csv_export
from okrflow.connectors.jira.client import JiraClient
from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import ConfigurationError, InvalidInputError, OkrflowError, PermissionDeniedError
from okrflow.services import imports
from okrflow.services.imports import ImportResult, Progress
from okrflow.services.sources import decrypt_credentials, get_source
from okrflow.store.db import Database
from okrflow.store.models_work import WorkItem

if TYPE_CHECKING:
    from okrflow.services.flow_publish import PublishReport


@dataclass
class SyncResult:
    """What a sync did: the import's counts plus what the connector saw."""

    source: str
    imported: ImportResult
    fetched: int
    jql: str = ""
    cursor_before: str | None = None
    requests: int = 0
    warnings: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0


def _fail_run(db: Database, actor: Actor, source_id: int, errors: list[str]) -> int:
    run_id, cursor = imports.start_run(db, actor, source_id)
    result = ImportResult(run_id=run_id, errors=errors, rejected=0, cursor_after=cursor)
    imports._finish_run(db, run_id, result, "failed")
    return run_id


@dataclass
class JiraRead:
    """What :func:`read_jira` read from a Jira source, ready for :func:`import_read`."""

    source: str
    fetched: jira.FetchResult
    jql: str
    cursor_before: str | None
    started: float = field(default_factory=time.monotonic)


YOUNG_GC_EVERY = 2000  # issues


def _young_gc(progress: Progress | None) -> Progress:
    """``progress``, and while the collector is paused for a fetch, a collection of the young generations every
    ``YOUNG_GC_EVERY`` issues: a fetch can wait minutes on the network, and the cyclic garbage of other threads (a
    web server's) is not left to pile up meanwhile; the work stays proportional to what is new, the parsed records
    are not walked again and again."""

    def tick(phase: str, done: int, total: int) -> None:
        if done % YOUNG_GC_EVERY == 0:
            gc.collect(1)
        if progress is not None:
            progress(phase, done, total)

    return tick


def read_jira(
    db: Database,
    actor: Actor,
    source_id: int,
    *,
    transport: httpx.BaseTransport | None = None,
    progress: Progress | None = None,
    full: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> JiraRead:
    """Steps 1–2 of a Jira sync: search and parse every issue (nothing is written but a failed run on errors)."""
    started = time.monotonic()
    with db.read() as s:
        src = get_source(s, actor, source_id)
        if not actor.can(Permission.WRITE, src.workspace_id):
            raise PermissionDeniedError("syncing a source needs the contributor role for the whole workspace")
        if src.kind != "jira":
            raise ConfigurationError(f"source {src.name!r} is of kind {src.kind!r}; only jira sources sync yet")
        name, base_url, cursor_before = src.name, src.base_url, src.cursor
        settings = jira.JiraSettings.from_settings(src.settings)
        credentials = decrypt_credentials(src.credentials)
        known_ids = {
            key: ext
            for key, ext in s.execute(
                select(WorkItem.key, WorkItem.external_id).where(WorkItem.source_id == src.id, WorkItem.key != "")
            )
        }
    try:
        with (
            JiraClient(
                base_url,
                credentials,
                api=settings.api,
                transport=transport,
                page_size=settings.page_size,
                sleep=sleep,
            ) as client,
            imports.gc_paused(),  # a million parsed changes: the collector would walk them again and again
        ):
            tick = _young_gc(progress)
            del credentials
            tz_name = settings.timezone
            cursor = None if full else jira.parse_cursor(cursor_before)
            if cursor is not None and tz_name is None:
                tz_name = str(client.server_info().get("timeZone") or "UTC")
            jql = jira.build_jql(settings.jql, cursor, overlap_minutes=settings.overlap_minutes, tz=jira.zone(tz_name))
            fetched = jira.fetch(
                client,
                jql,
                config=settings.fields,
                known_ids=known_ids,
                progress=tick,
                use_status_ids=settings.history_status_names == "current",
            )
    except OkrflowError as exc:
        _fail_run(db, actor, source_id, [exc.message])
        raise
    if fetched.errors:
        run_id = _fail_run(db, actor, source_id, fetched.errors)
        raise InvalidInputError(
            f"{len(fetched.errors)} issue(s) from Jira cannot be read; nothing was imported. "
            + "; ".join(fetched.errors[:10]),
            errors=fetched.errors,
            run_id=run_id,
        )
    return JiraRead(name, fetched, jql, cursor_before, started)


def import_read(
    db: Database, actor: Actor, source_id: int, read: JiraRead, *, progress: Progress | None = None
) -> SyncResult:
    """Step 3 of a Jira sync: import what :func:`read_jira` read as one run and move the cursor."""
    fetched = read.fetched
    previous = jira.parse_cursor(read.cursor_before)
    newest = max((t for t in (previous, fetched.max_updated) if t is not None), default=None)
    result = imports.import_records(
        db,
        actor,
        source_id,
        fetched.records,
        cursor_after=jira.format_cursor(newest) if newest else None,
        progress=progress or imports._no_progress,
        status_categories=fetched.status_categories,
        warnings=fetched.warnings,
    )
    return SyncResult(
        source=read.source,
        imported=result,
        fetched=len(fetched.records),
        jql=read.jql,
        cursor_before=read.cursor_before,
        requests=fetched.requests,
        warnings=fetched.warnings,
        duration_seconds=round(time.monotonic() - read.started, 3),
    )


def sync_source(
    db: Database,
    actor: Actor,
    source_id: int,
    *,
    transport: httpx.BaseTransport | None = None,
    progress: Progress | None = None,
    full: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncResult:
    """Run the source's connector and import what it read as one sync run (see the module docstring).

    ``transport`` (an httpx transport) and ``sleep`` (the retry wait) are for tests."""
    read = read_jira(db, actor, source_id, transport=transport, progress=progress, full=full, sleep=sleep)
    return import_read(db, actor, source_id, read, progress=progress)


def import_jira_csv(
    db: Database,
    actor: Actor,
    source_id: int,
    text: str,
    *,
    progress: Progress | None = None,
) -> SyncResult:
    """Import a Jira CSV export ("Export Excel CSV (all fields)") into a jira or files source, as one run.

    Any line that cannot be read fails the run (errors name their line) and nothing is written."""
    started = time.monotonic()
    with db.read() as s:
        src = get_source(s, actor, source_id)
        if not actor.can(Permission.WRITE, src.workspace_id):
            raise PermissionDeniedError("importing work needs the contributor role for the whole workspace")
        name, cursor_before = src.name, src.cursor
        options = csv_export.CsvOptions.from_settings(src.settings, base_url=src.base_url)
    parsed = csv_export.parse_csv(text, options)
    if parsed.errors:
        run_id = _fail_run(db, actor, source_id, parsed.errors)
        raise InvalidInputError(
            f"{len(parsed.errors)} problem(s) in the Jira CSV export; nothing was imported. "
            + "; ".join(parsed.errors[:10]),
            errors=parsed.errors,
            run_id=run_id,
        )
    result = imports.import_records(
        db,
        actor,
        source_id,
        parsed.records,
        cursor_after=cursor_before,
        progress=progress or imports._no_progress,
        warnings=parsed.warnings,
    )
    return SyncResult(
        source=name,
        imported=result,
        fetched=len(parsed.records),
        cursor_before=cursor_before,
        warnings=parsed.warnings,
        duration_seconds=round(time.monotonic() - started, 3),
    )


@dataclass
class SyncSummary:
    """One sync of any kind of source, as the CLI, API and web show it."""

    source: str
    kind: str
    runs: list[ImportResult]
    fetched: int
    requests: int
    warnings: list[str]
    duration_seconds: float
    # what publishing the flow/DORA catalog metrics after the sync did (``run(..., publish=True)``)
    published: PublishReport | None = None

    @property
    def created(self) -> int:
        return sum(r.created for r in self.runs)

    @property
    def updated(self) -> int:
        return sum(r.updated for r in self.runs)

    @property
    def unchanged(self) -> int:
        return sum(r.unchanged for r in self.runs)


def run(
    db: Database,
    actor: Actor,
    source_id: int,
    *,
    full: bool = False,
    progress: Progress | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    publish: bool = False,
    now: datetime | None = None,
) -> SyncSummary:
    """Sync a source with the connector of its kind (Jira, GitHub, GitLab). With ``publish``, then publish the
    flow and DORA metrics into the KPI catalog so key results bound to them stay current; the sync is committed
    by then, so a failure to publish is a warning of the summary, not an error of the sync."""
    summary = _run(db, actor, source_id, full=full, progress=progress, transport=transport, sleep=sleep)
    if publish:
        from okrflow.services import flow_publish

        with db.read() as s:
            workspace_id = get_source(s, actor, source_id).workspace_id
        try:
            summary.published = flow_publish.publish(db, actor, workspace_id, now)
        except OkrflowError as exc:
            summary.warnings.append(
                f"the sync succeeded, but publishing the catalog metrics failed: {exc.message}; "
                "run `okrflow flow publish` to retry"
            )
    return summary


def _run(
    db: Database,
    actor: Actor,
    source_id: int,
    *,
    full: bool = False,
    progress: Progress | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncSummary:
    from okrflow.services import sync_git

    with db.read() as s:
        src = get_source(s, actor, source_id)
        if not actor.can(Permission.WRITE, src.workspace_id):
            raise PermissionDeniedError("syncing a source needs the contributor role for the whole workspace")
        name, kind = src.name, src.kind
    if kind == "jira":
        r = sync_source(db, actor, source_id, transport=transport, progress=progress, full=full, sleep=sleep)
        return SyncSummary(name, kind, [r.imported], r.fetched, r.requests, r.warnings, r.duration_seconds)
    if kind in ("github", "gitlab"):
        fn = sync_git.sync_github if kind == "github" else sync_git.sync_gitlab
        g = fn(db, actor, source_id, transport=transport, progress=progress, full=full, sleep=sleep)
        return SyncSummary(
            name, kind, [g.work, g.delivery], sum(g.fetched.values()), g.requests, g.warnings, g.duration_seconds
        )
    raise ConfigurationError(f"source {name!r} is of kind {kind!r}: feed it with `okrflow import FILE --source {name}`")
