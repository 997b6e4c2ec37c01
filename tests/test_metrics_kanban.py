"""Kanban analytics: CFD (with DST days), throughput, cycle-time scatter, aging WIP, WIP by age."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings

from okrflow.metrics import flow_metrics as fm
from okrflow.metrics import kanban
from tests.flow_reference import reference_daily_steps
from tests.test_metrics_flow import RULES, d, frames, histories

NOW = datetime(2026, 3, 20, tzinfo=UTC)
MAR1, MAR15 = date(2026, 3, 1), date(2026, 3, 15)


def cfd_rows(cfd: pl.DataFrame, day: date) -> dict[str, tuple[int, int | None]]:
    return {r["step"]: (r["items"], r["cumulative"]) for r in cfd.filter(pl.col("date") == day).iter_rows(named=True)}


def test_cfd_counts_backward_moves_skips_and_unmapped():
    f = frames(
        [(1, d(0), "In Progress"), (2, d(0), "Done"), (3, d(0), "Weird")],
        [
            (1, d(1), "To Do", "QA"),  # skips planning and development
            (1, d(3), "QA", "In Progress"),  # backward: in development from then on, nothing wiped
            (2, d(1), "To Do", "Done"),
            (3, d(2), "To Do", "Weird"),  # unmapped status
        ],
    )
    cfd = kanban.cumulative_flow(fm.prepare(f, NOW), MAR1, MAR15)
    day1 = cfd_rows(cfd, date(2026, 3, 2))  # end of d1
    assert day1["backlog"] == (1, 3) and day1["testing"] == (1, 2) and day1["done"] == (1, 1)
    assert day1["planning"] == (0, 2) and day1["development"] == (0, 2) and day1["unmapped"] == (0, None)
    day3 = cfd_rows(cfd, date(2026, 3, 4))
    assert day3["development"] == (1, 2) and day3["testing"] == (0, 1) and day3["backlog"] == (0, 2)
    assert day3["unmapped"] == (1, None)
    assert cfd_rows(cfd, date(2026, 3, 1))["backlog"] == (3, 3)  # end of d0: everything still to do


def test_cfd_days_in_berlin_with_dst():
    # 29 March 2026 has 23 hours in Berlin. A move at 22:30 UTC on the 29th is 00:30 on the 30th there.
    late = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)
    f = frames([(1, d(0), "In Progress")], [(1, late, "To Do", "In Progress")])
    base = fm.prepare(f, datetime(2026, 4, 2, tzinfo=UTC))
    days = (date(2026, 3, 28), date(2026, 3, 31))
    ber = kanban.cumulative_flow(base, *days, tz="Europe/Berlin").filter(pl.col("step") == "development")
    utc = kanban.cumulative_flow(base, *days).filter(pl.col("step") == "development")
    assert ber["items"].to_list() == [0, 0, 1, 1]
    assert utc["items"].to_list() == [0, 1, 1, 1]
    # the Berlin day 29 March ends at 22:00 UTC (23 h after 23:00 UTC on the 28th): a move at 22:10 UTC is the 30th
    edge = datetime(2026, 3, 29, 22, 10, tzinfo=UTC)
    f2 = frames([(1, d(0), "In Progress")], [(1, edge, "To Do", "In Progress")])
    ber2 = kanban.cumulative_flow(fm.prepare(f2, datetime(2026, 4, 2, tzinfo=UTC)), *days, tz="Europe/Berlin")
    assert ber2.filter(pl.col("step") == "development")["items"].to_list() == [0, 0, 1, 1]


def test_throughput_and_scatter():
    f = frames(
        [(1, d(0), "Done"), (2, d(0), "Done"), (3, d(0), "In Progress")],
        [
            (1, d(1), "To Do", "In Progress"),
            (1, d(3), "In Progress", "Done"),
            (2, d(2), "To Do", "In Progress"),
            (2, d(3.5), "In Progress", "Done"),
            (3, d(1), "To Do", "In Progress"),
        ],
    )
    base = fm.prepare(f, NOW)
    tp = kanban.throughput(base, MAR1, date(2026, 3, 5))
    assert tp["items_done"].to_list() == [0, 0, 0, 2, 0]
    sc = kanban.cycle_time_scatter(base, MAR1, MAR15)
    assert sc.points["flow_days"].to_list() == [2.0, 1.5]
    assert sc.percentiles[50] == pytest.approx(1.75) and sc.percentiles[85] == pytest.approx(1.925)
    empty = kanban.cycle_time_scatter(base, date(2026, 1, 1), date(2026, 1, 2))
    assert empty.points.height == 0 and empty.percentiles[50] is None


def test_aging_wip_buckets_and_waste_signal():
    now = datetime(2026, 9, 1, tzinfo=UTC)
    ages = [10, 30, 45, 90, 91, 200]  # days since work start
    items = [(i + 1, now - timedelta(days=a + 1), "In Progress") for i, a in enumerate(ages)]
    changes = [(i + 1, now - timedelta(days=a), "To Do", "In Progress") for i, a in enumerate(ages)]
    items.append((99, now - timedelta(days=300), "To Do"))  # never started: not WIP, no age
    base = fm.prepare(frames(items, changes), now)
    aged = kanban.aging_wip(base)
    got = dict(zip(aged.items["item_id"].to_list(), aged.items["bucket"].cast(pl.Utf8).to_list(), strict=True))
    assert got == {1: "0-30", 2: "0-30", 3: "30-60", 4: "60-90", 5: ">90", 6: ">90"}  # right-closed buckets
    assert aged.items.filter(pl.col("waste"))["item_id"].sort().to_list() == [5, 6]
    assert aged.items["age_days"].max() == pytest.approx(200)
    by_age = kanban.wip_by_age(base)
    assert by_age["items"].to_list() == [2, 1, 1, 2] and by_age["share"].sum() == pytest.approx(1.0)
    step = aged.by_step.row(0, named=True)
    assert step["current_step"] == "development" and step["items"] == 2


SINCE, UNTIL = date(2026, 3, 1), date(2026, 3, 31)
REF_NOW = datetime(2026, 3, 25, 12, tzinfo=UTC)


@settings(max_examples=80, deadline=None)
@given(histories())
def test_cfd_matches_the_reference_and_arrivals_cover_departures(hist):
    items, changes = hist
    base = fm.prepare(frames(items, changes), REF_NOW)
    cfd = kanban.cumulative_flow(base, SINCE, UNTIL, tz="Europe/Berlin")
    days = [SINCE + timedelta(days=k) for k in range((UNTIL - SINCE).days + 1)]
    ends = [datetime.fromtimestamp(int(e) / 1e6, UTC) for e in fm.day_edges(SINCE, UNTIL, "Europe/Berlin")[1:]]
    expected: dict[tuple[date, str], int] = {}
    for item_id, created, status in items:
        hist_i = [(at, f, t) for i, at, f, t in changes if i == item_id]
        for day, state in zip(days, reference_daily_steps(created, status, hist_i, RULES, REF_NOW, ends), strict=True):
            if state is not None:
                expected[(day, state[0])] = expected.get((day, state[0]), 0) + 1
    got = {(r["date"], r["step"]): r["items"] for r in cfd.iter_rows(named=True) if r["items"]}
    assert got == expected
    stacked = cfd.filter(pl.col("step") != "unmapped").sort("date", "step_order")
    cum = np.array(stacked["cumulative"].to_list()).reshape(len(days), -1)
    assert np.all(np.diff(cum, axis=1) <= 0)  # cumulative arrivals of a step ≥ those of every later step
