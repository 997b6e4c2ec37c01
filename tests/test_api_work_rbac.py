"""The access policy of the work, traceability, flow and DORA endpoints, in the table style of
tests/test_api_rbac.py (columns: anon, view, c_tm, c_ws, admn, supr, othr).

Sources are configured by admins; syncs, connection tests and imports need the contributor role for the whole
workspace; a team contributor links its team's work; every read is open to members. ``{source_a}`` is a
``files`` source: a sync or a connection test of it is refused with 422 (files are imported, there is nothing to
connect to) — after the permission check; an import sent as ``text/csv`` instead of multipart is a 422 — after the
permission check too.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_world import ROLES, build_world
from tests.test_api_rbac import _run_row

READ = (401, 200, 200, 200, 200, 200, 404)
TEAM_CREATE = (401, 403, 201, 201, 201, 201, 404)
TEAM_DELETE = (401, 403, 204, 204, 204, 204, 404)
WS_CHANGE = (401, 403, 403, 200, 200, 200, 404)
WS_REFUSED = (401, 403, 403, 422, 422, 422, 404)
ADMIN_CREATE = (401, 403, 403, 403, 201, 201, 404)
ADMIN_CHANGE = (401, 403, 403, 403, 200, 200, 404)
W = "/workspaces/{ws_a}"

# fmt: off
WORK_MATRIX: list[tuple[str, str, tuple[int, ...], dict[str, Any] | str | None]] = [
    ("GET",    W + "/sources",                                      READ,         None),
    ("POST",   W + "/sources",                                      ADMIN_CREATE, {"name": "src-{i}", "kind": "files"}),
    ("GET",    "/sources/{source_a}",                               READ,         None),
    ("PATCH",  "/sources/{source_a}",                               ADMIN_CHANGE, {"settings": {"n": "{i}"}}),
    ("GET",    "/sources/{source_a}/mapping",                       READ,         None),
    ("POST",   "/sources/{source_a}/sync",                          WS_REFUSED,   None),
    ("POST",   "/sources/{source_a}/test",                          WS_REFUSED,   None),
    ("GET",    "/sources/{source_a}/runs",                          READ,         None),
    ("GET",    "/runs/{run_a}",                                     READ,         None),
    ("POST",   "/sources/{source_a}/import",                        WS_REFUSED,   "external_id,type\n"),
    ("GET",    W + "/work-items?level=story",                       READ,         None),
    ("GET",    "/work-items/{item_story}",                          READ,         None),
    ("POST",   "/work-items/{item_mine}/links",                     TEAM_CREATE,  {"key_result_id": "{kr_alpha}"}),
    ("DELETE", "/work-items/{linked_mine}/links/{kr_alpha}",        TEAM_DELETE,  None),
    ("POST",   W + "/links/from-labels",                            WS_CHANGE,    None),
    ("GET",    W + "/traceability-matrix",                          READ,         None),
    ("GET",    W + "/unaligned-work?period_id={period_q1}",         READ,         None),
    ("GET",    W + "/flow/report?since=2026-10-01&until=2026-10-31", READ,        None),
    ("GET",    W + "/flow/cfd?since=2026-10-01&until=2026-10-31",   READ,         None),
    ("GET",    W + "/flow/throughput",                              READ,         None),
    ("GET",    W + "/flow/scatter",                                 READ,         None),
    ("GET",    W + "/flow/aging",                                   READ,         None),
    ("GET",    W + "/flow/value-stream",                            READ,         None),
    ("GET",    W + "/flow/forecast?items=3&seed=1",                 READ,         None),
    ("GET",    W + "/dora",                                         READ,         None),
]
# fmt: on


@pytest.mark.parametrize(
    ("method", "path", "expected", "body"),
    WORK_MATRIX,
    ids=[f"{m} {p}{' ' + str(sorted(b)) if isinstance(b, dict) else ''}" for m, p, _, b in WORK_MATRIX],
)
def test_work_rbac_matrix(db, method: str, path: str, expected: tuple[int, ...], body: Any) -> None:
    got: dict[str, int] = {}
    with build_world(db, work=True) as world:
        _run_row(world, method, path, body, got)
    assert got == dict(zip(ROLES, expected, strict=True))
