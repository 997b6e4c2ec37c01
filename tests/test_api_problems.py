"""Errors are RFC 9457 problem+json; bad input is a 4xx that names the field, never a 500; health and OpenAPI."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from okrflow.api.app import create_app
from okrflow.store import migrate
from tests.api_world import API, World, build_world

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def _problem(r, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert set(body) >= PROBLEM_KEYS and body["status"] == status
    assert "Traceback" not in r.text
    return body


def test_problem_shapes(db) -> None:
    with build_world(db) as w:
        c, h = w.client, w.headers("admin")
        p = _problem(c.get(f"{API}/teams/999999", headers=h), 404)
        assert p["detail"] == "team 999999 does not exist" and p["instance"] == f"{API}/teams/999999"
        _problem(c.get(f"{API}/no-such-route", headers=h), 404)
        _problem(c.put(f"{API}/teams/{w.team_alpha}", headers=h, json={}), 405)

        p = _problem(
            c.post(f"{API}/workspaces/{w.ws_a}/teams", headers=h, json={"slug": "Bad Slug!", "name": "", "x": 1}), 422
        )
        assert {e["field"] for e in p["errors"]} == {"slug", "name", "x"}
        assert all(e["message"] for e in p["errors"])

        # a rule checked by the service has the same shape
        p = _problem(
            c.post(f"{API}/workspaces/{w.ws_a}/people", headers=h, json={"name": "N", "team_id": w.team_b}), 422
        )
        assert p["errors"] == [{"field": "team_id", "message": p["detail"], "type": "invalid"}]

        p = _problem(c.get(f"{API}/workspaces"), 401)
        assert "Bearer" in p["detail"]
        assert c.get(f"{API}/workspaces").headers["www-authenticate"] == 'Bearer realm="okrflow"'

        p = _problem(c.post(f"{API}/workspaces/{w.ws_a}/teams", headers=h, json={"slug": "alpha", "name": "A"}), 409)
        assert "exists already" in p["detail"]


def test_unexpected_error_is_a_500_problem_without_internals(db) -> None:
    app = create_app(db)
    api = next(r.app for r in app.routes if getattr(r, "path", "") == "/api/v1")  # type: ignore[attr-defined]

    @api.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2 at /srv/okrflow/x.py")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get(f"{API}/boom")
    p = _problem(r, 500)
    assert p["title"] == "Internal error"
    for leak in ("secret", "hunter2", "RuntimeError", "x.py", "Traceback", 'File "'):
        assert leak not in r.text


def _write_requests(w: World) -> list[tuple[str, str]]:
    return [
        ("POST", "/workspaces"),
        ("PATCH", f"/workspaces/{w.ws_a}"),
        ("POST", f"/workspaces/{w.ws_a}/teams"),
        ("PATCH", f"/teams/{w.team_alpha}"),
        ("POST", f"/workspaces/{w.ws_a}/people"),
        ("PATCH", f"/people/{w.person_alpha}"),
        ("POST", "/users"),
        ("PATCH", f"/users/{w.users['viewer']}"),
        ("POST", f"/workspaces/{w.ws_a}/memberships"),
        ("PATCH", f"/memberships/{w.target_membership}"),
        ("POST", "/tokens"),
    ]


NASTY_BODIES: list[object] = [
    None,
    [],
    "text",
    12,
    {"name": None},
    {"name": 123, "slug": ["a"]},
    {"name": "x" * 100_000},
    {"name": "nul\x00byte", "slug": "ok", "title": "\x00"},
    {"name": "\ud800", "slug": "ok-2"},
    {"team_id": 10**30, "parent_id": -1, "user_id": 2**63, "person_id": 1e308},
    {"team_id": 424242, "user_id": 424242, "person_id": 424242, "parent_id": 424242, "role": "viewer", "name": "n"},
    {"settings": {"a": float("nan")}},
    {"settings": {"a": 1e309}},
    {"email": "not-an-email", "name": "n"},
    {"expires_at": "0000-00-00", "scopes": ["read"], "name": "n"},
    {"role": "root", "username": "../../etc"},
]


def test_no_input_makes_a_500(db) -> None:
    with build_world(db) as w:
        c, h = w.client, {**w.headers("superuser"), "Content-Type": "application/json"}
        raw = ["{", "{bad json", '{"a": 1e99999}', '{"name": "\\ud800"}', "[" * 5000 + "]" * 5000, "\xff"]
        for method, path in _write_requests(w):
            for body in NASTY_BODIES:
                # json.dumps as a careless client would: NaN literals, \ud800 escapes for lone surrogates
                r = c.request(method, API + path, headers=h, content=json.dumps(body).encode())
                assert 400 <= r.status_code < 500, (method, path, body, r.status_code, r.text[:300])
                assert r.headers["content-type"] == "application/problem+json"
            for text in raw:
                r = c.request(method, API + path, headers=h, content=text.encode("utf-8", "surrogateescape"))
                assert 400 <= r.status_code < 500, (method, path, text[:20], r.status_code, r.text[:300])


@pytest.mark.parametrize(
    "query",
    [
        "/teams/abc",
        "/teams/0",
        "/teams/-5",
        "/teams/99999999999999999999999999",
        "/people/1.5",
        "/workspaces/1/people?team_id=abc",
        "/workspaces/1/people?team_id=99999999999999999999",
        "/workspaces?limit=0",
        "/workspaces?limit=100000",
        "/workspaces?offset=-1",
        "/workspaces?offset=999999999999999999999",
        "/audit?limit=abc",
        "/audit?before_seq=99999999999999999999",
        "/audit?entity_id=%00",
        "/audit?entity_type=DROP%20TABLE",
        "/memberships/abc",
    ],
)
def test_bad_paths_and_queries_are_422(db, query: str) -> None:
    with build_world(db) as w:
        p = _problem(w.client.get(API + query, headers=w.headers("superuser")), 422)
        assert p["errors"][0]["field"]


def test_lists_page_with_limit_and_offset(db) -> None:
    with build_world(db) as w:
        c, h = w.client, w.headers("admin")
        everyone = c.get(f"{API}/workspaces/{w.ws_a}/people", headers=h)
        assert everyone.headers["x-total-count"] == str(len(everyone.json())) == "2"
        page = c.get(f"{API}/workspaces/{w.ws_a}/people", headers=h, params={"limit": 1, "offset": 1})
        assert [p["name"] for p in page.json()] == [everyone.json()[1]["name"]]
        assert page.headers["x-total-count"] == "2"
        only_alpha = c.get(f"{API}/workspaces/{w.ws_a}/people", headers=h, params={"team_id": w.team_alpha})
        assert [p["name"] for p in only_alpha.json()] == ["Ada"]


def test_post_returns_201_location_and_etag(db) -> None:
    with build_world(db) as w:
        c, h = w.client, w.headers("admin")
        r = c.post(f"{API}/workspaces/{w.ws_a}/teams", headers=h, json={"slug": " Growth ", "name": " Growth "})
        assert r.status_code == 201
        team = r.json()
        assert (team["slug"], team["name"], team["version"]) == ("growth", "Growth", 1)
        assert r.headers["location"] == f"{API}/teams/{team['id']}"
        assert r.headers["etag"] == '"1"'
        assert c.get(r.headers["location"], headers=h).json() == team


def test_a_failed_request_leaves_nothing_behind(db) -> None:
    """The user row is written before the membership fails: the whole request is one transaction."""
    with build_world(db) as w:
        c, h = w.client, w.headers("superuser")
        body = {"username": "halfway", "workspace_id": w.ws_a, "role": "viewer", "team_id": w.team_b}
        p = _problem(c.post(f"{API}/users", headers=h, json=body), 422)
        assert p["errors"][0]["field"] == "team_id"
        assert "halfway" not in {u["username"] for u in c.get(f"{API}/users", headers=h).json()}
        audit = c.get(f"{API}/audit", headers=h, params={"entity_type": "user", "limit": 1000}).json()
        assert all((e["after"] or {}).get("username") != "halfway" for e in audit)


def test_user_responses_never_carry_password_hash(db) -> None:
    with build_world(db) as w:
        c, h = w.client, w.headers("superuser")
        r = c.post(f"{API}/users", headers=h, json={"username": "pat", "password": "long-enough-secret"})
        assert r.status_code == 201
        assert "password" not in r.text and "argon2" not in r.text
        listed = c.get(f"{API}/users", headers=h).text
        assert "password" not in listed and "argon2" not in listed
        short = c.post(f"{API}/users", headers=h, json={"username": "pat2", "password": "short"})
        assert _problem(short, 422)["errors"][0]["field"] == "password"


def test_healthz_reports_schema_revision(db) -> None:
    migrate.upgrade(db)
    with TestClient(create_app(db)) as c:
        r = c.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["schema"] == migrate.head_revision() and body["database"] == db.backend


def test_openapi_document_lists_every_path(db) -> None:
    with TestClient(create_app(db)) as c:
        r = c.get(f"{API}/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "okrflow API"
    expected = {
        "/workspaces": {"get", "post"},
        "/workspaces/{workspace_id}": {"get", "patch"},
        "/workspaces/{workspace_id}/teams": {"get", "post"},
        "/teams/{team_id}": {"get", "patch", "delete"},
        "/workspaces/{workspace_id}/people": {"get", "post"},
        "/people/{person_id}": {"get", "patch", "delete"},
        "/users": {"get", "post"},
        "/users/{user_id}": {"get", "patch"},
        "/me": {"get"},
        "/workspaces/{workspace_id}/memberships": {"get", "post"},
        "/memberships/{membership_id}": {"get", "patch", "delete"},
        "/tokens": {"get", "post"},
        "/tokens/{token_id}": {"delete"},
        "/audit": {"get"},
        "/workspaces/{workspace_id}/periods": {"get", "post"},
        "/workspaces/{workspace_id}/periods/year": {"post"},
        "/periods/{period_id}": {"get", "patch"},
        "/workspaces/{workspace_id}/objectives": {"get", "post"},
        "/workspaces/{workspace_id}/okr-tree": {"get"},
        "/objectives/{objective_id}": {"get", "patch", "delete"},
        "/objectives/{objective_id}/key-results": {"get", "post"},
        "/key-results/{key_result_id}": {"get", "patch", "delete"},
        "/key-results/{key_result_id}/chart": {"get"},
        "/key-results/{key_result_id}/checkins": {"get", "post"},
        "/checkins/{checkin_id}": {"get", "patch", "delete"},
        "/workspaces/{workspace_id}/checkins-due": {"get"},
        "/workspaces/{workspace_id}/metrics": {"get", "post"},
        "/metrics/{metric_id}": {"get"},
        "/metrics/{metric_id}/versions": {"get", "post"},
        "/metrics/{metric_id}/versions/compare": {"get"},
        "/metrics/{metric_id}/versions/{number}": {"get"},
        "/metrics/{metric_id}/values": {"get"},
        "/workspaces/{workspace_id}/metric-values": {"post"},
        "/workspaces/{workspace_id}/metric-values/csv": {"post"},
        "/workspaces/{workspace_id}/north-star": {"put"},
        "/workspaces/{workspace_id}/glossary": {"get"},
        "/workspaces/{workspace_id}/sources": {"get", "post"},
        "/sources/{source_id}": {"get", "patch"},
        "/sources/{source_id}/mapping": {"get"},
        "/sources/{source_id}/sync": {"post"},
        "/sources/{source_id}/test": {"post"},
        "/sources/{source_id}/runs": {"get"},
        "/runs/{run_id}": {"get"},
        "/sources/{source_id}/import": {"post"},
        "/workspaces/{workspace_id}/work-items": {"get"},
        "/work-items/{item_id}": {"get"},
        "/work-items/{item_id}/links": {"post"},
        "/work-items/{item_id}/links/{key_result_id}": {"delete"},
        "/workspaces/{workspace_id}/links/from-labels": {"post"},
        "/workspaces/{workspace_id}/traceability-matrix": {"get"},
        "/workspaces/{workspace_id}/unaligned-work": {"get"},
        "/workspaces/{workspace_id}/flow/report": {"get"},
        "/workspaces/{workspace_id}/flow/cfd": {"get"},
        "/workspaces/{workspace_id}/flow/throughput": {"get"},
        "/workspaces/{workspace_id}/flow/scatter": {"get"},
        "/workspaces/{workspace_id}/flow/aging": {"get"},
        "/workspaces/{workspace_id}/flow/value-stream": {"get"},
        "/workspaces/{workspace_id}/flow/forecast": {"get"},
        "/workspaces/{workspace_id}/dora": {"get"},
        "/workspaces/{workspace_id}/pilots": {"get", "post"},
        "/workspaces/{workspace_id}/pilots/awaiting-decision": {"get"},
        "/pilots/{pilot_id}": {"get", "patch"},
        "/pilots/{pilot_id}/transitions": {"post"},
        "/pilots/{pilot_id}/extend": {"post"},
        "/pilots/{pilot_id}/ninety-days": {"get"},
        "/pilots/{pilot_id}/results": {"get", "post"},
        "/pilots/{pilot_id}/results/csv": {"post"},
        "/pilots/{pilot_id}/readout": {"get"},
        "/pilots/{pilot_id}/evaluate": {"post"},
        "/pilots/{pilot_id}/evaluations": {"get"},
        "/workspaces/{workspace_id}/decisions": {"get", "post"},
        "/workspaces/{workspace_id}/decisions/due-for-review": {"get"},
        "/decisions/{decision_id}": {"get"},  # immutable: no put, patch or delete
        "/decisions/{decision_id}/supersede": {"post"},
        "/work-items/{item_id}/anticipated-outcome": {"get", "put"},
        "/work-items/{item_id}/actual-outcome": {"get", "put"},
        "/workspaces/{workspace_id}/outcomes/due": {"get"},
        "/workspaces/{workspace_id}/outcomes/realization-rate": {"get"},
        "/workspaces/{workspace_id}/retrospectives": {"get", "post"},
        "/retrospectives/{retrospective_id}": {"get", "patch"},
        "/retrospectives/{retrospective_id}/action-items": {"get", "post"},
        "/action-items/{action_item_id}": {"get", "patch"},
        "/workspaces/{workspace_id}/action-items/overdue": {"get"},
    }
    assert {path: set(ops) for path, ops in doc["paths"].items()} == expected
    schemas = doc["components"]["schemas"]
    assert "password_hash" not in schemas["UserRead"]["properties"]
    assert "token" not in schemas["TokenRead"]["properties"] and "token" in schemas["TokenCreated"]["properties"]
    assert schemas["TeamUpdate"].get("additionalProperties") is False
    assert (
        "credentials" not in schemas["SourceRead"]["properties"]
        and "credentials" in schemas["SourceCreate"]["properties"]
    )
    # every $ref resolves
    text = r.text
    for name in {part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]}:
        assert name in schemas, name
    try:
        from openapi_spec_validator import validate
    except ImportError:
        return
    validate(doc)


def test_linking_an_account_to_an_unknown_person_is_422(db) -> None:
    with build_world(db) as w:
        c = w.client
        url = f"{API}/users/{w.users['viewer']}"
        for person_id in (424242, w.person_b):  # missing, and in a workspace the viewer cannot see
            p = _problem(c.patch(url, headers=w.headers("viewer"), json={"person_id": person_id}), 422)
            assert p["errors"][0]["field"] == "person_id"
        r = c.patch(url, headers=w.headers("viewer"), json={"person_id": w.person_alpha})
        assert r.status_code == 200 and r.json()["person_id"] == w.person_alpha
