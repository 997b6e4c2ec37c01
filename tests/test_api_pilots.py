"""The pilot endpoints on the API test world (tests/api_world.py ``work=True``), on SQLite and PostgreSQL: the
record's lifecycle, results as JSON and CSV (all-or-nothing with a report per row or line), the readout (the
service's numbers, plain floats), the exit-rule evaluation, decisions on a pilot with and without an override
rationale, ETag / If-Match, and bad inputs as problem details that name the field (never a 500).

"Today" is the server's clock, so the pilots here run from two weeks ago to two weeks ahead.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.metrics import experiments as ex
from okrflow.services import pilots
from okrflow.store.models_pilots import Decision, PilotResult
from tests.api_world import API, World, build_world, user_token

TODAY = datetime.now(UTC).date()
START = TODAY - timedelta(days=14)
END = TODAY + timedelta(days=14)
RULES = [
    {"pause_when": {"srm_p_below": 0.001}},
    {"rollback_when": {"any_guardrail_worse_than_accepted": True}},
    {"scale_when": {"primary_lift_at_least": 0.05, "p_below": 0.05}},
    {"stop_when": {}},
]
CSV_HEADER = "day,variant,metric,n,conversions,sum,sum_squares\n"


@pytest.fixture
def world(db):
    with build_world(db, work=True) as w:
        yield w


def call(world: World, method: str, path: str, role: str = "admin", **kw: Any):
    headers = world.headers(role, **kw.pop("headers", {}))
    return world.client.request(method, API + path, headers=headers, **kw)


def problem(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


def fields_of(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body.get("errors", [])]


def pilot_body(world: World, key: str = "P-1", **extra: Any) -> dict[str, Any]:
    """A pilot of team alpha, owned by Ada, serving KR alpha and epic PAY-1: checkout conversion up 15 %, latency
    (lower is better) may regress 5 %; the rules scale at +5 % with p < 0.05."""
    return {
        "key": key,
        "title": "One-page checkout",
        "problem": "Too many people drop off between cart and payment",
        "hypothesis": {
            "primary_metric": "checkout_conversion",
            "direction": "increase",
            "expected_effect": 0.15,
            "statement": "cut step drop-off by 15 % in four weeks",
        },
        "timebox_start": START.isoformat(),
        "timebox_end": END.isoformat(),
        "owner_person_id": world.person_alpha,
        "team_id": world.team_alpha,
        "risks": [{"description": "payment provider outage", "likelihood": 2, "impact": 5}],
        "guardrails": [{"metric": "latency_ms", "direction": "decrease", "accepted_regression": 0.05}],
        "rollout": [{"cohort": "10 % of EU", "exposure_percent": 10, "start": START.isoformat(), "split": [50, 50]}],
        "exit_rules": RULES,
        "key_result_id": world.okr["kr_alpha"],
        "work_item_id": world.work["item_epic"],
    } | extra


def conv_row(day: date, variant: str, n: int, conversions: int) -> dict[str, Any]:
    return {
        "day": day.isoformat(),
        "variant": variant,
        "metric": "checkout_conversion",
        "n": n,
        "conversions": conversions,
    }


def mean_row(day: date, variant: str, n: int, mean: float, sd: float) -> dict[str, Any]:
    s = n * mean
    return {
        "day": day.isoformat(),
        "variant": variant,
        "metric": "latency_ms",
        "n": n,
        "sum": s,
        "sum_squares": sd**2 * (n - 1) + s**2 / n,
    }


def two_days(control_conv: int, treatment_conv: int, treatment_latency: float) -> list[dict[str, Any]]:
    """Planted data on the first two days, 5000 units per variant a day: conversions and latency means."""
    rows = []
    for day in (START, START + timedelta(days=1)):
        rows += [
            conv_row(day, "control", 5000, control_conv),
            conv_row(day, "treatment", 5000, treatment_conv),
            mean_row(day, "control", 5000, 200.0, 50.0),
            mean_row(day, "treatment", 5000, treatment_latency, 50.0),
        ]
    return rows


def running(world: World, key: str = "P-1", rows: list[dict[str, Any]] | None = None, **extra: Any) -> int:
    """A pilot created, started and given ``rows`` through the API; its id."""
    r = call(world, "POST", f"/workspaces/{world.ws_a}/pilots", json=pilot_body(world, key, **extra))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert call(world, "POST", f"/pilots/{pid}/transitions", json={"to": "running"}).status_code == 200
    if rows:
        r = call(world, "POST", f"/pilots/{pid}/results", json={"rows": rows})
        assert r.status_code == 200, r.text
    return pid


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_HEADER.strip().split(","), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def count_results(world: World) -> int:
    with world.db.read() as s:
        return s.scalar(select(func.count()).select_from(PilotResult)) or 0


def all_finite(value: Any) -> bool:
    if isinstance(value, dict):
        return all(all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(all_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


# ------------------------------------------------------------------ the whole loop


def test_create_run_results_readout_evaluate_and_decide(world):
    ws = world.ws_a
    r = call(world, "POST", f"/workspaces/{ws}/pilots", json=pilot_body(world))
    assert r.status_code == 201, r.text
    pilot = r.json()
    pid = pilot["id"]
    assert r.headers["location"] == f"{API}/pilots/{pid}" and r.headers["etag"] == '"1"'
    assert pilot["status"] == "draft" and pilot["planned_split"] == {"control": 0.5, "treatment": 0.5}
    assert pilot["hypothesis"]["method"] == "sequential" and pilot["timebox_effective_end"] == END.isoformat()
    assert pilot["exit_rules"][2]["scale_when"]["p_below"] == 0.05
    assert call(world, "GET", f"/pilots/{pid}").headers["etag"] == '"1"'
    assert [p["key"] for p in call(world, "GET", f"/workspaces/{ws}/pilots?status=draft").json()] == ["P-1"]
    assert call(world, "GET", f"/workspaces/{ws}/pilots?status=running").json() == []

    # Results of a draft are refused: the pilot has not started.
    refused = problem(call(world, "POST", f"/pilots/{pid}/results", json={"rows": two_days(500, 650, 201.0)}), 409)
    assert "start it first" in refused["detail"]
    started = call(world, "POST", f"/pilots/{pid}/transitions", json={"to": "running"}, headers={"If-Match": '"1"'})
    assert started.status_code == 200 and started.json()["status"] == "running" and started.headers["etag"] == '"2"'

    # Day one as JSON, day two as CSV: the same upsert.
    rows = two_days(500, 650, 201.0)
    day_one, day_two = rows[:4], rows[4:]
    r = call(world, "POST", f"/pilots/{pid}/results", json={"rows": day_one})
    assert r.json() == {"created": 4, "updated": 0, "unchanged": 0, "total": 4}
    r = call(world, "POST", f"/pilots/{pid}/results/csv", content=to_csv(day_two), headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 4, "updated": 0, "unchanged": 0, "total": 4}
    stored = call(world, "GET", f"/pilots/{pid}/results").json()
    assert len(stored) == 8 and {s["source"] for s in stored} == {"api", "csv"}

    readout = call(world, "GET", f"/pilots/{pid}/readout")
    assert readout.status_code == 200
    got = readout.json()
    with world.db.read() as s:
        want = pilots.results(s, SYSTEM_ACTOR, pid)
    assert all_finite(got) and "NaN" not in readout.text
    assert got["units"] == {"control": 10000, "treatment": 10000} and got["sample_size"] == 20000
    assert got["first_day"] == START.isoformat() and got["method"] == "sequential"
    primary = got["primary"]
    comparison = primary["comparisons"]["treatment"]
    expected = want.primary.comparisons["treatment"]
    assert primary["kind"] == "proportion" and primary["variants"]["treatment"]["conversions"] == 1300
    assert comparison["relative"]["estimate"] == pytest.approx(expected.relative.estimate, rel=1e-12)
    assert comparison["relative"]["estimate"] == pytest.approx(1300 / 1000 - 1)
    assert comparison["relative"]["ci"] == pytest.approx(list(expected.relative.ci), rel=1e-12)
    assert comparison["absolute"]["p_value"] == pytest.approx(expected.absolute.p_value, rel=1e-9, abs=1e-300)
    assert comparison["chance_to_win"] == pytest.approx(expected.chance_to_win, rel=1e-12)
    assert comparison["risk"] == pytest.approx(list(expected.risk), rel=1e-9, abs=1e-300)
    assert comparison["srm"]["variants"] == ["control", "treatment"] and comparison["srm"]["p_value"] == 1.0
    assert got["srm"]["observed"] == [10000, 10000] and got["srm"]["mismatch"] is False
    latency = got["guardrails"][0]
    assert latency["metric"] == "latency_ms" and latency["lower_is_better"] is True
    assert latency["accepted_regression"] == 0.05 and latency["variants"]["control"]["mean"] == pytest.approx(200.0)
    assert latency["comparisons"]["treatment"]["absolute"]["estimate"] == pytest.approx(1.0)

    # Evaluate: the scale rule fires; the evaluation is stored with the numbers behind it.
    r = call(world, "POST", f"/pilots/{pid}/evaluate")
    assert r.status_code == 200, r.text
    evaluation = r.json()
    assert evaluation["action"] == "scale" and evaluation["rule"] and evaluation["reason"]
    assert evaluation["numbers"]["primary_p_value"] < 0.05
    assert evaluation["readout"]["units"] == {"control": 10000, "treatment": 10000}
    assert [e["id"] for e in call(world, "GET", f"/pilots/{pid}/evaluations").json()] == [evaluation["id"]]
    (waiting,) = call(world, "GET", f"/workspaces/{ws}/pilots/awaiting-decision", role="viewer").json()
    assert waiting["pilot"]["id"] == pid and waiting["recommended"] == "scale"
    assert waiting["reason"] == "the exit rules recommend scale" and waiting["timebox_end"] == END.isoformat()

    # Decide as recommended: no rationale needed; the pilot moves to decided and the evidence is frozen.
    decision = {
        "title": "Ship the one-page checkout",
        "decision": "Roll out to everyone",
        "decided_by": "Ada",
        "pilot_id": pid,
        "action": "scale",
    }
    r = call(world, "POST", f"/workspaces/{ws}/decisions", json=decision)
    assert r.status_code == 201, r.text
    d = r.json()
    assert r.headers["location"] == f"{API}/decisions/{d['id']}"
    assert d["recommended_action"] == "scale" and d["overrides_recommendation"] is False
    # evaluated afresh when recorded: a newer evaluation than the one asked for above, same verdict
    assert d["evidence"]["recommendation"]["evaluation_id"] > evaluation["id"]
    assert d["evidence"]["readout"]["primary"]["variants"]["treatment"]["mean"] == pytest.approx(0.13)
    assert d["links"][0] == {"type": "pilot", "id": pid}
    assert call(world, "GET", f"/pilots/{pid}").json()["status"] == "decided"
    assert call(world, "GET", f"/workspaces/{ws}/pilots/awaiting-decision").json() == []


def test_an_override_needs_a_rationale(world):
    pid = running(world, rows=two_days(500, 650, 220.0))  # latency 10 % worse: the guardrail is breached
    assert call(world, "POST", f"/pilots/{pid}/evaluate").json()["action"] == "rollback"
    decision = {"title": "Scale anyway", "decision": "Ship it", "decided_by": "Ada", "pilot_id": pid, "action": "scale"}
    refused = problem(call(world, "POST", f"/workspaces/{world.ws_a}/decisions", json=decision), 422)
    assert "overrides the recommendation (rollback)" in refused["detail"] and "give a rationale" in refused["detail"]
    assert fields_of(refused) == ["rationale"]
    missing = problem(call(world, "POST", f"/workspaces/{world.ws_a}/decisions", json=decision | {"action": None}), 422)
    assert "say which action" in missing["detail"] and fields_of(missing) == ["action"]
    with world.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Decision)) == 0
    ok = call(
        world,
        "POST",
        f"/workspaces/{world.ws_a}/decisions",
        json=decision | {"rationale": "the latency fix ships next week"},
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["overrides_recommendation"] is True and ok.json()["recommended_action"] == "rollback"
    assert call(world, "GET", f"/pilots/{pid}").json()["status"] == "decided"


def test_extend_records_a_decision_and_moves_the_timebox(world):
    pid = running(world, rows=two_days(500, 505, 200.0))
    assert call(world, "POST", f"/pilots/{pid}/evaluate").json()["action"] == "continue"
    etag = call(world, "GET", f"/pilots/{pid}").headers["etag"]
    body = {"decided_by": "Ada", "days": 7}
    refused = problem(call(world, "POST", f"/pilots/{pid}/extend", json=body), 422)
    assert fields_of(refused) == ["rationale"]  # the recommendation was to continue
    stale = problem(call(world, "POST", f"/pilots/{pid}/extend", json=body, headers={"If-Match": '"1"'}), 412)
    assert stale["current_version"] == int(etag.strip('"'))
    r = call(world, "POST", f"/pilots/{pid}/extend", json=body | {"rationale": "the EU cohort started late"})
    assert r.status_code == 201, r.text
    d = r.json()
    assert r.headers["location"] == f"{API}/decisions/{d['id']}"
    assert d["action"] == "extend" and d["evidence"]["extend_days"] == 7 and d["title"] == "Extend pilot P-1"
    pilot = call(world, "GET", f"/pilots/{pid}")
    assert pilot.json()["status"] == "running" and pilot.headers["etag"] != etag
    assert pilot.json()["timebox_effective_end"] == (END + timedelta(days=7)).isoformat()
    assert pilot.json()["timebox_end"] == END.isoformat() and pilot.json()["hypothesis"]["extended_days"] == 7
    draft = call(world, "POST", f"/workspaces/{world.ws_a}/pilots", json=pilot_body(world, "P-2")).json()
    assert problem(call(world, "POST", f"/pilots/{draft['id']}/extend", json=body), 409)


def test_ninety_day_view_and_a_pilot_without_data(world):
    pid = running(world)
    view = call(world, "GET", f"/pilots/{pid}/ninety-days").json()
    assert [p["phase"] for p in view["phases"]] == ["define", "pilot", "scale_or_retire"]
    assert view["phases"][1]["start"] == START.isoformat() and view["current_phase"] == "pilot"
    assert view["today"] == TODAY.isoformat()
    empty = call(world, "GET", f"/pilots/{pid}/readout").json()
    assert empty["sample_size"] == 0 and empty["srm"] is None and empty["first_day"] is None
    assert empty["primary"]["kind"] is None and empty["primary"]["comparisons"] == {}
    assert "no checkout_conversion results" in empty["primary"]["problems"]["treatment"]
    assert call(world, "GET", f"/pilots/{pid}/results").json() == []
    first = call(world, "POST", f"/pilots/{pid}/evaluate").json()
    assert first["action"] == "continue" and "not enough data" in first["reason"]
    no_days = problem(call(world, "POST", f"/pilots/{pid}/extend", json={"decided_by": "Ada", "rationale": "x"}), 422)
    assert fields_of(no_days) == ["days"] and "(days)" in no_days["detail"]


def test_readout_power_analysis_from_the_baseline_then_from_the_control(world):
    """The plan's power analysis: from hypothesis.baseline before results, from the control's results after;
    the figures are the engine's (experiments.required_units / power_with_units / detectable_effect_with_units)."""
    hypothesis = {
        "primary_metric": "checkout_conversion",
        "direction": "increase",
        "expected_effect": 0.15,
        "method": "fixed",
        "power": 0.9,
        "planned_sample_size": 12000,
        "baseline": {"rate": 0.1},
    }
    pid = running(world, hypothesis=hypothesis)
    power = call(world, "GET", f"/pilots/{pid}/readout").json()["power"]
    plan = ex.PowerPlan.for_proportion(0.1, power=0.9)
    required = ex.required_units(plan, 0.15)
    assert 17_900 < required < 17_930  # (1.96 + 1.2816)²·(0.09 + 0.101775)/0.015² per variant, twice
    assert power["basis"] == "baseline" and power["kind"] == "proportion" and power["baseline_mean"] == 0.1
    assert power["required_units"] == required and power["units"] == 0 and power["power_now"] is None
    assert power["planned_power"] == pytest.approx(ex.power_with_units(plan, 0.15, 12000), rel=1e-12)
    assert power["underpowered"] is True and power["planned_power"] < 0.9
    mde = ex.detectable_effect_with_units(plan, 12000)
    assert power["detectable_effect"]["relative"] == pytest.approx(mde.relative, rel=1e-12) and mde.relative > 0.15
    assert power["detectable_at"] == 12000
    notes = call(world, "GET", f"/pilots/{pid}/readout").json()["notes"]
    assert any("underpowered" in n and "12,000 units" in n and f"{required:,} are needed" in n for n in notes)

    # With 10,000 control units the observed control replaces the baseline (500/5000 a day: 10 %, as planned).
    assert call(world, "POST", f"/pilots/{pid}/results", json={"rows": two_days(500, 650, 201.0)}).status_code == 200
    got = call(world, "GET", f"/pilots/{pid}/readout").json()
    power = got["power"]
    assert power["basis"] == "observed" and power["baseline_mean"] == pytest.approx(0.1) and power["units"] == 20000
    assert power["required_units"] == required and power["progress"] == pytest.approx(20000 / required)
    assert power["power_now"] == pytest.approx(ex.power_with_units(plan, 0.15, 20000), rel=1e-9)
    assert all_finite(got)


def test_power_analysis_of_a_decreasing_mean_with_always_valid_intervals(world):
    hypothesis = {
        "primary_metric": "latency_ms",
        "direction": "decrease",
        "expected_effect": 0.05,
        "baseline": {"mean": 200, "std": 50},
    }
    guardrails = [{"metric": "checkout_conversion", "direction": "increase", "accepted_regression": 0.05}]
    pid = running(world, hypothesis=hypothesis, guardrails=guardrails)
    power = call(world, "GET", f"/pilots/{pid}/readout").json()["power"]
    plan = ex.PowerPlan.for_mean(200, 50)
    fixed = ex.required_units(plan, -0.05)  # 2·(1.96 + 0.8416)²·2·50²/10² = 784.9 → 785
    assert fixed == 785
    assert power["method"] == "sequential" and power["expected_effect"] == -0.05 and power["kind"] == "mean"
    assert power["required_units"] == ex.required_units(plan, -0.05, method=ex.Method.SEQUENTIAL) > fixed
    assert power["planned_units"] is None and power["detectable_effect"] is None and power["detectable_at"] is None
    # with results (and no plan) the detectable effect is the one of the units so far, in the better direction
    rows = [mean_row(START, v, 300, 200.0, 50.0) | {"metric": "latency_ms"} for v in ("control", "treatment")]
    assert call(world, "POST", f"/pilots/{pid}/results", json={"rows": rows}).status_code == 200
    power = call(world, "GET", f"/pilots/{pid}/readout").json()["power"]
    assert power["basis"] == "observed" and power["detectable_at"] == 600
    want = ex.detectable_effect_with_units(
        ex.PowerPlan.for_mean(200, 50), 600, lower_is_better=True, method=ex.Method.SEQUENTIAL
    )
    assert power["detectable_effect"]["absolute"] == pytest.approx(want.absolute, rel=1e-6) and want.absolute < 0
    assert power["underpowered"] is False and power["problem"] is None


def test_power_analysis_settings_are_checked(world):
    url = f"/workspaces/{world.ws_a}/pilots"
    base = {"primary_metric": "x", "direction": "increase", "expected_effect": 0.1}
    for extra, field in [
        ({"baseline": {"rate": 1.5}}, "hypothesis.baseline"),
        ({"baseline": {"mean": 3}}, "hypothesis.baseline"),
        ({"baseline": {"rate": 0.1, "std": 2}}, "hypothesis.baseline"),
        ({"baseline": {"mean": 3, "std": 0}}, "hypothesis.baseline"),
        ({"baseline": {"colour": 1}}, "hypothesis.baseline.colour"),
        ({"power": 1.0}, "hypothesis.power"),
    ]:
        body = problem(call(world, "POST", url, json=pilot_body(world, hypothesis=base | extra)), 422)
        assert any(f.startswith(field) for f in fields_of(body)), (extra, body)
    # no baseline and no results: the readout says what is missing instead of failing
    pid = running(world, key="P-2")
    power = call(world, "GET", f"/pilots/{pid}/readout").json()["power"]
    assert power["basis"] is None and power["required_units"] is None
    assert "give hypothesis.baseline or record 100 control units" in power["problem"]


# ------------------------------------------------------------------ results: JSON and CSV, all or nothing


def test_results_json_report_every_bad_row_and_store_nothing(world):
    pid = running(world)
    rows = [
        conv_row(START, "control", 5000, 500),
        conv_row(START, "variant_b", 10, 1),
        conv_row(START, "control", 10, 11),
        {**conv_row(START, "control", 10, 3), "metric": "revenue"},
    ]
    body = problem(call(world, "POST", f"/pilots/{pid}/results", json={"rows": rows}), 422)
    assert body["detail"].startswith("3 result row(s) rejected, nothing stored")
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, "rows.1"), (3, "rows.2"), (4, "rows.3")]
    assert "unknown variant 'variant_b'" in body["errors"][0]["message"]
    assert "cannot exceed n" in body["errors"][1]["message"] and "neither the primary" in body["errors"][2]["message"]
    assert count_results(world) == 0
    # Schema errors name the row and the field before anything is read.
    bad = [conv_row(START, "control", 5000, 500) | {"n": -1}, conv_row(START, "control", 10, 1) | {"n": 10**12}]
    body = problem(call(world, "POST", f"/pilots/{pid}/results", json={"rows": bad}), 422)
    assert fields_of(body) == ["rows.0.n", "rows.1.n"]
    for payload, field in [
        ({"rows": []}, "rows"),
        ({"rows": [conv_row(START, "control", 10, 1) | {"day": "9999-12-31"}]}, "rows.0.day"),
        ({"rows": [conv_row(START, "control", 10, 1) | {"sum": float("inf")}]}, "rows"),  # unstorable: the field
        ({"rows": [conv_row(START, "control", 10, 1) | {"conversions": 1.5}]}, "rows.0.conversions"),
        ({"rows": [conv_row(START, "control", 10, 1) | {"extra": 1}]}, "rows.0.extra"),
    ]:
        content = json.dumps(payload)  # Infinity is not JSON, but some clients send it
        r = call(world, "POST", f"/pilots/{pid}/results", content=content, headers={"Content-Type": "application/json"})
        assert field in fields_of(problem(r, 422)), (payload, r.text)
    assert count_results(world) == 0


def test_results_csv_upload_is_all_or_nothing_with_a_line_report(world):
    pid = running(world)
    url = f"/pilots/{pid}/results/csv"
    text = (
        CSV_HEADER
        + f"{START},control,checkout_conversion,5000,500,,\n"
        + "\n"  # a blank line is skipped, but counted
        + f"{START},treatment,checkout_conversion,many,500,,\n"
        + "not-a-day,treatment,checkout_conversion,5000,500,,\n"
        + f"{START},treatment,latency_ms,5000,,1e200,1\n"
        + f"{START},treatment,checkout_conversion,5000,2.5,,\n"
    )
    body = problem(call(world, "POST", url, content=text, headers={"Content-Type": "text/csv"}), 422)
    assert body["detail"].startswith("4 result row(s) rejected, nothing stored: line 4: n must be a whole number")
    assert [(e["line"], e["field"]) for e in body["errors"]] == [
        (4, "line 4"),
        (5, "line 5"),
        (6, "line 6"),
        (7, "line 7"),
    ]
    assert "not-a-day" in body["errors"][1]["message"] and "sum must be a finite number" in body["errors"][2]["message"]
    assert "whole number" in body["errors"][3]["message"]
    assert count_results(world) == 0
    # The same file as a multipart upload (field 'file'), corrected: stored; sending it again changes nothing.
    good = to_csv(two_days(500, 650, 201.0))
    first = call(world, "POST", url, files=[("file", ("results.csv", good, "text/csv"))])
    assert first.status_code == 200 and first.json()["created"] == 8, first.text
    again = call(world, "POST", url + "?source=warehouse", content=good, headers={"Content-Type": "text/csv"})
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 8, "total": 8}
    # The export has the upload's columns: it imports again unchanged.
    export = call(world, "GET", f"/pilots/{pid}/results?format=csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.text.startswith(CSV_HEADER) and export.headers["x-total-count"] == "8"
    lines = list(csv.DictReader(io.StringIO(export.text)))
    assert lines[0]["conversions"] == "500" and lines[0]["sum"] == ""
    re_import = call(world, "POST", url, content=export.text, headers={"Content-Type": "text/csv"})
    assert re_import.json()["unchanged"] == 8
    accept = call(world, "GET", f"/pilots/{pid}/results?limit=2", headers={"Accept": "text/csv"})
    assert len(accept.text.strip().splitlines()) == 3
    # Files the reader cannot use are one problem about the file.
    for bad, message in [
        ("", "empty"),
        ("day,variant,metric\n", "missing column 'n'"),
        ("day,variant,metric,n,colour\n", "unknown column 'colour'"),
        (CSV_HEADER, "no result rows"),
        (CSV_HEADER + f"{START},control\n", "2 cells"),
    ]:
        body = problem(call(world, "POST", url, content=bad, headers={"Content-Type": "text/csv"}), 422)
        assert message in body["detail"], (bad, body)
    wrong_type = call(world, "POST", url, content="x", headers={"Content-Type": "application/json"})
    assert fields_of(problem(wrong_type, 422)) == ["Content-Type"]
    assert count_results(world) == 8


# ------------------------------------------------------------------ bad input, ETags, permissions


def test_bad_pilots_are_problems_that_name_the_field(world):
    url = f"/workspaces/{world.ws_a}/pilots"
    cases = [
        ({"colour": "blue"}, "colour"),
        ({"timebox_end": (START - timedelta(days=1)).isoformat()}, "timebox_end"),
        ({"timebox_end": "9999-12-31"}, "timebox_end"),
        ({"exit_rules": [{"scale_when": {"p_below": 0.05}, "stop_when": {}}]}, "exit_rules.0"),
        ({"exit_rules": [{"ship_when": {}}]}, "exit_rules.0.ship_when"),
        ({"exit_rules": [{"scale_when": {}}]}, "exit_rules"),
        ({"exit_rules": [{"extend_when": {"by_days": 10**9}}]}, "exit_rules.0.extend_when.by_days"),
        ({"guardrails": [{"metric": "checkout_conversion", "direction": "increase"}]}, "guardrails"),
        ({"risks": [{"description": "x", "likelihood": 6, "impact": 1}]}, "risks"),
        ({"planned_split": {"a": 0.5, "b": 0.5}}, "planned_split"),
        ({"owner_person_id": world.person_b}, "owner_person_id"),
        ({"work_item_id": world.work["item_story"]}, "work_item_id"),
        ({"key_result_id": 2_147_483_648}, "key_result_id"),
        ({"hypothesis": {"primary_metric": "x", "direction": "band", "expected_effect": 1}}, "hypothesis.direction"),
        (
            {"hypothesis": {"primary_metric": "x", "direction": "increase", "expected_effect": 1, "alpha": 2}},
            "hypothesis.alpha",
        ),
    ]
    for extra, field in cases:
        body = problem(call(world, "POST", url, json=pilot_body(world, **extra)), 422)
        assert field in fields_of(body), (extra, body)
    assert call(world, "POST", url, json=pilot_body(world)).status_code == 201
    duplicate = problem(call(world, "POST", url, json=pilot_body(world)), 409)
    assert "exists already" in duplicate["detail"]
    assert problem(call(world, "GET", "/pilots/999999"), 404)
    assert problem(call(world, "GET", "/pilots/99999999999"), 422)
    assert problem(call(world, "GET", f"/workspaces/{world.ws_a}/pilots?status=finished"), 422)


def test_if_match_412_and_draft_only_fields(world):
    pid = call(world, "POST", f"/workspaces/{world.ws_a}/pilots", json=pilot_body(world)).json()["id"]
    url = f"/pilots/{pid}"
    etag = call(world, "GET", url).headers["etag"]
    ok = call(world, "PATCH", url, json={"scope": "EU web", "exit_rules": RULES[:3]}, headers={"If-Match": etag})
    assert ok.status_code == 200, ok.text
    assert ok.json()["scope"] == "EU web" and len(ok.json()["exit_rules"]) == 3
    new_etag = ok.headers["etag"]
    assert int(new_etag.strip('"')) == int(etag.strip('"')) + 1
    stale = problem(call(world, "PATCH", url, json={"scope": "lost update"}, headers={"If-Match": etag}), 412)
    assert "changed by someone else" in stale["detail"] and stale["current_version"] == int(new_etag.strip('"'))
    assert call(world, "GET", url).json()["scope"] == "EU web"
    assert problem(call(world, "POST", f"{url}/transitions", json={"to": "running"}, headers={"If-Match": etag}), 412)
    assert problem(call(world, "PATCH", url, json={"scope": "x"}, headers={"If-Match": "3"}), 422)
    assert fields_of(problem(call(world, "PATCH", url, json={"title": None}), 422)) == ["title"]
    moved = call(world, "POST", f"{url}/transitions", json={"to": "running"}, headers={"If-Match": new_etag})
    assert moved.status_code == 200
    frozen = problem(call(world, "PATCH", url, json={"exit_rules": RULES}), 409)
    assert "can only change in draft" in frozen["detail"] and frozen["field"] == "exit_rules"
    back = problem(call(world, "POST", f"{url}/transitions", json={"to": "draft"}), 422)
    assert "cannot go from running to draft" in back["detail"] and fields_of(back) == ["status"]
    assert fields_of(problem(call(world, "POST", f"{url}/transitions", json={"to": "done"}), 422)) == ["to"]
    assert call(world, "PATCH", url, json={"scope": "EU and UK web"}).status_code == 200


def test_permissions_and_scopes(world):
    pid = running(world, rows=two_days(500, 650, 201.0))
    assert call(world, "GET", f"/pilots/{pid}/readout", "viewer").status_code == 200
    assert problem(call(world, "POST", f"/pilots/{pid}/evaluate", "viewer"), 403)
    assert problem(call(world, "GET", f"/pilots/{pid}", "outsider"), 404)
    assert call(world, "POST", f"/pilots/{pid}/evaluate", "contributor_team").status_code == 200
    read_only = user_token(world.db, world.users["admin"], "read")
    h = {"Authorization": f"Bearer {read_only}"}
    assert world.client.get(f"{API}/pilots/{pid}/evaluations", headers=h).status_code == 200
    refused = world.client.post(f"{API}/pilots/{pid}/evaluate", headers=h)
    assert refused.status_code == 403 and "scopes" in refused.json()["detail"]
    beta = pilot_body(world, "P-B", team_id=world.team_beta, work_item_id=None, key_result_id=None)
    assert problem(call(world, "POST", f"/workspaces/{world.ws_a}/pilots", "contributor_team", json=beta), 403)
