"""GitLab REST v4 JSON → domain records (pure: no HTTP, no database).

Shapes as documented for issues, resource state events, resource label events, merge requests and their
commits, and deployments (``/projects/:id/deployments``, with ``deployable`` = the deploy job).
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
from okrflow.connectors.github.parser import label_names
from okrflow.connectors.rest import parse_time
from okrflow.domain.delivery import ChangeRecord, DeploymentRecord, IncidentRecord
from okrflow.domain.work import WorkRecord

# GitLab deployment status → ours.
DEPLOYMENT_STATES = {
    "success": "success",
    "failed": "failure",
    "canceled": "cancelled",
    "skipped": "cancelled",
    "created": "in_progress",
    "running": "in_progress",
    "blocked": "in_progress",
}
# GitLab's own issue types that name a work type; a plain "issue" is typed by its labels.
NATIVE_TYPES = {"incident": "Incident", "task": "Task", "test_case": "Test Case"}


def _user(user: Any) -> str:
    return str(user.get("username") or "") if isinstance(user, Mapping) else ""


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


def _where(issue: Mapping[str, Any], project: str, sign: str = "#") -> str:
    refs = issue.get("references")
    full = refs.get("full") if isinstance(refs, Mapping) else None
    return str(full or f"{project}{sign}{issue.get('iid', '?')}")


def native_type(issue: Mapping[str, Any]) -> str | None:
    kind = str(issue.get("issue_type") or issue.get("type") or "").casefold()
    return NATIVE_TYPES.get(kind)


def is_incident(issue: Mapping[str, Any], settings: GitSettings) -> bool:
    return native_type(issue) == "Incident" or settings.is_incident(label_names(issue.get("labels")))


def parse_issue(
    issue: Mapping[str, Any],
    state_events: Iterable[Mapping[str, Any]],
    label_events: Iterable[Mapping[str, Any]],
    *,
    project: str,
    settings: GitSettings,
) -> WorkRecord:
    """An issue with its resource state and label events → a work record (opened/closed history; label and
    type changes as field changes). The type: GitLab's own (incident, task) or the labels' (``bug`` → Bug)."""
    where = f"issue {_where(issue, project)}"
    if not issue.get("id") or issue.get("iid") is None:
        raise GitParseError(f"{where}: no id or iid")
    state = str(issue.get("state") or "")
    if state not in ("opened", "closed"):
        raise GitParseError(f"{where}: state {state!r} is neither opened nor closed")
    created = _required(issue, "created_at", where)
    closed_at = _time(issue, "closed_at", where)
    labels = label_names(issue.get("labels"))
    states = []
    for ev in state_events:
        at = _required(ev, "created_at", f"{where}: state event {ev.get('id', '?')}")
        value = str(ev.get("state") or "")
        if value in ("opened", "reopened", "closed"):
            states.append(StateEvent(at, "closed" if value == "closed" else "opened", _user(ev.get("user"))))
    events = []
    for ev in label_events:
        at = _required(ev, "created_at", f"{where}: label event {ev.get('id', '?')}")
        name = (ev.get("label") or {}).get("name")
        if isinstance(name, str) and name and ev.get("action") in ("add", "remove"):
            events.append(LabelEvent(at, name, ev.get("action") == "add", _user(ev.get("user"))))
    own = native_type(issue)
    history = build_history(
        created=created,
        creator=_user(issue.get("author")),
        opened="opened",
        current_state=state,
        closed_at=closed_at,
        states=states,
    )
    field_changes, _ = build_label_changes(labels, events, settings, native_type=own)
    assignees = issue.get("assignees") or ([issue["assignee"]] if issue.get("assignee") else [])
    return WorkRecord(
        external_id=str(issue["id"]),
        key=_where(issue, project),
        url=str(issue.get("web_url") or ""),
        title=str(issue.get("title") or ""),
        issue_type=own or settings.type_from_labels(labels),
        status=state,
        created=created,
        resolved=closed_at if state == "closed" else None,
        updated=_time(issue, "updated_at", where),
        labels=labels,
        story_points=float(issue["weight"]) if isinstance(issue.get("weight"), int | float) else None,
        assignee=_user(assignees[0]) or None if assignees else None,
        history=history,
        field_changes=field_changes,
        kr_refs=settings.kr_refs(labels),
    )


def parse_incident(issue: Mapping[str, Any], *, project: str, settings: GitSettings) -> IncidentRecord:
    where = f"issue {_where(issue, project)}"
    labels = label_names(issue.get("labels"))
    severity = str(issue.get("severity") or "").casefold()
    if severity in ("", "unknown"):
        severity = settings.severity(labels)
    return IncidentRecord(
        external_id=str(issue.get("id") or ""),
        service=settings.service,
        started_at=_required(issue, "created_at", where),
        title=str(issue.get("title") or ""),
        resolved_at=_time(issue, "closed_at", where) if issue.get("state") == "closed" else None,
        severity=severity[:32],
        url=str(issue.get("web_url") or ""),
    )


def merged_sha(mr: Mapping[str, Any]) -> str | None:
    """The commit a merge put on the target branch: the merge commit, else the squash commit, else (a
    fast-forward merge) the head."""
    if not mr.get("merged_at") and mr.get("state") != "merged":
        return None
    for key in ("merge_commit_sha", "squash_commit_sha", "sha"):
        if mr.get(key):
            return str(mr[key])
    return None


def parse_merge_request(
    mr: Mapping[str, Any], commits: Sequence[Mapping[str, Any]], *, project: str, settings: GitSettings
) -> ChangeRecord:
    where = f"merge request {_where(mr, project, '!')}"
    if not mr.get("id"):
        raise GitParseError(f"{where}: no id")
    first: datetime | None = None
    shas: list[str] = []
    for c in commits:
        try:
            at = parse_time(c.get("authored_date") or c.get("created_at"))
        except ValueError as exc:
            raise GitParseError(f"{where}: commit {c.get('id', '?')}: {exc}") from None
        if at is not None and (first is None or at < first):
            first = at
        if c.get("id"):
            shas.append(str(c["id"]))
    merged_at = _time(mr, "merged_at", where)
    return ChangeRecord(
        external_id=str(mr["id"]),
        kind="merge_request",
        service=settings.service,
        created_at=_required(mr, "created_at", where),
        title=str(mr.get("title") or ""),
        author=_user(mr.get("author")),
        first_commit_at=first,
        merged_at=merged_at,
        merge_commit_sha=merged_sha(mr),
        commit_shas=tuple(shas),
        url=str(mr.get("web_url") or ""),
    )


def parse_deployment(
    dep: Mapping[str, Any], *, project: str, settings: GitSettings, commit_shas: tuple[str, ...] = ()
) -> DeploymentRecord:
    """A deployment → a record. Finished: the deploy job's ``finished_at`` (``deployable``), else — for a
    deployment that ended — its ``updated_at``; started: the job's ``started_at``, else ``created_at``."""
    where = f"deployment {dep.get('id', '?')} of {project}"
    if not dep.get("id"):
        raise GitParseError(f"{where}: no id")
    raw = str(dep.get("status") or "")
    status = DEPLOYMENT_STATES.get(raw)
    if status is None:
        raise GitParseError(f"{where}: unknown status {raw!r}")
    raw_job = dep.get("deployable")
    job: Mapping[str, Any] = raw_job if isinstance(raw_job, Mapping) else {}
    started = _time(job, "started_at", where) or _required(dep, "created_at", where)
    finished = None
    if status != "in_progress":
        finished = _time(dep, "finished_at", where) or _time(job, "finished_at", where)
        finished = finished or _time(dep, "updated_at", where)
    if finished is not None and finished < started:
        started = finished
    env = dep.get("environment")
    env_name = str(env.get("name") if isinstance(env, Mapping) else env or "")
    return DeploymentRecord(
        external_id=str(dep["id"]),
        service=settings.service,
        environment=settings.environment_name(env_name),
        status=status,
        finished_at=finished,
        started_at=started,
        commit_sha=str(dep.get("sha") or "") or None,
        commit_shas=commit_shas,
        ref=str(dep.get("ref") or ""),
        url=str(job.get("web_url") or ""),
    )
