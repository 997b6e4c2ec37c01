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


def reference_item(
    created: datetime,
    status: str,
    changes: list[tuple[datetime, str, str]],  # (at, from_status, to_status), in stored order
    rules: dict[str, tuple[str, int, bool]],  # status -> (step, order, active)
    now: datetime,
) -> RefItem:
    def rule(name: str) -> tuple[str, int, bool]:
        return rules.get(name, ("unmapped", -1, False))

    ordered = sorted(enumerate(changes), key=lambda p: (p[1][0], p[0]))
    first_from = ordered[0][1][1] if ordered else ""
    points = [(created, 0, -1, first_from or status)] + [(at, 1, i, to) for i, (at, _f, to) in ordered]
    points.sort(key=lambda p: (p[0], p[1], p[2]))
    segs = []
    for k, (at, _c, _i, st) in enumerate(points):
        end = points[k + 1][0] if k + 1 < len(points) else now
        segs.append((at, end, *rule(st)))
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
