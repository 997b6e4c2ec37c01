"""Sync runs of GitHub and GitLab sources: read the repository/project, then import work and delivery data.

A run of ``sync_github`` / ``sync_gitlab``:

1. reads the source's settings (repository or project, environments, labels …), decrypts its token, and loads
   the deployments stored already (a final outcome is not read again) and the ETag cache (GitHub);
2. fetches what changed since the cursor − ``overlap_minutes`` (no cursor or ``full=True``: everything);
3. imports issues as work items with :func:`okrflow.services.imports.import_records` (one run), then pull/merge
   requests as changes, deployments, and incident-labelled issues as incidents with
   :func:`okrflow.services.delivery.import_delivery` (a second run, which moves the cursor);
4. keeps the ETag cache of this run in ``settings.etag_cache`` (only after both imports succeeded: a cached
   page is one whose content was imported).

Failures before the import (auth, network, an unreadable item) leave a failed run with the error and write
nothing else; the cursor does not move, so the next run reads the same window again. Both imports are
idempotent: a re-run of the same data creates and updates nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from okrflow.connectors import github, gitlab
from okrflow.connectors.gitcommon import FetchResult, GitSettings, KnownDeployment
from okrflow.connectors.rest import EtagCache, RestClient
from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import ConfigurationError, InvalidInputError, OkrflowError, PermissionDeniedError
from okrflow.services import delivery, imports
from okrflow.services.imports import ImportResult, Progress
from okrflow.services.sources import decrypt_credentials, get_source
from okrflow.store.db import Database
from okrflow.store.models_delivery import Deployment
from okrflow.store.models_work import Source

ETAG_CACHE_KEY = "etag_cache"


@dataclass
class GitSyncResult:
    """What a GitHub/GitLab sync did: the two imports' counts plus what the connector saw and cost."""

    source: str
    work: ImportResult
    delivery: ImportResult
    fetched: dict[str, int]
    cursor_before: str | None = None
    cursor_after: str | None = None
    requests: int = 0
    not_modified: int = 0
    waited_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0


def parse_cursor(cursor: str | None) -> datetime | None:
    if not cursor:
        return None
    try:
        value = datetime.fromisoformat(cursor)
    except ValueError:
        return None  # an unreadable cursor means a full run, never a crash
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_cursor(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _fail_run(db: Database, actor: Actor, source_id: int, errors: list[str]) -> int:
    run_id, cursor = imports.start_run(db, actor, source_id)
    imports._finish_run(db, run_id, ImportResult(run_id=run_id, errors=errors, cursor_after=cursor), "failed")
    return run_id


@dataclass
class _Loaded:
    name: str
    base_url: str
    raw_settings: dict[str, Any]
    settings: GitSettings
    credentials: dict[str, str]
    cursor: str | None
    known: dict[str, KnownDeployment]


def _load(
    db: Database, actor: Actor, source_id: int, kind: str, parse: Callable[[Mapping[str, Any]], GitSettings]
) -> _Loaded:
    with db.read() as s:
        src = get_source(s, actor, source_id)
        if not actor.can(Permission.WRITE, src.workspace_id):
            raise PermissionDeniedError("syncing a source needs the contributor role for the whole workspace")
        if src.kind != kind:
            raise ConfigurationError(f"source {src.name!r} is of kind {src.kind!r}, not {kind}")
        known = {
            ext: KnownDeployment(status, env, sha, finished)
            for ext, status, env, sha, finished in s.execute(
                select(
                    Deployment.external_id,
                    Deployment.status,
                    Deployment.environment,
                    Deployment.commit_sha,
                    Deployment.finished_at,
                ).where(Deployment.source_id == src.id)
            )
        }
        raw = dict(src.settings or {})
        return _Loaded(src.name, src.base_url, raw, parse(raw), decrypt_credentials(src.credentials), src.cursor, known)


def _run(
    db: Database,
    actor: Actor,
    source_id: int,
    loaded: _Loaded,
    client: RestClient,
    read: Callable[[], FetchResult],
    started: float,
    progress: Progress | None,
) -> GitSyncResult:
    try:
        with client:
            fetched = read()
    except OkrflowError as exc:
        _fail_run(db, actor, source_id, [exc.message])
        raise
    if fetched.errors:
        run_id = _fail_run(db, actor, source_id, fetched.errors)
        raise InvalidInputError(
            f"{len(fetched.errors)} item(s) from {client.name} cannot be read; nothing was imported. "
            + "; ".join(fetched.errors[:10]),
            errors=fetched.errors,
            run_id=run_id,
        )
    previous = parse_cursor(loaded.cursor)
    newest = max((t for t in (previous, fetched.max_updated) if t is not None), default=None)
    cursor_after = format_cursor(newest) if newest else None
    # The work import does not move the cursor: only the last import does, so a failure in between re-reads.
    work = imports.import_records(db, actor, source_id, fetched.records, progress=progress or imports._no_progress)
    shipped = delivery.import_delivery(
        db,
        actor,
        source_id,
        deployments=fetched.deployments,
        changes=fetched.changes,
        incidents=fetched.incidents,
        cursor_after=cursor_after,
    )
    if client.etags is not None:
        _save_etags(db, source_id, client.etags.used())
    return GitSyncResult(
        source=loaded.name,
        work=work,
        delivery=shipped,
        fetched={
            "issues": len(fetched.records),
            "changes": len(fetched.changes),
            "deployments": len(fetched.deployments),
            "incidents": len(fetched.incidents),
        },
        cursor_before=loaded.cursor,
        cursor_after=cursor_after or loaded.cursor,
        requests=fetched.requests,
        not_modified=fetched.not_modified,
        waited_seconds=round(fetched.waited_seconds, 3),
        warnings=fetched.warnings,
        duration_seconds=round(time.monotonic() - started, 3),
    )


def _save_etags(db: Database, source_id: int, entries: dict[str, Any]) -> None:
    """Bookkeeping like the cursor (written by the import without an edit of its own), so no audit entry: a
    settings edit per sync would bury the audit log. Written only when it changed."""
    with db.write() as s:
        src = s.get(Source, source_id)
        if src is None:
            return
        current = dict(src.settings or {})
        if current.get(ETAG_CACHE_KEY) != entries:
            current[ETAG_CACHE_KEY] = entries
            src.settings = current


def sync_github(
    db: Database,
    actor: Actor,
    source_id: int,
    *,
    transport: httpx.BaseTransport | None = None,
    progress: Progress | None = None,
    full: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> GitSyncResult:
    """Sync a ``github`` source (settings: see docs/connectors/github.md). ``transport``, ``sleep`` (every
    wait: retries and rate limits) and ``clock`` (to read ``x-ratelimit-reset``) are for tests."""
    started = time.monotonic()
    loaded = _load(db, actor, source_id, "github", github.settings_from)
    etags = EtagCache(None if full else loaded.raw_settings.get(ETAG_CACHE_KEY))
    client = github.GitHubClient(
        loaded.base_url or github.DEFAULT_API_URL,
        loaded.credentials,
        transport=transport,
        etags=etags,
        sleep=sleep,
        clock=clock,
    )
    since = None if full else parse_cursor(loaded.cursor)
    loaded.credentials = {}

    def read() -> FetchResult:
        return github.fetch(client, loaded.settings, since=since, known=loaded.known, progress=progress or _none)

    return _run(db, actor, source_id, loaded, client, read, started, progress)


def sync_gitlab(
    db: Database,
    actor: Actor,
    source_id: int,
    *,
    transport: httpx.BaseTransport | None = None,
    progress: Progress | None = None,
    full: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> GitSyncResult:
    """Sync a ``gitlab`` source (settings: see docs/connectors/gitlab.md)."""
    started = time.monotonic()
    loaded = _load(db, actor, source_id, "gitlab", gitlab.settings_from)
    client = gitlab.GitLabClient(
        loaded.base_url or gitlab.DEFAULT_URL,
        loaded.credentials,
        transport=transport,
        sleep=sleep,
        clock=clock,
    )
    since = None if full else parse_cursor(loaded.cursor)
    loaded.credentials = {}

    def read() -> FetchResult:
        return gitlab.fetch(client, loaded.settings, since=since, known=loaded.known, progress=progress or _none)

    return _run(db, actor, source_id, loaded, client, read, started, progress)


def _none(_phase: str, _done: int, _total: int) -> None:
    return None
