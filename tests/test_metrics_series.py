"""Bucketing metric series by their aggregation, and ratios of two series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okrflow.metrics.series import aggregate, bucket_start, ratio

MON = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


def test_bucket_starts():
    t = datetime(2026, 11, 5, 15, 30, tzinfo=UTC)  # Thursday
    assert bucket_start(t, "day") == datetime(2026, 11, 5, tzinfo=UTC)
    assert bucket_start(t, "week") == MON
    assert bucket_start(t, "month") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        bucket_start(t, "year")


def test_weekly_sum_mean_last():
    times = [MON + timedelta(days=d) for d in range(10)]  # 7 days of week 1, 3 of week 2
    values = [float(d) for d in range(10)]
    assert aggregate(times, values, "sum", "week") == ([MON, MON + timedelta(days=7)], [21.0, 24.0])
    assert aggregate(times, values, "mean", "week")[1] == [3.0, 8.0]
    shuffled = list(reversed(times)), list(reversed(values))
    assert aggregate(*shuffled, "last", "week")[1] == [6.0, 9.0]


def test_ratio_skips_missing_and_zero_denominators():
    t = [MON + timedelta(days=d) for d in range(3)]
    assert ratio(t, [1, 2, 3], t[:2], [10, 0], scale=100) == ([t[0]], [10.0])


@given(st.lists(st.tuples(st.integers(0, 60), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=50))
def test_sum_is_preserved_and_mean_within_range(points):
    times = [MON + timedelta(hours=h * 7) for h, _ in points]
    values = [v for _, v in points]
    _, sums = aggregate(times, values, "sum", "week")
    assert sum(sums) == pytest.approx(sum(values), rel=1e-9, abs=1e-6)
    _, means = aggregate(times, values, "mean", "week")
    assert min(values) - 1e-9 <= min(means) and max(means) <= max(values) + 1e-9
