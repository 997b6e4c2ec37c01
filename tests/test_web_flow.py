"""The flow and DORA web pages over ASGI on the demo (SQLite, built once for the module): every page renders
the services' numbers, the filters (team with its sub-teams, flow-item type, period, since/until) change them,
HTMX answers with the fragment and a pushed URL, and no page carries inline script or style."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import dora, flow
from okrflow.store.db import Database
from okrflow.store.models import Team, Workspace
from okrflow.store.models_okr import Period
from okrflow.web.okr_routes import fmt_num, fmt_pct
from tests.conftest import ADMIN_PASSWORD
from tests.test_web_ui import HX, _assert_no_inline, _login

RESULTS = {**HX, "HX-Target": "flow-results"}


class Demo:
    def __init__(self, db: Database, client: TestClient) -> None:
        self.db = db
        self.client = client
        with db.read() as s:
            self.ws = s.query(Workspace).one().id
            self.teams = {t.slug: t.id for t in s.query(Team)}
            self.period = s.query(Period).order_by(Period.start_date).first()

    def get(self, path: str, **kw: Any) -> str:
        resp = self.client.get(path, **kw)
        assert resp.status_code == 200, (path, resp.text[-500:])
        _assert_no_inline(resp.text, path)
        for raw in re.findall(r"data-chart='([^']+)'", resp.text):
            json.loads(unescape(raw))
        return resp.text

    def svc(self, fn: Any, *args: Any, **kw: Any) -> Any:
        with self.db.read() as s:
            return fn(s, SYSTEM_ACTOR, self.ws, *args, **kw)


@pytest.fixture(scope="module")
def d(demo_copy: Callable[..., str]) -> Iterator[Demo]:
    db = Database(demo_copy("sqlite", password=ADMIN_PASSWORD))  # as demo.build(db, password=…) leaves it
    client = TestClient(create_app(db))
    assert _login(client, "demo", ADMIN_PASSWORD).status_code == 303
    yield Demo(db, client)
    db.dispose()


def _testid(html: str, name: str) -> str:
    m = re.search(rf'data-testid="{re.escape(name)}">([^<]*)<', html)
    assert m, f"no {name} in the page"
    return unescape(m.group(1)).strip()


def _chart(html: str, kind: str) -> dict[str, Any]:
    m = re.search(rf"data-chart-kind=\"{kind}\" data-chart='([^']+)'", html)
    assert m, f"no {kind} chart"
    return json.loads(unescape(m.group(1)))  # type: ignore[no-any-return]


def test_dashboard_shows_the_report(d: Demo) -> None:
    html = d.get("/flow")
    r = d.svc(flow.report)
    assert _testid(html, "velocity") == str(r.velocity)
    assert _testid(html, "velocity-per-week") == fmt_num(r.velocity_per_week)
    assert _testid(html, "flow-time-p85") == fmt_num(r.flow_time.p85_days, "d")
    assert _testid(html, "flow-time-p50") == fmt_num(r.flow_time.p50_days, "d")
    assert _testid(html, "flow-time-p95") == fmt_num(r.flow_time.p95_days, "d")
    assert _testid(html, "efficiency") == fmt_pct(r.efficiency)
    assert _testid(html, "load-now") == str(r.load_now)
    assert _testid(html, "predictability") == fmt_pct(r.predictability)
    assert html.count('data-chart-kind="spark"') == 6
    assert 'aria-current="page">Flow<' in html
    for row in r.distribution.filter(r.distribution["scope"] == "done").to_dicts():
        assert f'data-flow-type="{row["flow_type"]}"' in html
    spark = _chart(html, "spark")
    assert [p[1] for p in spark["points"]] == r.weekly["items_done"].to_list()


def test_filters_team_type_period_and_dates(d: Demo) -> None:
    whole = d.svc(flow.report)
    eng = d.svc(flow.report, teams=[d.teams["product-eng"]])
    assert eng.velocity == whole.velocity  # a team includes its sub-teams: the parent has every item
    pay_id = d.teams["payments"]
    pay = d.svc(flow.report, teams=[pay_id], flow_types=["defect"])
    html = d.get(f"/flow?team={pay_id}&type=defect")
    assert _testid(html, "velocity") == str(pay.velocity) and pay.velocity < whole.velocity
    assert f'<option value="{pay_id}" selected>' in html and '<option value="defect" selected>' in html
    since, until = date.today() - timedelta(days=40), date.today() - timedelta(days=10)
    ranged = d.svc(flow.report, since=since, until=until)
    html = d.get(f"/flow?since={since}&until={until}")
    assert _testid(html, "velocity") == str(ranged.velocity)
    assert d.period is not None
    per = d.svc(flow.report, period_id=d.period.id)
    assert _testid(d.get(f"/flow?period={d.period.id}"), "velocity") == str(per.velocity)
    # bad input: a message, and the default window
    html = d.get("/flow?since=soon&team=99999&type=chore")
    assert "Since is not a date" in html and "That team does not exist" in html and "Unknown flow-item type" in html
    assert _testid(html, "velocity") == str(whole.velocity)
    html = d.get(f"/flow?since={until}&until={since}")
    assert "Until is before since" in html


def test_htmx_filter_answers_with_fragment_and_pushed_url(d: Demo) -> None:
    pay_id = d.teams["payments"]
    resp = d.client.get(f"/flow?team={pay_id}&type=&period=&since=&until=", headers=RESULTS)
    assert resp.status_code == 200
    assert resp.headers["HX-Push-Url"] == f"/flow?team={pay_id}"
    assert resp.text.lstrip().startswith('<div id="flow-results"') and "<html" not in resp.text
    _assert_no_inline(resp.text, "fragment")
    for path in ("/flow/cfd", "/flow/scatter", "/flow/aging", "/flow/value-stream", "/flow/forecast", "/dora"):
        resp = d.client.get(f"{path}?team={pay_id}", headers=RESULTS)
        assert resp.status_code == 200 and resp.headers["HX-Push-Url"].startswith(f"{path}?")
        assert 'id="flow-results"' in resp.text and "<canvas id" not in resp.text


def test_cfd_scatter_aging(d: Demo) -> None:
    html = d.get("/flow/cfd")
    res = d.svc(flow.cfd)
    chart = _chart(html, "cfd")
    steps = res.frame.filter(res.frame["step_order"] >= 0)
    assert {s["step"] for s in chart["series"]} == set(steps["step"].to_list())
    dev = next(s for s in chart["series"] if s["step"] == "testing")
    assert [p[1] for p in dev["points"]] == steps.filter(steps["step"] == "testing").sort("date")["items"].to_list()

    html = d.get("/flow/scatter")
    sc = d.svc(flow.scatter)
    chart = _chart(html, "scatter")
    assert len(chart["points"]) == sc.points.height == int(_testid(html, "scatter-count"))
    for p in (50, 85, 95):
        assert chart["percentiles"][str(p)] == pytest.approx(sc.percentiles[p])
        assert _testid(html, f"scatter-p{p}") == fmt_num(sc.percentiles[p], "d")

    html = d.get("/flow/aging")
    ag = d.svc(flow.aging)
    chart = _chart(html, "aging")
    assert len(chart["points"]) == ag.items.height
    counts = {str(r["bucket"]): r["items"] for r in ag.by_age.to_dicts()}
    for i, b in enumerate(("0-30", "30-60", "60-90", ">90"), start=1):
        assert _testid(html, f"bucket-{i}") == str(counts.get(b, 0))
    assert ag.waste > 0 and _testid(html, "waste-count") == str(ag.waste)
    assert 'class="stat card age-4 stat-danger is-waste"' in html  # the > 90 days waste highlighted


def test_value_stream_bottleneck_and_comparison(d: Demo) -> None:
    html = d.get("/flow/value-stream")
    vsm = d.svc(flow.value_stream).map
    assert vsm.bottleneck == "testing"
    box = re.search(r'<li class="vsm-box is-bottleneck" data-step="([a-z]+)"', html)
    assert box and box.group(1) == "testing" and html.count("is-bottleneck") == 1
    assert "Bottleneck: testing." in html
    row = next(r for r in vsm.steps.to_dicts() if r["step"] == "testing")
    assert _testid(html, "median-testing").startswith(fmt_num(row["median_days"], "d"))
    assert _testid(html, "now-testing").startswith(str(row["items_now"]))
    ctx = d.svc(flow.value_stream).context
    b = (ctx.since - timedelta(days=90), ctx.since - timedelta(days=1))
    html = d.get(f"/flow/value-stream?b_since={b[0]}&b_until={b[1]}")
    cmp = d.svc(flow.compare_periods, (ctx.since, ctx.until), b).comparison
    assert 'data-testid="vsm-compare"' in html
    delta = next(r for r in cmp.steps.to_dicts() if r["step"] == "testing")["median_days_delta"]
    sign = "+" if delta > 0 else ""
    assert f'data-delta="median_days">{sign}{fmt_num(delta, "d")}<' in html
    assert "Give both dates" in d.get(f"/flow/value-stream?b_since={b[0]}")


def test_forecast_when_and_how_many(d: Demo) -> None:
    html = d.get("/flow/forecast?items=25&seed=11&window=60")
    res = d.svc(flow.forecast_when, 25, seed=11, window_days=60)
    chart = _chart(html, "histogram")
    assert chart["bars"] == [
        [v, t] for v, t in zip(res.forecast.histogram["value"], res.forecast.histogram["trials"], strict=True)
    ]
    assert chart["markers"] == {str(k): v for k, v in res.forecast.answers.items()}
    assert _testid(html, "forecast-p85") == res.forecast.dates[85].strftime("%-d %b %Y")
    by = datetime.now(UTC).date() + timedelta(days=21)
    html = d.get(f"/flow/forecast?mode=how_many&by={by}&seed=5")
    res = d.svc(flow.forecast_how_many, by, seed=5)
    assert _testid(html, "forecast-p50") == str(res.forecast.answers[50])
    assert _chart(html, "histogram")["kind"] == "how_many"
    html = d.get("/flow/forecast?items=0")
    assert "Forecast 1 to 10,000 items" in html and 'data-chart-kind="histogram"' not in html
    html = d.get(f"/flow/forecast?mode=how_many&by={date.today() - timedelta(days=3)}")
    assert "in the past" in html


def test_dora_tiles(d: Demo) -> None:
    html = d.get("/dora")
    rep = d.svc(dora.report)
    assert html.count('class="card dora-service"') == rep.services.height
    levels = set()
    for row in rep.services.to_dicts():
        svc = row["service"]
        assert _testid(html, f"{svc}-deployment_frequency") == fmt_num(row["deployments_per_week"], "/ week")
        assert _testid(html, f"{svc}-lead_time") == fmt_num(row["median_lead_time_hours"], "h")
        cfr = row["change_failure_rate"]
        assert _testid(html, f"{svc}-change_failure_rate") == fmt_num(None if cfr is None else cfr * 100, "%")
        levels |= {row[c] for c in ("deployment_frequency_level", "lead_time_level", "change_failure_rate_level")}
    assert len(levels - {None}) >= 2  # levels differ by service in the demo
    for lv in levels - {None}:
        assert f'class="badge badge-level badge-level-{lv}"' in html
    assert html.count('data-chart-kind="spark"') == 4 * rep.services.height
    pay = d.teams["payments"]
    team_rep = d.svc(dora.report, team_id=pay)
    html = d.get(f"/dora?team={pay}")
    assert html.count('class="card dora-service"') == team_rep.services.height < rep.services.height


def test_nav_and_login_required(d: Demo) -> None:
    assert '<a href="/flow"' in d.get("/")
    anon = TestClient(create_app(d.db))
    resp = anon.get("/flow/aging", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login?next=")
