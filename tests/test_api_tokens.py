"""API tokens: scopes limit the role, bad tokens are 401 with a reason, the secret is shown exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import auth, tenancy
from tests.api_world import API, build_world, user_token


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_read_scope_reads_but_cannot_write(db) -> None:
    with build_world(db) as w:
        read = _bearer(user_token(db, w.users["admin"], "read"))
        c = w.client
        assert c.get(f"{API}/workspaces/{w.ws_a}", headers=read).status_code == 200
        assert c.get(f"{API}/teams/{w.team_alpha}", headers=read).status_code == 200
        denied = [
            c.post(f"{API}/workspaces/{w.ws_a}/teams", headers=read, json={"slug": "x", "name": "X"}),
            c.patch(f"{API}/teams/{w.team_alpha}", headers=read, json={"name": "Renamed"}),
            c.patch(f"{API}/people/{w.person_alpha}", headers=read, json={"title": "Boss"}),
            c.delete(f"{API}/people/{w.person_alpha}", headers=read),
            c.post(f"{API}/workspaces/{w.ws_a}/people", headers=read, json={"name": "New", "team_id": w.team_alpha}),
            c.patch(f"{API}/users/{w.users['admin']}", headers=read, json={"display_name": "Me"}),
            c.patch(f"{API}/workspaces/{w.ws_a}", headers=read, json={"name": "Renamed"}),
            # a read token cannot mint a token with more scopes than itself
            c.post(f"{API}/tokens", headers=read, json={"name": "escalate", "scopes": ["admin"]}),
            # nor any token at all: a leaked token must not outlive its revocation through its offspring
            c.post(f"{API}/tokens", headers=read, json={"name": "offspring", "scopes": ["read"]}),
        ]
        assert [r.status_code for r in denied] == [403] * len(denied)
        assert all("scope" in r.json()["detail"] for r in denied), [r.json()["detail"] for r in denied]
        # nothing changed
        assert c.get(f"{API}/teams/{w.team_alpha}", headers=read).json()["name"] == "Alpha"


def test_write_scope_cannot_do_admin_only_actions(db) -> None:
    with build_world(db) as w:
        write = _bearer(user_token(db, w.users["admin"], "write"))
        c = w.client
        # contributor-level work is fine
        assert c.patch(f"{API}/teams/{w.team_alpha}", headers=write, json={"name": "Alpha 2"}).status_code == 200
        denied = [
            c.post(f"{API}/workspaces/{w.ws_a}/teams", headers=write, json={"slug": "x", "name": "X"}),
            c.delete(f"{API}/teams/{w.team_beta}", headers=write),
            c.patch(f"{API}/workspaces/{w.ws_a}", headers=write, json={"name": "Renamed"}),
            c.post(f"{API}/workspaces/{w.ws_a}/memberships", headers=write, json={"user_id": 1, "role": "admin"}),
            c.patch(f"{API}/memberships/{w.target_membership}", headers=write, json={"role": "admin"}),
            c.post(f"{API}/users", headers=write, json={"username": "x1", "workspace_id": w.ws_a, "role": "viewer"}),
        ]
        assert [r.status_code for r in denied] == [403] * len(denied)
        super_write = _bearer(user_token(db, w.users["superuser"], "read,write"))
        assert c.post(f"{API}/workspaces", headers=super_write, json={"slug": "x", "name": "X"}).status_code == 403


def test_expired_revoked_malformed_and_disabled_tokens_are_401(db) -> None:
    with build_world(db) as w:
        c = w.client
        past = datetime.now(UTC) - timedelta(days=2)
        with db.write() as s:
            _, expired = auth.create_token(
                s, SYSTEM_ACTOR, w.users["viewer"], "old", "read", expires_at=past + timedelta(days=1), now=past
            )
        live = c.post(f"{API}/tokens", headers=w.headers("viewer"), json={"name": "tmp", "scopes": ["read"]}).json()
        assert c.get(f"{API}/me", headers=_bearer(live["token"])).status_code == 200
        assert c.delete(f"{API}/tokens/{live['id']}", headers=w.headers("viewer")).status_code == 204
        with db.write() as s:
            tenancy.update_user(s, SYSTEM_ACTOR, w.users["contributor_ws"], {"is_active": False})

        cases = {
            "expired": (_bearer(expired), "expired"),
            "revoked": (_bearer(live["token"]), "revoked"),
            "malformed": (_bearer("not-a-token"), "malformed"),
            "unknown": (_bearer("okf_0123456789ab_" + "x" * 43), "not valid"),
            "wrong scheme": ({"Authorization": f"Basic {w.tokens['viewer']}"}, "Bearer"),
            "empty bearer": ({"Authorization": "Bearer "}, "Bearer"),
            "missing": ({}, "Authorization: Bearer"),
            "disabled account": (w.headers("contributor_ws"), "disabled"),
        }
        for name, (headers, reason) in cases.items():
            r = c.get(f"{API}/me", headers=headers)
            assert r.status_code == 401, name
            assert r.headers["www-authenticate"] == 'Bearer realm="okrflow"', name
            assert r.headers["content-type"] == "application/problem+json", name
            assert reason in r.json()["detail"], (name, r.json())


def test_token_secret_is_shown_once_and_never_listed(db) -> None:
    with build_world(db) as w:
        c = w.client
        r = c.post(
            f"{API}/tokens",
            headers=w.headers("viewer"),
            json={"name": "ci", "scopes": ["read", "write"], "expires_at": "2099-01-01T00:00:00"},
        )
        assert r.status_code == 201
        assert r.headers["cache-control"] == "no-store"
        created = r.json()
        secret = created["token"]
        assert secret.startswith("okf_") and created["scopes"] == ["read", "write"]
        assert created["status"] == "active" and created["expires_at"].startswith("2099-01-01T00:00:00")
        # the new token works and carries its scopes
        assert c.get(f"{API}/me", headers=_bearer(secret)).json()["scopes"] == ["read", "write"]

        listed = c.get(f"{API}/tokens", headers=w.headers("viewer"))
        assert listed.status_code == 200
        assert secret not in listed.text and "token_hash" not in listed.text
        assert all("token" not in t for t in listed.json())
        assert {t["name"] for t in listed.json()} >= {"main", "ci"}
        # nor in the audit log
        audit = c.get(f"{API}/audit", headers=w.headers("superuser"), params={"entity_type": "api_token"})
        assert audit.status_code == 200 and audit.json()
        # the random part after "okf_<prefix>_" (it may itself contain "_", so split at most twice)
        assert secret not in audit.text and secret.split("_", 2)[2] not in audit.text


def test_token_body_is_validated(db) -> None:
    with build_world(db) as w:
        c, h = w.client, w.headers("viewer")
        bad = {
            "unknown scope": {"name": "x", "scopes": ["root"]},
            "no scopes": {"name": "x", "scopes": []},
            "empty name": {"name": " ", "scopes": ["read"]},
            "past expiry": {"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"},
            "far expiry": {"name": "x", "scopes": ["read"], "expires_at": "9999-12-31T23:59:59-14:00"},
            "extra field": {"name": "x", "scopes": ["read"], "user_id": 1},
        }
        for name, body in bad.items():
            r = c.post(f"{API}/tokens", headers=h, json=body)
            assert r.status_code == 422, (name, r.text)
            assert r.json()["errors"][0]["field"].split(".")[0] in {"scopes", "name", "expires_at", "user_id"}, name
