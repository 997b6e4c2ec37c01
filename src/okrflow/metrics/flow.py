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
    ch_item = np.searchsorted(item_ids, ch_ids) if m else np.zeros(0, np.int64)
    if m and (ch_item.max() >= n or np.any(item_ids[ch_item] != ch_ids)):
        raise ValueError("a status change refers to an item that is not in the items frame")
    counts = np.bincount(ch_item, minlength=n).astype(np.int64)
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


def item_timings(frames: FlowFrames, now: datetime) -> pl.DataFrame:
    """Per item: ``work_start, done_at, current_step, flow_seconds, active_seconds, waiting_seconds,
    backward_moves, reopened, started`` (see the module docstring)."""
    sg = build_segments(frames, now)
    n = len(sg.item_ids)
    if n == 0:
        return _empty_timings()
    first = sg.bounds[:-1]
    last = sg.bounds[1:] - 1
    is_work = sg.step_order != BACKLOG_ORDER
    ws = np.minimum.reduceat(np.where(is_work, sg.start, _NO_TIME), first)
    started = ws != _NO_TIME
    done = sg.is_done[last]
    done_at = np.where(done, sg.start[last], _NO_TIME)

    prev_order = np.empty_like(sg.step_order)
    prev_order[1:] = sg.step_order[:-1]
    prev_done = np.empty_like(sg.is_done)
    prev_done[1:] = sg.is_done[:-1]
    not_first = np.ones(len(sg.start), dtype=np.bool_)
    not_first[first] = False
    backward = not_first & (sg.step_order >= 0) & (prev_order >= 0) & (sg.step_order < prev_order)
    left_done = not_first & prev_done & ~sg.is_done
    backward_moves = np.add.reduceat(backward.astype(np.int64), first)
    reopened = np.add.reduceat(left_done.astype(np.int64), first) > 0

    ws_seg = ws[sg.item_index]
    stop_seg = np.where(done_at[sg.item_index] != _NO_TIME, done_at[sg.item_index], sg.end)
    c_start = np.maximum(sg.start, ws_seg)
    c_end = np.minimum(sg.end, stop_seg)
    secs = np.where(sg.active & (ws_seg != _NO_TIME), np.clip(c_end - c_start, 0, None), 0).astype(np.float64) / 1e6
    active_seconds = np.add.reduceat(secs, first)
    flow = np.where(done & started, (done_at - ws).astype(np.float64) / 1e6, np.nan)
    waiting = np.where(np.isnan(flow), np.nan, np.clip(flow - active_seconds, 0, None))

    def ts(values: I64) -> pl.Series:
        return pl.Series(np.where(values == _NO_TIME, np.iinfo(np.int64).min, values)).cast(pl.Datetime("us"))

    steps = np.array(sg.step_names, dtype=object)
    return pl.DataFrame(
        {
            "item_id": sg.item_ids,
            "work_start": _nullable_ts(ws),
            "done_at": _nullable_ts(done_at),
            "current_step": steps[sg.code[last]].astype(str),
            "flow_seconds": pl.Series(flow).fill_nan(None),
            "active_seconds": active_seconds,
            "waiting_seconds": pl.Series(waiting).fill_nan(None),
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
