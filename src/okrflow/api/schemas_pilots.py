"""Request and response bodies of the pilot, decision-log, outcome and retrospective endpoints.

The conventions of :mod:`okrflow.api.schemas`: request bodies reject unknown fields and unstorable values; ids
are bounded to the database's integer range; numbers are bounded (``|x| ≤ 10¹⁵``) and dates lie in 1970 … 2200,
so no computation downstream (a timebox extended, a 90-day view) can overflow. The services check the rules
(the pilot record through ``okrflow.domain.pilots``) and name the field they refuse.

Computed numbers in a response are plain JSON floats, never NaN or infinite (they become ``null``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field, StringConstraints, model_validator

from okrflow.api.schemas import DbId, _Body, _Patch, _Read, _VersionedRead
from okrflow.api.schemas_okr import Number, Title
from okrflow.domain import pilots as dp
from okrflow.services import decisions, retros

FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2200, 12, 31)
Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY, description="YYYY-MM-DD, 1970-01-01 … 2200-12-31.")]
PilotStatusName = Literal["draft", "running", "decided", "closed"]
ActionName = Literal["continue", "pause", "rollback", "scale", "extend", "stop"]
LinkType = Literal["pilot", "key_result", "work_item", "incident"]
RetroKind = Literal["retrospective", "postmortem"]
ActionStatus = Literal["open", "done", "dropped"]
OutcomeResult = Literal["achieved", "partially", "not_achieved"]
assert set(get_args(PilotStatusName)) == {s.value for s in dp.PilotStatus}  # kept in step with the domain
assert set(get_args(ActionName)) == {a.value for a in dp.Action}
assert get_args(LinkType) == decisions.LINK_TYPES
assert get_args(RetroKind) == retros.KINDS and get_args(ActionStatus) == retros.ACTION_STATUSES

Text = Annotated[str, StringConstraints(max_length=10_000)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Key = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="Unique in the workspace, e.g. P-12.", examples=["P-12"]),
]
MetricName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
VariantName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Probability = Annotated[float, Field(allow_inf_nan=False, description="Strictly between 0 and 1.")]
Days = Annotated[int, Field(ge=1, le=365, description="Whole days, 1–365.")]
JsonObject = Annotated[dict[str, Any], Field(max_length=100)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


# ------------------------------------------------------------------ the pilot record


class HypothesisIn(_Body):
    """The hypothesis as data, and the analysis settings kept with it."""

    primary_metric: MetricName
    direction: Literal["increase", "decrease"]
    expected_effect: Number = Field(description="A positive size; its direction is `direction`.")
    effect_kind: Literal["absolute", "relative"] = "relative"
    statement: Annotated[str, StringConstraints(max_length=2000)] = ""
    alpha: Probability = 0.05
    method: Literal["fixed", "sequential"] = Field(
        "sequential", description="sequential: always-valid intervals, the results may be read at every look."
    )
    planned_sample_size: int | None = Field(None, ge=2, le=10**12, description="Units over all variants.")
    extended_days: int = Field(0, ge=0, le=3650, description="Granted by extend decisions.")
    power: Probability = Field(0.8, description="The power the plan aims for (1 − β), for the power analysis.")
    baseline: dict[Literal["rate", "mean", "std"], Number] | None = Field(
        None,
        description="The primary metric before the pilot, for the power analysis until the control has results: "
        '{"rate": 0.12} for a conversion metric, {"mean": 41.5, "std": 12} for a mean metric.',
        examples=[{"rate": 0.112}],
    )


class RiskIn(_Body):
    description: Line
    likelihood: int = Field(description="1–5.")
    impact: int = Field(description="1–5.")
    mitigation: Annotated[str, StringConstraints(max_length=2000)] = ""


class GuardrailIn(_Body):
    metric: MetricName
    direction: Literal["increase", "decrease"] = Field(description="The good direction of the metric.")
    accepted_regression: Number = Field(0.0, description="How much worse it may get (≥ 0, on `kind`).")
    kind: Literal["absolute", "relative"] = "relative"


class StageIn(_Body):
    cohort: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    exposure_percent: Number = Field(description="Share of traffic in the pilot, (0, 100].")
    start: Day
    split: list[Number] = Field([50.0, 50.0], min_length=2, max_length=20, description="Weights, control first.")


class PauseWhenIn(_Body):
    srm: bool = True
    srm_p_below: Probability = 0.001


class RollbackWhenIn(_Body):
    any_guardrail_worse_than_accepted: bool = True
    breach: Literal["estimate", "confident"] = "estimate"
    primary_worse_p_below: Probability | None = None


class ScaleWhenIn(_Body):
    primary_lift_at_least: Number = 0.0
    p_below: Probability | None = None
    chance_to_win_at_least: Probability | None = None
    no_guardrail_breach: bool = True
    lift_kind: Literal["absolute", "relative"] = "relative"
    breach: Literal["estimate", "confident"] = "estimate"


class ExtendWhenIn(_Body):
    by_days: Days = 14
    up_to_days: int = Field(28, ge=1, le=3650)
    sample_below_planned: bool = True


class StopWhenIn(_Body):
    timebox_over: bool = True
    no_clear_signal: bool = True
    signal_p_below: Probability = 0.05


class ExitRuleIn(_Body):
    """One rule: an object with exactly one key, e.g. ``{"scale_when": {"primary_lift_at_least": 0.05,
    "p_below": 0.05}}``. Settings left out take the rule's defaults (docs/experiments.md)."""

    pause_when: PauseWhenIn | None = None
    rollback_when: RollbackWhenIn | None = None
    scale_when: ScaleWhenIn | None = None
    extend_when: ExtendWhenIn | None = None
    stop_when: StopWhenIn | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> ExitRuleIn:
        if len(self.model_fields_set) != 1:
            raise ValueError(f"an exit rule has exactly one key: {', '.join(dp.RULE_KEYS)}")
        return self


def exit_rules_config(rules: list[ExitRuleIn] | None) -> list[dict[str, Any]] | None:
    """The rule configuration the service parses (settings the client left out are left out)."""
    if rules is None:
        return None
    out = []
    for rule in rules:
        ((key, params),) = rule.model_dump(exclude_unset=True).items()
        out.append({key: params or {}})
    return out


class _PilotFields(_Body):
    title: Title
    problem: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    hypothesis: HypothesisIn
    timebox_start: Day
    timebox_end: Day = Field(description="Inclusive.")
    owner_person_id: DbId
    team_id: DbId | None = None
    scope: Annotated[str, StringConstraints(max_length=5000)] = ""
    entry_criteria: list[Line] = Field(default_factory=list, max_length=50)
    exit_criteria: list[Line] = Field(default_factory=list, max_length=50)
    risks: list[RiskIn] = Field(default_factory=list, max_length=50)
    guardrails: list[GuardrailIn] = Field(default_factory=list, max_length=20)
    rollout: list[StageIn] = Field(default_factory=list, max_length=20)
    exit_rules: list[ExitRuleIn] | None = Field(
        None, max_length=20, description="null: pause on SRM, roll back on a guardrail breach, stop at the end."
    )
    planned_split: dict[VariantName, Number] | None = Field(
        None, max_length=20, description="Variant → share with a 'control'; null: the rollout's split."
    )
    key_result_id: DbId | None = None
    work_item_id: DbId | None = Field(None, description="The initiative or epic the pilot serves.")


class PilotCreate(_PilotFields):
    key: Key

    def fields(self) -> dict[str, Any]:
        out = self.model_dump(exclude={"exit_rules"})
        out["exit_rules"] = exit_rules_config(self.exit_rules)
        return out


class PilotUpdate(_Patch):
    not_null = (
        "title",
        "problem",
        "hypothesis",
        "timebox_start",
        "timebox_end",
        "owner_person_id",
        "scope",
        "entry_criteria",
        "exit_criteria",
        "risks",
        "guardrails",
        "rollout",
    )

    title: Title | None = None
    problem: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)] | None = None
    hypothesis: HypothesisIn | None = None
    timebox_start: Day | None = None
    timebox_end: Day | None = None
    owner_person_id: DbId | None = None
    team_id: DbId | None = Field(None, description="null: a workspace-level pilot.")
    scope: Annotated[str, StringConstraints(max_length=5000)] | None = None
    entry_criteria: list[Line] | None = Field(None, max_length=50)
    exit_criteria: list[Line] | None = Field(None, max_length=50)
    risks: list[RiskIn] | None = Field(None, max_length=50)
    guardrails: list[GuardrailIn] | None = Field(None, max_length=20)
    rollout: list[StageIn] | None = Field(None, max_length=20)
    exit_rules: list[ExitRuleIn] | None = Field(None, max_length=20, description="null: the default rules.")
    planned_split: dict[VariantName, Number] | None = Field(None, max_length=20)
    key_result_id: DbId | None = None
    work_item_id: DbId | None = None

    def changes(self) -> dict[str, Any]:
        out = super().changes()
        if "exit_rules" in out:
            out["exit_rules"] = exit_rules_config(self.exit_rules)
        return out


class PilotRead(_VersionedRead):
    id: int
    workspace_id: int
    key: str
    title: str
    problem: str
    status: str
    owner_person_id: int | None
    team_id: int | None
    hypothesis: dict[str, Any]
    timebox_start: date | None
    timebox_end: date | None
    timebox_effective_end: date | None = Field(description="The end with the extensions granted so far.")
    scope: str
    entry_criteria: list[str]
    exit_criteria: list[str]
    risks: list[dict[str, Any]]
    guardrails: list[dict[str, Any]]
    rollout: list[dict[str, Any]]
    planned_split: dict[str, float]
    exit_rules: list[dict[str, Any]]
    key_result_id: int | None
    work_item_id: int | None


class AwaitingDecisionRead(BaseModel):
    pilot: PilotRead
    recommended: str | None = Field(description="The latest stored evaluation's action; null if never evaluated.")
    evaluated_at: datetime | None
    timebox_end: date | None = Field(description="The end with the extensions granted so far.")
    reason: str = Field(description="Why it waits: the recommendation, or the timebox that ended.")


class TransitionIn(_Body):
    to: PilotStatusName = Field(description="draft → running → decided → closed; a draft may be closed.")


class ExtendIn(_Body):
    """An extend decision on the pilot, recorded in the decision log (the timebox grows by ``days``)."""

    decided_by: Name
    days: Days | None = Field(None, description="Default: what the latest evaluation recommended.")
    rationale: Text = Field("", description="Required when the latest recommendation was not to extend.")
    title: Title | None = Field(None, description="Default: 'Extend pilot <key>'.")
    decision: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)] | None = None
    context: Text = ""
    review_on: Day | None = None


class PhaseRead(BaseModel):
    phase: str = Field(description="define | pilot | scale_or_retire")
    start: date
    end: date = Field(description="Inclusive.")


class NinetyDaysRead(BaseModel):
    pilot_id: int
    phases: list[PhaseRead]
    today: date
    current_phase: str | None = Field(
        description="define | pilot | scale_or_retire: the phase today falls in; null before the define month or "
        "after month 3."
    )


# ------------------------------------------------------------------ results and the readout


class ResultRowIn(_Body):
    """One day of one metric for one variant: conversion metrics give ``conversions``, mean metrics ``sum`` and
    ``sum_squares`` (Σx and Σx²)."""

    day: Day
    variant: VariantName
    metric: MetricName
    n: int = Field(ge=0, le=2_147_483_647, description="Units (users, sessions) that day.")
    conversions: int | None = Field(None, ge=0, le=2_147_483_647)
    sum: Number | None = None
    sum_squares: Annotated[float, Field(ge=0, le=1e30, allow_inf_nan=False)] | None = None


class ResultBatch(_Body):
    rows: list[ResultRowIn] = Field(min_length=1, max_length=50_000)
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = "api"


class ResultsReportRead(BaseModel):
    created: int
    updated: int
    unchanged: int
    total: int


class ResultRead(_Read):
    day: date
    variant: str
    metric: str
    n: int
    conversions: float | None
    sum: float | None
    sum_squares: float | None
    source: str
    recorded_at: datetime


class SummaryRead(BaseModel):
    n: int
    mean: float | None
    variance: float | None
    conversions: int | None = Field(default=None, description="Conversion metrics.")
    sum: float | None = Field(default=None, description="Mean metrics: Σx.")
    sum_squares: float | None = Field(default=None, description="Mean metrics: Σx².")


class EffectRead(BaseModel):
    scale: Literal["absolute", "relative"]
    method: Literal["fixed", "sequential"]
    estimate: float | None = Field(description="Treatment − control (relative: over the control mean).")
    ci: list[float | None] = Field(description="[low, high] of the estimate at 1 − alpha.")
    p_value: float | None
    significant: bool
    std_error: float | None
    dof: float | None
    improvement: float | None = Field(description="The estimate signed so that positive is better.")
    improvement_ci: list[float | None]


class BayesianRead(BaseModel):
    scale: Literal["absolute", "relative"]
    mean: float | None
    std: float | None
    chance_to_win: float | None
    risk_control: float | None = Field(description="Expected loss of keeping the control if the treatment wins.")
    risk_treatment: float | None = Field(description="Expected loss of shipping the treatment if it loses.")
    credible_interval: list[float | None]


class SrmRead(BaseModel):
    variants: list[str]
    observed: list[int]
    expected: list[float | None]
    chi_square: float | None
    dof: int
    p_value: float | None
    threshold: float
    mismatch: bool


class ComparisonRead(BaseModel):
    """One treatment against the control on one metric."""

    absolute: EffectRead
    relative: EffectRead | None = Field(description="null when the control mean is 0 (see notes).")
    chance_to_win: float | None
    risk: list[float | None] = Field(description="[risk of the control, risk of the treatment]")
    bayesian: BayesianRead
    srm: SrmRead
    notes: list[str]


class MetricReadoutRead(BaseModel):
    metric: str
    role: str = Field(description="primary | guardrail")
    kind: str | None = Field(description="proportion | mean; null: no results yet.")
    lower_is_better: bool
    accepted_regression: float | None = Field(None, description="Guardrails: how much worse it may get.")
    accepted_regression_kind: Literal["absolute", "relative"] | None = None
    variants: dict[str, SummaryRead] = Field(description="Totals per variant over every day so far.")
    comparisons: dict[str, ComparisonRead] = Field(description="Treatment → its comparison with the control.")
    problems: dict[str, str] = Field(description="Treatment → why there is no comparison yet.")


class DetectableEffectRead(BaseModel):
    absolute: float
    relative: float | None = Field(description="null when the baseline mean is 0.")


class PowerRead(BaseModel):
    """The power analysis of the plan for the primary metric against the expected effect."""

    basis: Literal["observed", "baseline"] | None = Field(
        description="observed: the control's results so far; baseline: hypothesis.baseline; null: neither yet."
    )
    kind: Literal["proportion", "mean"] | None
    baseline_mean: float | None
    baseline_std: float | None
    alpha: float
    power: float = Field(description="The power aimed for (1 − β).")
    method: Literal["fixed", "sequential"]
    expected_effect: float = Field(description="Signed: negative when the metric should decrease.")
    effect_kind: Literal["absolute", "relative"]
    required_units: int | None = Field(description="Units over all variants (planned split) to reach the power.")
    planned_units: int | None
    planned_power: float | None = Field(description="Power of the planned units against the expected effect.")
    units: int = Field(description="Units collected so far.")
    progress: float | None = Field(description="units / required_units.")
    power_now: float | None = Field(description="Power of the units so far, were the pilot to stop now.")
    detectable_effect: DetectableEffectRead | None = Field(
        description="The minimum detectable effect with `detectable_at` units."
    )
    detectable_at: int | None = Field(description="The planned units, else the units so far.")
    underpowered: bool = Field(description="The planned units give less than the power aimed for.")
    problem: str | None = Field(description="Why a figure is missing.")


class ReadoutRead(BaseModel):
    pilot_id: int
    alpha: float
    method: Literal["fixed", "sequential"]
    sample_size: int = Field(description="Units of the primary metric over all variants.")
    planned_sample_size: int | None
    units: dict[str, int]
    first_day: date | None
    last_day: date | None
    srm: SrmRead | None = Field(description="Units of the primary per variant against the planned split.")
    primary: MetricReadoutRead
    guardrails: list[MetricReadoutRead]
    power: PowerRead
    notes: list[str]


class EvaluationRead(BaseModel):
    id: int
    pilot_id: int
    at: datetime
    action: str
    rule: str = Field(description="The exit rule that fired, as written.")
    reason: str
    numbers: dict[str, Any] = Field(description="The numbers behind the recommendation.")
    also_fired: list[str] = Field(description="Lower-precedence rules that fired as well.")
    extend_until: date | None
    actor: str
    readout: dict[str, Any] = Field(description="The readout frozen at the evaluation.")


# ------------------------------------------------------------------ decisions


class LinkIn(_Body):
    type: LinkType
    id: DbId


class _DecisionFields(_Body):
    context: Text = ""
    options: list[Annotated[str, StringConstraints(max_length=2000)] | JsonObject] = Field(
        default_factory=list, max_length=50, description="Texts, or objects with a title (and e.g. pros, cons)."
    )
    rationale: Text = Field("", description="Required when the action overrides the pilot's recommendation.")
    evidence: JsonObject | None = Field(None, description="Frozen values of your own (a pilot's are added).")
    raci: JsonObject | None = Field(
        None,
        description="{responsible, accountable, consulted, informed}: lists of names or person ids; one "
        "accountable at most.",
        examples=[{"accountable": ["Carla CPO"], "responsible": [3], "informed": ["Support"]}],
    )
    review_on: Day | None = None
    decided_on: Day | None = Field(None, description="Default: today.")
    links: list[LinkIn] = Field(default_factory=list, max_length=50)
    pilot_id: DbId | None = None
    action: ActionName | None = Field(None, description="Required with pilot_id: what the decision does to it.")
    extend_days: Days | None = Field(None, description="An extend decision: by how many days.")


class DecisionCreate(_DecisionFields):
    title: Title
    decision: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    decided_by: Name


class DecisionSupersede(_DecisionFields):
    """The new decision: fields left out are taken over from the one it supersedes."""

    title: Title | None = None
    decision: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)] | None = None
    decided_by: Name | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class DecisionRead(_Read):
    id: int
    workspace_id: int
    title: str
    context: str
    options: list[Any]
    decision: str
    rationale: str
    evidence: dict[str, Any]
    decided_by: str
    raci: dict[str, Any]
    decided_on: date
    review_on: date | None
    links: list[dict[str, Any]]
    pilot_id: int | None
    action: str | None
    recommended_action: str | None
    overrides_recommendation: bool
    supersedes_id: int | None
    superseded_by: int | None = Field(description="The decision that supersedes this one; null: it is current.")
    recorded_at: datetime
    author: str


class DecisionDetail(DecisionRead):
    chain: list[int] = Field(description="The whole supersede chain, oldest first (this decision included).")


# ------------------------------------------------------------------ outcomes


class AnticipatedOutcomeIn(_Body):
    """The four questions: which problem; which result, measured how; which metric and target; by when and how
    we will learn."""

    problem: Line
    expected_result: Line
    measured_by: Line
    metric_key: MetricName
    target: Number | None = None
    by_date: Day
    how_we_learn: Line


class AnticipatedOutcomeRead(BaseModel):
    work_item_id: int
    key: str
    title: str
    level: str | None
    team_id: int | None
    anticipated_outcome: dict[str, Any] | None = Field(description="null: not stated yet.")
    version: int = Field(description="The work item's version (its ETag).")


class ActualOutcomeIn(_Body):
    result: OutcomeResult
    observed_on: Day
    observed_value: Number | None = None
    learning: Text = ""


class ActualOutcomeRead(_VersionedRead):
    id: int
    work_item_id: int
    result: str
    observed_on: date
    observed_value: float | None
    learning: str
    recorded_by: str


class OutcomeDueRead(BaseModel):
    work_item_id: int
    key: str
    title: str
    level: str | None
    team_id: int | None
    resolved: datetime | None
    by_date: date | None
    days_overdue: int
    metric_key: str | None
    target: float | None


class RealizationRead(BaseModel):
    team_id: int | None
    team: str | None = None
    delivered: int = Field(description="Initiatives/epics resolved in the period with an anticipated outcome.")
    achieved: int
    partially: int
    not_achieved: int
    pending: int = Field(description="Without an actual outcome yet.")
    rate: float | None = Field(description="achieved / delivered; null when nothing was delivered.")


class RealizationRateRead(RealizationRead):
    start: date
    end: date
    item_ids: list[int]
    by_team: list[RealizationRead] = Field(
        description="Without team_id: the same per team of the workspace (teams with a delivered item)."
    )


# ------------------------------------------------------------------ retrospectives and action items


class _RetroFields(_Body):
    team_id: DbId | None = None
    what_happened: Text = ""
    impact: Text = ""
    contributing_factors: list[Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=list, max_length=50, description="Blameless: factors, not culprits."
    )
    learnings: Text = ""
    incident_id: DbId | None = None
    pilot_id: DbId | None = None


class RetrospectiveCreate(_RetroFields):
    kind: RetroKind = "retrospective"
    title: Title
    held_on: Day


class RetrospectiveUpdate(_Patch):
    not_null = ("kind", "title", "held_on", "what_happened", "impact", "contributing_factors", "learnings")

    kind: RetroKind | None = None
    title: Title | None = None
    held_on: Day | None = None
    team_id: DbId | None = None
    what_happened: Text | None = None
    impact: Text | None = None
    contributing_factors: list[Annotated[str, StringConstraints(max_length=1000)]] | None = Field(None, max_length=50)
    learnings: Text | None = None
    incident_id: DbId | None = None
    pilot_id: DbId | None = None


class RetrospectiveRead(_VersionedRead):
    id: int
    workspace_id: int
    kind: str
    title: str
    held_on: date
    team_id: int | None
    what_happened: str
    impact: str
    contributing_factors: list[str]
    learnings: str
    incident_id: int | None
    pilot_id: int | None


PlaybookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=1000),
    Field(description="An http(s) address or a path such as /docs/runbooks/rollback."),
]


class ActionItemCreate(_Body):
    title: Title
    owner_person_id: DbId
    due_on: Day
    status: ActionStatus = "open"
    playbook_url: PlaybookUrl = ""


class ActionItemUpdate(_Patch):
    not_null = ("title", "owner_person_id", "due_on", "status", "playbook_url")

    title: Title | None = None
    owner_person_id: DbId | None = None
    due_on: Day | None = None
    status: ActionStatus | None = None
    playbook_url: PlaybookUrl | None = None


class ActionItemRead(_VersionedRead):
    id: int
    retrospective_id: int
    title: str
    owner_person_id: int | None
    owner: str = Field(description="The owner's name.")
    due_on: date | None
    status: str
    playbook_url: str


class OverdueActionRead(BaseModel):
    action_item_id: int
    title: str
    owner_person_id: int | None
    owner: str
    due_on: date | None
    days_overdue: int
    playbook_url: str
    retrospective_id: int
    retrospective: str
    kind: str
    team_id: int | None
