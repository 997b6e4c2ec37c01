"""The vectorized per-item flow timings: hand-checked histories and agreement with the per-item reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okrflow.metrics.flow import FlowFrames, item_timings, time_in_steps
from tests.flow_reference import reference_item

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
RULES = {
    "To Do": ("backlog", 0, False),
    "Ready": ("planning", 1, False),
    "In Progress": ("development", 2, True),
    "Review": ("development", 2, False),
    "QA": ("testing", 3, True),
    "Done": ("done", 6, False),
}


def frames(items, changes, rules=RULES) -> FlowFrames:
    return FlowFrames(
        items=pl.DataFrame(
            {
                "item_id": [i for i, _, _ in items],
                "created": [c for _, c, _ in items],
                "status": [s for _, _, s in items],
            },
            schema={"item_id": pl.Int64, "created": pl.Datetime("us", "UTC"), "status": pl.Utf8},
        ),
        changes=pl.DataFrame(
            {
                "item_id": [c[0] for c in changes],
                "at": [c[1] for c in changes],
                "from_status": [c[2] for c in changes],
                "to_status": [c[3] for c in changes],
            },
            schema={"item_id": pl.Int64, "at": pl.Datetime("us", "UTC"), "from_status": pl.Utf8, "to_status": pl.Utf8},
        ),
        rules=pl.DataFrame(
            {
                "status": list(rules),
                "step": [r[0] for r in rules.values()],
                "step_order": [r[1] for r in rules.values()],
                "active": [r[2] for r in rules.values()],
            }
        ),
    )


def d(days: float) -> datetime:
    return T0 + timedelta(days=days)


def test_hand_checked_history():
    # created day 0 in To Do; In Progress day 2; Review day 4; QA day 5; back to In Progress day 6 (rework);
    # QA day 7; Done day 9. Work start day 2, flow time 7 days; active: 2-4 (2d) + 5-6 (1d) + 6-7 (1d) + 7-9 (2d).
    f = frames(
        [(1, d(0), "Done")],
        [
            (1, d(2), "To Do", "In Progress"),
            (1, d(4), "In Progress", "Review"),
            (1, d(5), "Review", "QA"),
            (1, d(6), "QA", "In Progress"),
            (1, d(7), "In Progress", "QA"),
            (1, d(9), "QA", "Done"),
        ],
    )
    row = item_timings(f, NOW).row(0, named=True)
    assert row["work_start"] == d(2) and row["done_at"] == d(9)
    assert row["flow_seconds"] == 7 * 86400
    assert row["active_seconds"] == 6 * 86400 and row["waiting_seconds"] == 1 * 86400
    assert row["backward_moves"] == 1 and not row["reopened"] and row["current_step"] == "done"
    steps = {r["step"]: r["secs"] for r in time_in_steps(f, NOW).iter_rows(named=True)}
    assert steps["development"] == 4 * 86400 and steps["testing"] == 3 * 86400 and steps["backlog"] == 2 * 86400


def test_never_started_reopened_skipped_and_unmapped():
    f = frames(
        [(1, d(0), "To Do"), (2, d(0), "In Progress"), (3, d(0), "Done"), (4, d(0), "Weird")],
        [
            (2, d(1), "To Do", "Done"),  # skipped every step: flow time 0
            (2, d(3), "Done", "In Progress"),  # reopened: WIP again, keeps its first work start
            (3, d(2), "To Do", "Done"),
            (4, d(1), "To Do", "Weird"),  # unmapped status: in progress, waiting
        ],
    )
    rows = {r["item_id"]: r for r in item_timings(f, NOW).iter_rows(named=True)}
    assert not rows[1]["started"] and rows[1]["work_start"] is None and rows[1]["flow_seconds"] is None
    assert rows[2]["reopened"] and rows[2]["done_at"] is None and rows[2]["work_start"] == d(1)
    assert rows[2]["backward_moves"] == 1
    assert rows[3]["flow_seconds"] == 0.0
    assert rows[4]["current_step"] == "unmapped" and rows[4]["work_start"] == d(1) and rows[4]["active_seconds"] == 0


@st.composite
def histories(draw):
    n = draw(st.integers(1, 6))
    names = [*RULES, "Unknown"]
    items, changes = [], []
    for item in range(1, n + 1):
        created = T0 + timedelta(hours=draw(st.integers(0, 500)))
        k = draw(st.integers(0, 8))
        at = created
        status = draw(st.sampled_from(names))
        for _ in range(k):
            at = at + timedelta(minutes=draw(st.integers(0, 5000)))  # 0: simultaneous changes
            nxt = draw(st.sampled_from(names))
            changes.append((item, at, status if draw(st.booleans()) else "", nxt))
            status = nxt
        items.append((item, created, status))
    return items, changes


@settings(max_examples=150, deadline=None)
@given(histories())
def test_engine_matches_the_per_item_reference(hist):
    items, changes = hist
    got = {r["item_id"]: r for r in item_timings(frames(items, changes), NOW).iter_rows(named=True)}
    for item_id, created, status in items:
        ref = reference_item(created, status, [(at, f, t) for i, at, f, t in changes if i == item_id], RULES, NOW)
        row = got[item_id]
        assert row["work_start"] == ref.work_start
        assert row["done_at"] == ref.done_at
        assert row["current_step"] == ref.current_step
        assert row["backward_moves"] == ref.backward_moves
        assert row["reopened"] == ref.reopened
        assert row["active_seconds"] == pytest.approx(ref.active_seconds, abs=1e-3)
        if ref.flow_seconds is None:
            assert row["flow_seconds"] is None
        else:
            assert row["flow_seconds"] == pytest.approx(ref.flow_seconds, abs=1e-3)
            # properties: flow time ≥ active time ≥ 0
            assert row["flow_seconds"] + 1e-6 >= row["active_seconds"] >= 0
