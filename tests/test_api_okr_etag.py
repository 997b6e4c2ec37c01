"""Optimistic locking of the OKR endpoints: ETag / If-Match on objectives, key results, check-ins and metric
revisions; stale edits are 412; concurrent check-in edits lose no update."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from okrflow.api.app import create_app
from tests.api_world import API, World, build_world

KINDS = {
    "period": ("/periods/{period_q1}", {"name": "Renamed"}, "name"),
    "objective": ("/objectives/{obj_alpha}", {"title": "Renamed"}, "title"),
    "key_result": ("/key-results/{kr_alpha}", {"title": "Renamed"}, "title"),
    "checkin": ("/checkins/{checkin_alpha}", {"note": "Renamed"}, "note"),
}


def _url(w: World, template: str) -> str:
    return API + template.format(**w.ids())


@pytest.mark.parametrize("kind", ["period", "objective", "key_result", "checkin"])
def test_etag_if_match_and_412(db, kind: str) -> None:
    template, change, field = KINDS[kind]
    assert change is not None and field is not None
    with build_world(db, okr=True) as w:
        c, h, url = w.client, w.headers("contributor_ws"), _url(w, template)
        first = c.get(url, headers=h)
        etag = first.headers["etag"]
        assert etag == f'"{first.json()["version"]}"'
        ok = c.patch(url, headers={**h, "If-Match": etag}, json=change)
        assert ok.status_code == 200 and ok.json()[field] == "Renamed", ok.text
        new_etag = ok.headers["etag"]
        assert int(new_etag.strip('"')) == int(etag.strip('"')) + 1 == ok.json()["version"]
        assert c.get(url, headers=h).headers["etag"] == new_etag

        stale = c.patch(url, headers={**h, "If-Match": etag}, json={field: "Lost"})
        assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
        assert stale.json()["current_version"] == int(new_etag.strip('"'))
        assert c.get(url, headers=h).json()[field] == "Renamed"
        bad = c.patch(url, headers={**h, "If-Match": "v1"}, json=change)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "If-Match"

        if kind != "period":  # periods are not deleted through the API
            assert c.delete(url, headers={**h, "If-Match": etag}).status_code == 412
            assert c.delete(url, headers={**h, "If-Match": new_etag}).status_code == 204


def test_every_single_object_get_sets_an_etag(db) -> None:
    with build_world(db, okr=True) as w:
        for template in (
            "/periods/{period_q1}",
            "/objectives/{obj_alpha}",
            "/key-results/{kr_alpha}",
            "/key-results/{kr_alpha}/chart",
            "/checkins/{checkin_alpha}",
            "/metrics/{metric_a}",
        ):
            r = w.client.get(_url(w, template), headers=w.headers("viewer"))
            assert r.status_code == 200 and r.headers["etag"].startswith('"'), template


def test_metric_revision_honours_if_match(db) -> None:
    with build_world(db, okr=True) as w:
        c, h = w.client, w.headers("contributor_ws")
        url = _url(w, "/metrics/{metric_a}")
        etag = c.get(url, headers=h).headers["etag"]
        body = {"changes": {"unit": "%"}, "reason": "percent, not ratio"}
        r = c.post(f"{url}/versions", headers={**h, "If-Match": etag}, json=body)
        assert r.status_code == 201 and r.json()["number"] == 2, r.text
        assert r.headers["location"] == f"{url}/versions/2"
        assert r.headers["etag"] == c.get(url, headers=h).headers["etag"] != etag
        stale = c.post(f"{url}/versions", headers={**h, "If-Match": etag}, json={**body, "changes": {"unit": "x"}})
        assert stale.status_code == 412, stale.text
        assert [v["number"] for v in c.get(f"{url}/versions", headers=h).json()] == [1, 2]


def test_no_lost_update_under_concurrent_checkin_edits(db) -> None:
    """N clients read the same check-in, then all PATCH it with that If-Match at once: one wins, the rest 412."""
    n = 6
    with build_world(db, okr=True) as w:
        url, h = _url(w, "/checkins/{checkin_alpha}"), w.headers("contributor_team")
        etag = w.client.get(url, headers=h).headers["etag"]
        app = create_app(db)
        barrier = threading.Barrier(n)
        results: dict[int, int] = {}

        def writer(i: int) -> None:
            with TestClient(app, raise_server_exceptions=False) as client:
                barrier.wait()
                r = client.patch(url, headers={**h, "If-Match": etag}, json={"value": float(i), "note": f"w{i}"})
                results[i] = r.status_code

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(results.values()) == [200] + [412] * (n - 1), results
        winner = next(i for i, status in results.items() if status == 200)
        final = w.client.get(url, headers=h).json()
        assert (final["value"], final["note"], final["version"]) == (float(winner), f"w{winner}", 2)
        audit = w.client.get(
            f"{API}/audit",
            headers=w.headers("superuser"),
            params={"entity_type": "checkin", "entity_id": str(final["id"])},
        ).json()
        assert [e["action"] for e in audit] == ["update", "create"]
