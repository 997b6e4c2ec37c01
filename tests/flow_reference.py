"""A deliberately simple, per-item reference of the flow definitions (metrics/flow.py) for the tests.

Written from the docstring, item by item in plain Python, so that the vectorized engine can be checked
against it on random histories. Never used in production code.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime


@dataclass
class RefItem:
    work_start: datetime | None
    done_at: datetime | None
    current_step: str
    flow_seconds: float | None
    active_seconds: float
    backward_moves: int
    reopened: bool


Segment = tuple[datetime, datetime, str, int, bool]  # start, end, step, order, active


def reference_segments(
    created: datetime,
    status: str,
    changes: list[tuple[datetime, str, str]],
    rules: dict[str, tuple[str, int, bool]],
    now: datetime,
) -> list[Segment]:
    def rule(name: str) -> tuple[str, int, bool]:
        return rules.get(name, ("unmapped", -1, False))

    ordered = sorted(enumerate(changes), key=lambda p: (p[1][0], p[0]))
    first_from = ordered[0][1][1] if ordered else ""
    points = [(created, 0, -1, first_from or status)] + [(at, 1, i, to) for i, (at, _f, to) in ordered]
    points.sort(key=lambda p: (p[0], p[1], p[2]))
    segs: list[Segment] = []
    for k, (at, _c, _i, st) in enumerate(points):
        end = points[k + 1][0] if k + 1 < len(points) else max(now, at)
        segs.append((at, end, *rule(st)))
    return segs


def reference_item(
    created: datetime,
    status: str,
    changes: list[tuple[datetime, str, str]],  # (at, from_status, to_status), in stored order
    rules: dict[str, tuple[str, int, bool]],  # status -> (step, order, active)
    now: datetime,
) -> RefItem:
    segs = reference_segments(created, status, changes, rules, now)
    work_start = None
    for start, _end, _step, order, _act in segs:
        if order != 0:
            work_start = start
            break
    current = segs[-1][2]
    done_at = segs[-1][0] if current == "done" else None
    backward = 0
    reopened = False
    for prev, seg in itertools.pairwise(segs):
        if seg[3] >= 0 and prev[3] >= 0 and seg[3] < prev[3]:
            backward += 1
        if prev[2] == "done" and seg[2] != "done":
            reopened = True
    active = 0.0
    if work_start is not None:
        for start, end, _step, _order, act in segs:
            c_start = max(start, work_start)
            c_end = min(end, done_at) if done_at is not None else end
            if act:
                active += max(0.0, (c_end - c_start).total_seconds())
    flow = (done_at - work_start).total_seconds() if done_at is not None and work_start is not None else None
    return RefItem(work_start, done_at, current, flow, active, backward, reopened)


def reference_step_times(
    created: datetime,
    status: str,
    changes: list[tuple[datetime, str, str]],
    rules: dict[str, tuple[str, int, bool]],
    now: datetime,
    w0: datetime | None,
    w1: datetime,
) -> dict[str, tuple[float, float]]:
    """Per step: (seconds, active seconds) inside the flow window [work start, done or now) and [w0, w1)."""
    item = reference_item(created, status, changes, rules, now)
    out: dict[str, tuple[float, float]] = {}
    if item.work_start is None:
        return out
    segs = reference_segments(created, status, changes, rules, now)
    for k, (start, end, step, _order, act) in enumerate(segs):
        if start < item.work_start or (item.done_at is not None and k == len(segs) - 1):
            continue
        lo = max(start, w0) if w0 is not None else start
        hi = min(end, w1)
        secs = max(0.0, (hi - lo).total_seconds())
        total, active = out.get(step, (0.0, 0.0))
        out[step] = (total + secs, active + (secs if act else 0.0))
    return out


def reference_state_at(segs: list[Segment], at: datetime) -> Segment | None:
    """The segment an item is in at an instant: entered before it (start < at ≤ end)."""
    for seg in segs:
        if seg[0] < at <= seg[1]:
            return seg
    return None


def reference_daily_steps(
    created: datetime,
    status: str,
    changes: list[tuple[datetime, str, str]],
    rules: dict[str, tuple[str, int, bool]],
    now: datetime,
    instants: list[datetime],
) -> list[tuple[str, bool] | None]:
    """Per instant (end of a day, capped at now): (step, work in progress?) of the item, None before it exists."""
    item = reference_item(created, status, changes, rules, now)
    segs = reference_segments(created, status, changes, rules, now)
    out: list[tuple[str, bool] | None] = []
    k = 0  # instants are ascending: walk the segments and the days together
    for t in instants:
        at = min(t, now)
        while k < len(segs) and segs[k][1] < at:
            k += 1
        seg = segs[k] if k < len(segs) and segs[k][0] < at <= segs[k][1] else None
        if seg is None:
            out.append(None)
            continue
        started = item.work_start is not None and item.work_start < min(t, now) and seg[0] >= item.work_start
        out.append((seg[2], seg[2] != "done" and (seg[3] != 0 or started)))
    return out
