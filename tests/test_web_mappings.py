"""The Mappings page over ASGI (no browser), on both engines: per source the issue types and statuses stored for
it, unmapped ones first and highlighted exactly as ``sources.mapping_report`` says, category-mapped statuses in
amber, non-Latin names; the YAML snippets (valid for ``okrflow config apply``); mapping a value in place (admins
only, HTMX and plain, audited, optimistic locking on the source's version, validation as 422)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.work import StatusChangeRecord, StatusRule, Step, WorkRecord
from okrflow.services import config, imports, sources, tenancy, work
from okrflow.services.mapping_overview import (
    suggest_status_rule,
    suggest_type_rule,
    with_rule,
)
from okrflow.store.db import Database
from okrflow.store.models import AuditEntry
from okrflow.store.models_work import Source, WorkItem
from okrflow.web.mapping_routes import parse_rule
from tests.test_web_ui import HX, _assert_no_inline, _csrf, _login

VIEWER_PASSWORD = "viewer-password-1"
OWN_RULES = {"statuses": {"已完成": {"step": "done", "stage": "operation", "active": False}}}


@dataclass
class MapWorld:
    workspace_id: int
    jira_id: int
    sheet_id: int
    github_id: int


def build_world(db: Database, ws: int) -> MapWorld:
    """A jira source (own rule for 已完成) whose items have an unmapped type (Spike), an unmapped Chinese status
    (待测试), an unmapped status seen only in history (Awaiting Sign-off), a status mapped only by its category
    (Triage, category "new"), a lower-case "done" (the default "Done", case-insensitively); a files source with an
    unmapped type (Chore); a github source never synced."""
    now = datetime.now(UTC)
    a = SYSTEM_ACTOR
    with db.write() as s:
        team = tenancy.create_team(s, a, ws, "payments", "Payments")
        jira = sources.create_source(
            s,
            a,
            ws,
            "jira-cn",
            "jira",
            base_url="https://example.atlassian.net",
            settings={"jql": "project = PAY"},
            mapping=OWN_RULES,
            team_id=team.id,
        )
        sheet = sources.create_source(s, a, ws, "sheet", "files")
        github = sources.create_source(s, a, ws, "gh", "github", settings={"repository": "acme/shop"})
        tenancy.create_user(s, a, "vera", VIEWER_PASSWORD, workspace_id=ws, role="viewer")
        ids = (jira.id, sheet.id, github.id)
    t0 = now - timedelta(days=30)

    def at(days: int) -> datetime:
        return t0 + timedelta(days=days)

    imports.import_records(
        db,
        a,
        ids[0],
        [
            WorkRecord(
                "J-1", "Story", "In Progress", t0, key="PAY-1", status_category="indeterminate",
                history=(StatusChangeRecord(at(1), "In Progress", "To Do"),),
            ),
            WorkRecord(
                "J-2", "Story", "待测试", t0, key="PAY-2",
                history=(
                    StatusChangeRecord(at(1), "In Progress", "To Do"),
                    StatusChangeRecord(at(4), "待测试", "In Progress"),
                ),
            ),
            WorkRecord("J-3", "Spike", "Triage", t0, key="PAY-3", status_category="new"),
            WorkRecord(
                "J-4", "Bug", "已完成", t0, key="PAY-4", status_category="done", resolved=at(9),
                history=(
                    StatusChangeRecord(at(2), "待测试", "To Do"),
                    StatusChangeRecord(at(5), "Awaiting Sign-off", "待测试"),
                    StatusChangeRecord(at(9), "已完成", "Awaiting Sign-off"),
                ),
            ),
            WorkRecord("J-5", "Story", "done", t0, key="PAY-5", status_category="done", resolved=at(3)),
        ],
    )  # fmt: skip
    imports.import_records(
        db,
        a,
        ids[1],
        [
            WorkRecord("F-1", "Story", "In Progress", t0, key="S-1"),
            WorkRecord("F-2", "Chore", "Done", t0, key="S-2", resolved=at(2)),
        ],
    )
    return MapWorld(ws, *ids)


@pytest.fixture
def world(db: Database, admin_setup) -> MapWorld:  # type: ignore[no-untyped-def]
    return build_world(db, admin_setup.workspace_id)


def _client(db: Database, user: str = "admin", password: str | None = None) -> TestClient:
    client = TestClient(create_app(db))
    resp = _login(client, user, password) if password else _login(client)
    assert resp.status_code == 303
    return client


@pytest.fixture
def admin(db: Database, world: MapWorld) -> TestClient:
    return _client(db)


@pytest.fixture
def viewer(db: Database, world: MapWorld) -> TestClient:
    return _client(db, "vera", VIEWER_PASSWORD)


# ------------------------------------------------------------------ helpers


def _card(html: str, source_id: int) -> str:
    """The HTML of one source's card."""
    m = re.search(rf'<section class="card mapping-card[^"]*" id="mapping-source-{source_id}".*?</section>', html, re.S)
    assert m, f"no card for source {source_id}"
    return m.group(0)


def _values(html: str, testid: str) -> list[str]:
    return [unescape(v) for v in re.findall(rf'data-testid="{testid}" data-value="([^"]*)"', html)]


def _row(html: str, name: str) -> str:
    m = re.search(rf'<tr [^>]*data-value="{re.escape(name)}">.*?</tr>', html, re.S)
    assert m, f"no row for {name}"
    return m.group(0)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _report(db: Database, source_id: int):  # type: ignore[no-untyped-def]
    with db.read() as s:
        return sources.mapping_report(s, SYSTEM_ACTOR, source_id)


def _source(db: Database, source_id: int) -> Source:
    with db.read() as s:
        src = s.get(Source, source_id)
        assert src is not None
        return src


def _form(html: str, source_id: int, **fields: str) -> dict[str, str]:
    version = re.search(r'name="version" value="(\d+)"', _card(html, source_id))
    assert version, "no map form with a version"
    return {"csrf_token": _csrf(html), "version": version.group(1), **fields}


TESTING = {"kind": "status", "name": "待测试", "step": "testing", "stage": "delivery", "time": "waiting"}


# ------------------------------------------------------------------ the page


def test_page_highlights_what_the_mapping_report_lists(db: Database, admin: TestClient, world: MapWorld) -> None:
    resp = admin.get("/mappings")
    assert resp.status_code == 200
    html = resp.text
    _assert_no_inline(html, "/mappings")
    assert 'href="/mappings" aria-current="page">Mappings<' in html
    assert 'aria-current="page">Work<' in html  # the main nav
    total = re.search(r'data-testid="unmapped-total">([^<]*)<', html)
    assert total and total.group(1) == "4 unmapped values across 2 sources"
    assert re.search(r'data-testid="category-total">1<', html)
    assert re.search(r'data-testid="flow-level">story<', html)

    for source_id in (world.jira_id, world.sheet_id, world.github_id):
        report = _report(db, source_id)
        card = _card(html, source_id)
        assert _values(card, "unmapped-type") == list(report.unmapped_types)
        assert sorted(_values(card, "unmapped-status")) == sorted(report.unmapped_statuses)
        assert _values(card, "category-status") == list(report.by_category)
        n = len(report.unmapped_types) + len(report.unmapped_statuses)
        assert (f'data-testid="source-unmapped">{n} unmapped<' in card) == bool(n)

    jira = _card(html, world.jira_id)
    assert _values(jira, "unmapped-type") == ["Spike"]
    assert sorted(_values(jira, "unmapped-status")) == sorted(["Awaiting Sign-off", "待测试"])
    assert _values(jira, "category-status") == ["Triage"]
    # unmapped first, then by category, then mapped (in step order); the red badge on each unmapped row
    statuses = re.findall(r'data-testid="(\w+)-status" data-value="([^"]*)"', jira)
    states = [state for state, _ in statuses]
    assert states == sorted(states, key=["unmapped", "category", "mapped"].index)
    assert [unescape(v) for state, v in statuses if state == "mapped"] == ["To Do", "In Progress", "done", "已完成"]
    assert 'badge-danger">unmapped<' in _row(jira, "待测试") and "is-unmapped" in _row(jira, "Spike")
    assert "by category" in _row(jira, "Triage") and "badge-amber" in _row(jira, "Triage")
    # counts: items of a type; items in a status now and items whose history passes through it
    assert re.search(r'class="num">3<', _row(jira, "Story"))
    row = _text(_row(jira, "In Progress"))
    assert row.startswith("In Progress indeterminate 1 2 development delivery active"), row
    assert _text(_row(jira, "Awaiting Sign-off")).startswith("Awaiting Sign-off unmapped — 1")
    assert _text(_row(jira, "待测试")).startswith("待测试 unmapped — 1 2")
    # where each rule comes from: own rule, the kind's default (case-insensitive), the category fallback
    assert "own rule" in _row(jira, "已完成")
    assert "jira default" in _row(jira, "done") and "done" in _text(_row(jira, "done"))
    assert "category new" in _text(_row(jira, "Triage"))
    assert "flow item" in _row(jira, "Story") and "flow item" in _row(jira, "Bug")  # story-level defects
    assert "flow item" not in _row(jira, "Spike")
    # non-Latin names are written as they are (UTF-8), not as entities or escapes
    assert "待测试" in html and "已完成" in html and "&#" not in jira
    assert "1 own rule over the jira defaults" in _text(jira)

    sheet = _card(html, world.sheet_id)
    assert _values(sheet, "unmapped-type") == ["Chore"] and _values(sheet, "unmapped-status") == []
    assert "files default" in _row(sheet, "Done")
    gh = _card(html, world.github_id)
    assert "Nothing imported from this source yet" in gh and "unmapped" not in gh

    # admins get one form per unmapped value (and one per category-mapped status), with the source's version
    assert len(re.findall(r'data-testid="map-form"', jira)) == 4
    assert f'action="/mappings/{world.jira_id}"' in jira
    assert len(re.findall(r'name="version" value="1"', jira)) == 4
    forms = re.findall(r'<form method="post" action="/mappings/\d+".*?</form>', html, re.S)
    assert len(forms) == 5 and all(re.search(r'name="csrf_token" value="[^"]+"', f) for f in forms)


def test_work_tabs_link_to_mappings(admin: TestClient) -> None:
    for path in ("/work", "/sources", "/trace"):
        html = admin.get(path).text
        assert 'href="/mappings"' in html and ">Mappings<" in html, path


def test_viewer_sees_the_facts_and_no_form(db: Database, viewer: TestClient, world: MapWorld) -> None:
    html = viewer.get("/mappings").text
    _assert_no_inline(html, "/mappings as viewer")
    assert 'data-testid="map-form"' not in html and "/mappings/" not in html.replace('href="/mappings#', "")
    assert _values(_card(html, world.jira_id), "unmapped-type") == ["Spike"]
    assert len(re.findall(r'data-testid="yaml-snippet"', html)) == 5  # 4 unmapped + 1 by category
    home = viewer.get("/")
    csrf = _csrf(home.text)
    before = _source(db, world.jira_id)
    resp = viewer.post(f"/mappings/{world.jira_id}", data={"csrf_token": csrf, "version": "1", **TESTING}, headers=HX)
    assert resp.status_code == 403
    plain = viewer.post(f"/mappings/{world.jira_id}", data={"csrf_token": csrf, "version": "1", **TESTING})
    assert plain.status_code == 403 and "admin role" in plain.text
    after = _source(db, world.jira_id)
    assert after.version == before.version and after.mapping == OWN_RULES


def test_empty_workspace_has_an_empty_state(db: Database, admin_setup: object) -> None:
    html = _client(db).get("/mappings").text
    assert "No sources yet" in html
    assert re.search(r'data-testid="unmapped-total">No unmapped values across 0 sources<', html)


# ------------------------------------------------------------------ YAML


def test_yaml_snippets_are_what_config_apply_accepts(db: Database, admin: TestClient, world: MapWorld) -> None:
    html = admin.get("/mappings").text
    snippets = [unescape(s) for s in re.findall(r'data-testid="yaml-snippet"><code>(.*?)</code>', html, re.S)]
    assert len(snippets) == 5
    for text in snippets:
        data = yaml.safe_load(text)
        assert list(data) == ["sources"] and len(data["sources"]) == 1
        entry = data["sources"][0]
        assert {"name", "kind", "mapping"} <= set(entry)
        full = {"version": 1, "workspace": {"slug": "acme", "name": "Acme"}, **data}
        parsed, problems = config.parse(yaml.safe_dump(full, allow_unicode=True))
        assert problems == [] and parsed is not None, (text, problems)
    by_name = {next(iter(next(iter(yaml.safe_load(t)["sources"][0]["mapping"].values())))): t for t in snippets}
    assert set(by_name) == {"Spike", "待测试", "Awaiting Sign-off", "Triage", "Chore"}
    assert "待测试: {step: testing" in by_name["待测试"]  # readable, not \u escapes
    assert yaml.safe_load(by_name["Triage"])["sources"][0]["mapping"]["statuses"]["Triage"] == {
        "step": "backlog",
        "stage": "discovery",
        "active": False,
    }  # the category's rule, made explicit
    assert yaml.safe_load(by_name["Spike"])["sources"][0]["mapping"]["types"]["Spike"] == {
        "level": "task",
        "flow_type": "risk",
    }

    # the whole entry keeps the source as it is and maps everything: applying it completes the mapping
    entry_text = unescape(
        re.search(r'data-testid="entry-yaml"><code>(.*?)</code>', _card(html, world.jira_id), re.S)[1]
    )
    data = yaml.safe_load(entry_text)
    entry = data["sources"][0]
    assert entry["base_url"] == "https://example.atlassian.net" and entry["team"] == "payments"
    assert entry["settings"] == {"jql": "project = PAY"} and entry["mapping"]["statuses"]["已完成"]["step"] == "done"
    full = {"version": 1, "workspace": {"slug": "acme", "name": "Acme"}, "teams": [], **data}
    parsed, problems = config.parse(yaml.safe_dump(full, allow_unicode=True))
    assert problems == [] and parsed is not None
    config.apply(db, parsed, SYSTEM_ACTOR)
    assert _report(db, world.jira_id).complete
    src = _source(db, world.jira_id)
    assert src.base_url == "https://example.atlassian.net" and src.settings == {"jql": "project = PAY"}


# ------------------------------------------------------------------ mapping in place


def test_admin_maps_a_status_in_place(db: Database, admin: TestClient, world: MapWorld) -> None:
    page = admin.get("/mappings").text
    with db.read() as s:
        assert [
            r.item.key
            for r in work.list_items(s, SYSTEM_ACTOR, world.workspace_id, work.WorkFilter(step="testing")).rows
        ] == []
    resp = admin.post(f"/mappings/{world.jira_id}", data=_form(page, world.jira_id, **TESTING), headers=HX)
    assert resp.status_code == 200
    frag = resp.text
    assert "<html" not in frag
    _assert_no_inline(frag, "map fragment")
    card = _card(frag, world.jira_id)
    assert "待测试" not in _values(card, "unmapped-status") and "待测试" in _values(card, "mapped-status")
    assert "is-new" in _row(card, "待测试") and "own rule" in _row(card, "待测试")
    message = re.search(r'data-testid="mapping-message">([^<]*)<', card)
    assert (
        message
        and message.group(1) == "Status “待测试” → testing · delivery · waiting (1 item in it now, 2 in history)."
    )
    done = re.search(r'data-testid="done-yaml"><code>(.*?)</code>', card, re.S)
    assert done and yaml.safe_load(unescape(done.group(1)))["sources"][0]["mapping"] == {
        "statuses": {"待测试": {"step": "testing", "stage": "delivery", "active": False}}
    }
    # the summary at the top is swapped out of band
    assert 'id="mapping-summary" aria-label="Summary" hx-swap-oob="true"' in frag
    assert re.search(r'data-testid="unmapped-total">3 unmapped values across 2 sources<', frag)
    # the report agrees, the rule is merged over the source's own rules, items now have the step, audited
    report = _report(db, world.jira_id)
    assert "待测试" not in report.unmapped_statuses and "Awaiting Sign-off" in report.unmapped_statuses
    src = _source(db, world.jira_id)
    assert src.version == 2
    assert src.mapping["statuses"] == {
        "已完成": {"step": "done", "stage": "operation", "active": False},
        "待测试": {"step": "testing", "stage": "delivery", "active": False},
    }
    with db.read() as s:
        rows = work.list_items(s, SYSTEM_ACTOR, world.workspace_id, work.WorkFilter(step="testing")).rows
        assert [r.item.key for r in rows] == ["PAY-2"]
        entry = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "source", AuditEntry.entity_id == str(world.jira_id))
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert entry is not None and entry.action == "update" and entry.actor == "user:admin"
        assert "待测试" in entry.after["mapping"]["statuses"] and "待测试" not in entry.before["mapping"]["statuses"]
    # the new version is in the swapped card's forms, so the next value maps without a reload
    nxt = {
        "kind": "status",
        "name": "Awaiting Sign-off",
        "step": "verification",
        "stage": "operation",
        "time": "active",
    }
    resp = admin.post(f"/mappings/{world.jira_id}", data=_form(frag, world.jira_id, **nxt), headers=HX)
    assert resp.status_code == 200 and _values(_card(resp.text, world.jira_id), "unmapped-status") == []


def test_plain_post_maps_a_type_and_redirects(db: Database, admin: TestClient, world: MapWorld) -> None:
    page = admin.get("/mappings").text
    data = _form(page, world.jira_id, kind="type", name="Spike", level="task", flow_type="risk")
    resp = admin.post(f"/mappings/{world.jira_id}", data=data, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"/mappings#mapping-source-{world.jira_id}"
    with db.read() as s:
        item = s.scalar(select(WorkItem).where(WorkItem.external_id == "J-3"))
        assert item is not None and (item.level, item.flow_type) == ("task", "risk")  # remapped by update_source
    assert _report(db, world.jira_id).unmapped_types == ()
    html = admin.get("/mappings").text
    assert re.search(r'data-testid="unmapped-total">3 unmapped values across 2 sources<', html)
    assert "Spike" in _values(_card(html, world.jira_id), "mapped-type")
    # "not a work item" is a valid answer for a type
    data = _form(html, world.sheet_id, kind="type", name="chore", level="none", flow_type="feature")
    assert admin.post(f"/mappings/{world.sheet_id}", data=data, follow_redirects=False).status_code == 303
    sheet = _card(admin.get("/mappings").text, world.sheet_id)
    assert "not a work item" in _row(sheet, "Chore")
    assert _source(db, world.sheet_id).mapping == {"types": {"chore": {"level": "none", "flow_type": "feature"}}}


def test_stale_version_is_refused_and_nothing_is_lost(db: Database, admin: TestClient, world: MapWorld) -> None:
    page = admin.get("/mappings").text
    # another admin maps a status meanwhile (through the service, as the API or okrflow.yaml would)
    theirs = with_rule(OWN_RULES, "statuses", "Awaiting Sign-off", {"step": "verification", "stage": "operation"})
    with db.write() as s:
        sources.update_source(s, SYSTEM_ACTOR, world.jira_id, {"mapping": theirs}, expected_version=1)
    resp = admin.post(f"/mappings/{world.jira_id}", data=_form(page, world.jira_id, **TESTING), headers=HX)
    assert resp.status_code == 412
    card = _card(resp.text, world.jira_id)
    stale = re.search(r'data-testid="stale">(.*?)</div>', card, re.S)
    assert stale and "Someone else changed this source since you opened the page" in _text(stale.group(1))
    assert "version 2" in _text(stale.group(1)) and "Nothing was saved" in _text(stale.group(1))
    # the card shows their change (and the current version), ours is not applied
    assert "Awaiting Sign-off" in _values(card, "mapped-status") and "待测试" in _values(card, "unmapped-status")
    assert 'name="version" value="2"' in card
    src = _source(db, world.jira_id)
    assert src.version == 2 and src.mapping == theirs
    assert "待测试" in _report(db, world.jira_id).unmapped_statuses
    # the same without HTMX: the whole page, 412
    plain = admin.post(f"/mappings/{world.jira_id}", data=_form(page, world.jira_id, **TESTING))
    assert plain.status_code == 412 and "<html" in plain.text and "Someone else changed" in plain.text
    assert _source(db, world.jira_id).version == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({**TESTING, "step": "sideways"}, "Choose a value-stream step"),
        ({**TESTING, "stage": ""}, "Choose a stage"),
        ({**TESTING, "time": "sometimes"}, "active work or waiting"),
        ({"kind": "type", "name": "Spike", "level": "galaxy", "flow_type": "risk"}, "Choose a level"),
        ({"kind": "type", "name": "Spike", "level": "task", "flow_type": "chore"}, "Choose a flow-item type"),
        ({"kind": "sprint", "name": "Spike"}, "maps neither a type nor a status"),
        ({**TESTING, "name": "   "}, "names no type or status"),
    ],
)
def test_bad_values_are_422_next_to_the_form(
    db: Database, admin: TestClient, world: MapWorld, fields: dict[str, str], message: str
) -> None:
    page = admin.get("/mappings").text
    resp = admin.post(f"/mappings/{world.jira_id}", data=_form(page, world.jira_id, **fields), headers=HX)
    assert resp.status_code == 422
    card = _card(resp.text, world.jira_id)
    error = re.search(r'data-testid="map-error">(.*?)</div>', card, re.S)
    assert error and message in _text(error.group(1)), card
    plain = admin.post(f"/mappings/{world.jira_id}", data=_form(page, world.jira_id, **fields))
    assert plain.status_code == 422 and "<html" in plain.text and message in _text(plain.text)
    src = _source(db, world.jira_id)
    assert src.version == 1 and src.mapping == OWN_RULES


def test_the_error_sits_in_the_row_of_the_value_and_keeps_the_input(admin: TestClient, world: MapWorld) -> None:
    page = admin.get("/mappings").text
    bad = {**TESTING, "step": "sideways", "stage": "support", "time": "active"}
    card = _card(
        admin.post(f"/mappings/{world.jira_id}", data=_form(page, world.jira_id, **bad), headers=HX).text, world.jira_id
    )
    fix = re.search(r'data-value="待测试">.*?</tr>\s*<tr class="fix-row">(.*?)</tr>', card, re.S)
    assert fix and 'data-testid="map-error"' in fix.group(1)
    assert '<option value="support" selected>' in fix.group(1) and '<option value="active" selected>' in fix.group(1)
    assert 'aria-invalid="true"' in fix.group(1)


def test_missing_version_csrf_and_other_workspace(db: Database, admin: TestClient, world: MapWorld) -> None:
    page = admin.get("/mappings").text
    data = {**_form(page, world.jira_id, **TESTING), "version": ""}
    resp = admin.post(f"/mappings/{world.jira_id}", data=data, headers=HX)
    assert resp.status_code == 422 and "the form has no version" in _text(resp.text).lower()
    no_csrf = {k: v for k, v in _form(page, world.jira_id, **TESTING).items() if k != "csrf_token"}
    assert admin.post(f"/mappings/{world.jira_id}", data=no_csrf).status_code == 403
    assert admin.post("/mappings/99999", data=_form(page, world.jira_id, **TESTING)).status_code == 404
    with db.write() as s:
        other = tenancy.create_workspace(s, SYSTEM_ACTOR, "other", "Other")
        foreign = sources.create_source(s, SYSTEM_ACTOR, other.id, "elsewhere", "files").id
    resp = admin.post(f"/mappings/{foreign}", data=_form(page, world.jira_id, **TESTING))
    assert resp.status_code == 404 and "not in workspace" in resp.text
    assert _source(db, world.jira_id).version == 1


# ------------------------------------------------------------------ pure helpers


def test_helpers() -> None:
    merged = with_rule(
        {"statuses": {"QA ": {"step": "testing"}}, "types": {"X": {"level": "task"}}},
        "statuses",
        "qa",
        {"step": "done"},
    )
    assert merged == {"statuses": {"qa": {"step": "done"}}, "types": {"X": {"level": "task"}}}
    assert with_rule(None, "types", "  Spike  ", {"level": "task"}) == {"types": {"Spike": {"level": "task"}}}
    assert suggest_type_rule("Production Bug") == {"level": "story", "flow_type": "defect"}
    assert suggest_type_rule("Spike") == {"level": "task", "flow_type": "risk"}
    assert suggest_type_rule("Whatever") == {"level": "story", "flow_type": "feature"}
    assert suggest_status_rule("待测试")["step"] == "testing"
    assert suggest_status_rule("Something") == {"step": "backlog", "stage": "discovery", "active": False}
    assert suggest_status_rule("Triage", StatusRule(Step.DEVELOPMENT))["step"] == "development"
    section, name, rule, errors = parse_rule("status", " In  QA ", "", "", "testing", "delivery", "active")
    assert (section, name, rule, errors) == (
        "statuses",
        "In QA",
        {"step": "testing", "stage": "delivery", "active": True},
        {},
    )
    assert parse_rule("type", "X", "none", "feature", "", "", "")[2:] == ({"level": "none", "flow_type": "feature"}, {})
