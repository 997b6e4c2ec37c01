"""Flow metrics, Kanban charts, the value-stream map, Monte Carlo forecasts and DORA: every metric and chart
series as JSON, and the series as CSV (``?format=csv`` or ``Accept: text/csv``; ``series=`` picks one when a
result has several).

Filters (all optional): ``team_id`` (repeatable; a team includes its sub-teams), ``source_id`` (repeatable),
``flow_type`` (repeatable), ``all_levels``; the window ``since``/``until`` (local days in ``tz``, inclusive) or
``period_id``, default the last 90 days. Dates are 1970-01-01 … 2200-12-31 and a window is at most
``MAX_WINDOW_DAYS`` days, so no request can ask for an unbounded computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, get_args

import polars as pl
from fastapi import APIRouter, Depends, Query, Request

from okrflow.api import tabular
from okrflow.api.deps import MAX_ID, CurrentActor, PathId, ReadSession
from okrflow.api.schemas_work import (
    AgingRead,
    CfdRead,
    DoraRead,
    FlowReportRead,
    FlowTimeRead,
    ForecastRead,
    ScatterRead,
    ThroughputRead,
    ValueStreamCompareRead,
    ValueStreamRead,
    WindowRead,
)
from okrflow.domain.errors import InvalidInputError
from okrflow.domain.work import FlowItemType
from okrflow.metrics import value_stream as vs
from okrflow.services import dora, flow

router = APIRouter(tags=["flow"])

MAX_WINDOW_DAYS = 5 * 366
MAX_FORECAST_DAYS = 10 * 366
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2200, 12, 31)
Day = Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY, description="A local day, YYYY-MM-DD")]
Ids = Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]], Query(max_length=50)]
FlowTypeName = Literal["feature", "defect", "risk", "debt"]
assert set(get_args(FlowTypeName)) == {t.value for t in FlowItemType}
Tz = Annotated[str, Query(min_length=1, max_length=64, description="IANA time zone of the days")]


@dataclass(frozen=True)
class FlowQuery:
    teams: list[int]
    sources: list[int]
    flow_types: list[str]
    all_levels: bool
    since: date | None
    until: date | None
    period_id: int | None
    tz: str

    def kwargs(self) -> dict[str, Any]:
        return {
            "teams": self.teams,
            "sources": self.sources,
            "flow_types": self.flow_types,
            "all_levels": self.all_levels,
            "since": self.since,
            "until": self.until,
            "period_id": self.period_id,
            "tz": self.tz,
        }


def _check_window(since: date | None, until: date | None, name: str = "since") -> None:
    end = until or datetime.now(UTC).date()
    if since is not None and (end - since).days + 1 > MAX_WINDOW_DAYS:
        raise InvalidInputError(f"a window is at most {MAX_WINDOW_DAYS} days", field=name)


def flow_query(
    team_id: Annotated[Ids | None, Query(description="Team id (repeatable); includes sub-teams")] = None,
    source_id: Annotated[Ids | None, Query(description="Source id (repeatable)")] = None,
    flow_type: Annotated[list[FlowTypeName] | None, Query(max_length=4)] = None,
    all_levels: Annotated[bool, Query(description="Every level instead of the workspace's flow level")] = False,
    since: Day = None,
    until: Day = None,
    period_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    tz: Tz = "UTC",
) -> FlowQuery:
    _check_window(since, until)
    return FlowQuery(
        list(team_id or []), list(source_id or []), list(flow_type or []), all_levels, since, until, period_id, tz
    )


Filters = Annotated[FlowQuery, Depends(flow_query)]


def _window(ctx: flow.Context) -> WindowRead:
    return WindowRead(
        since=ctx.since,
        until=ctx.until,
        tz=ctx.tz,
        as_of=ctx.as_of,
        items=ctx.items,
        teams=list(ctx.scope.teams),
        flow_types=list(ctx.scope.flow_types) if ctx.scope.flow_types else None,
        level=ctx.scope.level,
    )


def _pct(values: dict[int, Any]) -> dict[str, Any]:
    return {f"p{k}": tabular.cell(v) for k, v in sorted(values.items())}


def _pick(series: str | None, options: dict[str, pl.DataFrame], default: str) -> tuple[str, pl.DataFrame]:
    name = series or default
    if name not in options:
        raise InvalidInputError(f"series is one of {', '.join(options)}", field="series")
    return name, options[name]


Series = Annotated[str | None, Query(max_length=40, description="Which series the CSV holds")]


@router.get(
    "/workspaces/{workspace_id}/flow/report",
    response_model=FlowReportRead,
    responses=tabular.CSV_RESPONSE,
    summary="Flow velocity, time, efficiency, load, distribution and predictability, with weekly trends. "
    "CSV: series=weekly (default) | daily_load | distribution | weekly_distribution",
)
def flow_report(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    filters: Filters,
    format: tabular.Format = None,
    series: Series = None,
) -> Any:
    r = flow.report(session, actor, workspace_id, **filters.kwargs())
    frames = {
        "weekly": r.weekly,
        "daily_load": r.daily_load,
        "distribution": r.distribution,
        "weekly_distribution": r.weekly_distribution,
    }
    if tabular.wants_csv(request, format):
        name, frame = _pick(series, frames, "weekly")
        return tabular.frame_csv(frame, f"flow-{name}.csv")
    ft = r.flow_time
    return FlowReportRead(
        window=_window(r.context),
        velocity=r.velocity,
        velocity_per_week=tabular.cell(r.velocity_per_week),
        flow_time=FlowTimeRead(
            items=ft.items,
            mean_days=tabular.cell(ft.mean_days),
            p50_days=tabular.cell(ft.p50_days),
            p85_days=tabular.cell(ft.p85_days),
            p95_days=tabular.cell(ft.p95_days),
        ),
        efficiency=tabular.cell(r.efficiency),
        median_item_efficiency=tabular.cell(r.median_item_efficiency),
        load_now=r.load_now,
        load_mean=tabular.cell(r.load_mean),
        distribution=tabular.rows(r.distribution),
        committed=r.committed,
        delivered=r.delivered,
        predictability=tabular.cell(r.predictability),
        weekly=tabular.rows(r.weekly),
        weekly_distribution=tabular.rows(r.weekly_distribution),
        daily_load=tabular.rows(r.daily_load),
    )


@router.get(
    "/workspaces/{workspace_id}/flow/cfd",
    response_model=CfdRead,
    responses=tabular.CSV_RESPONSE,
    summary="Cumulative flow: per local day and step, items there at the end of the day and the cumulative line",
)
def flow_cfd(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    filters: Filters,
    format: tabular.Format = None,
) -> Any:
    r = flow.cfd(session, actor, workspace_id, **filters.kwargs())
    if tabular.wants_csv(request, format):
        return tabular.frame_csv(r.frame, "flow-cfd.csv")
    return CfdRead(window=_window(r.context), series=tabular.rows(r.frame))


@router.get(
    "/workspaces/{workspace_id}/flow/throughput",
    response_model=ThroughputRead,
    responses=tabular.CSV_RESPONSE,
    summary="Items done per local day (zero-filled) and per ISO week. CSV: series=daily (default) | weekly",
)
def flow_throughput(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    filters: Filters,
    format: tabular.Format = None,
    series: Series = None,
) -> Any:
    r = flow.throughput(session, actor, workspace_id, **filters.kwargs())
    if tabular.wants_csv(request, format):
        name, frame = _pick(series, {"daily": r.daily, "weekly": r.weekly}, "daily")
        return tabular.frame_csv(frame, f"flow-throughput-{name}.csv")
    return ThroughputRead(
        window=_window(r.context),
        total=r.total,
        mean_per_day=tabular.cell(r.mean_per_day),
        daily=tabular.rows(r.daily),
        weekly=tabular.rows(r.weekly),
    )


@router.get(
    "/workspaces/{workspace_id}/flow/scatter",
    response_model=ScatterRead,
    responses=tabular.CSV_RESPONSE,
    summary="Cycle-time scatter: each item done in the window with its flow time (days) and the p50/p85/p95 lines",
)
def flow_scatter(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    filters: Filters,
    format: tabular.Format = None,
) -> Any:
    r = flow.scatter(session, actor, workspace_id, **filters.kwargs())
    if tabular.wants_csv(request, format):
        return tabular.frame_csv(r.points, "flow-scatter.csv")
    return ScatterRead(window=_window(r.context), percentiles=_pct(r.percentiles), points=tabular.rows(r.points))


@router.get(
    "/workspaces/{workspace_id}/flow/aging",
    response_model=AgingRead,
    responses=tabular.CSV_RESPONSE,
    summary="Aging work in progress now (buckets 0–30/30–60/60–90/>90 days). CSV: series=items (default) | "
    "by_step | by_age",
)
def flow_aging(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    filters: Filters,
    format: tabular.Format = None,
    series: Series = None,
) -> Any:
    r = flow.aging(session, actor, workspace_id, **filters.kwargs())
    if tabular.wants_csv(request, format):
        name, frame = _pick(series, {"items": r.items, "by_step": r.by_step, "by_age": r.by_age}, "items")
        return tabular.frame_csv(frame, f"flow-aging-{name}.csv")
    return AgingRead(
        window=_window(r.context),
        percentiles=_pct(r.percentiles),
        waste=r.waste,
        items=tabular.rows(r.items),
        by_step=tabular.rows(r.by_step),
        by_age=tabular.rows(r.by_age),
    )


def _vs_map(m: vs.ValueStreamMap, window: WindowRead) -> ValueStreamRead:
    return ValueStreamRead(
        window=window,
        bottleneck=m.bottleneck,
        items_in_window=m.items_in_window,
        steps=tabular.rows(m.steps),
        stages=tabular.rows(m.stages),
    )


@router.get(
    "/workspaces/{workspace_id}/flow/value-stream",
    response_model=ValueStreamRead | ValueStreamCompareRead,
    responses=tabular.CSV_RESPONSE,
    summary="The value-stream map (per step time, waiting, rework; per stage efficiency; the bottleneck). With "
    "compare_since/compare_until: that period (a) against the window (b). CSV: series=steps (default) | stages",
)
def flow_value_stream(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    filters: Filters,
    compare_since: Day = None,
    compare_until: Day = None,
    format: tabular.Format = None,
    series: Series = None,
) -> Any:
    csv = tabular.wants_csv(request, format)
    if compare_since is None and compare_until is None:
        r = flow.value_stream(session, actor, workspace_id, **filters.kwargs())
        if csv:
            name, frame = _pick(series, {"steps": r.map.steps, "stages": r.map.stages}, "steps")
            return tabular.frame_csv(frame, f"value-stream-{name}.csv")
        return _vs_map(r.map, _window(r.context))
    if compare_since is None or compare_until is None:
        raise InvalidInputError("give both compare_since and compare_until", field="compare_since")
    _check_window(compare_since, compare_until, "compare_since")
    if filters.period_id is not None:
        raise InvalidInputError("compare periods with since/until, not period_id", field="period_id")
    today = datetime.now(UTC).date()
    until = filters.until or today
    since = filters.since or until - timedelta(days=flow.DEFAULT_DAYS - 1)
    args = filters.kwargs()
    for k in ("since", "until", "period_id"):
        args.pop(k)
    c = flow.compare_periods(session, actor, workspace_id, (compare_since, compare_until), (since, until), **args)
    if csv:
        name, frame = _pick(series, {"steps": c.comparison.steps, "stages": c.comparison.stages}, "steps")
        return tabular.frame_csv(frame, f"value-stream-compare-{name}.csv")
    window = _window(c.context)
    return ValueStreamCompareRead(
        window=window,
        a=_vs_map(c.a, window.model_copy(update={"since": compare_since, "until": compare_until})),
        b=_vs_map(c.b, window.model_copy(update={"since": since, "until": until})),
        steps=tabular.rows(c.comparison.steps),
        stages=tabular.rows(c.comparison.stages),
    )


@router.get(
    "/workspaces/{workspace_id}/flow/forecast",
    response_model=ForecastRead,
    responses=tabular.CSV_RESPONSE,
    summary="Monte Carlo: ?items=N (when will N more items be done) or ?by=DATE (how many by then), bootstrapping "
    "daily throughput of the history window (window_days before today, or since/until). CSV: the histogram",
)
def flow_forecast(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    filters: Filters,
    items: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    by: Day = None,
    window_days: Annotated[int, Query(ge=1, le=MAX_WINDOW_DAYS)] = flow.FORECAST_WINDOW_DAYS,
    trials: Annotated[int, Query(ge=100, le=100_000)] = 10_000,
    seed: Annotated[int | None, Query(ge=0, le=2**32 - 1)] = None,
    format: tabular.Format = None,
) -> Any:
    if (items is None) == (by is None):
        raise InvalidInputError("give either items=N or by=YYYY-MM-DD", field="items")
    if filters.period_id is not None:
        raise InvalidInputError("the history window is since/until or window_days, not period_id", field="period_id")
    args = filters.kwargs()
    args.pop("period_id")
    common = {**args, "window_days": window_days, "trials": trials, "seed": seed}
    if by is not None:
        if (by - datetime.now(UTC).date()).days > MAX_FORECAST_DAYS:
            raise InvalidInputError(f"forecast at most {MAX_FORECAST_DAYS} days ahead", field="by")
        r = flow.forecast_how_many(session, actor, workspace_id, by, **common)
    else:
        assert items is not None
        r = flow.forecast_when(session, actor, workspace_id, items, **common)
    fc = r.forecast
    if tabular.wants_csv(request, format):
        return tabular.frame_csv(fc.histogram, f"forecast-{fc.kind}.csv")
    return ForecastRead(
        window=_window(r.context),
        kind=fc.kind,  # type: ignore[arg-type]
        start=r.start,
        target_date=r.target_date,
        target_items=r.target_items,
        trials=fc.trials,
        seed=fc.seed,
        history_days=r.history_days,
        history_items=r.history_items,
        mean_per_day=tabular.cell(r.mean_per_day),
        answers={f"p{k}": v for k, v in sorted(fc.answers.items())},
        dates={f"p{k}": v for k, v in sorted(fc.dates.items())},
        unfinished=fc.unfinished,
        histogram=tabular.rows(fc.histogram),
        warnings=r.warnings,
    )


@router.get(
    "/workspaces/{workspace_id}/dora",
    response_model=DoraRead,
    responses=tabular.CSV_RESPONSE,
    summary="DORA: deployment frequency, lead time for changes, change failure rate, failed deployment recovery "
    "time and their 2023 levels, per service, with weekly trends. CSV: series=services (default) | weekly",
)
def dora_report(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    service: Annotated[list[Annotated[str, Query(max_length=200)]] | None, Query(max_length=50)] = None,
    team_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: Day = None,
    until: Day = None,
    tz: Tz = "UTC",
    format: tabular.Format = None,
    series: Series = None,
) -> Any:
    r = dora.report(
        session, actor, workspace_id, services=service or (), team_id=team_id, since=since, until=until, tz=tz
    )
    if tabular.wants_csv(request, format):
        name, frame = _pick(series, {"services": r.services, "weekly": r.weekly}, "services")
        return tabular.frame_csv(frame, f"dora-{name}.csv")
    return DoraRead(
        since=r.since,
        until=r.until,
        tz=r.tz,
        team_id=r.team_id,
        services=tabular.rows(r.services),
        weekly=tabular.rows(r.weekly),
    )
