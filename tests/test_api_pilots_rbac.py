"""The access policy of the pilot, decision-log, outcome and retrospective endpoints, in the table style of
tests/test_api_rbac.py (columns: anon, view, c_tm, c_ws, admn, supr, othr).

The world (tests/api_world.py ``work=True``) gets, through the services: a running pilot of team alpha with
results and an evaluation (``{pilot_run}``), a decision linked to key result alpha (``{decision_a}``), a
postmortem of team alpha with an action item, and an anticipated and an actual outcome on epic PAY-1; per role a
draft pilot (``{pilot_draft_mine}``) and a decision (``{decision_mine}``) to move or supersede.

A team contributor writes its team's pilots, decisions, outcomes and retrospectives, but not workspace-level ones;
every read is open to members. A decision is never changed or deleted: PUT, PATCH and DELETE are 405 for everyone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import decisions, outcomes, pilots, retros
from okrflow.store.db import Database
from tests.api_world import ROLES, World, build_world
from tests.test_api_pilots import START, TODAY, pilot_body, two_days
from tests.test_api_rbac import _run_row

READ = (401, 200, 200, 200, 200, 200, 404)
TEAM_CREATE = (401, 403, 201, 201, 201, 201, 404)
TEAM_CHANGE = (401, 403, 200, 200, 200, 200, 404)
WS_CREATE = (401, 403, 403, 201, 201, 201, 404)
IMMUTABLE = (405, 405, 405, 405, 405, 405, 405)
W = "/workspaces/{ws_a}"
DAY = TODAY.isoformat()
RESULTS_CSV = f"day,variant,metric,n,conversions\n{START},control,checkout_conversion,5000,500\n"
OUTCOME = {
    "problem": "people abandon the cart",
    "expected_result": "more completed checkouts",
    "measured_by": "weekly conversion",
    "metric_key": "checkout_conversion",
    "target": 0.12,
    "by_date": DAY,
    "how_we_learn": "pilot P-1",
}
ACTUAL = {"result": "partially", "observed_on": DAY}

# fmt: off
PILOTS_MATRIX: list[tuple[str, str, tuple[int, ...], dict[str, Any] | str | None]] = [
    ("GET",    W + "/pilots?status=running",                      READ,         None),
    ("GET",    W + "/pilots/awaiting-decision",                   READ,         None),
    ("POST",   W + "/pilots",                                     TEAM_CREATE,
        {"key": "P-{i}", "title": "T", "problem": "P", "timebox_start": DAY, "timebox_end": DAY,
         "hypothesis": {"primary_metric": "m", "direction": "increase", "expected_effect": 0.1},
         "owner_person_id": "{person_alpha}", "team_id": "{team_alpha}"}),
    ("POST",   W + "/pilots",                                     WS_CREATE,
        {"key": "P-{i}", "title": "T", "problem": "P", "timebox_start": DAY, "timebox_end": DAY,
         "hypothesis": {"primary_metric": "m", "direction": "increase", "expected_effect": 0.1},
         "owner_person_id": "{person_alpha}"}),
    ("GET",    "/pilots/{pilot_run}",                             READ,         None),
    ("PATCH",  "/pilots/{pilot_run}",                             TEAM_CHANGE,  {"scope": "EU {i}"}),
    ("POST",   "/pilots/{pilot_draft_mine}/transitions",          TEAM_CHANGE,  {"to": "running"}),
    ("POST",   "/pilots/{pilot_run}/extend",                      TEAM_CREATE,
        {"decided_by": "Ada", "days": 7, "rationale": "the EU cohort started late"}),
    ("GET",    "/pilots/{pilot_run}/ninety-days",                 READ,         None),
    ("POST",   "/pilots/{pilot_run}/results",                     TEAM_CHANGE,
        {"rows": [{"day": DAY, "variant": "control", "metric": "checkout_conversion", "n": 10, "conversions": 1}]}),
    ("POST",   "/pilots/{pilot_run}/results/csv",                 TEAM_CHANGE,  RESULTS_CSV),
    ("GET",    "/pilots/{pilot_run}/results",                     READ,         None),
    ("GET",    "/pilots/{pilot_run}/readout",                     READ,         None),
    ("POST",   "/pilots/{pilot_run}/evaluate",                    TEAM_CHANGE,  None),
    ("GET",    "/pilots/{pilot_run}/evaluations",                 READ,         None),
    ("GET",    W + "/decisions?current_only=true",                READ,         None),
    ("POST",   W + "/decisions",                                  TEAM_CREATE,
        {"title": "D {i}", "decision": "x", "decided_by": "Ada", "links": [{"type": "pilot", "id": "{pilot_run}"}]}),
    ("POST",   W + "/decisions",                                  WS_CREATE,
        {"title": "D {i}", "decision": "x", "decided_by": "Ada"}),
    ("GET",    W + "/decisions/due-for-review",                   READ,         None),
    ("GET",    "/decisions/{decision_a}",                         READ,         None),
    ("PUT",    "/decisions/{decision_a}",                         IMMUTABLE,    {"title": "Edited"}),
    ("PATCH",  "/decisions/{decision_a}",                         IMMUTABLE,    {"title": "Edited"}),
    ("DELETE", "/decisions/{decision_a}",                         IMMUTABLE,    None),
    ("POST",   "/decisions/{decision_mine}/supersede",            TEAM_CREATE,  {"title": "Changed our mind {i}"}),
    ("GET",    "/work-items/{item_epic}/anticipated-outcome",     READ,         None),
    ("PUT",    "/work-items/{item_epic}/anticipated-outcome",     TEAM_CHANGE,  OUTCOME),
    ("GET",    "/work-items/{item_epic}/actual-outcome",          READ,         None),
    ("PUT",    "/work-items/{item_epic}/actual-outcome",          TEAM_CHANGE,  ACTUAL),
    ("GET",    W + "/outcomes/due",                               READ,         None),
    ("GET",    W + "/outcomes/realization-rate?start=2026-01-01&end=2026-12-31", READ, None),
    ("GET",    W + "/retrospectives?kind=postmortem",             READ,         None),
    ("POST",   W + "/retrospectives",                             TEAM_CREATE,
        {"title": "R {i}", "held_on": DAY, "team_id": "{team_alpha}"}),
    ("POST",   W + "/retrospectives",                             WS_CREATE,    {"title": "R {i}", "held_on": DAY}),
    ("GET",    "/retrospectives/{retro_a}",                       READ,         None),
    ("PATCH",  "/retrospectives/{retro_a}",                       TEAM_CHANGE,  {"learnings": "L {i}"}),
    ("GET",    "/retrospectives/{retro_a}/action-items",          READ,         None),
    ("POST",   "/retrospectives/{retro_a}/action-items",          TEAM_CREATE,
        {"title": "A {i}", "owner_person_id": "{person_alpha}", "due_on": DAY}),
    ("GET",    "/action-items/{action_a}",                        READ,         None),
    ("PATCH",  "/action-items/{action_a}",                        TEAM_CHANGE,  {"title": "A {i}"}),
    ("GET",    W + "/action-items/overdue",                       READ,         None),
]
# fmt: on


def build_pilot_world(db: Database) -> World:
    """The API world plus the objects of the module docstring (names in ``world.work`` and ``work_mine``)."""
    w = build_world(db, work=True)
    s_ = SYSTEM_ACTOR
    with db.write() as s:
        run = pilots.create_pilot(s, s_, w.ws_a, **pilot_body(w, "P-RUN"))
        pilots.transition(s, s_, run.id, "running")
        pilots.record_results(s, s_, run.id, two_days(500, 650, 201.0))
        pilots.evaluate(s, s_, run.id, TODAY)
        kr = [{"type": "key_result", "id": w.okr["kr_alpha"]}]
        decision = decisions.record_decision(
            s, s_, w.ws_a, title="Use vendor A", decision="Buy it", decided_by="Ada", now=TODAY, links=kr
        )
        retro = retros.create_retro(
            s,
            s_,
            w.ws_a,
            {
                "kind": "postmortem",
                "title": "Payments outage",
                "held_on": DAY,
                "team_id": w.team_alpha,
                "what_happened": "a config push",
                "impact": "failed checkouts",
            },
        )
        overdue = (TODAY - timedelta(days=3)).isoformat()
        item = retros.add_action(
            s, s_, retro.id, {"title": "Canary", "owner_person_id": w.person_alpha, "due_on": overdue}
        )
        epic = w.work["item_epic"]
        outcomes.set_anticipated_outcome(s, s_, epic, **OUTCOME)
        outcomes.record_actual_outcome(s, s_, epic, result="achieved", observed_on=TODAY)
        w.work.update(pilot_run=run.id, decision_a=decision.id, retro_a=retro.id, action_a=item.id)
        for i, role in enumerate(ROLES):
            draft = pilots.create_pilot(s, s_, w.ws_a, **pilot_body(w, f"P-D{i}"))
            mine = decisions.record_decision(
                s, s_, w.ws_a, title=f"Mine {i}", decision="x", decided_by="Ada", now=TODAY, links=kr
            )
            w.work_mine[role].update(pilot_draft_mine=draft.id, decision_mine=mine.id)
    return w


@pytest.mark.parametrize(
    ("method", "path", "expected", "body"),
    PILOTS_MATRIX,
    ids=[f"{m} {p}{' ' + str(sorted(b)) if isinstance(b, dict) else ''}" for m, p, _, b in PILOTS_MATRIX],
)
def test_pilots_rbac_matrix(db, method: str, path: str, expected: tuple[int, ...], body: Any) -> None:
    got: dict[str, int] = {}
    with build_pilot_world(db) as world:
        _run_row(world, method, path, body, got)
    assert got == dict(zip(ROLES, expected, strict=True))
