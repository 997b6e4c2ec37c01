"""Key result progress for every direction, roll-up, grading, confidence status, KR forecasts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from okrflow.domain.okr import (
    CheckinStatus,
    Commitment,
    ConfidenceThresholds,
    Direction,
    GradeBand,
    KeyResultTarget,
    Weighted,
    confidence_status,
    display_progress,
    find_cycle,
    grade,
    grade_band,
    grade_verdict,
    kr_count_warning,
    progress,
    roll_up,
)
from okrflow.metrics.okr_forecast import forecast, schedule_gap

inc = KeyResultTarget(Direction.INCREASE, baseline=20, target=60)
dec = KeyResultTarget(Direction.DECREASE, baseline=800, target=300)
band = KeyResultTarget(Direction.BAND, baseline=2.5, band_low=0.5, band_high=1.0)


@pytest.mark.parametrize(
    ("kr", "value", "expected"),
    [
        (inc, 20, 0.0),
        (inc, 40, 0.5),
        (inc, 60, 1.0),
        (inc, 70, 1.25),  # over-achievement kept raw
        (inc, 10, -0.25),  # moved away from the target
        (dec, 800, 0.0),
        (dec, 550, 0.5),
        (dec, 300, 1.0),
        (dec, 200, 1.2),
        (dec, 900, -0.2),
        (band, 0.5, 1.0),  # edges are inside
        (band, 1.0, 1.0),
        (band, 0.75, 1.0),
        (band, 1.75, 0.5),  # half way from the baseline (2.5) to the upper edge (1.0)
        (band, 3.0, -1 / 3),
        (band, 0.25, 0.0),  # overshot below the band: out of band is not success
        (KeyResultTarget(Direction.INCREASE, baseline=-10, target=-2), -6, 0.5),  # negative values
        (KeyResultTarget(Direction.DECREASE, baseline=-2, target=-10), -6, 0.5),
        (KeyResultTarget(Direction.INCREASE, baseline=5, target=5), 5, 1.0),  # baseline = target
        (KeyResultTarget(Direction.INCREASE, baseline=5, target=5), 4.9, 0.0),
        (KeyResultTarget(Direction.DECREASE, baseline=5, target=5), 5, 1.0),
        (KeyResultTarget(Direction.DECREASE, baseline=5, target=5), 5.1, 0.0),
        (KeyResultTarget(Direction.MILESTONE, milestones=("beta", "ga", "migrated")), 2, 2 / 3),
        (KeyResultTarget(Direction.MILESTONE), 1, 1.0),  # binary milestone
        (KeyResultTarget(Direction.MILESTONE), 0, 0.0),
    ],
)
def test_progress_formulas(kr, value, expected):
    assert progress(kr, value) == pytest.approx(expected)


def test_band_with_baseline_inside_is_all_or_nothing():
    kr = KeyResultTarget(Direction.BAND, baseline=0.8, band_low=0.5, band_high=1.0)
    assert progress(kr, 0.9) == 1.0
    assert progress(kr, 1.01) == 0.0


def test_no_value_means_no_progress_and_invalid_targets_are_refused():
    assert progress(inc, None) is None
    with pytest.raises(ValueError, match="target ≥ baseline"):
        KeyResultTarget(Direction.INCREASE, baseline=10, target=5)
    with pytest.raises(ValueError, match="band_low and band_high"):
        KeyResultTarget(Direction.BAND, baseline=1)
    with pytest.raises(ValueError, match="finite"):
        progress(inc, math.nan)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(finite, finite, finite, finite)
def test_increase_progress_is_monotonic_in_value(baseline, target, v1, v2):
    assume(target > baseline)
    kr = KeyResultTarget(Direction.INCREASE, baseline=baseline, target=target)
    lo, hi = sorted((v1, v2))
    assert progress(kr, lo) <= progress(kr, hi) + 1e-12


@given(finite, finite, finite)
def test_decrease_mirrors_increase(baseline, target, value):
    assume(target > baseline)
    up = KeyResultTarget(Direction.INCREASE, baseline=baseline, target=target)
    down = KeyResultTarget(Direction.DECREASE, baseline=-baseline, target=-target)
    assert progress(down, -value) == pytest.approx(progress(up, value), rel=1e-9, abs=1e-9)


@given(st.lists(st.tuples(st.one_of(st.none(), finite), st.floats(0.01, 100)), min_size=1, max_size=8))
def test_roll_up_stays_within_children(children):
    items = [Weighted(p, w) for p, w in children]
    result = roll_up(items)
    clamped = [display_progress(p) for p, _ in children]
    assert min(clamped) - 1e-9 <= result <= max(clamped) + 1e-9


def test_roll_up_weights_and_raw_mode():
    assert roll_up([Weighted(1.0, 3), Weighted(0.0, 1)]) == pytest.approx(0.75)
    assert roll_up([Weighted(1.5, 1), Weighted(0.5, 1)]) == pytest.approx(0.75)  # clamped: 1.0 and 0.5
    assert roll_up([Weighted(1.5, 1), Weighted(0.5, 1)], clamp=False) == pytest.approx(1.0)
    assert roll_up([]) is None


def test_grades_and_bands():
    assert grade(0.73) == 0.7 and grade_band(0.7) is GradeBand.GREEN
    assert grade_band(0.69) is GradeBand.YELLOW and grade_band(0.4) is GradeBand.YELLOW
    assert grade_band(0.39) is GradeBand.RED
    assert grade(1.4) == 1.0
    committed = grade_verdict(0.72, Commitment.COMMITTED)
    aspirational = grade_verdict(0.72, Commitment.ASPIRATIONAL)
    assert (committed.success, aspirational.success) == (False, True)
    assert committed.band is aspirational.band is GradeBand.GREEN


def test_confidence_status_with_default_and_custom_thresholds():
    assert confidence_status(7) is CheckinStatus.ON_TRACK
    assert confidence_status(6) is CheckinStatus.AT_RISK
    assert confidence_status(4) is CheckinStatus.AT_RISK
    assert confidence_status(3) is CheckinStatus.OFF_TRACK
    custom = ConfidenceThresholds(on_track=8, at_risk=5)
    assert confidence_status(7, custom) is CheckinStatus.AT_RISK
    with pytest.raises(ValueError):
        confidence_status(11)


def test_kr_count_warning():
    assert kr_count_warning(2) and kr_count_warning(6)
    assert kr_count_warning(3) is None and kr_count_warning(5) is None


def test_find_cycle():
    assert find_cycle({1: 2, 2: 3, 3: None}, 1) is None
    assert find_cycle({1: 2, 2: 3, 3: 1}, 1) == [1, 2, 3, 1]


START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 12, 31, tzinfo=UTC)


def test_trend_forecast_on_a_noisy_line():
    times = [START + timedelta(days=7 * i) for i in range(8)]
    values = [20 + 0.4 * 7 * i + (1 if i % 2 else -1) for i in range(8)]  # ~0.4 per day
    f = forecast(inc, times, values, START, END, now=times[-1])
    assert f.method == "trend" and f.points == 8
    assert f.slope_per_day == pytest.approx(0.4, abs=0.05)
    assert f.value_at_end == pytest.approx(20 + 0.4 * 91, abs=3)  # ≈ 56: misses 60
    assert f.low < f.value_at_end < f.high
    assert f.at_risk and 0 < f.probability_on_target < 0.5


def test_trend_forecast_that_will_make_it():
    times = [START + timedelta(days=7 * i) for i in range(6)]
    values = [20 + 0.6 * 7 * i for i in range(6)]
    f = forecast(inc, times, values, START, END, now=times[-1])
    assert not f.at_risk and f.probability_on_target == 1.0 and f.progress_at_end > 1


def test_expected_line_fallback_with_few_points():
    mid = START + (END - START) / 2
    behind = forecast(inc, [mid], [30], START, END, now=mid)  # 25 % done at half time
    assert behind.method == "expected_line" and behind.low is None
    assert behind.progress_at_end == pytest.approx(0.75) and behind.at_risk
    ahead = forecast(inc, [mid], [45], START, END, now=mid)
    assert ahead.progress_at_end == pytest.approx(1.125) and not ahead.at_risk
    nothing = forecast(inc, [], [], START, END, now=START)
    assert nothing.progress_at_end == pytest.approx(1.0) and not nothing.at_risk


def test_decrease_forecast_flips():
    times = [START + timedelta(days=10 * i) for i in range(5)]
    values = [800 - 6 * 10 * i for i in range(5)]  # -6/day → 800 - 546 = 254 at day 91
    f = forecast(dec, times, values, START, END, now=times[-1])
    assert f.value_at_end == pytest.approx(254, abs=1) and not f.at_risk


def test_schedule_gap():
    mid = START + (END - START) / 2
    gap = schedule_gap(inc, 30, START, END, mid)
    assert gap.expected_progress == pytest.approx(0.5) and gap.actual_progress == pytest.approx(0.25)
    assert gap.behind and gap.gap == pytest.approx(-0.25)
