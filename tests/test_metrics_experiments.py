"""Experiment statistics: textbook values, SciPy and gbstats as oracles, Hypothesis properties, edge cases.

gbstats (GrowthBook's stats engine) pins numpy < 2, so it is no dependency of okrflow: its results are recorded in
``tests/fixtures/gbstats/oracle.json`` by ``tests/fixtures/gbstats/generate.py`` (see the README there)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.power import NormalIndPower

from okrflow.domain.errors import InvalidInputError
from okrflow.metrics.experiments import (
    GaussianPrior,
    MeanSummary,
    Method,
    NotEnoughDataError,
    PowerPlan,
    ProportionSummary,
    Scale,
    Summary,
    achieved_power,
    aggregate,
    bayesian_effect,
    compare,
    critical_value,
    cumulative,
    detectable_effect_with_units,
    fixed_horizon_effect,
    minimum_detectable_effect,
    power_with_units,
    required_sample_size,
    required_units,
    sequential_effect,
    srm_test,
)

TOL = 1e-6
ORACLE: dict[str, Any] = json.loads((Path(__file__).parent / "fixtures" / "gbstats" / "oracle.json").read_text("utf-8"))


def mean_summary(n: int, mean: float, std: float) -> MeanSummary:
    """Sums from a sample mean and sample standard deviation (n − 1 form)."""
    return MeanSummary(n, n * mean, (n - 1) * std**2 + n * mean**2)


# --- summaries -------------------------------------------------------------------------------------------------


def test_variance_conventions() -> None:  # gbstats' too: see test_agrees_with_gbstats
    p = ProportionSummary(1000, 123)
    assert p.variance == pytest.approx(0.123 * 0.877, abs=1e-15)  # population form p(1 − p)
    m = MeanSummary(4, 10.0, 30.0)  # values 1, 2, 3, 4
    assert m.mean == 2.5
    assert m.variance == pytest.approx(np.var([1, 2, 3, 4], ddof=1), abs=1e-12)  # sample form, n − 1


def test_daily_summaries_add_up() -> None:
    days = [ProportionSummary(100, 10), ProportionSummary(120, 15), ProportionSummary(90, 7)]
    assert aggregate(days) == ProportionSummary(310, 32)
    assert [d.n for d in cumulative(days)] == [100, 220, 310]
    means = [MeanSummary(2, 3.0, 5.0), MeanSummary(3, 6.0, 14.0)]
    assert aggregate(means) == MeanSummary(5, 9.0, 19.0)
    with pytest.raises(InvalidInputError, match="no daily summaries"):
        aggregate([])
    from_numpy = ProportionSummary(np.int64(10), np.int64(3))  # type: ignore[arg-type]
    assert type(from_numpy.n) is int and type(from_numpy.conversions) is int
    assert srm_test(np.array([5000, 5300]), [1, 1]).observed == (5000, 5300)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ProportionSummary(10, 11), "cannot exceed n"),
        (lambda: ProportionSummary(-1, 0), "whole number"),
        (lambda: MeanSummary(3, 6.0, 5.0), "below sum²/n"),  # Σx² < (Σx)²/n is impossible
        (lambda: MeanSummary(0, 1.0, 1.0), "n = 0"),
        (lambda: MeanSummary(3, math.nan, 1.0), "finite"),
    ],
)
def test_invalid_summaries_are_refused_with_a_message(make: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make()  # type: ignore[operator]


# --- textbook values and SciPy -------------------------------------------------------------------------------------


def test_two_proportions_textbook_example() -> None:
    # 100/1000 vs 120/1000: difference 0.02, se = sqrt(0.1·0.9/1000 + 0.12·0.88/1000) = 0.0139857,
    # z = 1.43003, two-sided normal p = 0.15272; Welch t with ν ≈ 1985.37 gives p = 0.15287.
    e = fixed_horizon_effect(ProportionSummary(1000, 100), ProportionSummary(1000, 120))
    assert e.estimate == pytest.approx(0.02, abs=1e-12)
    assert e.std_error == pytest.approx(math.sqrt(0.09 / 1000 + 0.1056 / 1000), abs=1e-12)
    assert e.std_error == pytest.approx(0.0139857, abs=1e-7)
    assert e.dof == pytest.approx(1985.3714563, abs=1e-6)
    assert e.p_value == pytest.approx(0.1528654, abs=1e-6)
    assert e.p_value == pytest.approx(2 * stats.norm.sf(0.02 / e.std_error), abs=2e-4)  # ≈ the z-test
    assert e.ci == pytest.approx((-0.0074282, 0.0474282), abs=1e-6)
    rel = fixed_horizon_effect(ProportionSummary(1000, 100), ProportionSummary(1000, 120), scale=Scale.RELATIVE)
    assert rel.estimate == pytest.approx(0.2, abs=1e-12)
    # delta method: 0.1056/(0.1²·1000) + 0.09·0.12²/(0.1⁴·1000) = 0.01056 + 0.01296
    assert rel.std_error == pytest.approx(math.sqrt(0.02352), abs=1e-12)


@pytest.mark.parametrize(
    ("n1", "m1", "s1", "n2", "m2", "s2"),
    [(15, 20.0, 3.0, 12, 23.0, 6.0), (500, 10.1, 2.5, 480, 10.4, 2.9), (40, 0.0, 1.0, 60, -0.5, 4.0)],
)
def test_welch_agrees_with_scipy_ttest_ind_from_stats(
    n1: int, m1: float, s1: float, n2: int, m2: float, s2: float
) -> None:
    e = fixed_horizon_effect(mean_summary(n1, m1, s1), mean_summary(n2, m2, s2))
    ref = stats.ttest_ind_from_stats(m2, s2, n2, m1, s1, n1, equal_var=False)
    assert e.estimate / e.std_error == pytest.approx(ref.statistic, abs=1e-9)
    assert e.p_value == pytest.approx(ref.pvalue, abs=1e-9)


def test_srm_detects_a_skewed_fifty_fifty_split() -> None:
    # 5000 vs 5300 on a 50/50 plan: χ² = 2·150²/5150 = 8.7379, p = 0.0031167 (χ², 1 dof).
    r = srm_test([5000, 5300], [0.5, 0.5])
    assert r.chi_square == pytest.approx(2 * 150**2 / 5150, abs=1e-9)
    assert r.p_value == pytest.approx(stats.chi2.sf(8.737864, 1), abs=1e-6)
    # GrowthBook's default threshold 0.001 is strict: this split is flagged at 0.01 (and 0.05) but not at 0.001.
    assert srm_test([5000, 5300], [1, 1], threshold=0.01).mismatch
    assert not r.mismatch
    assert srm_test([5000, 5400], [1, 1]).mismatch  # p = 8.8e-5
    assert not srm_test([5000, 5050], [1, 1]).mismatch
    # unequal plan, three variants, nothing observed yet
    assert not srm_test([2000, 1000, 1000], [50, 25, 25]).mismatch
    assert srm_test([0, 0], [1, 1]).p_value == 1.0
    with pytest.raises(InvalidInputError, match="one weight per variant"):
        srm_test([1, 2], [1])


def test_power_textbook_examples() -> None:
    # 50 % → 55 %, α = 0.05 two-sided, power 0.8: (1.959964 + 0.841621)²·(0.25 + 0.2475)/0.05² = 1561.93 → 1562
    # per variant (pooled-variance/arcsine variants of the formula give 1565; 3842 is not this example's figure).
    plan = PowerPlan.for_proportion(0.5)
    assert required_sample_size(plan, 0.05, relative=False) == 1562
    assert required_sample_size(plan, 0.10) == 1562  # the same effect as a 10 % relative lift
    assert achieved_power(plan, 0.05, 1562, relative=False) >= 0.8 > achieved_power(plan, 0.05, 1561, relative=False)
    # Cohen's d = 0.5 (σ = 1, δ = 0.5): 2·(1.96 + 0.8416)²/0.25 = 62.79 → 63 per group (normal approximation).
    assert required_sample_size(PowerPlan.for_mean(10, 1), 0.5, relative=False) == 63
    # 10 % → 12 %: 3839 per variant with this (unpooled) formula.
    assert required_sample_size(PowerPlan.for_proportion(0.1), 0.02, relative=False) == 3839
    # MDE is the inverse of the sample size
    mde = minimum_detectable_effect(plan, 1562)
    assert mde.absolute == pytest.approx(0.05, abs=1e-4)
    assert mde.relative == pytest.approx(0.1, abs=2e-4)
    down = minimum_detectable_effect(plan, 1562, lower_is_better=True)
    assert down.absolute == pytest.approx(-0.05, abs=1e-4)
    mean_mde = minimum_detectable_effect(PowerPlan.for_mean(10, 1), 63)
    assert mean_mde.absolute == pytest.approx(0.5, abs=5e-3)
    with pytest.raises(InvalidInputError, match="strictly between 0 and 1"):
        required_sample_size(plan, 0.6, relative=False)
    with pytest.raises(InvalidInputError, match="power"):
        PowerPlan.for_proportion(0.5, power=1.0)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(0.01, 0.9),
    lift=st.floats(0.02, 0.5),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
    power=st.sampled_from([0.8, 0.9]),
)
def test_required_sample_size_reaches_the_power(rate: float, lift: float, alpha: float, power: float) -> None:
    assume(rate * (1 + lift) < 0.99)
    plan = PowerPlan.for_proportion(rate, alpha=alpha, power=power)
    n = required_sample_size(plan, lift)
    assert achieved_power(plan, lift, n) >= power
    mde = minimum_detectable_effect(plan, n)
    assert mde.relative is not None
    assert mde.relative <= lift + 1e-9


# --- power with any split: units over the whole pilot ------------------------------------------------------------


# Φ(−2·z_{1−α/2} − z_{1−β}) for the loosest plan tested (α = 0.1, power 0.8): the far tail the formulas ignore
_FAR_TAIL = 1e-4


def test_required_units_matches_statsmodels_for_means() -> None:
    """statsmodels' ``NormalIndPower`` (two-sided, both tails counted) solves for the control's units at an
    effect size d = δ/σ with ``ratio`` = treatment/control; our units over the pilot are nobs1·(1 + ratio)."""
    for alpha, power, d, shares in [
        (0.05, 0.8, 0.5, (0.5, 0.5)),
        (0.05, 0.9, 0.2, (0.9, 0.1)),
        (0.01, 0.8, 0.1, (0.3, 0.3)),  # a third arm takes the rest
        (0.1, 0.95, 0.35, (0.2, 0.8)),
    ]:
        nobs1 = NormalIndPower().solve_power(
            effect_size=d, alpha=alpha, power=power, ratio=shares[1] / shares[0], alternative="two-sided"
        )
        expected_total = nobs1 / shares[0]
        plan = PowerPlan.for_mean(10, 2, alpha=alpha, power=power)
        assert required_units(plan, d * 2, relative=False, shares=shares) == math.ceil(expected_total - 1e-9)
        n = round(expected_total)
        expected_power = NormalIndPower().power(
            effect_size=d, nobs1=n * shares[0], alpha=alpha, ratio=shares[1] / shares[0], alternative="two-sided"
        )
        assert power_with_units(plan, d * 2, n, relative=False, shares=shares) == pytest.approx(
            expected_power, abs=1e-9
        )
        mde = detectable_effect_with_units(plan, n, shares=shares)
        # the sample size and the MDE ignore the far tail (as usual); achieved power counts it
        assert -1e-12 <= power_with_units(plan, mde.absolute, n, relative=False, shares=shares) - power < _FAR_TAIL


def test_required_units_textbook_and_equal_split() -> None:
    plan = PowerPlan.for_proportion(0.5)
    # 50 % → 55 % at 50/50: 2 × 1561.93 = 3123.86 → 3124 units over the pilot (1562 per variant rounded first)
    assert required_units(plan, 0.05, relative=False) == 3124
    # 90/10 costs (1/0.9 + 1/0.1)/(1/0.5 + 1/0.5) = 2.78 times the units for a mean metric
    means = PowerPlan.for_mean(10, 1)
    ratio = required_units(means, 0.5, relative=False, shares=(0.9, 0.1)) / required_units(means, 0.5, relative=False)
    assert ratio == pytest.approx(100 / 36, rel=1e-2)
    # lower is better: a drop from 10 % to 8 % is an absolute −0.02; the variance at 8 % is smaller than at 12 %
    rate = PowerPlan.for_proportion(0.1)
    assert required_units(rate, -0.2) < required_units(rate, 0.2)
    down = detectable_effect_with_units(rate, 7678, lower_is_better=True)
    assert down.absolute < 0 and down.relative is not None and down.relative < 0


def test_power_with_units_edges_have_messages() -> None:
    plan = PowerPlan.for_proportion(0.5)
    with pytest.raises(InvalidInputError, match="add up to at most 1"):
        required_units(plan, 0.1, shares=(0.6, 0.6))
    with pytest.raises(InvalidInputError, match="lie in"):
        power_with_units(plan, 0.1, 100, shares=(0.0, 0.5))
    with pytest.raises(InvalidInputError, match="whole number"):
        power_with_units(plan, 0.1, 0)
    with pytest.raises(InvalidInputError, match="whole number"):
        detectable_effect_with_units(plan, True)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not be 0"):
        required_units(plan, 0.0)
    with pytest.raises(NotEnoughDataError, match="no conversion rate between 0 and 1"):
        detectable_effect_with_units(PowerPlan.for_proportion(0.9), 4)


@settings(max_examples=80, deadline=None)
@given(
    rate=st.floats(0.01, 0.9),
    lift=st.floats(0.02, 0.5),
    lower=st.booleans(),
    control_share=st.floats(0.05, 0.95),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
    power=st.sampled_from([0.8, 0.9]),
)
def test_required_units_is_the_smallest_that_reaches_the_power(
    rate: float, lift: float, lower: bool, control_share: float, alpha: float, power: float
) -> None:
    effect = -lift if lower else lift
    assume(0.005 < rate * (1 + effect) < 0.99)
    shares = (control_share, 1 - control_share)
    plan = PowerPlan.for_proportion(rate, alpha=alpha, power=power)
    n = required_units(plan, effect, shares=shares)
    assert power_with_units(plan, effect, n, shares=shares) >= power - 1e-12
    if n > math.ceil(2 / min(shares)):
        assert power_with_units(plan, effect, n - 1, shares=shares) < power + _FAR_TAIL
    mde = detectable_effect_with_units(plan, n, shares=shares, lower_is_better=lower)
    assert mde.relative is not None
    assert abs(mde.relative) <= lift + 1e-9 and (mde.relative < 0) == lower
    assert -1e-12 <= power_with_units(plan, mde.absolute, n, relative=False, shares=shares) - power < _FAR_TAIL


def test_critical_value_is_the_sequential_interval_in_standard_errors() -> None:
    control, treatment = MeanSummary(1200, 12_000.0, 124_000.0), MeanSummary(1300, 13_260.0, 138_000.0)
    seq = sequential_effect(control, treatment, alpha=0.05)
    half = (seq.ci[1] - seq.ci[0]) / 2
    assert half == pytest.approx(critical_value(2500, method=Method.SEQUENTIAL) * seq.std_error, rel=1e-12)
    assert critical_value(2500) == pytest.approx(stats.norm.ppf(0.975), abs=1e-12)
    for n in (10, 1000, 5000, 10**6):
        assert critical_value(n, method=Method.SEQUENTIAL) > critical_value(n)


@settings(max_examples=50, deadline=None)
@given(
    rate=st.floats(0.02, 0.8),
    lift=st.floats(0.03, 0.5),
    control_share=st.floats(0.1, 0.9),
    tuning=st.sampled_from([500.0, 5000.0, 100_000.0]),
)
def test_sequential_required_units_reach_the_power_and_need_more(
    rate: float, lift: float, control_share: float, tuning: float
) -> None:
    assume(rate * (1 + lift) < 0.99)
    shares = (control_share, 1 - control_share)
    plan = PowerPlan.for_proportion(rate)
    seq = dict(method=Method.SEQUENTIAL, tuning=tuning)
    n = required_units(plan, lift, shares=shares, **seq)  # type: ignore[arg-type]
    assert n > required_units(plan, lift, shares=shares)
    assert power_with_units(plan, lift, n, shares=shares, **seq) >= 0.8 - 1e-12  # type: ignore[arg-type]
    assert power_with_units(plan, lift, n - 1, shares=shares, **seq) < 0.8 + _FAR_TAIL  # type: ignore[arg-type]
    mde = detectable_effect_with_units(plan, n, shares=shares, **seq)  # type: ignore[arg-type]
    assert mde.relative is not None and mde.relative <= lift + 1e-9
    assert -1e-12 <= power_with_units(plan, mde.absolute, n, relative=False, shares=shares, **seq) - 0.8 < _FAR_TAIL  # type: ignore[arg-type]


# --- gbstats as the oracle (recorded) -----------------------------------------------------------------------------


def _summary(d: dict[str, Any]) -> Summary:
    if d["kind"] == "proportion":
        return ProportionSummary(d["n"], d["sum"])
    return MeanSummary(d["n"], d["sum"], d["sum_squares"])


def _cases(section: str) -> list[Any]:
    return [pytest.param(case, id=case["id"]) for case in ORACLE[section]]


def test_the_oracle_is_what_the_readme_describes() -> None:
    assert ORACLE["versions"]["gbstats"] == "0.8.0"
    assert len(ORACLE["effects"]) >= 30 and ORACLE["priors"] and len(ORACLE["srm"]) >= 5
    assert {c["scale"] for c in ORACLE["effects"]} == {"absolute", "relative"}
    assert {c["control"]["kind"] for c in ORACLE["effects"]} == {"proportion", "mean"}


@pytest.mark.parametrize("case", _cases("effects"))
def test_agrees_with_gbstats(case: dict[str, Any]) -> None:
    control, treatment = _summary(case["control"]), _summary(case["treatment"])
    scale, alpha = Scale(case["scale"]), case["alpha"]
    assert control.variance == pytest.approx(case["variance"]["control"], rel=1e-12, abs=1e-15)
    assert treatment.variance == pytest.approx(case["variance"]["treatment"], rel=1e-12, abs=1e-15)

    ref = case["fixed"]  # TwoSidedTTest
    fixed = fixed_horizon_effect(control, treatment, scale=scale, alpha=alpha)
    assert fixed.estimate == pytest.approx(ref["expected"], abs=TOL)
    assert fixed.ci == pytest.approx(tuple(ref["ci"]), abs=TOL)
    assert fixed.p_value == pytest.approx(ref["p_value"], abs=TOL)
    assert fixed.std_error == pytest.approx(ref["stddev"], abs=TOL)

    ref = case["sequential"]  # SequentialTwoSidedTTest
    seq = sequential_effect(control, treatment, scale=scale, alpha=alpha, tuning=ref["tuning"])
    assert seq.ci == pytest.approx(tuple(ref["ci"]), abs=TOL)
    assert seq.p_value == pytest.approx(ref["p_value"], abs=TOL)

    for direction, lower_is_better in (("higher_is_better", False), ("lower_is_better", True)):
        ref = case["bayesian"][direction]  # EffectBayesianABTest, flat prior, inverse=lower_is_better
        bayes = bayesian_effect(control, treatment, scale=scale, alpha=alpha, lower_is_better=lower_is_better)
        assert bayes.mean == pytest.approx(ref["expected"], abs=TOL)
        assert bayes.std == pytest.approx(ref["stddev"], abs=TOL)
        assert bayes.chance_to_win == pytest.approx(ref["chance_to_win"], abs=TOL)
        assert bayes.risk == pytest.approx(tuple(ref["risk"]), abs=TOL)
        assert bayes.credible_interval == pytest.approx(tuple(ref["ci"]), abs=TOL)


@pytest.mark.parametrize("case", _cases("priors"))
def test_proper_prior_agrees_with_gbstats(case: dict[str, Any]) -> None:
    control, treatment = _summary(case["control"]), _summary(case["treatment"])
    scale, alpha = Scale(case["scale"]), case["alpha"]
    prior = GaussianPrior(**case["prior"])
    ours = bayesian_effect(control, treatment, scale=scale, alpha=alpha, prior=prior)
    ref = case["bayesian"]
    assert ours.mean == pytest.approx(ref["expected"], abs=TOL)
    assert ours.std == pytest.approx(ref["stddev"], abs=TOL)
    assert ours.chance_to_win == pytest.approx(ref["chance_to_win"], abs=TOL)
    assert ours.risk == pytest.approx(tuple(ref["risk"]), abs=TOL)
    assert ours.credible_interval == pytest.approx(tuple(ref["ci"]), abs=TOL)
    flat = bayesian_effect(control, treatment, scale=scale, alpha=alpha)
    assert abs(ours.mean - prior.mean) < abs(flat.mean - prior.mean)  # shrunk toward the prior mean


@pytest.mark.parametrize("case", _cases("srm"))
def test_srm_agrees_with_gbstats(case: dict[str, Any]) -> None:
    assert srm_test(case["observed"], case["weights"]).p_value == pytest.approx(case["p_value"], rel=1e-9, abs=1e-12)


# --- the full readout, direction and edges ------------------------------------------------------------------------


def test_compare_reads_out_everything() -> None:
    c = compare(ProportionSummary(1000, 100), ProportionSummary(1000, 120))
    assert c.relative is not None
    assert c.relative.estimate == pytest.approx(0.2)
    assert c.bayesian.scale is Scale.RELATIVE
    assert c.chance_to_win == pytest.approx(0.9039005, abs=TOL)
    assert c.risk == pytest.approx((0.2069216, 0.0069216), abs=TOL)
    assert c.srm.p_value == 1.0
    assert c.notes == ()
    seq = compare(ProportionSummary(1000, 100), ProportionSummary(1000, 120), method=Method.SEQUENTIAL)
    assert seq.absolute.method is Method.SEQUENTIAL
    skewed = compare(ProportionSummary(5000, 500), ProportionSummary(5400, 560))
    assert skewed.srm.mismatch
    assert any("sample ratio mismatch" in note for note in skewed.notes)


def test_lower_is_better_flips_everything() -> None:
    control, treatment = mean_summary(400, 2.0, 0.8), mean_summary(400, 1.85, 0.8)  # load time fell: better
    up = compare(control, treatment)
    down = compare(control, treatment, lower_is_better=True)
    assert down.absolute.estimate == up.absolute.estimate < 0  # raw estimate unchanged
    assert down.absolute.improvement == -up.absolute.improvement > 0
    low, high = down.absolute.improvement_ci
    assert low == pytest.approx(-up.absolute.ci[1]) and high == pytest.approx(-up.absolute.ci[0])
    assert down.chance_to_win == pytest.approx(1 - up.chance_to_win, abs=1e-12)
    assert down.chance_to_win > 0.95
    assert down.risk == pytest.approx(tuple(reversed(up.risk)), abs=1e-12)


def test_zero_conversions_in_control_reports_the_absolute_effect_only() -> None:
    c = compare(ProportionSummary(500, 0), ProportionSummary(500, 6))
    assert c.relative is None
    assert c.absolute.estimate == pytest.approx(0.012)
    assert c.bayesian.scale is Scale.ABSOLUTE
    assert any("control mean is 0" in note for note in c.notes)
    assert all(math.isfinite(x) for x in (c.absolute.p_value, *c.absolute.ci, c.chance_to_win, *c.risk))


def test_zero_conversions_in_treatment_keeps_absolute_and_explains_relative() -> None:
    c = compare(ProportionSummary(500, 6), ProportionSummary(500, 0))
    assert c.relative is None
    assert any("no variance" in note for note in c.notes)
    assert c.absolute.estimate == pytest.approx(-0.012)


@pytest.mark.parametrize(
    ("control", "treatment", "message"),
    [
        (ProportionSummary(500, 0), ProportionSummary(500, 0), "neither variant varies"),
        (MeanSummary(3, 6.0, 12.0), MeanSummary(4, 8.0, 16.0), "neither variant varies"),  # every value 2
        (ProportionSummary(1, 1), ProportionSummary(100, 5), "control has 1 unit"),
        (ProportionSummary(100, 5), ProportionSummary(0, 0), "treatment has 0 unit"),
    ],
)
def test_edges_raise_a_clear_message(control: Summary, treatment: Summary, message: str) -> None:
    with pytest.raises(NotEnoughDataError, match=message):
        compare(control, treatment)


def test_mixed_metric_kinds_and_bad_alpha_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="same kind"):
        compare(ProportionSummary(10, 1), MeanSummary(10, 5.0, 10.0))
    with pytest.raises(InvalidInputError, match="alpha"):
        fixed_horizon_effect(ProportionSummary(10, 1), ProportionSummary(10, 2), alpha=1.5)


def test_zero_variance_in_one_arm_is_fine() -> None:
    e = fixed_horizon_effect(MeanSummary(10, 20.0, 40.0), mean_summary(10, 2.5, 1.0))
    assert e.dof == pytest.approx(9.0)  # all from the varying arm: n − 1
    assert math.isfinite(e.p_value)


# --- peeking -------------------------------------------------------------------------------------------------------


def test_sequential_intervals_keep_the_error_rate_under_daily_peeking() -> None:
    """A/A tests read every day for 20 days: the fixed-horizon test "finds" an effect far more often than α at
    some look; the always-valid interval stays within α."""
    rng = np.random.default_rng(20240607)
    runs, looks, per_day, rate = 300, 20, 250, 0.1
    daily = rng.binomial(per_day, rate, size=(runs, looks, 2))
    fixed_hits = sequential_hits = 0
    for run in range(runs):
        cum = daily[run].cumsum(axis=0)
        fixed_any = seq_any = False
        for look in range(looks):
            n = per_day * (look + 1)
            a, b = ProportionSummary(n, int(cum[look, 0])), ProportionSummary(n, int(cum[look, 1]))
            fixed_any |= fixed_horizon_effect(a, b).p_value < 0.05
            seq_any |= sequential_effect(a, b, tuning=5000).p_value < 0.05
        fixed_hits += fixed_any
        sequential_hits += seq_any
    # With this seed: 26 % of the A/A runs cross p < 0.05 at some look with the fixed test, 1.7 % sequentially.
    assert fixed_hits / runs > 0.12  # peeking inflates the false-positive rate well beyond 5 %
    assert sequential_hits / runs <= 0.05


# --- properties ----------------------------------------------------------------------------------------------------

counts = st.integers(2, 200_000)


@st.composite
def proportion_pairs(draw: st.DrawFn, min_n: int = 2) -> tuple[ProportionSummary, ProportionSummary]:
    na, nb = draw(st.integers(min_n, 200_000)), draw(st.integers(min_n, 200_000))
    a = ProportionSummary(na, draw(st.integers(1, na - 1)))
    b = ProportionSummary(nb, draw(st.integers(1, nb - 1)))
    return a, b


@st.composite
def mean_pairs(draw: st.DrawFn, min_n: int = 2) -> tuple[MeanSummary, MeanSummary]:
    def one() -> MeanSummary:
        n = draw(st.integers(min_n, 100_000))
        return mean_summary(n, draw(st.floats(0.5, 1000)), draw(st.floats(0.01, 500)))

    return one(), one()


pairs = st.one_of(proportion_pairs(), mean_pairs())
alphas = st.sampled_from([0.01, 0.05, 0.1, 0.2])


@settings(max_examples=150, deadline=None)
@given(pair=pairs, alpha=alphas, scale=st.sampled_from(list(Scale)), method=st.sampled_from(list(Method)))
def test_interval_contains_the_estimate_and_p_is_a_probability(
    pair: tuple[Summary, Summary], alpha: float, scale: Scale, method: Method
) -> None:
    control, treatment = pair
    fn = sequential_effect if method is Method.SEQUENTIAL else fixed_horizon_effect
    e = fn(control, treatment, scale=scale, alpha=alpha)
    assert e.ci[0] <= e.estimate <= e.ci[1]
    assert 0.0 <= e.p_value <= 1.0
    assert all(math.isfinite(x) for x in (*e.ci, e.p_value, e.std_error))


@settings(max_examples=150, deadline=None)
@given(pair=pairs, alpha=alphas)
def test_swapping_variants_negates_the_absolute_effect(pair: tuple[Summary, Summary], alpha: float) -> None:
    a, b = pair
    ab, ba = fixed_horizon_effect(a, b, alpha=alpha), fixed_horizon_effect(b, a, alpha=alpha)
    assert ba.estimate == pytest.approx(-ab.estimate, abs=1e-12)
    assert ba.ci == pytest.approx((-ab.ci[1], -ab.ci[0]), rel=1e-9, abs=1e-12)
    assert ba.p_value == pytest.approx(ab.p_value, rel=1e-9, abs=1e-12)
    bayes_ab = bayesian_effect(a, b, scale=Scale.ABSOLUTE)
    bayes_ba = bayesian_effect(b, a, scale=Scale.ABSOLUTE)
    assert bayes_ba.chance_to_win == pytest.approx(bayes_ab.chance_to_lose, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(pair=pairs, scale=st.sampled_from(list(Scale)))
def test_chances_sum_to_one_and_direction_flips_them(pair: tuple[Summary, Summary], scale: Scale) -> None:
    a, b = pair
    up = bayesian_effect(a, b, scale=scale)
    down = bayesian_effect(a, b, scale=scale, lower_is_better=True)
    assert up.chance_to_win + up.chance_to_lose == pytest.approx(1.0, abs=1e-12)
    assert down.chance_to_win == pytest.approx(up.chance_to_lose, abs=1e-12)
    assert down.risk == pytest.approx((up.risk_treatment, up.risk_control), abs=1e-12)
    assert up.risk_control >= 0 and up.risk_treatment >= 0
    # E[max(δ, 0)] − E[max(−δ, 0)] = E[δ]
    assert up.risk_control - up.risk_treatment == pytest.approx(up.mean, rel=1e-6, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(pair=pairs, k=st.integers(2, 50), scale=st.sampled_from(list(Scale)))
def test_more_samples_narrow_the_interval(pair: tuple[Summary, Summary], k: int, scale: Scale) -> None:
    def scaled(s: Summary) -> Summary:
        if isinstance(s, ProportionSummary):
            return ProportionSummary(s.n * k, s.conversions * k)
        return MeanSummary(s.n * k, s.sum * k, s.sum_squares * k)

    a, b = pair
    small = fixed_horizon_effect(a, b, scale=scale)
    large = fixed_horizon_effect(scaled(a), scaled(b), scale=scale)
    assert large.estimate == pytest.approx(small.estimate, rel=1e-9, abs=1e-12)
    assert large.ci[1] - large.ci[0] < small.ci[1] - small.ci[0]


@settings(max_examples=150, deadline=None)
@given(
    pair=st.one_of(proportion_pairs(min_n=30), mean_pairs(min_n=30)),
    alpha=alphas,
    tuning=st.floats(100, 1e6),
    scale=st.sampled_from(list(Scale)),
)
def test_sequential_interval_contains_the_fixed_horizon_interval(
    pair: tuple[Summary, Summary], alpha: float, tuning: float, scale: Scale
) -> None:
    # Holds for any look since sqrt(−2 ln α) ≥ z_{1−α/2}; with ≥ 30 units per arm t_{1−α/2, ν} stays below it too.
    a, b = pair
    fixed = fixed_horizon_effect(a, b, scale=scale, alpha=alpha)
    seq = sequential_effect(a, b, scale=scale, alpha=alpha, tuning=tuning)
    assert seq.ci[0] <= fixed.ci[0] and fixed.ci[1] <= seq.ci[1]
    # The always-valid p-value is dual to its interval, so a sequential rejection implies a fixed-horizon one.
    # (Far beyond α, a heavy-tailed t p-value may still lie above the sequential one: only this order is implied.)
    if seq.p_value < alpha * (1 - 1e-9):
        assert fixed.p_value < alpha


@settings(max_examples=100, deadline=None)
@given(observed=st.lists(st.integers(0, 100_000), min_size=2, max_size=5), data=st.data())
def test_srm_p_value_is_a_probability_and_matches_scipy(observed: list[int], data: st.DataObject) -> None:
    weights = data.draw(st.lists(st.floats(0.05, 10), min_size=len(observed), max_size=len(observed)))
    r = srm_test(observed, weights)
    assert 0.0 <= r.p_value <= 1.0
    assert sum(r.expected) == pytest.approx(sum(observed))
    if sum(observed) == 0:
        assert r.p_value == 1.0
    else:
        ref = stats.chisquare(observed, f_exp=r.expected)  # Pearson's χ², k − 1 degrees of freedom
        assert r.chi_square == pytest.approx(ref.statistic, rel=1e-9)
        assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)
