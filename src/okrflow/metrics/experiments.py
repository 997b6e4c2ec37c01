"""Experiment statistics for pilots: effects, intervals, p-values, Bayesian chance to win, SRM, power, peeking.

Pure functions over small frozen dataclasses of summary statistics, after GrowthBook's open-source stats engine
(``gbstats``, https://docs.growthbook.io/statistics/overview) whose conventions hold here to 1e-6:

- a variant is summarised by ``n`` and the sums of the metric and of its square; daily summaries add up;
- variance of a proportion is the population form ``p(1 − p)``; variance of a mean the sample form
  ``(Σx² − (Σx)²/n) / (n − 1)``;
- the absolute effect is ``μ_t − μ_c`` with variance ``σ_t²/n_t + σ_c²/n_c`` (Welch); the relative effect
  (lift) is ``(μ_t − μ_c)/μ_c`` with the delta-method variance ``σ_t²/(μ_c² n_t) + μ_t² σ_c²/(μ_c⁴ n_c)``
  (Deng, Knoblich & Lu, "Applying the Delta Method in Metric Analytics", KDD 2018);
- confidence intervals and two-sided p-values use Student's t with Welch–Satterthwaite degrees of freedom,
  for both scales (Welch 1947);
- the Bayesian result is a Gaussian model of the effect with an improper flat prior by default, so the posterior
  is ``N(estimate, standard error²)`` on the relative scale (gbstats' default ``difference_type="relative"``),
  chance to win ``P(effect > 0)`` and risk (expected loss) of choosing each arm
  (https://docs.growthbook.io/statistics/details);
- protection against peeking: always-valid (sequential) confidence intervals, gbstats' "sequential testing",
  an asymptotic confidence sequence (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit
  theory and asymptotic confidence sequences", arXiv:2103.06476, eq. 9 and §B) with the normal-mixture boundary
  of Howard et al. (2021) and the always-valid p-value of Johari, Koomen, Pekelis & Walsh ("Peeking at A/B
  tests", KDD 2017). See ``docs/experiments.md``.

Lower-is-better metrics: estimates stay ``treatment − control`` (raw); ``improvement`` is signed so that
positive means better, chance to win is ``P(effect < 0)`` and the two risks swap — exactly as gbstats'
``inverse=True``. Edge cases (too few units, no variance, a zero baseline) raise :class:`NotEnoughDataError`
or leave the relative scale out with a note; nothing returns NaN.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self, TypeVar

from okrflow.domain.errors import InvalidInputError

DEFAULT_ALPHA = 0.05
DEFAULT_SRM_THRESHOLD = 0.001
DEFAULT_SEQUENTIAL_TUNING = 5000.0  # gbstats' default "sequential tuning parameter" N*
_SUM_SQUARES_TOLERANCE = 1e-9


def _stats() -> Any:
    """``scipy.stats``, imported on first use: it takes most of a second to import, and the CLI loads this module
    for every command (the ``stats`` calculator's options) while only the calculations need SciPy."""
    from scipy import stats

    return stats


class NotEnoughDataError(InvalidInputError):
    """The data cannot answer the question yet (too few units, no variance); collect more and retry."""


class Scale(StrEnum):
    ABSOLUTE = "absolute"
    RELATIVE = "relative"


class Method(StrEnum):
    FIXED = "fixed"  # fixed-horizon Welch t: valid at one planned look only
    SEQUENTIAL = "sequential"  # always-valid: may be read at every look


def _check_finite(**values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise InvalidInputError(f"{name} must be a finite number, not {value}")


def _count(name: str, n: object) -> int:
    """``n`` as a plain int (NumPy integers welcome); a whole number ≥ 0 or an error."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise InvalidInputError(f"{name} must be a whole number ≥ 0, not {n!r}")
    return int(n)


@dataclass(frozen=True)
class ProportionSummary:
    """A conversion metric for one variant: ``n`` units, ``conversions`` of them converted (gbstats
    ``ProportionStatistic``). Variance is the population form ``p(1 − p)``."""

    n: int
    conversions: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _count("n", self.n))
        object.__setattr__(self, "conversions", _count("conversions", self.conversions))
        if self.conversions > self.n:
            raise InvalidInputError(f"conversions ({self.conversions}) cannot exceed n ({self.n})")

    @property
    def sum(self) -> float:
        return float(self.conversions)

    @property
    def sum_squares(self) -> float:
        return float(self.conversions)  # x ∈ {0, 1}: x² = x

    @property
    def mean(self) -> float:
        return self.conversions / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        p = self.mean
        return p * (1.0 - p)

    def __add__(self, other: ProportionSummary) -> ProportionSummary:
        if not isinstance(other, ProportionSummary):
            return NotImplemented
        return ProportionSummary(self.n + other.n, self.conversions + other.conversions)


@dataclass(frozen=True)
class MeanSummary:
    """A mean metric for one variant: ``n`` units, ``sum`` Σx and ``sum_squares`` Σx² (gbstats
    ``SampleMeanStatistic``). Variance is the sample form with ``n − 1``."""

    n: int
    sum: float
    sum_squares: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _count("n", self.n))
        _check_finite(sum=self.sum, sum_squares=self.sum_squares)
        object.__setattr__(self, "sum", float(self.sum))
        object.__setattr__(self, "sum_squares", float(self.sum_squares))
        if self.sum_squares < 0:
            raise InvalidInputError("sum of squares cannot be negative")
        if self.n == 0 and (self.sum != 0 or self.sum_squares != 0):
            raise InvalidInputError("a variant with n = 0 must have sum = 0 and sum of squares = 0")
        # Cauchy–Schwarz: Σx² ≥ (Σx)²/n; a violation means the columns were swapped or mis-aggregated.
        if self.n and self.sum_squares < self.sum**2 / self.n * (1 - _SUM_SQUARES_TOLERANCE) - _SUM_SQUARES_TOLERANCE:
            raise InvalidInputError(
                f"sum of squares ({self.sum_squares}) is below sum²/n ({self.sum**2 / self.n}): "
                "check that the columns are n, sum, sum of squares"
            )

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n <= 1:
            return 0.0
        return max((self.sum_squares - self.sum**2 / self.n) / (self.n - 1), 0.0)

    def __add__(self, other: MeanSummary) -> MeanSummary:
        if not isinstance(other, MeanSummary):
            return NotImplemented
        return MeanSummary(self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares)


Summary = ProportionSummary | MeanSummary
S = TypeVar("S", ProportionSummary, MeanSummary)


def aggregate(days: Iterable[S]) -> S:
    """The summary of a whole period: daily summaries of one variant add up field by field."""
    items = list(days)
    if not items:
        raise InvalidInputError("no daily summaries to aggregate")
    total = items[0]
    for day in items[1:]:
        total = total + day
    return total


def cumulative(days: Iterable[S]) -> list[S]:
    """Running totals after each day (what a sequential look at day k sees)."""
    out: list[S] = []
    for day in days:
        out.append(day if not out else out[-1] + day)
    return out


@dataclass(frozen=True)
class Effect:
    """Treatment vs control on one scale. ``estimate`` and ``ci`` are raw (treatment − control, or that over the
    control mean); ``improvement``/``improvement_ci`` are signed so positive is better for the metric."""

    scale: Scale
    method: Method
    estimate: float
    ci: tuple[float, float]
    p_value: float
    std_error: float
    dof: float
    alpha: float
    lower_is_better: bool = False

    @property
    def improvement(self) -> float:
        return -self.estimate if self.lower_is_better else self.estimate

    @property
    def improvement_ci(self) -> tuple[float, float]:
        low, high = self.ci
        return (-high, -low) if self.lower_is_better else (low, high)

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


@dataclass(frozen=True)
class BayesianEffect:
    """Posterior of the effect ``N(mean, std²)`` on ``scale`` and what it means for the decision.

    ``risk_control``/``risk_treatment``: expected loss (on ``scale``) of shipping control/treatment if the other
    is in fact better — gbstats' ``risk``. ``credible_interval`` is the central 1 − α posterior interval.
    """

    scale: Scale
    mean: float
    std: float
    chance_to_win: float
    risk_control: float
    risk_treatment: float
    credible_interval: tuple[float, float]
    lower_is_better: bool = False

    @property
    def chance_to_lose(self) -> float:
        return 1.0 - self.chance_to_win

    @property
    def risk(self) -> tuple[float, float]:
        return (self.risk_control, self.risk_treatment)


@dataclass(frozen=True)
class GaussianPrior:
    """Prior on the effect (on the scale of the analysis). ``proper=False`` (default) is the improper flat prior,
    under which the posterior equals the likelihood (gbstats ``GaussianPrior``)."""

    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False

    def __post_init__(self) -> None:
        _check_finite(mean=self.mean, variance=self.variance)
        if self.variance <= 0:
            raise InvalidInputError("the prior variance must be positive")


@dataclass(frozen=True)
class SrmResult:
    """Sample-ratio-mismatch chi-square test: observed units vs the planned split."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi_square: float
    dof: int
    p_value: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < self.threshold


@dataclass(frozen=True)
class Comparison:
    """Everything about one metric, treatment vs control. ``relative`` is ``None`` (with a note) when the control
    mean is 0; then the Bayesian result falls back to the absolute scale."""

    control: Summary
    treatment: Summary
    absolute: Effect
    relative: Effect | None
    bayesian: BayesianEffect
    srm: SrmResult
    lower_is_better: bool
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def chance_to_win(self) -> float:
        return self.bayesian.chance_to_win

    @property
    def risk(self) -> tuple[float, float]:
        return self.bayesian.risk


# --- building blocks -------------------------------------------------------------------------------------------


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise InvalidInputError(f"alpha must lie strictly between 0 and 1, not {alpha}")


def _check_pair(control: Summary, treatment: Summary) -> None:
    if type(control) is not type(treatment):
        raise InvalidInputError("control and treatment must be the same kind of metric (both proportion or mean)")
    for name, s in (("control", control), ("treatment", treatment)):
        if s.n < 2:
            raise NotEnoughDataError(f"{name} has {s.n} unit(s); each variant needs at least 2 to estimate a variance")
    if control.variance <= 0 and treatment.variance <= 0:
        raise NotEnoughDataError(
            "neither variant varies (e.g. zero conversions in both, or every value equal): "
            "there is no variance to test a difference against yet"
        )


def point_estimate(control: Summary, treatment: Summary, scale: Scale) -> float:
    """``μ_t − μ_c`` (absolute) or ``(μ_t − μ_c)/μ_c`` (relative lift)."""
    diff = treatment.mean - control.mean
    if scale is Scale.RELATIVE:
        if control.mean == 0:
            raise NotEnoughDataError("the control mean is 0: a relative lift is undefined")
        return diff / control.mean
    return diff


def effect_variance(control: Summary, treatment: Summary, scale: Scale) -> float:
    """Variance of the effect estimate: Welch ``σ_t²/n_t + σ_c²/n_c``, or for the lift the delta method
    ``σ_t²/(μ_c² n_t) + μ_t² σ_c²/(μ_c⁴ n_c)`` (Deng et al. 2018; gbstats ``frequentist_variance``)."""
    if scale is Scale.RELATIVE:
        mc, mt = control.mean, treatment.mean
        if mc == 0:
            raise NotEnoughDataError("the control mean is 0: a relative lift is undefined")
        return treatment.variance / (mc**2 * treatment.n) + control.variance * mt**2 / (mc**4 * control.n)
    return treatment.variance / treatment.n + control.variance / control.n


def welch_dof(control: Summary, treatment: Summary) -> float:
    """Welch–Satterthwaite degrees of freedom ``(v_t + v_c)² / (v_t²/(n_t − 1) + v_c²/(n_c − 1))``, v = σ²/n."""
    vt = treatment.variance / treatment.n
    vc = control.variance / control.n
    return (vt + vc) ** 2 / (vt**2 / (treatment.n - 1) + vc**2 / (control.n - 1))


def _effect_inputs(control: Summary, treatment: Summary, scale: Scale) -> tuple[float, float]:
    _check_pair(control, treatment)
    estimate = point_estimate(control, treatment, scale)
    variance = effect_variance(control, treatment, scale)
    if variance <= 0:  # relative scale with a varying control but a zero treatment mean
        raise NotEnoughDataError(f"the {scale} effect has no variance (the treatment mean is 0 and never varies)")
    return estimate, variance


def fixed_horizon_effect(
    control: Summary,
    treatment: Summary,
    *,
    scale: Scale = Scale.ABSOLUTE,
    alpha: float = DEFAULT_ALPHA,
    lower_is_better: bool = False,
) -> Effect:
    """Welch's unequal-variance t-test (gbstats ``TwoSidedTTest``): estimate ± t_{1−α/2, ν}·se and the two-sided
    p-value ``2·P(T_ν > |estimate/se|)``. Valid at a single, pre-planned look."""
    _check_alpha(alpha)
    estimate, variance = _effect_inputs(control, treatment, scale)
    se = math.sqrt(variance)
    dof = welch_dof(control, treatment)
    half = float(_stats().t.ppf(1 - alpha / 2, dof)) * se
    p_value = float(2 * _stats().t.sf(abs(estimate) / se, dof))
    return Effect(
        scale, Method.FIXED, estimate, (estimate - half, estimate + half), min(p_value, 1.0), se, dof, alpha,
        lower_is_better,
    )  # fmt: skip


def sequential_rho(alpha: float, tuning: float = DEFAULT_SEQUENTIAL_TUNING) -> float:
    """Mixture width ρ that makes the confidence sequence tightest at ``tuning`` total units
    (Waudby-Smith et al., arXiv:2103.06476 eq. 161; gbstats ``SequentialTwoSidedTTest.rho``)."""
    _check_alpha(alpha)
    if not tuning > 0:
        raise InvalidInputError("the sequential tuning parameter (expected total units) must be positive")
    return math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)


def sequential_effect(
    control: Summary,
    treatment: Summary,
    *,
    scale: Scale = Scale.ABSOLUTE,
    alpha: float = DEFAULT_ALPHA,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    lower_is_better: bool = False,
) -> Effect:
    """Always-valid interval and p-value: may be recomputed after every day without inflating the error rate.

    With N = n_c + n_t, s² = N·Var(estimate) and ρ from :func:`sequential_rho`, the half-width is
    ``s·sqrt(2(Nρ² + 1)·ln(sqrt(Nρ² + 1)/α) / (Nρ)²)`` (Waudby-Smith et al. eq. 9) and the p-value is
    ``min(1, 1/e)`` with the mixture e-value ``e = exp(ρ²·N·z² / (2(Nρ² + 1))) / sqrt(Nρ² + 1)``, z the
    t-statistic (eq. 155; Johari et al. 2017). The interval always contains the fixed-horizon normal interval.
    """
    rho = sequential_rho(alpha, tuning)
    estimate, variance = _effect_inputs(control, treatment, scale)
    n_total = control.n + treatment.n
    s2 = variance * n_total
    nr2p1 = n_total * rho**2 + 1
    half = math.sqrt(s2) * math.sqrt(2 * nr2p1 * math.log(math.sqrt(nr2p1) / alpha) / (n_total * rho) ** 2)
    z2 = estimate**2 / variance
    log_e = rho**2 * n_total * z2 / (2 * nr2p1) - 0.5 * math.log(nr2p1)
    p_value = math.exp(-log_e) if log_e > 0 else 1.0
    return Effect(
        scale, Method.SEQUENTIAL, estimate, (estimate - half, estimate + half), p_value, math.sqrt(variance),
        welch_dof(control, treatment), alpha, lower_is_better,
    )  # fmt: skip


def _truncated_normal_mean(mu: float, sigma: float, lower: float, upper: float) -> float:
    a, b = (lower - mu) / sigma, (upper - mu) / sigma
    return float(_stats().truncnorm.mean(a, b, loc=mu, scale=sigma))


def bayesian_effect(
    control: Summary,
    treatment: Summary,
    *,
    scale: Scale = Scale.RELATIVE,
    alpha: float = DEFAULT_ALPHA,
    lower_is_better: bool = False,
    prior: GaussianPrior | None = None,
) -> BayesianEffect:
    """Gaussian effect model (gbstats ``EffectBayesianABTest``): the likelihood of the effect is
    ``N(estimate, Var)`` on ``scale``; with a proper prior ``N(m, τ²)`` the posterior precision is
    ``1/Var + 1/τ²`` and its mean the precision-weighted average; with the default improper flat prior the
    posterior is the likelihood. The prior is given on ``scale``.

    Chance to win ``P(δ > 0)`` (``P(δ < 0)`` when lower is better). Risk of control ``E[max(δ, 0)]``, of
    treatment ``E[max(−δ, 0)]`` (swapped when lower is better), each ``P(side)·E[δ | side]`` of the normal.
    """
    _check_alpha(alpha)
    prior = prior or GaussianPrior()
    estimate, variance = _effect_inputs(control, treatment, scale)
    if prior.proper:
        precision = 1 / variance + 1 / prior.variance
        mean = (estimate / variance + prior.mean / prior.variance) / precision
    else:
        precision = 1 / variance
        mean = estimate
    std = math.sqrt(1 / precision)
    p_positive = float(_stats().norm.sf(0.0, loc=mean, scale=std))
    p_negative = float(_stats().norm.cdf(0.0, loc=mean, scale=std))
    # Expected loss; a side with (numerically) zero mass has zero loss, avoiding 0·NaN in the truncated mean.
    loss_control = p_positive * _truncated_normal_mean(mean, std, 0.0, math.inf) if p_positive > 0 else 0.0
    loss_treatment = -p_negative * _truncated_normal_mean(mean, std, -math.inf, 0.0) if p_negative > 0 else 0.0
    if lower_is_better:
        chance, loss_control, loss_treatment = p_negative, loss_treatment, loss_control
    else:
        chance = p_positive
    low, high = (float(x) for x in _stats().norm.ppf([alpha / 2, 1 - alpha / 2], loc=mean, scale=std))
    return BayesianEffect(scale, mean, std, chance, loss_control, loss_treatment, (low, high), lower_is_better)


def srm_test(
    observed: Sequence[int], weights: Sequence[float], *, threshold: float = DEFAULT_SRM_THRESHOLD
) -> SrmResult:
    """Pearson chi-square goodness-of-fit of the units per variant against the planned split (``weights``, any
    positive scale): ``χ² = Σ (o − e)²/e`` with ``e = w/Σw · Σo``, p-value from χ² with k − 1 degrees of freedom
    (gbstats ``check_srm``; Fabijan et al., "Diagnosing Sample Ratio Mismatch", KDD 2019). A mismatch is
    flagged below ``threshold`` (0.001 by default, as GrowthBook). No units yet: p = 1."""
    if len(observed) != len(weights):
        raise InvalidInputError("give one weight per variant")
    if len(observed) < 2:
        raise InvalidInputError("an SRM test needs at least two variants")
    observed = [_count("observed units", o) for o in observed]
    for w in weights:
        _check_finite(weight=w)
        if w <= 0:
            raise InvalidInputError(f"weights must be positive, not {w}")
    if not 0 < threshold < 1:
        raise InvalidInputError("the SRM threshold must lie strictly between 0 and 1")
    total = sum(observed)
    weight_total = float(sum(weights))
    expected = tuple(w / weight_total * total for w in weights)
    if total == 0:
        return SrmResult(tuple(observed), expected, 0.0, len(observed) - 1, 1.0, threshold)
    chi_square = float(sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True)))
    p_value = float(_stats().chi2.sf(chi_square, len(observed) - 1))
    return SrmResult(tuple(observed), expected, chi_square, len(observed) - 1, p_value, threshold)


def compare(
    control: Summary,
    treatment: Summary,
    *,
    alpha: float = DEFAULT_ALPHA,
    lower_is_better: bool = False,
    method: Method = Method.FIXED,
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    prior: GaussianPrior | None = None,
    split: tuple[float, float] = (1.0, 1.0),
    srm_threshold: float = DEFAULT_SRM_THRESHOLD,
) -> Comparison:
    """The full readout of one metric: absolute and relative effects (fixed-horizon Welch, or always-valid when
    ``method`` is sequential), the Bayesian chance to win and risk on the relative scale (absolute when the
    control mean is 0), and the SRM test of the units against the planned ``split`` (control, treatment)."""
    notes: list[str] = []

    def effect(scale: Scale) -> Effect:
        if method is Method.SEQUENTIAL:
            return sequential_effect(
                control, treatment, scale=scale, alpha=alpha, tuning=sequential_tuning, lower_is_better=lower_is_better
            )
        return fixed_horizon_effect(control, treatment, scale=scale, alpha=alpha, lower_is_better=lower_is_better)

    absolute = effect(Scale.ABSOLUTE)
    relative: Effect | None = None
    bayes_scale = Scale.RELATIVE
    try:
        relative = effect(Scale.RELATIVE)
    except NotEnoughDataError as exc:  # a zero control mean, or a lift without variance (0 % vs some %)
        notes.append(f"{exc.message}; only the absolute effect is reported")
        bayes_scale = Scale.ABSOLUTE
    bayesian = bayesian_effect(
        control, treatment, scale=bayes_scale, alpha=alpha, lower_is_better=lower_is_better, prior=prior
    )
    srm = srm_test((control.n, treatment.n), split, threshold=srm_threshold)
    if srm.mismatch:
        notes.append(
            f"sample ratio mismatch (p = {srm.p_value:.2g} < {srm_threshold}): the split differs from the plan, "
            "so the results are not trustworthy"
        )
    return Comparison(control, treatment, absolute, relative, bayesian, srm, lower_is_better, tuple(notes))


# --- power analysis ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerPlan:
    """What a pilot plans for: the control's mean and variance per unit, α (two-sided) and the power 1 − β.

    ``proportion=True`` (use :meth:`for_proportion`) makes the treatment variance ``p_t(1 − p_t)`` at the
    shifted rate; for means both arms are assumed to share ``baseline_variance``.
    """

    baseline_mean: float
    baseline_variance: float
    alpha: float = DEFAULT_ALPHA
    power: float = 0.8
    proportion: bool = False

    def __post_init__(self) -> None:
        _check_finite(baseline_mean=self.baseline_mean, baseline_variance=self.baseline_variance)
        _check_alpha(self.alpha)
        if not 0 < self.power < 1:
            raise InvalidInputError(f"power must lie strictly between 0 and 1, not {self.power}")
        if self.baseline_variance <= 0:
            raise InvalidInputError("the baseline variance must be positive (a metric that never varies)")
        if self.proportion and not 0 < self.baseline_mean < 1:
            raise InvalidInputError("a baseline conversion rate must lie strictly between 0 and 1")

    @classmethod
    def for_proportion(cls, rate: float, *, alpha: float = DEFAULT_ALPHA, power: float = 0.8) -> Self:
        if not 0 < rate < 1:
            raise InvalidInputError("a baseline conversion rate must lie strictly between 0 and 1")
        return cls(rate, rate * (1 - rate), alpha, power, proportion=True)

    @classmethod
    def for_mean(cls, mean: float, std: float, *, alpha: float = DEFAULT_ALPHA, power: float = 0.8) -> Self:
        return cls(mean, std**2, alpha, power, proportion=False)

    @property
    def z_alpha(self) -> float:
        return float(_stats().norm.ppf(1 - self.alpha / 2))

    @property
    def z_power(self) -> float:
        return float(_stats().norm.ppf(self.power))


@dataclass(frozen=True)
class MinimumDetectableEffect:
    absolute: float
    relative: float | None  # None when the baseline mean is 0


def _absolute_effect(plan: PowerPlan, effect: float, relative: bool) -> float:
    _check_finite(effect=effect)
    if relative:
        if plan.baseline_mean == 0:
            raise InvalidInputError("a relative effect needs a baseline mean other than 0")
        delta = effect * plan.baseline_mean
    else:
        delta = effect
    if delta == 0:
        raise InvalidInputError("the effect to detect must not be 0")
    if plan.proportion and not 0 < plan.baseline_mean + delta < 1:
        raise InvalidInputError("the treatment conversion rate (baseline + effect) must lie strictly between 0 and 1")
    return delta


def _treatment_variance(plan: PowerPlan, delta: float) -> float:
    if plan.proportion:
        p = plan.baseline_mean + delta
        return p * (1 - p)
    return plan.baseline_variance


def required_sample_size(plan: PowerPlan, effect: float, *, relative: bool = True) -> int:
    """Units per variant (equal split) for a two-sided test at ``plan.alpha`` to reach ``plan.power`` against
    ``effect`` (relative lift by default, else absolute): ``n = (z_{1−α/2} + z_{1−β})² (σ_c² + σ_t²) / δ²``,
    rounded up — the unpooled normal approximation (e.g. Chow, Shao & Wang, *Sample Size Calculations in
    Clinical Research*, §4.2; van Belle, *Statistical Rules of Thumb*, §2.3). The far tail is ignored, as usual.
    Example: p = 0.50 → 0.55, α = 0.05, power 0.8 gives 1 562 per variant (1 561.93 rounded up)."""
    delta = _absolute_effect(plan, effect, relative)
    variance_sum = plan.baseline_variance + _treatment_variance(plan, delta)
    n = (plan.z_alpha + plan.z_power) ** 2 * variance_sum / delta**2
    return max(2, math.ceil(n - 1e-9))


def achieved_power(plan: PowerPlan, effect: float, n_per_variant: int, *, relative: bool = True) -> float:
    """Power of the two-sided z-test with ``n_per_variant`` units per arm, both tails counted:
    ``Φ(|δ|/se − z_{1−α/2}) + Φ(−|δ|/se − z_{1−α/2})``, se = sqrt((σ_c² + σ_t²)/n)."""
    if n_per_variant < 1:
        raise InvalidInputError("the sample size per variant must be at least 1")
    delta = _absolute_effect(plan, effect, relative)
    se = math.sqrt((plan.baseline_variance + _treatment_variance(plan, delta)) / n_per_variant)
    shift = abs(delta) / se
    return float(_stats().norm.cdf(shift - plan.z_alpha) + _stats().norm.cdf(-shift - plan.z_alpha))


def minimum_detectable_effect(
    plan: PowerPlan, n_per_variant: int, *, lower_is_better: bool = False
) -> MinimumDetectableEffect:
    """The smallest effect the plan detects with ``n_per_variant`` units per arm — the inverse of
    :func:`required_sample_size`. Means: ``δ = (z_{1−α/2} + z_{1−β})·σ·sqrt(2/n)``. Proportions: the treatment
    variance moves with δ, so δ solves ``δ² = k(2p(1 − p) + δ(1 − 2p) − δ²)``, k = (z_{1−α/2} + z_{1−β})²/n, a
    quadratic; the root in the direction of improvement (a decrease when lower is better) is returned."""
    if n_per_variant < 2:
        raise InvalidInputError("the sample size per variant must be at least 2")
    k = (plan.z_alpha + plan.z_power) ** 2 / n_per_variant
    if plan.proportion:
        p = plan.baseline_mean
        a, b, c = 1 + k, -k * (1 - 2 * p), -2 * k * p * (1 - p)
        root = math.sqrt(b * b - 4 * a * c)
        delta = (-b - root) / (2 * a) if lower_is_better else (-b + root) / (2 * a)
    else:
        delta = math.sqrt(k * 2 * plan.baseline_variance) * (-1 if lower_is_better else 1)
    relative = delta / plan.baseline_mean if plan.baseline_mean != 0 else None
    return MinimumDetectableEffect(delta, relative)


# --- power with any planned split: units over the whole pilot ------------------------------------------------


def _shares(shares: tuple[float, float]) -> tuple[float, float]:
    """(control, treatment) as fractions of all the pilot's units; below 1 together when there are more arms."""
    if len(shares) != 2:
        raise InvalidInputError("shares are (control, treatment) fractions of all units")
    control, treatment = (float(s) for s in shares)
    _check_finite(control_share=control, treatment_share=treatment)
    if not (0 < control <= 1 and 0 < treatment <= 1 and control + treatment <= 1 + 1e-9):
        raise InvalidInputError(
            f"the control's and the treatment's shares of all units lie in (0, 1] and add up to at most 1, "
            f"not {control:g} and {treatment:g}"
        )
    return control, treatment


def _units(units: object, least: int) -> int:
    if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units < least:
        raise InvalidInputError(f"the number of units is a whole number ≥ {least}, not {units!r}")
    return int(units)


def critical_value(
    units: int,
    *,
    alpha: float = DEFAULT_ALPHA,
    method: Method = Method.FIXED,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> float:
    """How many standard errors the effect must lie from 0 to be significant with ``units`` units over the pilot:
    ``z_{1−α/2}`` for the fixed-horizon test; for the always-valid interval of :func:`sequential_effect` (whose
    half-width is this times the standard error) ``sqrt(2(Nρ² + 1)·ln(sqrt(Nρ² + 1)/α) / (Nρ²))``, larger."""
    _check_alpha(alpha)
    if method is Method.FIXED:
        return float(_stats().norm.ppf(1 - alpha / 2))
    n = _units(units, 1)
    nr2 = n * sequential_rho(alpha, tuning) ** 2
    return math.sqrt(2 * (nr2 + 1) * math.log(math.sqrt(nr2 + 1) / alpha) / nr2)


def _standard_error(plan: PowerPlan, delta: float, units: int, w_c: float, w_t: float) -> float:
    return math.sqrt(plan.baseline_variance / (units * w_c) + _treatment_variance(plan, delta) / (units * w_t))


def power_with_units(
    plan: PowerPlan,
    effect: float,
    units: int,
    *,
    relative: bool = True,
    shares: tuple[float, float] = (0.5, 0.5),
    method: Method = Method.FIXED,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> float:
    """Power of the two-sided test when the pilot has ``units`` units split by ``shares``, both tails counted
    (as :func:`achieved_power`): ``Φ(|δ|/se − c) + Φ(−|δ|/se − c)``, se = sqrt(σ_c²/(N w_c) + σ_t²/(N w_t)) and c
    the :func:`critical_value` of ``method``. For the sequential method this is the chance that the interval at
    the last look excludes 0 — a lower bound of the chance to have seen it at some look."""
    w_c, w_t = _shares(shares)
    n = _units(units, 1)
    delta = _absolute_effect(plan, effect, relative)
    shift = abs(delta) / _standard_error(plan, delta, n, w_c, w_t)
    c = critical_value(n, alpha=plan.alpha, method=method, tuning=tuning)
    return float(_stats().norm.cdf(shift - c) + _stats().norm.cdf(-shift - c))


def required_units(
    plan: PowerPlan,
    effect: float,
    *,
    relative: bool = True,
    shares: tuple[float, float] = (0.5, 0.5),
    method: Method = Method.FIXED,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> int:
    """Units over the whole pilot for the two-sided test of one treatment against the control to reach
    ``plan.power`` against ``effect``, when the control receives ``shares[0]`` and the treatment ``shares[1]`` of
    all units. Fixed horizon: ``N = (z_{1−α/2} + z_{1−β})² (σ_c²/w_c + σ_t²/w_t) / δ²``, rounded up —
    :func:`required_sample_size` for any split (with ``w_c = w_t = ½`` twice that, up to rounding); unequal
    splits need more units (90/10: 2.8 times the units of 50/50 for a mean metric). Sequential: the smallest N
    whose always-valid interval reaches the power (``z_{1−α/2}`` replaced by :func:`critical_value`, which grows
    slowly with N; found by bisection), always more than the fixed horizon needs."""
    w_c, w_t = _shares(shares)
    delta = _absolute_effect(plan, effect, relative)
    variance = plan.baseline_variance / w_c + _treatment_variance(plan, delta) / w_t
    least = math.ceil(2 / min(w_c, w_t))  # two units in the smaller arm
    fixed = max(least, math.ceil((plan.z_alpha + plan.z_power) ** 2 * variance / delta**2 - 1e-9))
    if method is Method.FIXED:
        return fixed

    def enough(n: int) -> bool:
        c = critical_value(n, alpha=plan.alpha, method=method, tuning=tuning)
        return abs(delta) / math.sqrt(variance / n) - c >= plan.z_power

    low, high = fixed - 1, fixed
    while not enough(high):
        low, high = high, high * 2
        if high > 10**13:
            raise InvalidInputError("no feasible sample size reaches this power with always-valid intervals")
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def detectable_effect_with_units(
    plan: PowerPlan,
    units: int,
    *,
    shares: tuple[float, float] = (0.5, 0.5),
    lower_is_better: bool = False,
    method: Method = Method.FIXED,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> MinimumDetectableEffect:
    """The smallest effect a pilot of ``units`` units split by ``shares`` detects at ``plan.power`` — the inverse
    of :func:`required_units`. With c the :func:`critical_value` and k = (c + z_{1−β})²/N — means:
    ``δ = sqrt(k σ² (1/w_c + 1/w_t))``; proportions (the treatment variance moves with δ) δ solves
    ``δ²(1 + k/w_t) − δ k(1 − 2p)/w_t − k(p(1 − p)/w_c + p(1 − p)/w_t) = 0``, the root in the direction of
    improvement. Raises :class:`NotEnoughDataError` when no rate within (0, 1) is detectable with so few units."""
    w_c, w_t = _shares(shares)
    n = _units(units, 2)
    c = critical_value(n, alpha=plan.alpha, method=method, tuning=tuning)
    k = (c + plan.z_power) ** 2 / n
    if plan.proportion:
        p = plan.baseline_mean
        var = p * (1 - p)
        a, b, c2 = 1 + k / w_t, -k * (1 - 2 * p) / w_t, -k * (var / w_c + var / w_t)
        root = math.sqrt(b * b - 4 * a * c2)
        delta = (-b - root) / (2 * a) if lower_is_better else (-b + root) / (2 * a)
        if not 0 < p + delta < 1:
            raise NotEnoughDataError(
                f"with {n} units no conversion rate between 0 and 1 is detectable from a baseline of {p:g}"
            )
    else:
        delta = math.sqrt(k * plan.baseline_variance * (1 / w_c + 1 / w_t)) * (-1 if lower_is_better else 1)
    relative = delta / plan.baseline_mean if plan.baseline_mean != 0 else None
    return MinimumDetectableEffect(delta, relative)
