"""Read a GitHub repository: issues with their timelines, pull requests with their commits, deployments with
their statuses. Returns domain records; the sync service imports them.

Incremental rules (``since`` = the source's cursor − ``overlap_minutes``):

- issues: ``GET /repos/{o}/{r}/issues?state=all&since=…&sort=updated&direction=asc`` (pull requests listed
  there are skipped); each listed issue's timeline is read in full.
- pull requests: ``GET /repos/{o}/{r}/pulls?state=all&sort=updated&direction=desc``, stopping at the first one
  updated before ``since``; each listed one's commits give its first commit time.
- deployments: ``GET /repos/{o}/{r}/deployments?environment=…`` for every configured environment; statuses are
  read only for deployments not stored yet with a final status (``known``). Stored deployments still in
  progress that no changed page lists are re-read by id.

Every list page is a conditional request: a ``304 Not Modified`` page holds nothing new since the last
successful sync (which imported it), so it is skipped. Deployment status lists are conditional too, with their
small summary cached next to the ETag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from okrflow.connectors.gitcommon import FetchResult, GitParseError, GitSettings, KnownDeployment, previous_success
from okrflow.connectors.github import parser
from okrflow.connectors.github.client import GitHubClient
from okrflow.connectors.rest import parse_time
from okrflow.domain.delivery import DeploymentRecord
from okrflow.domain.errors import ConfigurationError, NotFoundError

Progress = Callable[[str, int, int], None]


def _none(_phase: str, _done: int, _total: int) -> None:
    return None


def settings_from(raw: Mapping[str, Any] | None) -> GitSettings:
    settings = GitSettings.parse(raw, project_keys=("repository", "repo"), kind="GitHub")
    if settings.project.count("/") != 1 or not all(settings.project.split("/")):
        raise ConfigurationError(f"settings.repository is 'owner/name', not {settings.project!r}")
    return settings


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch(
    client: GitHubClient,
    settings: GitSettings,
    *,
    since: datetime | None = None,
    known: Mapping[str, KnownDeployment] | None = None,
    progress: Progress = _none,
) -> FetchResult:
    """Read what changed since ``since`` (everything when ``None``). Unreadable items land in ``errors`` by
    name and are skipped; the caller decides (the sync imports nothing when there are errors)."""
    out = FetchResult()
    window = since - timedelta(minutes=settings.overlap_minutes) if since else None
    if settings.issues:
        _issues(client, settings, window, out, progress)
    if settings.changes:
        _pulls(client, settings, window, out, progress)
    if settings.deployments:
        _deployments(client, settings, dict(known or {}), out, progress)
    out.requests, out.not_modified, out.waited_seconds = client.requests, client.not_modified, client.waited
    return out


def _issues(
    client: GitHubClient, settings: GitSettings, window: datetime | None, out: FetchResult, progress: Progress
) -> None:
    repo = settings.project
    params: dict[str, Any] = {"state": "all", "sort": "updated", "direction": "asc", "per_page": settings.page_size}
    if window is not None:
        params["since"] = _iso(window)
    for page in client.pages(f"/repos/{repo}/issues", params):
        if page.not_modified:
            continue
        for issue in page.data or ():
            if parser.is_pull_request(issue):
                continue
            try:
                timeline = client.all(f"/repos/{repo}/issues/{issue.get('number')}/timeline", {"per_page": 100})
                rec = parser.parse_issue(issue, timeline, repo=repo, settings=settings)
                if settings.is_incident(rec.labels):
                    out.incidents.append(parser.parse_incident(issue, repo=repo, settings=settings))
            except (GitParseError, NotFoundError) as exc:
                out.errors.append(str(exc))
                continue
            out.records.append(rec)
            out.saw(rec.updated)
            progress("issues", len(out.records), 0)


def _pulls(
    client: GitHubClient, settings: GitSettings, window: datetime | None, out: FetchResult, progress: Progress
) -> None:
    repo = settings.project
    params = {"state": "all", "sort": "updated", "direction": "desc", "per_page": settings.page_size}
    for page in client.pages(f"/repos/{repo}/pulls", params):
        if page.not_modified:
            return  # the newest-updated page is as the last sync read it: nothing was updated since
        for pull in page.data or ():
            try:
                updated = parse_time(pull.get("updated_at"))
            except ValueError as exc:
                out.errors.append(f"pull request {repo}#{pull.get('number', '?')}: updated_at: {exc}")
                continue
            if window is not None and updated is not None and updated < window:
                return
            try:
                commits = client.all(f"/repos/{repo}/pulls/{pull.get('number')}/commits", {"per_page": 100})
                out.changes.append(parser.parse_pull(pull, commits, repo=repo, settings=settings))
            except (GitParseError, NotFoundError) as exc:
                out.errors.append(str(exc))
                continue
            out.saw(updated)
            progress("pull requests", len(out.changes), 0)


def _statuses(client: GitHubClient, repo: str, dep_id: Any, where: str) -> list[list[Any]]:
    page = client.get(f"/repos/{repo}/deployments/{dep_id}/statuses", {"per_page": 100})
    if page.not_modified:
        cached = client.etags.data(page.url) if client.etags is not None else None
        if cached is not None:
            return [list(x) for x in cached]
        page = client.get(page.url, conditional=False)
    summary = parser.status_summary(page.data or (), where)
    if client.etags is not None:
        client.etags.remember(page.url, summary)
    return summary


def _deployments(
    client: GitHubClient,
    settings: GitSettings,
    known: dict[str, KnownDeployment],
    out: FetchResult,
    progress: Progress,
) -> None:
    repo = settings.project
    seen: set[str] = set()
    fresh: list[DeploymentRecord] = []

    def read(dep: Mapping[str, Any]) -> None:
        ext = str(dep.get("id") or "")
        seen.add(ext)
        stored = known.get(ext)
        if stored is not None and stored.status in ("success", "failure", "error", "cancelled"):
            return  # final: a deployment's outcome does not change once decided
        where = f"deployment {ext or '?'} of {repo}"
        try:
            rec = parser.parse_deployment(dep, _statuses(client, repo, ext, where), repo=repo, settings=settings)
        except (GitParseError, NotFoundError) as exc:
            out.errors.append(str(exc))
            return
        fresh.append(rec)
        out.saw(rec.finished_at)
        progress("deployments", len(fresh), 0)

    for env in settings.environments:
        params = {"environment": env, "per_page": settings.page_size}
        for page in client.pages(f"/repos/{repo}/deployments", params):
            if page.not_modified:
                continue
            for dep in page.data or ():
                read(dep)
    for ext, stored in known.items():
        if ext not in seen and stored.status not in ("success", "failure", "error", "cancelled"):
            try:
                dep = client.get(f"/repos/{repo}/deployments/{ext}", conditional=False).data
            except NotFoundError:
                out.warnings.append(f"deployment {ext} of {repo} no longer exists; kept as it was")
                continue
            read(dep)
    if settings.deployment_commits:
        fresh = [_with_commits(client, settings, rec, known, fresh, out) for rec in fresh]
    out.deployments.extend(fresh)


def _with_commits(
    client: GitHubClient,
    settings: GitSettings,
    rec: DeploymentRecord,
    known: Mapping[str, KnownDeployment],
    fresh: list[DeploymentRecord],
    out: FetchResult,
) -> DeploymentRecord:
    """The commits a successful deployment shipped: ``compare/{previous success}...{sha}``."""
    if rec.status != "success" or not rec.commit_sha:
        return rec
    candidates = list(known.items()) + [
        (d.external_id, KnownDeployment(d.status, d.environment, d.commit_sha, d.finished_at)) for d in fresh
    ]
    base = previous_success(rec.environment, rec.finished_at, candidates, rec.external_id)
    if base is None:
        return rec  # the first deployment: what it shipped is unknown (DORA falls back on its head commit)
    if base == rec.commit_sha:
        return replace(rec, commit_shas=())
    repo = settings.project
    shas: list[str] = []
    try:
        for page in client.pages(
            f"/repos/{repo}/compare/{base}...{rec.commit_sha}", {"per_page": 100}, conditional=False
        ):
            shas.extend(str(c["sha"]) for c in (page.data or {}).get("commits") or () if c.get("sha"))
    except NotFoundError:
        out.warnings.append(f"deployment {rec.external_id}: cannot compare {base[:12]}...{rec.commit_sha[:12]}")
        return rec
    return replace(rec, commit_shas=tuple(shas))
