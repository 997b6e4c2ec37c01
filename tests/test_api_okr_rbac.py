"""The access policy of the OKR and KPI-catalog endpoints, in the same table style as tests/test_api_rbac.py.

Columns: anon, view (viewer of A), c_tm (contributor on team alpha), c_ws (contributor on all of A), admn (admin
of A), supr (superuser, no membership), othr (admin of B only). A team contributor writes its own team's
objectives, key results and check-ins, but not another team's or workspace-level ones; metric definitions,
values and periods need the contributor role for the whole workspace; the north star needs admin.
A body given as a string is sent as ``text/csv``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_world import API, ROLES, build_world
from tests.test_api_rbac import _run_row

READ = (401, 200, 200, 200, 200, 200, 404)
TEAM_CREATE = (401, 403, 201, 201, 201, 201, 404)
TEAM_CHANGE = (401, 403, 200, 200, 200, 200, 404)
TEAM_DELETE = (401, 403, 204, 204, 204, 204, 404)
WS_CREATE = (401, 403, 403, 201, 201, 201, 404)
WS_CHANGE = (401, 403, 403, 200, 200, 200, 404)
ADMIN_CHANGE = (401, 403, 403, 403, 200, 200, 404)

# fmt: off
OKR_MATRIX: list[tuple[str, str, tuple[int, ...], dict[str, Any] | str | None]] = [
    # method   path                                              expected      body
    ("GET",    "/workspaces/{ws_a}/periods",                     READ,         None),
    ("POST",   "/workspaces/{ws_a}/periods",                     WS_CREATE,
        {"name": "P {i}", "kind": "custom", "start_date": "2026-02-01", "end_date": "2026-02-28"}),
    ("POST",   "/workspaces/{ws_a}/periods/year",                WS_CREATE,    {"year": 2026}),  # exists already
    ("POST",   "/workspaces/{ws_a}/periods/year",                WS_CREATE,    {"year": 2031}),
    ("GET",    "/periods/{period_q1}",                           READ,         None),
    ("PATCH",  "/periods/{period_q1}",                           WS_CHANGE,    {"name": "First quarter {i}"}),
    ("GET",    "/workspaces/{ws_a}/objectives?period_id={period_q1}", READ,    None),
    ("POST",   "/workspaces/{ws_a}/objectives",                  TEAM_CREATE,
        {"period_id": "{period_q1}", "title": "T {i}", "team_id": "{team_alpha}"}),
    ("POST",   "/workspaces/{ws_a}/objectives",                  WS_CREATE,
        {"period_id": "{period_q1}", "title": "T {i}", "team_id": "{team_beta}"}),
    ("POST",   "/workspaces/{ws_a}/objectives",                  WS_CREATE,
        {"period_id": "{period_q1}", "title": "T"}),
    ("GET",    "/workspaces/{ws_a}/okr-tree",                    READ,         None),
    ("GET",    "/objectives/{obj_alpha}",                        READ,         None),
    ("PATCH",  "/objectives/{obj_alpha}",                        TEAM_CHANGE,  {"title": "A {i}"}),
    ("PATCH",  "/objectives/{obj_beta}",                         WS_CHANGE,    {"title": "B {i}"}),
    ("PATCH",  "/objectives/{obj_ws}",                           WS_CHANGE,    {"title": "W {i}"}),
    ("PATCH",  "/objectives/{obj_del_mine}",                     WS_CHANGE,    {"team_id": "{team_beta}"}),
    ("DELETE", "/objectives/{obj_del_mine}",                     TEAM_DELETE,  None),
    ("GET",    "/objectives/{obj_alpha}/key-results",            READ,         None),
    ("POST",   "/objectives/{obj_alpha}/key-results",            TEAM_CREATE,
        {"title": "K {i}", "direction": "increase", "target": 5}),
    ("POST",   "/objectives/{obj_ws}/key-results",               WS_CREATE,
        {"title": "K {i}", "direction": "decrease", "baseline": 5, "target": 1}),
    ("GET",    "/key-results/{kr_alpha}",                        READ,         None),
    ("GET",    "/key-results/{kr_alpha}/chart",                  READ,         None),
    ("PATCH",  "/key-results/{kr_alpha}",                        TEAM_CHANGE,  {"title": "K {i}"}),
    ("PATCH",  "/key-results/{kr_beta}",                         WS_CHANGE,    {"weight": 2}),
    ("DELETE", "/key-results/{kr_del_mine}",                     TEAM_DELETE,  None),
    ("GET",    "/key-results/{kr_alpha}/checkins",               READ,         None),
    ("POST",   "/key-results/{kr_alpha}/checkins",               TEAM_CREATE,  {"value": 3, "confidence": 6}),
    ("POST",   "/key-results/{kr_ws}/checkins",                  WS_CREATE,    {"value": 3, "confidence": 6}),
    ("GET",    "/checkins/{checkin_alpha}",                      READ,         None),
    ("PATCH",  "/checkins/{checkin_alpha}",                      TEAM_CHANGE,  {"note": "n {i}"}),
    ("PATCH",  "/checkins/{checkin_beta}",                       WS_CHANGE,    {"confidence": 2}),
    ("DELETE", "/checkins/{checkin_del_mine}",                   TEAM_DELETE,  None),
    ("GET",    "/workspaces/{ws_a}/checkins-due?days=3",         READ,         None),
    ("GET",    "/workspaces/{ws_a}/metrics",                     READ,         None),
    ("POST",   "/workspaces/{ws_a}/metrics",                     WS_CREATE,    {"key": "m-{i}", "name": "M"}),
    ("GET",    "/metrics/{metric_a}",                            READ,         None),
    ("POST",   "/metrics/{metric_a}/versions",                   WS_CREATE,
        {"changes": {"definition": "D {i}"}, "reason": "clarify"}),
    ("GET",    "/metrics/{metric_a}/versions",                   READ,         None),
    ("GET",    "/metrics/{metric_a}/versions/compare?a=1&b=1",   READ,         None),
    ("GET",    "/metrics/{metric_a}/versions/{version_one}",     READ,         None),
    ("GET",    "/metrics/{metric_a}/values?dim.team=alpha",      READ,         None),
    ("POST",   "/workspaces/{ws_a}/metric-values",               WS_CHANGE,
        {"values": [{"metric": "conversion", "timestamp": "2026-02-1{i}", "value": 1.5}]}),
    ("POST",   "/workspaces/{ws_a}/metric-values/csv",           WS_CHANGE,
        "metric,timestamp,value,dim.team\nconversion,2026-03-1{i},2,alpha\n"),
    ("PUT",    "/workspaces/{ws_a}/north-star",                  ADMIN_CHANGE, {"metric_id": "{metric_a}"}),
    ("GET",    "/workspaces/{ws_a}/glossary?q=conv",             READ,         None),
]
# fmt: on


@pytest.mark.parametrize(
    ("method", "path", "expected", "body"),
    OKR_MATRIX,
    ids=[f"{m} {p}{' ' + str(sorted(b)) if isinstance(b, dict) else ''}" for m, p, _, b in OKR_MATRIX],
)
def test_okr_rbac_matrix(db, method: str, path: str, expected: tuple[int, ...], body: dict[str, Any] | None) -> None:
    got: dict[str, int] = {}
    with build_world(db, okr=True, disposables="_mine" in f"{path} {body}") as world:
        _run_row(world, method, path, body, got)
    assert got == dict(zip(ROLES, expected, strict=True))


def test_a_read_token_cannot_write_okrs(db) -> None:
    """Every write of the table with an admin's read-only token is a 403 that names the scope."""
    from tests.api_world import user_token
    from tests.test_api_rbac import _fill

    with build_world(db, okr=True, disposables=True) as world:
        headers = {"Authorization": f"Bearer {user_token(world.db, world.users['admin'], 'read')}"}
        ids = world.ids("admin")
        for method, path, _expected, body in OKR_MATRIX:
            if method == "GET":
                continue
            kwargs: dict[str, Any] = {"headers": dict(headers)}
            if isinstance(body, str):
                kwargs["content"] = _fill(body, ids, 4).encode()
                kwargs["headers"]["Content-Type"] = "text/csv"
            elif body is not None:
                kwargs["json"] = _fill(body, ids, 4)
            r = world.client.request(method, API + path.format(**ids), **kwargs)
            assert r.status_code == 403, (method, path, r.text)
            assert "scope" in r.json()["detail"], (method, path, r.json())
