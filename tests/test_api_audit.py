"""Every write through the API lands in the audit log with the acting user and the before/after of the row."""

from __future__ import annotations

from okrflow.services import audit
from tests.api_world import API, build_world


def test_every_write_is_audited_with_user_and_before_after(db) -> None:
    with build_world(db) as w:
        c, h = w.client, w.headers("admin")  # the admin user is called "admin"

        def ok(r, status: int) -> dict:  # type: ignore[no-untyped-def]
            assert r.status_code == status, r.text
            return r.json() if status != 204 else {}

        team = ok(c.post(f"{API}/workspaces/{w.ws_a}/teams", headers=h, json={"slug": "ops", "name": "Ops"}), 201)
        ok(c.patch(f"{API}/teams/{team['id']}", headers=h, json={"name": "Operations"}), 200)
        person = ok(
            c.post(f"{API}/workspaces/{w.ws_a}/people", headers=h, json={"name": "Cy", "team_id": team["id"]}), 201
        )
        ok(c.patch(f"{API}/people/{person['id']}", headers=h, json={"title": "SRE"}), 200)
        ok(c.delete(f"{API}/people/{person['id']}", headers=h), 204)
        ok(c.delete(f"{API}/teams/{team['id']}", headers=h), 204)
        user = ok(
            c.post(f"{API}/users", headers=h, json={"username": "dee", "workspace_id": w.ws_a, "role": "viewer"}), 201
        )
        ok(c.patch(f"{API}/users/{user['id']}", headers=h, json={"display_name": "Dee"}), 200)
        members = ok(c.get(f"{API}/workspaces/{w.ws_a}/memberships", headers=h), 200)
        m_id = next(m["id"] for m in members if m["user_id"] == user["id"])
        ok(c.patch(f"{API}/memberships/{m_id}", headers=h, json={"role": "contributor"}), 200)
        ok(c.delete(f"{API}/memberships/{m_id}", headers=h), 204)
        ok(c.patch(f"{API}/workspaces/{w.ws_a}", headers=h, json={"description": "We make things"}), 200)
        token = ok(c.post(f"{API}/tokens", headers=h, json={"name": "ci", "scopes": ["read"]}), 201)
        ok(c.delete(f"{API}/tokens/{token['id']}", headers=h), 204)

        expected = [
            ("create", "team", team["id"]),
            ("update", "team", team["id"]),
            ("create", "person", person["id"]),
            ("update", "person", person["id"]),
            ("delete", "person", person["id"]),
            ("delete", "team", team["id"]),
            ("create", "user", user["id"]),
            ("create", "membership", m_id),
            ("update", "user", user["id"]),
            ("update", "membership", m_id),
            ("delete", "membership", m_id),
            ("update", "workspace", w.ws_a),
            ("create", "api_token", token["id"]),
            ("revoke", "api_token", token["id"]),
        ]
        log = ok(c.get(f"{API}/audit", headers=w.headers("superuser"), params={"limit": len(expected)}), 200)
        log.reverse()  # oldest first
        assert [(e["action"], e["entity_type"], int(e["entity_id"])) for e in log] == expected
        assert {e["actor"] for e in log} == {"user:admin"}
        for e in log:
            if e["action"] == "create":
                assert e["before"] is None and e["after"]["id"] == int(e["entity_id"])
            elif e["action"] == "delete":
                assert e["before"]["id"] == int(e["entity_id"]) and e["after"] is None
            else:
                assert e["before"] and e["after"] and e["before"] != e["after"]
        update_team = log[1]
        assert (update_team["before"]["name"], update_team["after"]["name"]) == ("Ops", "Operations")
        assert update_team["after"]["version"] == update_team["before"]["version"] + 1
        assert all("password_hash" not in (e["after"] or {}) for e in log)

        # the workspace admin sees the workspace's entries, filtered and paged
        mine = ok(c.get(f"{API}/audit", headers=h, params={"workspace_id": w.ws_a, "entity_type": "team"}), 200)
        assert {(e["action"], int(e["entity_id"])) for e in mine} >= {("create", team["id"]), ("delete", team["id"])}
        assert all(e["workspace_id"] == w.ws_a and e["entity_type"] == "team" for e in mine)
        one = ok(c.get(f"{API}/audit", headers=h, params={"workspace_id": w.ws_a, "limit": 1}), 200)
        older = ok(
            c.get(f"{API}/audit", headers=h, params={"workspace_id": w.ws_a, "limit": 2, "before_seq": one[0]["seq"]}),
            200,
        )
        assert len(one) == 1 and len(older) == 2 and all(e["seq"] < one[0]["seq"] for e in older)
        by_id = ok(
            c.get(
                f"{API}/audit",
                headers=h,
                params={"workspace_id": w.ws_a, "entity_type": "person", "entity_id": person["id"]},
            ),
            200,
        )
        assert [e["action"] for e in by_id] == ["delete", "update", "create"]

    with db.read() as s:
        assert audit.verify(s).ok


def test_denied_and_invalid_writes_leave_no_audit_entry(db) -> None:
    with build_world(db) as w:
        c = w.client
        before = c.get(f"{API}/audit", headers=w.headers("superuser"), params={"limit": 1}).json()[0]["seq"]
        assert (
            c.patch(f"{API}/teams/{w.team_alpha}", headers=w.headers("viewer"), json={"name": "X"}).status_code == 403
        )
        assert c.patch(f"{API}/teams/{w.team_alpha}", headers=w.headers("admin"), json={"name": ""}).status_code == 422
        stale = c.patch(
            f"{API}/teams/{w.team_alpha}", headers=w.headers("admin", **{"If-Match": '"7"'}), json={"name": "Y"}
        )
        assert stale.status_code == 412
        after = c.get(f"{API}/audit", headers=w.headers("superuser"), params={"limit": 1}).json()[0]["seq"]
        assert after == before
