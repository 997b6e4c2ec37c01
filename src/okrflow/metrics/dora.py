"""DORA metrics over deployments, changes and incidents, vectorized with Polars (definitions: docs/dora.md).

Input frames (Polars; build them from domain records with :func:`deployments_frame`, :func:`changes_frame`,
:func:`incidents_frame`, :func:`reviews_frame`, or pass frames with these columns — extra columns such as ``team``
or ``project`` are kept and can be used for grouping (``by``) and matching (``scope``)):

- ``deployments``: ``deployment_id``, ``service``, ``environment``, ``status``, ``finished_at`` (required);
  ``started_at``, ``commit_sha`` (the deployed head), ``commit_shas`` (list: commits new in this deployment).
- ``changes``: ``change_id``, ``service``, ``created_at`` (required); ``author``, ``first_commit_at``,
  ``merged_at``, ``merge_commit_sha``, ``commit_shas`` (list).
- ``incidents``: ``incident_id``, ``service``, ``started_at`` (required); ``resolved_at``.
- ``reviews`` (optional): ``change_id``, ``created_at`` (required); ``author``.

Timestamps are time-zone aware instants (stored as UTC microseconds); a naive timestamp is an error. Durations are
exact (Polars ``Duration``); a negative span (clock skew, inconsistent data) is ``null``, never clamped.

Definitions:

- **Production deployment**: status ``success``, environment in ``environments`` (case-insensitive, default
  ``production``), with a finish time. Only these count anywhere below.
- **Deployment frequency**: per group and period, the production deployments, the *deployment days* (distinct
  calendar days, in ``tz``, with at least one), the series of deployment days per ISO week (Monday start) and per
  calendar month that intersect the period (zeros included; edge weeks/months count only their days inside the
  period), and their medians. The level uses the weekly and monthly medians (:data:`LEVELS_2023`).
- **Lead time for changes**: per change, ``deployed_at`` = finish of the first (earliest finished) production
  deployment that contains it — its merge commit or any of its commits is in the deployment's ``commit_shas`` or is
  its ``commit_sha`` — within the same ``scope`` (default: the same service). Lead time = ``deployed_at`` − first
  commit (the PR's creation when no commit time is known). Per group and period (of ``deployed_at``): the median.
  The components DevLake reports per PR are computed alongside: coding (first commit → created), pickup (created →
  first review by someone other than the author), review (first review → merged), deploy (merged → deployed).
- **Change failure rate**: an incident is attributed to the last production deployment of the same ``scope`` that
  finished at or before the incident started; CFR = production deployments with at least one attributed incident ÷
  production deployments, per group and period of the deployment's finish.
- **Failed deployment recovery time** (DORA 2023's name): incident resolved − attributed deployment finished;
  per group and period of the incident's resolution, the median. **Time to restore** (the older "MTTR"-style
  measure) = incident resolved − incident started, reported beside it but not used for the level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

import polars as pl

from okrflow.domain.delivery import ChangeRecord, DeploymentRecord, IncidentRecord

Level = Literal["elite", "high", "medium", "low"]
LEVELS: Final[tuple[Level, ...]] = ("elite", "high", "medium", "low")
SUCCESS: Final = "success"
PRODUCTION: Final = "production"

TS = pl.Datetime("us", "UTC")
DUR = pl.Duration("us")
_STR = pl.String()
_SHAS = pl.List(pl.String())

DEPLOYMENT_COLUMNS: Final[dict[str, pl.DataType]] = {
    "deployment_id": _STR,
    "service": _STR,
    "environment": _STR,
    "status": _STR,
    "started_at": TS,
    "finished_at": TS,
    "commit_sha": _STR,
    "commit_shas": _SHAS,
}
CHANGE_COLUMNS: Final[dict[str, pl.DataType]] = {
    "change_id": _STR,
    "service": _STR,
    "author": _STR,
    "created_at": TS,
    "first_commit_at": TS,
    "merged_at": TS,
    "merge_commit_sha": _STR,
    "commit_shas": _SHAS,
}
INCIDENT_COLUMNS: Final[dict[str, pl.DataType]] = {
    "incident_id": _STR,
    "service": _STR,
    "started_at": TS,
    "resolved_at": TS,
}
REVIEW_COLUMNS: Final[dict[str, pl.DataType]] = {"change_id": _STR, "author": _STR, "created_at": TS}

_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "deployments": ("deployment_id", "service", "environment", "status", "finished_at"),
    "changes": ("change_id", "service", "created_at"),
    "incidents": ("incident_id", "service", "started_at"),
    "reviews": ("change_id", "created_at"),
}


# --------------------------------------------------------------------------------------------------------------
# The 2023 DORA performance levels — encoded once; docs/dora.md reproduces this table with its source.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """One performance level of one metric: the report's wording and the rule okrflow applies."""

    level: Level
    report: str  # the 2023 report's wording for this cluster
    rule: str  # how a measured value is classified into it (docs/dora.md)
    bound: float | None  # the numeric bound of ``rule``; None for the last (catch-all) band


@dataclass(frozen=True)
class MetricLevels:
    metric: str
    unit: str
    bands: tuple[Band, Band, Band, Band]


DAY_S: Final = 86_400.0
HOUR_S: Final = 3_600.0

LEVELS_SOURCE: Final = (
    "DORA, Accelerate State of DevOps Report 2023 (Google Cloud), section 'How do you compare?', "
    "software delivery performance levels table (https://dora.dev/research/2023/dora-report/)"
)

LEVELS_2023: Final[dict[str, MetricLevels]] = {
    "deployment_frequency": MetricLevels(
        "deployment_frequency",
        "deployment days per week / per month (median)",
        (
            Band("elite", "On demand", "median deployment days per week >= 5", 5.0),
            Band("high", "Between once per day and once per week", "median deployment days per week >= 1", 1.0),
            Band("medium", "Between once per week and once per month", "median deployment days per month >= 1", 1.0),
            Band("low", "Between once per week and once per month", "otherwise (less than monthly)", None),
        ),
    ),
    "lead_time": MetricLevels(
        "lead_time",
        "median lead time for changes, seconds",
        (
            Band("elite", "Less than one day", "< 1 day", DAY_S),
            Band("high", "Between one day and one week", "<= 7 days", 7 * DAY_S),
            Band("medium", "Between one week and one month", "<= 30 days", 30 * DAY_S),
            Band("low", "Between one week and one month", "> 30 days", None),
        ),
    ),
    "change_failure_rate": MetricLevels(
        "change_failure_rate",
        "fraction of production deployments",
        (
            Band("elite", "5%", "<= 5%", 0.05),
            Band("high", "10%", "<= 10%", 0.10),
            Band("medium", "15%", "<= 15%", 0.15),
            Band("low", "64%", "> 15%", None),
        ),
    ),
    "recovery_time": MetricLevels(
        "recovery_time",
        "median failed deployment recovery time, seconds",
        (
            Band("elite", "Less than one hour", "< 1 hour", HOUR_S),
            Band("high", "Less than one day", "< 1 day", DAY_S),
            Band("medium", "Between one day and one week", "<= 7 days", 7 * DAY_S),
            Band("low", "Between one month and six months", "> 7 days", None),
        ),
    ),
}

# Which bands are strict ("less than") rather than inclusive ("at most"): the report says "less than" there.
_STRICT: Final[dict[str, tuple[bool, bool, bool]]] = {
    "lead_time": (True, False, False),
    "change_failure_rate": (False, False, False),
    "recovery_time": (True, True, False),
}


def _bound(metric: str, i: int) -> float:
    b = LEVELS_2023[metric].bands[i].bound
    assert b is not None
    return b


def level_expr(metric: str, value: pl.Expr) -> pl.Expr:
    """The 2023 level of a lower-is-better metric (``lead_time``/``recovery_time`` in seconds,
    ``change_failure_rate`` as a fraction); null where the value is null."""
    strict = _STRICT[metric]
    out: pl.Expr = pl.lit("low")
    for i in (2, 1, 0):
        cond = value < _bound(metric, i) if strict[i] else value <= _bound(metric, i)
        out = pl.when(cond).then(pl.lit(LEVELS[i])).otherwise(out)
    return pl.when(value.is_null()).then(pl.lit(None, _STR)).otherwise(out)


def deployment_frequency_level_expr(per_week: pl.Expr, per_month: pl.Expr) -> pl.Expr:
    """The 2023 deployment-frequency level from the median deployment days per week and per month."""
    m = "deployment_frequency"
    return (
        pl.when(per_week.is_null() | per_month.is_null())
        .then(pl.lit(None, _STR))
        .when(per_week >= _bound(m, 0))
        .then(pl.lit("elite"))
        .when(per_week >= _bound(m, 1))
        .then(pl.lit("high"))
        .when(per_month >= _bound(m, 2))
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def classify(metric: str, value: float | None, per_month: float | None = None) -> Level | None:
    """Scalar form of the level rules (for single values, e.g. a KPI); ``deployment_frequency`` takes the median
    deployment days per week as ``value`` and per month as ``per_month``."""
    frame = pl.DataFrame({"v": [value], "m": [per_month]}, schema={"v": pl.Float64, "m": pl.Float64})
    if metric == "deployment_frequency":
        expr = deployment_frequency_level_expr(pl.col("v"), pl.col("m"))
    else:
        expr = level_expr(metric, pl.col("v"))
    got = frame.select(expr.alias("level")).item()
    return None if got is None else _as_level(str(got))


def _as_level(name: str) -> Level:
    for lv in LEVELS:
        if lv == name:
            return lv
    raise ValueError(name)


# --------------------------------------------------------------------------------------------------------------
# Periods and frames
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A half-open reporting interval ``[start, end)`` of aware instants."""

    label: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds need a time zone")
        if self.end <= self.start:
            raise ValueError("period ends before it starts")


def calendar_periods(start: datetime, end: datetime, every: Literal["week", "month", "quarter"]) -> list[Period]:
    """Consecutive calendar periods (UTC ISO weeks, months or quarters) covering ``[start, end)``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("period bounds need a time zone")
    s, e = start.astimezone(UTC), end.astimezone(UTC)
    out: list[Period] = []
    if every == "week":
        cur = datetime.combine(s.date() - timedelta(days=s.weekday()), datetime.min.time(), UTC)
        while cur < e:
            nxt = cur + timedelta(days=7)
            iso = cur.isocalendar()
            out.append(Period(f"{iso.year}-W{iso.week:02d}", cur, nxt))
            cur = nxt
        return out
    step = 1 if every == "month" else 3
    cur = datetime(s.year, (s.month - 1) // step * step + 1, 1, tzinfo=UTC)
    while cur < e:
        y, m = divmod(cur.month - 1 + step, 12)
        nxt = datetime(cur.year + y, m + 1, 1, tzinfo=UTC)
        label = f"{cur.year}-{cur.month:02d}" if step == 1 else f"{cur.year}-Q{(cur.month - 1) // 3 + 1}"
        out.append(Period(label, cur, nxt))
        cur = nxt
    return out


def _conform(frame: pl.DataFrame, columns: Mapping[str, pl.DataType], kind: str) -> pl.DataFrame:
    missing = [c for c in _REQUIRED[kind] if c not in frame.columns]
    if missing:
        raise ValueError(f"{kind} frame lacks column(s): {', '.join(missing)}")
    exprs: list[pl.Expr] = []
    for name, dtype in columns.items():
        if name not in frame.columns:
            exprs.append(pl.lit(None, dtype).alias(name))
            continue
        have = frame.schema[name]
        if isinstance(dtype, pl.Datetime):
            if not isinstance(have, pl.Datetime) or have.time_zone is None:
                if have == pl.Null:
                    exprs.append(pl.col(name).cast(dtype))
                    continue
                raise ValueError(f"{kind}.{name} must be a time-zone aware datetime, not {have}")
            exprs.append(pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
        else:
            exprs.append(pl.col(name).cast(dtype))
    return frame.with_columns(exprs)


def _records_frame(rows: list[dict[str, object]], columns: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=dict(columns), orient="row") if rows else pl.DataFrame(schema=dict(columns))


def _with_extra(frame: pl.DataFrame, extra: Mapping[str, Sequence[object]] | None) -> pl.DataFrame:
    if not extra:
        return frame
    return frame.with_columns([pl.Series(k, list(v), dtype=_STR) for k, v in extra.items()])


def deployments_frame(
    records: Iterable[DeploymentRecord], extra: Mapping[str, Sequence[object]] | None = None
) -> pl.DataFrame:
    """A deployments frame from domain records; ``extra`` adds parallel columns (e.g. ``{"team": [...]}``)."""
    rows: list[dict[str, object]] = [
        {
            "deployment_id": r.external_id,
            "service": r.service,
            "environment": r.environment,
            "status": r.status,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "commit_sha": r.commit_sha,
            "commit_shas": list(r.commit_shas),
        }
        for r in records
    ]
    return _with_extra(_records_frame(rows, DEPLOYMENT_COLUMNS), extra)


def changes_frame(records: Iterable[ChangeRecord], extra: Mapping[str, Sequence[object]] | None = None) -> pl.DataFrame:
    rows: list[dict[str, object]] = [
        {
            "change_id": r.external_id,
            "service": r.service,
            "author": r.author,
            "created_at": r.created_at,
            "first_commit_at": r.first_commit_at,
            "merged_at": r.merged_at,
            "merge_commit_sha": r.merge_commit_sha,
            "commit_shas": list(r.commit_shas),
        }
        for r in records
    ]
    return _with_extra(_records_frame(rows, CHANGE_COLUMNS), extra)


def incidents_frame(
    records: Iterable[IncidentRecord], extra: Mapping[str, Sequence[object]] | None = None
) -> pl.DataFrame:
    rows: list[dict[str, object]] = [
        {"incident_id": r.external_id, "service": r.service, "started_at": r.started_at, "resolved_at": r.resolved_at}
        for r in records
    ]
    return _with_extra(_records_frame(rows, INCIDENT_COLUMNS), extra)


def reviews_frame(rows: Iterable[tuple[str, str, datetime]]) -> pl.DataFrame:
    """Review comments as ``(change_id, author, created_at)`` tuples."""
    data: list[dict[str, object]] = [{"change_id": c, "author": a, "created_at": t} for c, a, t in rows]
    return _records_frame(data, REVIEW_COLUMNS)


def production_deployments(deployments: pl.DataFrame, *, environments: Sequence[str] = (PRODUCTION,)) -> pl.DataFrame:
    """Successful deployments to a production environment that have a finish time."""
    d = _conform(deployments, DEPLOYMENT_COLUMNS, "deployments")
    envs = [e.lower() for e in environments]
    return d.filter(
        (pl.col("status").str.to_lowercase() == SUCCESS)
        & pl.col("environment").str.to_lowercase().is_in(envs)
        & pl.col("finished_at").is_not_null()
    )


def _span(end: str | pl.Expr, start: str | pl.Expr) -> pl.Expr:
    """``end − start`` as a Duration; null when either is null or the span is negative."""
    e = pl.col(end) if isinstance(end, str) else end
    s = pl.col(start) if isinstance(start, str) else start
    d = e - s
    return pl.when(d >= pl.duration(microseconds=0)).then(d).otherwise(pl.lit(None, DUR))


def _seconds(expr: pl.Expr) -> pl.Expr:
    return expr.dt.total_microseconds() / 1e6


def _in_periods(frame: pl.DataFrame, at: str, periods: Sequence[Period]) -> pl.DataFrame:
    """Rows repeated once per period that contains ``at`` (periods may overlap), with a ``period`` column."""
    parts = [
        frame.filter((pl.col(at) >= p.start) & (pl.col(at) < p.end)).with_columns(period=pl.lit(p.label))
        for p in periods
    ]
    if not parts:
        return frame.clear().with_columns(period=pl.lit(None, _STR))
    return pl.concat(parts, how="vertical")


def _grid(groups: pl.DataFrame, periods: Sequence[Period]) -> pl.DataFrame:
    labels = pl.DataFrame({"period": [p.label for p in periods]}, schema={"period": _STR})
    return groups.join(labels, how="cross")


# --------------------------------------------------------------------------------------------------------------
# Deployment frequency
# --------------------------------------------------------------------------------------------------------------


def deployment_days(
    deployments: pl.DataFrame,
    start: datetime,
    end: datetime,
    *,
    by: Sequence[str] = ("service",),
    every: Literal["week", "month"] = "week",
    tz: str = "UTC",
    environments: Sequence[str] = (PRODUCTION,),
) -> pl.DataFrame:
    """Per group and ISO week (or calendar month) intersecting ``[start, end)``: production ``deployments`` and
    ``deployment_days`` (distinct local days in ``tz``), zeros included — the trend series. Groups are those with
    any production deployment in the input."""
    prod = production_deployments(deployments, environments=environments)
    by = list(by)
    local = pl.col("finished_at").dt.convert_time_zone(tz).dt.date()
    inside = prod.filter((pl.col("finished_at") >= start) & (pl.col("finished_at") < end)).with_columns(day=local)
    bucket = (
        (pl.col("day") - pl.duration(days=pl.col("day").dt.weekday() - 1))
        if every == "week"
        else pl.col("day").dt.truncate("1mo")
    )
    counted = (
        inside.with_columns(bucket=bucket)
        .group_by([*by, "bucket"])
        .agg(deployments=pl.len().cast(pl.Int64), deployment_days=pl.col("day").n_unique().cast(pl.Int64))
    )
    buckets = pl.DataFrame({"bucket": _buckets(start, end, every, tz)}, schema={"bucket": pl.Date()})
    groups = prod.select(by).unique()
    return (
        groups.join(buckets, how="cross")
        .join(counted, on=[*by, "bucket"], how="left", nulls_equal=True)
        .with_columns(pl.col("deployments", "deployment_days").fill_null(0))
        .rename({"bucket": "week_start" if every == "week" else "month_start"})
        .sort([*by, "week_start" if every == "week" else "month_start"], nulls_last=True)
    )


def _buckets(start: datetime, end: datetime, every: str, tz: str) -> list[date]:
    edges = pl.DataFrame({"t": [start, end - timedelta(microseconds=1)]}, schema={"t": TS})
    first, last = edges.select(pl.col("t").dt.convert_time_zone(tz).dt.date())["t"].to_list()
    if every == "week":
        first = first - timedelta(days=first.weekday())
        out = []
        while first <= last:
            out.append(first)
            first += timedelta(days=7)
        return out
    cur = first.replace(day=1)
    out = []
    while cur <= last:
        out.append(cur)
        cur = date(cur.year + cur.month // 12, cur.month % 12 + 1, 1)
    return out


def deployment_frequency(
    deployments: pl.DataFrame,
    periods: Sequence[Period],
    *,
    by: Sequence[str] = ("service",),
    tz: str = "UTC",
    environments: Sequence[str] = (PRODUCTION,),
) -> pl.DataFrame:
    """Per group and period: ``deployments``, ``deployment_days``, ``weeks``, ``median_days_per_week``,
    ``median_days_per_month``, ``deployments_per_week`` (mean) and ``level`` (2023)."""
    by = list(by)
    parts: list[pl.DataFrame] = []
    for p in periods:
        weekly = deployment_days(deployments, p.start, p.end, by=by, every="week", tz=tz, environments=environments)
        monthly = deployment_days(deployments, p.start, p.end, by=by, every="month", tz=tz, environments=environments)
        w = weekly.group_by(by).agg(
            deployments=pl.col("deployments").sum(),
            deployment_days=pl.col("deployment_days").sum(),
            weeks=pl.len().cast(pl.Int64),
            median_days_per_week=pl.col("deployment_days").median(),
        )
        m = monthly.group_by(by).agg(median_days_per_month=pl.col("deployment_days").median())
        parts.append(w.join(m, on=by, how="left", nulls_equal=True).with_columns(period=pl.lit(p.label)))
    schema = {
        "deployments": pl.Int64,
        "deployment_days": pl.Int64,
        "weeks": pl.Int64,
        "median_days_per_week": pl.Float64,
        "median_days_per_month": pl.Float64,
    }
    if parts:
        out = pl.concat(parts, how="vertical_relaxed")
    else:
        d = _conform(deployments, DEPLOYMENT_COLUMNS, "deployments")
        out = pl.DataFrame(schema={**{c: d.schema[c] for c in by}, **schema, "period": _STR})
    weeks_in = (pl.col("weeks")).cast(pl.Float64)
    return out.select(
        *by,
        "period",
        pl.col("deployments"),
        pl.col("deployment_days"),
        pl.col("weeks"),
        pl.col("median_days_per_week").cast(pl.Float64),
        pl.col("median_days_per_month").cast(pl.Float64),
        deployments_per_week=pl.col("deployments") / weeks_in,
        level=deployment_frequency_level_expr(pl.col("median_days_per_week"), pl.col("median_days_per_month")),
    ).sort([*by, "period"], nulls_last=True)


# --------------------------------------------------------------------------------------------------------------
# Lead time for changes
# --------------------------------------------------------------------------------------------------------------


def _scope_cols(scope: str | Sequence[str] | None) -> list[str]:
    if scope is None:
        return []
    return [scope] if isinstance(scope, str) else list(scope)


def _sha_rows(frame: pl.DataFrame, keep: list[str], single: str) -> pl.DataFrame:
    """One row per (row, sha) over the ``single`` sha column and the ``commit_shas`` list; empty shas dropped.
    Duplicates are harmless (callers take the first match), so they are not removed."""
    lazy = frame.lazy()
    heads = lazy.select(*keep, sha=pl.col(single))
    lists = lazy.select(*keep, sha=pl.col("commit_shas")).explode("sha")
    both = pl.concat([heads, lists], how="vertical")
    return both.filter(pl.col("sha").is_not_null() & (pl.col("sha") != "")).collect()


def _first_deployment(
    changes: pl.DataFrame,
    deployments: pl.DataFrame,
    scope: str | Sequence[str] | None,
    environments: Sequence[str],
) -> pl.DataFrame:
    """``__row`` (of a conformed changes frame with a row index), ``deployment_id``, ``deployed_at``."""
    sc = _scope_cols(scope)
    prod = production_deployments(deployments, environments=environments)
    change_shas = _sha_rows(changes, ["__row", *sc], "merge_commit_sha")
    dep_shas = _sha_rows(
        prod.select(
            "deployment_id",
            "finished_at",
            "started_at",
            "commit_sha",
            "commit_shas",
            *[pl.col(s).alias(f"__d_{s}") for s in sc],
        ),
        ["deployment_id", *[f"__d_{s}" for s in sc], "finished_at", "started_at"],
        "commit_sha",
    )
    joined = change_shas.join(dep_shas, on="sha", how="inner")
    for s in sc:
        joined = joined.filter(pl.col(s) == pl.col(f"__d_{s}"))
    return (
        joined.sort(["__row", "finished_at", "started_at", "deployment_id"], nulls_last=True)
        .group_by("__row", maintain_order=True)
        .first()
        .select("__row", "deployment_id", deployed_at=pl.col("finished_at"))
    )


def deployments_of_changes(
    changes: pl.DataFrame,
    deployments: pl.DataFrame,
    *,
    scope: str | Sequence[str] | None = "service",
    environments: Sequence[str] = (PRODUCTION,),
) -> pl.DataFrame:
    """Per change that reached production: ``change_id``, ``deployment_id``, ``deployed_at`` — the earliest finished
    production deployment (ties: earlier start, then smaller id) whose head or new commits include the change's
    merge commit or one of its commits, within the same ``scope`` columns (None: any deployment)."""
    c = _conform(changes, CHANGE_COLUMNS, "changes").with_row_index("__row")
    hits = _first_deployment(c, deployments, scope, environments)
    return c.select("__row", "change_id").join(hits, on="__row", how="inner").drop("__row")


def first_reviews(changes: pl.DataFrame, reviews: pl.DataFrame | None) -> pl.DataFrame:
    """Per change: ``first_review_at`` — the earliest review comment by someone other than the change's author
    (all comments count when the author is unknown)."""
    c = _conform(changes, CHANGE_COLUMNS, "changes").select("change_id", change_author="author")
    if reviews is None:
        return c.select("change_id", first_review_at=pl.lit(None, TS))
    r = _conform(reviews, REVIEW_COLUMNS, "reviews")
    own = (
        pl.col("change_author").is_not_null()
        & (pl.col("change_author") != "")
        & (pl.col("author").fill_null("") == pl.col("change_author"))
    )
    firsts = (
        r.join(c, on="change_id", how="inner")
        .filter(~own & pl.col("created_at").is_not_null())
        .group_by("change_id")
        .agg(first_review_at=pl.col("created_at").min())
    )
    return c.select("change_id").join(firsts, on="change_id", how="left")


def change_lead_times(
    changes: pl.DataFrame,
    deployments: pl.DataFrame,
    reviews: pl.DataFrame | None = None,
    *,
    scope: str | Sequence[str] | None = "service",
    environments: Sequence[str] = (PRODUCTION,),
) -> pl.DataFrame:
    """One row per change with its timestamps (``first_commit_at``, ``created_at``, ``first_review_at``,
    ``merged_at``, ``deployed_at``), ``deployment_id`` and the durations ``coding_time``, ``pickup_time``,
    ``review_time``, ``deploy_time`` and ``lead_time`` (first commit → deployed; DevLake's "cycle time")."""
    c = _conform(changes, CHANGE_COLUMNS, "changes").with_row_index("__row")
    hits = _first_deployment(c, deployments, scope, environments)
    out = c.drop("commit_shas")
    if reviews is None:
        out = out.with_columns(first_review_at=pl.lit(None, TS))
    else:
        out = out.join(first_reviews(c.drop("__row"), reviews), on="change_id", how="left", maintain_order="left")
    start = pl.coalesce(pl.col("first_commit_at"), pl.col("created_at"))
    return (
        out.join(hits, on="__row", how="left", maintain_order="left")
        .drop("__row")
        .with_columns(
            coding_time=_span("created_at", "first_commit_at"),
            pickup_time=_span("first_review_at", "created_at"),
            review_time=_span("merged_at", "first_review_at"),
            deploy_time=_span("deployed_at", "merged_at"),
            lead_time=_span(pl.col("deployed_at"), start),
        )
    )


def lead_time_for_changes(
    lead_times: pl.DataFrame,
    periods: Sequence[Period],
    *,
    by: Sequence[str] = ("service",),
) -> pl.DataFrame:
    """Per group and period of ``deployed_at``: ``changes`` (deployed, with a lead time), ``median_lead_time``,
    ``p85_lead_time`` and ``level`` — from :func:`change_lead_times`'s output."""
    by = list(by)
    done = lead_times.filter(pl.col("lead_time").is_not_null())
    per = _in_periods(done, "deployed_at", periods)
    agg = per.group_by([*by, "period"]).agg(
        changes=pl.len().cast(pl.Int64),
        median_lead_time=pl.col("lead_time").median(),
        p85_lead_time=pl.col("lead_time").quantile(0.85, interpolation="linear"),
    )
    grid = _grid(lead_times.select(by).unique(), periods)
    return (
        grid.join(agg, on=[*by, "period"], how="left", nulls_equal=True)
        .with_columns(pl.col("changes").fill_null(0))
        .with_columns(level=level_expr("lead_time", _seconds(pl.col("median_lead_time"))))
        .sort([*by, "period"], nulls_last=True)
    )


# --------------------------------------------------------------------------------------------------------------
# Incidents: attribution, change failure rate, recovery time
# --------------------------------------------------------------------------------------------------------------


def attribute_incidents(
    incidents: pl.DataFrame,
    deployments: pl.DataFrame,
    *,
    scope: str | Sequence[str] | None = "service",
    environments: Sequence[str] = (PRODUCTION,),
) -> pl.DataFrame:
    """Per incident: ``deployment_id`` and ``deployment_finished_at`` of the last production deployment of the same
    ``scope`` that finished at or before the incident started (null when there is none). Among deployments that
    finished at the same instant, the later-started one (then the larger id) is taken."""
    sc = _scope_cols(scope)
    inc = _conform(incidents, INCIDENT_COLUMNS, "incidents")
    prod = production_deployments(deployments, environments=environments)
    right = (
        prod.select(
            *[pl.col(s).alias(f"__d_{s}") for s in sc],
            "deployment_id",
            "started_at",
            deployment_finished_at=pl.col("finished_at"),
        )
        .sort(["deployment_finished_at", "started_at", "deployment_id"], nulls_last=False)
        .unique(subset=[*[f"__d_{s}" for s in sc], "deployment_finished_at"], keep="last", maintain_order=True)
        .drop("started_at")
    )
    for s in sc:  # a null scope never matches
        right = right.filter(pl.col(f"__d_{s}").is_not_null())
    left = inc.with_row_index("__row").sort("started_at")
    joined = left.join_asof(
        right,
        left_on="started_at",
        right_on="deployment_finished_at",
        by_left=sc or None,
        by_right=[f"__d_{s}" for s in sc] or None,
        strategy="backward",
        allow_exact_matches=True,
        check_sortedness=False,
    )
    return (
        joined.sort("__row")
        .drop("__row", *[c for c in joined.columns if c.startswith("__d_")], strict=False)
        .select(*inc.columns, "deployment_id", "deployment_finished_at")
    )


def change_failure_rate(
    deployments: pl.DataFrame,
    incidents: pl.DataFrame,
    periods: Sequence[Period],
    *,
    by: Sequence[str] = ("service",),
    scope: str | Sequence[str] | None = "service",
    environments: Sequence[str] = (PRODUCTION,),
) -> pl.DataFrame:
    """Per group and period of the deployment's finish: ``deployments``, ``failed_deployments`` (with at least one
    attributed incident), ``change_failure_rate`` in [0, 1] (null without deployments) and ``level``."""
    by = list(by)
    prod = production_deployments(deployments, environments=environments)
    hit = (
        attribute_incidents(incidents, deployments, scope=scope, environments=environments)
        .filter(pl.col("deployment_id").is_not_null())
        .select("deployment_id")
        .unique()
        .with_columns(failed=pl.lit(True))
    )
    flagged = prod.join(hit, on="deployment_id", how="left").with_columns(pl.col("failed").fill_null(False))
    per = _in_periods(flagged, "finished_at", periods)
    agg = per.group_by([*by, "period"]).agg(
        deployments=pl.len().cast(pl.Int64), failed_deployments=pl.col("failed").sum().cast(pl.Int64)
    )
    grid = _grid(prod.select(by).unique(), periods)
    rate = pl.when(pl.col("deployments") > 0).then(pl.col("failed_deployments") / pl.col("deployments"))
    return (
        grid.join(agg, on=[*by, "period"], how="left", nulls_equal=True)
        .with_columns(pl.col("deployments", "failed_deployments").fill_null(0))
        .with_columns(change_failure_rate=rate.otherwise(None))
        .with_columns(level=level_expr("change_failure_rate", pl.col("change_failure_rate")))
        .sort([*by, "period"], nulls_last=True)
    )


def incident_recovery(
    incidents: pl.DataFrame,
    deployments: pl.DataFrame,
    *,
    scope: str | Sequence[str] | None = "service",
    environments: Sequence[str] = (PRODUCTION,),
) -> pl.DataFrame:
    """Per incident: the attribution plus ``recovery_time`` (resolved − attributed deployment finished: DORA 2023's
    failed deployment recovery time) and ``time_to_restore`` (resolved − started)."""
    att = attribute_incidents(incidents, deployments, scope=scope, environments=environments)
    return att.with_columns(
        recovery_time=_span("resolved_at", "deployment_finished_at"),
        time_to_restore=_span("resolved_at", "started_at"),
    )


def failed_deployment_recovery_time(
    incidents: pl.DataFrame,
    deployments: pl.DataFrame,
    periods: Sequence[Period],
    *,
    by: Sequence[str] = ("service",),
    scope: str | Sequence[str] | None = "service",
    environments: Sequence[str] = (PRODUCTION,),
) -> pl.DataFrame:
    """Per group (of the incident) and period of its resolution: ``incidents`` (resolved, attributed),
    ``median_recovery_time``, ``median_time_to_restore`` (over all resolved incidents) and ``level`` (of the
    recovery time)."""
    by = list(by)
    rec = incident_recovery(incidents, deployments, scope=scope, environments=environments)
    per = _in_periods(rec.filter(pl.col("resolved_at").is_not_null()), "resolved_at", periods)
    agg = per.group_by([*by, "period"]).agg(
        incidents=pl.col("recovery_time").is_not_null().sum().cast(pl.Int64),
        median_recovery_time=pl.col("recovery_time").median(),
        median_time_to_restore=pl.col("time_to_restore").median(),
    )
    grid = _grid(rec.select(by).unique(), periods)
    return (
        grid.join(agg, on=[*by, "period"], how="left", nulls_equal=True)
        .with_columns(pl.col("incidents").fill_null(0))
        .with_columns(level=level_expr("recovery_time", _seconds(pl.col("median_recovery_time"))))
        .sort([*by, "period"], nulls_last=True)
    )


def dora_report(
    deployments: pl.DataFrame,
    changes: pl.DataFrame,
    incidents: pl.DataFrame,
    periods: Sequence[Period],
    reviews: pl.DataFrame | None = None,
    *,
    by: Sequence[str] = ("service",),
    scope: str | Sequence[str] | None = "service",
    tz: str = "UTC",
    environments: Sequence[str] = (PRODUCTION,),
) -> pl.DataFrame:
    """The four metrics and their levels side by side, one row per group and period."""
    by = list(by)
    df = deployment_frequency(deployments, periods, by=by, tz=tz, environments=environments).rename(
        {"level": "deployment_frequency_level"}
    )
    lt = lead_time_for_changes(
        change_lead_times(changes, deployments, reviews, scope=scope, environments=environments), periods, by=by
    ).rename({"level": "lead_time_level"})
    cfr = change_failure_rate(deployments, incidents, periods, by=by, scope=scope, environments=environments).rename(
        {"level": "change_failure_rate_level", "deployments": "cfr_deployments"}
    )
    rt = failed_deployment_recovery_time(
        incidents, deployments, periods, by=by, scope=scope, environments=environments
    ).rename({"level": "recovery_time_level"})
    keys = [*by, "period"]
    frames = [df, lt, cfr.drop("cfr_deployments"), rt]
    all_keys = pl.concat([f.select(keys) for f in frames], how="vertical_relaxed").unique()
    out = all_keys
    for f in frames:
        out = out.join(f, on=keys, how="left", nulls_equal=True)
    return out.sort(keys, nulls_last=True)
