"""The OKR and KPI web pages over ASGI (no browser): rendering, permissions, HTMX forms, inline errors, CSP."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import catalog, okr, tenancy
from okrflow.store.db import Database
from okrflow.store.models_okr import CheckIn, KeyResult, Objective
from okrflow.web.okr_routes import fmt_age, fmt_num, highlight
from tests.conftest import ADMIN_PASSWORD
from tests.test_web_ui import HX, _assert_no_inline, _csrf, _login

VIEWER_PASSWORD = "viewer-password-1"


@dataclass
class World:
    workspace_id: int
    quarter_id: int
    team_id: int
    objective_id: int
    kr_increase: int
    kr_bound: int
    kr_band: int
    metric_key: str


@pytest.fixture
def world(db: Database, admin_setup) -> World:  # type: ignore[no-untyped-def]
    """A quarter running today, one team objective with three key results (one bound to a two-version metric)."""
    ws = admin_setup.workspace_id
    now = datetime.now(UTC)
    with db.write() as s:
        a = SYSTEM_ACTOR
        periods = okr.create_year(s, a, ws, now.year)
        quarter = okr.current_period(s, ws, now.date()) or periods[1]
        team = tenancy.create_team(s, a, ws, "payments", "Payments")
        owner = tenancy.create_person(s, a, ws, "Priya Raman", None, "PM", team.id)
        m = catalog.define_metric(
            s,
            a,
            ws,
            "pay_success",
            name="Payment success",
            definition="Authorised ÷ attempts.",
            unit="%",
            thresholds={"green": 98.0, "red": 96.0},
            freshness_warn_hours=30,
            freshness_error_hours=72,
            calculation="authorised / attempts",
        )
        days = [now - timedelta(days=d) for d in range(40, 0, -1)]
        catalog.record_values(
            s, a, ws, [catalog.ValuePoint("pay_success", d, 96 + i * 0.05) for i, d in enumerate(days[:20])]
        )
        catalog.revise_metric(s, a, m.id, {"calculation": "authorised / attempts, retries excluded"}, reason="retries")
        catalog.record_values(
            s, a, ws, [catalog.ValuePoint("pay_success", d, 97 + i * 0.05) for i, d in enumerate(days[20:])]
        )
        obj = okr.create_objective(
            s, a, ws, quarter.id, "Make paying effortless", team_id=team.id, owner_person_id=owner.id
        )
        inc = okr.create_key_result(
            s,
            a,
            obj.id,
            "Ship 10 payment methods",
            "increase",
            baseline=0,
            target=10,
            unit="methods",
            owner_person_id=owner.id,
        )
        bound = okr.create_key_result(
            s, a, obj.id, "Raise payment success to 99 %", "increase", baseline=96, target=99, unit="%", metric_id=m.id
        )
        band = okr.create_key_result(
            s, a, obj.id, "Keep errors within 0.1–0.5 %", "band", baseline=0.9, band_low=0.1, band_high=0.5, unit="%"
        )
        for i, d in enumerate(days[::10]):
            okr.create_checkin(s, a, inc.id, confidence=7, value=float(i + 1), note=f"week {i}", at=d)
        okr.create_checkin(s, a, bound.id, confidence=5, note="slow", at=days[-1])
        tenancy.create_user(s, a, "vera", VIEWER_PASSWORD, workspace_id=ws, role="viewer")
    return World(ws, quarter.id, team.id, obj.id, inc.id, bound.id, band.id, "pay_success")


@pytest.fixture
def admin(db: Database, world: World) -> TestClient:
    client = TestClient(create_app(db))
    assert _login(client).status_code == 303
    return client


@pytest.fixture
def viewer(db: Database, world: World) -> TestClient:
    client = TestClient(create_app(db))
    assert _login(client, "vera", VIEWER_PASSWORD).status_code == 303
    return client


def _count(db: Database, model: type) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _pages(w: World) -> list[str]:
    return [
        "/",
        "/okr",
        "/okr?period=all",
        f"/okr?period={w.quarter_id}&team={w.team_id}",
        f"/okr/objective/{w.objective_id}",
        f"/okr/kr/{w.kr_increase}",
        f"/okr/kr/{w.kr_bound}",
        f"/okr/kr/{w.kr_band}",
        "/metrics",
        f"/metrics/{w.metric_key}",
        f"/metrics/{w.metric_key}?days=730&a=1&b=2",
        "/glossary",
        "/glossary?q=payment",
    ]


WRITE_FORMS = ('action="/okr/objectives"', "/krs", "/checkins")


def test_every_page_renders_for_a_viewer_without_forms_or_inline_code(viewer: TestClient, world: World) -> None:
    for path in _pages(world):
        resp = viewer.get(path)
        assert resp.status_code == 200, path
        _assert_no_inline(resp.text, path)
        for form in WRITE_FORMS:
            assert form not in resp.text, f"{path} shows a write form ({form}) to a viewer"
    tree = viewer.get("/okr").text
    assert "Make paying effortless" in tree and "Ship 10 payment methods" in tree and "Priya Raman" in tree
    assert 'aria-current="page">OKRs<' in tree
    assert "Contributors of a team (and admins) create objectives" in tree


def test_pages_show_the_numbers(admin: TestClient, world: World) -> None:
    kr = admin.get(f"/okr/kr/{world.kr_increase}").text
    assert 'data-testid="kr-current">4 methods<' in kr  # four weekly check-ins, values 1..4
    assert 'data-testid="kr-progress">40%<' in kr
    assert re.search(r'data-testid="kr-status">on track<', kr)
    chart = json.loads(unescape(re.search(r"data-chart='([^']+)'", kr).group(1)))  # type: ignore[union-attr]
    assert len(chart["actual"]) == 4 and chart["target"] == {"value": 10.0}
    assert chart["expected"][0][1] == 0 and chart["expected"][1][1] == 10
    assert chart["start"] < chart["now"] <= chart["end"] and chart["forecast"]["line"][-1][0] == chart["end"]
    assert "linear trend over 4 values" in kr and "Chance on target" in kr
    bound = admin.get(f"/okr/kr/{world.kr_bound}").text
    assert "bound to pay_success" in bound and 'name="value"' not in bound  # the metric gives the value
    band = admin.get(f"/okr/kr/{world.kr_band}").text
    assert "within 0.1%–0.5%" in band and '"low": 0.1' in unescape(band)
    obj = admin.get(f"/okr/objective/{world.objective_id}").text
    assert "Committed" in obj and "Aspirational" in obj and "expects 1.0" in obj and "expects 0.7" in obj
    assert 'data-testid="kr-count">3<' in obj
    metric = admin.get(f"/metrics/{world.metric_key}").text
    assert (
        "retries excluded" in metric
        and "version 2" in metric
        and 'data-testid="changed-count">1 field changed' in metric
    )
    data = json.loads(unescape(re.search(r"data-chart='([^']+)'", metric).group(1)))  # type: ignore[union-attr]
    assert [s["version"] for s in data["series"]] == [1, 2]  # points by version, drawn in two colours
    catalog_page = admin.get("/metrics").text
    assert "Payment success" in catalog_page and "v2" in catalog_page and "fresh" in catalog_page
    home = admin.get("/").text
    assert 'data-testid="card-objectives"' in home and 'data-testid="card-due"' in home
    assert 'data-testid="card-kpis"' in home


def test_viewer_posts_are_refused_and_write_nothing(viewer: TestClient, db: Database, world: World) -> None:
    token = _csrf(viewer.get("/okr").text)
    before = (_count(db, Objective), _count(db, KeyResult), _count(db, CheckIn))
    posts = [
        ("/okr/objectives", {"title": "Sneaky", "period_id": str(world.quarter_id), "team_id": str(world.team_id)}),
        (f"/okr/objective/{world.objective_id}/krs", {"title": "Sneaky KR", "baseline": "0", "target": "1"}),
        (f"/okr/kr/{world.kr_increase}/checkins", {"value": "5", "confidence": "8"}),
    ]
    for path, data in posts:
        resp = viewer.post(path, data={**data, "csrf_token": token}, headers=HX)
        assert resp.status_code == 403, path
        assert "contributor role" in resp.text and "X-Okrflow-Error" in resp.headers
        assert viewer.post(path, data={**data, "csrf_token": token}).status_code == 403
    assert (_count(db, Objective), _count(db, KeyResult), _count(db, CheckIn)) == before


def test_checkin_htmx_updates_the_fragment(admin: TestClient, db: Database, world: World) -> None:
    page = admin.get(f"/okr/kr/{world.kr_increase}").text
    token = _csrf(page)
    assert 'hx-post="/okr/kr/' in page and 'hx-target="#kr-live"' in page
    url = f"/okr/kr/{world.kr_increase}/checkins"
    frag = admin.post(url, data={"value": "6", "confidence": "8", "note": "good week", "csrf_token": token}, headers=HX)
    assert frag.status_code == 200
    assert "<html" not in frag.text and frag.text.lstrip().startswith('<div id="kr-live"')
    _assert_no_inline(frag.text, "check-in fragment")
    assert 'data-testid="kr-status">on track<' in frag.text and "Check-in saved" in frag.text
    assert 'data-points="5"' in frag.text and 'data-testid="kr-current">6 methods<' in frag.text
    frag = admin.post(url, data={"value": "6.5", "confidence": "2", "csrf_token": token}, headers=HX)
    assert 'data-testid="kr-status">off track<' in frag.text and 'data-points="6"' in frag.text
    # a plain POST redirects back to the page
    resp = admin.post(url, data={"value": "7", "confidence": "5", "csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"/okr/kr/{world.kr_increase}"
    # a metric-bound KR takes confidence and a note only
    frag = admin.post(
        f"/okr/kr/{world.kr_bound}/checkins", data={"confidence": "9", "note": "n", "csrf_token": token}, headers=HX
    )
    assert frag.status_code == 200 and 'data-testid="kr-status">on track<' in frag.text
    with db.read() as s:
        kr_checkins = s.scalars(select(CheckIn).where(CheckIn.key_result_id == world.kr_increase)).all()
        assert len(kr_checkins) == 7
        assert kr_checkins[-1].author == "user:admin" and kr_checkins[-3].note == "good week"


BAD_CHECKINS = [
    ({"value": "abc", "confidence": "8"}, "value", "must be a number"),
    ({"value": "", "confidence": "8"}, "value", "enter the current value"),
    ({"value": "nan", "confidence": "8"}, "value", "finite"),
    ({"value": "3", "confidence": "11"}, "confidence", "from 0 to 10"),
    ({"value": "3", "confidence": ""}, "confidence", "enter the confidence"),
    ({"value": "3", "confidence": "7", "note": "x" * 2001}, "note", "under 2000"),
]


def test_checkin_bad_input_is_a_422_fragment_and_writes_nothing(admin: TestClient, db: Database, world: World) -> None:
    token = _csrf(admin.get(f"/okr/kr/{world.kr_increase}").text)
    before = _count(db, CheckIn)
    for data, field, message in BAD_CHECKINS:
        resp = admin.post(f"/okr/kr/{world.kr_increase}/checkins", data={**data, "csrf_token": token}, headers=HX)
        assert resp.status_code == 422, data
        assert "<html" not in resp.text and 'id="kr-live"' in resp.text
        assert f'id="err-{field}"' in resp.text and message in resp.text.lower(), data
        assert 'aria-invalid="true"' in resp.text
        _assert_no_inline(resp.text, "422 fragment")
        assert _count(db, CheckIn) == before
    # without HTMX: the whole page with the error, same status
    data, field, _ = BAD_CHECKINS[0]
    full = admin.post(f"/okr/kr/{world.kr_increase}/checkins", data={**data, "csrf_token": token})
    assert full.status_code == 422 and "<html" in full.text and f'id="err-{field}"' in full.text
    assert _count(db, CheckIn) == before


def test_checkin_needs_csrf(admin: TestClient, db: Database, world: World) -> None:
    before = _count(db, CheckIn)
    resp = admin.post(f"/okr/kr/{world.kr_increase}/checkins", data={"value": "1", "confidence": "5"}, headers=HX)
    assert resp.status_code == 403 and _count(db, CheckIn) == before


def test_create_objective_and_key_results(admin: TestClient, db: Database, world: World) -> None:
    page = admin.get("/okr").text
    token = _csrf(page)
    assert 'hx-post="/okr/objectives"' in page
    bad = admin.post(
        "/okr/objectives", data={"title": " ", "period_id": str(world.quarter_id), "csrf_token": token}, headers=HX
    )
    assert bad.status_code == 422 and "<html" not in bad.text and "give the objective a title" in bad.text.lower()
    _assert_no_inline(bad.text, "objective 422")
    bad = admin.post(
        "/okr/objectives",
        data={"title": "X", "period_id": str(world.quarter_id), "aligned_to_kr_id": "99999", "csrf_token": token},
        headers=HX,
    )
    assert bad.status_code == 422 and 'id="err-aligned_to_kr_id"' in bad.text
    assert _count(db, Objective) == 1
    resp = admin.post(
        "/okr/objectives",
        data={
            "title": "Faster refunds",
            "period_id": str(world.quarter_id),
            "team_id": str(world.team_id),
            "commitment": "aspirational",
            "aligned_to_kr_id": str(world.kr_increase),
            "csrf_token": token,
        },
        headers=HX,
    )
    assert resp.status_code == 204
    target = resp.headers["HX-Redirect"]
    new_id = int(re.search(r"/okr/objective/(\d+)", target).group(1))  # type: ignore[union-attr]
    page = admin.get(target).text
    assert "Objective created" in page and "aspirational" in page and "Make paying effortless" in page  # breadcrumb
    _assert_no_inline(page, "new objective page")
    assert "this objective has 0 key results" in page.lower()
    url = f"/okr/objective/{new_id}/krs"
    ok = admin.post(
        url,
        data={
            "title": "Refund in 1 day",
            "direction": "decrease",
            "baseline": "5",
            "target": "1",
            "unit": "days",
            "csrf_token": token,
        },
        headers=HX,
    )
    assert ok.status_code == 200 and "<html" not in ok.text and "Key result “Refund in 1 day” added." in ok.text
    assert 'data-testid="kr-count">1<' in ok.text
    ms = admin.post(
        url,
        data={"title": "Launch portal", "direction": "milestone", "milestones": "beta\nGA\n", "csrf_token": token},
        headers=HX,
    )
    assert ms.status_code == 200 and "2 milestones" in ms.text
    band = admin.post(
        url,
        data={
            "title": "Errors in band",
            "direction": "band",
            "baseline": "2",
            "band_low": "0.1",
            "band_high": "0.5",
            "csrf_token": token,
        },
        headers=HX,
    )
    assert band.status_code == 200 and 'data-testid="kr-count">3<' in band.text
    for data, field in [
        ({"title": "", "direction": "increase", "baseline": "0", "target": "1"}, "title"),
        ({"title": "T", "direction": "increase", "baseline": "0", "target": "x"}, "target"),
        ({"title": "T", "direction": "increase", "baseline": "5", "target": "1"}, "target"),  # the service refuses
        ({"title": "T", "direction": "milestone", "milestones": ""}, "milestones"),
        ({"title": "T", "direction": "band", "baseline": "1", "band_low": "0.5", "band_high": ""}, "band_high"),
        ({"title": "T", "direction": "sideways", "baseline": "0", "target": "1"}, "direction"),
    ]:
        bad = admin.post(url, data={**data, "csrf_token": token}, headers=HX)
        assert bad.status_code == 422, data
        assert f'id="err-{field}"' in bad.text, (data, bad.text[:500])
        assert "<html" not in bad.text
    assert _count(db, KeyResult) == 6
    with db.read() as s:
        child = s.get(Objective, new_id)
        assert child is not None and child.aligned_to_kr_id == world.kr_increase
    tree = admin.get("/okr").text
    assert "Faster refunds" in tree and "Refund in 1 day" in tree


def test_glossary_search_is_server_side(admin: TestClient, world: World) -> None:
    page = admin.get("/glossary").text
    assert 'hx-get="/glossary"' in page and "Payment success" in page and "Cascading" in page
    frag = admin.get("/glossary?q=cascad", headers={**HX, "HX-Target": "glossary-results"})
    assert frag.status_code == 200 and "<html" not in frag.text
    assert "<mark>Cascad</mark>ing" in frag.text and "Payment success" not in frag.text
    assert "1 of" in frag.text
    empty = admin.get("/glossary?q=zzzz-nothing", headers={**HX, "HX-Target": "glossary-results"})
    assert "Nothing matches" in empty.text
    escaped = admin.get("/glossary?q=<script>", headers={**HX, "HX-Target": "glossary-results"}).text
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped


def test_metric_compare_fragment_and_unknown_pages(admin: TestClient, world: World) -> None:
    frag = admin.get(f"/metrics/{world.metric_key}?a=1&b=2", headers={**HX, "HX-Target": "version-compare"})
    assert frag.status_code == 200 and "<html" not in frag.text
    assert "<del>authorised / attempts</del>" in frag.text and "retries excluded</ins>" in frag.text
    same = admin.get(f"/metrics/{world.metric_key}?a=2&b=2", headers={**HX, "HX-Target": "version-compare"})
    assert "The two versions are the same" in same.text
    for path in ["/metrics/nope", "/okr/kr/99999", "/okr/objective/99999"]:
        resp = admin.get(path)
        assert resp.status_code == 404 and "<html" in resp.text, path


def test_formatting_helpers() -> None:
    assert fmt_num(132258.0, "buyers") == "132,258 buyers"
    assert fmt_num(3.07, "%") == "3.07%"
    assert fmt_num(3.5, "€") == "€3.5"
    assert fmt_num(709.38, "ms") == "709.4 ms"
    assert fmt_num(-0.001) == "0"
    assert fmt_num(None) == "—"
    assert fmt_age(None) == "never" and fmt_age(0.2) == "today" and fmt_age(1.5) == "1 day ago"
    assert fmt_age(3.2) == "3 days ago" and fmt_age(21) == "3 weeks ago" and fmt_age(95) == "3 months ago"
    assert str(highlight("Cart <b>", "cart")) == "<mark>Cart</mark> &lt;b&gt;"


def test_demo_pages_render(demo_copy: Callable[..., str]) -> None:
    """The full demo (SQLite): every page answers, carries no inline code, and its charts have data."""
    db = Database(demo_copy("sqlite", password=ADMIN_PASSWORD))  # as demo.build(db, password=…) leaves it
    client = TestClient(create_app(db))
    assert _login(client, "demo", ADMIN_PASSWORD).status_code == 303
    with db.read() as s:
        kr_ids = s.scalars(select(KeyResult.id)).all()
        obj_ids = s.scalars(select(Objective.id)).all()
    paths = ["/", "/okr", "/okr?period=all", "/metrics", "/glossary", "/metrics/checkout_conversion"]
    paths += [f"/okr/kr/{i}" for i in kr_ids] + [f"/okr/objective/{i}" for i in obj_ids]
    for path in paths:
        resp = client.get(path)
        assert resp.status_code == 200, path
        _assert_no_inline(resp.text, path)
        for raw in re.findall(r"data-chart='([^']+)'", resp.text):
            json.loads(unescape(raw))
    tree = client.get("/okr").text
    assert tree.count('class="okr-node"') == 4  # the company objective and three cascaded team objectives
    assert 'data-testid="count-due">1<' in tree and "3 weeks ago · due" in tree
    catalog_page = client.get("/metrics").text
    # ten KPI rows, nine published flow and four DORA metrics (services/flow_publish.py), the north-star card
    assert catalog_page.count('data-chart-kind="spark"') == 24
    assert 'data-testid="north-star"' in catalog_page and "Weekly active buyers" in catalog_page
    db.dispose()
