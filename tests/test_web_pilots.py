"""The pilot pages and the decision log over ASGI (no browser), on both engines: pages render for a viewer without
write controls, the New pilot form (CSRF, roles, errors next to the field, the YAML advanced fields), lifecycle
buttons, Evaluate now, Record decision (override needs a rationale), the log's filters as HTMX fragments with a
bookmarkable URL, the decision page with its frozen evidence and the Supersede form; no edit or delete anywhere."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from okrflow.api.app import create_app
from okrflow.domain import pilots as dp
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.work import WorkRecord
from okrflow.services import decisions, imports, okr, pilots, retros, sources, tenancy
from okrflow.store.db import Database
from okrflow.store.models import AuditEntry
from okrflow.store.models_pilots import Decision, Pilot, PilotEvaluation
from okrflow.store.models_work import WorkItem
from okrflow.web.pilot_routes import (
    _parse_advanced,
    _parse_effect,
    _parse_split,
    fmt_effect,
    fmt_p,
    hypothesis_sentence,
)
from tests.test_web_ui import HX, _assert_no_inline, _csrf, _login

VIEWER_PASSWORD = "viewer-password-1"
OTHER_PASSWORD = "other-password-12"
RULES = [
    {"pause_when": {"srm_p_below": 0.001}},
    {"rollback_when": {"any_guardrail_worse_than_accepted": True}},
    {"scale_when": {"primary_lift_at_least": 0.05, "p_below": 0.05}},
    {"stop_when": {}},
]


@dataclass
class PilotWorld:
    workspace_id: int
    team_id: int
    owner_id: int
    kr_id: int
    initiative_id: int
    running_id: int
    draft_id: int
    start: date


def _conv(day: date, variant: str, n: int, conversions: int) -> dict[str, object]:
    return {"day": day, "variant": variant, "metric": "checkout_conversion", "n": n, "conversions": conversions}


def _latency(day: date, variant: str, n: int, mean: float, sd: float) -> dict[str, object]:
    s = n * mean
    squares = sd**2 * (n - 1) + s**2 / n
    return {"day": day, "variant": variant, "metric": "latency_ms", "n": n, "sum": s, "sum_squares": squares}


def scale_rows(start: date) -> list[dict[str, object]]:
    """Two days, equal halves: conversion 10 % → 13 % (a clear win), latency unchanged: the rules say *scale*."""
    rows: list[dict[str, object]] = []
    for day in (start, start + timedelta(days=1)):
        rows += [
            _conv(day, "control", 5000, 500),
            _conv(day, "treatment", 5000, 650),
            _latency(day, "control", 5000, 200.0, 50.0),
            _latency(day, "treatment", 5000, 201.0, 50.0),
        ]
    return rows


def pilot_fields(world_ids: dict[str, int], key: str, start: date) -> dict[str, object]:
    return {
        "key": key,
        "title": "One-page checkout",
        "problem": "Too many people drop off between cart and payment",
        "hypothesis": {
            "primary_metric": "checkout_conversion",
            "direction": "increase",
            "expected_effect": 0.15,
            "effect_kind": "relative",
            "statement": "",
        },
        "timebox_start": start,
        "timebox_end": start + timedelta(days=27),
        "owner_person_id": world_ids["owner"],
        "team_id": world_ids["team"],
        "scope": "EU web checkout, logged-in buyers",
        "entry_criteria": ["Both flows send the same events"],
        "exit_criteria": ["Four weeks or 20,000 buyers per variant"],
        "risks": [
            {"description": "Payment provider outage", "likelihood": 2, "impact": 5, "mitigation": "Kill switch"},
            {"description": "Address typos", "likelihood": 4, "impact": 2},
        ],
        "guardrails": [{"metric": "latency_ms", "direction": "decrease", "accepted_regression": 0.05}],
        "rollout": [
            {"cohort": "staff", "exposure_percent": 5, "start": start.isoformat(), "split": [50, 50]},
            {"cohort": "10 % of EU", "exposure_percent": 10, "start": (start + timedelta(days=7)).isoformat()},
        ],
        "exit_rules": RULES,
        "key_result_id": world_ids["kr"],
        "work_item_id": world_ids["initiative"],
    }


def build_world(db: Database, ws: int) -> PilotWorld:
    """A team with an owner, a key result and an initiative; P-1 running for two weeks with results that make the
    rules recommend *scale*; P-2 a draft; a viewer and a contributor of another team."""
    a = SYSTEM_ACTOR
    today = datetime.now(UTC).date()
    start = today - timedelta(days=14)
    with db.write() as s:
        team = tenancy.create_team(s, a, ws, "checkout", "Checkout")
        other = tenancy.create_team(s, a, ws, "search", "Search")
        owner = tenancy.create_person(s, a, ws, "Ana Owner", team_id=team.id)
        periods = okr.create_year(s, a, ws, today.year)
        quarter = okr.current_period(s, ws, today) or periods[1]
        obj = okr.create_objective(s, a, ws, quarter.id, "Smooth checkout", team_id=team.id)
        kr = okr.create_key_result(s, a, obj.id, "Conversion 10 → 12 %", "increase", baseline=10, target=12)
        src = sources.create_source(s, a, ws, "files", "files", team_id=team.id)
        tenancy.create_user(s, a, "vera", VIEWER_PASSWORD, workspace_id=ws, role="viewer")
        tenancy.create_user(s, a, "otto", OTHER_PASSWORD, workspace_id=ws, role="contributor", team_id=other.id)
        ids = {"team": team.id, "owner": owner.id, "kr": kr.id}
        source_id = src.id
    t0 = datetime.now(UTC) - timedelta(days=60)
    imports.import_records(
        db, a, source_id, [WorkRecord("1", "Initiative", "In Progress", t0, key="INI-1", title="Checkout revamp")]
    )
    with db.write() as s:
        ids["initiative"] = s.scalar(select(WorkItem.id).where(WorkItem.key == "INI-1"))
        running = pilots.create_pilot(s, a, ws, **pilot_fields(ids, "P-1", start))
        pilots.transition(s, a, running.id, "running")
        pilots.record_results(s, a, running.id, scale_rows(start))
        draft = pilots.create_pilot(s, a, ws, **(pilot_fields(ids, "P-2", start) | {"title": "Saved cards"}))
        return PilotWorld(ws, ids["team"], ids["owner"], ids["kr"], ids["initiative"], running.id, draft.id, start)


@pytest.fixture
def world(db: Database, admin_setup) -> PilotWorld:  # type: ignore[no-untyped-def]
    return build_world(db, admin_setup.workspace_id)


def _client(db: Database, user: str = "admin", password: str | None = None) -> TestClient:
    client = TestClient(create_app(db))
    resp = _login(client, user, password) if password else _login(client)
    assert resp.status_code == 303
    return client


@pytest.fixture
def admin(db: Database, world: PilotWorld) -> TestClient:
    return _client(db)


@pytest.fixture
def viewer(db: Database, world: PilotWorld) -> TestClient:
    return _client(db, "vera", VIEWER_PASSWORD)


def _token(client: TestClient) -> str:
    return _csrf(client.get("/pilots").text)


def _count(db: Database, model: type) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _decide(db: Database, world: PilotWorld, **extra: object) -> Decision:
    fields: dict[str, object] = {
        "title": "Ship the one-page checkout",
        "decision": "Roll out to every EU buyer",
        "decided_by": "Ana Owner",
        "now": datetime.now(UTC),
    } | extra
    with db.write() as s:
        if "pilot_id" in fields:
            pilots.evaluate(s, SYSTEM_ACTOR, world.running_id, datetime.now(UTC))
        d = decisions.record_decision(s, SYSTEM_ACTOR, world.workspace_id, **fields)  # type: ignore[arg-type]
        s.expunge(d)
        return d


SCALE_RULE = dp.describe_rule(dp.parse_rules(RULES[2:3])[0])  # the rule as written: scale_when: …
WRITE_CONTROLS = ("/transition", "/evaluate", "hx-post", "/supersede", 'action="/pilots"', "Record decision")


# ------------------------------------------------------------------ pure helpers


def test_formatting_helpers() -> None:
    assert fmt_p(0.00001) == "< 0.0001" and fmt_p(0.004321) == "0.0043" and fmt_p(0.4321) == "0.432"
    assert fmt_effect(0.3, "relative", "proportion") == "+30.0%"
    assert fmt_effect(-0.031, "absolute", "proportion") == "−3.10 pp"
    assert fmt_effect(12.5, "absolute", "mean") == "+12.5"
    start = date(2026, 3, 2)
    h = dp.Hypothesis(
        "step_drop_off", dp.Direction.DECREASE, 0.15, dp.EffectKind.RELATIVE, dp.Timebox(start, date(2026, 3, 29))
    )
    assert hypothesis_sentence(h) == "Cut step drop off by 15% in four weeks"
    tb = h.timebox
    assert tb.status(date(2026, 3, 1)) == ("starts in 1 day", "future")
    assert tb.status(date(2026, 3, 19)) == ("11 days left", "on")  # counting today, as the CLI
    assert tb.status(date(2026, 3, 29)) == ("last day", "soon")
    assert tb.status(date(2026, 4, 2)) == ("ended 4 days ago", "over")
    assert tb.status(date(2026, 3, 28)) == ("2 days left", "soon")
    assert tb.extended(7).status(date(2026, 4, 2)) == ("4 days left", "soon")
    assert tb.status(date(2026, 3, 5), started=False) == ("planned start passed 3 days ago", "soon")
    assert _parse_effect("15%") == pytest.approx(0.15) and _parse_effect("0,02") == 0.02 and _parse_effect("x") is None
    assert _parse_split("50/50") == {"control": 50.0, "treatment": 50.0}
    assert _parse_split("34/33/33") == {"control": 34.0, "treatment_1": 33.0, "treatment_2": 33.0}
    assert _parse_split("100") is None and _parse_split("50/0") is None
    assert _parse_advanced("risks: [\n")[1].startswith("the advanced fields cannot be read (line")
    assert "unknown advanced field 'owner'" in (_parse_advanced("owner: me")[1] or "")
    assert _parse_advanced("- a")[1] is not None and _parse_advanced("")[0] == {}


# ------------------------------------------------------------------ pages


def test_every_page_renders_for_a_viewer_without_write_controls(
    db: Database, viewer: TestClient, world: PilotWorld
) -> None:
    d = _decide(db, world, pilot_id=world.running_id, action="scale", review_on=date.today() + timedelta(days=30))
    pages = [
        "/pilots",
        "/pilots?status=running",
        "/pilots?status=closed",
        "/pilots/P-1",
        "/pilots/P-2",
        "/decisions",
        f"/decisions?pilot={world.running_id}&action=scale&by=Ana+Owner&current=1&q=ship",
        f"/decisions/{d.id}",
    ]
    for path in pages:
        resp = viewer.get(path)
        assert resp.status_code == 200, path
        _assert_no_inline(resp.text, path)
        for control in WRITE_CONTROLS:
            assert control not in resp.text, f"{path} shows a write control ({control}) to a viewer"
    listing = viewer.get("/pilots").text
    assert 'aria-current="page">Pilots<' in listing
    assert 'data-testid="pilot-total">2<' in listing and "P-1" in listing and "Saved cards" in listing
    assert "planned start passed 14 days ago" in _text(listing)  # the draft; P-1 is decided by now
    assert 'data-action="scale"' in listing  # the latest stored evaluation (made by _decide)
    assert 'aria-current="page">Decisions<' in viewer.get("/decisions").text
    assert viewer.get("/pilots/NOPE").status_code == 404
    assert viewer.get("/decisions/999999").status_code == 404


def world_power(db: Database, world: PilotWorld) -> pilots.PowerReadout:
    with db.read() as s:
        power = pilots.results(s, SYSTEM_ACTOR, world.running_id).power
    assert power is not None and power.required_units and power.basis == "observed"
    return power


def test_the_one_page_pilot(db: Database, admin: TestClient, world: PilotWorld) -> None:
    html = admin.get("/pilots/P-1").text
    text = _text(html)
    assert "Raise checkout conversion by 15% in four weeks" in text  # the hypothesis as a sentence
    assert "Too many people drop off" in text and "EU web checkout" in text
    assert "Both flows send the same events" in text and "Four weeks or 20,000 buyers" in text
    assert 'data-testid="kr-link"' in html and "Conversion 10 → 12 %" in text
    assert f'href="/work/{world.initiative_id}"' in html and "INI-1" in text
    # risks on the matrix: 2×5 and 4×2
    assert re.search(r'data-l="2" data-i="5"><span class="risk-dot">1<', html)
    assert re.search(r'data-l="4" data-i="2"><span class="risk-dot">2<', html)
    assert "high · 2×5" in text and "medium · 4×2" in text
    # guardrail with what it may accept and pass/fail from the readout
    assert "may get 5.0% worse" in text and 'data-guard="pass"' in html
    # rollout stages: the second one runs now
    assert re.search(r'class="is-current">\s*<div class="rollout-top"><strong>10 % of EU', html)
    # the 90-day view with today marked
    assert 'data-testid="ninety"' in html and 'class="today-line"' in html and "Today is in pilot" in text
    # results: the table and the CI chart
    assert 'data-srm="ok"' in html and "SRM ok" in text
    # the power analysis: the control so far (10 %), +15 % with 80 % power, sequential; the tile shows progress
    power = world_power(db, world)
    assert f"of {power.required_units:,} needed for 80% power ({power.progress:.0%})" in text
    assert f"power now {power.power_now:.0%}" in text and re.search(r'<progress class="progress[^"]*" value="', html)
    assert (
        f"Power analysis: {power.required_units:,} units needed to detect +15% with 80% power (sequential analysis, "
        "α = 0.05; the control so far 10.00%) · detectable with 20,000 units: "
    ) in text
    assert "13.00%" in text and "10.00%" in text and "+30.0%" in text and "+3.00 pp" in text
    assert 'data-testid="p-value">&lt; 0.0001<' in html
    charts = [json.loads(unescape(m)) for m in re.findall(r"data-chart-kind=\"effect\" data-chart='([^']+)'", html)]
    assert len(charts) == 2  # primary and guardrail
    primary = charts[0]
    assert primary["unit"] == "%" and primary["rows"][0]["label"] == "treatment"
    assert primary["rows"][0]["estimate"] == pytest.approx(30.0)
    assert primary["rows"][0]["low"] > 0 and {r["tone"] for r in primary["refs"]} == {"zero", "expected", "threshold"}
    assert any(r["x"] == pytest.approx(15.0) for r in primary["refs"])
    assert any(r["tone"] == "limit" and r["x"] == pytest.approx(-5.0) for r in charts[1]["refs"])
    # the recommendation with the rule that fired and the numbers behind it
    assert 'data-testid="recommendation"' in html and 'data-testid="recommendation-action"' in html
    assert 'data-action="scale"' in html and SCALE_RULE in text
    assert "improvement" in text and "confidence interval" in text and "Not evaluated yet" in text
    # lifecycle and decision controls for a contributor; the action preselected with the recommendation
    assert 'data-testid="evaluate"' in html and "Record decision" in html
    assert "14 days left"  # today and the 13 after it in text
    assert re.search(r'<option value="scale" selected>scale \(recommended\)', html)
    assert "/transition" not in html  # running → decided happens by a decision
    draft = admin.get("/pilots/P-2").text
    assert 'data-transition="running"' in draft and 'data-transition="closed"' in draft
    assert "Record decision" not in draft and "start it, record results" in _text(draft)
    _assert_no_inline(html, "pilot page")


def test_new_pilot_form_checks_csrf_roles_and_shows_errors_by_field(
    db: Database, admin: TestClient, viewer: TestClient, world: PilotWorld
) -> None:
    before = _count(db, Pilot)
    page = admin.get("/pilots").text
    assert 'id="new-pilot"' in page and 'hx-post="/pilots"' in page
    token = _csrf(page)
    start = date.today()
    good = {
        "key": "P-9",
        "title": "Express checkout",
        "problem": "Returning buyers type their card again",
        "primary_metric": "checkout_conversion",
        "direction": "increase",
        "expected_effect": "10%",
        "effect_kind": "relative",
        "timebox_start": start.isoformat(),
        "timebox_end": (start + timedelta(days=27)).isoformat(),
        "split": "50/50",
        "owner_person_id": str(world.owner_id),
        "team_id": str(world.team_id),
        "key_result_id": str(world.kr_id),
        "work_item_id": str(world.initiative_id),
        "csrf_token": token,
    }
    assert admin.post("/pilots", data={**good, "csrf_token": ""}).status_code == 403  # no CSRF token
    resp = viewer.post("/pilots", data={**good, "csrf_token": _csrf(viewer.get("/pilots").text)})
    assert resp.status_code == 403
    other = _client(db, "otto", OTHER_PASSWORD)  # contributor of another team
    assert 'id="new-pilot"' in other.get("/pilots").text  # may create pilots for the search team …
    resp = other.post("/pilots", data={**good, "csrf_token": _csrf(other.get("/pilots").text)}, headers=HX)
    assert resp.status_code == 403  # … not for checkout
    assert _count(db, Pilot) == before

    cases = [
        ({"expected_effect": "lots"}, "expected_effect", "Enter the expected effect"),
        ({"expected_effect": "-5%"}, "expected_effect", "positive size"),
        ({"split": "100"}, "split", "control first"),
        ({"timebox_end": (start - timedelta(days=1)).isoformat()}, "timebox_end", "before it starts"),
        ({"key": "P-1"}, "key", "exists already"),
        ({"title": " "}, "title", "The title must have"),
        ({"advanced": "risks: [\n  {description: x"}, "advanced", "cannot be read (line"),
        ({"advanced": "owner: someone"}, "advanced", "Unknown advanced field 'owner'"),
        ({"advanced": "risks:\n  - {description: outage, likelihood: 6, impact: 1}"}, "advanced", "likelihood"),
        ({"advanced": "exit_rules:\n  - scale_when: {}"}, "advanced", "exactly one kind of evidence"),
        ({"advanced": "method: weekly"}, "advanced", "ypothesis.method is one of"),
    ]
    for change, field, message in cases:
        frag = admin.post("/pilots", data={**good, **change}, headers=HX)
        assert frag.status_code == 422, change
        assert "<html" not in frag.text and 'id="new-pilot"' in frag.text
        m = re.search(rf'id="err-{field}">([^<]+)<', frag.text)
        assert m and message in unescape(m.group(1)), (change, m and m.group(1))
        _assert_no_inline(frag.text, f"new pilot fragment {change}")
    plain = admin.post("/pilots", data={**good, "split": "x"})
    assert plain.status_code == 422 and "<html" in plain.text and 'id="err-split"' in plain.text
    assert _count(db, Pilot) == before

    advanced = (
        "scope: EU web\n"
        "guardrails:\n  - {metric: page_load_ms, direction: decrease, accepted_regression: 0.05}\n"
        "risks:\n  - {description: old address, likelihood: 2, impact: 4}\n"
        f"rollout:\n  - {{cohort: staff, exposure_percent: 5, start: {start.isoformat()}, split: [50, 50]}}\n"
        "exit_rules:\n  - scale_when: {primary_lift_at_least: 0.05, p_below: 0.05}\n"
        "planned_sample_size: 40000\n"
        "power: 0.9\n"
        "baseline: {rate: 0.1}\n"
    )
    done = admin.post("/pilots", data={**good, "advanced": advanced}, headers=HX)
    assert done.status_code == 204 and done.headers["HX-Redirect"] == "/pilots/P-9?created=1"
    with db.read() as s:
        p = s.scalar(select(Pilot).where(Pilot.key == "P-9"))
        assert p is not None and p.status == "draft" and p.scope == "EU web"
        assert p.hypothesis["expected_effect"] == pytest.approx(0.10) and p.hypothesis["planned_sample_size"] == 40000
        assert p.hypothesis["power"] == 0.9 and p.hypothesis["baseline"] == {"rate": 0.1}
        assert p.guardrails[0]["metric"] == "page_load_ms" and p.risks[0]["impact"] == 4
        assert p.exit_rules[0]["scale_when"]["p_below"] == 0.05
        assert p.planned_split == {"control": 0.5, "treatment": 0.5}
    again = admin.post("/pilots", data={**good, "key": "P-10"}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/pilots/P-10?created=1"
    assert "created as a draft" in admin.get("/pilots/P-10?created=1").text


def test_lifecycle_buttons_are_audited_and_checked(
    db: Database, admin: TestClient, viewer: TestClient, world: PilotWorld
) -> None:
    page = admin.get("/pilots/P-2").text
    token = _csrf(page)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    data = {"target": "running", "version": version, "csrf_token": token}
    assert viewer.post("/pilots/P-2/transition", data={**data, "csrf_token": _token(viewer)}).status_code == 403
    assert admin.post("/pilots/P-2/transition", data={**data, "csrf_token": ""}).status_code == 403
    stale = admin.post("/pilots/P-2/transition", data={**data, "version": "99"}, headers=HX)
    assert stale.status_code == 412 and 'id="pilot-lifecycle"' in stale.text and "changed by someone else" in stale.text
    bad = admin.post("/pilots/P-2/transition", data={**data, "target": "decided"}, headers=HX)
    assert bad.status_code == 422 and "cannot go from draft to decided" in bad.text
    ok = admin.post("/pilots/P-2/transition", data=data, headers=HX)
    assert ok.status_code == 204 and ok.headers["HX-Redirect"] == "/pilots/P-2"
    with db.read() as s:
        assert s.get(Pilot, world.draft_id).status == "running"  # type: ignore[union-attr]
        moves = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "transition", AuditEntry.entity_id == str(world.draft_id))
        ).all()
        assert [(m.before["status"], m.after["status"]) for m in moves] == [("draft", "running")]
    plain = admin.post("/pilots/P-2/transition", data={**data, "target": "closed"})
    assert plain.status_code == 422 and "<html" in plain.text and 'data-testid="lifecycle-error"' in plain.text


def test_evaluate_now_stores_a_recommendation(
    db: Database, admin: TestClient, viewer: TestClient, world: PilotWorld
) -> None:
    token = _csrf(admin.get("/pilots/P-1").text)
    assert viewer.post("/pilots/P-1/evaluate", data={"csrf_token": _token(viewer)}).status_code == 403
    assert admin.post("/pilots/P-1/evaluate", data={}).status_code == 403
    assert _count(db, PilotEvaluation) == 0
    frag = admin.post("/pilots/P-1/evaluate", data={"csrf_token": token}, headers=HX)
    assert frag.status_code == 200 and "<html" not in frag.text and 'id="pilot-decide"' in frag.text
    assert 'data-testid="evaluated"' in frag.text and "Last stored evaluation" in frag.text
    _assert_no_inline(frag.text, "decide fragment")
    with db.read() as s:
        (ev,) = s.scalars(select(PilotEvaluation)).all()
        assert ev.action == "scale" and ev.evidence["readout"]["units"]["treatment"] == 10000
    draft = admin.post("/pilots/P-2/evaluate", data={"csrf_token": token}, headers=HX)
    assert draft.status_code == 422 and "is a draft; start it before evaluating" in draft.text
    plain = admin.post("/pilots/P-1/evaluate", data={"csrf_token": token}, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == "/pilots/P-1"


def test_record_decision_overriding_needs_a_rationale(
    db: Database, admin: TestClient, viewer: TestClient, world: PilotWorld
) -> None:
    page = admin.get("/pilots/P-1").text
    token = _csrf(page)
    form = {
        "title": "Roll back the one-page checkout",
        "decision": "Switch it off",
        "action": "rollback",
        "decided_by": "Ana Owner",
        "raci_accountable": "Carla CPO",
        "raci_informed": "Support, Sales",
        "options": "Scale\nRoll back",
        "link_kr": "1",
        "link_item": "1",
        "csrf_token": token,
    }
    assert viewer.post("/pilots/P-1/decisions", data={**form, "csrf_token": _token(viewer)}).status_code == 403
    other = _client(db, "otto", OTHER_PASSWORD)
    assert other.post("/pilots/P-1/decisions", data={**form, "csrf_token": _token(other)}).status_code == 403
    assert admin.post("/pilots/P-1/decisions", data={**form, "csrf_token": ""}).status_code == 403
    refused = admin.post("/pilots/P-1/decisions", data=form, headers=HX)
    assert refused.status_code == 422 and 'id="pilot-decide"' in refused.text
    m = re.search(r'id="err-rationale">([^<]+)<', refused.text)
    assert m and "overrides the recommendation (scale)" in unescape(m.group(1)) and "give a rationale" in m.group(1)
    assert 'value="Roll back the one-page checkout"' in refused.text  # the input is kept
    assert _count(db, Decision) == 0 and _count(db, PilotEvaluation) == 0  # the evaluation rolled back with it
    bad = admin.post("/pilots/P-1/decisions", data={**form, "raci_accountable": "A, B", "rationale": "x"}, headers=HX)
    assert bad.status_code == 422 and 'id="err-raci_accountable"' in bad.text
    bad = admin.post("/pilots/P-1/decisions", data={**form, "review_on": "soon", "rationale": "x"}, headers=HX)
    assert bad.status_code == 422 and 'id="err-review_on"' in bad.text
    draft = admin.post("/pilots/P-2/decisions", data={**form, "action": "scale"}, headers=HX)
    assert draft.status_code == 422 and "decisions are recorded once it runs" in draft.text

    done = admin.post("/pilots/P-1/decisions", data={**form, "action": "scale", "title": "Scale it"}, headers=HX)
    assert done.status_code == 204
    with db.read() as s:
        (d,) = s.scalars(select(Decision)).all()
        assert done.headers["HX-Redirect"] == f"/pilots/P-1?decision={d.id}#decided"
        assert d.action == "scale" and d.recommended_action == "scale" and not d.overrides_recommendation
        assert d.evidence["recommendation"]["action"] == "scale" and d.evidence["readout"]["sample_size"] == 20000
        assert d.raci["accountable"] == [{"name": "Carla CPO", "person_id": None}] and len(d.raci["informed"]) == 2
        assert d.options == ["Scale", "Roll back"]
        assert {"type": "key_result", "id": world.kr_id} in d.links and d.links[0]["type"] == "pilot"
        assert s.get(Pilot, world.running_id).status == "decided"  # type: ignore[union-attr]
        assert _count(db, PilotEvaluation) == 1  # evaluated once more before freezing
    after = admin.get(f"/pilots/P-1?decision={d.id}").text
    assert 'data-testid="decision-recorded"' in after and f'href="/decisions/{d.id}"' in after
    assert 'data-transition="closed"' in after  # decided → closed
    version = re.search(r'name="version" value="(\d+)"', after).group(1)  # type: ignore[union-attr]
    closed = admin.post("/pilots/P-1/transition", data={"target": "closed", "version": version, "csrf_token": token})
    assert closed.status_code == 200  # the redirect was followed to the pilot page
    page = admin.get("/pilots/P-1").text
    assert "Record decision" not in page and 'data-testid="evaluate"' not in page and "The pilot is closed" in page
    late = admin.post("/pilots/P-1/decisions", data={**form, "action": "scale"}, headers=HX)
    assert late.status_code == 422 and "is closed; to change its decision, supersede it" in late.text
    assert _count(db, Decision) == 1


def test_decision_log_filters_as_htmx_fragments(db: Database, admin: TestClient, world: PilotWorld) -> None:
    today = date.today()
    scaled = _decide(db, world, pilot_id=world.running_id, action="scale", review_on=today)
    _decide(db, world, title="Hire a second designer", decision="Open the role", decided_by="Bo Boss")
    _decide(
        db, world, title="Move to vendor B", decision="Sign with B", decided_on=today - timedelta(days=40),
        review_on=today - timedelta(days=3),
    )  # fmt: skip

    def total(query: str) -> int:
        html = admin.get(f"/decisions?{query}").text
        m = re.search(r'data-testid="decision-total">(\d+)<', html)
        assert m, query
        return int(m.group(1))

    assert total("") == 3
    assert total("action=scale") == 1 and total(f"pilot={world.running_id}") == 1
    assert total("by=Bo+Boss") == 1 and total("q=VENDOR") == 1
    assert total(f"since={(today - timedelta(days=10)).isoformat()}") == 2
    assert total(f"until={(today - timedelta(days=10)).isoformat()}") == 1
    html = admin.get("/decisions").text
    assert "review due today" in _text(html) and "review overdue since" in _text(html)
    assert html.count("is-review-due") == 2
    assert total("due=1") == 2  # only those whose review date has come
    assert 'name="due" value="1" checked' in admin.get("/decisions?due=1").text
    frag = admin.get("/decisions?action=scale&q=&by=", headers={**HX, "HX-Target": "decision-results"})
    assert frag.status_code == 200 and "<html" not in frag.text and 'id="decision-results"' in frag.text
    assert frag.headers["HX-Push-Url"] == "/decisions?action=scale"
    assert "Ship the one-page checkout" in frag.text and "Hire a second designer" not in frag.text
    _assert_no_inline(frag.text, "decision fragment")
    bad = admin.get("/decisions?since=yesterday&action=ship-it").text
    assert "Since is not a date" in bad and "Unknown action" in bad and total("since=yesterday") == 3
    with db.write() as s:
        newer = decisions.supersede(s, SYSTEM_ACTOR, scaled.id, {"title": "Scale to the US too"}, now=datetime.now(UTC))
        newer_id = newer.id
    html = admin.get("/decisions").text
    assert f'superseded by <a href="/decisions/{newer_id}">#{newer_id}</a>' in html
    assert f'supersedes <a href="/decisions/{scaled.id}">#{scaled.id}</a>' in html
    assert total("current=1") == 3 and total("") == 4


def test_decision_page_frozen_evidence_and_supersede(
    db: Database, admin: TestClient, viewer: TestClient, world: PilotWorld
) -> None:
    d = _decide(
        db, world, pilot_id=world.running_id, action="scale", rationale="Clear win",
        raci={"accountable": ["Carla CPO"]}, links=[{"type": "key_result", "id": world.kr_id}],
    )  # fmt: skip
    with db.write() as s:  # later results do not change what the decision froze
        pilots.record_results(s, SYSTEM_ACTOR, world.running_id, [_conv(world.start, "treatment", 5000, 100)])
    html = admin.get(f"/decisions/{d.id}").text
    text = _text(html)
    assert "Evidence, frozen" in text and 'data-testid="frozen-recommendation"' in html
    assert SCALE_RULE in text and "+30.0%" in text and "13.00%" in text and 'data-srm="ok"' in html
    assert 'data-chart-kind="effect"' in html and "Carla CPO" in text and f'href="/okr/kr/{world.kr_id}"' in html
    assert 'href="/pilots/P-1"' in html and "follows the recommendation" in text
    assert "cannot be edited or deleted" in text and 'id="supersede"' in html
    _assert_no_inline(html, "decision page")
    token = _csrf(html)
    form = {"title": "Roll back after all", "decision": "Switch it off", "action": "rollback",
            "rationale": "", "decided_by": "Ana Owner", "csrf_token": token}  # fmt: skip
    denied = viewer.post(f"/decisions/{d.id}/supersede", data={**form, "csrf_token": _token(viewer)})
    assert denied.status_code == 403
    assert admin.post(f"/decisions/{d.id}/supersede", data={**form, "csrf_token": ""}).status_code == 403
    # the later results recommend "continue" now: rolling back overrides that and needs a rationale
    refused = admin.post(f"/decisions/{d.id}/supersede", data=form, headers=HX)
    assert refused.status_code == 422 and 'id="supersede"' in refused.text and 'id="err-rationale"' in refused.text
    done = admin.post(f"/decisions/{d.id}/supersede", data={**form, "rationale": "Support load"}, headers=HX)
    assert done.status_code == 204
    with db.read() as s:
        newer = s.scalar(select(Decision).where(Decision.supersedes_id == d.id))
        assert newer is not None and newer.action == "rollback" and newer.overrides_recommendation
        assert newer.raci["accountable"][0]["name"] == "Carla CPO"  # taken over
        frozen_old = s.get(Decision, d.id).evidence["readout"]["primary"]["variants"]["treatment"]["mean"]  # type: ignore[union-attr]
        assert frozen_old == pytest.approx(0.13)
    assert done.headers["HX-Redirect"] == f"/decisions/{newer.id}?superseded={d.id}"
    old = admin.get(f"/decisions/{d.id}").text
    assert 'data-testid="superseded-by"' in old and "Record superseding decision" not in old
    assert re.search(r'data-testid="chain".*#' + str(d.id) + r".*#" + str(newer.id), old, re.S)
    again = admin.post(f"/decisions/{d.id}/supersede", data={**form, "rationale": "x"}, headers=HX)
    assert again.status_code == 422 and "already superseded by decision" in again.text
    fresh = admin.get(f"/decisions/{newer.id}?superseded={d.id}").text
    assert 'data-testid="superseded-notice"' in fresh and "overrides the recommendation (continue)" in _text(fresh)
    # no edit or delete of a decision anywhere
    for method, path in [
        ("post", f"/decisions/{d.id}/edit"),
        ("post", f"/decisions/{d.id}/delete"),
        ("delete", f"/decisions/{d.id}"),
        ("put", f"/decisions/{d.id}"),
        ("post", f"/decisions/{d.id}"),
    ]:
        resp = getattr(admin, method)(path, headers={"X-CSRF-Token": token})
        assert resp.status_code in (404, 405), (method, path)
    assert _count(db, Decision) == 2


def test_home_lists_what_needs_a_decision_or_a_review(db: Database, viewer: TestClient, world: PilotWorld) -> None:
    def attention() -> str:
        html = viewer.get("/").text
        start = html.index('data-testid="attention"')
        return html[start : html.index("</section>", start)]

    quiet = attention()
    assert 'data-testid="attention-count">0<' in quiet and "Nothing waits" in quiet
    assert 'data-testid="awaiting-decision"' not in viewer.get("/pilots").text
    today = datetime.now(UTC).date()
    with db.write() as s:
        pilots.evaluate(s, SYSTEM_ACTOR, world.running_id, datetime.now(UTC))  # the rules recommend scale
        retro = retros.create_retro(
            s, SYSTEM_ACTOR, world.workspace_id, {"kind": "retrospective", "title": "Sprint 12", "held_on": today}
        )
        retros.add_action(
            s,
            SYSTEM_ACTOR,
            retro.id,
            {
                "title": "Page the on-call on SLO burn",
                "owner_person_id": world.owner_id,
                "due_on": today - timedelta(days=3),
            },
        )
    _decide(
        db,
        world,
        title="Keep the old flow for B2B",
        decided_on=today - timedelta(days=30),
        review_on=today - timedelta(days=1),
    )
    card = attention()
    assert 'data-testid="attention-count">3<' in card
    listed = viewer.get("/pilots").text  # the list says so too, with the reason as its title
    assert listed.count('data-testid="awaiting-decision"') == 1 and 'title="the exit rules recommend scale"' in listed
    assert 'href="/pilots/P-1"' in card and "recommends" in card and ">scale<" in card
    assert "1 decision due for review" in _text(card) and 'href="/decisions?due=1"' in card
    assert "Keep the old flow for B2B" in card
    assert "1 action item overdue" in _text(card) and "Page the on-call on SLO burn" in card and "3 days late" in card
    assert "outcome review" not in card  # nothing delivered is due
