"""Kanban analytics (Vacanti): cumulative flow, throughput, cycle-time scatter, aging WIP and WIP by age.

All of them work on a :class:`~okrflow.metrics.flow_metrics.FlowBase`; days are local calendar days of an IANA
time zone (23- and 25-hour days at DST changes), states and durations come from exact instants.

**Cumulative flow.** At the end of every day each item is in exactly one step (the state entered last before
midnight; for the current day, the state now). The CFD band of a step counts the items there; its top line is
``cumulative`` = items in that step *or a later one* — the cumulative arrivals into the step — and the next
step's cumulative line is the departures from it. So ``cumulative`` never increases from one step to the
next on a day (arrivals ≥ departures). An item moved backwards simply is in the earlier step from then on:
its history is not rewritten (jira-agile-metrics instead wipes the later stages' dates). Items in unmapped
statuses get their own ``unmapped`` row outside the stack (``cumulative`` null).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from okrflow.metrics.flow_metrics import (
    DAY_SECONDS,
    PERCENTILES,
    FlowBase,
    check_by,
    daily_states,
    done_in,
    flow_velocity,
    with_keys,
)

AGE_BUCKETS = ("0-30", "30-60", "60-90", ">90")
AGE_EDGES_DAYS = (30.0, 60.0, 90.0)  # right-closed: 30 days exactly is "0-30"; "> 90" is strictly older
WASTE_AGE_DAYS = 90.0
AgeBucket = pl.Enum(AGE_BUCKETS)


def cumulative_flow(
    base: FlowBase, since: date, until: date, *, by: Sequence[str] = (), tz: str = "UTC"
) -> pl.DataFrame:
    """Per group, local day and step (flow order): ``date, step, step_order, items, cumulative``."""
    states = daily_states(base, since, until, by=by, tz=tz)
    names = states.classes.names
    n_steps = len(names) - 1  # the mapped steps; then unmapped
    counts = states.counts[:, : len(names), :].copy()
    backlog = states.classes.orders.index(0) if 0 in states.classes.orders else -1
    if backlog >= 0:
        counts[:, backlog, :] += states.counts[:, states.restarted, :]
    cumulative = np.flip(np.cumsum(np.flip(counts[:, :n_steps, :], axis=1), axis=1), axis=1)
    g, c, d = counts.shape
    cum_full = np.concatenate([cumulative, np.full((g, 1, d), -1, dtype=np.int64)], axis=1)
    frame = pl.DataFrame(
        {
            "_g": np.repeat(np.arange(g, dtype=np.uint32), c * d),
            "date": pl.Series(states.days * (g * c), dtype=pl.Date),
            "step": np.tile(np.repeat(np.array(names, dtype=object), d), g).tolist(),
            "step_order": np.tile(np.repeat(np.array(states.classes.orders, dtype=np.int16), d), g),
            "items": counts.reshape(-1),
            "cumulative": cum_full.reshape(-1),
        }
    ).with_columns(pl.when(pl.col("cumulative") >= 0).then(pl.col("cumulative")).alias("cumulative"))
    return with_keys(frame, states.keys).sort([*by, "date", "step_order"], nulls_last=True, maintain_order=True)


def throughput(base: FlowBase, since: date, until: date, *, by: Sequence[str] = (), tz: str = "UTC") -> pl.DataFrame:
    """Items done per local day (``date, items_done``), zero-filled."""
    return flow_velocity(base, since, until, period="day", by=by, tz=tz).rename({"period_start": "date"})


@dataclass(frozen=True)
class Scatter:
    """Cycle-time scatter: one point per item done in the period and the percentile lines (days)."""

    points: pl.DataFrame  # item_id, done_at, done_date, flow_days (+ grouping columns)
    percentiles: dict[int, float | None]


def cycle_time_scatter(base: FlowBase, since: date, until: date, *, by: Sequence[str] = (), tz: str = "UTC") -> Scatter:
    cols = check_by(base, by)
    points = (
        done_in(base, since, until, tz)
        .select("item_id", *cols, "done_at", "done_date", (pl.col("flow_seconds") / DAY_SECONDS).alias("flow_days"))
        .sort("done_at", "item_id")
    )
    return Scatter(points, _percentiles(points["flow_days"]))


def _percentiles(days: pl.Series) -> dict[int, float | None]:
    values = days.drop_nulls().to_numpy()
    if len(values) == 0:
        return dict.fromkeys(PERCENTILES)
    return {p: float(v) for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True)}


def _age_bucket(age_days: pl.Expr) -> pl.Expr:
    return (
        pl.when(age_days <= AGE_EDGES_DAYS[0])
        .then(pl.lit(AGE_BUCKETS[0]))
        .when(age_days <= AGE_EDGES_DAYS[1])
        .then(pl.lit(AGE_BUCKETS[1]))
        .when(age_days <= AGE_EDGES_DAYS[2])
        .then(pl.lit(AGE_BUCKETS[2]))
        .otherwise(pl.lit(AGE_BUCKETS[3]))
        .cast(AgeBucket)
    )


@dataclass(frozen=True)
class AgingWip:
    """Aging work in progress now: per item, per step × age bucket, and the flow-time percentile lines of the
    items done in the reference period (Vacanti's aging chart)."""

    items: pl.DataFrame  # item_id, current_step, work_start, age_days, bucket, waste (+ grouping columns)
    by_step: pl.DataFrame  # current_step, bucket, items, oldest_days (+ grouping columns)
    percentiles: dict[int, float | None]


def aging_wip(
    base: FlowBase,
    *,
    by: Sequence[str] = (),
    reference: tuple[date, date] | None = None,
    tz: str = "UTC",
) -> AgingWip:
    """Age = now − work start of every item in progress; buckets 0–30 / 30–60 / 60–90 / > 90 days (right-closed);
    ``waste`` marks work older than 90 days."""
    cols = check_by(base, by)
    now = pl.lit(base.now).cast(pl.Datetime("us", "UTC"))
    age = ((now - pl.col("work_start")).dt.total_microseconds() / (DAY_SECONDS * 1e6)).alias("age_days")
    items = (
        base.timings.filter(pl.col("started") & pl.col("done_at").is_null())
        .select("item_id", *cols, "current_step", "work_start", age)
        .with_columns(_age_bucket(pl.col("age_days")).alias("bucket"))
        .with_columns((pl.col("age_days") > WASTE_AGE_DAYS).alias("waste"))
        .sort("age_days", "item_id", descending=[True, False])
    )
    by_step = (
        items.group_by(*cols, "current_step", "bucket")
        .agg(pl.len().cast(pl.Int64).alias("items"), pl.col("age_days").max().alias("oldest_days"))
        .sort([*cols, "current_step", "bucket"], nulls_last=True)
    )
    pct: dict[int, float | None] = dict.fromkeys(PERCENTILES)
    if reference is not None:
        done = done_in(base, reference[0], reference[1], tz)
        pct = _percentiles(done["flow_seconds"] / DAY_SECONDS)
    return AgingWip(items, by_step, pct)


def wip_by_age(base: FlowBase, *, by: Sequence[str] = ()) -> pl.DataFrame:
    """Items in progress now per age bucket (all four buckets, zero-filled): ``bucket, items, share``."""
    cols = check_by(base, by)
    aged = aging_wip(base, by=cols).items
    buckets = pl.DataFrame({"bucket": pl.Series(AGE_BUCKETS, dtype=AgeBucket)})
    grid = base.timings.select(cols).unique().join(buckets, how="cross") if cols else buckets
    counts = aged.group_by(*cols, "bucket").agg(pl.len().cast(pl.Int64).alias("items"))
    out = grid.join(counts, on=[*cols, "bucket"], how="left", nulls_equal=True).with_columns(
        pl.col("items").fill_null(0)
    )
    total = pl.col("items").sum().over(cols) if cols else pl.col("items").sum()
    return out.with_columns(pl.when(total > 0).then(pl.col("items") / total).otherwise(0.0).alias("share")).sort(
        [*cols, "bucket"], nulls_last=True
    )


__all__ = [
    "AGE_BUCKETS",
    "WASTE_AGE_DAYS",
    "AgingWip",
    "Scatter",
    "aging_wip",
    "cumulative_flow",
    "cycle_time_scatter",
    "throughput",
    "wip_by_age",
]
