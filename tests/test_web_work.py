"""The work pages over ASGI (no browser): work items and one item, sources and sync runs (sync now, upload),
traceability (matrix, CSV, link from labels, unaligned share), the home cards; rights, HTMX fragments, CSP."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.work import StatusChangeRecord, WorkRecord
from okrflow.services import imports, okr, sources, tenancy
from okrflow.store.db import Database
from okrflow.store.models_work import StatusChange, SyncRun, WorkItem, WorkItemLink
from okrflow.web.work_routes import MATRIX_COLUMNS, fmt_days, safe_url
from tests.test_web_ui import HX, _assert_no_inline, _csrf, _login

VIEWER_PASSWORD = "viewer-password-1"
OTHER_PASSWORD = "other-password-12"


@dataclass
class WorkWorld:
    workspace_id: int
    team_id: int
    quarter_id: int
    objective_id: int
    kr_id: int
    kr2_id: int
    source_id: int
    jira_id: int
    epic: int
    story: int
    loose: int


def build_world(db: Database, ws: int) -> WorkWorld:
    """A quarter running now, one objective with two KRs, a files source with an epic (linked to the first KR),
    a story under it (inherits the link) and a story serving nothing; a jira source never run."""
    now = datetime.now(UTC)
    a = SYSTEM_ACTOR
    with db.write() as s:
        periods = okr.create_year(s, a, ws, now.year)
        quarter = okr.current_period(s, ws, now.date()) or periods[1]
        team = tenancy.create_team(s, a, ws, "payments", "Payments")
        other = tenancy.create_team(s, a, ws, "search", "Search")
        obj = okr.create_objective(s, a, ws, quarter.id, "Make paying effortless", team_id=team.id)
        kr = okr.create_key_result(s, a, obj.id, "Ship wallets", "increase", baseline=0, target=10)
        kr2 = okr.create_key_result(s, a, obj.id, "Cut payment errors", "decrease", baseline=5, target=1)
        src = sources.create_source(s, a, ws, "sheet", "files", team_id=team.id)
        jira = sources.create_source(
            s, a, ws, "jira-pay", "jira", base_url="https://example.atlassian.net", settings={"jql": "project = PAY"}
        )
        tenancy.create_user(s, a, "vera", VIEWER_PASSWORD, workspace_id=ws, role="viewer")
        tenancy.create_user(s, a, "otto", OTHER_PASSWORD, workspace_id=ws, role="contributor", team_id=other.id)
        source_id, jira_id = src.id, jira.id
    started = now - timedelta(days=20)
    records = [
        WorkRecord(
            "E-1",
            "Epic",
            "In Progress",
            now - timedelta(days=40),
            key="PAY-1",
            title="Wallet payments",
            url="https://example.atlassian.net/browse/PAY-1",
            labels=(f"okr:KR-{kr.id}", "okr:KR-99999"),
            history=(StatusChangeRecord(now - timedelta(days=39), "In Progress", "To Do", "pm"),),
        ),
        WorkRecord(
            "S-1",
            "Story",
            "Ready for QA",
            now - timedelta(days=30),
            key="PAY-2",
            title="Apple Pay button",
            url="javascript:alert(1)",
            parent_external_id="E-1",
            story_points=3,
            assignee="lena",
            history=(
                StatusChangeRecord(started, "In Progress", "To Do", "lena"),
                StatusChangeRecord(started + timedelta(days=5), "Ready for QA", "In Progress", "lena"),
                StatusChangeRecord(started + timedelta(days=7), "In Progress", "Ready for QA", "sofia"),
                StatusChangeRecord(started + timedelta(days=9), "Ready for QA", "In Progress", "lena"),
            ),
        ),
        WorkRecord(
            "S-2",
            "Story",
            "Done",
            now - timedelta(days=25),
            key="PAY-3",
            title="Refactor the ledger",
            resolved=now - timedelta(days=3),
            history=(
                StatusChangeRecord(now - timedelta(days=15), "In Progress", "To Do", "kwame"),
                StatusChangeRecord(now - timedelta(days=3), "Done", "In Progress", "kwame"),
            ),
        ),
    ]
    imports.import_records(db, a, source_id, records)
    with db.write() as s:
        ids = dict(s.execute(select(WorkItem.external_id, WorkItem.id)).all())
        s.add(WorkItemLink(work_item_id=ids["E-1"], key_result_id=kr.id, origin="manual", author="system"))
    return WorkWorld(
        ws, team.id, quarter.id, obj.id, kr.id, kr2.id, source_id, jira_id, ids["E-1"], ids["S-1"], ids["S-2"]
    )


@pytest.fixture
def world(db: Database, admin_setup) -> WorkWorld:  # type: ignore[no-untyped-def]
    return build_world(db, admin_setup.workspace_id)


def _client(db: Database, user: str = "admin", password: str | None = None) -> TestClient:
    client = TestClient(create_app(db))
    resp = _login(client, user, password) if password else _login(client)
    assert resp.status_code == 303
    return client


@pytest.fixture
def admin(db: Database, world: WorkWorld) -> TestClient:
    return _client(db)


@pytest.fixture
def viewer(db: Database, world: WorkWorld) -> TestClient:
    return _client(db, "vera", VIEWER_PASSWORD)


def _count(db: Database, model: type) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


WRITE_CONTROLS = ("/links", "/sync", "/upload", "/trace/auto-link", 'type="file"')


def test_every_work_page_renders_for_a_viewer_without_write_controls(viewer: TestClient, world: WorkWorld) -> None:
    pages = [
        "/",
        "/work",
        "/work?unaligned=1",
        f"/work?team={world.team_id}&source={world.source_id}&level=story&type=feature&step=testing&q=apple",
        f"/work/{world.epic}",
        f"/work/{world.story}",
        f"/work/{world.loose}",
        "/sources",
        "/trace",
        "/trace?period=all",
        f"/trace?period={world.quarter_id}",
    ]
    for path in pages:
        resp = viewer.get(path)
        assert resp.status_code == 200, path
        _assert_no_inline(resp.text, path)
        for control in WRITE_CONTROLS:
            assert control not in resp.text, f"{path} shows a write control ({control}) to a viewer"
    work = viewer.get("/work").text
    assert 'aria-current="page">Work<' in work
    assert "Apple Pay button" in work and "Refactor the ledger" in work and "Wallet payments" in work
    assert 'href="https://example.atlassian.net/browse/PAY-1"' in work
    assert "javascript:" not in work  # an imported URL that is not http(s) is not a link
    assert f"KR-{world.kr_id}" in work and "via PAY-1" in work and "unaligned" in work


def test_filters_search_and_htmx_fragment(admin: TestClient, world: WorkWorld) -> None:
    def total(query: str, headers: dict[str, str] | None = None) -> int:
        html = admin.get(f"/work?{query}", headers=headers or {}).text
        m = re.search(r'data-testid="work-total">(\d+)<', html)
        assert m, query
        return int(m.group(1))

    assert total("") == 3
    assert total("level=epic") == 1
    assert total("level=story&type=feature") == 2
    assert total("q=APPLE") == 1 and total("q=pay-3") == 1
    assert total("unaligned=1") == 1  # the story under the linked epic is covered by inheritance
    assert total("step=testing") == 1 and total("step=done") == 1 and total("step=development") == 1
    assert total("status=ready%20for%20qa") == 1
    assert total(f"team={world.team_id}") == 3 and total(f"source={world.jira_id}") == 0
    frag = admin.get("/work?unaligned=1", headers={**HX, "HX-Target": "work-results"})
    assert frag.status_code == 200 and "<html" not in frag.text and 'id="work-results"' in frag.text
    assert "Refactor the ledger" in frag.text and "Apple Pay button" not in frag.text
    _assert_no_inline(frag.text, "work fragment")
    assert "No work item matches these filters" in admin.get("/work?q=nothing-like-this").text


def test_item_page_hierarchy_history_and_inherited_kr(admin: TestClient, world: WorkWorld) -> None:
    html = admin.get(f"/work/{world.story}").text
    text = _text(html)
    assert f'href="/work/{world.epic}"' in html and "epic PAY-1" in text  # breadcrumb up the hierarchy
    assert "Ready for QA → In Progress" in text and "backward" in text  # rework in the timeline
    assert "step-bg-testing" in html and "sofia" in text
    assert "inherited via PAY-1" in text and "Ship wallets" in text
    assert 'data-testid="item-kr-count">1<' in html
    epic = _text(admin.get(f"/work/{world.epic}").text)
    assert "PAY-2" in epic and "Apple Pay button" in epic  # children
    assert "linked directly" in epic
    loose = admin.get(f"/work/{world.loose}").text
    assert "serves no key result" in loose
    assert admin.get("/work/999999").status_code == 404


def test_link_and_unlink_need_rights_and_write_nothing_otherwise(
    db: Database, admin: TestClient, viewer: TestClient, world: WorkWorld
) -> None:
    before = _count(db, WorkItemLink)
    page = viewer.get(f"/work/{world.loose}").text
    resp = viewer.post(f"/work/{world.loose}/links", data={"kr_id": world.kr2_id, "csrf_token": _csrf(page)})
    assert resp.status_code == 403 and _count(db, WorkItemLink) == before
    resp = viewer.post(f"/work/{world.epic}/links/{world.kr_id}/delete", data={"csrf_token": _csrf(page)})
    assert resp.status_code == 403 and _count(db, WorkItemLink) == before
    other = _client(db, "otto", OTHER_PASSWORD)  # contributor on another team: no form, and 403
    other_page = other.get(f"/work/{world.loose}").text
    assert "/links" not in other_page
    resp = other.post(f"/work/{world.loose}/links", data={"kr_id": world.kr2_id, "csrf_token": _csrf(other_page)})
    assert resp.status_code == 403 and _count(db, WorkItemLink) == before
    assert admin.post(f"/work/{world.loose}/links", data={"kr_id": world.kr2_id}).status_code == 403  # no CSRF

    page = admin.get(f"/work/{world.loose}").text
    assert 'hx-post="/work/' in page and "<optgroup" in page and "Make paying effortless" in page
    token = _csrf(page)
    frag = admin.post(f"/work/{world.loose}/links", data={"kr_id": world.kr2_id, "csrf_token": token}, headers=HX)
    assert frag.status_code == 200 and 'id="work-links"' in frag.text and "<html" not in frag.text
    assert f"KR-{world.kr2_id}" in frag.text and "Linked to" in frag.text and "Unlink" in frag.text
    _assert_no_inline(frag.text, "links fragment")
    assert _count(db, WorkItemLink) == before + 1
    again = admin.post(f"/work/{world.loose}/links", data={"kr_id": world.kr2_id, "csrf_token": token}, headers=HX)
    assert again.status_code == 422 and "linked to this key result already" in again.text
    assert _count(db, WorkItemLink) == before + 1
    gone = admin.post(f"/work/{world.loose}/links/{world.kr2_id}/delete", data={"csrf_token": token}, headers=HX)
    assert gone.status_code == 200 and "Unlinked" in gone.text and _count(db, WorkItemLink) == before
    plain = admin.post(f"/work/{world.loose}/links", data={"kr_id": world.kr2_id, "csrf_token": token})
    assert plain.status_code == 200  # the redirect was followed to the item page
    assert _count(db, WorkItemLink) == before + 1


def test_sources_page_runs_and_sync_now(db: Database, admin: TestClient, viewer: TestClient, world: WorkWorld) -> None:
    html = admin.get("/sources").text
    text = _text(html)
    assert "sheet" in text and "jira-pay" in text and "project = PAY" in text and "never run" in text
    assert "succeeded" in text and "Sync now" in html and 'type="file"' in html
    _assert_no_inline(html, "sources")
    token = _csrf(html)
    runs = _count(db, SyncRun)
    frag = admin.post(f"/sources/{world.source_id}/sync", data={"csrf_token": token}, headers=HX)
    assert frag.status_code == 422 and 'id="source-' in frag.text and "<html" not in frag.text
    assert "Sync failed" in frag.text and "okrflow import FILE --source sheet" in frag.text
    plain = admin.post(f"/sources/{world.source_id}/sync", data={"csrf_token": token})
    assert plain.status_code == 422 and "Sync failed" in plain.text and "<html" in plain.text
    assert _count(db, SyncRun) == runs  # refused before a run starts
    resp = viewer.post(f"/sources/{world.jira_id}/sync", data={"csrf_token": _csrf(viewer.get("/sources").text)})
    assert resp.status_code == 403 and _count(db, SyncRun) == runs


def test_upload_with_a_bad_line_lists_the_errors_and_writes_nothing(
    db: Database, admin: TestClient, viewer: TestClient, world: WorkWorld
) -> None:
    token = _csrf(admin.get("/sources").text)
    items, changes = _count(db, WorkItem), _count(db, StatusChange)
    bad = "external_id,type,status,created\nN-1,Story,Done,2026-09-01\nN-2,Story,Done,yesterday\nN-3,,Done,2026-09-01\n"
    resp = admin.post(
        f"/sources/{world.source_id}/upload",
        data={"csrf_token": token},
        files=[("files", ("items.csv", bad.encode(), "text/csv"))],
        headers=HX,
    )
    assert resp.status_code == 422
    text = _text(resp.text)
    assert "Nothing was imported" in text
    assert "items.csv: line 3: created 'yesterday' is not an ISO 8601 date or timestamp" in text
    assert "items.csv: line 4: type is empty" in text
    assert (_count(db, WorkItem), _count(db, StatusChange)) == (items, changes)
    # the failed run is in the history with its errors
    page = _text(admin.get("/sources").text)
    assert "failed" in page and "line 3" in page
    wrong = admin.post(
        f"/sources/{world.source_id}/upload",
        data={"csrf_token": token},
        files=[("files", ("notes.txt", b"hello", "text/plain"))],
        headers=HX,
    )
    assert wrong.status_code == 422 and "Only .csv and .json files can be imported." in wrong.text
    denied = viewer.post(
        f"/sources/{world.source_id}/upload",
        data={"csrf_token": _csrf(viewer.get("/sources").text)},
        files=[("files", ("items.csv", b"external_id,type,status,created\nV-1,Story,Done,2026-09-01\n", "text/csv"))],
    )
    assert denied.status_code == 403 and _count(db, WorkItem) == items
    good = (
        "external_id,key,type,status,created,parent\n"
        "N-1,PAY-10,Story,Done,2026-09-01,E-1\nN-2,PAY-11,Bug,In Progress,2026-09-02,\n"
    )
    history = "external_id,at,from_status,to_status,author\nN-2,2026-09-03T10:00:00Z,To Do,In Progress,ana\n"
    ok = admin.post(
        f"/sources/{world.source_id}/upload",
        data={"csrf_token": token},
        files=[
            ("files", ("more.csv", good.encode(), "text/csv")),
            ("files", ("history.csv", history.encode(), "text/csv")),
        ],
        headers=HX,
    )
    assert ok.status_code == 200 and "2 created" in ok.text and "1 status changes" in ok.text
    assert _count(db, WorkItem) == items + 2
    redirect = admin.post(
        f"/sources/{world.source_id}/upload",
        data={"csrf_token": token},
        files=[("files", ("more.csv", good.encode(), "text/csv"))],
        follow_redirects=False,
    )
    assert redirect.status_code == 303 and redirect.headers["location"] == "/sources"


def test_trace_page_matrix_csv_and_unaligned_bars(admin: TestClient, world: WorkWorld) -> None:
    html = admin.get("/trace").text
    text = _text(html)
    assert "Work serving no objective" in text and 'data-testid="unaligned-bars"' in html
    assert 'data-team="Payments"' in html and "<progress" in html
    # two stories in progress this quarter, one under the linked epic: half of the items are unaligned
    assert "1 of 2 items" in text
    assert "Make paying effortless" in text and "PAY-1" in text and "via PAY-1" in text
    assert "no linked work" in text  # the second KR
    assert 'href="/trace/matrix.csv?period=' in html
    resp = admin.get(f"/trace/matrix.csv?period={world.quarter_id}")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert re.match(r'attachment; filename="okrflow-trace-[\w.-]+\.csv"', resp.headers["content-disposition"])
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert tuple(rows[0]) == MATRIX_COLUMNS
    by_item = {r[5]: r for r in rows[1:] if r[5]}
    assert by_item["PAY-1"][9] == "" and by_item["PAY-2"][9] == "PAY-1"
    assert by_item["PAY-2"][3] == "Ship wallets"
    assert any(r[3] == "Cut payment errors" and r[5] == "" for r in rows[1:])
    assert "PAY-3" not in by_item
    everything = admin.get("/trace/matrix.csv?period=all")
    assert "-all.csv" in everything.headers["content-disposition"]


def test_link_from_labels(db: Database, admin: TestClient, viewer: TestClient, world: WorkWorld) -> None:
    assert "/trace/auto-link" not in viewer.get("/trace").text
    html = admin.get("/trace").text
    token = _csrf(html)
    before = _count(db, WorkItemLink)
    resp = admin.post("/trace/auto-link", data={"csrf_token": token}, headers=HX)
    assert resp.status_code == 200 and 'id="autolink"' in resp.text
    text = _text(resp.text)
    assert "0 new links" in text  # the epic's label names a KR it is linked to already
    assert "names key result 99999, which does not exist" in text
    assert _count(db, WorkItemLink) == before
    denied = viewer.post("/trace/auto-link", data={"csrf_token": _csrf(viewer.get("/trace").text)})
    assert denied.status_code == 403


def test_home_cards(admin: TestClient, world: WorkWorld) -> None:
    html = admin.get("/").text
    text = _text(html)
    assert 'data-testid="card-unaligned"' in html and 'href="/trace"' in html
    assert "Work serving no objective" in text and "50%" in text and "this quarter" in text
    assert "Last sync" in text and "sheet" in text and "succeeded" in text


def test_formatting_helpers() -> None:
    assert fmt_days(None) == "—" and fmt_days(0.5) == "12 h" and fmt_days(2.25) == "2.2 d" and fmt_days(12.6) == "13 d"
    assert safe_url("https://x.example/a") == "https://x.example/a"
    assert safe_url("javascript:alert(1)") is None and safe_url("") is None
