"""Flow Framework metrics (Kersten) and Flow Predictability (SAFe), vectorized over all items at once.

Everything starts from a :class:`FlowBase` — the segments of :mod:`okrflow.metrics.flow` built once, the
per-item timings, and the item attributes to group by (``team_id``, ``source_id``, ``flow_type``, …) — and
takes the period (local calendar days ``since``…``until``, both inclusive, in an IANA time zone) as
parameters. No function reads a clock or a database. Definitions and sources: docs/flow-metrics.md.

- **Flow Velocity**: items done per day / ISO week / calendar month (local dates of ``done_at``), zero-filled.
- **Flow Time**: done − work start of the items done in the period: p50/p85/p95 (linear interpolation) and
  mean, in days.
- **Flow Efficiency**: Σ active ÷ Σ flow time of the items done in the period, and the median of the per-item
  ratios (items with a flow time of zero have no ratio).
- **Flow Load**: items in progress (started and not done) at the end of every local day, and now.
- **Flow Distribution**: share of each flow-item type among the items done in the period and among WIP now.
- **Flow Predictability**: per period, items *committed* at its start (in planning or a later step, not done)
  and how many of them are done at its end; predictability = delivered ÷ committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl

from okrflow.metrics.flow import (
    BACKLOG_ORDER,
    DONE_STEP,
    I64,
    UNMAPPED,
    FlowFrames,
    Segments,
    build_segments,
    in_flow_window,
    item_bounds,
    timings_from_segments,
)

Period = Literal["day", "week", "month"]
PERCENTILES = (50, 85, 95)
DAY_SECONDS = 86_400.0
_EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))


@dataclass(frozen=True)
class StepClasses:
    """Steps in flow order (by ``step_order``), then ``unmapped``; per segment its class index."""

    names: list[str]
    orders: list[int]
    per_segment: npt.NDArray[np.int64]
    per_code: npt.NDArray[np.int64]

    @property
    def unmapped(self) -> int:
        return len(self.names) - 1


def step_classes(sg: Segments, rules: pl.DataFrame) -> StepClasses:
    """The mapped steps of the rules (one per ``step_order``, the first name wins) and the class of every segment."""
    by_order: dict[int, str] = {}
    for name, order in zip(rules["step"].to_list(), rules["step_order"].to_list(), strict=True):
        by_order.setdefault(int(order), str(name))
    orders = sorted(o for o in by_order if o >= 0)
    names = [by_order[o] for o in orders] + [UNMAPPED]
    class_of_order = {o: i for i, o in enumerate(orders)}
    rule_orders = [*rules["step_order"].to_list(), -1]  # per status code; the last code is 'unmapped'
    lut = np.array([class_of_order.get(int(o), len(orders)) for o in rule_orders], dtype=np.int64)
    return StepClasses(names, [*orders, -1], lut[sg.code], lut)


@dataclass(frozen=True)
class FlowBase:
    """Segments, timings and attributes of every item, built once and shared by all metrics."""

    now: datetime
    segments: Segments
    timings: pl.DataFrame  # item_timings columns + attribute columns, one row per item in segments.item_ids order
    work_start_us: I64  # per item, NO_TIME when not started
    done_us: I64  # per item, NO_TIME when not done now
    rules: pl.DataFrame
    classes: StepClasses  # step class of every segment
    inside: npt.NDArray[np.bool_]  # per segment: inside its item's flow window (flow.in_flow_window)

    @property
    def now_us(self) -> int:
        return to_micros(self.now)


def prepare(frames: FlowFrames, now: datetime, attributes: pl.DataFrame | None = None) -> FlowBase:
    """Build the segments once and attach the item attributes (``item_id`` + any grouping columns)."""
    sg = build_segments(frames, now)
    timings = timings_from_segments(sg)
    if attributes is not None:
        extra = attributes.select("item_id", *[c for c in attributes.columns if c not in timings.columns])
        ids = np.asarray(extra["item_id"].to_numpy())
        if len(ids) == len(sg.item_ids) and np.array_equal(ids, sg.item_ids):  # already aligned (ordered by id)
            timings = timings.hstack(extra.drop("item_id"))
        else:
            timings = timings.join(extra, on="item_id", how="left", maintain_order="left")
    ws, done = item_bounds(sg)
    inside = in_flow_window(sg, ws, done)
    return FlowBase(now, sg, timings, ws, done, frames.rules, step_classes(sg, frames.rules), inside)


def to_micros(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return (at - _EPOCH) // timedelta(microseconds=1)


def day_edges(since: date, until: date, tz: str = "UTC") -> I64:
    """Local midnights (µs since the epoch) of ``since`` … ``until + 1``: day k is ``[edges[k], edges[k+1])``.

    Days follow the wall clock of ``tz``, so a DST day is 23 or 25 hours long. A midnight that does not exist
    (a zone that springs forward at 00:00) resolves to the first instant of that day."""
    if until < since:
        raise ValueError("until is before since")
    zone = ZoneInfo(tz)
    days = (until - since).days + 2
    return np.array(
        [to_micros(datetime.combine(since + timedelta(days=k), time(), zone)) for k in range(days)], dtype=np.int64
    )


def local_date(column: str, tz: str) -> pl.Expr:
    return pl.col(column).dt.convert_time_zone(tz).dt.date()


def bucket(expr: pl.Expr, period: Period) -> pl.Expr:
    """Start of the day, ISO week (Monday) or calendar month of a date expression."""
    if period == "day":
        return expr
    if period == "week":
        return expr.dt.truncate("1w")
    if period == "month":
        return expr.dt.month_start()
    raise ValueError("period is one of day, week, month")


def check_by(base: FlowBase, by: Sequence[str]) -> list[str]:
    missing = [c for c in by if c not in base.timings.columns]
    if missing:
        raise ValueError(f"unknown grouping column(s): {', '.join(missing)}")
    return list(by)


def done_in(base: FlowBase, since: date, until: date, tz: str) -> pl.DataFrame:
    return (
        base.timings.filter(pl.col("done_at").is_not_null())
        .with_columns(local_date("done_at", tz).alias("done_date"))
        .filter(pl.col("done_date").is_between(since, until))
    )


def group_codes(base: FlowBase, by: Sequence[str]) -> tuple[I64, pl.DataFrame | None]:
    """Per item, the index of its group (rows of the returned key frame, sorted); ``None`` keys without ``by``."""
    cols = check_by(base, by)
    n = base.timings.height
    if not cols:
        return np.zeros(n, dtype=np.int64), None
    keys = base.timings.select(cols).unique().sort(cols, nulls_last=True).with_row_index("_g")
    codes = base.timings.select(cols).join(keys, on=cols, how="left", nulls_equal=True, maintain_order="left")
    return np.asarray(codes["_g"].to_numpy(), dtype=np.int64), keys


def with_keys(frame: pl.DataFrame, keys: pl.DataFrame | None) -> pl.DataFrame:
    """Replace the ``_g`` column of ``frame`` by the key columns."""
    if keys is None:
        return frame.drop("_g")
    return keys.join(frame, on="_g", how="inner").sort("_g", maintain_order=True).drop("_g")


def flow_velocity(
    base: FlowBase, since: date, until: date, *, period: Period = "week", by: Sequence[str] = (), tz: str = "UTC"
) -> pl.DataFrame:
    """Items done per period bucket (``period_start``, ``items_done``) for every group, zero-filled."""
    cols = check_by(base, by)
    done = done_in(base, since, until, tz).with_columns(bucket(pl.col("done_date"), period).alias("period_start"))
    counts = done.group_by(*cols, "period_start").agg(pl.len().cast(pl.Int64).alias("items_done"))
    buckets = (
        pl.DataFrame({"d": pl.date_range(since, until, "1d", eager=True)})
        .select(bucket(pl.col("d"), period).alias("period_start"))
        .unique()
        .sort("period_start")
    )
    grid = base.timings.select(cols).unique().join(buckets, how="cross") if cols else buckets
    return (
        grid.join(counts, on=[*cols, "period_start"], how="left", nulls_equal=True)
        .with_columns(pl.col("items_done").fill_null(0))
        .sort([*cols, "period_start"], nulls_last=True)
    )


def _period_cols(done: pl.DataFrame, period: Period | None) -> tuple[pl.DataFrame, list[str]]:
    if period is None:
        return done, []
    return done.with_columns(bucket(pl.col("done_date"), period).alias("period_start")), ["period_start"]


def flow_time(
    base: FlowBase,
    since: date,
    until: date,
    *,
    by: Sequence[str] = (),
    period: Period | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """Flow time (days) of the items done in the period: ``items, mean_days, p50_days, p85_days, p95_days``."""
    cols = check_by(base, by)
    done, pcols = _period_cols(done_in(base, since, until, tz), period)
    days = pl.col("flow_seconds") / DAY_SECONDS
    return (
        done.group_by(*cols, *pcols)
        .agg(
            pl.len().cast(pl.Int64).alias("items"),
            days.mean().alias("mean_days"),
            *[days.quantile(p / 100, interpolation="linear").alias(f"p{p}_days") for p in PERCENTILES],
        )
        .sort([*cols, *pcols], nulls_last=True)
    )


def flow_efficiency(
    base: FlowBase,
    since: date,
    until: date,
    *,
    by: Sequence[str] = (),
    period: Period | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """Flow efficiency of the items done in the period: ``efficiency`` = Σ active ÷ Σ flow time (null when Σ flow
    is 0) and ``median_item_efficiency`` (median of active ÷ flow over items with a flow time above 0)."""
    cols = check_by(base, by)
    done, pcols = _period_cols(done_in(base, since, until, tz), period)
    ratio = pl.when(pl.col("flow_seconds") > 0).then(pl.col("active_seconds") / pl.col("flow_seconds"))
    return (
        done.with_columns(ratio.alias("_r"))
        .group_by(*cols, *pcols)
        .agg(
            pl.len().cast(pl.Int64).alias("items"),
            (pl.col("active_seconds").sum() / DAY_SECONDS).alias("active_days"),
            (pl.col("flow_seconds").sum() / DAY_SECONDS).alias("flow_days"),
            pl.col("_r").median().alias("median_item_efficiency"),
        )
        .with_columns(
            pl.when(pl.col("flow_days") > 0).then(pl.col("active_days") / pl.col("flow_days")).alias("efficiency")
        )
        .sort([*cols, *pcols], nulls_last=True)
    )


# ---------------------------------------------------------------------------------------------- daily states


def covered_days(sg: Segments, instants: I64) -> tuple[I64, I64]:
    """Per segment, the range ``[lo, hi)`` of the (sorted) instants it covers: ``start < t ≤ end`` — the state
    *at* an instant is the one entered before it. Segments tile an item's history, so a segment's ``hi`` is the
    next one's ``lo``; only the last segment of each item needs its own search."""
    lo: I64 = np.searchsorted(instants, sg.start, side="right")
    hi = np.empty_like(lo)
    hi[:-1] = lo[1:]
    last = sg.bounds[1:] - 1
    hi[last] = np.searchsorted(instants, sg.end[last], side="right")
    return lo, hi


def interval_counts(lo: I64, hi: I64, key: I64, n_keys: int, n_days: int) -> npt.NDArray[np.int64]:
    """``counts[key, day]`` = how many of the intervals ``[lo, hi)`` with that key cover the day."""
    base = key * (n_days + 1)  # an empty interval adds and removes the same bin
    size = n_keys * (n_days + 1)
    diff = np.bincount(base + lo, minlength=size) - np.bincount(base + hi, minlength=size)
    return np.cumsum(diff.reshape(n_keys, n_days + 1), axis=1)[:, :n_days]


@dataclass(frozen=True)
class DailyStates:
    """``counts[g, c, d]``: items of group g whose state at the end of day d is class c (steps, then
    ``unmapped``, then ``backlog (after work start)``)."""

    days: list[date]
    classes: StepClasses
    counts: npt.NDArray[np.int64]
    keys: pl.DataFrame | None

    @property
    def restarted(self) -> int:
        return len(self.classes.names)


def daily_states(base: FlowBase, since: date, until: date, *, by: Sequence[str] = (), tz: str = "UTC") -> DailyStates:
    """Where every item is at the end of each local day (the current day: now)."""
    sg = base.segments
    edges = day_edges(since, until, tz)
    instants = np.minimum(edges[1:], base.now_us)
    lo, hi = covered_days(sg, instants)
    classes = base.classes
    n_cls = len(classes.names) + 1
    codes, keys = group_codes(base, by)
    n_groups = 1 if keys is None else keys.height
    key = classes.per_segment if keys is None else codes[sg.item_index] * n_cls + classes.per_segment
    backlog = classes.orders.index(BACKLOG_ORDER) if BACKLOG_ORDER in classes.orders else -1
    if backlog >= 0:  # back in the backlog after the work had started (inside the flow window): still WIP
        restarted = np.flatnonzero(base.inside & (classes.per_segment == backlog))
        key = key.copy() if keys is None else key
        key[restarted] += len(classes.names) - backlog
    counts = interval_counts(lo, hi, key, n_groups * n_cls, len(instants)).reshape(n_groups, n_cls, len(instants))
    days = [since + timedelta(days=k) for k in range(len(instants))]
    return DailyStates(days, classes, counts, keys)


def wip_class_mask(states: DailyStates) -> npt.NDArray[np.bool_]:
    """Classes that are work in progress: every step but backlog and done, unmapped, backlog after start."""
    names = states.classes.names
    mask = np.ones(len(names) + 1, dtype=np.bool_)
    for i, (name, order) in enumerate(zip(names, states.classes.orders, strict=True)):
        if order == BACKLOG_ORDER or name == DONE_STEP:
            mask[i] = False
    return mask


def flow_load(base: FlowBase, since: date, until: date, *, by: Sequence[str] = (), tz: str = "UTC") -> pl.DataFrame:
    """Items in progress at the end of each local day: ``date, wip`` per group."""
    states = daily_states(base, since, until, by=by, tz=tz)
    wip = states.counts[:, wip_class_mask(states), :].sum(axis=1)  # (groups, days)
    g, d = wip.shape
    frame = pl.DataFrame(
        {
            "_g": np.repeat(np.arange(g, dtype=np.uint32), d),
            "date": pl.Series(states.days * g, dtype=pl.Date),
            "wip": wip.reshape(-1),
        }
    )
    return with_keys(frame, states.keys)


def _wip_now(base: FlowBase) -> pl.Expr:
    return pl.col("started") & pl.col("done_at").is_null()


def flow_load_now(base: FlowBase, *, by: Sequence[str] = ()) -> pl.DataFrame:
    """Items in progress now, per group."""
    cols = check_by(base, by)
    t = base.timings.with_columns(_wip_now(base).alias("_wip"))
    if not cols:
        return t.select(pl.col("_wip").sum().cast(pl.Int64).alias("wip"))
    return t.group_by(cols).agg(pl.col("_wip").sum().cast(pl.Int64).alias("wip")).sort(cols, nulls_last=True)


def flow_distribution(
    base: FlowBase, since: date, until: date, *, by: Sequence[str] = (), tz: str = "UTC", type_column: str = "flow_type"
) -> pl.DataFrame:
    """Share of each flow-item type among the items done in the period (``scope='done'``) and among the work in
    progress now (``scope='wip'``): ``scope, flow_type, items, share`` per group. Missing types count as
    ``unclassified``."""
    cols = check_by(base, [*by, type_column])[: len(by)]
    ftype = pl.col(type_column).cast(pl.Utf8).fill_null("unclassified").alias("flow_type")
    done = done_in(base, since, until, tz).select(*cols, ftype, pl.lit("done").alias("scope"))
    wip = base.timings.filter(_wip_now(base)).select(*cols, ftype, pl.lit("wip").alias("scope"))
    counts = pl.concat([done, wip]).group_by(*cols, "scope", "flow_type").agg(pl.len().cast(pl.Int64).alias("items"))
    share = pl.col("items") / pl.col("items").sum().over([*cols, "scope"])
    return counts.with_columns(share.alias("share")).sort([*cols, "scope", "flow_type"], nulls_last=True)


def state_at(sg: Segments, instant: int) -> tuple[I64, I64]:
    """(item index, segment index) of the state of every item that exists at ``instant`` (``start < t ≤ end``)."""
    seg = np.flatnonzero((sg.start < instant) & (sg.end >= instant))
    return sg.item_index[seg], seg


def flow_predictability(
    base: FlowBase, periods: Sequence[tuple[date, date]], *, by: Sequence[str] = (), tz: str = "UTC"
) -> pl.DataFrame:
    """Per period (local days ``start``…``end`` inclusive): ``committed`` = items in planning or a later step
    and not done at the start of the first day; ``delivered`` = those of them done at the end of the last day
    (or now); ``predictability`` = delivered ÷ committed; ``done_in_period`` = all items done in the period,
    planned or not."""
    sg = base.segments
    codes, keys = group_codes(base, by)
    n_groups = 1 if keys is None else keys.height
    rows: list[pl.DataFrame] = []
    for start, end in periods:  # a handful of periods; each one is a vectorized pass over the segments
        edges = day_edges(start, end, tz)
        t0, t1 = int(edges[0]), min(int(edges[-1]), base.now_us)
        items0, seg0 = state_at(sg, t0)
        committed = items0[(sg.step_order[seg0] > BACKLOG_ORDER) & ~sg.is_done[seg0]]
        items1, seg1 = state_at(sg, t1)
        done_end = np.zeros(len(sg.item_ids), dtype=np.bool_)
        done_end[items1[sg.is_done[seg1]]] = True
        delivered = committed[done_end[committed]]
        done_in = (base.done_us >= t0) & (base.done_us < t1)
        rows.append(
            pl.DataFrame(
                {
                    "_g": np.arange(n_groups, dtype=np.uint32),
                    "period_start": [start] * n_groups,
                    "period_end": [end] * n_groups,
                    "committed": np.bincount(codes[committed], minlength=n_groups),
                    "delivered": np.bincount(codes[delivered], minlength=n_groups),
                    "done_in_period": np.bincount(codes[done_in], minlength=n_groups),
                },
                schema_overrides={"period_start": pl.Date, "period_end": pl.Date},
            )
        )
    if not rows:
        raise ValueError("no periods given")
    frame = pl.concat(rows).with_columns(
        pl.when(pl.col("committed") > 0)
        .then(pl.col("delivered") / pl.col("committed"))
        .otherwise(None)
        .alias("predictability")
    )
    return with_keys(frame, keys)
