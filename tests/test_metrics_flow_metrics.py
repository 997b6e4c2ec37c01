"""Flow Framework metrics: hand-checked histories, edge cases, and agreement with the per-item reference."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings

from okrflow.metrics import flow_metrics as fm
from tests.flow_reference import reference_daily_steps, reference_item
from tests.test_metrics_flow import RULES, d, frames, histories

NOW = datetime(2026, 3, 20, tzinfo=UTC)


def world() -> fm.FlowBase:
    # A (team 1, feature): In Progress d2, Review d4 (waiting), Done d6 → flow 4 d, active 2 d.
    # B (team 1, defect): In Progress d3, Done d13 → flow 10 d, active 10 d.
    # C (team 2, feature): Ready d1, In Progress d2 → work in progress now.
    # D (team 2, debt): never started.  E (team 2, feature): To Do → Done on d1 (skipped every step): flow 0.
    f = frames(
        [(1, d(0), "Done"), (2, d(1), "Done"), (3, d(0), "In Progress"), (4, d(0), "To Do"), (5, d(0), "Done")],
        [
            (1, d(2), "To Do", "In Progress"),
            (1, d(4), "In Progress", "Review"),
            (1, d(6), "Review", "Done"),
            (2, d(3), "To Do", "In Progress"),
            (2, d(13), "In Progress", "Done"),
            (3, d(1), "To Do", "Ready"),
            (3, d(2), "Ready", "In Progress"),
            (5, d(1), "To Do", "Done"),
        ],
    )
    attrs = pl.DataFrame(
        {
            "item_id": [1, 2, 3, 4, 5],
            "team_id": [1, 1, 2, 2, 2],
            "flow_type": ["feature", "defect", "feature", "debt", "feature"],
        }
    )
    return fm.prepare(f, NOW, attrs)


MAR1, MAR15 = date(2026, 3, 1), date(2026, 3, 15)


def test_velocity_buckets_and_zero_fill():
    v = fm.flow_velocity(world(), MAR1, MAR15, period="week", by=["team_id"])
    # 2026-03-01 is a Sunday: ISO weeks start Feb 23, Mar 2, Mar 9. A done Mar 7, B Mar 14, E Mar 2.
    got = {(r["team_id"], r["period_start"]): r["items_done"] for r in v.iter_rows(named=True)}
    assert got == {
        (1, date(2026, 2, 23)): 0,
        (1, date(2026, 3, 2)): 1,
        (1, date(2026, 3, 9)): 1,
        (2, date(2026, 2, 23)): 0,
        (2, date(2026, 3, 2)): 1,
        (2, date(2026, 3, 9)): 0,
    }
    month = fm.flow_velocity(world(), MAR1, MAR15, period="month")
    assert month.rows() == [(date(2026, 3, 1), 3)]
    day = fm.flow_velocity(world(), MAR1, MAR15, period="day")
    assert day.height == 15 and day["items_done"].sum() == 3


def test_flow_time_percentiles_and_mean():
    ft = fm.flow_time(world(), MAR1, MAR15, by=["team_id"]).row(0, named=True)
    assert ft["team_id"] == 1 and ft["items"] == 2
    assert ft["p50_days"] == pytest.approx(7.0) and ft["mean_days"] == pytest.approx(7.0)
    assert ft["p85_days"] == pytest.approx(9.1) and ft["p95_days"] == pytest.approx(9.7)
    whole = fm.flow_time(world(), MAR1, MAR15).row(0, named=True)
    assert whole["items"] == 3 and whole["p50_days"] == pytest.approx(4.0)  # 0, 4, 10


def test_flow_efficiency_pooled_and_median():
    rows = {r["team_id"]: r for r in fm.flow_efficiency(world(), MAR1, MAR15, by=["team_id"]).iter_rows(named=True)}
    assert rows[1]["efficiency"] == pytest.approx(12 / 14)  # Σ active / Σ flow, not the mean of ratios
    assert rows[1]["median_item_efficiency"] == pytest.approx(0.75)  # median of 0.5 and 1.0
    # team 2: only E (flow time 0): no ratio at all
    assert rows[2]["efficiency"] is None and rows[2]["median_item_efficiency"] is None


def test_flow_load_series_and_now():
    load = fm.flow_load(world(), MAR1, MAR15, by=["team_id"])
    t1 = dict(load.filter(pl.col("team_id") == 1).select("date", "wip").rows())
    # end of Mar 3 (d3, 00:00 Mar 4): A in progress; B's move at exactly d3 is the next day's state
    assert t1[date(2026, 3, 3)] == 1 and t1[date(2026, 3, 4)] == 2 and t1[date(2026, 3, 7)] == 1
    assert t1[date(2026, 3, 14)] == 0
    now = dict(fm.flow_load_now(world(), by=["team_id"]).rows())
    assert now == {1: 0, 2: 1}


def test_flow_distribution_done_and_wip():
    dist = fm.flow_distribution(world(), MAR1, MAR15)
    got = {(r["scope"], r["flow_type"]): (r["items"], r["share"]) for r in dist.iter_rows(named=True)}
    assert got[("done", "feature")] == (2, pytest.approx(2 / 3))
    assert got[("done", "defect")] == (1, pytest.approx(1 / 3))
    assert got[("wip", "feature")] == (1, 1.0) and ("wip", "debt") not in got  # never started is not WIP


def test_flow_predictability_committed_vs_delivered():
    p = fm.flow_predictability(world(), [(date(2026, 3, 5), date(2026, 3, 10))]).row(0, named=True)
    # at Mar 5 00:00: A, B, C in progress (committed); D in the backlog, E done. At Mar 11 00:00 only A is done.
    assert (p["committed"], p["delivered"], p["done_in_period"]) == (3, 1, 1)
    assert p["predictability"] == pytest.approx(1 / 3)
    by_team = fm.flow_predictability(world(), [(MAR1, MAR15)], by=["team_id"])
    # at Mar 1 00:00 nothing is committed: the predictability is undefined, not 0
    assert by_team["committed"].to_list() == [0, 0] and by_team["predictability"].to_list() == [None, None]


def test_unknown_grouping_column_is_an_error():
    with pytest.raises(ValueError, match="unknown grouping"):
        fm.flow_time(world(), MAR1, MAR15, by=["nope"])


def test_day_edges_follow_dst_in_berlin():
    edges = fm.day_edges(date(2026, 3, 28), date(2026, 3, 30), "Europe/Berlin")
    hours = np.diff(edges) / 3.6e9
    assert hours.tolist() == [24.0, 23.0, 24.0]  # 29 March 2026: clocks go forward
    autumn = fm.day_edges(date(2026, 10, 25), date(2026, 10, 25), "Europe/Berlin")
    assert np.diff(autumn)[0] / 3.6e9 == 25.0


def test_velocity_uses_local_dates():
    late = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # 00:30 on 30 March in Berlin (CEST)
    f = frames([(1, d(0), "Done")], [(1, d(1), "To Do", "In Progress"), (1, late, "In Progress", "Done")])
    base = fm.prepare(f, datetime(2026, 4, 2, tzinfo=UTC))
    utc = dict(fm.flow_velocity(base, date(2026, 3, 29), date(2026, 3, 30), period="day").rows())
    ber = dict(fm.flow_velocity(base, date(2026, 3, 29), date(2026, 3, 30), period="day", tz="Europe/Berlin").rows())
    assert utc == {date(2026, 3, 29): 1, date(2026, 3, 30): 0}
    assert ber == {date(2026, 3, 29): 0, date(2026, 3, 30): 1}


# ------------------------------------------------------------------------------------ properties vs reference

SINCE, UNTIL = date(2026, 3, 1), date(2026, 3, 31)
REF_NOW = datetime(2026, 3, 25, 12, tzinfo=UTC)


def _refs(items, changes):
    out = {}
    for item_id, created, status in items:
        hist = [(at, f, t) for i, at, f, t in changes if i == item_id]
        out[item_id] = (created, status, hist, reference_item(created, status, hist, RULES, REF_NOW))
    return out


@settings(max_examples=80, deadline=None)
@given(histories())
def test_aggregates_match_the_reference(hist):
    items, changes = hist
    base = fm.prepare(frames(items, changes), REF_NOW)
    refs = _refs(items, changes)
    done = [r.flow_seconds / 86400 for *_x, r in refs.values() if r.done_at and SINCE <= r.done_at.date() <= UNTIL]
    done = [x for x in done if x is not None]
    # velocity sums equal the done count
    assert fm.flow_velocity(base, SINCE, UNTIL, period="week")["items_done"].sum() == len(done)
    ft = fm.flow_time(base, SINCE, UNTIL)
    if done:
        row = ft.row(0, named=True)
        assert row["items"] == len(done)
        assert row["p85_days"] == pytest.approx(float(np.percentile(done, 85)), abs=1e-6)
        assert row["mean_days"] == pytest.approx(float(np.mean(done)), abs=1e-6)
    else:  # no groups asked for: one row, with no items and no percentiles
        assert ft["items"].to_list() == [0] and ft["p50_days"].to_list() == [None]
    eff = fm.flow_efficiency(base, SINCE, UNTIL)
    for value in [*eff["efficiency"].drop_nulls(), *eff["median_item_efficiency"].drop_nulls()]:
        assert -1e-9 <= value <= 1 + 1e-9  # efficiency in [0, 1]
    # the load series equals the per-item reference, day by day
    days = [SINCE + timedelta(days=k) for k in range((UNTIL - SINCE).days + 1)]
    ends = [datetime(x.year, x.month, x.day, tzinfo=UTC) + timedelta(days=1) for x in days]
    wip = [0] * len(days)
    for created, status, hist, _r in refs.values():
        for k, state in enumerate(reference_daily_steps(created, status, hist, RULES, REF_NOW, ends)):
            wip[k] += bool(state and state[1])
    assert fm.flow_load(base, SINCE, UNTIL)["wip"].to_list() == wip
    assert fm.flow_load_now(base)["wip"][0] == sum(1 for *_x, r in refs.values() if r.work_start and not r.done_at)
