"""Flow-metric engine speed: the full metric suite on synthetic 1M items / 10M status changes.

    python benchmarks/flow_bench.py [--items 1000000] [--changes 10000000] [--sample 20000] [--seed 1]

Generates the frames with NumPy (as the store delivers them: Polars, ordered by item and time, statuses as
strings), then times (a) the full suite — segments + timings, velocity, flow-time percentiles, efficiency,
distribution, load series, CFD, aging WIP, value-stream map — and reports seconds and peak RSS; (b) the
straightforward per-item Python reference (tests/flow_reference.py) on a sample, extrapolated per item, and
the speed-up ratio; (c) Monte Carlo "when" and "how many" with 10,000 trials. Targets (PRODUCT.md): suite ≤ 5 s
and ≤ 2 GB on 2 cores, ≥ 10× the per-item loop, Monte Carlo ≤ 200 ms. Prints the load average too: timings
on a shared machine are only as good as the share of the CPU it gives.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from okrflow.metrics import flow_metrics as fm
from okrflow.metrics import forecast, kanban, value_stream
from okrflow.metrics.flow import FlowFrames

FLOW = ["To Do", "Selected for Development", "In Progress", "Code Review", "Ready for QA", "In QA", "Done"]
RULES = pl.DataFrame(
    {
        "status": FLOW,
        "step": ["backlog", "planning", "development", "development", "testing", "testing", "done"],
        "step_order": [0, 1, 2, 2, 3, 3, 6],
        "active": [False, False, True, False, False, True, False],
    },
    schema={"status": pl.Utf8, "step": pl.Utf8, "step_order": pl.Int16, "active": pl.Boolean},
)
T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic(n: int, m: int, seed: int = 1) -> tuple[FlowFrames, pl.DataFrame]:
    """n items, about m status changes: a forward-biased random walk over FLOW (skips, backward moves and
    reopening included), exponential gaps of ~2 days; teams, sources and flow types at random."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 2 * m // n + 1, n)
    m = int(counts.sum())
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    t0 = int(T0.timestamp() * 1_000_000)
    created = t0 + rng.integers(0, 700 * 86_400 * 10**6, n)
    gaps = rng.exponential(2 * 86_400e6, m).astype(np.int64)
    cs = np.cumsum(gaps)
    at = np.repeat(created - (cs[starts] - gaps[starts]), counts) + cs
    delta = rng.choice(np.array([1, 2, -1, 0]), m, p=[0.7, 0.1, 0.12, 0.08])
    cd = np.cumsum(delta)
    to = np.clip(cd - np.repeat(cd[starts] - delta[starts], counts), 0, len(FLOW) - 1)
    frm = np.empty_like(to)
    frm[1:] = to[:-1]
    frm[starts] = 0
    cur = np.zeros(n, np.int64)
    has = counts > 0
    cur[has] = to[(starts + counts - 1)[has]]
    names = pl.Series(FLOW, dtype=pl.Utf8)

    def strings(codes: np.ndarray[Any, Any]) -> pl.Series:
        return names.gather(codes)

    def ts(us: np.ndarray[Any, Any]) -> pl.Series:
        return pl.Series(us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")

    ids = np.arange(1, n + 1, dtype=np.int64)
    items = pl.DataFrame({"item_id": ids, "created": ts(created), "status": strings(cur)})
    changes = pl.DataFrame(
        {
            "item_id": np.repeat(ids, counts),
            "at": ts(at),
            "from_status": strings(frm),
            "to_status": strings(to),
        }
    )
    attrs = pl.DataFrame(
        {
            "item_id": ids,
            "team_id": rng.integers(1, 11, n),
            "source_id": rng.integers(1, 3, n),
            "flow_type": pl.Series(["feature", "defect", "risk", "debt"]).gather(
                rng.choice(4, n, p=[0.6, 0.25, 0.05, 0.1])
            ),
        }
    )
    return FlowFrames(items, changes, RULES), attrs


def suite(frames: FlowFrames, attrs: pl.DataFrame, now: datetime) -> dict[str, float]:
    """The full metric suite, timed step by step (seconds)."""
    since, until = date(2025, 1, 1), date(2025, 12, 31)
    steps: list[tuple[str, Callable[[], Any]]] = []
    out: dict[str, float] = {}
    t = time.perf_counter()
    base = fm.prepare(frames, now, attrs)
    out["segments + timings"] = time.perf_counter() - t
    team = ["team_id"]
    steps = [
        ("velocity (week, team)", lambda: fm.flow_velocity(base, since, until, period="week", by=team)),
        ("flow time p50/p85/p95 (team)", lambda: fm.flow_time(base, since, until, by=team)),
        ("efficiency (team)", lambda: fm.flow_efficiency(base, since, until, by=team)),
        ("distribution (team)", lambda: fm.flow_distribution(base, since, until, by=team)),
        ("load series (team, 365 d)", lambda: fm.flow_load(base, since, until, by=team, tz="Europe/Berlin")),
        ("CFD (365 d, Europe/Berlin)", lambda: kanban.cumulative_flow(base, since, until, tz="Europe/Berlin")),
        ("aging WIP", lambda: kanban.aging_wip(base, by=team)),
        ("value-stream map", lambda: value_stream.value_stream_map(base, since, until)),
    ]
    for name, fn in steps:
        t = time.perf_counter()
        fn()
        out[name] = time.perf_counter() - t
    return out


def reference_suite(frames: FlowFrames, now: datetime, sample: int) -> tuple[int, float]:
    """The per-item Python reference on the first ``sample`` items (timings, per-step times, daily states)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.flow_reference import reference_daily_steps, reference_item, reference_step_times

    items = frames.items.head(sample)
    last_id = int(items["item_id"][-1])
    ch = frames.changes.filter(pl.col("item_id") <= last_id)
    rules = {r[0]: (r[1], r[2], r[3]) for r in frames.rules.iter_rows()}
    grouped: dict[int, list[tuple[datetime, str, str]]] = {}
    for i, at, f, to in ch.iter_rows():
        grouped.setdefault(i, []).append((at, f, to))
    zone_days = [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=k) for k in range(1, 366)]
    t = time.perf_counter()
    for item_id, created, status in items.iter_rows():
        hist = grouped.get(item_id, [])
        reference_item(created, status, hist, rules, now)
        reference_step_times(created, status, hist, rules, now, None, now)
        reference_daily_steps(created, status, hist, rules, now, zone_days)
    return len(items), time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--changes", type=int, default=10_000_000)
    ap.add_argument("--sample", type=int, default=20_000, help="items for the per-item reference")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="suite runs (the best and the median are printed)")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}  cpus: {os.cpu_count()}")
    t = time.perf_counter()
    frames, attrs = synthetic(args.items, args.changes, args.seed)
    gen = time.perf_counter() - t
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"synthetic: {frames.items.height:,} items, {frames.changes.height:,} changes in {gen:.1f} s")
    print(f"peak RSS after generating the input: {rss0:,.0f} MB")

    walls: list[float] = []
    cpus: list[float] = []
    for run in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        parts = suite(frames, attrs, NOW)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        print(f"run {run + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = min(walls)
    print(
        f"FULL SUITE: best {total:.2f} s, median {sorted(walls)[len(walls) // 2]:.2f} s wall "
        f"(CPU {min(cpus):.2f} s, all threads) — target ≤ 5 s; peak RSS {rss:,.0f} MB (target ≤ 2048 MB)"
    )

    n_ref, ref = reference_suite(frames, NOW, args.sample)
    per_item_ref = ref / n_ref
    per_item_vec = total / frames.items.height
    print(
        f"per-item reference: {n_ref:,} items in {ref:.2f} s = {per_item_ref * 1e6:.1f} µs/item "
        f"→ {per_item_ref * frames.items.height:.0f} s extrapolated; vectorized {per_item_vec * 1e6:.2f} µs/item; "
        f"speed-up {per_item_ref / per_item_vec:.0f}× (target ≥ 10×)"
    )

    samples = np.random.default_rng(args.seed).poisson(3.0, 90).astype(np.int64)
    t = time.perf_counter()
    w = forecast.when(samples, 500, start=date(2026, 1, 1), trials=10_000, seed=7)
    t_when = time.perf_counter() - t
    t = time.perf_counter()
    h = forecast.how_many(samples, 90, trials=10_000, seed=7)
    t_many = time.perf_counter() - t
    print(f"Monte Carlo 10,000 trials: when(500 items) {t_when * 1000:.0f} ms → {w.answers} days; ", end="")
    print(f"how_many(90 days) {t_many * 1000:.0f} ms → {h.answers} items (target ≤ 200 ms each)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
