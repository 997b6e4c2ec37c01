"""Pilots: the one-page record, its lifecycle, the 90-day view and exit rules that recommend a decision (pure rules).

A pilot tests a hypothesis ("cut step drop-off by 15 % in four weeks") on a primary metric within a timebox, with
guardrail metrics that may regress only as far as accepted, and a staged rollout. Exit rules are written before
results are seen (editable only in draft) and evaluated by :func:`evaluate` against plain results — numbers the
statistics engine (``okrflow.metrics.experiments``) produced — into a :class:`Recommendation`.

Rule precedence (the first kind that fires wins; see docs/experiments.md):

1. **pause** — a sample-ratio mismatch means the data is untrustworthy, so nothing else may be read from it;
2. **rollback** — a guardrail worse than its accepted regression (harm beats benefit);
3. **scale** — the primary metric improved by at least the planned lift with the required evidence and no
   guardrail breached;
4. **extend**, then **stop** — the timebox is over: extend if a rule allows it (e.g. the sample is still short of
   the plan), otherwise stop (by default only without a clear signal);
5. **continue** — nothing fired.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any

from okrflow.domain.errors import InvalidInputError
from okrflow.domain.okr import Direction

# --- lifecycle -------------------------------------------------------------------------------------------------


class PilotStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    DECIDED = "decided"
    CLOSED = "closed"


ALLOWED_TRANSITIONS: Mapping[PilotStatus, frozenset[PilotStatus]] = {
    PilotStatus.DRAFT: frozenset({PilotStatus.RUNNING, PilotStatus.CLOSED}),  # closed: withdrawn before it ran
    PilotStatus.RUNNING: frozenset({PilotStatus.DECIDED}),
    PilotStatus.DECIDED: frozenset({PilotStatus.CLOSED}),
    PilotStatus.CLOSED: frozenset(),
}


def can_transition(current: PilotStatus, target: PilotStatus) -> bool:
    """draft → running → decided → closed; a draft may also be closed (withdrawn). Nothing goes back."""
    return target in ALLOWED_TRANSITIONS[current]


def check_transition(current: PilotStatus, target: PilotStatus) -> None:
    if not can_transition(current, target):
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "nothing (closed is final)"
        raise InvalidInputError(
            f"a pilot cannot go from {current} to {target}; from {current} it may go to {allowed}",
            current=str(current),
            target=str(target),
        )


def can_edit_exit_rules(status: PilotStatus) -> bool:
    """Exit rules are written before results are seen: editable in draft only."""
    return status is PilotStatus.DRAFT


# --- the record --------------------------------------------------------------------------------------------------


class EffectKind(StrEnum):
    ABSOLUTE = "absolute"  # in the metric's unit (percentage points for a rate)
    RELATIVE = "relative"  # a share of the control (0.15 = 15 %)


def _require_text(name: str, value: str) -> None:
    if not value.strip():
        raise InvalidInputError(f"the {name} must not be empty")


@dataclass(frozen=True)
class Timebox:
    """Inclusive dates; ``extended_days`` counts extensions granted by an extend decision."""

    start: date
    end: date
    extended_days: int = 0

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidInputError(f"the timebox ends ({self.end}) before it starts ({self.start})")
        if self.extended_days < 0:
            raise InvalidInputError("extended days cannot be negative")

    @property
    def effective_end(self) -> date:
        return self.end + timedelta(days=self.extended_days)

    def is_over(self, today: date) -> bool:
        return today > self.effective_end

    def days_left(self, today: date) -> int:
        """Days left counting today (the last day is 1 left, an ended timebox 0); before the start, all of them."""
        return max(0, (self.effective_end - max(today, self.start)).days + 1)

    def status(self, today: date, *, started: bool = True) -> tuple[str, str]:
        """(text, tone) relative to today — "starts in N days", "N days left" (counting today), "last day",
        "ended N days ago"; for a pilot not started yet (a draft) only whether its planned start is ahead or
        passed. The tone is one of future, on, soon, over. The web and the CLI say the same."""
        if today < self.start:
            return f"starts in {_days((self.start - today).days)}", "future"
        if not started:
            return f"planned start passed {_days((today - self.start).days)} ago", "soon"
        if self.is_over(today):
            return f"ended {_days((today - self.effective_end).days)} ago", "over"
        left = self.days_left(today)
        return ("last day", "soon") if left == 1 else (f"{_days(left)} left", "soon" if left <= 4 else "on")

    def extended(self, days: int) -> Timebox:
        return Timebox(self.start, self.end, self.extended_days + days)


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Hypothesis:
    """The hypothesis as data: ``expected_effect`` is a positive magnitude in ``direction`` on ``effect_kind``."""

    primary_metric: str
    direction: Direction
    expected_effect: float
    effect_kind: EffectKind
    timebox: Timebox
    statement: str = ""

    def __post_init__(self) -> None:
        _require_text("primary metric", self.primary_metric)
        if self.direction not in (Direction.INCREASE, Direction.DECREASE):
            raise InvalidInputError("a pilot's primary metric must increase or decrease")
        if not self.expected_effect > 0:
            raise InvalidInputError("the expected effect is a positive size, its direction is given separately")


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Risk:
    """A risk on the 5 × 5 likelihood × impact matrix; score 1–4 low, 5–9 medium, 10–16 high, 20–25 critical."""

    description: str
    likelihood: int
    impact: int
    mitigation: str = ""

    def __post_init__(self) -> None:
        _require_text("risk description", self.description)
        for name, value in (("likelihood", self.likelihood), ("impact", self.impact)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
                raise InvalidInputError(f"risk {name} is a whole number from 1 to 5, not {value!r}")

    @property
    def score(self) -> int:
        return self.likelihood * self.impact

    @property
    def level(self) -> RiskLevel:
        if self.score >= 20:
            return RiskLevel.CRITICAL
        if self.score >= 10:
            return RiskLevel.HIGH
        if self.score >= 5:
            return RiskLevel.MEDIUM
        return RiskLevel.LOW


@dataclass(frozen=True)
class Guardrail:
    """A metric that must not get worse than ``accepted_regression`` (≥ 0, on ``kind``) in its bad direction."""

    metric: str
    direction: Direction  # the good direction of the metric
    accepted_regression: float = 0.0
    kind: EffectKind = EffectKind.RELATIVE

    def __post_init__(self) -> None:
        _require_text("guardrail metric", self.metric)
        if self.direction not in (Direction.INCREASE, Direction.DECREASE):
            raise InvalidInputError("a guardrail metric must be better when it increases or when it decreases")
        if self.accepted_regression < 0:
            raise InvalidInputError("the accepted regression is a size ≥ 0 (how much worse the guardrail may get)")


@dataclass(frozen=True)
class RolloutStage:
    """One ramp step: ``exposure_percent`` of traffic enters the pilot from ``start``, divided by ``split``."""

    cohort: str
    exposure_percent: float
    start: date
    split: tuple[float, ...] = (50.0, 50.0)  # control, treatment(s)

    def __post_init__(self) -> None:
        _require_text("cohort name", self.cohort)
        if not 0 < self.exposure_percent <= 100:
            raise InvalidInputError(f"exposure is a percentage in (0, 100], not {self.exposure_percent}")
        if len(self.split) < 2 or any(w <= 0 for w in self.split):
            raise InvalidInputError("a split gives a positive weight to the control and each treatment")

    @property
    def split_shares(self) -> tuple[float, ...]:
        total = sum(self.split)
        return tuple(w / total for w in self.split)


def validate_rollout(stages: Sequence[RolloutStage]) -> None:
    """Stages start on strictly later dates, exposure never decreases (ramp up, not down) and every stage keeps
    the same split — changing the split mid-pilot mixes populations and breaks the comparison."""
    for previous, stage in pairwise(stages):
        if stage.start <= previous.start:
            raise InvalidInputError(f"stage {stage.cohort!r} must start after {previous.cohort!r} ({previous.start})")
        if stage.exposure_percent < previous.exposure_percent:
            raise InvalidInputError(
                f"exposure may only ramp up: {stage.cohort!r} has {stage.exposure_percent} % after "
                f"{previous.exposure_percent} %"
            )
        same = len(stage.split) == len(previous.split) and all(
            abs(a - b) < 1e-9 for a, b in zip(stage.split_shares, previous.split_shares, strict=True)
        )
        if not same:
            raise InvalidInputError(f"stage {stage.cohort!r} changes the split; keep it while ramping exposure")


# --- exit rules --------------------------------------------------------------------------------------------------


def _check_probability(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise InvalidInputError(f"{name} must lie strictly between 0 and 1, not {value}")


class BreachTest(StrEnum):
    ESTIMATE = "estimate"  # the point estimate is worse than the accepted regression
    CONFIDENT = "confident"  # the whole confidence interval is worse than it


@dataclass(frozen=True)
class PauseWhen:
    """Pause on a sample-ratio mismatch: SRM p-value below ``srm_p_below``."""

    srm: bool = True
    srm_p_below: float = 0.001

    def __post_init__(self) -> None:
        if not self.srm:
            raise InvalidInputError("PauseWhen needs a condition: srm=True")
        _check_probability("srm_p_below", self.srm_p_below)


@dataclass(frozen=True)
class RollbackWhen:
    """Roll back when a guardrail is worse than its accepted regression (judged by ``breach``), or — optionally —
    when the primary metric got worse with p below ``primary_worse_p_below``."""

    any_guardrail_worse_than_accepted: bool = True
    breach: BreachTest = BreachTest.ESTIMATE
    primary_worse_p_below: float | None = None

    def __post_init__(self) -> None:
        if not self.any_guardrail_worse_than_accepted and self.primary_worse_p_below is None:
            raise InvalidInputError(
                "RollbackWhen needs a condition: any_guardrail_worse_than_accepted or primary_worse_p_below"
            )
        if self.primary_worse_p_below is not None:
            _check_probability("primary_worse_p_below", self.primary_worse_p_below)


@dataclass(frozen=True)
class ScaleWhen:
    """Scale when the primary improvement is at least ``primary_lift_at_least`` (on ``lift_kind``, positive is
    better whatever the direction) with evidence — exactly one of ``p_below`` (frequentist) or
    ``chance_to_win_at_least`` (Bayesian) — and, if ``no_guardrail_breach``, no guardrail breached."""

    primary_lift_at_least: float = 0.0
    p_below: float | None = None
    chance_to_win_at_least: float | None = None
    no_guardrail_breach: bool = True
    lift_kind: EffectKind = EffectKind.RELATIVE
    breach: BreachTest = BreachTest.ESTIMATE

    def __post_init__(self) -> None:
        if (self.p_below is None) == (self.chance_to_win_at_least is None):
            raise InvalidInputError("ScaleWhen needs exactly one kind of evidence: p_below or chance_to_win_at_least")
        if self.p_below is not None:
            _check_probability("p_below", self.p_below)
        if self.chance_to_win_at_least is not None:
            _check_probability("chance_to_win_at_least", self.chance_to_win_at_least)


@dataclass(frozen=True)
class ExtendWhen:
    """When the timebox is over, extend it by ``by_days`` — while the total extension stays within
    ``up_to_days`` and, if ``sample_below_planned``, only while the sample is short of the planned size."""

    by_days: int = 14
    up_to_days: int = 28
    sample_below_planned: bool = True

    def __post_init__(self) -> None:
        if self.by_days < 1:
            raise InvalidInputError("an extension is at least one day")
        if self.up_to_days < self.by_days:
            raise InvalidInputError("up_to_days must allow at least one extension (≥ by_days)")


@dataclass(frozen=True)
class StopWhen:
    """Stop when the timebox is over — by default only without a clear signal, i.e. the primary's p-value is at
    least ``signal_p_below`` (its confidence interval still contains 0)."""

    timebox_over: bool = True
    no_clear_signal: bool = True
    signal_p_below: float = 0.05

    def __post_init__(self) -> None:
        if not self.timebox_over:
            raise InvalidInputError("StopWhen needs a condition: timebox_over=True")
        _check_probability("signal_p_below", self.signal_p_below)


Rule = PauseWhen | RollbackWhen | ScaleWhen | ExtendWhen | StopWhen

RULE_KEYS: Mapping[str, type[Rule]] = {
    "pause_when": PauseWhen,
    "rollback_when": RollbackWhen,
    "scale_when": ScaleWhen,
    "extend_when": ExtendWhen,
    "stop_when": StopWhen,
}
PRECEDENCE: tuple[type[Rule], ...] = (PauseWhen, RollbackWhen, ScaleWhen, ExtendWhen, StopWhen)
DEFAULT_RULES: tuple[Rule, ...] = (PauseWhen(), RollbackWhen(), StopWhen())


def parse_rules(config: Sequence[Mapping[str, Any]]) -> tuple[Rule, ...]:
    """Exit rules from configuration (YAML/JSON): a list of one-key mappings, e.g.
    ``[{"scale_when": {"primary_lift_at_least": 0.05, "p_below": 0.05}}, {"pause_when": {}}]``."""
    rules: list[Rule] = []
    for index, item in enumerate(config):
        if not isinstance(item, Mapping) or len(item) != 1:
            raise InvalidInputError(f"exit rule #{index + 1} must be a mapping with one key: {', '.join(RULE_KEYS)}")
        ((key, params),) = item.items()
        kind = RULE_KEYS.get(key)
        if kind is None:
            raise InvalidInputError(f"unknown exit rule {key!r}; use one of {', '.join(RULE_KEYS)}")
        if params is not None and not isinstance(params, Mapping):
            raise InvalidInputError(f"{key} takes a mapping of settings (e.g. {key}: {{}}), not {params!r}")
        params = dict(params or {})
        annotations = {f.name: str(f.type) for f in fields(kind)}
        for name, value in params.items():
            if name in annotations:
                _check_setting(key, name, annotations[name], value)
        for enum_field, enum_type in (("breach", BreachTest), ("lift_kind", EffectKind)):
            if enum_field in params:
                try:
                    params[enum_field] = enum_type(params[enum_field])
                except ValueError:
                    allowed = ", ".join(e.value for e in enum_type)
                    raise InvalidInputError(f"{key}.{enum_field} is one of {allowed}") from None
        try:
            rules.append(kind(**params))
        except TypeError as exc:
            raise InvalidInputError(f"{key}: {exc}") from None
    return tuple(rules)


_SETTING_KINDS = {"bool": "true or false", "int": "a whole number", "float": "a finite number"}


def _check_setting(key: str, name: str, annotation: str, value: Any) -> None:
    """A rule setting has its field's type — true/false, a whole number, a finite number (None where optional) —
    so a threshold written as text is refused here, not when the rule is evaluated."""
    optional = annotation.endswith("| None")
    base = annotation.removesuffix("| None").strip()
    if base not in _SETTING_KINDS or (value is None and optional):
        return
    if base == "bool":
        ok = isinstance(value, bool)
    elif base == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        allowed = _SETTING_KINDS[base] + (" or null" if optional else "")
        raise InvalidInputError(f"{key}.{name} must be {allowed}, not {value!r}")


def rules_to_config(rules: Iterable[Rule]) -> list[dict[str, dict[str, Any]]]:
    """The inverse of :func:`parse_rules` (enums as their values)."""
    keys = {kind: key for key, kind in RULE_KEYS.items()}
    out: list[dict[str, dict[str, Any]]] = []
    for rule in rules:
        params = {k: (v.value if isinstance(v, StrEnum) else v) for k, v in asdict(rule).items()}
        out.append({keys[type(rule)]: params})
    return out


def describe_rule(rule: Rule) -> str:
    """The rule as written in the configuration, every setting spelled out:
    ``scale_when: primary_lift_at_least=0.05, p_below=0.05, …``."""
    keys = {kind: key for key, kind in RULE_KEYS.items()}
    parts = [f"{f.name}={_setting(value)}" for f in fields(rule) if (value := getattr(rule, f.name)) is not None]
    return f"{keys[type(rule)]}: {', '.join(parts)}" if parts else f"{keys[type(rule)]}: (no settings)"


def _setting(value: Any) -> str:
    if isinstance(value, StrEnum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# --- results and evaluation ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricResult:
    """One metric's readout on one scale, signed so that a positive ``improvement`` is better (the statistics
    engine flips lower-is-better metrics)."""

    metric: str
    kind: EffectKind
    improvement: float
    improvement_ci: tuple[float, float]
    p_value: float
    chance_to_win: float

    def __post_init__(self) -> None:
        low, high = self.improvement_ci
        if low > high:
            raise InvalidInputError(f"{self.metric}: the confidence interval is reversed ({low} > {high})")
        if not 0 <= self.p_value <= 1 or not 0 <= self.chance_to_win <= 1:
            raise InvalidInputError(f"{self.metric}: p-value and chance to win lie in [0, 1]")


@dataclass(frozen=True)
class GuardrailResult:
    guardrail: Guardrail
    result: MetricResult

    def __post_init__(self) -> None:
        if self.result.kind is not self.guardrail.kind:
            raise InvalidInputError(
                f"guardrail {self.guardrail.metric!r} accepts a {self.guardrail.kind} regression; "
                f"give its result on that scale, not {self.result.kind}"
            )

    def breached(self, test: BreachTest = BreachTest.ESTIMATE) -> bool:
        """Worse than accepted: the improvement (or, for ``confident``, its whole CI) is below −accepted."""
        limit = -self.guardrail.accepted_regression
        value = self.result.improvement if test is BreachTest.ESTIMATE else self.result.improvement_ci[1]
        return value < limit


@dataclass(frozen=True)
class PilotResults:
    """What the rules see at one look: the primary metric, the guardrails, the SRM p-value (None: not tested),
    units so far and the planned sample size (both totals over variants), and the timebox."""

    primary: MetricResult
    timebox: Timebox
    guardrails: tuple[GuardrailResult, ...] = ()
    srm_p_value: float | None = None
    sample_size: int | None = None
    planned_sample_size: int | None = None


class Action(StrEnum):
    CONTINUE = "continue"
    PAUSE = "pause"
    ROLLBACK = "rollback"
    SCALE = "scale"
    EXTEND = "extend"
    STOP = "stop"


Evidence = dict[str, float | int | str | bool | None]


@dataclass(frozen=True)
class Recommendation:
    """The recommended decision, the rule that fired (as written) and the numbers behind it."""

    action: Action
    rule: str
    reason: str
    evidence: Evidence = field(default_factory=dict)
    extend_until: date | None = None
    also_fired: tuple[str, ...] = ()  # lower-precedence rules that fired too


def _day(now: date | datetime) -> date:
    return now.date() if isinstance(now, datetime) else now


def _primary_evidence(results: PilotResults) -> Evidence:
    p = results.primary
    return {
        "primary_metric": p.metric,
        "primary_kind": p.kind.value,
        "primary_improvement": p.improvement,
        "primary_ci_low": p.improvement_ci[0],
        "primary_ci_high": p.improvement_ci[1],
        "primary_p_value": p.p_value,
        "primary_chance_to_win": p.chance_to_win,
    }


def _breaches(results: PilotResults, test: BreachTest) -> list[GuardrailResult]:
    return [g for g in results.guardrails if g.breached(test)]


def _guardrail_evidence(breached: Sequence[GuardrailResult]) -> Evidence:
    evidence: Evidence = {"breached_guardrails": ", ".join(g.guardrail.metric for g in breached) or None}
    for g in breached:
        evidence[f"{g.guardrail.metric}_improvement"] = g.result.improvement
        evidence[f"{g.guardrail.metric}_ci_high"] = g.result.improvement_ci[1]
        evidence[f"{g.guardrail.metric}_accepted_regression"] = g.guardrail.accepted_regression
    return evidence


def _fire(rule: Rule, results: PilotResults, today: date) -> Recommendation | None:
    """The recommendation of one rule, or None when it does not fire."""
    text = describe_rule(rule)
    primary = results.primary
    if isinstance(rule, PauseWhen):
        p = results.srm_p_value
        if p is not None and p < rule.srm_p_below:
            return Recommendation(
                Action.PAUSE,
                text,
                f"sample ratio mismatch (p = {p:.3g} < {rule.srm_p_below}): the data is untrustworthy",
                {"srm_p_value": p, "srm_p_below": rule.srm_p_below, "sample_size": results.sample_size},
            )
        return None
    if isinstance(rule, RollbackWhen):
        breached = _breaches(results, rule.breach) if rule.any_guardrail_worse_than_accepted else []
        if breached:
            names = ", ".join(g.guardrail.metric for g in breached)
            return Recommendation(
                Action.ROLLBACK,
                text,
                f"guardrail worse than its accepted regression: {names}",
                {**_guardrail_evidence(breached), "breach_test": rule.breach.value, **_primary_evidence(results)},
            )
        limit = rule.primary_worse_p_below
        if limit is not None and primary.improvement < 0 and primary.p_value < limit:
            return Recommendation(
                Action.ROLLBACK,
                text,
                f"the primary metric got worse (p = {primary.p_value:.3g} < {limit})",
                {**_primary_evidence(results), "primary_worse_p_below": limit},
            )
        return None
    if isinstance(rule, ScaleWhen):
        if primary.kind is not rule.lift_kind:
            raise InvalidInputError(
                f"ScaleWhen reads the lift on the {rule.lift_kind} scale, but the primary result is "
                f"{primary.kind}; compute it on the rule's scale"
            )
        breached = _breaches(results, rule.breach) if rule.no_guardrail_breach else []
        lift_ok = primary.improvement >= rule.primary_lift_at_least
        if rule.p_below is not None:
            evidence_ok = primary.p_value < rule.p_below
        else:
            assert rule.chance_to_win_at_least is not None
            evidence_ok = primary.chance_to_win >= rule.chance_to_win_at_least
        if lift_ok and evidence_ok and not breached:
            how = (
                f"p = {primary.p_value:.3g} < {rule.p_below}"
                if rule.p_below is not None
                else f"chance to win {primary.chance_to_win:.1%} ≥ {rule.chance_to_win_at_least:.1%}"
            )
            return Recommendation(
                Action.SCALE,
                text,
                f"{primary.metric} improved by {primary.improvement:.4g} ≥ {rule.primary_lift_at_least:.4g} "
                f"({primary.kind}) with {how}, no guardrail breached",
                {
                    **_primary_evidence(results),
                    "primary_lift_at_least": rule.primary_lift_at_least,
                    "p_below": rule.p_below,
                    "chance_to_win_at_least": rule.chance_to_win_at_least,
                    "guardrails_checked": len(results.guardrails),
                },
            )
        return None
    timebox = results.timebox
    over = timebox.is_over(today)
    time_evidence: Evidence = {
        "today": today.isoformat(),
        "timebox_end": timebox.effective_end.isoformat(),
        "extended_days": timebox.extended_days,
    }
    if isinstance(rule, ExtendWhen):
        if not over or timebox.extended_days + rule.by_days > rule.up_to_days:
            return None
        short = (
            results.sample_size is not None
            and results.planned_sample_size is not None
            and results.sample_size < results.planned_sample_size
        )
        if rule.sample_below_planned and not short:
            return None
        until = timebox.effective_end + timedelta(days=rule.by_days)
        return Recommendation(
            Action.EXTEND,
            text,
            f"timebox over on {timebox.effective_end}; extend by {rule.by_days} days to {until}"
            + (f" (sample {results.sample_size} of {results.planned_sample_size} planned)" if short else ""),
            {
                **time_evidence,
                "by_days": rule.by_days,
                "sample_size": results.sample_size,
                "planned_sample_size": results.planned_sample_size,
                **_primary_evidence(results),
            },
            extend_until=until,
        )
    # StopWhen
    if not over:
        return None
    clear = primary.p_value < rule.signal_p_below
    if rule.no_clear_signal and clear:
        return None
    return Recommendation(
        Action.STOP,
        text,
        f"timebox over on {timebox.effective_end}"
        + (f" without a clear signal (p = {primary.p_value:.3g} ≥ {rule.signal_p_below})" if not clear else ""),
        {**time_evidence, "signal_p_below": rule.signal_p_below, **_primary_evidence(results)},
    )


def evaluate(rules: Iterable[Rule], results: PilotResults, now: date | datetime) -> Recommendation:
    """The recommended decision: rules are tried by kind in :data:`PRECEDENCE` (within a kind, in the order
    given); the first that fires wins, lower-precedence rules that fired as well are listed. None: continue."""
    today = _day(now)
    ordered = sorted(rules, key=lambda r: PRECEDENCE.index(type(r)))
    fired = [rec for rule in ordered if (rec := _fire(rule, results, today)) is not None]
    if not fired:
        return Recommendation(
            Action.CONTINUE,
            "continue: no exit rule fired",
            "no exit rule fired: keep collecting data",
            {
                **_primary_evidence(results),
                "srm_p_value": results.srm_p_value,
                "timebox_over": results.timebox.is_over(today),
            },
        )
    first, *rest = fired
    return Recommendation(
        first.action, first.rule, first.reason, first.evidence, first.extend_until, tuple(r.rule for r in rest)
    )


# --- the 90-day view ------------------------------------------------------------------------------------------------


class Phase(StrEnum):
    DEFINE = "define"
    PILOT = "pilot"
    DECIDE = "scale_or_retire"


@dataclass(frozen=True)
class PhaseWindow:
    phase: Phase
    start: date
    end: date  # inclusive


def add_months(day: date, months: int) -> date:
    """Same day of the month ``months`` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def ninety_day_view(start: date) -> tuple[PhaseWindow, PhaseWindow, PhaseWindow]:
    """Define (month 1), pilot (month 2), scale or retire (month 3): calendar months from ``start``."""
    e = [add_months(start, k) for k in range(4)]
    last = timedelta(days=1)
    return (
        PhaseWindow(Phase.DEFINE, e[0], e[1] - last),
        PhaseWindow(Phase.PILOT, e[1], e[2] - last),
        PhaseWindow(Phase.DECIDE, e[2], e[3] - last),
    )


def phase_on(start: date, today: date) -> Phase | None:
    """The 90-day phase ``today`` falls in, or None before the start or after month 3."""
    for window in ninety_day_view(start):
        if window.start <= today <= window.end:
            return window.phase
    return None


# --- the pilot ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pilot:
    """The one-page pilot record."""

    title: str
    problem: str
    hypothesis: Hypothesis
    owner: str
    scope: str = ""
    entry_criteria: tuple[str, ...] = ()
    exit_criteria: tuple[str, ...] = ()
    risks: tuple[Risk, ...] = ()
    guardrails: tuple[Guardrail, ...] = ()
    rollout: tuple[RolloutStage, ...] = ()
    exit_rules: tuple[Rule, ...] = DEFAULT_RULES
    key_result_id: int | None = None
    initiative_id: int | None = None
    status: PilotStatus = PilotStatus.DRAFT

    def __post_init__(self) -> None:
        _require_text("title", self.title)
        _require_text("problem statement", self.problem)
        _require_text("owner", self.owner)
        validate_rollout(self.rollout)
        names = [g.metric for g in self.guardrails]
        if len(set(names)) != len(names):
            raise InvalidInputError("each guardrail metric appears once")
        if self.hypothesis.primary_metric in names:
            raise InvalidInputError("the primary metric cannot also be a guardrail")

    @property
    def ninety_days(self) -> tuple[PhaseWindow, PhaseWindow, PhaseWindow]:
        """The 90-day view around the pilot: its timebox starts month 2, so define is the month before."""
        return ninety_day_view(add_months(self.hypothesis.timebox.start, -1))
