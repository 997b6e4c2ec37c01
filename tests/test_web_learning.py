"""The learning pages over ASGI (no browser), on both engines: outcome reviews due and the realization rate
(/outcomes), the Outcome panel of an initiative or epic (anticipated and actual outcome), retrospectives and
postmortems with their action items (/retros, /retros/{id}); rights, CSRF, inline errors, HTMX fragments and
stale-version (412) answers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import unescape
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.work import WorkRecord
from okrflow.services import imports, okr, outcomes, retros, sources, tenancy
from okrflow.store.db import Database
from okrflow.store.models_delivery import Incident
from okrflow.store.models_pilots import ActionItem, ActualOutcome, Retrospective
from okrflow.store.models_work import WorkItem
from okrflow.web.learning_routes import _window, last_four_quarters, quarter_start
from tests.test_web_ui import HX, _assert_no_inline, _csrf, _login

VIEWER_PASSWORD = "viewer-password-1"
OTHER_PASSWORD = "other-password-12"


@dataclass
class LearningWorld:
    workspace_id: int
    team_id: int
    other_team_id: int
    quarter_id: int
    ini: int  # initiative, delivered, its by-date 10 days ago: due for review
    epic: int  # epic, delivered, by-date 5 days ago, actual outcome recorded (achieved)
    future: int  # epic, not delivered, by-date ahead
    bare: int  # epic without an anticipated outcome
    story: int
    ana: int
    ben: int
    incident: int
    postmortem: int
    late_action: int
    open_action: int


def build_world(db: Database, ws: int) -> LearningWorld:
    a = SYSTEM_ACTOR
    now = datetime.now(UTC)
    today = now.date()
    with db.write() as s:
        periods = okr.create_year(s, a, ws, now.year)
        quarter = okr.current_period(s, ws, today) or periods[1]
        team = tenancy.create_team(s, a, ws, "payments", "Payments")
        other = tenancy.create_team(s, a, ws, "search", "Search")
        ana = tenancy.create_person(s, a, ws, "Ana Owner", team_id=team.id)
        ben = tenancy.create_person(s, a, ws, "Ben Builder", team_id=team.id)
        src = sources.create_source(s, a, ws, "sheet", "files", team_id=team.id)
        tenancy.create_user(s, a, "vera", VIEWER_PASSWORD, workspace_id=ws, role="viewer")
        tenancy.create_user(s, a, "otto", OTHER_PASSWORD, workspace_id=ws, role="contributor", team_id=other.id)
        ids = (quarter.id, team.id, other.id, ana.id, ben.id, src.id)
    quarter_id, team_id, other_id, ana_id, ben_id, source_id = ids
    records = [
        WorkRecord("I-1", "Initiative", "Done", now - timedelta(days=90), key="PAY-1", title="Wallets everywhere",
                   resolved=now - timedelta(days=40)),
        WorkRecord("E-2", "Epic", "Done", now - timedelta(days=80), key="PAY-2", title="One-tap refunds",
                   resolved=now - timedelta(days=30)),
        WorkRecord("E-3", "Epic", "In Progress", now - timedelta(days=20), key="PAY-3", title="Instalments"),
        WorkRecord("E-4", "Epic", "In Progress", now - timedelta(days=20), key="PAY-4", title="Loyalty points"),
        WorkRecord("S-5", "Story", "Done", now - timedelta(days=20), key="PAY-5", title="A story",
                   resolved=now - timedelta(days=2)),
    ]  # fmt: skip
    imports.import_records(db, a, source_id, records)
    with db.write() as s:
        items = dict(s.execute(select(WorkItem.key, WorkItem.id)).all())
        for key, by in (("PAY-1", today - timedelta(days=10)), ("PAY-2", today - timedelta(days=5)),
                        ("PAY-3", today + timedelta(days=60))):  # fmt: skip
            outcomes.set_anticipated_outcome(
                s,
                a,
                items[key],
                problem=f"people abandon the cart ({key})",
                expected_result="more completed checkouts",
                measured_by="weekly conversion from the warehouse",
                metric_key="checkout_conversion",
                target=0.12,
                by_date=by,
                how_we_learn="pilot P-1, then the monthly review",
            )
        outcomes.record_actual_outcome(
            s, a, items["PAY-2"], result="achieved", observed_on=today, observed_value=0.13, learning="it worked"
        )
        incident = Incident(
            workspace_id=ws,
            source_id=source_id,
            external_id="INC-7",
            service="checkout",
            title="Payments down",
            severity="sev1",
            started_at=now - timedelta(days=12, hours=2),
            resolved_at=now - timedelta(days=12),
        )
        s.add(incident)
        s.flush()
        pm = retros.create_retro(
            s,
            a,
            ws,
            {
                "kind": "postmortem",
                "title": "Payments outage",
                "held_on": today - timedelta(days=10),
                "team_id": team_id,
                "what_happened": "A config push disabled the card provider for 2 hours.",
                "impact": "12% of checkouts failed.",
                "contributing_factors": ["no canary for config pushes", "alert routed to an old channel"],
                "learnings": "Config is code.",
                "incident_id": incident.id,
            },
        )
        late = retros.add_action(
            s,
            a,
            pm.id,
            {
                "title": "Canary for config pushes",
                "owner_person_id": ana_id,
                "due_on": today - timedelta(days=3),
                "playbook_url": "/docs/runbooks/config-rollback",
            },
        )
        later = retros.add_action(
            s, a, pm.id, {"title": "Alert routing test", "owner_person_id": ben_id, "due_on": today + timedelta(days=9)}
        )
        retros.create_retro(s, a, ws, {"title": "Q2 retrospective", "held_on": today - timedelta(days=30)})
        ids2 = (incident.id, pm.id, late.id, later.id)
    return LearningWorld(
        ws, team_id, other_id, quarter_id, items["PAY-1"], items["PAY-2"], items["PAY-3"], items["PAY-4"],
        items["PAY-5"], ana_id, ben_id, *ids2,
    )  # fmt: skip


@pytest.fixture
def world(db: Database, admin_setup) -> LearningWorld:  # type: ignore[no-untyped-def]
    return build_world(db, admin_setup.workspace_id)


def _client(db: Database, user: str = "admin", password: str | None = None) -> TestClient:
    client = TestClient(create_app(db))
    resp = _login(client, user, password) if password else _login(client)
    assert resp.status_code == 303
    return client


@pytest.fixture
def admin(db: Database, world: LearningWorld) -> TestClient:
    return _client(db)


@pytest.fixture
def viewer(db: Database, world: LearningWorld) -> TestClient:
    return _client(db, "vera", VIEWER_PASSWORD)


def _count(db: Database, model: type) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _version(html: str, action: str) -> str:
    """The hidden version field of the form posting to ``action``."""
    form = html[html.index(f'action="{action}"') :]
    m = re.search(r'name="version" value="(\d*)"', form)
    assert m, action
    return m.group(1)


def _due_keys(html: str) -> list[str]:
    return re.findall(r'class="due-review" data-item-id="\d+" data-key="([^"]+)"', html)


WRITE_CONTROLS = ("/outcome/actual", "/outcome/anticipated", 'method="post" action="/retros"', "/actions", "/edit")


# ------------------------------------------------------------------ reading


def test_every_learning_page_renders_for_a_viewer_without_write_controls(
    viewer: TestClient, world: LearningWorld
) -> None:
    pages = [
        "/outcomes",
        f"/outcomes?period={world.quarter_id}",
        "/outcomes?period=custom",
        f"/outcomes?since={(date.today() - timedelta(days=60)).isoformat()}",
        "/outcomes?since=yesterday&until=2020-01-01",
        "/retros",
        "/retros?kind=postmortem",
        f"/retros?kind=retrospective&team={world.team_id}",
        "/retros?kind=blame&team=99999",
        f"/retros/{world.postmortem}",
        f"/work/{world.ini}/outcome",
        f"/work/{world.epic}/outcome",
        f"/work/{world.bare}/outcome",
    ]
    for path in pages:
        resp = viewer.get(path)
        assert resp.status_code == 200, path
        _assert_no_inline(resp.text, path)
        for control in WRITE_CONTROLS:
            assert control not in resp.text, f"{path} shows a write control ({control}) to a viewer"
    html = viewer.get("/outcomes").text
    assert 'aria-current="page">Learning<' in html
    assert 'href="/retros"' in html and 'aria-label="Learning pages"' in html  # the sub-nav
    retros_html = viewer.get("/retros").text
    assert 'aria-current="page">Learning<' in retros_html and 'href="/outcomes"' in retros_html
    assert "Record outcome" not in html and "+ New retrospective" not in retros_html
    assert "Unknown kind 'blame'" in _text(viewer.get("/retros?kind=blame").text)
    assert "That team does not exist" in viewer.get("/retros?team=99999").text


def test_outcome_reviews_due_and_realization_rate(admin: TestClient, world: LearningWorld) -> None:
    html = admin.get("/outcomes").text
    text = _text(html)
    assert _due_keys(html) == ["PAY-1"]  # PAY-2 has its outcome, PAY-3 is not delivered, PAY-4 has no anticipation
    assert 'data-testid="due-count">1<' in html and "10 days overdue" in text
    assert "people abandon the cart (PAY-1)" in text and "checkout_conversion" in text and "0.12" in text
    assert "weekly conversion from the warehouse" in text and "pilot P-1, then the monthly review" in text
    assert "Record outcome" in html
    # the realization rate: two delivered with an anticipation (PAY-1, PAY-2), one achieved
    assert 'data-chart-kind="realization"' in html
    chart = re.search(r"data-chart='([^']+)'", html)
    assert chart and '["Payments", 1, 0, 0, 1, 2]' in unescape(chart.group(1))
    row = re.search(r'<tr data-team="Payments">(.*?)</tr>', html, re.S)
    assert row and _text(row.group(1)).split() == ["Payments", "2", "1", "0", "0", "1", "50%"]
    assert 'data-testid="rate-total">50%<' in html
    start, _end = last_four_quarters(date.today())
    assert f"Last 4 quarters ({start.strftime('%-d %b %Y')} – today)" in text
    # a period without deliveries: the empty state, no chart
    old = admin.get("/outcomes?period=custom&since=2001-01-01&until=2001-12-31").text
    assert 'data-testid="no-rate"' in old and 'data-chart-kind="realization"' not in old
    assert "1 Jan 2001 – 31 Dec 2001" in _text(old) and 'id="of-since"' in old
    bad = _text(admin.get("/outcomes?since=2026-05-01&until=2026-01-01").text)
    assert "The period ends before it starts; showing the last 4 quarters." in bad
    # the filter answers with the fragment and a clean URL
    frag = admin.get(f"/outcomes?period={world.quarter_id}&since=", headers={**HX, "HX-Target": "outcomes-results"})
    assert frag.status_code == 200 and "<html" not in frag.text and 'id="outcomes-results"' in frag.text
    assert frag.headers["HX-Push-Url"] == f"/outcomes?period={world.quarter_id}"
    _assert_no_inline(frag.text, "outcomes fragment")


def test_work_item_page_loads_the_outcome_panel(admin: TestClient, world: LearningWorld) -> None:
    page = admin.get(f"/work/{world.ini}").text
    assert f'hx-get="/work/{world.ini}/outcome"' in page and 'hx-trigger="load"' in page
    assert f'href="/work/{world.ini}/outcome"' in page  # without JavaScript: a link to the panel's own page
    assert f"/work/{world.story}/outcome" not in admin.get(f"/work/{world.story}").text  # stories have no panel
    assert admin.get(f"/work/{world.story}/outcome").status_code == 404
    assert admin.get("/work/999999/outcome").status_code == 404
    panel = admin.get(f"/work/{world.ini}/outcome", headers=HX)
    assert panel.status_code == 200 and "<html" not in panel.text and 'id="work-outcome"' in panel.text
    text = _text(panel.text)
    assert "review due · 10 days overdue" in text and "people abandon the cart (PAY-1)" in text
    assert "Save actual outcome" in text and "Edit anticipated outcome" in text
    done = _text(admin.get(f"/work/{world.epic}/outcome", headers=HX).text)
    assert "achieved" in done and "0.13" in done and "it worked" in done and "Edit actual outcome" in done
    bare = admin.get(f"/work/{world.bare}/outcome", headers=HX).text
    assert 'data-testid="no-anticipated"' in bare and "/outcome/actual" not in bare  # anticipate first
    future = _text(admin.get(f"/work/{world.future}/outcome", headers=HX).text)
    assert "Not delivered yet" in future


# ------------------------------------------------------------------ rights and CSRF


def test_outcome_forms_enforce_csrf_and_roles(db: Database, admin: TestClient, world: LearningWorld) -> None:
    data = {"result": "achieved", "observed_on": date.today().isoformat(), "view": "due"}
    before = _count(db, ActualOutcome)
    assert admin.post(f"/work/{world.ini}/outcome/actual", data=data).status_code == 403  # no CSRF token
    viewer = _client(db, "vera", VIEWER_PASSWORD)
    token = _csrf(viewer.get("/outcomes").text)
    assert viewer.post(f"/work/{world.ini}/outcome/actual", data={**data, "csrf_token": token}).status_code == 403
    other = _client(db, "otto", OTHER_PASSWORD)  # contributor of another team: no form, and 403
    page = other.get("/outcomes").text
    assert "Record outcome" not in page and _due_keys(page) == ["PAY-1"]
    token = _csrf(page)
    assert other.post(f"/work/{world.ini}/outcome/actual", data={**data, "csrf_token": token}).status_code == 403
    resp = other.post(f"/work/{world.ini}/outcome/anticipated", data={"problem": "x", "csrf_token": token}, headers=HX)
    assert resp.status_code == 403 and "contributor role" in unquote(resp.headers.get("X-Okrflow-Error", ""))
    assert _count(db, ActualOutcome) == before


def test_retro_forms_enforce_csrf_and_roles(db: Database, admin: TestClient, world: LearningWorld) -> None:
    retros_before, actions_before = _count(db, Retrospective), _count(db, ActionItem)
    new = {"kind": "retrospective", "title": "Sneaky", "held_on": date.today().isoformat()}
    assert admin.post("/retros", data=new).status_code == 403  # no CSRF token
    action = {"title": "x", "owner_person_id": str(world.ana), "due_on": date.today().isoformat()}
    assert admin.post(f"/retros/{world.postmortem}/actions", data=action).status_code == 403
    viewer = _client(db, "vera", VIEWER_PASSWORD)
    token = _csrf(viewer.get("/retros").text)
    assert viewer.post("/retros", data={**new, "csrf_token": token}).status_code == 403
    assert viewer.post(f"/retros/{world.postmortem}/actions", data={**action, "csrf_token": token}).status_code == 403
    status = {"status": "done", "version": "1", "csrf_token": token}
    assert viewer.post(f"/retros/{world.postmortem}/actions/{world.late_action}", data=status).status_code == 403
    other = _client(db, "otto", OTHER_PASSWORD)  # contributor of the search team: the payments postmortem is not theirs
    page = other.get(f"/retros/{world.postmortem}").text
    assert "/actions" not in page and "/edit" not in page
    token = _csrf(page)
    assert other.post(f"/retros/{world.postmortem}/actions", data={**action, "csrf_token": token}).status_code == 403
    edit = {**new, "version": "1", "csrf_token": token}
    assert other.post(f"/retros/{world.postmortem}/edit", data=edit).status_code == 403
    # ... but they may record one for their own team, which is the only team the form offers them
    page = other.get("/retros").text
    assert "+ New retrospective / postmortem" in page
    form = page[page.index('id="rn-team"') :]
    form = form[: form.index("</select>")]
    assert f'<option value="{world.other_team_id}"' in form and f'<option value="{world.team_id}"' not in form
    resp = other.post("/retros", data={**new, "team_id": str(world.team_id), "csrf_token": token})
    assert resp.status_code == 403
    assert (_count(db, Retrospective), _count(db, ActionItem)) == (retros_before, actions_before)
    ok = other.post("/retros", data={**new, "team_id": str(world.other_team_id), "csrf_token": token}, headers=HX)
    assert ok.status_code == 204 and ok.headers["HX-Redirect"].startswith("/retros/")


# ------------------------------------------------------------------ outcomes: record, edit, stale


def test_record_an_outcome_from_the_due_list(db: Database, admin: TestClient, world: LearningWorld) -> None:
    page = admin.get("/outcomes").text
    token = _csrf(page)
    url = f"/work/{world.ini}/outcome/actual"
    bad = admin.post(
        url,
        data={"view": "due", "observed_on": "yesterday", "observed_value": "lots", "csrf_token": token},
        headers=HX,
    )
    assert bad.status_code == 422 and 'id="outcomes-results"' in bad.text and "<html" not in bad.text
    assert 'id="err-result"' in bad.text and "Choose achieved, partially achieved or not achieved." in bad.text
    assert 'id="err-observed_on"' in bad.text and "Enter a date (YYYY-MM-DD)." in bad.text
    assert 'id="err-observed_value"' in bad.text and 'aria-invalid="true"' in bad.text
    assert 'class="record-outcome" open' in bad.text and 'value="lots"' in bad.text  # the input is kept
    assert _count(db, ActualOutcome) == 1
    ok = admin.post(
        url,
        data={
            "view": "due",
            "result": "partially",
            "observed_on": date.today().isoformat(),
            "observed_value": "0.11",
            "learning": "half of it",
            "period": "",
            "csrf_token": token,
        },
        headers=HX,
    )
    assert ok.status_code == 200 and 'id="outcomes-results"' in ok.text and "<html" not in ok.text
    assert "Outcome of PAY-1 recorded: partially achieved." in ok.text
    assert _due_keys(ok.text) == [] and 'data-testid="no-due"' in ok.text
    row = re.search(r'<tr data-team="Payments">(.*?)</tr>', ok.text, re.S)
    assert row and _text(row.group(1)).split() == ["Payments", "2", "1", "1", "0", "0", "50%"]
    _assert_no_inline(ok.text, "outcomes fragment after recording")
    # a second form, opened before: the item has left the list, the 412 message shows at the top
    racing = admin.post(
        url, data={"view": "due", "result": "achieved", "observed_on": date.today().isoformat(), "csrf_token": token},
        headers=HX,
    )  # fmt: skip
    assert racing.status_code == 412 and 'data-testid="stale"' in racing.text
    assert "was recorded by someone else meanwhile" in _text(racing.text)
    with db.read() as s:
        actual = s.scalar(select(ActualOutcome).where(ActualOutcome.work_item_id == world.ini))
        assert actual is not None and actual.result == "partially" and actual.observed_value == pytest.approx(0.11)
        assert actual.learning == "half of it"
    # without HTMX the form redirects back to the list (keeping the period)
    plain = admin.post(
        f"/work/{world.ini}/outcome/actual",
        data={
            "view": "due",
            "result": "achieved",
            "observed_on": date.today().isoformat(),
            "version": str(actual.version),
            "period": str(world.quarter_id),
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert plain.status_code == 303 and plain.headers["location"] == f"/outcomes?period={world.quarter_id}"


def test_anticipated_outcome_edit_validation_and_stale_version(
    db: Database, admin: TestClient, world: LearningWorld
) -> None:
    panel = admin.get(f"/work/{world.ini}/outcome", headers=HX).text
    token = _csrf(panel)
    url = f"/work/{world.ini}/outcome/anticipated"
    version = _version(panel, url)
    form = {
        "problem": "checkout drop-off at the card step",
        "expected_result": "more completed checkouts",
        "measured_by": "weekly conversion",
        "metric_key": "checkout_conversion",
        "target": "0.15",
        "by_date": (date.today() - timedelta(days=10)).isoformat(),
        "how_we_learn": "the monthly review",
        "version": version,
        "csrf_token": token,
    }
    bad = admin.post(url, data={**form, "problem": " ", "target": "high", "by_date": "soon"}, headers=HX)
    assert bad.status_code == 422 and 'id="work-outcome"' in bad.text and "<html" not in bad.text
    assert 'id="err-problem"' in bad.text and "Say which problem or behaviour this should change." in bad.text
    assert 'id="err-target"' in bad.text and 'id="err-by_date"' in bad.text and 'value="high"' in bad.text
    assert 'id="edit-anticipated" open' in bad.text
    ok = admin.post(url, data=form, headers=HX)
    assert ok.status_code == 200 and "Anticipated outcome saved." in ok.text
    assert "checkout drop-off at the card step" in ok.text and "0.15" in ok.text
    with db.read() as s:
        item = s.get(WorkItem, world.ini)
        assert item is not None and item.anticipated_outcome["target"] == 0.15
        saved_version = item.version
    stale = admin.post(url, data={**form, "problem": "someone else's view"}, headers=HX)  # the old version again
    assert stale.status_code == 412 and 'data-testid="stale"' in stale.text
    text = _text(stale.text)
    assert f"was changed by someone else (you edited version {version}, the current one is {saved_version})" in text
    assert "Nothing was saved; your input is still in the form." in text and "someone else&#39;s view" in stale.text
    with db.read() as s:
        item = s.get(WorkItem, world.ini)
        assert item is not None and item.anticipated_outcome["problem"] == "checkout drop-off at the card step"
    assert admin.post(url, data={**form, "version": ""}, headers=HX).status_code == 422  # no version: refused
    plain = admin.post(url, data={**form, "version": str(saved_version)}, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == f"/work/{world.ini}/outcome"


def test_actual_outcome_edit_and_stale_version(db: Database, admin: TestClient, world: LearningWorld) -> None:
    panel = admin.get(f"/work/{world.epic}/outcome", headers=HX).text
    token = _csrf(panel)
    url = f"/work/{world.epic}/outcome/actual"
    assert _version(panel, url) == "1"
    form = {"result": "not_achieved", "observed_on": date.today().isoformat(), "version": "1", "csrf_token": token}
    ok = admin.post(url, data={**form, "learning": "it faded"}, headers=HX)
    assert (
        ok.status_code == 200
        and 'id="work-outcome"' in ok.text
        and "Outcome of PAY-2 recorded: not achieved" in ok.text
    )
    assert _version(ok.text, url) == "2"
    stale = admin.post(url, data={**form, "result": "achieved"}, headers=HX)
    assert stale.status_code == 412 and 'data-testid="stale"' in stale.text
    assert "Actual outcome" in stale.text and "was changed by someone else" in stale.text
    # a form opened before anyone recorded an outcome does not overwrite the one recorded meanwhile
    racing = admin.post(url, data={**form, "version": "", "result": "achieved"}, headers=HX)
    assert racing.status_code == 412 and "was recorded by someone else meanwhile" in _text(racing.text)
    with db.read() as s:
        actual = s.scalar(select(ActualOutcome).where(ActualOutcome.work_item_id == world.epic))
        assert actual is not None and (actual.result, actual.learning, actual.version) == (
            "not_achieved",
            "it faded",
            2,
        )
    # an item without an anticipated outcome: the service's message, nothing written
    no_ao = admin.post(f"/work/{world.bare}/outcome/actual", data={**form, "version": ""}, headers=HX)
    assert no_ao.status_code == 422 and "has no anticipated outcome" in no_ao.text


# ------------------------------------------------------------------ retrospectives


def test_retros_list_filters_and_overdue_panel(admin: TestClient, world: LearningWorld) -> None:
    html = admin.get("/retros").text
    text = _text(html)
    assert 'data-testid="retro-total">2<' in html and "Payments outage" in text and "Q2 retrospective" in text
    row = re.search(rf'<tr data-retro-id="{world.postmortem}">(.*?)</tr>', html, re.S)
    assert row and "1 overdue" in _text(row.group(1)) and "2 open of 2" in _text(row.group(1))
    assert "incident · checkout" in _text(row.group(1))
    panel = html[html.index('id="overdue-actions"') :]
    assert f'data-action-id="{world.late_action}"' in panel and f'data-action-id="{world.open_action}"' not in panel
    assert "Ana Owner" in _text(panel) and "3 days overdue" in _text(panel)
    assert f'href="/retros/{world.postmortem}"' in panel
    frag = admin.get("/retros?kind=postmortem&team=", headers={**HX, "HX-Target": "retros-results"})
    assert frag.status_code == 200 and "<html" not in frag.text and 'id="retros-results"' in frag.text
    assert frag.headers["HX-Push-Url"] == "/retros?kind=postmortem"
    assert "Payments outage" in frag.text and "Q2 retrospective" not in frag.text
    only_team = admin.get(f"/retros?team={world.other_team_id}").text
    assert 'data-testid="retro-total">0<' in only_team and "No record matches these filters" in only_team
    assert (
        'method="post" action="/retros"' in html and "— whole workspace —" in html and "Payments down" in html
    )  # the form


def test_postmortem_page_is_blameless_and_shows_the_incident(admin: TestClient, world: LearningWorld) -> None:
    html = admin.get(f"/retros/{world.postmortem}").text
    _assert_no_inline(html, "postmortem page")
    text = _text(html)
    assert "Contributing factors" in text and "no canary for config pushes" in text and "Blameless" in text
    assert "root cause" not in text.lower() and not re.search(r"\bwho\b", text, re.I)
    incident = html[html.index('data-testid="incident"') :]
    assert "checkout" in incident and "Payments down" in incident and "sev1" in incident
    assert "2 h" in _text(incident)  # time to restore
    assert 'href="/docs/runbooks/config-rollback"' in html and "Playbook / runbook" in text
    late = re.search(rf'<li class="action-row ([^"]*)" data-action-id="{world.late_action}"', html)
    assert late and "is-overdue" in late.group(1) and "3 days overdue" in text
    assert 'data-testid="overdue-count">1 overdue<' in html
    assert admin.get("/retros/999999").status_code == 404


def test_new_retro_validation_and_creation(db: Database, admin: TestClient, world: LearningWorld) -> None:
    token = _csrf(admin.get("/retros").text)
    before = _count(db, Retrospective)
    bad = admin.post(
        "/retros",
        data={"kind": "postmortem", "title": "", "held_on": "last week", "csrf_token": token},
        headers=HX,
    )
    assert bad.status_code == 422 and 'id="retro-new"' in bad.text and "<html" not in bad.text
    for name in ("title", "held_on", "what_happened", "impact"):
        assert f'id="err-{name}"' in bad.text, name
    assert "A postmortem says what happened" in bad.text and 'id="retro-new" open' in bad.text
    wrong = admin.post(
        "/retros",
        data={"kind": "retrospective", "title": "X", "held_on": "2026-01-01", "incident_id": "424242",
              "csrf_token": token},
        headers=HX,
    )  # fmt: skip
    assert (
        wrong.status_code == 422
        and 'id="err-incident_id"' in wrong.text
        and "Incident 424242 does not exist" in wrong.text
    )
    plain_bad = admin.post("/retros", data={"kind": "postmortem", "title": "Y", "held_on": "", "csrf_token": token})
    assert plain_bad.status_code == 422 and "<html" in plain_bad.text and 'id="err-held_on"' in plain_bad.text
    assert _count(db, Retrospective) == before
    data = {
        "kind": "postmortem",
        "title": "Search outage",
        "held_on": date.today().isoformat(),
        "team_id": str(world.team_id),
        "what_happened": "The index rebuild ran at noon.",
        "impact": "Search was slow for an hour.",
        "contributing_factors": "rebuild not scheduled off-peak\n\n  no load test of the rebuild  \n",
        "learnings": "Schedule heavy jobs.",
        "incident_id": str(world.incident),
        "pilot_id": "",
        "csrf_token": token,
    }
    ok = admin.post("/retros", data=data, headers=HX)
    assert ok.status_code == 204 and re.fullmatch(r"/retros/\d+", ok.headers["HX-Redirect"])
    with db.read() as s:
        new = s.get(Retrospective, int(ok.headers["HX-Redirect"].rsplit("/", 1)[1]))
        assert new is not None and new.contributing_factors == [
            "rebuild not scheduled off-peak",
            "no load test of the rebuild",
        ]
        assert new.incident_id == world.incident and new.team_id == world.team_id
    plain = admin.post("/retros", data={**data, "title": "Another"}, follow_redirects=False)
    assert plain.status_code == 303 and re.fullmatch(r"/retros/\d+", plain.headers["location"])


def test_retro_edit_and_stale_version(db: Database, admin: TestClient, world: LearningWorld) -> None:
    page = admin.get(f"/retros/{world.postmortem}").text
    token = _csrf(page)
    url = f"/retros/{world.postmortem}/edit"
    version = _version(page, url)
    form = {
        "kind": "postmortem",
        "title": "Payments outage on 1 May",
        "held_on": (date.today() - timedelta(days=10)).isoformat(),
        "team_id": str(world.team_id),
        "what_happened": "A config push disabled the card provider.",
        "impact": "",
        "contributing_factors": "no canary",
        "learnings": "",
        "incident_id": str(world.incident),
        "pilot_id": "",
        "version": version,
        "csrf_token": token,
    }
    bad = admin.post(url, data=form, headers=HX)
    assert bad.status_code == 422 and 'id="retro-page"' in bad.text and 'id="err-impact"' in bad.text
    assert 'id="edit-retro" open' in bad.text
    ok = admin.post(url, data={**form, "impact": "12% of checkouts failed."}, headers=HX)
    assert ok.status_code == 200 and 'data-testid="retro-saved"' in ok.text and "Payments outage on 1 May" in ok.text
    stale = admin.post(url, data={**form, "impact": "a different view"}, headers=HX)
    assert stale.status_code == 412 and 'data-testid="stale"' in stale.text
    assert "Retrospective" in stale.text and "was changed by someone else" in stale.text
    assert "a different view" in stale.text  # the input stays in the form
    with db.read() as s:
        retro = s.get(Retrospective, world.postmortem)
        assert retro is not None and retro.impact == "12% of checkouts failed." and retro.version == int(version) + 1


def test_add_action_mark_done_and_stale_version(db: Database, admin: TestClient, world: LearningWorld) -> None:
    page = admin.get(f"/retros/{world.postmortem}").text
    token = _csrf(page)
    url = f"/retros/{world.postmortem}/actions"
    before = _count(db, ActionItem)
    bad = admin.post(
        url, data={"title": "Game day", "playbook_url": "javascript:alert(1)", "csrf_token": token}, headers=HX
    )
    assert bad.status_code == 422 and 'id="retro-actions"' in bad.text and "<html" not in bad.text
    assert 'id="err-owner_person_id"' in bad.text and 'id="err-due_on"' in bad.text and 'value="Game day"' in bad.text
    due = (date.today() + timedelta(days=30)).isoformat()
    playbook = admin.post(
        url,
        data={"title": "Game day", "owner_person_id": str(world.ben), "due_on": due, "playbook_url": "javascript:x",
              "csrf_token": token},
        headers=HX,
    )  # fmt: skip
    assert playbook.status_code == 422 and 'id="err-playbook_url"' in playbook.text
    assert _count(db, ActionItem) == before
    ok = admin.post(
        url,
        data={"title": "Game day", "owner_person_id": str(world.ben), "due_on": due,
              "playbook_url": "https://wiki.example/runbooks/game-day", "csrf_token": token},
        headers=HX,
    )  # fmt: skip
    assert ok.status_code == 200 and 'id="retro-actions"' in ok.text and "Action “Game day” added." in ok.text
    assert 'href="https://wiki.example/runbooks/game-day"' in ok.text and 'data-testid="open-count">3 open<' in ok.text
    _assert_no_inline(ok.text, "actions fragment")
    assert _count(db, ActionItem) == before + 1
    status_url = f"/retros/{world.postmortem}/actions/{world.late_action}"
    done = admin.post(status_url, data={"status": "done", "version": "1", "csrf_token": token}, headers=HX)
    assert done.status_code == 200 and "“Canary for config pushes” marked done." in done.text
    row = re.search(
        rf'<li class="action-row ([^"]*)" data-action-id="{world.late_action}" data-status="(\w+)"', done.text
    )
    assert row and row.group(2) == "done" and "is-overdue" not in row.group(1)
    assert 'data-testid="overdue-count"' not in done.text  # nothing overdue any more
    stale = admin.post(status_url, data={"status": "dropped", "version": "1", "csrf_token": token}, headers=HX)
    assert stale.status_code == 412 and 'data-testid="stale"' in stale.text
    assert "Action item" in stale.text and "was changed by someone else" in stale.text
    with db.read() as s:
        action = s.get(ActionItem, world.late_action)
        assert action is not None and (action.status, action.version) == ("done", 2)
    reopen = admin.post(status_url, data={"status": "open", "version": "2", "csrf_token": token}, headers=HX)
    assert reopen.status_code == 200 and "reopened" in reopen.text
    assert (
        admin.post(status_url, data={"status": "later", "version": "3", "csrf_token": token}, headers=HX).status_code
        == 422
    )
    wrong_retro = admin.post(
        f"/retros/{world.postmortem + 1}/actions/{world.late_action}",
        data={"status": "done", "version": "3", "csrf_token": token},
    )
    assert wrong_retro.status_code == 404
    plain = admin.post(status_url, data={"status": "done", "version": "3", "csrf_token": token}, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == f"/retros/{world.postmortem}"


# ------------------------------------------------------------------ the default period


def test_default_period_is_the_last_four_quarters() -> None:
    assert quarter_start(date(2026, 5, 20)) == date(2026, 4, 1)
    assert last_four_quarters(date(2026, 5, 20)) == (date(2025, 7, 1), date(2026, 5, 20))
    assert last_four_quarters(date(2026, 1, 1)) == (date(2025, 4, 1), date(2026, 1, 1))
    assert last_four_quarters(date(2026, 12, 31)) == (date(2026, 1, 1), date(2026, 12, 31))
    today = date(2026, 5, 20)
    win = _window({}, [], today)
    assert (win.start, win.end, win.query["period"]) == (date(2025, 7, 1), today, "")
    custom = _window({"since": "2026-02-01"}, [], today)
    assert (custom.start, custom.end, custom.query["period"]) == (date(2026, 2, 1), today, "custom")
    missing = _window({"period": "custom", "until": "2026-03-01"}, [], today)
    assert missing.start == date(2025, 7, 1) and missing.problems
