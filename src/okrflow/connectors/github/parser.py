"""GitHub REST JSON → domain records (pure: no HTTP, no database).

Shapes as documented for REST API version 2022-11-28: issues (``/repos/{o}/{r}/issues``), timeline events
(``/issues/{n}/timeline``), pull requests (``/pulls``) and their commits, deployments and deployment statuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from okrflow.connectors.gitcommon import (
    GitParseError,
    GitSettings,
    LabelEvent,
    StateEvent,
    build_history,
    build_label_changes,
)
from okrflow.connectors.rest import parse_time
from okrflow.domain.delivery import ChangeRecord, DeploymentRecord, IncidentRecord
from okrflow.domain.work import WorkRecord

# GitHub deployment status states → ours (DeploymentRecord.status).
DEPLOYMENT_STATES = {
    "success": "success",
    "failure": "failure",
    "error": "error",
    "in_progress": "in_progress",
    "queued": "in_progress",
    "pending": "in_progress",
}


def _login(user: Any) -> str:
    return str(user.get("login") or "") if isinstance(user, Mapping) else ""


def _time(obj: Mapping[str, Any], key: str, where: str) -> datetime | None:
    try:
        return parse_time(obj.get(key))
    except ValueError as exc:
        raise GitParseError(f"{where}: {key}: {exc}") from None


def _required(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    value = _time(obj, key, where)
    if value is None:
        raise GitParseError(f"{where}: no {key}")
    return value


def label_names(labels: Any) -> tuple[str, ...]:
    """Issue labels are objects (``{"name": "bug", …}``); older payloads and some events send plain strings."""
    out = []
    for label in labels or ():
        name = label.get("name") if isinstance(label, Mapping) else label
        if isinstance(name, str) and name:
            out.append(name)
    return tuple(out)


def is_pull_request(issue: Mapping[str, Any]) -> bool:
    """The issues endpoint lists pull requests too; they carry a ``pull_request`` object."""
    return "pull_request" in issue


def parse_issue(
    issue: Mapping[str, Any], timeline: Iterable[Mapping[str, Any]], *, repo: str, settings: GitSettings
) -> WorkRecord:
    """An issue and its timeline → a work record with open/closed history and label/type field changes.

    The type is the issue's own GitHub issue type (``type.name``) when it has one, else the first of
    ``settings.type_labels`` among its labels (``bug`` → ``Bug``), else ``Issue``."""
    number = issue.get("number")
    where = f"issue {repo}#{number if number is not None else '?'}"
    if not issue.get("id") or number is None:
        raise GitParseError(f"{where}: no id or number")
    state = str(issue.get("state") or "")
    if state not in ("open", "closed"):
        raise GitParseError(f"{where}: state {state!r} is neither open nor closed")
    created = _required(issue, "created_at", where)
    closed_at = _time(issue, "closed_at", where)
    updated = _time(issue, "updated_at", where)
    labels = label_names(issue.get("labels"))
    states: list[StateEvent] = []
    label_events: list[LabelEvent] = []
    for ev in timeline:
        kind = ev.get("event")
        if kind not in ("closed", "reopened", "labeled", "unlabeled"):
            continue
        at = _required(ev, "created_at", f"{where}: timeline event {ev.get('id', '?')}")
        author = _login(ev.get("actor"))
        if kind in ("closed", "reopened"):
            states.append(StateEvent(at, "closed" if kind == "closed" else "open", author))
        else:
            name = (ev.get("label") or {}).get("name")
            if isinstance(name, str) and name:
                label_events.append(LabelEvent(at, name, kind == "labeled", author))
    native = issue.get("type")
    native_type = str(native["name"]) if isinstance(native, Mapping) and native.get("name") else None
    history = build_history(
        created=created,
        creator=_login(issue.get("user")),
        opened="open",
        current_state=state,
        closed_at=closed_at,
        states=states,
    )
    field_changes, _ = build_label_changes(labels, label_events, settings, native_type=native_type)
    return WorkRecord(
        external_id=str(issue["id"]),
        key=f"{repo}#{number}",
        url=str(issue.get("html_url") or ""),
        title=str(issue.get("title") or ""),
        issue_type=native_type or settings.type_from_labels(labels),
        status=state,
        created=created,
        resolved=closed_at if state == "closed" else None,
        updated=updated,
        labels=labels,
        assignee=_login(issue.get("assignee")) or None,
        history=history,
        field_changes=field_changes,
        kr_refs=settings.kr_refs(labels),
    )


def parse_incident(issue: Mapping[str, Any], *, repo: str, settings: GitSettings) -> IncidentRecord:
    """An issue labelled as an incident: started when opened, resolved when closed."""
    where = f"issue {repo}#{issue.get('number', '?')}"
    labels = label_names(issue.get("labels"))
    closed = _time(issue, "closed_at", where) if issue.get("state") == "closed" else None
    return IncidentRecord(
        external_id=str(issue.get("id") or ""),
        service=settings.service,
        started_at=_required(issue, "created_at", where),
        title=str(issue.get("title") or ""),
        resolved_at=closed,
        severity=settings.severity(labels),
        url=str(issue.get("html_url") or ""),
    )


def parse_pull(
    pull: Mapping[str, Any], commits: Sequence[Mapping[str, Any]], *, repo: str, settings: GitSettings
) -> ChangeRecord:
    """A pull request and its commits → a change. The first commit time is the earliest author date; the merge
    commit is kept only for merged pull requests (an open one's ``merge_commit_sha`` is a test merge)."""
    where = f"pull request {repo}#{pull.get('number', '?')}"
    if not pull.get("id"):
        raise GitParseError(f"{where}: no id")
    merged_at = _time(pull, "merged_at", where)
    first: datetime | None = None
    shas: list[str] = []
    for c in commits:
        detail = c.get("commit") or {}
        stamp = (detail.get("author") or {}).get("date") or (detail.get("committer") or {}).get("date")
        try:
            at = parse_time(stamp)
        except ValueError as exc:
            raise GitParseError(f"{where}: commit {c.get('sha', '?')}: {exc}") from None
        if at is not None and (first is None or at < first):
            first = at
        if c.get("sha"):
            shas.append(str(c["sha"]))
    return ChangeRecord(
        external_id=str(pull["id"]),
        kind="pull_request",
        service=settings.service,
        created_at=_required(pull, "created_at", where),
        title=str(pull.get("title") or ""),
        author=_login(pull.get("user")),
        first_commit_at=first,
        merged_at=merged_at,
        merge_commit_sha=str(pull["merge_commit_sha"]) if merged_at and pull.get("merge_commit_sha") else None,
        commit_shas=tuple(shas),
        url=str(pull.get("html_url") or ""),
    )


def status_summary(statuses: Iterable[Mapping[str, Any]], where: str) -> list[list[Any]]:
    """Deployment statuses → ``[[state, created_at, id], …]`` newest first (small enough to cache)."""
    out = []
    for st in statuses:
        at = _required(st, "created_at", f"{where}: status {st.get('id', '?')}")
        out.append([str(st.get("state") or ""), at.isoformat(), int(st.get("id") or 0)])
    out.sort(key=lambda x: (x[1], x[2]), reverse=True)
    return out


def deployment_state(summary: Sequence[Sequence[Any]]) -> tuple[str, datetime | None]:
    """The deployment's outcome from its statuses, newest first: the newest status that is not ``inactive``.

    GitHub marks an older successful deployment ``inactive`` when a newer one succeeds; it stays a success,
    finished when its ``success`` status was created. No status yet (or only pending ones): in progress.
    A deployment made inactive without ever succeeding was superseded: cancelled."""
    saw_inactive = False
    for state, stamp, *_ in summary:
        if state == "inactive":
            saw_inactive = True
            continue
        ours = DEPLOYMENT_STATES.get(state)
        if ours is None:
            continue
        if ours == "in_progress":
            return ("cancelled", None) if saw_inactive else ("in_progress", None)
        return ours, datetime.fromisoformat(stamp)
    return ("cancelled", None) if saw_inactive else ("in_progress", None)


def parse_deployment(
    deployment: Mapping[str, Any],
    summary: Sequence[Sequence[Any]],
    *,
    repo: str,
    settings: GitSettings,
    commit_shas: tuple[str, ...] = (),
) -> DeploymentRecord:
    where = f"deployment {deployment.get('id', '?')} of {repo}"
    if not deployment.get("id"):
        raise GitParseError(f"{where}: no id")
    status, finished = deployment_state(summary)
    started = _required(deployment, "created_at", where)
    if finished is not None and finished < started:
        finished = started
    env = str(deployment.get("environment") or deployment.get("original_environment") or "")
    return DeploymentRecord(
        external_id=str(deployment["id"]),
        service=settings.service,
        environment=settings.environment_name(env),
        status=status,
        finished_at=finished,
        started_at=started,
        commit_sha=str(deployment.get("sha") or "") or None,
        commit_shas=commit_shas,
        ref=str(deployment.get("ref") or ""),
        url=str(deployment.get("url") or ""),
    )
