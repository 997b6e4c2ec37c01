"""DORA use cases: the four metrics and their 2023 levels for a workspace, per service, over a window of local
days, with weekly trend series (what the API, CLI and pages ask for; definitions in docs/dora.md).

- Inputs: the workspace's deployments, changes and incidents (``store.models_delivery``) as ``metrics.dora``
  frames; ids are ``<source id>:<external id>`` so two sources never collide.
- **Team** of a row: the row's own team, else the team of the source it came from. ``team_id`` filters to a
  team and its sub-teams (as the flow filters do).
- **Window**: ``since`` … ``until`` (local days in ``tz``, inclusive), default the last ``DEFAULT_DAYS`` days up
  to today; at most ``MAX_DAYS`` days.
- **Trend**: the same report per ISO week (Monday start) meeting the window; edge weeks count only their days
  inside the window.
- Durations are reported in hours (floats); a rate is a fraction in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor
from okrflow.domain.errors import InvalidInputError, NotFoundError
from okrflow.metrics import dora as dm
from okrflow.services.tenancy import get_workspace
from okrflow.store.models import Team
from okrflow.store.models_delivery import Change, Deployment, Incident
from okrflow.store.models_work import Source

DEFAULT_DAYS = 90
MAX_DAYS = 3 * 366  # weekly trends over more than three years are not a dashboard any more
_US_PER_HOUR = 3.6e9
DURATIONS = ("median_lead_time", "p85_lead_time", "median_recovery_time", "median_time_to_restore")
METRICS = ("deployment_frequency", "lead_time", "change_failure_rate", "recovery_time")


@dataclass(frozen=True)
class DoraReport:
    since: date
    until: date
    tz: str
    services: pl.DataFrame  # one row per service over the window (columns: see ``COLUMNS``)
    weekly: pl.DataFrame  # week_start + the same columns, one row per service and ISO week
    team_id: int | None
    service_filter: tuple[str, ...]
    deployments: int  # production deployments in scope (all time)


COLUMNS = (
    "service",
    "deployments",
    "deployment_days",
    "weeks",
    "median_days_per_week",
    "median_days_per_month",
    "deployments_per_week",
    "deployment_frequency_level",
    "changes",
    "median_lead_time_hours",
    "p85_lead_time_hours",
    "lead_time_level",
    "failed_deployments",
    "change_failure_rate",
    "change_failure_rate_level",
    "incidents",
    "median_recovery_time_hours",
    "median_time_to_restore_hours",
    "recovery_time_level",
)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(f"unknown time zone {tz!r}", field="tz") from None


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def window(since: date | None, until: date | None, now: datetime, tz: str) -> tuple[date, date]:
    today = now.astimezone(_zone(tz)).date()
    until = until or today
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if until < since:
        raise InvalidInputError("until is before since", field="until")
    if (until - since).days + 1 > MAX_DAYS:
        raise InvalidInputError(f"the window is at most {MAX_DAYS} days", field="since")
    return since, until


def frames(
    session: Session, workspace_id: int, *, team_ids: set[int] | None = None, services: Sequence[str] = ()
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The workspace's deployments, changes and incidents as ``metrics.dora`` frames, each with ``team_id``
    (the row's, else its source's), filtered to ``team_ids`` and ``services`` when given."""
    source_team: dict[int, int | None] = {
        sid: team
        for sid, team in session.execute(select(Source.id, Source.team_id).where(Source.workspace_id == workspace_id))
    }
    wanted = {s.strip().lower() for s in services if s.strip()}

    def keep(service: str, team: int | None) -> bool:
        if wanted and service.lower() not in wanted:
            return False
        return team_ids is None or team in team_ids

    deps, changes, incidents = [], [], []
    for r in session.scalars(select(Deployment).where(Deployment.workspace_id == workspace_id)):
        team = r.team_id or source_team.get(r.source_id)
        if keep(r.service, team):
            deps.append(
                {
                    "deployment_id": f"{r.source_id}:{r.external_id}",
                    "service": r.service,
                    "environment": r.environment,
                    "status": r.status,
                    "started_at": _aware(r.started_at),
                    "finished_at": _aware(r.finished_at),
                    "commit_sha": r.commit_sha,
                    "commit_shas": list(r.commit_shas or []),
                    "team_id": team,
                }
            )
    for c in session.scalars(select(Change).where(Change.workspace_id == workspace_id)):
        team = c.team_id or source_team.get(c.source_id)
        if keep(c.service, team):
            changes.append(
                {
                    "change_id": f"{c.source_id}:{c.external_id}",
                    "service": c.service,
                    "author": c.author,
                    "created_at": _aware(c.created_at),
                    "first_commit_at": _aware(c.first_commit_at),
                    "merged_at": _aware(c.merged_at),
                    "merge_commit_sha": c.merge_commit_sha,
                    "commit_shas": list(c.commit_shas or []),
                    "team_id": team,
                }
            )
    for i in session.scalars(select(Incident).where(Incident.workspace_id == workspace_id)):
        team = i.team_id or source_team.get(i.source_id)
        if keep(i.service, team):
            incidents.append(
                {
                    "incident_id": f"{i.source_id}:{i.external_id}",
                    "service": i.service,
                    "started_at": _aware(i.started_at),
                    "resolved_at": _aware(i.resolved_at),
                    "team_id": team,
                }
            )

    def frame(rows: list[dict[str, Any]], columns: dict[str, pl.DataType]) -> pl.DataFrame:
        schema = {**columns, "team_id": pl.Int64()}
        return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)

    return (
        frame(deps, dict(dm.DEPLOYMENT_COLUMNS)),
        frame(changes, dict(dm.CHANGE_COLUMNS)),
        frame(incidents, dict(dm.INCIDENT_COLUMNS)),
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _tidy(frame: pl.DataFrame) -> pl.DataFrame:
    """Durations → hours; the columns of :data:`COLUMNS` (plus ``period``) in order."""
    hours = [
        (pl.col(c).dt.total_microseconds().cast(pl.Float64) / _US_PER_HOUR).alias(f"{c}_hours")
        for c in DURATIONS
        if c in frame.columns
    ]
    return frame.with_columns(hours).select("period", *COLUMNS)


def report(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    services: Sequence[str] = (),
    team_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
    tz: str = "UTC",
) -> DoraReport:
    """The four DORA metrics and their 2023 levels per service over the window, and per ISO week."""
    get_workspace(session, actor, workspace_id)
    now = now.astimezone(UTC) if now is not None else datetime.now(UTC)
    zone = _zone(tz)
    s, u = window(since, until, now, tz)
    team_ids: set[int] | None = None
    if team_id is not None:
        from okrflow.services.flow import team_subtree

        team = session.get(Team, team_id)
        if team is None or team.workspace_id != workspace_id:
            raise NotFoundError(f"team {team_id} does not exist")
        team_ids = team_subtree(session, workspace_id, [team_id])
    deps, changes, incidents = frames(session, workspace_id, team_ids=team_ids, services=services)
    deps, changes, incidents = (f.drop("team_id") for f in (deps, changes, incidents))
    start, end = _midnight(s, zone), _midnight(u + timedelta(days=1), zone)
    whole = [dm.Period("window", start, end)]
    weeks: list[dm.Period] = []
    monday = s - timedelta(days=s.weekday())
    while monday <= u:
        a, b = max(monday, s), min(monday + timedelta(days=6), u)
        weeks.append(dm.Period(monday.isoformat(), _midnight(a, zone), _midnight(b + timedelta(days=1), zone)))
        monday += timedelta(days=7)
    summary = _tidy(dm.dora_report(deps, changes, incidents, whole, tz=tz)).drop("period")
    weekly = (
        _tidy(dm.dora_report(deps, changes, incidents, weeks, tz=tz))
        .with_columns(pl.col("period").str.to_date().alias("week_start"))
        .drop("period")
        .select("week_start", *COLUMNS)
        .sort("service", "week_start", nulls_last=True)
    )
    production = dm.production_deployments(deps).height if deps.height else 0
    return DoraReport(
        since=s,
        until=u,
        tz=tz,
        services=summary.filter(pl.col("service").is_not_null()).sort("service"),
        weekly=weekly.filter(pl.col("service").is_not_null()),
        team_id=team_id,
        service_filter=tuple(services),
        deployments=production,
    )


__all__ = ["COLUMNS", "DEFAULT_DAYS", "MAX_DAYS", "METRICS", "DoraReport", "frames", "report", "window"]
