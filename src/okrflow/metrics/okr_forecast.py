"""Where a key result lands at period end, and whether it is at risk.

Method (docs/okr-progress.md):
- **trend** (3 or more points at distinct times): ordinary least squares ``value = a + b·t`` over the check-in
  (or bound metric) history, evaluated at the period end, with a prediction interval from Student's t
  (``s·sqrt(1 + 1/n + (t_end − t̄)² / Sxx)``, n − 2 degrees of freedom) and the probability that the value at
  the end meets the target under that distribution.
- **expected line** (fewer points): the linear expected-progress line — the KR keeps moving at the planned pace
  from where it is now: ``progress_end = progress_now + (1 − elapsed)``; with no value at all,
  ``progress_now = 0`` at the start. No uncertainty band.
A KR is **at risk** when the forecast misses the target (forecast progress < 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import stats

from okrflow.domain.okr import Direction, KeyResultTarget, elapsed_fraction, progress, value_for_progress

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class KrForecast:
    method: str  # "trend" or "expected_line"
    value_at_end: float
    progress_at_end: float
    low: float | None  # prediction interval at ``level``
    high: float | None
    level: float
    probability_on_target: float | None
    at_risk: bool
    slope_per_day: float | None
    points: int


@dataclass(frozen=True)
class ScheduleGap:
    """Actual progress against the linear schedule (what most OKR tools show as expected vs actual)."""

    expected_progress: float
    actual_progress: float | None

    @property
    def gap(self) -> float | None:
        return None if self.actual_progress is None else self.actual_progress - self.expected_progress

    @property
    def behind(self) -> bool:
        return self.gap is not None and self.gap < 0


def schedule_gap(
    kr: KeyResultTarget, value: float | None, start: datetime, end: datetime, now: datetime
) -> ScheduleGap:
    return ScheduleGap(elapsed_fraction(start, end, now), progress(kr, value))


def _p_on_target(kr: KeyResultTarget, mean: float, scale: float, df: int) -> float:
    dist = stats.t(df, loc=mean, scale=scale)
    if kr.direction is Direction.INCREASE:
        return float(dist.sf(kr.target))
    if kr.direction is Direction.DECREASE:
        return float(dist.cdf(kr.target))
    if kr.direction is Direction.BAND:
        assert kr.band_low is not None and kr.band_high is not None
        return float(dist.cdf(kr.band_high) - dist.cdf(kr.band_low))
    return float(dist.sf(kr.milestone_count - 0.5))


def forecast(
    kr: KeyResultTarget,
    times: Sequence[datetime],
    values: Sequence[float],
    start: datetime,
    end: datetime,
    now: datetime,
    level: float = 0.8,
) -> KrForecast:
    """Forecast the KR's value at ``end`` from its history (``times``/``values``, any order)."""
    if len(times) != len(values):
        raise ValueError("times and values must have the same length")
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    t = np.array([(x - start).total_seconds() / SECONDS_PER_DAY for x in times], dtype=float)
    y = np.array(values, dtype=float)
    n = len(t)
    t_end = (end - start).total_seconds() / SECONDS_PER_DAY
    if n >= 3 and np.ptp(t) > 0 and np.all(np.isfinite(y)):
        tbar, ybar = t.mean(), y.mean()
        sxx = float(((t - tbar) ** 2).sum())
        slope = float(((t - tbar) * (y - ybar)).sum() / sxx)
        intercept = ybar - slope * tbar
        pred = float(intercept + slope * t_end)
        resid = y - (intercept + slope * t)
        s = math.sqrt(float((resid**2).sum()) / (n - 2))
        se = s * math.sqrt(1 + 1 / n + (t_end - tbar) ** 2 / sxx)
        if se > 0:
            q = float(stats.t.ppf(0.5 + level / 2, n - 2))
            low, high = pred - q * se, pred + q * se
            p_hit = _p_on_target(kr, pred, se, n - 2)
        else:  # a perfect line: no uncertainty left
            low = high = pred
            p_hit = 1.0 if (progress(kr, pred) or 0.0) >= 1.0 else 0.0
        p_end = progress(kr, pred)
        assert p_end is not None
        return KrForecast("trend", pred, p_end, low, high, level, p_hit, p_end < 1.0, slope, n)

    # Expected-progress line from the latest point (or from the baseline at the start).
    elapsed = elapsed_fraction(start, end, now)
    if n:
        latest = int(np.argmax(t))
        now_progress = progress(kr, float(y[latest])) or 0.0
    else:
        now_progress = 0.0
    p_end = now_progress + (1.0 - elapsed)
    return KrForecast(
        "expected_line",
        value_for_progress(kr, p_end),
        p_end,
        None,
        None,
        level,
        None,
        p_end < 1.0 - 1e-9,
        None,
        n,
    )
