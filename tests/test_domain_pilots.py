"""Pilots: lifecycle, the record's validation, rollout stages, the 90-day view, exit rules and their precedence."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okrflow.domain.errors import InvalidInputError
from okrflow.domain.okr import Direction
from okrflow.domain.pilots import (
    DEFAULT_RULES,
    Action,
    BreachTest,
    EffectKind,
    ExtendWhen,
    Guardrail,
    GuardrailResult,
    Hypothesis,
    MetricResult,
    PauseWhen,
    Phase,
    Pilot,
    PilotResults,
    PilotStatus,
    Risk,
    RiskLevel,
    RollbackWhen,
    RolloutStage,
    ScaleWhen,
    StopWhen,
    Timebox,
    add_months,
    can_edit_exit_rules,
    can_transition,
    check_transition,
    describe_rule,
    evaluate,
    ninety_day_view,
    parse_rules,
    phase_on,
    rules_to_config,
    validate_rollout,
)

S = PilotStatus
TIMEBOX = Timebox(date(2025, 3, 3), date(2025, 3, 30))
DURING = datetime(2025, 3, 15, 12, tzinfo=UTC)
AFTER = date(2025, 4, 2)

latency = Guardrail("p95 latency", Direction.DECREASE, accepted_regression=0.05)
errors = Guardrail("error rate", Direction.DECREASE, accepted_regression=0.0)

RULES = (
    ScaleWhen(primary_lift_at_least=0.05, p_below=0.05),
    RollbackWhen(),
    PauseWhen(),
    StopWhen(),
    ExtendWhen(by_days=14, up_to_days=28),
)


def metric(
    improvement: float, p: float = 0.5, ctw: float = 0.5, half_width: float = 0.02, name: str = "m"
) -> MetricResult:
    return MetricResult(
        name, EffectKind.RELATIVE, improvement, (improvement - half_width, improvement + half_width), p, ctw
    )


def guard(g: Guardrail, improvement: float, half_width: float = 0.01) -> GuardrailResult:
    return GuardrailResult(g, metric(improvement, half_width=half_width, name=g.metric))


def results(
    primary: MetricResult,
    *guardrails: GuardrailResult,
    srm: float | None = 0.4,
    sample: int | None = 20_000,
    planned: int | None = 20_000,
    timebox: Timebox = TIMEBOX,
) -> PilotResults:
    return PilotResults(primary, timebox, tuple(guardrails), srm, sample, planned)


# --- lifecycle -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (S.DRAFT, S.RUNNING, True),
        (S.DRAFT, S.CLOSED, True),  # withdrawn before it ran
        (S.RUNNING, S.DECIDED, True),
        (S.DECIDED, S.CLOSED, True),
        (S.DRAFT, S.DECIDED, False),
        (S.RUNNING, S.DRAFT, False),
        (S.RUNNING, S.CLOSED, False),  # a running pilot is decided first
        (S.DECIDED, S.RUNNING, False),
        (S.CLOSED, S.DRAFT, False),
        (S.CLOSED, S.CLOSED, False),
    ],
)
def test_lifecycle_transitions(current: PilotStatus, target: PilotStatus, allowed: bool) -> None:
    assert can_transition(current, target) is allowed
    if allowed:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidInputError, match=f"cannot go from {current} to {target}"):
            check_transition(current, target)


def test_exit_rules_are_fixed_once_the_pilot_runs() -> None:
    assert can_edit_exit_rules(S.DRAFT)
    assert not any(can_edit_exit_rules(s) for s in (S.RUNNING, S.DECIDED, S.CLOSED))


# --- the record ------------------------------------------------------------------------------------------------


def hypothesis() -> Hypothesis:
    return Hypothesis(
        "step drop-off", Direction.DECREASE, 0.15, EffectKind.RELATIVE, TIMEBOX, "cut step drop-off by 15 % in 4 weeks"
    )


def test_a_complete_pilot_record() -> None:
    pilot = Pilot(
        title="Shorter signup",
        problem="42 % of visitors drop off at step 2",
        hypothesis=hypothesis(),
        owner="ana",
        scope="web signup, EU",
        entry_criteria=("tracking verified",),
        exit_criteria=("timebox over or a rule fires",),
        risks=(Risk("support load rises", 3, 4, "brief support"),),
        guardrails=(latency, errors),
        rollout=(
            RolloutStage("internal", 5, date(2025, 3, 3)),
            RolloutStage("10 %", 10, date(2025, 3, 6)),
            RolloutStage("half", 50, date(2025, 3, 10)),
        ),
        exit_rules=RULES,
        key_result_id=7,
        initiative_id=3,
    )
    assert pilot.status is S.DRAFT
    assert pilot.risks[0].score == 12 and pilot.risks[0].level is RiskLevel.HIGH
    define, pilot_month, decide = pilot.ninety_days
    assert pilot_month.start == TIMEBOX.start
    assert define.end == date(2025, 3, 2) and decide.phase is Phase.DECIDE
    with pytest.raises(InvalidInputError, match="cannot also be a guardrail"):
        Pilot("t", "p", hypothesis(), "ana", guardrails=(Guardrail("step drop-off", Direction.DECREASE),))
    with pytest.raises(InvalidInputError, match="each guardrail metric appears once"):
        Pilot("t", "p", hypothesis(), "ana", guardrails=(latency, latency))
    with pytest.raises(InvalidInputError, match="owner"):
        Pilot("t", "p", hypothesis(), " ")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Timebox(date(2025, 3, 3), date(2025, 3, 1)), "ends"),
        (lambda: Hypothesis("m", Direction.BAND, 0.1, EffectKind.RELATIVE, TIMEBOX), "increase or decrease"),
        (lambda: Hypothesis("m", Direction.INCREASE, -0.1, EffectKind.RELATIVE, TIMEBOX), "positive size"),
        (lambda: Risk("r", 0, 3), "likelihood"),
        (lambda: Risk("r", 3, 6), "impact"),
        (lambda: Guardrail("g", Direction.DECREASE, -0.1), "accepted regression"),
        (lambda: RolloutStage("c", 0, date(2025, 1, 1)), "exposure"),
        (lambda: RolloutStage("c", 101, date(2025, 1, 1)), "exposure"),
        (lambda: RolloutStage("c", 10, date(2025, 1, 1), (100,)), "split"),
    ],
)
def test_record_validation(make: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("likelihood", "impact", "level"),
    [(1, 1, RiskLevel.LOW), (2, 2, RiskLevel.LOW), (1, 5, RiskLevel.MEDIUM), (3, 3, RiskLevel.MEDIUM),
     (2, 5, RiskLevel.HIGH), (4, 4, RiskLevel.HIGH), (4, 5, RiskLevel.CRITICAL), (5, 5, RiskLevel.CRITICAL)],
)  # fmt: skip
def test_risk_matrix(likelihood: int, impact: int, level: RiskLevel) -> None:
    assert Risk("r", likelihood, impact).level is level


def test_rollout_ramps_up_and_keeps_the_split() -> None:
    validate_rollout([])
    validate_rollout([RolloutStage("a", 10, date(2025, 1, 1), (1, 1)), RolloutStage("b", 10, date(2025, 1, 5))])
    with pytest.raises(InvalidInputError, match="only ramp up"):
        validate_rollout([RolloutStage("a", 50, date(2025, 1, 1)), RolloutStage("b", 20, date(2025, 1, 5))])
    with pytest.raises(InvalidInputError, match="must start after"):
        validate_rollout([RolloutStage("a", 5, date(2025, 1, 5)), RolloutStage("b", 20, date(2025, 1, 5))])
    with pytest.raises(InvalidInputError, match="changes the split"):
        validate_rollout([RolloutStage("a", 5, date(2025, 1, 1)), RolloutStage("b", 20, date(2025, 1, 5), (90, 10))])
    with pytest.raises(InvalidInputError, match="changes the split"):
        validate_rollout([RolloutStage("a", 5, date(2025, 1, 1)), RolloutStage("b", 9, date(2025, 1, 2), (1, 1, 1))])


@given(stages=st.lists(st.tuples(st.floats(0.5, 100), st.integers(0, 400)), min_size=1, max_size=6))
def test_sorted_ramps_are_valid(stages: list[tuple[float, int]]) -> None:
    exposures = sorted(e for e, _ in stages)
    days = sorted({d for _, d in stages})
    built = [
        RolloutStage(f"s{i}", exposures[i], date.fromordinal(date(2025, 1, 1).toordinal() + d))
        for i, d in enumerate(days)
    ]
    validate_rollout(built)


def test_ninety_day_view() -> None:
    view = ninety_day_view(date(2025, 1, 31))
    assert [w.phase for w in view] == [Phase.DEFINE, Phase.PILOT, Phase.DECIDE]
    assert [(w.start, w.end) for w in view] == [
        (date(2025, 1, 31), date(2025, 2, 27)),
        (date(2025, 2, 28), date(2025, 3, 30)),
        (date(2025, 3, 31), date(2025, 4, 29)),
    ]
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert phase_on(date(2025, 1, 31), date(2025, 3, 1)) is Phase.PILOT
    assert phase_on(date(2025, 1, 31), date(2025, 1, 30)) is None
    assert phase_on(date(2025, 1, 31), date(2025, 4, 30)) is None


@given(st.dates(date(2000, 1, 1), date(2100, 1, 1)))
def test_ninety_day_view_tiles_about_ninety_days(start: date) -> None:
    define, pilot, decide = ninety_day_view(start)
    assert define.start == start
    assert (pilot.start - define.end).days == 1 and (decide.start - pilot.end).days == 1
    assert 88 <= (decide.end - start).days + 1 <= 92


# --- exit rules ------------------------------------------------------------------------------------------------


def test_scale_with_p_value() -> None:
    rec = evaluate(RULES, results(metric(0.08, p=0.01, ctw=0.99), guard(latency, -0.01)), DURING)
    assert rec.action is Action.SCALE
    assert rec.rule.startswith("scale_when: primary_lift_at_least=0.05, p_below=0.05")
    assert rec.evidence["primary_improvement"] == 0.08
    assert rec.evidence["primary_p_value"] == 0.01
    assert rec.evidence["guardrails_checked"] == 1


def test_scale_with_chance_to_win() -> None:
    rules = (ScaleWhen(primary_lift_at_least=0.05, chance_to_win_at_least=0.95),)
    assert evaluate(rules, results(metric(0.06, p=0.2, ctw=0.96)), DURING).action is Action.SCALE
    assert evaluate(rules, results(metric(0.06, p=0.2, ctw=0.94)), DURING).action is Action.CONTINUE


@pytest.mark.parametrize(
    ("primary", "why"),
    [
        (metric(0.04, p=0.001), "lift below the planned +5 %"),
        (metric(0.08, p=0.06), "not significant"),
    ],
)
def test_no_scale_without_lift_and_evidence(primary: MetricResult, why: str) -> None:
    assert evaluate(RULES, results(primary), DURING).action is Action.CONTINUE, why


def test_scale_blocked_by_a_breach_unless_allowed() -> None:
    breached = guard(errors, -0.001)  # error rate up, no regression accepted
    # the rollback rule fires first anyway; without it, the scale rule itself refuses
    assert evaluate(RULES, results(metric(0.08, p=0.01), breached), DURING).action is Action.ROLLBACK
    scale_only = (ScaleWhen(primary_lift_at_least=0.05, p_below=0.05),)
    assert evaluate(scale_only, results(metric(0.08, p=0.01), breached), DURING).action is Action.CONTINUE
    lenient = (ScaleWhen(primary_lift_at_least=0.05, p_below=0.05, no_guardrail_breach=False),)
    assert evaluate(lenient, results(metric(0.08, p=0.01), breached), DURING).action is Action.SCALE


def test_rollback_on_a_guardrail_worse_than_accepted() -> None:
    rec = evaluate(RULES, results(metric(0.02), guard(latency, -0.07), guard(errors, 0.01)), DURING)
    assert rec.action is Action.ROLLBACK
    assert rec.evidence["breached_guardrails"] == "p95 latency"
    assert rec.evidence["p95 latency_improvement"] == -0.07
    assert rec.evidence["p95 latency_accepted_regression"] == 0.05
    # within the accepted 5 %: no rollback
    assert evaluate(RULES, results(metric(0.02), guard(latency, -0.04)), DURING).action is Action.CONTINUE


def test_confident_breach_needs_the_whole_interval_beyond_the_limit() -> None:
    rules = (RollbackWhen(breach=BreachTest.CONFIDENT),)
    wide = guard(latency, -0.07, half_width=0.05)  # CI (−0.12, −0.02) reaches above −0.05
    narrow = guard(latency, -0.07, half_width=0.01)  # CI (−0.08, −0.06) wholly below
    assert evaluate(rules, results(metric(0.0), wide), DURING).action is Action.CONTINUE
    assert evaluate(rules, results(metric(0.0), narrow), DURING).action is Action.ROLLBACK


def test_rollback_when_the_primary_got_significantly_worse() -> None:
    rules = (RollbackWhen(any_guardrail_worse_than_accepted=False, primary_worse_p_below=0.01),)
    rec = evaluate(rules, results(metric(-0.06, p=0.001)), DURING)
    assert rec.action is Action.ROLLBACK and rec.evidence["primary_worse_p_below"] == 0.01
    assert evaluate(rules, results(metric(-0.06, p=0.02)), DURING).action is Action.CONTINUE
    assert evaluate(rules, results(metric(0.06, p=0.001)), DURING).action is Action.CONTINUE


def test_pause_on_srm_beats_everything() -> None:
    everything = results(metric(0.08, p=0.001), guard(latency, -0.2), srm=0.0001)
    rec = evaluate(RULES, everything, AFTER)
    assert rec.action is Action.PAUSE
    assert rec.evidence["srm_p_value"] == 0.0001
    assert "untrustworthy" in rec.reason
    assert rec.also_fired[0].startswith("rollback_when: ")  # what would have fired next
    assert evaluate(RULES, results(metric(0.0), srm=0.002), DURING).action is Action.CONTINUE
    assert evaluate(RULES, results(metric(0.0), srm=None), DURING).action is Action.CONTINUE  # not tested


def test_precedence_rollback_before_scale_before_stop() -> None:
    win_with_breach = results(metric(0.08, p=0.001), guard(latency, -0.2))
    assert evaluate(RULES, win_with_breach, AFTER).action is Action.ROLLBACK
    win_after_timebox = results(metric(0.08, p=0.001))
    assert evaluate(RULES, win_after_timebox, AFTER).action is Action.SCALE


def test_stop_when_the_timebox_is_over_without_a_clear_signal() -> None:
    rec = evaluate(RULES, results(metric(0.01, p=0.4)), AFTER)
    assert rec.action is Action.STOP
    assert rec.evidence["timebox_end"] == "2025-03-30" and rec.evidence["today"] == "2025-04-02"
    assert "without a clear signal" in rec.reason
    assert evaluate(RULES, results(metric(0.01, p=0.4)), date(2025, 3, 30)).action is Action.CONTINUE  # last day
    # a clear but too small effect: the default stop rule waits for no clear signal; a plain one stops
    assert evaluate(RULES, results(metric(0.02, p=0.01)), AFTER).action is Action.CONTINUE
    plain = (StopWhen(no_clear_signal=False),)
    assert evaluate(plain, results(metric(0.02, p=0.01)), AFTER).action is Action.STOP


def test_extend_while_the_sample_is_short_then_stop() -> None:
    short = results(metric(0.03, p=0.3), sample=12_000, planned=20_000)
    rec = evaluate(RULES, short, AFTER)
    assert rec.action is Action.EXTEND
    assert rec.extend_until == date(2025, 4, 13)
    assert rec.evidence["sample_size"] == 12_000 and rec.evidence["planned_sample_size"] == 20_000
    assert rec.also_fired == (describe_rule(StopWhen()),)
    # the extension was granted: 14 days later, still short, one more extension fits in 28 days
    extended = results(metric(0.03, p=0.3), sample=15_000, planned=20_000, timebox=TIMEBOX.extended(14))
    assert evaluate(RULES, extended, date(2025, 4, 14)).action is Action.EXTEND
    assert evaluate(RULES, extended, date(2025, 4, 13)).action is Action.CONTINUE  # inside the extended timebox
    # 28 days used: stop
    spent = results(metric(0.03, p=0.3), sample=18_000, planned=20_000, timebox=TIMEBOX.extended(28))
    assert evaluate(RULES, spent, date(2025, 4, 28)).action is Action.STOP
    # the planned sample reached: no extension, stop
    assert evaluate(RULES, results(metric(0.03, p=0.3)), AFTER).action is Action.STOP
    # an unconditional extension
    always = (ExtendWhen(by_days=7, up_to_days=7, sample_below_planned=False), StopWhen())
    assert evaluate(always, results(metric(0.03, p=0.3), sample=None), AFTER).action is Action.EXTEND


def test_continue_by_default() -> None:
    rec = evaluate(RULES, results(metric(0.03, p=0.2)), DURING)
    assert rec.action is Action.CONTINUE
    assert rec.rule == "continue: no exit rule fired"
    assert rec.evidence["timebox_over"] is False
    assert evaluate((), results(metric(0.5, p=0.0)), AFTER).action is Action.CONTINUE
    assert evaluate(DEFAULT_RULES, results(metric(0.5, p=0.0)), DURING).action is Action.CONTINUE


def test_rule_order_in_the_list_does_not_matter() -> None:
    r = results(metric(0.08, p=0.001), guard(latency, -0.2), srm=1e-6)
    assert {evaluate(order, r, AFTER).action for order in (RULES, tuple(reversed(RULES)))} == {Action.PAUSE}


def test_rules_are_validated() -> None:
    with pytest.raises(InvalidInputError, match="exactly one kind of evidence"):
        ScaleWhen(primary_lift_at_least=0.05)
    with pytest.raises(InvalidInputError, match="exactly one kind of evidence"):
        ScaleWhen(p_below=0.05, chance_to_win_at_least=0.95)
    with pytest.raises(InvalidInputError, match="p_below"):
        ScaleWhen(p_below=1.5)
    with pytest.raises(InvalidInputError, match="needs a condition"):
        RollbackWhen(any_guardrail_worse_than_accepted=False)
    with pytest.raises(InvalidInputError, match="needs a condition"):
        PauseWhen(srm=False)
    with pytest.raises(InvalidInputError, match="needs a condition"):
        StopWhen(timebox_over=False)
    with pytest.raises(InvalidInputError, match="up_to_days"):
        ExtendWhen(by_days=14, up_to_days=7)
    with pytest.raises(InvalidInputError, match="on the absolute scale"):
        evaluate([ScaleWhen(p_below=0.05, lift_kind=EffectKind.ABSOLUTE)], results(metric(0.1)), DURING)
    with pytest.raises(InvalidInputError, match="give its result on that scale"):
        GuardrailResult(Guardrail("g", Direction.DECREASE, 1.0, EffectKind.ABSOLUTE), metric(0.0))
    with pytest.raises(InvalidInputError, match="reversed"):
        MetricResult("m", EffectKind.RELATIVE, 0.0, (0.1, -0.1), 0.5, 0.5)


def test_rules_round_trip_through_configuration() -> None:
    config = [
        {"scale_when": {"primary_lift_at_least": 0.05, "chance_to_win_at_least": 0.95}},
        {"rollback_when": {"breach": "confident"}},
        {"pause_when": {}},
        {"stop_when": {"no_clear_signal": True}},
        {"extend_when": {"by_days": 7}},
    ]
    rules = parse_rules(config)
    assert rules[0] == ScaleWhen(primary_lift_at_least=0.05, chance_to_win_at_least=0.95)
    assert rules[1] == RollbackWhen(breach=BreachTest.CONFIDENT)
    assert parse_rules(rules_to_config(rules)) == rules
    with pytest.raises(InvalidInputError, match="unknown exit rule 'ship_when'"):
        parse_rules([{"ship_when": {}}])
    with pytest.raises(InvalidInputError, match="unexpected keyword"):
        parse_rules([{"pause_when": {"srm_threshold": 0.01}}])
    with pytest.raises(InvalidInputError, match="breach is one of estimate, confident"):
        parse_rules([{"rollback_when": {"breach": "maybe"}}])
    with pytest.raises(InvalidInputError, match="one key"):
        parse_rules([{"pause_when": {}, "stop_when": {}}])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"scale_when": {"primary_lift_at_least": "a", "p_below": 0.05}}, "primary_lift_at_least must be a finite"),
        ({"pause_when": {"srm_p_below": "x"}}, "pause_when.srm_p_below must be a finite number, not 'x'"),
        ({"extend_when": {"by_days": "14"}}, "extend_when.by_days must be a whole number, not '14'"),
        ({"extend_when": {"by_days": 7.5}}, "extend_when.by_days must be a whole number"),
        ({"stop_when": {"no_clear_signal": "yes"}}, "stop_when.no_clear_signal must be true or false"),
        ({"rollback_when": {"primary_worse_p_below": True}}, "must be a finite number or null, not True"),
        ({"stop_when": {"signal_p_below": float("nan")}}, "stop_when.signal_p_below must be a finite number"),
        ({"scale_when": [1]}, "scale_when takes a mapping of settings"),
    ],
)
def test_rule_settings_are_type_checked_when_parsed(config: dict[str, object], message: str) -> None:
    """A setting of the wrong type is refused when the rules are read (a text threshold used to be accepted and
    failed only at evaluation; a list of settings crashed with a TypeError)."""
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        parse_rules([config])
    fine = [
        {"rollback_when": {"primary_worse_p_below": None}},
        {"scale_when": {"p_below": 0.05, "primary_lift_at_least": 0}},  # an int where a number is expected
        {"extend_when": {"by_days": 7, "up_to_days": 14}},
    ]
    assert parse_rules(fine)[1] == ScaleWhen(primary_lift_at_least=0, p_below=0.05)


@given(
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    length=st.integers(0, 120),
    extended=st.integers(0, 60),
    offset=st.integers(-30, 240),
)
def test_days_left_count_today_and_reach_zero_when_the_timebox_is_over(
    start: date, length: int, extended: int, offset: int
) -> None:
    tb = Timebox(start, start + timedelta(days=length), extended)
    today = start + timedelta(days=offset)
    left = tb.days_left(today)
    text, tone = tb.status(today)
    if tb.is_over(today):
        assert left == 0 and tone == "over" and text.startswith("ended ")
    elif today < start:
        assert left == length + extended + 1 and tone == "future"
    else:
        # today and the days after it up to the (extended) end: on the day before the end, 2 days are left
        assert left == (tb.effective_end - today).days + 1 >= 1
        assert text == ("last day" if left == 1 else f"{left} days left")
        assert left == tb.days_left(today + timedelta(days=1)) + 1
