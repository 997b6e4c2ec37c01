"""Value-stream map: time per step (active vs waiting), rework, stages, the bottleneck rule, two periods."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from hypothesis import given, settings

from okrflow.metrics import flow_metrics as fm
from okrflow.metrics import value_stream as vs
from tests.flow_reference import reference_step_times
from tests.test_metrics_flow import RULES, d, frames, histories

NOW = datetime(2026, 3, 20, tzinfo=UTC)  # d19


def base() -> fm.FlowBase:
    # 1: In Progress d2 (active) → Review d4 (waiting) → QA d5 → back to In Progress d6 (rework) → QA d7 → Done d9
    # 2: Ready d1 (planning, waiting) → Review d3 → still there now (d19): development waiting 16 days
    f = frames(
        [(1, d(0), "Done"), (2, d(0), "Review")],
        [
            (1, d(2), "To Do", "In Progress"),
            (1, d(4), "In Progress", "Review"),
            (1, d(5), "Review", "QA"),
            (1, d(6), "QA", "In Progress"),
            (1, d(7), "In Progress", "QA"),
            (1, d(9), "QA", "Done"),
            (2, d(1), "To Do", "Ready"),
            (2, d(3), "Ready", "Review"),
        ],
    )
    return fm.prepare(f, NOW)


def steps(m: vs.ValueStreamMap) -> dict[str, dict[str, object]]:
    return {r["step"]: r for r in m.steps.iter_rows(named=True)}


def test_whole_history_map():
    m = vs.value_stream_map(base())
    s = steps(m)
    dev, test, plan = s["development"], s["testing"], s["planning"]
    assert (dev["active_days"], dev["waiting_days"]) == (pytest.approx(3), pytest.approx(17))
    assert (test["active_days"], test["waiting_days"]) == (pytest.approx(3), pytest.approx(0))
    assert plan["waiting_days"] == pytest.approx(2) and s["backlog"]["waiting_days"] == 0  # backlog before start
    assert (
        dev["items_visited"] == 2 and dev["median_days"] == pytest.approx(10) and dev["p85_days"] == pytest.approx(14.2)
    )
    assert (dev["rework_in"], dev["rework_out"], test["rework_out"], dev["rework_items"]) == (1, 0, 1, 1)
    assert dev["rework_share"] == pytest.approx(0.5)
    assert (dev["items_now"], s["done"]["items_now"]) == (1, 1)
    assert m.bottleneck == "development"
    assert dev["waiting_share"] == pytest.approx(17 / 19)
    stages = {r["stage"]: r for r in m.stages.iter_rows(named=True)}
    assert stages["delivery"]["efficiency"] == pytest.approx(6 / 23) and stages["discovery"]["efficiency"] == 0


def test_window_clips_time_and_state():
    m = vs.value_stream_map(base(), date(2026, 3, 1), date(2026, 3, 5))  # [d0, d5)
    s = steps(m)
    assert s["development"]["waiting_days"] == pytest.approx(3) and s["testing"]["active_days"] == 0
    assert s["development"]["rework_in"] == 0  # the backward move on d6 is outside the window
    assert s["development"]["items_now"] == 2  # at d5 the move into QA is the next state
    assert m.bottleneck == "development"


def test_bottleneck_tie_goes_to_the_earlier_step_and_none_without_waiting():
    f = frames(
        [(1, d(0), "Done")],
        [(1, d(1), "To Do", "Ready"), (1, d(3), "Ready", "Review"), (1, d(5), "Review", "Done")],
    )
    assert vs.value_stream_map(fm.prepare(f, NOW)).bottleneck == "planning"  # 2 days each
    g = frames([(1, d(0), "Done")], [(1, d(1), "To Do", "In Progress"), (1, d(2), "In Progress", "Done")])
    assert vs.value_stream_map(fm.prepare(g, NOW)).bottleneck is None


def test_stage_column_in_the_rules_wins():
    f = base()
    rules = f.rules.with_columns(
        pl.when(pl.col("status") == "QA").then(pl.lit("support")).otherwise(None).alias("stage")
    )
    b2 = fm.FlowBase(f.now, f.segments, f.timings, f.work_start_us, f.done_us, rules, f.classes, f.inside)
    stages = {r["stage"]: r["total_days"] for r in vs.value_stream_map(b2).stages.iter_rows(named=True)}
    assert stages["support"] == pytest.approx(3) and stages["delivery"] == pytest.approx(20)


def test_two_periods_side_by_side():
    c = vs.compare_periods(base(), (date(2026, 3, 1), date(2026, 3, 5)), (date(2026, 3, 6), date(2026, 3, 10)))
    dev = c.steps.filter(pl.col("step") == "development").row(0, named=True)
    assert (dev["waiting_days_a"], dev["waiting_days_b"], dev["waiting_days_delta"]) == (
        pytest.approx(3),
        pytest.approx(5),
        pytest.approx(2),
    )
    assert dev["rework_in_b"] == 1 and dev["rework_in_delta"] == 1
    assert c.bottleneck_a == c.bottleneck_b == "development"


REF_NOW = datetime(2026, 3, 25, 12, tzinfo=UTC)


@settings(max_examples=80, deadline=None)
@given(histories())
def test_step_times_match_the_reference(hist):
    items, changes = hist
    b = fm.prepare(frames(items, changes), REF_NOW)
    w0, w1 = datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC)
    for window, m in (
        ((None, REF_NOW), vs.value_stream_map(b)),
        ((w0, w1), vs.value_stream_map(b, date(2026, 3, 5), date(2026, 3, 15))),
    ):
        expected: dict[str, list[float]] = {}
        for item_id, created, status in items:
            h = [(at, f, t) for i, at, f, t in changes if i == item_id]
            for step, (total, active) in reference_step_times(created, status, h, RULES, REF_NOW, *window).items():
                e = expected.setdefault(step, [0.0, 0.0])
                e[0] += total / 86400
                e[1] += active / 86400
        for r in m.steps.iter_rows(named=True):
            total, active = expected.get(r["step"], [0.0, 0.0])
            assert r["active_days"] == pytest.approx(active, abs=1e-6)
            assert r["waiting_days"] == pytest.approx(total - active, abs=1e-6)
            assert 0 <= r["waiting_share"] <= 1 + 1e-9
