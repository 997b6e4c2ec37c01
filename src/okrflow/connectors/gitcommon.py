"""What the GitHub and GitLab connectors share: settings, the fetch result, issue-history building from
state and label events, and known-deployment bookkeeping (pure: no HTTP, no database)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from okrflow.domain.delivery import ChangeRecord, DeploymentRecord, IncidentRecord
from okrflow.domain.errors import ConfigurationError
from okrflow.domain.work import FieldChangeRecord, StatusChangeRecord, WorkRecord

DEFAULT_OVERLAP_MINUTES = 10
DEFAULT_KR_PATTERN = r"okr:(\S+)"
DEFAULT_SEVERITY_PATTERN = r"(?i)^(?:severity|sev)[:/ _-]?\s*(\S+)$"
FINAL_DEPLOYMENT_STATUSES = frozenset({"success", "failure", "error", "cancelled"})


class GitParseError(ValueError):
    """An item that cannot be read (names the item and the field)."""


@dataclass(frozen=True)
class KnownDeployment:
    """A deployment stored by an earlier run (read from the database by the sync service)."""

    status: str
    environment: str
    commit_sha: str | None
    finished_at: datetime | None


@dataclass(frozen=True)
class GitSettings:
    """Settings shared by GitHub and GitLab sources (see docs/connectors/github.md and gitlab.md)."""

    project: str  # GitHub "owner/repo"; GitLab numeric id or "group/project" path
    service: str
    environments: tuple[str, ...] = ("production",)
    production_environments: tuple[str, ...] = ("production",)
    incident_label: str = "incident"
    type_labels: Mapping[str, str] = field(default_factory=lambda: {"bug": "Bug"})
    overlap_minutes: int = DEFAULT_OVERLAP_MINUTES
    page_size: int = 100
    issues: bool = True
    changes: bool = True
    deployments: bool = True
    deployment_commits: bool = True
    kr_pattern: str = DEFAULT_KR_PATTERN
    severity_pattern: str = DEFAULT_SEVERITY_PATTERN

    @classmethod
    def parse(cls, settings: Mapping[str, Any] | None, *, project_keys: tuple[str, ...], kind: str) -> GitSettings:
        s = dict(settings or {})
        project = next((str(s[k]).strip() for k in project_keys if s.get(k)), "")
        if not project:
            raise ConfigurationError(f"a {kind} source needs settings.{project_keys[0]}")

        def names(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            value = s.get(key)
            if value is None or value == "" or value == []:
                return default
            if isinstance(value, str):
                return (value,)
            if isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value):
                return tuple(value)
            raise ConfigurationError(f"settings.{key} is a name or a list of names")

        prod = names("production_environments", ("production",))
        envs = names("environments", prod)
        type_labels = s.get("type_labels", {"bug": "Bug"})
        if not isinstance(type_labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and k and v for k, v in type_labels.items()
        ):
            raise ConfigurationError('settings.type_labels maps label → type name, e.g. {"bug": "Bug"}')
        try:
            overlap = int(s.get("overlap_minutes", DEFAULT_OVERLAP_MINUTES))
            page_size = int(s.get("page_size", 100))
        except (TypeError, ValueError):
            raise ConfigurationError("settings.overlap_minutes and settings.page_size are whole numbers") from None
        if overlap < 0 or not 1 <= page_size <= 100:
            raise ConfigurationError("settings.overlap_minutes is ≥ 0 and settings.page_size is 1…100")
        for key in ("kr_label_pattern", "severity_label_pattern"):
            if s.get(key):
                try:
                    re.compile(str(s[key]))
                except re.error as exc:
                    raise ConfigurationError(f"settings.{key} is not a valid regular expression: {exc}") from None
        default_service = project.rstrip("/").rsplit("/", 1)[-1]
        return cls(
            project=project,
            service=str(s.get("service") or default_service),
            environments=envs,
            production_environments=prod,
            incident_label=str(s.get("incident_label", "incident") or ""),
            type_labels={str(k): str(v) for k, v in type_labels.items()},
            overlap_minutes=overlap,
            page_size=page_size,
            issues=bool(s.get("issues", True)),
            changes=bool(s.get("changes", s.get("pull_requests", s.get("merge_requests", True)))),
            deployments=bool(s.get("deployments", True)),
            deployment_commits=bool(s.get("deployment_commits", True)),
            kr_pattern=str(s.get("kr_label_pattern") or DEFAULT_KR_PATTERN),
            severity_pattern=str(s.get("severity_label_pattern") or DEFAULT_SEVERITY_PATTERN),
        )

    def environment_name(self, name: str) -> str:
        """``"production"`` for the environments that count as production for DORA, else the name itself."""
        folded = name.casefold()
        return "production" if any(folded == p.casefold() for p in self.production_environments) else name

    def is_incident(self, labels: Iterable[str]) -> bool:
        wanted = self.incident_label.casefold()
        return bool(wanted) and any(label.casefold() == wanted for label in labels)

    def type_from_labels(self, labels: Iterable[str], default: str = "Issue") -> str:
        folded = {label.casefold() for label in labels}
        for label, type_name in self.type_labels.items():
            if label.casefold() in folded:
                return type_name
        return default

    def kr_refs(self, labels: Iterable[str]) -> tuple[str, ...]:
        pattern = re.compile(self.kr_pattern)
        out: list[str] = []
        for label in labels:
            m = pattern.fullmatch(label) or pattern.search(label)
            if m:
                ref = m.group(1) if m.groups() else m.group(0)
                if ref not in out:
                    out.append(ref)
        return tuple(out)

    def severity(self, labels: Iterable[str]) -> str:
        pattern = re.compile(self.severity_pattern)
        for label in labels:
            m = pattern.search(label)
            if m:
                return (m.group(1) if m.groups() else m.group(0))[:32]
        return ""


@dataclass
class FetchResult:
    """What a GitHub or GitLab fetch read: records for :func:`imports.import_records` and
    :func:`delivery.import_delivery`, the unreadable items (by name), and what the requests cost."""

    records: list[WorkRecord] = field(default_factory=list)
    changes: list[ChangeRecord] = field(default_factory=list)
    deployments: list[DeploymentRecord] = field(default_factory=list)
    incidents: list[IncidentRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    max_updated: datetime | None = None
    requests: int = 0
    not_modified: int = 0
    waited_seconds: float = 0.0

    def saw(self, updated: datetime | None) -> None:
        if updated is not None and (self.max_updated is None or updated > self.max_updated):
            self.max_updated = updated


@dataclass(frozen=True)
class LabelEvent:
    at: datetime
    label: str
    added: bool
    author: str = ""


@dataclass(frozen=True)
class StateEvent:
    at: datetime
    state: str  # the source's state after the event: "open"/"closed" (GitHub), "opened"/"closed" (GitLab)
    author: str = ""


def build_history(
    *,
    created: datetime,
    creator: str,
    opened: str,
    current_state: str,
    closed_at: datetime | None,
    states: Iterable[StateEvent],
) -> tuple[StatusChangeRecord, ...]:
    """Opened at creation, then every state event that changes the state. An item closed without a close event
    (an old issue, a trimmed event list) gets one at ``closed_at`` so its history ends where its state is."""
    out = [StatusChangeRecord(created, opened, "", creator)]
    state = opened
    for ev in sorted(states, key=lambda e: e.at):
        if ev.state != state:
            out.append(StatusChangeRecord(ev.at, ev.state, state, ev.author))
            state = ev.state
    if current_state != state and closed_at is not None and current_state != opened:
        out.append(StatusChangeRecord(max(closed_at, out[-1].at), current_state, state, ""))
    return tuple(out)


def build_label_changes(
    current: Iterable[str], events: Iterable[LabelEvent], settings: GitSettings, *, native_type: str | None
) -> tuple[tuple[FieldChangeRecord, ...], str]:
    """Label events → ``labels`` field changes (the whole set before and after, so simultaneous events stay
    distinct) and, when a type label comes or goes, an ``issuetype`` change. Returns the changes and the type
    the item had at creation time. The set before the first event is rebuilt backwards from the current one."""
    ordered = sorted(events, key=lambda e: e.at)
    labels = set(current)
    for ev in reversed(ordered):
        (labels.discard if ev.added else labels.add)(ev.label)
    changes: list[FieldChangeRecord] = []
    first_type = native_type or settings.type_from_labels(labels)
    for ev in ordered:
        before = set(labels)
        (labels.add if ev.added else labels.discard)(ev.label)
        if labels == before:
            continue
        changes.append(FieldChangeRecord(ev.at, "labels", _joined(before), _joined(labels), ev.author))
        if native_type is None:
            t0, t1 = settings.type_from_labels(before), settings.type_from_labels(labels)
            if t0 != t1:
                changes.append(FieldChangeRecord(ev.at, "issuetype", t0, t1, ev.author))
    return tuple(changes), first_type


def _joined(labels: set[str]) -> str:
    return ", ".join(sorted(labels, key=str.casefold))


def previous_success(
    environment: str,
    before: datetime | None,
    candidates: Iterable[tuple[str, KnownDeployment]],
    exclude: str,
) -> str | None:
    """The sha of the latest successful deployment to ``environment`` that finished before ``before``."""
    best: tuple[datetime, str] | None = None
    for ext, dep in candidates:
        if ext == exclude or dep.status != "success" or dep.environment != environment:
            continue
        if dep.finished_at is None or not dep.commit_sha or (before is not None and dep.finished_at >= before):
            continue
        if best is None or dep.finished_at > best[0]:
            best = (dep.finished_at, dep.commit_sha)
    return best[1] if best else None
