"""Editing in the OKR web pages over ASGI, on SQLite and PostgreSQL: edit and delete objectives, key results and
check-ins with optimistic locking (a stale version is a 412 fragment and changes nothing), two-step deletes,
viewers refused, the workspace's OKR settings page, and the HTMX filters of /okr."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import okr, tenancy
from okrflow.store.db import Database
from okrflow.store.models import AuditEntry, Workspace
from okrflow.store.models_okr import CheckIn, KeyResult, Metric, Objective
from tests import test_web_okr as okr_pages
from tests.test_web_okr import World, _count
from tests.test_web_ui import HX, _assert_no_inline, _csrf

# the small world of the OKR page tests, and a client per role
world = okr_pages.world
admin = okr_pages.admin
viewer = okr_pages.viewer


def _version_in(html: str, action: str) -> str:
    """The hidden ``version`` of the form posting to ``action``."""
    m = re.search(re.escape(f'action="{action}"') + r'.*?name="version" value="(\d+)"', html, re.S)
    assert m, f"no version field in the form for {action}"
    return m.group(1)


def _row(db: Database, model: type, row_id: int):  # type: ignore[no-untyped-def]
    with db.read() as s:
        return s.get(model, row_id)


def test_edit_key_result_with_optimistic_locking(admin: TestClient, db: Database, world: World) -> None:
    page = admin.get(f"/okr/kr/{world.kr_increase}").text
    token = _csrf(page)
    url = f"/okr/kr/{world.kr_increase}/edit"
    version = _version_in(page, url)
    assert 'hx-target="#kr-page"' in page and 'id="kre-title"' in page
    form = {
        "title": "Ship 12 payment methods",
        "direction": "increase",
        "baseline": "0",
        "target": "12",
        "unit": "methods",
        "weight": "1",
        "kind": "outcome",
        "csrf_token": token,
    }
    # a bad number is a 422 fragment next to the field; nothing is written
    bad = admin.post(url, data={**form, "target": "lots", "version": version}, headers=HX)
    assert bad.status_code == 422 and 'id="err-target"' in bad.text and "must be a number" in bad.text
    assert _row(db, KeyResult, world.kr_increase).title == "Ship 10 payment methods"
    ok = admin.post(url, data={**form, "version": version}, headers=HX)
    assert ok.status_code == 200 and ok.text.lstrip().startswith('<div id="kr-page"')
    _assert_no_inline(ok.text, "KR edit fragment")
    assert "<h1>Ship 12 payment methods</h1>" in ok.text and 'data-testid="saved"' in ok.text
    kr = _row(db, KeyResult, world.kr_increase)
    assert (kr.title, kr.target, kr.version) == ("Ship 12 payment methods", 12.0, int(version) + 1)
    # someone else's change meanwhile: the old version is refused with 412, the input stays in the form
    stale = admin.post(url, data={**form, "title": "My stale title", "version": version}, headers=HX)
    assert stale.status_code == 412 and stale.text.lstrip().startswith('<div id="kr-page"')
    assert "Someone else changed this key result" in stale.text and 'data-testid="stale"' in stale.text
    assert 'value="My stale title"' in stale.text and "<details" in stale.text and " open>" in stale.text
    assert _row(db, KeyResult, world.kr_increase).title == "Ship 12 payment methods"
    # without HTMX: 303 back to the page; a stale version is the whole page with 412
    plain = admin.post(url, data={**form, "title": "Plain", "version": str(kr.version)}, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == f"/okr/kr/{world.kr_increase}?saved=1"
    again = admin.post(url, data={**form, "version": version})
    assert again.status_code == 412 and "<html" in again.text
    assert _row(db, KeyResult, world.kr_increase).title == "Plain"


def test_edit_and_delete_objective(admin: TestClient, db: Database, world: World) -> None:
    page = admin.get(f"/okr/objective/{world.objective_id}").text
    token = _csrf(page)
    url = f"/okr/objective/{world.objective_id}/edit"
    version = _version_in(page, url)
    form = {"title": "Make paying a joy", "status": "active", "commitment": "aspirational", "csrf_token": token}
    empty = admin.post(url, data={**form, "title": " ", "version": version}, headers=HX)
    assert empty.status_code == 422 and 'id="err-title"' in empty.text
    ok = admin.post(url, data={**form, "version": version}, headers=HX)
    assert ok.status_code == 200 and ok.text.lstrip().startswith('<div id="objective-page"')
    assert "<h1>Make paying a joy</h1>" in ok.text
    obj = _row(db, Objective, world.objective_id)
    assert (obj.title, obj.commitment, obj.version) == ("Make paying a joy", "aspirational", int(version) + 1)
    stale = admin.post(url, data={**form, "title": "Stale", "version": version}, headers=HX)
    assert stale.status_code == 412 and "Someone else changed this objective" in stale.text
    assert _row(db, Objective, world.objective_id).title == "Make paying a joy"

    # delete: step 1 swaps the button for a confirm form carrying the version the user saw
    base = f"/okr/objective/{world.objective_id}/delete"
    confirm = admin.get(f"{base}?version={version}", headers=HX)
    assert confirm.status_code == 200 and "<html" not in confirm.text and "Yes, delete" in confirm.text
    assert "with its 3 key results" in confirm.text and f'name="version" value="{version}"' in confirm.text
    cancel = admin.get(f"{base}?version={version}&cancel=1", headers=HX)
    assert "Yes, delete" not in cancel.text and 'data-testid="delete-objective"' in cancel.text
    assert admin.get(f"{base}?version={version}").text.count("<html") == 1  # a page without JS
    # step 2 with the old version: 412, swapped into the confirm box, nothing deleted
    gone = admin.post(base, data={"version": version, "csrf_token": token}, headers=HX)
    assert gone.status_code == 412 and gone.headers["HX-Retarget"] == f"#del-objective-{world.objective_id}"
    assert "Nothing was deleted" in gone.text and _row(db, Objective, world.objective_id) is not None
    done = admin.post(base, data={"version": str(int(version) + 1), "csrf_token": token}, headers=HX)
    assert done.status_code == 204 and done.headers["HX-Redirect"] == "/okr?deleted=objective"
    assert _row(db, Objective, world.objective_id) is None
    assert _count(db, KeyResult) == 0 and _count(db, CheckIn) == 0
    assert "Objective deleted." in admin.get("/okr?deleted=objective").text


def test_edit_and_delete_checkins(admin: TestClient, db: Database, world: World) -> None:
    with db.read() as s:
        checkins = s.scalars(
            select(CheckIn).where(CheckIn.key_result_id == world.kr_increase).order_by(CheckIn.at)
        ).all()
        latest = checkins[-1]
    page = admin.get(f"/okr/kr/{world.kr_increase}").text
    token = _csrf(page)
    assert f"?edit_checkin={latest.id}" in page and f"/okr/checkin/{latest.id}/delete?version=1" in page
    # the edit row swaps in with HTMX (and is a plain page without JS)
    frag = admin.get(
        f"/okr/kr/{world.kr_increase}?edit_checkin={latest.id}", headers={**HX, "HX-Target": "kr-live"}
    ).text
    assert frag.lstrip().startswith('<div id="kr-live"') and 'id="cie-value"' in frag and 'value="4"' in frag
    url = f"/okr/checkin/{latest.id}/edit"
    version = _version_in(frag, url)
    bad = admin.post(url, data={"value": "4", "confidence": "12", "version": version, "csrf_token": token}, headers=HX)
    assert bad.status_code == 422 and 'id="err-confidence"' in bad.text and 'id="cie-value"' in bad.text
    ok = admin.post(
        url,
        data={"value": "5", "confidence": "2", "note": "fixed", "version": version, "csrf_token": token},
        headers=HX,
    )
    assert ok.status_code == 200 and "Check-in updated." in ok.text
    assert 'data-testid="kr-current">5 methods<' in ok.text and 'data-testid="kr-status">off track<' in ok.text
    stale = admin.post(url, data={"value": "9", "confidence": "9", "version": version, "csrf_token": token}, headers=HX)
    assert stale.status_code == 412 and "Someone else changed this check-in" in stale.text
    assert 'value="9"' in stale.text  # the input is kept
    c = _row(db, CheckIn, latest.id)
    assert (c.value, c.confidence, c.note, c.version) == (5.0, 2.0, "fixed", 2)
    # delete with the old version: 412; with the current one: the fragment without the row
    base = f"/okr/checkin/{latest.id}/delete"
    refused = admin.post(base, data={"version": "1", "csrf_token": token}, headers=HX)
    assert refused.status_code == 412 and refused.headers["HX-Retarget"] == f"#del-checkin-{latest.id}"
    assert _row(db, CheckIn, latest.id) is not None
    done = admin.post(base, data={"version": "2", "csrf_token": token}, headers=HX)
    assert done.status_code == 200 and done.text.lstrip().startswith('<div id="kr-live"')
    assert "Check-in deleted." in done.text and 'data-testid="checkin-count">3<' in done.text
    assert _row(db, CheckIn, latest.id) is None
    with db.read() as s:  # both audited by the services
        actions = s.scalars(
            select(AuditEntry.action).where(AuditEntry.entity_type == "checkin", AuditEntry.entity_id == str(latest.id))
        ).all()
    assert "update" in actions and "delete" in actions


def test_viewers_cannot_edit_or_delete(viewer: TestClient, db: Database, world: World) -> None:
    with db.read() as s:
        checkin = s.scalars(select(CheckIn).where(CheckIn.key_result_id == world.kr_increase)).first()
        assert checkin is not None
        checkin_id = checkin.id
    for path in (f"/okr/kr/{world.kr_increase}", f"/okr/objective/{world.objective_id}"):
        html = viewer.get(path).text
        assert "/edit" not in html and "/delete" not in html and "edit_checkin" not in html
    token = _csrf(viewer.get("/okr").text)
    posts = [
        (f"/okr/objective/{world.objective_id}/edit", {"title": "Hijacked", "version": "1"}),
        (f"/okr/kr/{world.kr_increase}/edit", {"title": "Hijacked", "baseline": "0", "target": "1", "version": "1"}),
        (f"/okr/checkin/{checkin_id}/edit", {"value": "1", "confidence": "1", "version": "1"}),
        (f"/okr/checkin/{checkin_id}/delete", {"version": "1"}),
        (f"/okr/kr/{world.kr_increase}/delete", {"version": "1"}),
        (f"/okr/objective/{world.objective_id}/delete", {"version": "1"}),
    ]
    for path, data in posts:
        resp = viewer.post(path, data={**data, "csrf_token": token}, headers=HX)
        assert resp.status_code == 403, path
        assert "contributor role" in resp.text and "X-Okrflow-Error" in resp.headers
    assert viewer.get(f"/okr/kr/{world.kr_increase}/delete?version=1", headers=HX).status_code == 403
    assert viewer.get("/okr/settings").status_code == 403
    assert viewer.post("/okr/settings", data={"checkin_due_days": "3", "csrf_token": token}).status_code == 403
    assert _row(db, Objective, world.objective_id).title == "Make paying effortless"
    assert _row(db, KeyResult, world.kr_increase).title == "Ship 10 payment methods"
    assert _row(db, CheckIn, checkin_id).version == 1


def test_okr_settings_page(admin: TestClient, db: Database, world: World) -> None:
    with db.write() as s:
        tenancy.update_workspace(s, SYSTEM_ACTOR, world.workspace_id, {"settings": {"alerts": {"channel": "#ops"}}})
    page = admin.get("/okr/settings")
    assert page.status_code == 200 and 'value="7"' in page.text and "Payment success (pay_success)" in page.text
    _assert_no_inline(page.text, "settings")
    assert 'href="/okr/settings"' in admin.get("/okr").text
    token = _csrf(page.text)
    version = _version_in(page.text, "/okr/settings")
    form = {"checkin_due_days": "10", "on_track": "8", "at_risk": "5", "include_aligned_in_progress": "1"}
    for bad, field, message in [
        ({"checkin_due_days": "0"}, "checkin_due_days", "from 1 to 90"),
        ({"checkin_due_days": "two"}, "checkin_due_days", "whole number"),
        ({"on_track": "3"}, "on_track", "at_risk"),
        ({"at_risk": "x"}, "at_risk", "must be a number"),
    ]:
        resp = admin.post("/okr/settings", data={**form, **bad, "version": version, "csrf_token": token}, headers=HX)
        assert resp.status_code == 422, bad
        assert f'id="err-{field}"' in resp.text and message in resp.text, (bad, resp.text[:2000])
        assert resp.text.lstrip().startswith('<section class="card" id="okr-settings"')
    with db.read() as s:
        metric_id = s.scalars(select(Metric.id)).one()
    ok = admin.post(
        "/okr/settings",
        data={**form, "north_star_metric_id": str(metric_id), "version": version, "csrf_token": token},
        headers=HX,
    )
    assert ok.status_code == 200 and 'data-testid="settings-saved"' in ok.text and 'value="10"' in ok.text
    with db.read() as s:
        ws = s.get(Workspace, world.workspace_id)
        assert ws is not None
        assert ws.settings["alerts"] == {"channel": "#ops"}  # other keys untouched
        assert ws.settings["okr"] == {
            "checkin_due_days": 10,
            "confidence": {"on_track": 8.0, "at_risk": 5.0},
            "include_aligned_in_progress": True,
        }
        assert ws.north_star_metric_id == metric_id
        assert okr.OkrSettings.of(ws).checkin_due_days == 10
    stale = admin.post(
        "/okr/settings", data={**form, "checkin_due_days": "20", "version": version, "csrf_token": token}
    )
    assert stale.status_code == 412 and "someone else changed" in stale.text.lower() and 'value="20"' in stale.text
    with db.read() as s:
        ws = s.get(Workspace, world.workspace_id)
        assert ws is not None and ws.settings["okr"]["checkin_due_days"] == 10
    assert "no update for over 10 days" in admin.get("/okr").text


def test_okr_filters_swap_the_board(admin: TestClient, world: World) -> None:
    page = admin.get("/okr").text
    assert 'hx-target="#okr-board"' in page and 'hx-push-url="true"' in page
    frag = admin.get(f"/okr?period=all&team={world.team_id}", headers={**HX, "HX-Target": "okr-board"})
    assert frag.status_code == 200 and "<html" not in frag.text
    assert frag.text.lstrip().startswith('<div id="okr-board">')
    assert "Make paying effortless" in frag.text and re.search(r'<option value="all" selected>', frag.text)
    _assert_no_inline(frag.text, "okr board")
    # a history restore (no HX-Target) gets the whole page
    assert "<html" in admin.get("/okr?period=all", headers={**HX, "HX-History-Restore-Request": "true"}).text
