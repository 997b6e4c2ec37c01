"""Optimistic locking through the API: ETag / If-Match, 412 on a stale edit, no lost update under concurrency."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.errors import StaleVersionError
from okrflow.services import tenancy
from okrflow.store.models import Person, Team
from tests.api_world import API, World, build_world

# kind -> (path of one object, a change, the field to read back)
KINDS = {
    "workspace": ("/workspaces/{ws_a}", {"name": "Renamed"}, "name"),
    "team": ("/teams/{team_alpha}", {"name": "Renamed"}, "name"),
    "person": ("/people/{person_alpha}", {"title": "Renamed"}, "title"),
    "user": ("/users/{viewer_user}", {"display_name": "Renamed"}, "display_name"),
    "membership": ("/memberships/{m_target}", {"role": "contributor"}, "role"),
}


def _url(w: World, template: str) -> str:
    return API + template.format(**w.ids())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_etag_if_match_and_412(db, kind: str) -> None:
    template, change, field = KINDS[kind]
    with build_world(db) as w:
        c, h, url = w.client, w.headers("admin"), _url(w, template)
        first = c.get(url, headers=h)
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert etag == f'"{first.json()["version"]}"'

        ok = c.patch(url, headers={**h, "If-Match": etag}, json=change)
        assert ok.status_code == 200, ok.text
        assert ok.json()[field] == change[field]
        new_etag = ok.headers["etag"]
        assert int(new_etag.strip('"')) == int(etag.strip('"')) + 1
        assert c.get(url, headers=h).headers["etag"] == new_etag

        stale = c.patch(url, headers={**h, "If-Match": etag}, json={field: first.json()[field]})
        assert stale.status_code == 412
        assert stale.headers["content-type"] == "application/problem+json"
        problem = stale.json()
        assert problem["title"] == "Precondition failed"
        assert "changed by someone else" in problem["detail"] and "reload" in problem["detail"]
        assert problem["current_version"] == int(new_etag.strip('"'))
        assert c.get(url, headers=h).json()[field] == change[field]  # the stale write changed nothing

        for bad in ("3", "abc", '"1", "2"', '"' + "9" * 40 + '"'):
            r = c.patch(url, headers={**h, "If-Match": bad}, json=change)
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["errors"][0]["field"] == "If-Match"
        # a weak tag or "*" is accepted
        assert c.patch(url, headers={**h, "If-Match": f"W/{new_etag}"}, json=change).status_code == 200
        assert c.patch(url, headers={**h, "If-Match": "*"}, json=change).status_code == 200


@pytest.mark.parametrize("kind", ["team", "person", "membership"])
def test_delete_honours_if_match(db, kind: str) -> None:
    path = {"team": "/teams/{team_beta}", "person": "/people/{person_beta}", "membership": "/memberships/{m_target}"}
    with build_world(db) as w:
        c, h, url = w.client, w.headers("admin"), _url(w, path[kind])
        etag = c.get(url, headers=h).headers["etag"]
        if kind == "team":  # a team with people cannot go; move Bea out first
            c.patch(_url(w, "/people/{person_beta}"), headers=h, json={"team_id": None})
        stale = c.delete(url, headers={**h, "If-Match": '"99"'})
        assert stale.status_code == 412, stale.text
        assert c.get(url, headers=h).status_code == 200
        assert c.delete(url, headers={**h, "If-Match": etag}).status_code == 204
        gone = c.get(url, headers=h)
        assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("kind", ["team", "person"])
def test_no_lost_update_under_concurrent_patches(db, kind: str) -> None:
    """N clients read the same version, then all PATCH with that If-Match at once: one wins, the rest get 412."""
    template, _, field = KINDS[kind]
    n = 8
    with build_world(db) as w:
        url, h = _url(w, template), w.headers("admin")
        etag = w.client.get(url, headers=h).headers["etag"]
        app = create_app(db)
        barrier = threading.Barrier(n)
        results: dict[int, int] = {}

        def writer(i: int) -> None:
            with TestClient(app, raise_server_exceptions=False) as client:
                barrier.wait()
                r = client.patch(url, headers={**h, "If-Match": etag}, json={field: f"writer {i}"})
                results[i] = r.status_code

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(results.values()) == [200] + [412] * (n - 1), results
        winner = next(i for i, status in results.items() if status == 200)
        final = w.client.get(url, headers=h)
        assert final.json()[field] == f"writer {winner}"
        assert final.headers["etag"] == f'"{int(etag.strip(chr(34))) + 1}"'
        # exactly one update reached the audit log
        audit = w.client.get(
            f"{API}/audit",
            headers=w.headers("superuser"),
            params={"entity_type": kind, "entity_id": str(final.json()["id"])},
        ).json()
        assert [e["action"] for e in audit] == ["update", "create"]


@pytest.mark.parametrize("model", [Team, Person])
def test_version_guard_without_if_match(db, admin_setup, admin_actor, model: type) -> None:
    """Two sessions load the same row and both change it: the second flush fails, even with no If-Match."""
    with db.write() as s:
        team = tenancy.create_team(s, SYSTEM_ACTOR, admin_setup.workspace_id, "core", "Core")
        person = tenancy.create_person(s, SYSTEM_ACTOR, admin_setup.workspace_id, "Ann", team_id=team.id)
    row_id = team.id if model is Team else person.id
    update = tenancy.update_team if model is Team else tenancy.update_person
    field = "name" if model is Team else "title"

    with Session(db.engine, expire_on_commit=False) as first:
        loaded = first.get(model, row_id)
        assert loaded is not None and loaded.version == 1
        first.commit()  # keep the loaded (version 1) object, end the read
        with db.write() as second:
            update(second, admin_actor, row_id, {field: "second"})
        with pytest.raises(StaleVersionError, match="someone else changed"):
            update(first, admin_actor, row_id, {field: "first"})  # no expected_version given
        first.rollback()
    with db.read() as s:
        row = s.get(model, row_id)
        assert getattr(row, field) == "second" and row.version == 2
