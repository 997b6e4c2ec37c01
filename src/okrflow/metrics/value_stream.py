"""Value-stream map: per step where the flow time goes, where it waits, where work comes back, and the bottleneck.

The map covers a window of local days (``since`` … ``until``, or the whole history) and counts the time every
item spent inside its **flow window** ([work start, done), or [work start, now) for work in progress) that
falls inside that window — so the waiting time of all steps adds up to the items' waiting time, and work that
never finishes (stuck, aging) is seen too. Per step:

- ``items_now``: items in the step at the end of the window (now for a window reaching today);
- ``items_visited`` and ``median_days`` / ``p85_days``: per item that spent time there in the window, its total
  time in the step (linear-interpolated percentiles);
- ``active_days`` / ``waiting_days``: time in the step's active vs waiting statuses (a step may have both);
- ``rework_in`` / ``rework_out``: backward transitions (to an earlier step) into / out of the step during the
  window; ``rework_items`` / ``rework_share``: items with at least one backward move into the step, as a share of
  the items whose flow window overlaps the window.

Per stage (from the rules' ``stage`` column, else by step: backlog/planning → discovery, development/testing
→ delivery, deployment/verification/done → operation): active, total and flow efficiency.

**Bottleneck** = the step with the largest share of all waiting time in the window; a tie goes to the earlier
step (flow order); no waiting time at all → no bottleneck.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl

from okrflow.metrics.flow import NO_TIME, backward_flags
from okrflow.metrics.flow_metrics import DAY_SECONDS, FlowBase, day_edges, state_at

DEFAULT_STAGE = {
    "backlog": "discovery",
    "planning": "discovery",
    "development": "delivery",
    "testing": "delivery",
    "deployment": "operation",
    "verification": "operation",
    "done": "operation",
}
_US = 1e6
NUMERIC = (
    "items_now",
    "items_visited",
    "median_days",
    "p85_days",
    "active_days",
    "waiting_days",
    "waiting_share",
    "rework_in",
    "rework_out",
    "rework_items",
    "rework_share",
)


@dataclass(frozen=True)
class ValueStreamMap:
    steps: pl.DataFrame  # step, step_order, NUMERIC columns — in flow order, then 'unmapped'
    stages: pl.DataFrame  # stage, active_days, total_days, efficiency
    bottleneck: str | None
    since: date | None
    until: date | None
    items_in_window: int


def _stage_names(base: FlowBase) -> list[str]:
    """Stage per rule code (the last code is 'unmapped')."""
    rules = base.rules
    steps = rules["step"].to_list()
    given = rules["stage"].to_list() if "stage" in rules.columns else [None] * len(steps)
    stages = [str(g) if g else DEFAULT_STAGE.get(str(s), "delivery") for s, g in zip(steps, given, strict=True)]
    return [*stages, "unmapped"]


def value_stream_map(
    base: FlowBase,
    since: date | None = None,
    until: date | None = None,
    *,
    tz: str = "UTC",
    items: npt.NDArray[np.bool_] | None = None,
) -> ValueStreamMap:
    """The map of the window (local days, inclusive); ``items`` optionally selects items (mask in item order)."""
    sg = base.segments
    n = len(sg.item_ids)
    w0, w1 = np.iinfo(np.int64).min, base.now_us
    if since is not None or until is not None:
        if since is None or until is None:
            raise ValueError("give both since and until, or neither")
        edges = day_edges(since, until, tz)
        w0, w1 = int(edges[0]), min(int(edges[-1]), base.now_us)
    classes = base.classes
    n_cls = len(classes.names)
    n_codes = len(classes.per_code)
    keep_item = np.ones(n, dtype=np.bool_) if items is None else np.asarray(items, dtype=np.bool_)

    # Only the segments inside a flow window that overlap the map's window carry time: work on those.
    mask = base.inside & (sg.end > w0) & (sg.start < w1)
    if items is not None:
        mask &= keep_item[sg.item_index]
    seg = np.flatnonzero(mask)
    dur = (np.minimum(sg.end[seg], w1) - np.maximum(sg.start[seg], w0)).astype(np.float64) / _US / DAY_SECONDS
    code = sg.code[seg]
    by_code = np.bincount(code, weights=dur, minlength=n_codes)  # codes carry step, stage and active
    code_active = np.zeros(n_codes, dtype=np.bool_)
    code_active[sg.code] = sg.active
    total = np.bincount(classes.per_code, weights=by_code, minlength=n_cls)
    active = np.bincount(classes.per_code, weights=np.where(code_active, by_code, 0.0), minlength=n_cls)
    waiting = total - active

    cls = classes.per_code[code]
    per_item = np.bincount(sg.item_index[seg] * n_cls + cls, weights=dur, minlength=n * n_cls).reshape(n, n_cls)
    visited = np.count_nonzero(per_item > 0, axis=0)
    median = np.full(n_cls, np.nan)
    p85 = np.full(n_cls, np.nan)
    for c in range(n_cls):  # a handful of steps; each a vectorized percentile over the items
        col = per_item[:, c]
        col = col[col > 0]
        if len(col):
            median[c], p85[c] = np.percentile(col, (50, 85))

    back = np.flatnonzero(backward_flags(sg) & (sg.start >= w0) & (sg.start < w1))
    if items is not None:
        back = back[keep_item[sg.item_index[back]]]
    cls_all = classes.per_segment
    rework_in = np.bincount(cls_all[back], minlength=n_cls)
    rework_out = np.bincount(cls_all[back - 1], minlength=n_cls)
    pairs = np.unique(sg.item_index[back] * n_cls + cls_all[back])
    rework_items = np.bincount(pairs % n_cls, minlength=n_cls)
    ws, done = base.work_start_us, base.done_us
    in_window = keep_item & (ws != NO_TIME) & (ws < w1) & ((done == NO_TIME) | (done >= w0))
    n_window = int(in_window.sum())

    now_items, now_seg = state_at(sg, w1)
    sel = keep_item[now_items]
    items_now = np.bincount(cls_all[now_seg[sel]], minlength=n_cls)

    wait_total = float(waiting.sum())
    share = waiting / wait_total if wait_total > 0 else np.zeros(n_cls)
    bottleneck = classes.names[int(np.argmax(share))] if wait_total > 0 else None  # argmax: first of ties

    def nan_to_none(a: npt.NDArray[np.float64]) -> pl.Series:
        return pl.Series(a).fill_nan(None)

    steps = pl.DataFrame(
        {
            "step": classes.names,
            "step_order": pl.Series(classes.orders, dtype=pl.Int16),
            "items_now": items_now.astype(np.int64),
            "items_visited": visited.astype(np.int64),
            "median_days": nan_to_none(median),
            "p85_days": nan_to_none(p85),
            "active_days": active,
            "waiting_days": waiting,
            "waiting_share": share,
            "rework_in": rework_in.astype(np.int64),
            "rework_out": rework_out.astype(np.int64),
            "rework_items": rework_items.astype(np.int64),
            "rework_share": rework_items / n_window if n_window else np.zeros(n_cls),
        }
    )
    stage_of_code = np.array(_stage_names(base), dtype=object)
    names, stage_idx = np.unique(stage_of_code, return_inverse=True)
    s_total = np.bincount(stage_idx, weights=by_code, minlength=len(names))
    s_active = np.bincount(stage_idx, weights=np.where(code_active, by_code, 0.0), minlength=len(names))
    stages = (
        pl.DataFrame({"stage": names.astype(str).tolist(), "active_days": s_active, "total_days": s_total})
        .filter(pl.col("total_days") > 0)
        .with_columns((pl.col("active_days") / pl.col("total_days")).alias("efficiency"))
    )
    return ValueStreamMap(steps, stages, bottleneck, since, until, n_window)


@dataclass(frozen=True)
class Comparison:
    steps: pl.DataFrame  # step, step_order, <col>_a, <col>_b, <col>_delta (b − a)
    stages: pl.DataFrame  # stage, efficiency_a, efficiency_b, efficiency_delta, …
    bottleneck_a: str | None
    bottleneck_b: str | None


def compare(a: ValueStreamMap, b: ValueStreamMap) -> Comparison:
    """The same figures of two maps (periods) side by side, with ``b − a`` deltas."""

    def side(frame: pl.DataFrame, key: list[str], cols: list[str]) -> pl.DataFrame:
        ja = frame.select(*key, *[pl.col(c).alias(f"{c}_a") for c in cols])
        return ja

    cols = list(NUMERIC)
    steps = (
        side(a.steps, ["step", "step_order"], cols)
        .join(b.steps.select("step", *[pl.col(c).alias(f"{c}_b") for c in cols]), on="step", how="full", coalesce=True)
        .with_columns([(pl.col(f"{c}_b") - pl.col(f"{c}_a")).alias(f"{c}_delta") for c in cols])
        .select("step", "step_order", *[f"{c}{s}" for c in cols for s in ("_a", "_b", "_delta")])
    )
    scols = ["active_days", "total_days", "efficiency"]
    stages = (
        side(a.stages, ["stage"], scols)
        .join(
            b.stages.select("stage", *[pl.col(c).alias(f"{c}_b") for c in scols]), on="stage", how="full", coalesce=True
        )
        .with_columns([(pl.col(f"{c}_b") - pl.col(f"{c}_a")).alias(f"{c}_delta") for c in scols])
        .sort("stage")
    )
    return Comparison(steps, stages, a.bottleneck, b.bottleneck)


def compare_periods(base: FlowBase, a: tuple[date, date], b: tuple[date, date], *, tz: str = "UTC") -> Comparison:
    return compare(value_stream_map(base, *a, tz=tz), value_stream_map(base, *b, tz=tz))


__all__ = ["DEFAULT_STAGE", "Comparison", "ValueStreamMap", "compare", "compare_periods", "value_stream_map"]
