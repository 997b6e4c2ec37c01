"""Time-series helpers for catalog metrics: bucketing by the metric's aggregation, and ratios of two series."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

AGGREGATIONS = ("sum", "mean", "last", "ratio")
BUCKETS = ("day", "week", "month")


def bucket_start(at: datetime, bucket: str) -> datetime:
    """Start (UTC midnight) of the day, ISO week (Monday) or calendar month that contains ``at``."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    raise ValueError(f"bucket is one of {', '.join(BUCKETS)}")


def aggregate(
    times: Sequence[datetime], values: Sequence[float], how: str, bucket: str
) -> tuple[list[datetime], list[float]]:
    """Values per bucket: ``sum``, ``mean`` or ``last`` (by time). A ``ratio`` metric's values are already
    ratios, so they are averaged here; :func:`ratio` builds them from the two underlying series."""
    if len(times) != len(values):
        raise ValueError("times and values must have the same length")
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregation is one of {', '.join(AGGREGATIONS)}")
    if not times:
        return [], []
    order = np.argsort(np.array([t.timestamp() for t in times]), kind="stable")
    starts = [bucket_start(times[i], bucket) for i in order]
    vals = np.asarray(values, dtype=float)[order]
    keys = np.array([s.timestamp() for s in starts])
    uniq, first_idx, inverse = np.unique(keys, return_index=True, return_inverse=True)
    out: npt.NDArray[np.float64]
    if how == "sum":
        out = np.bincount(inverse, weights=vals).astype(float)
    elif how in ("mean", "ratio"):
        out = (np.bincount(inverse, weights=vals) / np.bincount(inverse)).astype(float)
    else:  # last: the value with the latest time in each bucket (input is sorted by time)
        last_idx = np.zeros(len(uniq), dtype=int)
        np.maximum.at(last_idx, inverse, np.arange(len(vals)))
        out = vals[last_idx]
    return [starts[i] for i in first_idx], [float(v) for v in out]


def ratio(
    num_times: Sequence[datetime],
    num_values: Sequence[float],
    den_times: Sequence[datetime],
    den_values: Sequence[float],
    scale: float = 1.0,
) -> tuple[list[datetime], list[float]]:
    """``scale · numerator / denominator`` at the times both series have; a zero denominator gives no point."""
    den = dict(zip(den_times, den_values, strict=True))
    out_t, out_v = [], []
    for t, n in sorted(zip(num_times, num_values, strict=True)):
        d = den.get(t)
        if d is None or d == 0:
            continue
        out_t.append(t)
        out_v.append(scale * n / d)
    return out_t, out_v
