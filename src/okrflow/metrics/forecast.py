"""Monte Carlo forecasts from historical daily throughput (Vacanti, *When Will It Be Done?*).

Each trial draws one historical day's throughput (with replacement) for every future day — a bootstrap of the
daily throughput over a window such as the last 90 days, zero days included. The trials form a
``trials × days`` matrix; its row sums answer "how many items by date D", and the first day on which a row's
cumulative sum reaches N (``argmax`` of ``cumsum >= N``) answers "when will these N items be done".

Percentiles are read off the sorted trial outcomes so that the stated share of trials is met:

- **when** (days, ascending is worse): the p-answer is the smallest day count by which at least p of the trials
  are done — the p-th percentile (p50 ≤ p85 ≤ p95).
- **how many** (items, ascending is better): the p-answer is the largest count that at least p of the trials
  reach — the (1 − p)-th percentile; the 85% answer is the 15th percentile (p50 ≥ p85 ≥ p95).

Reproducible: the same samples, parameters and seed give the same result (``numpy.random.default_rng``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from okrflow.metrics.flow_metrics import FlowBase, day_edges

CONFIDENCES = (50, 85, 95)
DEFAULT_TRIALS = 10_000
_CHUNK_CELLS = 4_000_000  # trials × days per simulated block, bounds the memory of "when" to ~32 MB


def daily_throughput(
    base: FlowBase, since: date, until: date, *, tz: str = "UTC", items: npt.NDArray[np.bool_] | None = None
) -> npt.NDArray[np.int64]:
    """Items done on each local day ``since`` … ``until`` (inclusive), zero days included; ``items`` optionally
    selects items (a boolean mask in item order, e.g. one team)."""
    edges = day_edges(since, until, tz)
    done = base.done_us if items is None else base.done_us[items]
    day = np.searchsorted(edges, done, side="right") - 1
    day = day[(day >= 0) & (day < len(edges) - 1)]
    return np.bincount(day, minlength=len(edges) - 1).astype(np.int64)


@dataclass(frozen=True)
class Forecast:
    """``answers[p]``: items (how many) or days (when) at confidence p%; ``dates[p]`` for "when" (the day the
    N-th item is done, day 1 being ``start``). ``histogram``: ``value, trials, share`` where share is the
    cumulative share of trials at that confidence (how many: reaching ≥ value; when: done within value days)."""

    kind: str
    answers: dict[int, int | None]
    histogram: pl.DataFrame
    trials: int
    seed: int | None
    dates: dict[int, date | None]
    unfinished: int = 0  # "when": trials that did not reach N within max_days


def _check(samples: npt.NDArray[np.int64], trials: int) -> npt.NDArray[np.int64]:
    s = np.asarray(samples, dtype=np.int64)
    if s.ndim != 1 or len(s) == 0:
        raise ValueError("need at least one day of throughput history")
    if np.any(s < 0):
        raise ValueError("throughput cannot be negative")
    if trials < 1:
        raise ValueError("trials must be at least 1")
    return s


def how_many(
    samples: npt.NDArray[np.int64],
    days: int,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int | None = None,
) -> Forecast:
    """How many items will be done in the next ``days`` days."""
    s = _check(samples, trials)
    if days < 0:
        raise ValueError("days cannot be negative")
    rng = np.random.default_rng(seed)
    totals = np.zeros(trials, dtype=np.int64)
    block = max(1, _CHUNK_CELLS // trials)
    for offset in range(0, days, block):  # blocks of days, each a vectorized trials × block draw
        width = min(block, days - offset)
        totals += s[rng.integers(0, len(s), size=(trials, width))].sum(axis=1)
    ordered = np.sort(totals)
    answers: dict[int, int | None] = {p: int(ordered[math.floor((1 - p / 100) * trials)]) for p in CONFIDENCES}
    values, counts = np.unique(ordered, return_counts=True)
    reach = np.cumsum(counts[::-1])[::-1] / trials  # share of trials with at least this many
    hist = pl.DataFrame({"value": values, "trials": counts.astype(np.int64), "share": reach})
    return Forecast("how_many", answers, hist, trials, seed, dict.fromkeys(CONFIDENCES))


def how_many_by(
    samples: npt.NDArray[np.int64],
    start: date,
    by: date,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int | None = None,
) -> Forecast:
    """How many items will be done from ``start`` through ``by`` (both inclusive)."""
    return how_many(samples, max(0, (by - start).days + 1), trials=trials, seed=seed)


def when(
    samples: npt.NDArray[np.int64],
    items: int,
    *,
    start: date | None = None,
    trials: int = DEFAULT_TRIALS,
    seed: int | None = None,
    max_days: int = 3650,
) -> Forecast:
    """In how many days (and by which date, day 1 = ``start``) ``items`` items will be done. Trials still short
    after ``max_days`` are counted in ``unfinished``; a percentile that falls among them is ``None``."""
    s = _check(samples, trials)
    if items < 0:
        raise ValueError("items cannot be negative")
    result = np.full(trials, -1, dtype=np.int64)
    if items == 0:
        result[:] = 0
    elif s.max() > 0:
        rng = np.random.default_rng(seed)
        remaining = np.full(trials, items, dtype=np.int64)
        pending = np.arange(trials)
        mean = float(s.mean())
        block = int(min(max(16, math.ceil(1.5 * items / mean)), max(16, _CHUNK_CELLS // trials), max_days))
        offset = 0
        while len(pending) and offset < max_days:
            width = min(block, max_days - offset)
            done_by = np.cumsum(s[rng.integers(0, len(s), size=(len(pending), width))], axis=1)
            reached = done_by >= remaining[pending, None]
            hit = reached[:, -1]  # cumulative sums only grow: reached at all ⇔ reached on the last day
            result[pending[hit]] = offset + np.argmax(reached[hit], axis=1) + 1
            remaining[pending] -= done_by[:, -1]
            pending = pending[~hit]
            offset += width
    finished = np.sort(result[result >= 0])
    unfinished = trials - len(finished)
    answers: dict[int, int | None] = {}
    for p in CONFIDENCES:
        k = math.ceil(p / 100 * trials) - 1
        answers[p] = int(finished[k]) if k < len(finished) else None
    values, counts = np.unique(finished, return_counts=True)
    hist = pl.DataFrame(
        {"value": values.astype(np.int64), "trials": counts.astype(np.int64), "share": np.cumsum(counts) / trials}
    )
    dates: dict[int, date | None] = {
        p: (start + timedelta(days=v - 1) if v > 0 else start) if start is not None and v is not None else None
        for p, v in answers.items()
    }
    return Forecast("when", answers, hist, trials, seed, dates, unfinished)


__all__ = ["CONFIDENCES", "DEFAULT_TRIALS", "Forecast", "daily_throughput", "how_many", "how_many_by", "when"]
