"""Monte Carlo forecasts: hand-checked degenerate cases, percentile order, reproducibility, the histogram."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okrflow.metrics import flow_metrics as fm
from okrflow.metrics import forecast
from tests.test_metrics_flow import d, frames


def test_constant_throughput_is_exact():
    samples = np.array([2, 2, 2], dtype=np.int64)
    w = forecast.when(samples, 7, start=date(2026, 4, 1), seed=1)
    assert w.answers == {50: 4, 85: 4, 95: 4}  # 2, 4, 6, 8 ≥ 7 on day 4
    assert w.dates[85] == date(2026, 4, 4)
    h = forecast.how_many_by(samples, date(2026, 4, 1), date(2026, 4, 10), seed=1)
    assert h.answers == {50: 20, 85: 20, 95: 20}
    assert h.histogram.rows() == [(20, 10_000, 1.0)]


def test_how_many_85_is_the_15th_percentile():
    # half the days deliver 0, half 1: over one day the trials are 0 or 1 with equal chance
    h = forecast.how_many(np.array([0, 1], dtype=np.int64), 1, seed=3, trials=10_000)
    assert h.answers[50] in (0, 1) and h.answers[85] == 0 and h.answers[95] == 0
    reach = dict(zip(h.histogram["value"].to_list(), h.histogram["share"].to_list(), strict=True))
    assert reach[0] == 1.0 and 0.45 < reach[1] < 0.55
    # the answer is met by at least 85% of the trials, and one more would not be
    many = forecast.how_many(np.array([0, 1, 2, 5], dtype=np.int64), 30, seed=4)
    totals_share = dict(zip(many.histogram["value"].to_list(), many.histogram["share"].to_list(), strict=True))
    assert totals_share[many.answers[85]] >= 0.85
    above = [s for v, s in totals_share.items() if v > many.answers[85]]
    assert not above or max(above) < 0.85 + 1e-4


def test_zero_throughput_never_finishes_and_zero_items_is_immediate():
    w = forecast.when(np.zeros(90, dtype=np.int64), 5, seed=1)
    assert w.answers == {50: None, 85: None, 95: None} and w.unfinished == 10_000
    assert forecast.when(np.array([1], dtype=np.int64), 0).answers[95] == 0
    with pytest.raises(ValueError):
        forecast.when(np.array([], dtype=np.int64), 3)


def test_daily_throughput_window_counts_zero_days():
    f = frames(
        [(1, d(0), "Done"), (2, d(0), "Done"), (3, d(0), "To Do")],
        [(1, d(2.5), "To Do", "Done"), (2, d(2.7), "To Do", "Done")],
    )
    base = fm.prepare(f, datetime(2026, 3, 20, tzinfo=UTC))
    assert forecast.daily_throughput(base, date(2026, 3, 1), date(2026, 3, 5)).tolist() == [0, 0, 2, 0, 0]
    mask = np.array([True, False, False])
    assert forecast.daily_throughput(base, date(2026, 3, 1), date(2026, 3, 5), items=mask).tolist() == [0, 0, 1, 0, 0]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=30).filter(any),
    st.integers(1, 60),
    st.integers(0, 2**32 - 1),
)
def test_percentiles_are_monotone_and_seeded(samples, n, seed):
    s = np.array(samples, dtype=np.int64)
    w = forecast.when(s, n, seed=seed, trials=2_000)
    assert w.answers[50] <= w.answers[85] <= w.answers[95]  # when: later is more certain
    h = forecast.how_many(s, n, seed=seed, trials=2_000)
    assert h.answers[50] >= h.answers[85] >= h.answers[95]  # how many: fewer is more certain
    again = forecast.when(s, n, seed=seed, trials=2_000)
    assert again.answers == w.answers and again.histogram.equals(w.histogram)
    assert forecast.how_many(s, n, seed=seed, trials=2_000).histogram.equals(h.histogram)
    assert w.histogram["trials"].sum() == 2_000 and h.histogram["trials"].sum() == 2_000
