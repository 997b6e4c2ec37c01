"""Per-item flow timings, vectorized over all items at once.

Input frames (see :class:`FlowFrames`, Polars):

- ``items``: ``item_id`` (int), ``created`` (datetime, UTC), ``status`` (current source status)
- ``changes``: ``item_id``, ``at`` (datetime, UTC), ``from_status``, ``to_status`` — in stored order
- ``rules``: one row per source status name: ``status``, ``step``, ``step_order``, ``active`` — built from the
  mapping for the (few hundred) distinct status names; the millions of changes are mapped by code lookup.

Definitions (docs/flow-metrics.md):

- An item's history is a sequence of **segments**: from ``created`` in the status before its first change
  (the first change's ``from_status``; the current status when there is none), then one segment per change
  until the next change; the last one stays open until ``now``. A change stamped before ``created`` moves the
  start of the history back to it, so time never runs backwards.
- **Work start** = the first entry into a step other than ``backlog`` (a move straight to ``done`` counts).
- **Done** = the start of the last segment when the item is in ``done`` now. A reopened item that is not done
  now is work in progress again and keeps its first work start (no history is wiped on a backward move).
- **Flow time** = done − work start. **Active time** = time inside [work start, done) — or [work start, now)
  for work in progress — spent in active steps; **waiting time** = flow time − active time. Statuses without a
  mapping count as work in progress, waiting (and are reported by the mapping check).
- **Backward moves** = changes to a step earlier than the step before (rework); reopening counts.
- Timestamps are instants (UTC microseconds); durations are exact, so time zones and DST never distort them.

Engine: the segments are laid out with index arithmetic (no sort when the changes come ordered by item and
time, as the store delivers them) and reduced per item with ``numpy.ufunc.reduceat`` — O(n) passes over flat
arrays (decision record 0004).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import polars as pl

BACKLOG_ORDER = 0
DONE_STEP = "done"
UNMAPPED = "unmapped"
_NO_TIME = np.iinfo(np.int64).max
NO_TIME = _NO_TIME  # "no such time" (not started, not done) in the µs arrays

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FlowFrames:
    items: pl.DataFrame
    changes: pl.DataFrame
    rules: pl.DataFrame


@dataclass(frozen=True)
class Segments:
    """Flat, item-ordered segment arrays. ``bounds[k]:bounds[k+1]`` are item k's segments."""

    item_ids: I64  # sorted unique item ids (index k)
    bounds: I64  # len n+1
    item_index: I64  # per segment: k
    start: I64  # µs since epoch, UTC
    end: I64
    code: npt.NDArray[np.int32]  # status code (index into rule arrays)
    step_names: list[str]  # per rule code
    step_order: npt.NDArray[np.int16]  # per segment
    active: npt.NDArray[np.bool_]
    is_done: npt.NDArray[np.bool_]


def _micros(series: pl.Series) -> I64:
    """Microseconds since the epoch (UTC) as int64, without extra copies."""
    return np.asarray(series.dt.epoch("us").to_numpy(), dtype=np.int64)


def _ints(series: pl.Series) -> I64:
    return np.asarray(series.to_numpy(), dtype=np.int64)


def _status_codes(
    statuses: pl.Series, rules: pl.DataFrame
) -> tuple[npt.NDArray[np.int32], list[str], npt.NDArray[np.int16], npt.NDArray[np.bool_]]:
    """Codes into per-code lookup arrays (step, order, active); unknown statuses get the 'unmapped' code."""
    names = rules["status"].to_list()
    code_of = {name: i for i, name in enumerate(names)}
    unmapped = len(names)
    # An Enum of the distinct names: its physical codes index the few names, which are mapped in Python.
    categories = statuses.drop_nulls().unique().sort().to_list()
    lut = np.array([code_of.get(c, unmapped) for c in categories], dtype=np.int32)
    physical = np.asarray(statuses.cast(pl.Enum(categories)).to_physical().to_numpy(), dtype=np.int64)
    codes = lut[physical] if len(lut) else np.zeros(len(physical), dtype=np.int32)
    steps = [*rules["step"].to_list(), UNMAPPED]
    order = np.array([*rules["step_order"].to_list(), -1], dtype=np.int16)
    active = np.array([*rules["active"].to_list(), False], dtype=np.bool_)
    return codes, steps, order, active


def build_segments(frames: FlowFrames, now: datetime) -> Segments:
    items = frames.items if frames.items["item_id"].is_sorted() else frames.items.sort("item_id")
    ch = frames.changes
    m = len(ch)
    ch_ids = _ints(ch["item_id"]) if m else np.zeros(0, np.int64)
    at = _micros(ch["at"]) if m else np.zeros(0, np.int64)
    if m and not _ordered(ch_ids, at):
        order = np.lexsort((np.arange(m), at, ch_ids))  # stable: ties keep the stored order
        ch = ch[order]
        ch_ids, at = ch_ids[order], at[order]
    item_ids = _ints(items["item_id"])
    n = len(item_ids)
    # The changes come in runs per item: look each run's item up once, then repeat (not a search per change).
    run_start = np.flatnonzero(np.diff(ch_ids, prepend=ch_ids[:1] - 1)) if m else np.zeros(0, np.int64)
    run_len = np.diff(np.append(run_start, m))
    run_item = np.searchsorted(item_ids, ch_ids[run_start])
    if m and (run_item.max() >= n or np.any(item_ids[run_item] != ch_ids[run_start])):
        raise ValueError("a status change refers to an item that is not in the items frame")
    counts = np.zeros(n, dtype=np.int64)
    counts[run_item] = run_len
    ch_item = np.repeat(run_item, run_len)
    first_change = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    bounds = np.concatenate(([0], np.cumsum(counts + 1))).astype(np.int64)
    total = n + m

    # Status of the initial segment: the first change's from_status, else the current status.
    current = items["status"]
    if m:
        first_from = ch["from_status"].gather(np.minimum(first_change, m - 1))
        use_from = pl.Series(counts > 0) & (first_from != "")
        init_status = pl.select(pl.when(use_from).then(first_from).otherwise(current)).to_series()
        all_status = pl.concat([init_status.cast(pl.Utf8), ch["to_status"]])
    else:
        all_status = current
    codes, step_names, order_lut, active_lut = _status_codes(all_status, frames.rules)

    start = np.empty(total, dtype=np.int64)
    code = np.empty(total, dtype=np.int32)
    item_index = np.repeat(np.arange(n, dtype=np.int64), counts + 1)
    init_pos = bounds[:-1]
    created = _micros(items["created"])
    if m:
        ch_pos = np.arange(m, dtype=np.int64) + ch_item + 1
        start[ch_pos] = at
        code[ch_pos] = codes[n:]
        first_at = np.where(counts > 0, at[np.minimum(first_change, m - 1)], created)
        start[init_pos] = np.minimum(created, first_at)
    else:
        start[init_pos] = created
    code[init_pos] = codes[:n]
    now_us = int(now.timestamp() * 1_000_000)
    end = np.empty(total, dtype=np.int64)
    end[:-1] = start[1:]
    end[bounds[1:] - 1] = np.maximum(now_us, start[bounds[1:] - 1])
    done_codes = np.array([s == DONE_STEP for s in step_names], dtype=np.bool_)
    return Segments(
        item_ids=item_ids,
        bounds=bounds,
        item_index=item_index,
        start=start,
        end=end,
        code=code,
        step_names=step_names,
        step_order=order_lut[code],
        active=active_lut[code],
        is_done=done_codes[code],
    )


def _ordered(ids: I64, at: I64) -> bool:
    """True when changes are sorted by item and, within an item, by time (the store's ORDER BY)."""
    if len(ids) < 2:
        return True
    d_ids = np.diff(ids)
    return bool(np.all(d_ids >= 0) and np.all((d_ids > 0) | (np.diff(at) >= 0)))


def item_bounds(sg: Segments) -> tuple[I64, I64]:
    """Per item (in ``sg.item_ids`` order): work start and done time in µs, ``_NO_TIME`` when there is none."""
    if len(sg.item_ids) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = sg.bounds[:-1]
    last = sg.bounds[1:] - 1
    ws = np.minimum.reduceat(np.where(sg.step_order != BACKLOG_ORDER, sg.start, _NO_TIME), first)
    done_at = np.where(sg.is_done[last], sg.start[last], _NO_TIME)
    return ws, done_at


def in_flow_window(sg: Segments, ws: I64, done_at: I64) -> npt.NDArray[np.bool_]:
    """Per segment: whether it lies inside its item's flow window [work start, done) — or [work start, now) for
    work in progress. The work start is a segment start and segments tile an item's history, so a segment is
    either wholly inside or wholly outside; the only segment after done is the last one (done)."""
    inside = sg.start >= ws[sg.item_index]  # never started: ws is _NO_TIME, nothing is inside
    last = sg.bounds[1:] - 1
    inside[last[done_at != _NO_TIME]] = False
    return inside


def item_timings(frames: FlowFrames, now: datetime) -> pl.DataFrame:
    """Per item: ``work_start, done_at, current_step, flow_seconds, active_seconds, waiting_seconds,
    backward_moves, reopened, started`` (see the module docstring)."""
    return timings_from_segments(build_segments(frames, now))


def backward_flags(sg: Segments) -> npt.NDArray[np.bool_]:
    """Per segment: entered by a backward move (to a mapped step earlier than the previous segment's)."""
    order = sg.step_order
    flags = np.zeros(len(order), dtype=np.bool_)
    flags[1:] = (order[1:] < order[:-1]) & (order[1:] >= 0) & (order[:-1] >= 0)
    flags[sg.bounds[:-1]] = False  # an item's first segment follows nothing
    return flags


def timings_from_segments(sg: Segments) -> pl.DataFrame:
    """:func:`item_timings` on segments that are already built (the metric suite builds them once)."""
    n = len(sg.item_ids)
    if n == 0:
        return _empty_timings()
    first = sg.bounds[:-1]
    last = sg.bounds[1:] - 1
    ws, done_at = item_bounds(sg)
    started = ws != _NO_TIME
    done = done_at != _NO_TIME
    inside = in_flow_window(sg, ws, done_at)
    active_us = np.add.reduceat(np.where(inside & sg.active, sg.end - sg.start, 0), first)
    backward_moves = np.bincount(sg.item_index[np.flatnonzero(backward_flags(sg))], minlength=n)
    left_done = np.zeros(len(sg.start), dtype=np.bool_)
    left_done[1:] = sg.is_done[:-1] & ~sg.is_done[1:]
    left_done[first] = False
    reopened = np.bincount(sg.item_index[np.flatnonzero(left_done)], minlength=n) > 0
    both = done & started
    flow_us = np.where(both, done_at - ws, 0)
    flow = pl.Series(flow_us / 1e6).set(pl.Series(~both), None)
    active_seconds = active_us / 1e6
    waiting = pl.Series(np.clip(flow_us - active_us, 0, None) / 1e6).set(pl.Series(~both), None)
    return pl.DataFrame(
        {
            "item_id": sg.item_ids,
            "work_start": _nullable_ts(ws),
            "done_at": _nullable_ts(done_at),
            "current_step": pl.Series(sg.step_names, dtype=pl.Utf8).gather(sg.code[last]),
            "flow_seconds": flow,
            "active_seconds": active_seconds,
            "waiting_seconds": waiting,
            "backward_moves": backward_moves.astype(np.int32),
            "reopened": reopened,
            "started": started,
        }
    )


def _nullable_ts(values: I64) -> pl.Series:
    s = pl.Series(values, dtype=pl.Int64)
    return s.set(pl.Series(values == _NO_TIME), None).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _empty_timings() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "item_id": pl.Int64,
            "work_start": pl.Datetime("us", "UTC"),
            "done_at": pl.Datetime("us", "UTC"),
            "current_step": pl.Utf8,
            "flow_seconds": pl.Float64,
            "active_seconds": pl.Float64,
            "waiting_seconds": pl.Float64,
            "backward_moves": pl.Int32,
            "reopened": pl.Boolean,
            "started": pl.Boolean,
        }
    )


def time_in_steps(frames: FlowFrames, now: datetime) -> pl.DataFrame:
    """Seconds each item spent in each step (whole history, until ``now`` for the open segment)."""
    sg = build_segments(frames, now)
    steps = np.array(sg.step_names, dtype=object)[sg.code].astype(str)
    return (
        pl.DataFrame(
            {
                "item_id": sg.item_ids[sg.item_index],
                "step": steps,
                "secs": (sg.end - sg.start).astype(np.float64) / 1e6,
                "active": sg.active,
            }
        )
        .group_by("item_id", "step")
        .agg(pl.col("secs").sum(), pl.col("active").first())
        .sort("item_id", "step")
    )
