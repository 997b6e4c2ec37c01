"""Pilots and the decision log on both engines: lifecycle, results upsert, evaluation, immutable decisions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from okrflow.domain.errors import ConflictError, InvalidInputError, PermissionDeniedError
from okrflow.domain.work import WorkRecord
from okrflow.services import auth, decisions, imports, okr, pilots, sources, tenancy
from okrflow.store.models import AuditEntry, User
from okrflow.store.models_pilots import Decision, Pilot, PilotEvaluation, PilotResult
from okrflow.store.models_work import WorkItem

START = date(2026, 3, 2)
END = date(2026, 3, 29)
DURING = datetime(2026, 3, 16, 12, tzinfo=UTC)
T0 = datetime(2026, 1, 5, tzinfo=UTC)

RULES = [
    {"pause_when": {"srm_p_below": 0.001}},
    {"rollback_when": {"any_guardrail_worse_than_accepted": True}},
    {"scale_when": {"primary_lift_at_least": 0.05, "p_below": 0.05}},
    {"stop_when": {}},
]


def mean_row(day, variant, n, mean, sd):
    s = n * mean
    return {
        "day": day,
        "variant": variant,
        "metric": "latency_ms",
        "n": n,
        "sum": s,
        "sum_squares": sd**2 * (n - 1) + s**2 / n,
    }


def conv_row(day, variant, n, conversions):
    return {"day": day, "variant": variant, "metric": "checkout_conversion", "n": n, "conversions": conversions}


def two_days(control_conv, treatment_conv, treatment_latency, *, n_control=5000, n_treatment=5000):
    """Two days of planted data, equal halves: conversions per day and latency means."""
    rows = []
    for day in (START, START + timedelta(days=1)):
        rows += [
            conv_row(day, "control", n_control, control_conv),
            conv_row(day, "treatment", n_treatment, treatment_conv),
            mean_row(day, "control", n_control, 200.0, 50.0),
            mean_row(day, "treatment", n_treatment, treatment_latency, 50.0),
        ]
    return rows


@pytest.fixture
def world(db, admin_setup, admin_actor):
    ws = admin_setup.workspace_id
    with db.write() as s:
        team = tenancy.create_team(s, admin_actor, ws, "checkout", "Checkout")
        owner = tenancy.create_person(s, admin_actor, ws, "Ana Owner", team_id=team.id)
        periods = okr.create_year(s, admin_actor, ws, 2026)
        obj = okr.create_objective(s, admin_actor, ws, periods[1].id, "Smooth checkout", team_id=team.id)
        kr = okr.create_key_result(s, admin_actor, obj.id, "Conversion 10 → 12 %", "increase", baseline=10, target=12)
        src = sources.create_source(s, admin_actor, ws, "files", "files", team_id=team.id)
    imports.import_records(
        db,
        admin_actor,
        src.id,
        [
            WorkRecord("1", "Initiative", "In Progress", T0, key="INI-1", title="One-page checkout"),
            WorkRecord("2", "Story", "In Progress", T0, key="ST-2", parent_external_id="1"),
        ],
    )
    with db.read() as s:
        ini = s.scalar(select(WorkItem).where(WorkItem.key == "INI-1"))
        story = s.scalar(select(WorkItem).where(WorkItem.key == "ST-2"))
    return {"ws": ws, "team": team, "owner": owner, "kr": kr, "initiative": ini, "story": story, "actor": admin_actor}


def make_pilot(s, world, key="P-1", **extra):
    fields = {
        "key": key,
        "title": "One-page checkout",
        "problem": "Too many people drop off between cart and payment",
        "hypothesis": {
            "primary_metric": "checkout_conversion",
            "direction": "increase",
            "expected_effect": 0.15,
            "effect_kind": "relative",
            "statement": "cut step drop-off by 15 % in four weeks",
        },
        "timebox_start": START,
        "timebox_end": END,
        "owner_person_id": world["owner"].id,
        "team_id": world["team"].id,
        "risks": [{"description": "payment provider outage", "likelihood": 2, "impact": 5}],
        "guardrails": [{"metric": "latency_ms", "direction": "decrease", "accepted_regression": 0.05}],
        "rollout": [
            {"cohort": "staff", "exposure_percent": 5, "start": "2026-03-02", "split": [50, 50]},
            {"cohort": "10 % of EU", "exposure_percent": 10, "start": "2026-03-09", "split": [50, 50]},
        ],
        "exit_rules": RULES,
        "key_result_id": world["kr"].id,
        "work_item_id": world["initiative"].id,
    } | extra
    return pilots.create_pilot(s, world["actor"], world["ws"], **fields)


def running_pilot(db, world, rows, key="P-1"):
    with db.write() as s:
        p = make_pilot(s, world, key=key)
        pilots.transition(s, world["actor"], p.id, "running")
        if rows:
            pilots.record_results(s, world["actor"], p.id, rows)
    return p


def test_create_validates_through_the_domain_and_links_in_the_workspace(db, world):
    with db.write() as s:
        p = make_pilot(s, world)
        assert p.status == "draft" and p.planned_split == {"control": 0.5, "treatment": 0.5}
        assert p.hypothesis["method"] == "sequential" and p.hypothesis["alpha"] == 0.05
        assert p.exit_rules[2] == {
            "scale_when": {
                "primary_lift_at_least": 0.05,
                "p_below": 0.05,
                "chance_to_win_at_least": None,
                "no_guardrail_breach": True,
                "lift_kind": "relative",
                "breach": "estimate",
            }
        }
        (define, pilot_month, _decide) = pilots.ninety_days(s, world["actor"], p.id)
        assert pilot_month.start == START and define.start == date(2026, 2, 2)
    cases = [
        ({"key": "P-2", "timebox_end": date(2026, 3, 1)}, "ends"),
        ({"key": "P-2", "work_item_id": world["story"].id}, "initiative or epic"),
        ({"key": "P-2", "exit_rules": [{"scale_when": {}}]}, "exactly one kind of evidence"),
        ({"key": "P-2", "planned_split": {"control": 0.7, "treatment": 0.3}}, "differs from the rollout"),
        ({"key": "P-2", "owner_person_id": None}, "needs an owner"),
        ({"key": "P-2", "key_result_id": 99999}, "key result 99999 does not exist"),
        ({"key": "P-2", "risks": [{"description": "x", "likelihood": 6, "impact": 1}]}, "likelihood"),
        ({"key": "P-2", "entry_criteria": "tracking in place"}, "entry_criteria is a list of texts"),
        (
            {"key": "P-2", "guardrails": [{"metric": "latency_ms", "direction": "band"}]},
            "guardrail direction is one of increase, decrease, not 'band'",
        ),
    ]
    for extra, message in cases:
        with pytest.raises(InvalidInputError, match=message), db.write() as s:
            make_pilot(s, world, **extra)
    with pytest.raises(ConflictError, match="exists already"), db.write() as s:
        make_pilot(s, world)


def test_lifecycle_transitions_are_audited_and_invalid_ones_refused(db, world):
    a = world["actor"]
    with db.write() as s:
        p = make_pilot(s, world)
        pilots.transition(s, a, p.id, "running", expected_version=p.version)
    refused = "cannot go from running to closed; from running it may go to decided"
    with pytest.raises(InvalidInputError, match=refused), db.write() as s:
        pilots.transition(s, a, p.id, "closed")
    with pytest.raises(InvalidInputError, match="pilot status is one of"), db.write() as s:
        pilots.transition(s, a, p.id, "finished")
    with db.write() as s:
        pilots.transition(s, a, p.id, "decided")
        pilots.transition(s, a, p.id, "closed")
    with pytest.raises(InvalidInputError, match="nothing \\(closed is final\\)"), db.write() as s:
        pilots.transition(s, a, p.id, "running")
    with db.read() as s:
        moves = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "transition", AuditEntry.entity_id == str(p.id))
            .order_by(AuditEntry.seq)
        ).all()
        assert [(m.before["status"], m.after["status"]) for m in moves] == [
            ("draft", "running"),
            ("running", "decided"),
            ("decided", "closed"),
        ]


def test_exit_rules_editable_in_draft_only_and_versions_checked(db, world):
    a = world["actor"]
    with db.write() as s:
        p = make_pilot(s, world)
        version = p.version
        pilots.update_pilot(s, a, p.id, {"exit_rules": RULES[:2]}, expected_version=version)
        assert len(p.exit_rules) == 2
    with pytest.raises(Exception, match="changed by someone else"), db.write() as s:
        pilots.update_pilot(s, a, p.id, {"scope": "EU web"}, expected_version=version)
    with db.write() as s:
        pilots.transition(s, a, p.id, "running")
        pilots.update_pilot(s, a, p.id, {"scope": "EU web", "exit_rules": RULES[:2]})  # unchanged rules: fine
    with pytest.raises(ConflictError, match="exit_rules of pilot P-1 can only change in draft"), db.write() as s:
        pilots.update_pilot(s, a, p.id, {"exit_rules": RULES})


def test_results_upsert_is_idempotent_and_all_or_nothing(db, world):
    a = world["actor"]
    rows = two_days(500, 650, 201.0)
    with db.write() as s:
        p = make_pilot(s, world)
    with pytest.raises(ConflictError, match="start it first"), db.write() as s:
        pilots.record_results(s, a, p.id, rows)
    with db.write() as s:
        pilots.transition(s, a, p.id, "running")
        first = pilots.record_results(s, a, p.id, rows)
    with db.write() as s:
        again = pilots.record_results(s, a, p.id, rows)
        changed = pilots.record_results(s, a, p.id, [conv_row(START, "treatment", 5000, 640)])
    assert (first.created, first.updated, first.unchanged) == (8, 0, 0)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 8)
    assert (changed.created, changed.updated) == (0, 1)
    bad = [
        conv_row(START + timedelta(days=2), "control", 5000, 500),  # fine, but the batch fails
        conv_row(START, "variant_b", 10, 1),
        conv_row(START, "control", 10, 11),
        {"day": START, "variant": "control", "metric": "latency_ms", "n": 10, "conversions": 3},
        {"day": START, "variant": "control", "metric": "revenue", "n": 10, "conversions": 3},
    ]
    with (
        pytest.raises(InvalidInputError, match="4 result row\\(s\\) rejected, nothing stored") as info,
        db.write() as s,
    ):
        pilots.record_results(s, a, p.id, bad)
    errors = info.value.details["errors"]
    assert errors[0].startswith("line 2: unknown variant 'variant_b'")
    assert "cannot exceed n" in errors[1] and "is a mean metric" in errors[2] and "neither the primary" in errors[3]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(PilotResult)) == 8
        readout = pilots.results(s, a, p.id)
    assert readout.units == {"control": 10000, "treatment": 10000}
    assert readout.primary.totals["treatment"].conversions == 640 + 650
    comparison = readout.primary.comparisons["treatment"]
    assert comparison.relative.estimate == pytest.approx(1290 / 1000 - 1)
    assert readout.guardrails[0].comparisons["treatment"].lower_is_better
    assert readout.srm.p_value == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("rows", "action", "rule_start", "evidence_key"),
    [
        (two_days(500, 650, 201.0), "scale", "scale_when: ", "primary_p_value"),
        (two_days(500, 650, 220.0), "rollback", "rollback_when: ", "latency_ms_improvement"),
        (two_days(500, 650, 201.0, n_treatment=5600), "pause", "pause_when: ", "srm_p_value"),
        (two_days(500, 505, 200.0), "continue", "continue: no exit rule fired", "primary_p_value"),
    ],
)
def test_evaluate_on_planted_data(db, world, rows, action, rule_start, evidence_key):
    p = running_pilot(db, world, rows)
    with db.write() as s:
        done = pilots.evaluate(s, world["actor"], p.id, DURING)
    rec = done.recommendation
    assert rec.action.value == action and rec.rule.startswith(rule_start)
    assert evidence_key in rec.evidence
    with db.read() as s:
        (stored,) = s.scalars(select(PilotEvaluation)).all()
        assert stored.action == action and stored.rule == rec.rule
        assert stored.evidence["reason"] == rec.reason and evidence_key in stored.evidence["numbers"]
        assert stored.evidence["readout"]["units"]["control"] == 10000
        assert pilots.latest_evaluation(s, world["actor"], p.id).id == stored.id
    if action == "rollback":
        assert rec.evidence["breached_guardrails"] == "latency_ms"
        assert rec.evidence["latency_ms_improvement"] == pytest.approx(-0.1, abs=1e-9)
    if action == "pause":
        assert rec.evidence["srm_p_value"] < 0.001


def test_evaluate_without_data_and_after_the_timebox(db, world):
    p = running_pilot(db, world, [])
    with db.write() as s:
        rec = pilots.evaluate(s, world["actor"], p.id, DURING).recommendation
    assert rec.action.value == "continue" and "not enough data" in rec.reason
    with db.write() as s:
        pilots.record_results(s, world["actor"], p.id, two_days(500, 505, 200.0))
        rec = pilots.evaluate(s, world["actor"], p.id, END + timedelta(days=2)).recommendation
    assert rec.action.value == "stop" and "without a clear signal" in rec.reason


def test_pilots_awaiting_a_decision(db, world):
    """Running pilots whose latest evaluation says anything but continue, or whose timebox (with extensions) is
    over; drafts and the others are not listed."""
    scaling = running_pilot(db, world, two_days(500, 650, 201.0), key="P-1")
    quiet = running_pilot(db, world, two_days(500, 505, 200.0), key="P-2")
    with db.write() as s:
        make_pilot(s, world, key="P-3")  # a draft
        pilots.evaluate(s, world["actor"], scaling.id, DURING)
        pilots.evaluate(s, world["actor"], quiet.id, DURING)
    with db.read() as s:
        waiting = pilots.awaiting_decision(s, world["actor"], world["ws"], DURING)
        assert [(w.pilot.key, w.recommended, w.reason) for w in waiting] == [
            ("P-1", "scale", "the exit rules recommend scale")
        ]
        after = pilots.awaiting_decision(s, world["actor"], world["ws"], END + timedelta(days=1))
        assert [(w.pilot.key, w.recommended) for w in after] == [("P-1", "scale"), ("P-2", "continue")]
        assert after[1].reason == f"the timebox ended on {END.isoformat()}; evaluate it and decide"
        assert after[1].timebox_end == END
    with db.write() as s:
        pilots.extend_timebox(s, world["actor"], s.get(Pilot, quiet.id), 7)
    with db.read() as s:
        after = pilots.awaiting_decision(s, world["actor"], world["ws"], END + timedelta(days=1))
        assert [w.pilot.key for w in after] == ["P-1"]
        assert pilots.awaiting_decision(s, world["actor"], world["ws"], END + timedelta(days=8))[1].pilot.key == "P-2"
    with db.write() as s:
        decide(s, world, pilot_id=scaling.id, action="scale")
    with db.read() as s:  # decided: no longer waiting
        assert [w.pilot.key for w in pilots.awaiting_decision(s, world["actor"], world["ws"], DURING)] == []


def test_viewer_reads_but_cannot_write(db, world, admin_setup):
    with db.write() as s:
        p = make_pilot(s, world)
        user = tenancy.create_user(s, world["actor"], "vera", "a-long-password-1")
        tenancy.create_membership(s, world["actor"], world["ws"], user.id, "viewer")
    with db.read() as s:
        viewer = auth.actor_for_user(s, s.get(User, user.id))
        assert pilots.get_pilot(s, viewer, p.id).key == "P-1"
    with pytest.raises(PermissionDeniedError, match="contributor role on the pilot's team"), db.write() as s:
        pilots.transition(s, viewer, p.id, "running")


# ------------------------------------------------------------------ decisions


def decide(s, world, **extra):
    fields = {
        "title": "Ship the one-page checkout",
        "decision": "Roll out to everyone",
        "decided_by": "Ana Owner",
        "now": DURING,
        "raci": {
            "responsible": [world["owner"].id],
            "accountable": ["Carla CPO"],
            "consulted": ["Payments team"],
            "informed": ["Support"],
        },
        "review_on": date(2026, 6, 1),
        "links": [{"type": "key_result", "id": world["kr"].id}, {"type": "work_item", "id": world["initiative"].id}],
    } | extra
    return decisions.record_decision(s, world["actor"], world["ws"], **fields)


def test_decision_freezes_evidence_and_moves_the_pilot(db, world):
    p = running_pilot(db, world, two_days(500, 650, 201.0))
    with db.write() as s:
        pilots.evaluate(s, world["actor"], p.id, DURING)
        d = decide(s, world, pilot_id=p.id, action="scale")
        assert d.action == "scale" and d.recommended_action == "scale" and not d.overrides_recommendation
        assert d.links[0] == {"type": "pilot", "id": p.id}
        assert d.raci["responsible"] == [{"name": "Ana Owner", "person_id": world["owner"].id}]
        assert d.evidence["recommendation"]["action"] == "scale"
        assert d.evidence["recommendation"]["numbers"]["primary_p_value"] < 0.05
        frozen_ctr = d.evidence["readout"]["primary"]["variants"]["treatment"]["mean"]
        assert frozen_ctr == pytest.approx(0.13)
        assert pilots.get_pilot(s, world["actor"], p.id).status == "decided"
    # New data later does not change what was frozen.
    with db.write() as s:
        pilots.record_results(s, world["actor"], p.id, [conv_row(START, "treatment", 5000, 100)])
    with db.read() as s:
        assert s.get(Decision, d.id).evidence["readout"]["primary"]["variants"]["treatment"]["mean"] == frozen_ctr


def test_override_without_rationale_is_refused(db, world):
    p = running_pilot(db, world, two_days(500, 650, 220.0))
    with db.write() as s:
        assert pilots.evaluate(s, world["actor"], p.id, DURING).recommendation.action.value == "rollback"
    refused = r"overrides the recommendation \(rollback\).*give a rationale"
    with pytest.raises(InvalidInputError, match=refused), db.write() as s:
        decide(s, world, pilot_id=p.id, action="scale")
    with pytest.raises(InvalidInputError, match="say which action"), db.write() as s:
        decide(s, world, pilot_id=p.id)
    with db.write() as s:
        d = decide(s, world, pilot_id=p.id, action="scale", rationale="latency fix ships next week")
        assert d.overrides_recommendation and d.recommended_action == "rollback"


def test_decision_validation(db, world):
    cases = [
        ({"raci": {"accountable": ["A", "B"]}}, "exactly one person is accountable"),
        ({"raci": {"owner": ["A"]}}, "unknown RACI role"),
        ({"raci": {"informed": [99999]}}, "person 99999 does not exist"),
        ({"links": [{"type": "incident", "id": 4242}]}, "incident 4242 does not exist"),
        ({"links": [{"type": "wiki", "id": 1}]}, "a link's type is one of"),
        ({"review_on": date(2026, 1, 1)}, "review date cannot be before"),
        ({"decision": " "}, "the decision must have"),
    ]
    for extra, message in cases:
        with pytest.raises(InvalidInputError, match=message), db.write() as s:
            decide(s, world, **extra)


def test_decisions_are_immutable_and_supersede_chains(db, world):
    a = world["actor"]
    with db.write() as s:
        first = decide(s, world, title="Use vendor A")
    with pytest.raises(ConflictError, match="cannot be changed or deleted"), db.write() as s:
        s.get(Decision, first.id).rationale = "edited later"
    with pytest.raises(ConflictError, match="cannot be changed or deleted"), db.write() as s:
        s.delete(s.get(Decision, first.id))
    assert not hasattr(decisions, "update_decision")
    with db.write() as s:
        second = decisions.supersede(
            s, a, first.id, {"title": "Use vendor B", "rationale": "A was too slow"}, now=DURING
        )
        assert second.supersedes_id == first.id and second.decided_by == "Ana Owner"
        assert second.evidence["supersedes"]["title"] == "Use vendor A"
    refused = rf"already superseded by decision {second.id} \('Use vendor B'\)"
    with pytest.raises(ConflictError, match=refused), db.write() as s:
        decisions.supersede(s, a, first.id, {"title": "Use vendor C"}, now=DURING)
    with db.write() as s:
        third = decisions.supersede(s, a, second.id, {"title": "Use vendor C"}, now=DURING)
    with db.read() as s:
        for d in (first, second, third):
            assert [x.id for x in decisions.chain(s, a, d.id)] == [first.id, second.id, third.id]
        current = decisions.list_decisions(s, a, world["ws"], current_only=True)
        assert [d.id for d in current] == [third.id]
        assert len(decisions.list_decisions(s, a, world["ws"], link_type="key_result", link_id=world["kr"].id)) == 3
        assert [d.id for d in decisions.decisions_due_for_review(s, a, world["ws"], date(2026, 6, 1))] == [third.id]
        assert decisions.decisions_due_for_review(s, a, world["ws"], date(2026, 5, 31)) == []


@pytest.mark.parametrize(
    "statement",
    ["UPDATE decisions SET rationale = 'edited behind the app' WHERE id = :id", "DELETE FROM decisions WHERE id = :id"],
)
def test_the_database_itself_refuses_changing_a_decision(db, world, statement):
    """Raw SQL (no ORM guard in the way) is refused by the triggers of migration 0006 on both engines."""
    with db.write() as s:
        d = decide(s, world, title="Use vendor A")
    with pytest.raises(ConflictError, match="cannot be changed or deleted") as refused, db.write() as s:
        s.execute(text(statement), {"id": d.id})
    assert isinstance(refused.value.__cause__, IntegrityError)  # raised by the database, not by the ORM guard
    with db.read() as s:
        kept = s.get(Decision, d.id)
        assert kept is not None and kept.rationale == ""


def test_decision_log_filters_by_action(db, world):
    p = running_pilot(db, world, two_days(500, 650, 201.0))
    with db.write() as s:
        pilots.evaluate(s, world["actor"], p.id, DURING)
        scaled = decide(s, world, pilot_id=p.id, action="scale")
        decide(s, world, title="Hire a second designer")
    with db.read() as s:
        found = decisions.list_decisions(s, world["actor"], world["ws"], action="scale")
        assert [d.id for d in found] == [scaled.id]
        with pytest.raises(InvalidInputError, match="action is one of"):
            decisions.list_decisions(s, world["actor"], world["ws"], action="ship-it")


def test_domain_errors_name_their_field(db, world):
    """The API reports which field a rule of the domain refused (RFC 9457 ``errors[].field``)."""
    stage = {"cohort": "all", "exposure_percent": 50, "start": "2026-03-10", "split": [50, 50]}
    cases = [
        ({"timebox_end": date(2026, 3, 1)}, "timebox_end", "ends"),
        ({"exit_rules": [{"scale_when": {}}]}, "exit_rules", "exactly one kind of evidence"),
        ({"exit_rules": [{"ship_when": {}}]}, "exit_rules", "unknown exit rule"),
        ({"guardrails": [{"metric": "checkout_conversion", "direction": "increase"}]}, "guardrails", "primary"),
        ({"risks": [{"description": "x", "likelihood": 6, "impact": 1}]}, "risks", "likelihood"),
        ({"rollout": [*make_rollout(), stage | {"exposure_percent": 1}]}, "rollout", "ramp up"),
        (
            {"hypothesis": {"primary_metric": "x", "direction": "increase", "expected_effect": -1}},
            "hypothesis",
            "positive",
        ),
    ]
    for extra, field, message in cases:
        with pytest.raises(InvalidInputError, match=message) as info, db.write() as s:
            make_pilot(s, world, key="P-9", **extra)
        assert info.value.details["field"] == field, (extra, info.value.details)


def make_rollout():
    return [
        {"cohort": "staff", "exposure_percent": 5, "start": "2026-03-02", "split": [50, 50]},
        {"cohort": "10 % of EU", "exposure_percent": 10, "start": "2026-03-09", "split": [50, 50]},
    ]


def test_results_with_line_numbers_and_malformed_numbers_are_rejected_not_crashed(db, world):
    """Rows from a file carry their line numbers; texts, floats for n and huge values are rejected rows."""
    p = running_pilot(db, world, [])
    bad = [
        conv_row(START, "control", 5000, 500),
        conv_row(START, "treatment", "5000", 500),  # a text where a count belongs
        conv_row(START, "treatment", 5000, "many"),
        mean_row(START, "control", 5000, 200.0, 50.0) | {"sum": 1e200},  # would overflow sum²
        conv_row(START, "treatment", pilots.MAX_UNITS + 1, 1),  # beyond the integer column
        {"day": START, "variant": 7, "metric": "checkout_conversion", "n": 10, "conversions": 1},
    ]
    with pytest.raises(InvalidInputError, match="5 result row\\(s\\) rejected") as info, db.write() as s:
        pilots.record_results(s, world["actor"], p.id, bad, lines=[2, 3, 4, 5, 6, 8])
    errors = info.value.details["errors"]
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4", "line 5", "line 6", "line 8"]
    assert "n must be a whole number" in errors[0] and "conversions must be a finite number" in errors[1]
    assert "sum must be a finite number" in errors[2] and "variant must be text" in errors[4]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(PilotResult)) == 0


def test_only_a_running_pilot_is_extended(db, world):
    p = running_pilot(db, world, two_days(500, 650, 201.0))
    with db.write() as s:
        pilots.evaluate(s, world["actor"], p.id, DURING)
        decide(s, world, pilot_id=p.id, action="scale")
    with pytest.raises(ConflictError, match="only a running pilot's timebox can be extended"), db.write() as s:
        decide(s, world, pilot_id=p.id, action="extend", extend_days=7, rationale="more data")


def test_a_decision_freezes_a_fresh_recommendation(db, world):
    """Results that arrived after the last evaluation are evaluated before the decision freezes them."""
    p = running_pilot(db, world, two_days(500, 505, 200.0))
    with db.write() as s:
        assert pilots.evaluate(s, world["actor"], p.id, DURING).recommendation.action.value == "continue"
        pilots.record_results(s, world["actor"], p.id, two_days(500, 650, 201.0))  # the lift shows now
    with db.write() as s:
        d = decide(s, world, pilot_id=p.id, action="scale")  # no rationale needed: scale is what the rules say now
        assert d.recommended_action == "scale" and not d.overrides_recommendation
        assert d.evidence["recommendation"]["action"] == "scale"
