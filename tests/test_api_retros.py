"""Retrospectives, blameless postmortems and their action items, and anticipated vs actual outcomes, through the
API on SQLite and PostgreSQL: postmortem + owned actions + the overdue list (JSON and CSV), ETag / If-Match,
outcome reviews due and the realization rate (per team too), and validation problems that name the field."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.work import WorkRecord
from okrflow.services import imports, sources
from okrflow.store.models_delivery import Incident
from okrflow.store.models_work import WorkItem
from tests.api_world import API, World, build_world
from tests.test_api_pilots import TODAY, call, fields_of, problem


@pytest.fixture
def world(db):
    with build_world(db, work=True) as w:
        yield w


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def postmortem(world: World, **extra: Any) -> dict[str, Any]:
    body = {
        "kind": "postmortem",
        "title": "Payments outage",
        "held_on": day(-10),
        "team_id": world.team_alpha,
        "what_happened": "A config push disabled the card provider for 2 hours.",
        "impact": "12% of checkouts failed.",
        "contributing_factors": ["no canary for config pushes", "alert routed to an old channel"],
        "learnings": "Config is code.",
    } | extra
    r = call(world, "POST", f"/workspaces/{world.ws_a}/retrospectives", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def action(world: World, retro_id: int, role: str = "admin", **extra: Any):
    body = {"title": "Canary for config pushes", "owner_person_id": world.person_alpha, "due_on": day(-5)} | extra
    return call(world, "POST", f"/retrospectives/{retro_id}/action-items", role, json=body)


def test_postmortem_with_actions_and_the_overdue_list(world):
    with world.db.read() as s:
        incident = s.scalar(select(Incident.id).where(Incident.external_id == "inc1"))
    pm = postmortem(world, incident_id=incident)
    assert pm["contributing_factors"][0] == "no canary for config pushes" and pm["incident_id"] == incident
    r = action(world, pm["id"], playbook_url="/docs/runbooks/config-rollback")
    assert r.status_code == 201, r.text
    late = r.json()
    assert r.headers["location"] == f"{API}/action-items/{late['id']}" and r.headers["etag"] == '"1"'
    assert late["owner"] == "Ada" and late["status"] == "open"
    later = action(world, pm["id"], title="Alert routing test", owner_person_id=world.person_beta, due_on=day(-2))
    done = action(world, pm["id"], title="Write the runbook", due_on=day(-20)).json()
    ahead = action(world, pm["id"], title="Quarterly game day", due_on=day(40)).json()
    closed = call(world, "PATCH", f"/action-items/{done['id']}", json={"status": "done"}, headers={"If-Match": '"1"'})
    assert closed.status_code == 200 and closed.headers["etag"] == '"2"' and closed.json()["status"] == "done"
    stale = problem(
        call(world, "PATCH", f"/action-items/{done['id']}", json={"title": "x"}, headers={"If-Match": '"1"'}), 412
    )
    assert stale["current_version"] == 2
    assert call(world, "GET", f"/action-items/{done['id']}").json()["title"] == "Write the runbook"

    listed = call(world, "GET", f"/retrospectives/{pm['id']}/action-items").json()
    assert [a["id"] for a in listed] == [late["id"], later.json()["id"], done["id"], ahead["id"]]
    overdue = call(world, "GET", f"/workspaces/{world.ws_a}/action-items/overdue")
    assert overdue.status_code == 200
    assert [(o["action_item_id"], o["owner"], o["days_overdue"]) for o in overdue.json()] == [
        (late["id"], "Ada", 5),
        (later.json()["id"], "Bea", 2),
    ]
    assert overdue.json()[0]["retrospective"] == "Payments outage" and overdue.json()[0]["kind"] == "postmortem"
    assert overdue.json()[0]["playbook_url"] == "/docs/runbooks/config-rollback"
    rows = list(
        csv.DictReader(
            io.StringIO(call(world, "GET", f"/workspaces/{world.ws_a}/action-items/overdue?format=csv").text)
        )
    )
    assert [r["title"] for r in rows] == ["Canary for config pushes", "Alert routing test"]
    assert rows[0]["days_overdue"] == "5" and rows[0]["due_on"] == day(-5)
    beta = call(world, "GET", f"/workspaces/{world.ws_a}/action-items/overdue?team_id={world.team_beta}")
    assert beta.json() == []

    # Lists and filters; an edit under If-Match.
    retro = call(
        world,
        "POST",
        f"/workspaces/{world.ws_a}/retrospectives",
        json={"title": "Q3 retrospective", "held_on": day(-1), "team_id": world.team_alpha},
    ).json()
    base = f"/workspaces/{world.ws_a}/retrospectives"
    assert [x["id"] for x in call(world, "GET", base).json()] == [retro["id"], pm["id"]]  # the most recent first
    assert [x["id"] for x in call(world, "GET", f"{base}?kind=postmortem").json()] == [pm["id"]]
    assert [x["id"] for x in call(world, "GET", f"{base}?incident_id={incident}").json()] == [pm["id"]]
    assert call(world, "GET", f"{base}?team_id={world.team_beta}").json() == []
    got = call(world, "GET", f"/retrospectives/{pm['id']}")
    etag = got.headers["etag"]
    changed = call(
        world,
        "PATCH",
        f"/retrospectives/{pm['id']}",
        json={"learnings": "Config goes through CI."},
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200
    assert problem(
        call(world, "PATCH", f"/retrospectives/{pm['id']}", json={"title": "x"}, headers={"If-Match": etag}), 412
    )
    no_impact = problem(call(world, "PATCH", f"/retrospectives/{pm['id']}", json={"impact": ""}), 422)
    assert fields_of(no_impact) == ["impact"]


def test_retrospective_validation_and_permissions(world):
    base = f"/workspaces/{world.ws_a}/retrospectives"
    cases = [
        ({"kind": "postmortem", "title": "Outage", "held_on": day(0), "what_happened": "x"}, "impact"),
        ({"kind": "premortem", "title": "x", "held_on": day(0)}, "kind"),
        ({"title": "x"}, "held_on"),
        ({"title": "x", "held_on": "9999-01-01"}, "held_on"),
        ({"title": "x", "held_on": day(0), "team_id": world.team_b}, "team_id"),
        ({"title": "x", "held_on": day(0), "incident_id": 999999}, "incident_id"),
        ({"title": "x", "held_on": day(0), "contributing_factors": ["f"] * 51}, "contributing_factors"),
        ({"title": " ", "held_on": day(0)}, "title"),
    ]
    for body, field in cases:
        assert field in fields_of(problem(call(world, "POST", base, json=body), 422)), body
    pm = postmortem(world)
    for extra, field in [
        ({"playbook_url": "javascript:alert(1)"}, "playbook_url"),
        ({"owner_person_id": world.person_b}, "owner_person_id"),
        ({"due_on": None}, "due_on"),
        ({"status": "later"}, "status"),
        ({"colour": "red"}, "colour"),
    ]:
        assert field in fields_of(problem(action(world, pm["id"], **extra), 422)), extra
    item = action(world, pm["id"]).json()
    assert fields_of(
        problem(call(world, "PATCH", f"/action-items/{item['id']}", json={"owner_person_id": None}), 422)
    ) == ["owner_person_id"]
    # Team contributors write their team's retrospectives; viewers read; other workspaces see nothing.
    assert action(world, pm["id"], "contributor_team").status_code == 201
    assert problem(action(world, pm["id"], "viewer"), 403)
    assert problem(call(world, "GET", f"/retrospectives/{pm['id']}", "outsider"), 404)
    assert problem(call(world, "GET", f"/action-items/{item['id']}", "outsider"), 404)
    workspace_level = {"title": "All hands retro", "held_on": day(0)}
    assert problem(call(world, "POST", base, "contributor_team", json=workspace_level), 403)
    assert call(world, "POST", base, "contributor_ws", json=workspace_level).status_code == 201


# ------------------------------------------------------------------ outcomes


def _initiatives(world: World) -> dict[str, int]:
    """Initiatives of team alpha (source files-a) and one of team beta (a second source): resolved 60, 50 and 40
    days ago, one still open; a story."""
    created = datetime.combine(TODAY - timedelta(days=100), time(9), tzinfo=UTC)

    def resolved(days: int) -> datetime:
        return datetime.combine(TODAY - timedelta(days=days), time(12), tzinfo=UTC)

    def ini(ext: str, done: int | None) -> WorkRecord:
        return WorkRecord(
            ext, "Initiative", "Done" if done else "In Progress", created, key=ext, title=f"Initiative {ext}",
            resolved=resolved(done) if done else None,
        )  # fmt: skip

    imports.import_records(
        world.db,
        SYSTEM_ACTOR,
        world.work["source_a"],
        [ini("INI-1", 60), ini("INI-2", 50), ini("INI-3", 40), ini("INI-4", None)],
    )
    with world.db.write() as s:
        src = sources.create_source(s, SYSTEM_ACTOR, world.ws_a, "files-b", "files", team_id=world.team_beta)
    imports.import_records(world.db, SYSTEM_ACTOR, src.id, [ini("INI-9", 45)])
    with world.db.read() as s:
        return {i.key: i.id for i in s.scalars(select(WorkItem).where(WorkItem.key.like("INI-%")))}


def anticipate(world: World, item_id: int, by: str, role: str = "admin", **headers: str):
    body = {
        "problem": "people abandon the cart",
        "expected_result": "more completed checkouts",
        "measured_by": "weekly conversion from the warehouse",
        "metric_key": "checkout_conversion",
        "target": 0.12,
        "by_date": by,
        "how_we_learn": "pilot P-1, then the monthly review",
    }
    return call(world, "PUT", f"/work-items/{item_id}/anticipated-outcome", role, json=body, headers=headers)


def test_outcomes_due_and_realization_rate(world):
    items = _initiatives(world)
    url = f"/work-items/{items['INI-1']}/anticipated-outcome"
    first = call(world, "GET", url)
    assert first.status_code == 200 and first.json()["anticipated_outcome"] is None
    etag = first.headers["etag"]
    r = anticipate(world, items["INI-1"], day(-10), **{"If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["anticipated_outcome"]["by_date"] == day(-10) and r.headers["etag"] != etag
    assert problem(anticipate(world, items["INI-1"], day(-10), **{"If-Match": etag}), 412)
    for key, by in (("INI-2", -20), ("INI-3", 30), ("INI-4", -5), ("INI-9", -15)):
        assert anticipate(world, items[key], day(by)).status_code == 200
    story = problem(anticipate(world, world.work["item_story"], day(-1)), 422)
    assert fields_of(story) == ["work_item_id"] and "initiatives and epics" in story["detail"]

    # The actual outcome: 201 the first time, 200 after; its own ETag.
    actual_url = f"/work-items/{items['INI-2']}/actual-outcome"
    assert problem(call(world, "GET", actual_url), 404)
    body = {"result": "achieved", "observed_on": day(-3), "observed_value": 0.125, "learning": "the step was it"}
    assert problem(call(world, "PUT", actual_url, json=body, headers={"If-Match": '"1"'}), 412)
    made = call(world, "PUT", actual_url, json=body)
    assert (
        made.status_code == 201 and made.headers["location"] == f"{API}{actual_url}" and made.headers["etag"] == '"1"'
    )
    changed = call(world, "PUT", actual_url, json=body | {"result": "partially"}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200 and changed.json()["result"] == "partially" and changed.headers["etag"] == '"2"'
    assert problem(call(world, "PUT", actual_url, json=body, headers={"If-Match": '"1"'}), 412)
    assert call(world, "GET", actual_url).json()["observed_value"] == 0.125
    no_answer = problem(call(world, "PUT", f"/work-items/{world.work['item_epic']}/actual-outcome", json=body), 422)
    assert "no anticipated outcome" in no_answer["detail"]
    assert fields_of(problem(call(world, "PUT", actual_url, json=body | {"result": "meh"}), 422)) == ["result"]

    # Reviews due: delivered, past the by-date, no actual outcome; the longest overdue first.
    due = call(world, "GET", f"/workspaces/{world.ws_a}/outcomes/due")
    assert [(d["key"], d["days_overdue"]) for d in due.json()] == [("INI-9", 15), ("INI-1", 10)]
    assert due.json()[0]["metric_key"] == "checkout_conversion" and due.json()[0]["target"] == 0.12
    alpha = call(world, "GET", f"/workspaces/{world.ws_a}/outcomes/due?team_id={world.team_alpha}&format=csv")
    assert [r["key"] for r in csv.DictReader(io.StringIO(alpha.text))] == ["INI-1"]

    # Realization: of the four delivered in the window, one partially, none achieved yet; per team too.
    rate_url = f"/workspaces/{world.ws_a}/outcomes/realization-rate?start={day(-90)}&end={day(0)}"
    rate = call(world, "GET", rate_url).json()
    assert (rate["delivered"], rate["achieved"], rate["partially"], rate["pending"], rate["rate"]) == (4, 0, 1, 3, 0.0)
    assert sorted(rate["item_ids"]) == sorted(items[k] for k in ("INI-1", "INI-2", "INI-3", "INI-9"))
    by_team = {t["team"]: (t["delivered"], t["partially"]) for t in rate["by_team"]}
    assert by_team == {"Alpha": (3, 1), "Beta": (1, 0)}
    call(world, "PUT", actual_url, json=body, headers={"If-Match": '"2"'})  # achieved after all
    alpha_rate = call(world, "GET", f"{rate_url}&team_id={world.team_alpha}").json()
    assert alpha_rate["rate"] == pytest.approx(1 / 3) and alpha_rate["team"] == "Alpha" and alpha_rate["by_team"] == []
    table = list(csv.DictReader(io.StringIO(call(world, "GET", f"{rate_url}&format=csv").text)))
    assert [(t["team"], t["delivered"]) for t in table] == [("Alpha", "3"), ("Beta", "1"), ("all", "4")]
    assert table[-1]["rate"] == "0.25"
    empty = call(world, "GET", f"/workspaces/{world.ws_a}/outcomes/realization-rate?start={day(-5)}&end={day(0)}")
    assert empty.json()["delivered"] == 0 and empty.json()["rate"] is None
    backwards = f"/workspaces/{world.ws_a}/outcomes/realization-rate?start={day(0)}&end={day(-5)}"
    assert fields_of(problem(call(world, "GET", backwards), 422)) == ["end"]
    assert fields_of(problem(call(world, "GET", f"{rate_url}&team_id={world.team_b}"), 422)) == ["team_id"]
    assert problem(call(world, "GET", f"/workspaces/{world.ws_a}/outcomes/realization-rate?start={day(0)}"), 422)
    assert problem(
        call(world, "GET", f"/workspaces/{world.ws_a}/outcomes/realization-rate?start=1900-01-01&end={day(0)}"), 422
    )
    # Permissions: the item's team writes, viewers read, other workspaces see nothing.
    assert anticipate(world, items["INI-1"], day(-10), "contributor_team").status_code == 200
    assert problem(anticipate(world, items["INI-9"], day(-10), "contributor_team"), 403)
    assert problem(anticipate(world, items["INI-1"], day(-10), "viewer"), 403)
    assert problem(call(world, "GET", url, "outsider"), 404)
    assert call(world, "GET", f"/workspaces/{world.ws_a}/outcomes/due", "viewer").status_code == 200
