"""Flow and DORA metrics published into the KPI catalog, so a key result can bind to "flow time p85 of team
payments" or "change failure rate of service checkout".

:func:`publish` defines each metric once (version 1, ``source`` = ``okrflow …``), and when okrflow's calculation
or wording changes it writes a new version with the reason — never silently. It then computes one value per
complete local day (``days`` days back from yesterday) and upserts them with ``catalog.record_values`` (source
``computed``): publishing again changes nothing unless the data did.

- Each value describes a **trailing window** of ``WINDOW_DAYS`` (28) local days ending with the day, and is
  stamped at the end of that day (the next local midnight): the instant it is true as of.
- Flow metrics: dimension ``team`` (the team's slug; a team includes its sub-teams); a series without dimensions
  covers the whole workspace. Items of the workspace's flow level only.
- DORA metrics: dimension ``service``. Only production deployments with status ``success`` count (docs/dora.md).
- A day without the data a value needs (no item done in the window, no deployment …) gets no value: a gap,
  not a zero.
- A metric key that exists already with a source not written by okrflow belongs to a person: it is left alone
  and reported in ``skipped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor
from okrflow.domain.errors import InvalidInputError
from okrflow.metrics import flow_metrics as fm
from okrflow.metrics.flow import NO_TIME
from okrflow.services import catalog
from okrflow.services import flow as flow_service
from okrflow.services.tenancy import get_workspace
from okrflow.store.db import Database
from okrflow.store.models import Team
from okrflow.store.models_delivery import Change, Deployment, Incident
from okrflow.store.models_okr import Metric

WINDOW_DAYS = 28
DEFAULT_DAYS = 90
FLOW_SOURCE = "okrflow flow engine"
DORA_SOURCE = "okrflow DORA engine"
CALCULATION_VERSION = "okrflow-flow-1"  # bump with any change to a calculation below: it writes a new version
DORA_CALCULATION_VERSION = "okrflow-dora-1"
_DAY_S = 86_400.0
_HOUR_US = 3.6e9


@dataclass(frozen=True)
class MetricSpec:
    key: str
    name: str
    unit: str
    direction: str
    definition: str
    calculation: str
    dimensions: tuple[str, ...]
    source: str
    indicator: str = "lagging"

    def fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "definition": self.definition,
            "unit": self.unit,
            "indicator": self.indicator,
            "direction": self.direction,
            "aggregation": "last",
            "dimensions": list(self.dimensions),
            "source": self.source,
            "calculation": self.calculation,
            "freshness_warn_hours": 48.0,
            "freshness_error_hours": 168.0,
        }


_W = f"the {WINDOW_DAYS} local days ending with the day"
_FLOW_ITEMS = (
    "Items are the work items of the workspace's flow level (story unless configured) of the team and its "
    "sub-teams (no team dimension: the whole workspace). Work start = first entry into a step other than "
    "backlog; done = entry into done when the item is done now; flow time = done − work start "
    "(docs/flow-metrics.md)."
)


def _flow_calc(rule: str) -> str:
    return (
        f"{CALCULATION_VERSION}: one value per complete local day, stamped at the end of the day; {rule} "
        f"Computed by okrflow.services.flow_publish from the imported status histories."
    )


FLOW_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "flow.time.p50",
        "Flow time p50",
        "days",
        "decrease",
        "Median flow time (work start → done) of the items finished in the last four weeks. " + _FLOW_ITEMS,
        _flow_calc(f"50th percentile (linear interpolation) of the flow times, in days, of the items done in {_W}."),
        ("team",),
        FLOW_SOURCE,
    ),
    MetricSpec(
        "flow.time.p85",
        "Flow time p85",
        "days",
        "decrease",
        "85th percentile of flow time (work start → done) of the items finished in the last four weeks: 85 % "
        "of the work took at most this long. " + _FLOW_ITEMS,
        _flow_calc(f"85th percentile (linear interpolation) of the flow times, in days, of the items done in {_W}."),
        ("team",),
        FLOW_SOURCE,
    ),
    MetricSpec(
        "flow.velocity",
        "Flow velocity",
        "items/week",
        "increase",
        "Items finished per week, over the last four weeks. " + _FLOW_ITEMS,
        _flow_calc(f"number of items done in {_W}, divided by {WINDOW_DAYS / 7:g} (weeks)."),
        ("team",),
        FLOW_SOURCE,
    ),
    MetricSpec(
        "flow.efficiency",
        "Flow efficiency",
        "%",
        "increase",
        "Share of the flow time that the items finished in the last four weeks spent in active (not waiting) "
        "statuses. " + _FLOW_ITEMS,
        _flow_calc(
            f"100 × Σ active time ÷ Σ flow time of the items done in {_W} (active = time inside the item's flow "
            "window in statuses mapped as active); no value when Σ flow time is 0."
        ),
        ("team",),
        FLOW_SOURCE,
    ),
    MetricSpec(
        "flow.load",
        "Flow load",
        "items",
        "decrease",
        "Work in progress: items started and not done. " + _FLOW_ITEMS,
        _flow_calc(
            "items in progress (in a step other than backlog and done, or back in the backlog after their work "
            "start, or in an unmapped status) at the end of the day."
        ),
        ("team",),
        FLOW_SOURCE,
        indicator="leading",
    ),
    *(
        MetricSpec(
            f"flow.distribution.{t}",
            f"Flow distribution: {t}",
            "%",
            "band",
            f"Share of {t} items among the items finished in the last four weeks. " + _FLOW_ITEMS,
            _flow_calc(f"100 × items of flow type {t!r} ÷ all items done in {_W}; no value when none was done."),
            ("team",),
            FLOW_SOURCE,
        )
        for t in ("feature", "defect", "risk", "debt")
    ),
)


def _dora_calc(rule: str) -> str:
    return (
        f"{DORA_CALCULATION_VERSION}: one value per complete UTC day, stamped at the end of the day; {rule} "
        "Production deployment = status success in environment production (okrflow.metrics.dora, docs/dora.md)."
    )


DORA_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "dora.deployment_frequency",
        "Deployment frequency",
        "days/week",
        "increase",
        "How often the service ships to production: deployment days (days with at least one successful "
        "production deployment) per week, over the last four weeks.",
        _dora_calc(f"distinct deployment days in {_W}, divided by {WINDOW_DAYS / 7:g} (weeks)."),
        ("service",),
        DORA_SOURCE,
    ),
    MetricSpec(
        "dora.lead_time",
        "Lead time for changes",
        "hours",
        "decrease",
        "Median time from a change's first commit to the successful production deployment that contains it, "
        "for the changes deployed in the last four weeks.",
        _dora_calc(f"median of (deployed − first commit), in hours, of the changes first deployed in {_W}."),
        ("service",),
        DORA_SOURCE,
    ),
    MetricSpec(
        "dora.change_failure_rate",
        "Change failure rate",
        "%",
        "decrease",
        "Share of the production deployments of the last four weeks that were followed by an incident "
        "attributed to them (the incident's service's last production deployment finished before it began).",
        _dora_calc(f"100 × deployments with an attributed incident ÷ production deployments finished in {_W}."),
        ("service",),
        DORA_SOURCE,
    ),
    MetricSpec(
        "dora.recovery_time",
        "Failed deployment recovery time",
        "hours",
        "decrease",
        "Median time from the finish of the deployment an incident is attributed to until the incident was "
        "resolved, for the incidents resolved in the last four weeks.",
        _dora_calc(
            f"median of (resolved − attributed deployment finished), in hours, of the incidents resolved in {_W}."
        ),
        ("service",),
        DORA_SOURCE,
    ),
)


@dataclass
class PublishReport:
    defined: list[str] = field(default_factory=list)  # metrics created (version 1)
    revised: list[str] = field(default_factory=list)  # metrics given a new version (the calculation changed)
    skipped: list[str] = field(default_factory=list)  # keys owned by a person, left alone
    created: int = 0  # values
    updated: int = 0
    unchanged: int = 0
    series: dict[str, int] = field(default_factory=dict)  # metric key → number of dimension series
    first_day: date | None = None
    last_day: date | None = None
    dora: bool = False  # whether DORA metrics were published


def ensure_definitions(session: Session, actor: Actor, workspace_id: int, specs: Sequence[MetricSpec]) -> PublishReport:
    """Define the specs' metrics once; write a new version where okrflow's definition changed."""
    out = PublishReport()
    for spec in specs:
        m = session.scalar(select(Metric).where(Metric.workspace_id == workspace_id, Metric.key == spec.key))
        wanted = spec.fields()
        if m is None:
            name = wanted.pop("name")
            catalog.define_metric(
                session, actor, workspace_id, spec.key, name=name, reason="published by okrflow", **wanted
            )
            out.defined.append(spec.key)
            continue
        current = catalog.current_version(session, m)
        if not str(current.source or "").startswith("okrflow"):
            out.skipped.append(spec.key)
            continue
        changes = {k: v for k, v in wanted.items() if getattr(current, k) != v}
        if changes:
            catalog.revise_metric(
                session,
                actor,
                m.id,
                changes,
                reason=f"okrflow's calculation changed ({', '.join(sorted(changes))}); values from now on use it",
            )
            out.revised.append(spec.key)
    return out


def _day_range(now: datetime, tz: str, days: int) -> tuple[date, date]:
    if days < 1:
        raise InvalidInputError("publish at least one day", field="days")
    today = now.astimezone(ZoneInfo(tz)).date()
    return today - timedelta(days=days), today - timedelta(days=1)


def _at(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def flow_points(
    base: fm.FlowBase, groups: dict[str, npt.NDArray[np.bool_]], first: date, last: date, tz: str
) -> list[catalog.ValuePoint]:
    """Daily values of the flow metrics per group (``""`` = no dimension, else a team slug → item mask)."""
    days = (last - first).days + 1
    edges = fm.day_edges(first - timedelta(days=WINDOW_DAYS - 1), last, tz)  # days + WINDOW_DAYS edges
    stamps = [_at(e) for e in edges[WINDOW_DAYS:]]
    t = base.timings
    flow = np.asarray(t["flow_seconds"].fill_null(0.0).to_numpy(), dtype=np.float64) / _DAY_S
    active = np.asarray(t["active_seconds"].fill_null(0.0).to_numpy(), dtype=np.float64) / _DAY_S
    ftype = np.asarray(t["flow_type"].cast(pl.Utf8).fill_null("unclassified").to_numpy(), dtype=object)
    started = np.asarray(t["started"].to_numpy(), dtype=np.bool_)
    finished = (base.done_us != NO_TIME) & started
    load = fm.flow_load(base, first, last, by=["team_id"], tz=tz)
    points: list[catalog.ValuePoint] = []

    def add(key: str, j: int, value: float | None, dims: dict[str, str]) -> None:
        if value is not None and np.isfinite(value):
            points.append(catalog.ValuePoint(key, stamps[j], round(float(value), 6), dims))

    team_of = np.asarray(t["team_id"].fill_null(-1).to_numpy(), dtype=np.int64)
    for slug, mask in groups.items():
        dims = {"team": slug} if slug else {}
        sel = np.flatnonzero(mask & finished)
        order = sel[np.argsort(base.done_us[sel], kind="stable")]
        done = base.done_us[order]
        f, a, ty = flow[order], active[order], ftype[order]
        pos = np.searchsorted(done, edges, side="left")
        lo, hi = pos[:days], pos[WINDOW_DAYS : WINDOW_DAYS + days]
        cf = np.concatenate(([0.0], np.cumsum(f)))
        ca = np.concatenate(([0.0], np.cumsum(a)))
        type_counts = {k: np.concatenate(([0], np.cumsum(ty == k))) for k in ("feature", "defect", "risk", "debt")}
        teams_in = set(team_of[mask].tolist())
        wip = (
            load.filter(pl.col("team_id").fill_null(-1).is_in(list(teams_in)))
            .group_by("date")
            .agg(pl.col("wip").sum())
            .sort("date")
        )
        wip_by_day = dict(zip(wip["date"].to_list(), wip["wip"].to_list(), strict=True))
        for j in range(days):  # one pass per day (a few hundred), each vectorized over that day's items
            n = int(hi[j] - lo[j])
            add("flow.velocity", j, n / (WINDOW_DAYS / 7), dims)
            add("flow.load", j, float(wip_by_day.get(first + timedelta(days=j), 0)), dims)
            if n == 0:
                continue
            p50, p85 = np.percentile(f[lo[j] : hi[j]], (50, 85))
            add("flow.time.p50", j, p50, dims)
            add("flow.time.p85", j, p85, dims)
            total = cf[hi[j]] - cf[lo[j]]
            add("flow.efficiency", j, 100 * (ca[hi[j]] - ca[lo[j]]) / total if total > 0 else None, dims)
            for k, c in type_counts.items():
                add(f"flow.distribution.{k}", j, 100 * (c[hi[j]] - c[lo[j]]) / n, dims)
    return points


def team_groups(session: Session, base: fm.FlowBase, workspace_id: int) -> dict[str, npt.NDArray[np.bool_]]:
    """``""`` → every item; each team slug → the items of the team and its sub-teams (teams with items only)."""
    team_of = np.asarray(base.timings["team_id"].fill_null(-1).to_numpy(), dtype=np.int64)
    groups: dict[str, npt.NDArray[np.bool_]] = {"": np.ones(len(team_of), dtype=np.bool_)}
    for team in session.scalars(select(Team).where(Team.workspace_id == workspace_id).order_by(Team.slug)):
        ids = flow_service.team_subtree(session, workspace_id, [team.id])
        mask = np.isin(team_of, np.fromiter(ids, dtype=np.int64, count=len(ids)))
        if mask.any():
            groups[team.slug] = mask
    return groups


# ------------------------------------------------------------------------------------------------ DORA


def delivery_frames(session: Session, workspace_id: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The workspace's deployments, changes and incidents as ``metrics.dora`` input frames (ids are
    ``<source id>:<external id>`` so two sources never collide)."""
    from okrflow.metrics import dora

    deps = [
        {
            "deployment_id": f"{r.source_id}:{r.external_id}",
            "service": r.service,
            "environment": r.environment,
            "status": r.status,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "commit_sha": r.commit_sha,
            "commit_shas": list(r.commit_shas or []),
        }
        for r in session.scalars(select(Deployment).where(Deployment.workspace_id == workspace_id))
    ]
    changes = [
        {
            "change_id": f"{r.source_id}:{r.external_id}",
            "service": r.service,
            "author": r.author,
            "created_at": r.created_at,
            "first_commit_at": r.first_commit_at,
            "merged_at": r.merged_at,
            "merge_commit_sha": r.merge_commit_sha,
            "commit_shas": list(r.commit_shas or []),
        }
        for r in session.scalars(select(Change).where(Change.workspace_id == workspace_id))
    ]
    incidents = [
        {
            "incident_id": f"{r.source_id}:{r.external_id}",
            "service": r.service,
            "started_at": r.started_at,
            "resolved_at": r.resolved_at,
        }
        for r in session.scalars(select(Incident).where(Incident.workspace_id == workspace_id))
    ]

    def frame(rows: list[dict[str, Any]], columns: dict[str, pl.DataType]) -> pl.DataFrame:
        return pl.DataFrame(rows, schema=columns, orient="row") if rows else pl.DataFrame(schema=columns)

    return (
        frame(deps, dict(dora.DEPLOYMENT_COLUMNS)),
        frame(changes, dict(dora.CHANGE_COLUMNS)),
        frame(incidents, dict(dora.INCIDENT_COLUMNS)),
    )


def dora_points(session: Session, workspace_id: int, first: date, last: date) -> list[catalog.ValuePoint]:
    """Daily values of the DORA metrics per service, from ``metrics.dora`` over trailing UTC windows."""
    from okrflow.metrics import dora

    deps, changes, incidents = delivery_frames(session, workspace_id)
    if deps.is_empty():
        return []
    days = (last - first).days + 1
    edges = fm.day_edges(first - timedelta(days=WINDOW_DAYS - 1), last, "UTC")
    periods = [dora.Period(str(j), _at(edges[j]), _at(edges[j + WINDOW_DAYS])) for j in range(days)]
    stamp = {str(j): _at(edges[j + WINDOW_DAYS]) for j in range(days)}
    weeks = WINDOW_DAYS / 7
    hours = 1 / _HOUR_US

    def duration_hours(col: str) -> pl.Expr:
        return pl.col(col).dt.total_microseconds().cast(pl.Float64) * hours

    frames: list[tuple[str, pl.DataFrame]] = [
        (
            "dora.deployment_frequency",
            dora.deployment_frequency(deps, periods).select(
                "service", "period", (pl.col("deployment_days") / weeks).alias("value")
            ),
        ),
        (
            "dora.lead_time",
            dora.lead_time_for_changes(dora.change_lead_times(changes, deps), periods).select(
                "service", "period", duration_hours("median_lead_time").alias("value")
            ),
        ),
        (
            "dora.change_failure_rate",
            dora.change_failure_rate(deps, incidents, periods).select(
                "service", "period", (pl.col("change_failure_rate") * 100).alias("value")
            ),
        ),
        (
            "dora.recovery_time",
            dora.failed_deployment_recovery_time(incidents, deps, periods).select(
                "service", "period", duration_hours("median_recovery_time").alias("value")
            ),
        ),
    ]
    points = []
    for key, frame in frames:
        for service, period, value in frame.drop_nulls(["service", "value"]).iter_rows():
            points.append(catalog.ValuePoint(key, stamp[period], round(float(value), 6), {"service": str(service)}))
    return points


# ------------------------------------------------------------------------------------------------ publish


def publish(
    db: Database,
    actor: Actor,
    workspace_id: int,
    now: datetime | None = None,
    *,
    days: int = DEFAULT_DAYS,
    tz: str = "UTC",
    dora: bool = True,
) -> PublishReport:
    """Define the flow (and DORA) catalog metrics where needed and record their daily values for the ``days``
    complete local days before ``now`` (one transaction). Needs the contributor role for the workspace."""
    at = now.astimezone(UTC) if now is not None else datetime.now(UTC)
    first, last = _day_range(at, tz, days)
    specs: list[MetricSpec] = [*FLOW_SPECS, *(DORA_SPECS if dora else ())]
    with db.write() as s:
        get_workspace(s, actor, workspace_id)
        report = ensure_definitions(s, actor, workspace_id, specs)
        scope = flow_service.resolve_scope(s, workspace_id)
        base, _n = flow_service.CACHE.base(s, scope, flow_service.input_version(s, workspace_id), at)
        points = flow_points(base, team_groups(s, base, workspace_id), first, last, tz)
        if dora:
            points += dora_points(s, workspace_id, first, last)
            report.dora = True
        points = [p for p in points if p.metric_key not in report.skipped]
        by_key: dict[str, list[catalog.ValuePoint]] = {}
        for p in points:
            by_key.setdefault(p.metric_key, []).append(p)
        for _key, batch in sorted(by_key.items()):  # one call (and audit entry) per metric
            ingest = catalog.record_values(s, actor, workspace_id, batch, source="computed")
            report.created += ingest.created
            report.updated += ingest.updated
            report.unchanged += ingest.unchanged
        series: dict[str, set[str]] = {}
        for p in points:
            series.setdefault(p.metric_key, set()).add(catalog.dimension_key(p.dimensions))
        report.series = {k: len(v) for k, v in sorted(series.items())}
        report.first_day, report.last_day = first, last
    return report


__all__ = [
    "DORA_SPECS",
    "FLOW_SPECS",
    "WINDOW_DAYS",
    "MetricSpec",
    "PublishReport",
    "delivery_frames",
    "dora_points",
    "ensure_definitions",
    "flow_points",
    "publish",
]
