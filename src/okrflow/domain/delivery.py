"""Delivery records that connectors produce for DORA: deployments, changes (pull/merge requests, commits)
and incidents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEPLOYMENT_STATUSES = ("success", "failure", "error", "in_progress", "cancelled")
CHANGE_KINDS = ("pull_request", "merge_request", "commit")


def _aware(name: str, value: datetime | None) -> list[str]:
    return [f"{name} has no time zone"] if value is not None and value.tzinfo is None else []


@dataclass(frozen=True)
class DeploymentRecord:
    external_id: str
    service: str
    environment: str  # "production" counts for DORA; anything else is kept but not counted
    status: str
    finished_at: datetime | None
    started_at: datetime | None = None
    commit_sha: str | None = None  # the deployed head
    commit_shas: tuple[str, ...] = ()  # commits new in this deployment (since the previous one)
    ref: str = ""
    url: str = ""

    def problems(self) -> list[str]:
        out = []
        if not self.external_id.strip():
            out.append("external id is empty")
        if not self.service.strip():
            out.append("service is empty")
        if self.status not in DEPLOYMENT_STATUSES:
            out.append(f"status {self.status!r} is not one of {', '.join(DEPLOYMENT_STATUSES)}")
        out += _aware("started_at", self.started_at) + _aware("finished_at", self.finished_at)
        if self.started_at and self.finished_at and self.finished_at < self.started_at:
            out.append("finished before it started")
        return out


@dataclass(frozen=True)
class ChangeRecord:
    external_id: str
    kind: str
    service: str
    created_at: datetime
    title: str = ""
    author: str = ""
    first_commit_at: datetime | None = None
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None
    commit_shas: tuple[str, ...] = ()
    url: str = ""

    def problems(self) -> list[str]:
        out = []
        if not self.external_id.strip():
            out.append("external id is empty")
        if self.kind not in CHANGE_KINDS:
            out.append(f"kind {self.kind!r} is not one of {', '.join(CHANGE_KINDS)}")
        out += _aware("created_at", self.created_at) + _aware("first_commit_at", self.first_commit_at)
        out += _aware("merged_at", self.merged_at)
        return out


@dataclass(frozen=True)
class IncidentRecord:
    external_id: str
    service: str
    started_at: datetime
    title: str = ""
    resolved_at: datetime | None = None
    severity: str = ""
    url: str = ""

    def problems(self) -> list[str]:
        out = []
        if not self.external_id.strip():
            out.append("external id is empty")
        out += _aware("started_at", self.started_at) + _aware("resolved_at", self.resolved_at)
        if self.resolved_at and self.resolved_at < self.started_at:
            out.append("resolved before it started")
        return out
