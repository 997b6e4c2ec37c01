"""The decision log through the API, on SQLite and PostgreSQL: filters (JSON and CSV), supersede chains,
immutability (PUT, PATCH and DELETE are 405 problems and the decision is unchanged after them), decisions due
for review, validation that names the field, and who may record what."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from tests.api_world import API, World, build_world
from tests.test_api_pilots import TODAY, call, fields_of, pilot_body, problem, running, two_days


@pytest.fixture
def world(db):
    with build_world(db, work=True) as w:
        yield w


def record(world: World, role: str = "admin", **fields: Any) -> dict[str, Any]:
    body = {"title": "Use vendor A", "decision": "Buy vendor A's fraud check", "decided_by": "Ada"} | fields
    r = call(world, "POST", f"/workspaces/{world.ws_a}/decisions", role, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [d["id"] for d in response.json()]


def test_log_filters_json_and_csv(world):
    ws, kr = world.ws_a, world.okr["kr_alpha"]
    old = record(
        world,
        decided_on=(TODAY - timedelta(days=40)).isoformat(),
        links=[{"type": "key_result", "id": kr}],
        raci={"accountable": ["Carla CPO"], "responsible": [world.person_alpha], "informed": ["Support"]},
        options=["vendor A", {"title": "build it", "cons": ["six months"]}],
        context="fraud losses doubled",
    )
    pid = running(world, rows=two_days(500, 650, 201.0))
    assert call(world, "POST", f"/pilots/{pid}/evaluate").json()["action"] == "scale"
    scaled = record(world, title="Ship the one-page checkout", decided_by="Bea", pilot_id=pid, action="scale")
    hire = record(world, title="Hire a designer", decision="Hire a second product designer", decided_by="Bea")
    base = f"/workspaces/{ws}/decisions"
    assert ids(call(world, "GET", base)) == [hire["id"], scaled["id"], old["id"]]  # newest first
    assert ids(call(world, "GET", f"{base}?pilot_id={pid}")) == [scaled["id"]]
    assert ids(call(world, "GET", f"{base}?link_type=key_result&link_id={kr}")) == [old["id"]]
    assert ids(call(world, "GET", f"{base}?link_type=pilot")) == [scaled["id"]]
    assert ids(call(world, "GET", f"{base}?decided_by=Bea")) == [hire["id"], scaled["id"]]
    since = (TODAY - timedelta(days=1)).isoformat()
    assert ids(call(world, "GET", f"{base}?since={since}")) == [hire["id"], scaled["id"]]
    assert ids(call(world, "GET", f"{base}?until={since}")) == [old["id"]]
    assert ids(call(world, "GET", f"{base}?q=DESIGNER")) == [hire["id"]]
    assert ids(call(world, "GET", f"{base}?action=scale")) == [scaled["id"]]
    paged = call(world, "GET", f"{base}?limit=1&offset=1")
    assert ids(paged) == [scaled["id"]] and paged.headers["x-total-count"] == "3"
    assert fields_of(problem(call(world, "GET", f"{base}?link_id={kr}"), 422)) == ["link_id"]
    assert fields_of(problem(call(world, "GET", f"{base}?action=ship-it"), 422)) == ["action"]
    assert fields_of(problem(call(world, "GET", f"{base}?link_type=wiki"), 422)) == ["link_type"]
    assert problem(call(world, "GET", f"{base}?since=99999-01-01"), 422)

    detail = call(world, "GET", f"/decisions/{old['id']}").json()
    assert detail["raci"]["responsible"] == [{"name": "Ada", "person_id": world.person_alpha}]
    assert detail["options"][1] == {"title": "build it", "cons": ["six months"]}
    assert detail["superseded_by"] is None and detail["chain"] == [old["id"]]

    export = call(world, "GET", f"{base}?format=csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [int(r["id"]) for r in rows] == [hire["id"], scaled["id"], old["id"]]
    assert rows[1]["action"] == "scale" and rows[1]["links"] == f"pilot:{pid}" and rows[1]["superseded_by"] == ""
    assert rows[2]["links"] == f"key_result:{kr}" and rows[2]["overrides_recommendation"] == "false"
    by_accept = call(world, "GET", f"{base}?decided_by=Bea", headers={"Accept": "text/csv"})
    assert len(list(csv.DictReader(io.StringIO(by_accept.text)))) == 2


def test_supersede_chain(world):
    first = record(world, links=[{"type": "key_result", "id": world.okr["kr_alpha"]}])
    url = f"/decisions/{first['id']}/supersede"
    r = call(world, "POST", url, json={"title": "Use vendor B", "rationale": "A was too slow"})
    assert r.status_code == 201, r.text
    second = r.json()
    assert r.headers["location"] == f"{API}/decisions/{second['id']}"
    assert second["supersedes_id"] == first["id"] and second["decided_by"] == "Ada"  # taken over
    assert second["evidence"]["supersedes"]["title"] == "Use vendor A"
    assert second["chain"] == [first["id"], second["id"]] and second["superseded_by"] is None
    again = problem(call(world, "POST", url, json={"title": "Use vendor C"}), 409)
    assert f"already superseded by decision {second['id']}" in again["detail"]
    assert again["superseded_by"] == second["id"]
    third = call(world, "POST", f"/decisions/{second['id']}/supersede", json={"title": "Use vendor C"}).json()
    for d in (first, second, third):
        assert call(world, "GET", f"/decisions/{d['id']}").json()["chain"] == [first["id"], second["id"], third["id"]]
    assert call(world, "GET", f"/decisions/{first['id']}").json()["superseded_by"] == second["id"]
    log = f"/workspaces/{world.ws_a}/decisions"
    assert ids(call(world, "GET", f"{log}?current_only=true")) == [third["id"]]
    listed = {d["id"]: d["superseded_by"] for d in call(world, "GET", log).json()}
    assert listed == {first["id"]: second["id"], second["id"]: third["id"], third["id"]: None}
    unknown = problem(call(world, "POST", f"/decisions/{third['id']}/supersede", json={"colour": "red"}), 422)
    assert fields_of(unknown) == ["colour"]
    assert problem(call(world, "POST", "/decisions/999999/supersede", json={"title": "x"}), 404)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_a_decision_cannot_be_changed_or_deleted(world, method):
    d = record(world, rationale="cheapest that meets the SLA")
    url = f"/decisions/{d['id']}"
    before = call(world, "GET", url)
    for role in ("admin", "superuser", "anonymous"):
        body = problem(call(world, method, url, role, json={"rationale": "edited later", "title": "Edited"}), 405)
        assert body["title"] == "Method not allowed" and body["instance"] == f"{API}{url}"
        assert body["detail"] == (
            "decisions are immutable: a recorded decision cannot be changed or deleted; record a new decision that "
            f"supersedes it (POST {API}{url}/supersede)"
        )
    refused = call(world, method, url, json={"rationale": "edited later"})
    assert refused.headers["allow"] == "GET"  # read-only; POST /decisions/{id}/supersede records a change of mind
    after = call(world, "GET", url)
    assert after.status_code == 200 and after.json() == before.json()
    assert ids(call(world, "GET", f"/workspaces/{world.ws_a}/decisions")) == [d["id"]]


def test_due_for_review(world):
    past = (TODAY - timedelta(days=30)).isoformat()
    due = record(world, decided_on=past, review_on=(TODAY - timedelta(days=1)).isoformat())
    today = record(world, title="Review today", review_on=TODAY.isoformat())
    record(world, title="Not yet", review_on=(TODAY + timedelta(days=1)).isoformat())
    record(world, title="Never")
    replaced = record(world, title="Replaced", decided_on=past, review_on=(TODAY - timedelta(days=5)).isoformat())
    newer = call(world, "POST", f"/decisions/{replaced['id']}/supersede", json={"title": "Replacement"}).json()
    assert newer["review_on"] is None  # the old review date had passed: the new decision sets its own
    url = f"/workspaces/{world.ws_a}/decisions/due-for-review"
    assert ids(call(world, "GET", url)) == [due["id"], today["id"]]
    rows = list(csv.DictReader(io.StringIO(call(world, "GET", f"{url}?format=csv").text)))
    assert [r["title"] for r in rows] == ["Use vendor A", "Review today"]
    assert call(world, "GET", url, "viewer").status_code == 200
    assert problem(call(world, "GET", url, "outsider"), 404)


def test_validation_names_the_field(world):
    url = f"/workspaces/{world.ws_a}/decisions"
    base = {"title": "Use vendor A", "decision": "Buy it", "decided_by": "Ada"}
    cases = [
        ({"raci": {"accountable": ["A", "B"]}}, "raci.accountable"),
        ({"raci": {"owner": ["A"]}}, "raci"),
        ({"raci": {"informed": [999999]}}, "raci.informed"),
        ({"links": [{"type": "incident", "id": 4242}]}, "links"),
        ({"links": [{"type": "wiki", "id": 1}]}, "links.0.type"),
        ({"decided_on": TODAY.isoformat(), "review_on": (TODAY - timedelta(days=1)).isoformat()}, "review_on"),
        ({"decision": " "}, "decision"),
        ({"options": [{"pros": ["no title"]}]}, "options"),
        ({"action": "ship-it"}, "action"),
        ({"evidence": {"p": float("nan")}}, "evidence"),
    ]
    for extra, field in cases:
        sent = json.dumps(base | extra)  # NaN is not JSON, but some clients send it
        body = problem(call(world, "POST", url, content=sent, headers={"Content-Type": "application/json"}), 422)
        assert field in fields_of(body), (extra, body)
    draft = call(world, "POST", f"/workspaces/{world.ws_a}/pilots", json=pilot_body(world, "P-D")).json()
    on_draft = problem(call(world, "POST", url, json=base | {"pilot_id": draft["id"], "action": "scale"}), 409)
    assert "is a draft" in on_draft["detail"]
    assert ids(call(world, "GET", url)) == []


def test_who_records_what(world):
    kr_alpha, kr_beta = world.okr["kr_alpha"], world.okr["kr_beta"]
    # A team contributor records decisions about its team's work, not about another team's or the workspace's.
    record(world, "contributor_team", links=[{"type": "key_result", "id": kr_alpha}])
    url = f"/workspaces/{world.ws_a}/decisions"
    body = {"title": "T", "decision": "D", "decided_by": "Ada"}
    assert problem(call(world, "POST", url, "contributor_team", json=body), 403)
    beta = body | {"links": [{"type": "key_result", "id": kr_beta}]}
    assert problem(call(world, "POST", url, "contributor_team", json=beta), 403)
    assert problem(call(world, "POST", url, "viewer", json=body), 403)
    assert problem(call(world, "POST", url, "outsider", json=body), 404)
    record(world, "contributor_ws")
    assert len(call(world, "GET", url, "viewer").json()) == 2
