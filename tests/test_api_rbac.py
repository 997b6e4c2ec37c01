"""The access policy of the REST API, as one explicit table: every endpoint x every role -> status.

Roles, in column order (see tests/api_world.py): ``anon`` = no token; ``view`` = viewer of workspace A;
``c_tm`` = contributor on team alpha of A; ``c_ws`` = contributor on all of A; ``admn`` = admin of A (not a
superuser); ``supr`` = superuser without any membership; ``othr`` = admin of workspace B only. Every token has all
scopes, so this table shows the role policy alone; tests/test_api_tokens.py covers scopes.

Reading the table: 2xx = allowed; 401 = no credentials; 403 = a member without the needed role; 404 = the
object is invisible to the caller (another workspace's objects look as if they did not exist).
Each row runs against one fresh world; objects a row deletes or creates are per role (``*_mine``), so every
role's request meets the same state.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_world import API, ROLES, World, build_world

# fmt: off
MATRIX: list[tuple[str, str, tuple[int, ...], dict[str, Any] | None]] = [
    # method   path                                   anon view c_tm c_ws admn supr othr  body
    ("GET",    "/workspaces",                         (401, 200, 200, 200, 200, 200, 200), None),
    ("POST",   "/workspaces",                         (401, 403, 403, 403, 403, 201, 403),
        {"slug": "new-{i}", "name": "New"}),
    ("GET",    "/workspaces/{ws_a}",                  (401, 200, 200, 200, 200, 200, 404), None),
    ("PATCH",  "/workspaces/{ws_a}",                  (401, 403, 403, 403, 200, 200, 404), {"name": "Acme {i}"}),
    ("GET",    "/workspaces/{ws_a}/teams",            (401, 200, 200, 200, 200, 200, 404), None),
    ("POST",   "/workspaces/{ws_a}/teams",            (401, 403, 403, 403, 201, 201, 404),
        {"slug": "new-{i}", "name": "New"}),
    ("GET",    "/teams/{team_alpha}",                 (401, 200, 200, 200, 200, 200, 404), None),
    ("PATCH",  "/teams/{team_alpha}",                 (401, 403, 200, 200, 200, 200, 404), {"name": "Alpha {i}"}),
    ("PATCH",  "/teams/{team_beta}",                  (401, 403, 403, 200, 200, 200, 404), {"name": "Beta {i}"}),
    ("PATCH",  "/teams/{team_alpha}",                 (401, 403, 403, 403, 200, 200, 404),
        {"parent_id": "{team_beta}"}),
    ("DELETE", "/teams/{team_del_mine}",              (401, 403, 403, 403, 204, 204, 404), None),
    ("GET",    "/workspaces/{ws_a}/people",           (401, 200, 200, 200, 200, 200, 404), None),
    ("POST",   "/workspaces/{ws_a}/people",           (401, 403, 201, 201, 201, 201, 404),
        {"name": "N {i}", "team_id": "{team_alpha}"}),
    ("POST",   "/workspaces/{ws_a}/people",           (401, 403, 403, 403, 201, 201, 404), {"name": "No team {i}"}),
    ("GET",    "/people/{person_alpha}",              (401, 200, 200, 200, 200, 200, 404), None),
    ("PATCH",  "/people/{person_alpha}",              (401, 403, 200, 200, 200, 200, 404), {"title": "Lead {i}"}),
    ("PATCH",  "/people/{person_beta}",               (401, 403, 403, 200, 200, 200, 404), {"title": "Lead {i}"}),
    ("DELETE", "/people/{person_del_mine}",           (401, 403, 204, 204, 204, 204, 404), None),
    ("GET",    "/users",                              (401, 200, 200, 200, 200, 200, 200), None),
    ("POST",   "/users",                              (401, 403, 403, 403, 201, 201, 403),
        {"username": "new-{i}", "workspace_id": "{ws_a}", "role": "viewer"}),
    ("POST",   "/users",                              (401, 403, 403, 403, 403, 201, 403), {"username": "free-{i}"}),
    ("GET",    "/users/{viewer_user}",                (401, 200, 404, 404, 200, 200, 404), None),
    ("PATCH",  "/users/{viewer_user}",                (401, 200, 404, 404, 200, 200, 404), {"display_name": "V {i}"}),
    ("GET",    "/me",                                 (401, 200, 200, 200, 200, 200, 200), None),
    ("GET",    "/workspaces/{ws_a}/memberships",      (401, 200, 200, 200, 200, 200, 404), None),
    ("POST",   "/workspaces/{ws_a}/memberships",      (401, 403, 403, 403, 201, 201, 404),
        {"user_id": "{loner_mine}", "role": "viewer"}),
    ("GET",    "/memberships/{m_contributor_team}",   (401, 200, 200, 200, 200, 200, 404), None),
    ("PATCH",  "/memberships/{m_target}",             (401, 403, 403, 403, 200, 200, 404), {"role": "contributor"}),
    ("DELETE", "/memberships/{m_del_mine}",           (401, 403, 403, 403, 204, 204, 404), None),
    ("GET",    "/tokens",                             (401, 200, 200, 200, 200, 200, 200), None),
    ("POST",   "/tokens",                             (401, 201, 201, 201, 201, 201, 201),
        {"name": "ci {i}", "scopes": ["read"]}),
    ("DELETE", "/tokens/{spare_token}",               (401, 204, 404, 404, 404, 204, 404), None),
    ("GET",    "/audit?workspace_id={ws_a}",          (401, 403, 403, 403, 200, 200, 403), None),
    ("GET",    "/audit",                              (401, 403, 403, 403, 403, 200, 403), None),
]
# fmt: on


def _fill(value: Any, ids: dict[str, int], i: int) -> Any:
    """Put the world's ids into a body: ``"{team_alpha}"`` becomes the int, ``"new-{i}"`` the role's number."""
    if isinstance(value, dict):
        return {k: _fill(v, ids, i) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids, i) for v in value]
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
            return ids[value[1:-1]]
        return value.format(i=i, **ids)
    return value


def test_matrix_covers_every_route() -> None:
    from okrflow.api.routers import ROUTERS
    from tests.test_api_okr_rbac import OKR_MATRIX
    from tests.test_api_pilots_rbac import PILOTS_MATRIX
    from tests.test_api_work_rbac import WORK_MATRIX

    routes = {(m, r.path) for router in ROUTERS for r in router.routes for m in r.methods}  # type: ignore[attr-defined]
    covered = set()
    for method, path, _, _ in [*MATRIX, *OKR_MATRIX, *WORK_MATRIX, *PILOTS_MATRIX]:
        template = path.split("?")[0]
        for route_method, route_path in routes:
            parts, mine = route_path.strip("/").split("/"), template.strip("/").split("/")
            same = len(parts) == len(mine) and all(
                a == b or (a.startswith("{") and b.startswith("{")) for a, b in zip(parts, mine, strict=True)
            )
            if same and route_method == method:
                covered.add((route_method, route_path))
    assert routes - covered == set(), "every API route needs a row in the RBAC matrix"


@pytest.mark.parametrize(
    ("method", "path", "expected", "body"),
    MATRIX,
    ids=[f"{m} {p}{' ' + str(sorted(b)) if b else ''}" for m, p, _, b in MATRIX],
)
def test_rbac_matrix(db, method: str, path: str, expected: tuple[int, ...], body: dict[str, Any] | None) -> None:
    got: dict[str, int] = {}
    with build_world(db, disposables="_mine" in f"{path} {body}") as world:
        _run_row(world, method, path, body, got)
    assert got == dict(zip(ROLES, expected, strict=True))


def _run_row(world: World, method: str, path: str, body: dict[str, Any] | str | None, got: dict[str, int]) -> None:
    """One row for every role; a ``str`` body is sent as ``text/csv``."""
    for i, role in enumerate(ROLES):
        ids = world.ids(role)
        kwargs: dict[str, Any] = {"headers": world.headers(role)}
        if isinstance(body, str):
            kwargs["content"] = _fill(body, ids, i).encode()
            kwargs["headers"]["Content-Type"] = "text/csv"
        elif body is not None:
            kwargs["json"] = _fill(body, ids, i)
        response = world.client.request(method, API + path.format(**ids), **kwargs)
        got[role] = response.status_code
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", (role, response.text)
            problem = response.json()
            assert problem["status"] == response.status_code and problem["detail"], (role, problem)
        if response.status_code == 401:
            assert response.headers["www-authenticate"].startswith("Bearer"), role


def test_lists_show_only_what_the_caller_may_see(db) -> None:
    with build_world(db) as world:
        _check_lists(world)


def _check_lists(world: World) -> None:
    c = world.client
    outsider = c.get(f"{API}/workspaces", headers=world.headers("outsider")).json()
    assert [w["slug"] for w in outsider] == ["globex"]
    assert sorted(w["slug"] for w in c.get(f"{API}/workspaces", headers=world.headers("superuser")).json()) == [
        "acme",
        "globex",
    ]
    # A contributor sees only their own account; a workspace admin sees the members of the workspace.
    mine = c.get(f"{API}/users", headers=world.headers("contributor_team")).json()
    assert [u["username"] for u in mine] == ["contributor-team"]
    admin_view = {u["username"] for u in c.get(f"{API}/users", headers=world.headers("admin")).json()}
    assert {"viewer", "contributor-team", "admin"} <= admin_view and "outsider" not in admin_view
    # Own tokens only.
    tokens = c.get(f"{API}/tokens", headers=world.headers("viewer")).json()
    assert {t["user_id"] for t in tokens} == {world.users["viewer"]}


def test_me_shows_account_memberships_and_scopes(db) -> None:
    with build_world(db) as world:
        r = world.client.get(f"{API}/me", headers=world.headers("contributor_team"))
    assert r.status_code == 200
    me = r.json()
    assert me["user"]["username"] == "contributor-team"
    assert "password_hash" not in me["user"]
    assert me["memberships"] == [{"workspace_id": world.ws_a, "team_id": world.team_alpha, "role": "contributor"}]
    assert me["scopes"] == ["admin", "read", "write"]
    assert r.headers["etag"] == f'"{me["user"]["version"]}"'
