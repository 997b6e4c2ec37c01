"""Flow use cases: what the API, the CLI and the web pages ask of the flow engine, one function per need.

Every function takes a session, the actor, the workspace and the same filters, checks that the actor may read
the workspace (an outsider gets "does not exist"), and returns plain results — dataclasses holding Polars
frames — with a :class:`Context` that says what was computed (window, filters, ``as_of``).

Filters (all optional, combined with AND):

- ``teams``: team ids or slugs; **a team includes its sub-teams** (items of ``product-eng`` and all teams below);
- ``sources``: source ids; ``flow_types``: ``feature`` / ``defect`` / ``risk`` / ``debt``;
- ``all_levels``: count every level of the hierarchy instead of the workspace's flow level (``story`` unless
  ``settings["work"]["flow_level"]`` says ``feature``);
- the window: ``since`` … ``until`` (local days, inclusive), or ``period_id`` (an OKR period, cut at today), else
  the last ``DEFAULT_DAYS`` days up to today; ``tz`` is the IANA zone of the days (UTC by default);
- ``now``: the instant "now" (default: the clock).

**Cache.** Loading a workspace's items and status changes from the store and building the segments is the
expensive part; everything after it is a few vectorized passes. The loaded frames are cached in-process per
(workspace, filters, flow level, **input version**) in a small thread-safe LRU, and the prepared
:class:`~okrflow.metrics.flow_metrics.FlowBase` next to them is reused for calls on the same UTC day whose
``now`` lies within ``BASE_TOLERANCE`` of the base's own ``now`` (so the charts of one page share it; the
results' ``as_of`` names the instant used). The input version is read from the store on every call:
``(the database, id of the last succeeded sync run of the workspace, number of sources, sum of their row
versions, their latest update)`` — any import (work or delivery), mapping change, source edit, addition or
removal gives a new version, and entries of an older version of the workspace are dropped. It lives in the
store, so an import run by another process (the CLI while the server runs) invalidates too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor
from okrflow.domain.errors import InvalidInputError, NotFoundError
from okrflow.domain.work import FlowItemType
from okrflow.metrics import flow_metrics as fm
from okrflow.metrics import forecast as mc
from okrflow.metrics import kanban
from okrflow.metrics import value_stream as vs
from okrflow.services import flow_data
from okrflow.services.tenancy import get_workspace
from okrflow.store.models import Team
from okrflow.store.models_okr import Period
from okrflow.store.models_work import Source, SyncRun

DEFAULT_DAYS = 90  # the default window: the last 90 days up to today
FORECAST_WINDOW_DAYS = 90  # Monte Carlo history: the last 90 complete days
CACHE_SIZE = 8
BASE_TOLERANCE = timedelta(minutes=5)
FLOW_TYPES = tuple(t.value for t in FlowItemType)

TeamRef = int | str


# ------------------------------------------------------------------------------------------------ scope, window


@dataclass(frozen=True)
class Scope:
    """The resolved filters: ``None`` means "no filter on this field"."""

    workspace_id: int
    level: str | None  # the flow level, or None for all levels
    team_ids: tuple[int, ...] | None  # the requested teams and their sub-teams
    source_ids: tuple[int, ...] | None
    flow_types: tuple[str, ...] | None
    teams: tuple[str, ...] = ()  # slugs of the requested teams (for display)


@dataclass(frozen=True)
class Context:
    """What a result was computed over."""

    scope: Scope
    since: date
    until: date
    tz: str
    as_of: datetime  # the "now" of the prepared base
    items: int  # items in scope (all states)
    input_version: tuple[Any, ...]


def _zone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(f"unknown time zone {tz!r}", field="tz") from None
    return tz


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise InvalidInputError("now must be time-zone aware", field="now")
    return now.astimezone(UTC)


def _today(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def _window(
    session: Session,
    workspace_id: int,
    *,
    since: date | None,
    until: date | None,
    period_id: int | None,
    now: datetime,
    tz: str,
    default_days: int = DEFAULT_DAYS,
) -> tuple[date, date]:
    today = _today(now, tz)
    if period_id is not None:
        if since is not None or until is not None:
            raise InvalidInputError("give a period or since/until, not both", field="period")
        period = session.get(Period, period_id)
        if period is None or period.workspace_id != workspace_id:
            raise NotFoundError(f"period {period_id} does not exist")
        since, until = period.start_date, min(period.end_date, today)
    until = until or today
    since = since or until - timedelta(days=default_days - 1)
    if until < since:
        raise InvalidInputError("until is before since", field="until")
    return since, until


def team_subtree(session: Session, workspace_id: int, team_ids: Sequence[int]) -> set[int]:
    """The teams and all teams below them."""
    children: dict[int, list[int]] = {}
    for tid, parent in session.execute(select(Team.id, Team.parent_id).where(Team.workspace_id == workspace_id)):
        if parent is not None:
            children.setdefault(parent, []).append(tid)
    out: set[int] = set()
    todo = list(team_ids)
    while todo:
        t = todo.pop()
        if t not in out:
            out.add(t)
            todo.extend(children.get(t, ()))
    return out


def resolve_scope(
    session: Session,
    workspace_id: int,
    *,
    teams: Sequence[TeamRef] = (),
    sources: Sequence[int] = (),
    flow_types: Sequence[str] = (),
    all_levels: bool = False,
) -> Scope:
    """Check and resolve the filters (unknown team or source: not found; unknown flow type: bad input)."""
    by_id = {t.id: t for t in session.scalars(select(Team).where(Team.workspace_id == workspace_id))}
    by_slug = {t.slug: t for t in by_id.values()}
    picked: list[Team] = []
    for ref in teams:
        team = by_id.get(ref) if isinstance(ref, int) else by_slug.get(str(ref).strip())
        if team is None:
            raise NotFoundError(f"team {ref!r} does not exist")
        picked.append(team)
    team_ids = tuple(sorted(team_subtree(session, workspace_id, [t.id for t in picked]))) if picked else None
    source_ids: tuple[int, ...] | None = None
    if sources:
        known = set(session.scalars(select(Source.id).where(Source.workspace_id == workspace_id)))
        for sid in sources:
            if sid not in known:
                raise NotFoundError(f"source {sid} does not exist")
        source_ids = tuple(sorted(set(sources)))
    types: tuple[str, ...] | None = None
    if flow_types:
        bad = [t for t in flow_types if t not in FLOW_TYPES]
        if bad:
            raise InvalidInputError(f"flow type is one of {', '.join(FLOW_TYPES)}, not {bad[0]!r}", field="flow_type")
        types = tuple(sorted(set(flow_types)))
    level = None if all_levels else flow_data.flow_level(session, workspace_id)
    return Scope(workspace_id, level, team_ids, source_ids, types, tuple(t.slug for t in picked))


def input_version(session: Session, workspace_id: int) -> tuple[Any, ...]:
    """What the flow inputs of the workspace are at: changes with every import and source edit (module doc)."""
    last_run = session.scalar(
        select(func.max(SyncRun.id)).where(SyncRun.workspace_id == workspace_id, SyncRun.status == "succeeded")
    )
    count, versions, updated = session.execute(
        select(func.count(Source.id), func.sum(Source.version), func.max(Source.updated_at)).where(
            Source.workspace_id == workspace_id
        )
    ).one()
    database = session.get_bind().engine.url.render_as_string(hide_password=True)  # two stores never share an entry
    return (database, last_run or 0, int(count or 0), int(versions or 0), str(updated or ""))


# ------------------------------------------------------------------------------------------------ the cache


@dataclass
class _Entry:
    data: flow_data.WorkData
    base: fm.FlowBase | None = None


@dataclass
class CacheStats:
    loads: int = 0  # loads from the store
    hits: int = 0  # calls served from loaded frames
    prepares: int = 0  # bases built


class FlowCache:
    """An LRU of loaded frames (and the last prepared base) per (scope, input version); thread-safe."""

    def __init__(self, maxsize: int = CACHE_SIZE, tolerance: timedelta = BASE_TOLERANCE) -> None:
        self.maxsize = maxsize
        self.tolerance = tolerance
        self.stats = CacheStats()
        self._entries: OrderedDict[tuple[Scope, tuple[Any, ...]], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    def base(self, session: Session, scope: Scope, version: tuple[Any, ...], now: datetime) -> tuple[fm.FlowBase, int]:
        """The prepared base of the scope at ``now`` (within the tolerance) and the number of items."""
        key = (scope, version)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.stats.hits += 1
        if entry is None:
            data = flow_data.load(
                session,
                scope.workspace_id,
                team_ids=scope.team_ids,
                source_ids=scope.source_ids,
                flow_types=scope.flow_types,
                level=scope.level,
            )
            entry = _Entry(data)
            with self._lock:
                self.stats.loads += 1
                stale = [k for k in self._entries if k[0].workspace_id == scope.workspace_id and k[1] != version]
                for k in stale:  # an older input version of this workspace is never asked for again
                    del self._entries[k]
                self._entries[key] = entry
                while len(self._entries) > self.maxsize:
                    self._entries.popitem(last=False)
        base = entry.base
        if base is None or base.now.date() != now.date() or abs(base.now - now) > self.tolerance:
            base = fm.prepare(entry.data.frames, now, entry.data.attributes)
            with self._lock:
                entry.base = base
                self.stats.prepares += 1
        return base, entry.data.items.height


CACHE = FlowCache()


def _prepare(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    teams: Sequence[TeamRef],
    sources: Sequence[int],
    flow_types: Sequence[str],
    all_levels: bool,
    since: date | None,
    until: date | None,
    period_id: int | None,
    now: datetime | None,
    tz: str,
    default_days: int = DEFAULT_DAYS,
) -> tuple[fm.FlowBase, Context]:
    get_workspace(session, actor, workspace_id)  # READ; outsiders: not found
    tz = _zone(tz)
    at = _now(now)
    scope = resolve_scope(
        session, workspace_id, teams=teams, sources=sources, flow_types=flow_types, all_levels=all_levels
    )
    s, u = _window(
        session, workspace_id, since=since, until=until, period_id=period_id, now=at, tz=tz, default_days=default_days
    )
    version = input_version(session, workspace_id)
    base, n = CACHE.base(session, scope, version, at)
    return base, Context(scope, s, u, tz, base.now, n, version)


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class FlowTime:
    items: int
    mean_days: float | None
    p50_days: float | None
    p85_days: float | None
    p95_days: float | None


@dataclass(frozen=True)
class FlowReport:
    """The five Flow Framework metrics and Flow Predictability over the window, with weekly trends."""

    context: Context
    velocity: int  # items done in the window
    velocity_per_week: float  # velocity ÷ (days in the window / 7)
    flow_time: FlowTime
    efficiency: float | None  # Σ active ÷ Σ flow time of the items done in the window, in [0, 1]
    median_item_efficiency: float | None
    load_now: int  # items in progress now
    load_mean: float  # mean of the end-of-day load over the window
    distribution: pl.DataFrame  # scope ('done' | 'wip'), flow_type, items, share
    committed: int  # Σ over the weeks: items committed at the start of the week
    delivered: int  # … and done by its end
    predictability: float | None  # delivered ÷ committed
    weekly: pl.DataFrame  # one row per ISO week (see report)
    weekly_distribution: pl.DataFrame  # week_start, flow_type, items, share (done items)
    daily_load: pl.DataFrame  # date, wip


@dataclass(frozen=True)
class CfdResult:
    context: Context
    frame: pl.DataFrame  # date, step, step_order, items, cumulative


@dataclass(frozen=True)
class ThroughputResult:
    context: Context
    daily: pl.DataFrame  # date, items_done (zero-filled)
    weekly: pl.DataFrame  # week_start, items_done
    total: int
    mean_per_day: float


@dataclass(frozen=True)
class ScatterResult:
    context: Context
    points: pl.DataFrame  # item_id, key, title, team_id, flow_type, done_at, done_date, flow_days
    percentiles: dict[int, float | None]


@dataclass(frozen=True)
class AgingResult:
    context: Context
    items: pl.DataFrame  # item_id, key, title, team_id, current_step, work_start, age_days, bucket, waste
    by_step: pl.DataFrame  # current_step, bucket, items, oldest_days
    by_age: pl.DataFrame  # bucket, items, share
    percentiles: dict[int, float | None]  # flow time of the items done in the window (the chart's lines)
    waste: int  # items older than 90 days


@dataclass(frozen=True)
class ValueStreamResult:
    context: Context
    map: vs.ValueStreamMap


@dataclass(frozen=True)
class ComparisonResult:
    context: Context
    a: vs.ValueStreamMap
    b: vs.ValueStreamMap
    comparison: vs.Comparison


@dataclass(frozen=True)
class ForecastResult:
    """A Monte Carlo forecast: ``forecast.answers[p]`` (items for "how many", days for "when"),
    ``forecast.dates[p]`` for "when". The history is ``context.since`` … ``context.until``."""

    context: Context
    forecast: mc.Forecast
    start: date  # day 1 of the forecast (today)
    history_days: int
    history_items: int
    mean_per_day: float
    target_date: date | None = None  # how many: by this date
    target_items: int | None = None  # when: this many items
    warnings: list[str] = field(default_factory=list)


def _weeks(since: date, until: date) -> list[tuple[date, date, date]]:
    """ISO weeks meeting the window: (Monday, first day inside, last day inside)."""
    out = []
    monday = since - timedelta(days=since.weekday())
    while monday <= until:
        out.append((monday, max(monday, since), min(monday + timedelta(days=6), until)))
        monday += timedelta(days=7)
    return out


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


# ------------------------------------------------------------------------------------------------ use cases


def report(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    teams: Sequence[TeamRef] = (),
    sources: Sequence[int] = (),
    flow_types: Sequence[str] = (),
    all_levels: bool = False,
    since: date | None = None,
    until: date | None = None,
    period_id: int | None = None,
    now: datetime | None = None,
    tz: str = "UTC",
) -> FlowReport:
    """The flow dashboard: velocity, flow time, efficiency, load, distribution and predictability over the
    window, and per ISO week (``weekly``: ``week_start, days, items_done, flow_time_p50_days,
    flow_time_p85_days, efficiency, load_mean, load_end, committed, delivered, predictability``; a week cut by
    the window counts only its days inside)."""
    base, ctx = _prepare(
        session,
        actor,
        workspace_id,
        teams=teams,
        sources=sources,
        flow_types=flow_types,
        all_levels=all_levels,
        since=since,
        until=until,
        period_id=period_id,
        now=now,
        tz=tz,
    )
    s, u, tz = ctx.since, ctx.until, ctx.tz
    days = (u - s).days + 1
    ft = fm.flow_time(base, s, u, tz=tz)
    eff = fm.flow_efficiency(base, s, u, tz=tz)
    done = int(ft["items"][0]) if ft.height else 0
    flow_time = (
        FlowTime(
            done,
            _opt(ft["mean_days"][0]),
            _opt(ft["p50_days"][0]),
            _opt(ft["p85_days"][0]),
            _opt(ft["p95_days"][0]),
        )
        if done
        else FlowTime(0, None, None, None, None)
    )
    load = fm.flow_load(base, s, u, tz=tz)
    load_now = int(fm.flow_load_now(base)["wip"][0])
    weeks = _weeks(s, u)
    pred = fm.flow_predictability(base, [(a, b) for _, a, b in weeks], tz=tz)
    grid = pl.DataFrame(
        {
            "week_start": [w[0] for w in weeks],
            "days": [(w[2] - w[1]).days + 1 for w in weeks],
        },
        schema={"week_start": pl.Date, "days": pl.Int64},
    )
    vel_w = fm.flow_velocity(base, s, u, period="week", tz=tz).rename({"period_start": "week_start"})
    ft_w = fm.flow_time(base, s, u, period="week", tz=tz).select(
        pl.col("period_start").alias("week_start"),
        pl.col("p50_days").alias("flow_time_p50_days"),
        pl.col("p85_days").alias("flow_time_p85_days"),
    )
    eff_w = fm.flow_efficiency(base, s, u, period="week", tz=tz).select(
        pl.col("period_start").alias("week_start"), "efficiency"
    )
    load_w = (
        load.with_columns(pl.col("date").dt.truncate("1w").alias("week_start"))
        .group_by("week_start")
        .agg(pl.col("wip").mean().alias("load_mean"), pl.col("wip").sort_by("date").last().alias("load_end"))
    )
    pred_w = pred.select(
        pl.col("period_start").dt.truncate("1w").alias("week_start"), "committed", "delivered", "predictability"
    )
    weekly = grid
    for part in (vel_w, ft_w, eff_w, load_w, pred_w):
        weekly = weekly.join(part, on="week_start", how="left")
    weekly = weekly.with_columns(pl.col("items_done").fill_null(0)).sort("week_start")
    done_rows = fm.done_in(base, s, u, tz).with_columns(pl.col("done_date").dt.truncate("1w").alias("week_start"))
    wd = (
        done_rows.with_columns(pl.col("flow_type").cast(pl.Utf8).fill_null("unclassified"))
        .group_by("week_start", "flow_type")
        .agg(pl.len().cast(pl.Int64).alias("items"))
    )
    weekly_distribution = wd.with_columns((pl.col("items") / pl.col("items").sum().over("week_start")).alias("share"))
    committed = int(pred["committed"].sum())
    delivered = int(pred["delivered"].sum())
    return FlowReport(
        context=ctx,
        velocity=done,
        velocity_per_week=done / (days / 7),
        flow_time=flow_time,
        efficiency=_opt(eff["efficiency"][0]) if eff.height else None,
        median_item_efficiency=_opt(eff["median_item_efficiency"][0]) if eff.height else None,
        load_now=load_now,
        load_mean=float(load["wip"].mean() or 0.0),  # type: ignore[arg-type]
        distribution=fm.flow_distribution(base, s, u, tz=tz),
        committed=committed,
        delivered=delivered,
        predictability=delivered / committed if committed else None,
        weekly=weekly,
        weekly_distribution=weekly_distribution.sort("week_start", "flow_type"),
        daily_load=load,
    )


def cfd(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    teams: Sequence[TeamRef] = (),
    sources: Sequence[int] = (),
    flow_types: Sequence[str] = (),
    all_levels: bool = False,
    since: date | None = None,
    until: date | None = None,
    period_id: int | None = None,
    now: datetime | None = None,
    tz: str = "UTC",
) -> CfdResult:
    """Cumulative flow: per local day and step, the items there at the end of the day and the cumulative line."""
    base, ctx = _prepare(
        session,
        actor,
        workspace_id,
        teams=teams,
        sources=sources,
        flow_types=flow_types,
        all_levels=all_levels,
        since=since,
        until=until,
        period_id=period_id,
        now=now,
        tz=tz,
    )
    return CfdResult(ctx, kanban.cumulative_flow(base, ctx.since, ctx.until, tz=ctx.tz))


def throughput(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    teams: Sequence[TeamRef] = (),
    sources: Sequence[int] = (),
    flow_types: Sequence[str] = (),
    all_levels: bool = False,
    since: date | None = None,
    until: date | None = None,
    period_id: int | None = None,
    now: datetime | None = None,
    tz: str = "UTC",
) -> ThroughputResult:
    """Items done per local day (zero-filled) and per ISO week."""
    base, ctx = _prepare(
        session,
        actor,
        workspace_id,
        teams=teams,
        sources=sources,
        flow_types=flow_types,
        all_levels=all_levels,
        since=since,
        until=until,
        period_id=period_id,
        now=now,
        tz=tz,
    )
    daily = kanban.throughput(base, ctx.since, ctx.until, tz=ctx.tz)
    weekly = fm.flow_velocity(base, ctx.since, ctx.until, period="week", tz=ctx.tz).rename(
        {"period_start": "week_start"}
    )
    total = int(daily["items_done"].sum())
    return ThroughputResult(ctx, daily, weekly, total, total / daily.height if daily.height else 0.0)


def _item_info(session: Session, ids: list[int]) -> pl.DataFrame:
    from okrflow.store.models_work import WorkItem

    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        rows.extend(
            tuple(r)
            for r in session.execute(select(WorkItem.id, WorkItem.key, WorkItem.title).where(WorkItem.id.in_(chunk)))
        )
    return pl.DataFrame(rows, schema={"item_id": pl.Int64, "key": pl.Utf8, "title": pl.Utf8}, orient="row")


def scatter(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    teams: Sequence[TeamRef] = (),
    sources: Sequence[int] = (),
    flow_types: Sequence[str] = (),
    all_levels: bool = False,
    since: date | None = None,
    until: date | None = None,
    period_id: int | None = None,
    now: datetime | None = None,
    tz: str = "UTC",
) -> ScatterResult:
    """Cycle-time scatter: every item done in the window (flow time in days) and the p50/p85/p95 lines."""
    base, ctx = _prepare(
        session,
        actor,
        workspace_id,
        teams=teams,
        sources=sources,
        flow_types=flow_types,
        all_levels=all_levels,
        since=since,
        until=until,
        period_id=period_id,
        now=now,
        tz=tz,
    )
    sc = kanban.cycle_time_scatter(base, ctx.since, ctx.until, by=["team_id", "flow_type"], tz=ctx.tz)
    info = _item_info(session, sc.points["item_id"].to_list())
    points = sc.points.join(info, on="item_id", how="left", maintain_order="left").select(
        "item_id", "key", "title", "team_id", "flow_type", "done_at", "done_date", "flow_days"
    )
    return ScatterResult(ctx, points, sc.percentiles)


def aging(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    teams: Sequence[TeamRef] = (),
    sources: Sequence[int] = (),
    flow_types: Sequence[str] = (),
    all_levels: bool = False,
    since: date | None = None,
    until: date | None = None,
    period_id: int | None = None,
    now: datetime | None = None,
    tz: str = "UTC",
) -> AgingResult:
    """Aging work in progress now (age = now − work start; buckets 0–30 / 30–60 / 60–90 / > 90 days), with the
    flow-time percentiles of the items done in the window as the reference lines."""
    base, ctx = _prepare(
        session,
        actor,
        workspace_id,
        teams=teams,
        sources=sources,
        flow_types=flow_types,
        all_levels=all_levels,
        since=since,
        until=until,
        period_id=period_id,
        now=now,
        tz=tz,
    )
    ag = kanban.aging_wip(base, by=["team_id"], reference=(ctx.since, ctx.until), tz=ctx.tz)
    info = _item_info(session, ag.items["item_id"].to_list())
    items = ag.items.join(info, on="item_id", how="left", maintain_order="left").select(
        "item_id", "key", "title", "team_id", "current_step", "work_start", "age_days", "bucket", "waste"
    )
    by_step = (
        items.group_by("current_step", "bucket")
        .agg(pl.len().cast(pl.Int64).alias("items"), pl.col("age_days").max().alias("oldest_days"))
        .sort("current_step", "bucket")
    )
    return AgingResult(ctx, items, by_step, kanban.wip_by_age(base), ag.percentiles, int(items["waste"].sum()))


def value_stream(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    teams: Sequence[TeamRef] = (),
    sources: Sequence[int] = (),
    flow_types: Sequence[str] = (),
    all_levels: bool = False,
    since: date | None = None,
    until: date | None = None,
    period_id: int | None = None,
    now: datetime | None = None,
    tz: str = "UTC",
) -> ValueStreamResult:
    """The value-stream map of the window: per step time, waiting, rework; per stage efficiency; the bottleneck."""
    base, ctx = _prepare(
        session,
        actor,
        workspace_id,
        teams=teams,
        sources=sources,
        flow_types=flow_types,
        all_levels=all_levels,
        since=since,
        until=until,
        period_id=period_id,
        now=now,
        tz=tz,
    )
    return ValueStreamResult(ctx, vs.value_stream_map(base, ctx.since, ctx.until, tz=ctx.tz))


def compare_periods(
    session: Session,
    actor: Actor,
    workspace_id: int,
    a: tuple[date, date],
    b: tuple[date, date],
    *,
    teams: Sequence[TeamRef] = (),
    sources: Sequence[int] = (),
    flow_types: Sequence[str] = (),
    all_levels: bool = False,
    now: datetime | None = None,
    tz: str = "UTC",
) -> ComparisonResult:
    """Two value-stream maps (periods ``a`` and ``b``, local days inclusive) side by side with ``b − a`` deltas.
    The context's window spans both periods."""
    for name, (s, u) in (("a", a), ("b", b)):
        if u < s:
            raise InvalidInputError(f"period {name} ends before it starts", field=name)
    base, ctx = _prepare(
        session,
        actor,
        workspace_id,
        teams=teams,
        sources=sources,
        flow_types=flow_types,
        all_levels=all_levels,
        since=min(a[0], b[0]),
        until=max(a[1], b[1]),
        period_id=None,
        now=now,
        tz=tz,
    )
    map_a = vs.value_stream_map(base, *a, tz=ctx.tz)
    map_b = vs.value_stream_map(base, *b, tz=ctx.tz)
    return ComparisonResult(ctx, map_a, map_b, vs.compare(map_a, map_b))


def _history(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    teams: Sequence[TeamRef],
    sources: Sequence[int],
    flow_types: Sequence[str],
    all_levels: bool,
    since: date | None,
    until: date | None,
    window_days: int,
    now: datetime | None,
    tz: str,
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], Context, date, list[str]]:
    """Daily throughput of the history window — by default the ``window_days`` complete days before today."""
    if window_days < 1:
        raise InvalidInputError("the history window needs at least one day", field="window_days")
    at = _now(now)
    today = _today(at, _zone(tz))
    if since is None and until is None:
        until = today - timedelta(days=1)
    base, ctx = _prepare(
        session,
        actor,
        workspace_id,
        teams=teams,
        sources=sources,
        flow_types=flow_types,
        all_levels=all_levels,
        since=since,
        until=until,
        period_id=None,
        now=at,
        tz=tz,
        default_days=window_days,
    )
    samples = mc.daily_throughput(base, ctx.since, ctx.until, tz=ctx.tz)
    warnings = []
    if samples.sum() == 0:
        warnings.append("no item was done in the history window: the forecast cannot see any throughput")
    elif len(samples) < 14:
        warnings.append(f"only {len(samples)} days of history: the forecast is rough")
    return samples, ctx, today, warnings


def forecast_how_many(
    session: Session,
    actor: Actor,
    workspace_id: int,
    by: date,
    *,
    teams: Sequence[TeamRef] = (),
    sources: Sequence[int] = (),
    flow_types: Sequence[str] = (),
    all_levels: bool = False,
    since: date | None = None,
    until: date | None = None,
    window_days: int = FORECAST_WINDOW_DAYS,
    trials: int = mc.DEFAULT_TRIALS,
    seed: int | None = None,
    now: datetime | None = None,
    tz: str = "UTC",
) -> ForecastResult:
    """How many items will be done from today through ``by`` (inclusive; today counts as a whole day), by
    bootstrapping the daily throughput of the history window (``since``/``until``, default the ``window_days``
    complete days before today)."""
    samples, ctx, today, warnings = _history(
        session,
        actor,
        workspace_id,
        teams=teams,
        sources=sources,
        flow_types=flow_types,
        all_levels=all_levels,
        since=since,
        until=until,
        window_days=window_days,
        now=now,
        tz=tz,
    )
    if by < today:
        raise InvalidInputError("the date to forecast for is in the past", field="by")
    fc = mc.how_many_by(samples, today, by, trials=trials, seed=seed)
    return ForecastResult(
        ctx,
        fc,
        today,
        len(samples),
        int(samples.sum()),
        float(samples.mean()),
        target_date=by,
        warnings=warnings,
    )


def forecast_when(
    session: Session,
    actor: Actor,
    workspace_id: int,
    items: int,
    *,
    teams: Sequence[TeamRef] = (),
    sources: Sequence[int] = (),
    flow_types: Sequence[str] = (),
    all_levels: bool = False,
    since: date | None = None,
    until: date | None = None,
    window_days: int = FORECAST_WINDOW_DAYS,
    trials: int = mc.DEFAULT_TRIALS,
    seed: int | None = None,
    now: datetime | None = None,
    tz: str = "UTC",
) -> ForecastResult:
    """When ``items`` more items will be done (day 1 = today), from the same history as
    :func:`forecast_how_many`."""
    if items < 1:
        raise InvalidInputError("forecast at least one item", field="items")
    samples, ctx, today, warnings = _history(
        session,
        actor,
        workspace_id,
        teams=teams,
        sources=sources,
        flow_types=flow_types,
        all_levels=all_levels,
        since=since,
        until=until,
        window_days=window_days,
        now=now,
        tz=tz,
    )
    fc = mc.when(samples, items, start=today, trials=trials, seed=seed)
    if fc.unfinished:
        warnings.append(f"{fc.unfinished} of {fc.trials} trials did not finish within ten years")
    return ForecastResult(
        ctx,
        fc,
        today,
        len(samples),
        int(samples.sum()),
        float(samples.mean()),
        target_items=items,
        warnings=warnings,
    )


def publish(db: Any, actor: Actor, workspace_id: int, now: datetime | None = None, **options: Any) -> Any:
    """Publish flow (and DORA) metrics into the KPI catalog: see :func:`okrflow.services.flow_publish.publish`."""
    from okrflow.services import flow_publish

    return flow_publish.publish(db, actor, workspace_id, now, **options)


__all__ = [
    "CACHE",
    "AgingResult",
    "CfdResult",
    "ComparisonResult",
    "Context",
    "FlowCache",
    "FlowReport",
    "FlowTime",
    "ForecastResult",
    "ScatterResult",
    "Scope",
    "ThroughputResult",
    "ValueStreamResult",
    "aging",
    "cfd",
    "compare_periods",
    "forecast_how_many",
    "forecast_when",
    "input_version",
    "publish",
    "report",
    "resolve_scope",
    "scatter",
    "team_subtree",
    "throughput",
    "value_stream",
]
