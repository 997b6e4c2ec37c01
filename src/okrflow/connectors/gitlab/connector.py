"""Read a GitLab project: issues with resource state and label events, merge requests with their commits,
deployments (with the merge requests each one shipped). Returns domain records; the sync service imports them.

Incremental rules (``since`` = the source's cursor − ``overlap_minutes``): issues, merge requests and
deployments are listed with ``updated_after=since`` and ``order_by=updated_at``; events and commits are read
for every listed item. A deployment stored already with a final status is not read again. The merge requests
a successful deployment shipped (``/deployments/:id/merge_requests``) give its commits (their merge commits).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from okrflow.connectors.gitcommon import (
    FINAL_DEPLOYMENT_STATUSES,
    FetchResult,
    GitParseError,
    GitSettings,
    KnownDeployment,
)
from okrflow.connectors.gitlab import parser
from okrflow.connectors.gitlab.client import GitLabClient, project_path
from okrflow.domain.errors import NotFoundError

Progress = Callable[[str, int, int], None]


def _none(_phase: str, _done: int, _total: int) -> None:
    return None


def settings_from(raw: Mapping[str, Any] | None) -> GitSettings:
    return GitSettings.parse(raw, project_keys=("project", "project_id"), kind="GitLab")


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch(
    client: GitLabClient,
    settings: GitSettings,
    *,
    since: datetime | None = None,
    known: Mapping[str, KnownDeployment] | None = None,
    progress: Progress = _none,
) -> FetchResult:
    """Read what changed since ``since`` (everything when ``None``); unreadable items land in ``errors``."""
    out = FetchResult()
    base = project_path(settings.project)
    listing: dict[str, Any] = {"order_by": "updated_at", "sort": "asc", "per_page": settings.page_size}
    if since is not None:
        listing["updated_after"] = _iso(since - timedelta(minutes=settings.overlap_minutes))
    if settings.issues:
        for issue in _each(client, f"{base}/issues", listing | {"scope": "all"}):
            try:
                iid = issue.get("iid")
                states = client.all(f"{base}/issues/{iid}/resource_state_events", {"per_page": 100})
                labels = client.all(f"{base}/issues/{iid}/resource_label_events", {"per_page": 100})
                rec = parser.parse_issue(issue, states, labels, project=settings.project, settings=settings)
                if parser.is_incident(issue, settings):
                    out.incidents.append(parser.parse_incident(issue, project=settings.project, settings=settings))
            except (GitParseError, NotFoundError) as exc:
                out.errors.append(str(exc))
                continue
            out.records.append(rec)
            out.saw(rec.updated)
            progress("issues", len(out.records), 0)
    if settings.changes:
        for mr in _each(client, f"{base}/merge_requests", listing | {"state": "all", "scope": "all"}):
            try:
                commits = client.all(f"{base}/merge_requests/{mr.get('iid')}/commits", {"per_page": 100})
                out.changes.append(parser.parse_merge_request(mr, commits, project=settings.project, settings=settings))
                out.saw(parser._time(mr, "updated_at", "merge request"))
            except (GitParseError, NotFoundError) as exc:
                out.errors.append(str(exc))
                continue
            progress("merge requests", len(out.changes), 0)
    if settings.deployments:
        _deployments(client, settings, base, listing, dict(known or {}), out, progress)
    out.requests, out.not_modified, out.waited_seconds = client.requests, client.not_modified, client.waited
    return out


def _each(client: GitLabClient, path: str, params: Mapping[str, Any]) -> Any:
    for page in client.pages(path, params, conditional=False):
        yield from page.data or ()


def _deployments(
    client: GitLabClient,
    settings: GitSettings,
    base: str,
    listing: Mapping[str, Any],
    known: dict[str, KnownDeployment],
    out: FetchResult,
    progress: Progress,
) -> None:
    for env in settings.environments:
        for dep in _each(client, f"{base}/deployments", {**listing, "environment": env}):
            ext = str(dep.get("id") or "")
            stored = known.get(ext)
            if stored is not None and stored.status in FINAL_DEPLOYMENT_STATUSES:
                continue
            try:
                rec = parser.parse_deployment(dep, project=settings.project, settings=settings)
                out.saw(parser._time(dep, "updated_at", f"deployment {ext}"))
                if settings.deployment_commits and rec.status == "success":
                    mrs = client.all(f"{base}/deployments/{ext}/merge_requests", {"per_page": 100})
                    shas = tuple(dict.fromkeys(s for s in (parser.merged_sha(m) for m in mrs) if s))
                    rec = replace(rec, commit_shas=shas)
            except (GitParseError, NotFoundError) as exc:
                out.errors.append(str(exc))
                continue
            out.deployments.append(rec)
            progress("deployments", len(out.deployments), 0)
