"""The work, traceability, flow and DORA endpoints on a hand-checked small world (tests/api_world.py
``work=True``), on SQLite and PostgreSQL: numbers, CSV shapes, secrets never returned, uploads all-or-nothing,
and no 500 on malformed parameters."""

from __future__ import annotations

import csv
import io

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from okrflow.services import sources
from okrflow.store.models_work import WorkItem
from tests.api_world import API, build_world
from tests.jira_fake import FakeJira

SECRET = "s3cr3t-API-token-do-not-show"
OCT = "since=2026-10-01&until=2026-10-31"


@pytest.fixture
def world(db):
    with build_world(db, work=True) as w:
        yield w


def get(world, path: str, role: str = "admin", **kw):
    return world.client.get(API + path, headers=world.headers(role, **kw.pop("headers", {})), **kw)


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_credentials_are_write_only(world, monkeypatch):
    monkeypatch.setenv(sources.SECRET_ENV, Fernet.generate_key().decode())
    c, h = world.client, world.headers("admin")
    with FakeJira(issues=[], statuses=[]) as fake:
        body = {
            "name": "jira-x",
            "kind": "jira",
            "base_url": fake.base_url,
            "settings": {"jql": "project = X"},
            "credentials": {"email": "bot@acme.test", "api_token": SECRET},
        }
        r = c.post(f"{API}/workspaces/{world.ws_a}/sources", json=body, headers=h)
        assert r.status_code == 201, r.text
        src = r.json()
        assert src["has_credentials"] is True and "credentials" not in src
        responses = [r]
        responses.append(c.get(f"{API}/sources/{src['id']}", headers=h))
        responses.append(c.get(f"{API}/workspaces/{world.ws_a}/sources", headers=h))
        etag = responses[-2].headers["etag"]
        responses.append(
            c.patch(
                f"{API}/sources/{src['id']}",
                json={"credentials": {"token": SECRET + "2"}},
                headers={**h, "If-Match": etag},
            )
        )
        assert responses[-1].status_code == 200 and responses[-1].json()["has_credentials"] is True
        stale = c.patch(f"{API}/sources/{src['id']}", json={"base_url": fake.base_url}, headers={**h, "If-Match": etag})
        assert stale.status_code == 412
        sync = c.post(f"{API}/sources/{src['id']}/sync?full=true", headers=h)
        assert sync.status_code == 200, sync.text
        assert sync.json()["runs"][0]["status"] == "succeeded" and sync.json()["kind"] == "jira"
        # the flow/DORA catalog metrics were published after the sync, so bound key results stay current
        published = sync.json()["published"]
        assert "flow.time.p85" in published["defined"] and published["last_day"] is not None
        metric_keys = {m["key"] for m in c.get(f"{API}/workspaces/{world.ws_a}/metrics", headers=h).json()}
        assert "flow.time.p85" in metric_keys
        responses += [sync, c.get(f"{API}/sources/{src['id']}/runs", headers=h)]
        quiet = c.post(f"{API}/sources/{src['id']}/sync?publish=false", headers=h)
        assert quiet.status_code == 200 and quiet.json()["published"] is None
        assert SECRET not in c.get(f"{API}/openapi.json").text
    for resp in responses:
        assert SECRET not in resp.text and "api_token" not in resp.text, resp.text
    runs = responses[-1].json()
    assert len(runs) == 1 and runs[0]["id"] == sync.json()["runs"][0]["id"]


def test_sources_mapping_and_runs(world):
    src = world.work["source_a"]
    r = get(world, f"/sources/{src}/mapping")
    assert r.status_code == 200
    m = r.json()
    assert m["types"]["story"]["level"] == "story" and m["statuses"]["in progress"]["step"] == "development"
    assert m["unmapped_types"] == [] and m["complete"] is True
    runs = get(world, f"/sources/{src}/runs").json()
    assert {r["status"] for r in runs} == {"succeeded"} and runs[-1]["created"] == 18
    assert get(world, f"/runs/{runs[-1]['id']}").json()["source_id"] == src
    assert get(world, "/runs/999999").status_code == 404
    assert get(world, f"/runs/{runs[-1]['id']}", "outsider").status_code == 404


def count_items(db) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(WorkItem))


def test_upload_bad_line_is_422_and_writes_nothing(world):
    before = count_items(world.db)
    good = "external_id,key,title,type,status,created\nU-1,UP-1,Fine,Story,To Do,2026-10-01\n"
    bad = good + "U-2,UP-2,Broken,Story,To Do,not-a-date\n"
    url = f"{API}/sources/{world.work['source_a']}/import"
    r = world.client.post(url, files=[("files", ("work.csv", bad, "text/csv"))], headers=world.headers("admin"))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["errors"] and problem["errors"][0]["file"] == "work.csv" and problem["errors"][0]["line"] == 3
    assert "okrflow-upload" not in r.text and count_items(world.db) == before
    ok = world.client.post(url, files=[("files", ("work.csv", good, "text/csv"))], headers=world.headers("admin"))
    assert ok.status_code == 200, ok.text
    assert ok.json()[0]["created"] == 1 and count_items(world.db) == before + 1
    not_csv = world.client.post(
        url, files=[("files", ("x.exe", b"MZ", "application/octet-stream"))], headers=world.headers("admin")
    )
    assert not_csv.status_code == 422


def test_work_items_list_and_detail_with_inherited_link(world):
    r = get(world, f"/workspaces/{world.ws_a}/work-items?level=story&q=PAY-&per_page=2")
    assert r.status_code == 200 and r.headers["x-total-count"] == "17" and len(r.json()) == 2
    assert get(world, f"/workspaces/{world.ws_a}/work-items?level=story&per_page=2&page=99").json() == []
    unaligned = get(world, f"/workspaces/{world.ws_a}/work-items?unaligned=true&level=story&q=PAY-3").json()
    assert [i["key"] for i in unaligned] == ["PAY-3"]
    d = get(world, f"/work-items/{world.work['item_story']}").json()
    assert d["key"] == "PAY-2" and d["step"] == "done" and d["team"] == "Alpha"
    assert [a["key"] for a in d["ancestors"]] == ["PAY-1"]
    assert [(h["from_status"], h["to_status"], h["to_step"]) for h in d["history"]] == [
        ("To Do", "In Progress", "development"),
        ("In Progress", "Done", "done"),
    ]
    assert d["timing"]["flow_days"] == pytest.approx(4.0)
    [served] = d["serves"]
    assert served["key_result_id"] == world.okr["kr_alpha"] and served["via"]["key"] == "PAY-1"
    epic = get(world, f"/work-items/{world.work['item_epic']}").json()
    assert epic["serves"][0]["via"] is None and epic["serves"][0]["origin"] == "manual"
    assert [c["key"] for c in epic["children"]] == ["PAY-2"]


def test_link_unlink_and_matrix_csv(world):
    c, h = world.client, world.headers("admin")
    item, kr = world.work["item_free"], world.okr["kr_beta"]
    r = c.post(f"{API}/work-items/{item}/links", json={"key_result_id": kr}, headers=h)
    assert r.status_code == 201 and r.json()["origin"] == "manual"
    assert c.post(f"{API}/work-items/{item}/links", json={"key_result_id": kr}, headers=h).status_code == 409
    m = get(world, f"/workspaces/{world.ws_a}/traceability-matrix?format=csv")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/csv")
    rows = read_csv(m.text)
    assert list(rows[0]) == [
        "objective_id",
        "objective",
        "key_result_id",
        "key_result",
        "metric_key",
        "item_id",
        "item_key",
        "item_title",
        "item_level",
        "item_status",
        "via",
    ]
    assert {
        (r["item_key"], r["via"]) for r in rows if r["key_result"] == "KR alpha" and r["item_key"] in ("PAY-1", "PAY-2")
    } == {("PAY-1", ""), ("PAY-2", "PAY-1")}
    assert any(r["item_key"] == "PAY-3" and r["key_result"] == "KR beta" for r in rows)
    same = get(world, f"/workspaces/{world.ws_a}/traceability-matrix", headers={"Accept": "text/csv"})
    assert same.text == m.text
    assert c.delete(f"{API}/work-items/{item}/links/{kr}", headers=h).status_code == 204
    assert c.delete(f"{API}/work-items/{item}/links/{kr}", headers=h).status_code == 404


def test_unaligned_shares(world):
    # Q4 2026 holds October: PAY-2 (linked via the epic) and PAY-3 / PAY-4 (unaligned) were in progress.
    year = get(world, f"/workspaces/{world.ws_a}/periods").json()
    q4 = next(p["id"] for p in year if p["name"].endswith("Q4"))
    rows = get(world, f"/workspaces/{world.ws_a}/unaligned-work?period_id={q4}").json()
    [alpha] = rows
    assert alpha["team"] == "Alpha" and (alpha["items"], alpha["unaligned_items"]) == (3, 2)
    assert alpha["share_by_count"] == pytest.approx(2 / 3)
    assert 0 < alpha["share_by_flow_time"] < 1
    text = get(world, f"/workspaces/{world.ws_a}/unaligned-work?period_id={q4}&format=csv").text
    assert read_csv(text)[0]["unaligned_items"] == "2"


def test_flow_numbers_on_a_hand_checked_dataset(world):
    ws = world.ws_a
    r = get(world, f"/workspaces/{ws}/flow/report?{OCT}")
    assert r.status_code == 200, r.text
    rep = r.json()
    # Done in October: PAY-2 (4 days of flow) and PAY-3 (10 days): p50 = 7 (linear), mean 7.
    assert rep["velocity"] == 2
    assert rep["flow_time"]["p50_days"] == pytest.approx(7.0) and rep["flow_time"]["mean_days"] == pytest.approx(7.0)
    assert rep["window"]["since"] == "2026-10-01" and rep["window"]["level"] == "story"
    assert rep["load_now"] == 1  # PAY-4
    tp = get(world, f"/workspaces/{ws}/flow/throughput?{OCT}").json()
    assert tp["total"] == 2
    done_days = {d["date"]: d["items_done"] for d in tp["daily"] if d["items_done"]}
    assert done_days == {"2026-10-06": 1, "2026-10-13": 1}
    sc = get(world, f"/workspaces/{ws}/flow/scatter?{OCT}").json()
    assert sorted((p["key"], p["flow_days"]) for p in sc["points"]) == [("PAY-2", 4.0), ("PAY-3", 10.0)]
    aging = get(world, f"/workspaces/{ws}/flow/aging?{OCT}").json()
    assert [i["key"] for i in aging["items"]] == ["PAY-4"]
    vsm = get(world, f"/workspaces/{ws}/flow/value-stream?{OCT}").json()
    assert "development" in {s["step"] for s in vsm["steps"]}
    cmp_ = get(world, f"/workspaces/{ws}/flow/value-stream?{OCT}&compare_since=2026-09-01&compare_until=2026-09-30")
    assert cmp_.status_code == 200 and cmp_.json()["a"]["window"]["since"] == "2026-09-01"
    fc = get(world, f"/workspaces/{ws}/flow/forecast?items=2&seed=7&since=2026-10-01&until=2026-10-20").json()
    assert fc["kind"] == "when" and fc["history_items"] == 2 and fc["answers"]["p85"] >= fc["answers"]["p50"] >= 1
    by = get(world, f"/workspaces/{ws}/flow/forecast?by=2027-01-31&seed=7&since=2026-10-01&until=2026-10-20").json()
    assert by["kind"] == "how_many" and by["answers"]["p50"] >= by["answers"]["p85"]
    # CSV shapes
    cfd = get(world, f"/workspaces/{ws}/flow/cfd?{OCT}&format=csv")
    assert cfd.headers["content-type"].startswith("text/csv")
    rows = read_csv(cfd.text)
    assert {"date", "step", "items", "cumulative"} <= set(rows[0]) and len({r["date"] for r in rows}) == 31
    weekly = read_csv(get(world, f"/workspaces/{ws}/flow/report?{OCT}", headers={"Accept": "text/csv"}).text)
    assert sum(int(w["items_done"]) for w in weekly) == 2 and weekly[0]["week_start"] == "2026-09-28"
    tcsv = read_csv(get(world, f"/workspaces/{ws}/flow/throughput?{OCT}&format=csv&series=weekly").text)
    assert sum(int(w["items_done"]) for w in tcsv) == 2
    hist = read_csv(get(world, f"/workspaces/{ws}/flow/forecast?items=2&seed=7&{OCT}&format=csv").text)
    assert set(hist[0]) == {"value", "trials", "share"}
    assert get(world, f"/workspaces/{ws}/flow/aging?format=csv&series=nope").status_code == 422


def test_dora_levels_on_a_small_dataset(world):
    r = get(world, f"/workspaces/{world.ws_a}/dora?since=2026-10-05&until=2026-10-11")
    assert r.status_code == 200, r.text
    [svc] = r.json()["services"]
    # 3 deployment days in one week → high; lead time 10 h → elite; 1 of 3 deployments failed → low;
    # recovery 3 h after the deployment → high.
    assert svc["service"] == "checkout" and svc["deployments"] == 3
    assert (svc["median_days_per_week"], svc["deployment_frequency_level"]) == (3.0, "high")
    assert (svc["median_lead_time_hours"], svc["lead_time_level"]) == (pytest.approx(10.0), "elite")
    assert (svc["change_failure_rate"], svc["change_failure_rate_level"]) == (pytest.approx(1 / 3), "low")
    assert (svc["median_recovery_time_hours"], svc["recovery_time_level"]) == (pytest.approx(3.0), "high")
    assert [w["week_start"] for w in r.json()["weekly"]] == ["2026-10-05"]
    beta = get(world, f"/workspaces/{world.ws_a}/dora?since=2026-10-05&until=2026-10-11&team_id={world.team_beta}")
    assert beta.json()["services"] == []
    alpha = get(world, f"/workspaces/{world.ws_a}/dora?since=2026-10-05&until=2026-10-11&team_id={world.team_alpha}")
    assert len(alpha.json()["services"]) == 1
    rows = read_csv(
        get(world, f"/workspaces/{world.ws_a}/dora?since=2026-10-01&until=2026-10-31&format=csv&series=weekly").text
    )
    assert len(rows) == 5 and {r["service"] for r in rows} == {"checkout"}
    assert "deployment_frequency_level" in rows[0]


@pytest.mark.parametrize(
    "query",
    [
        "flow/report?since=2026-13-01",
        "flow/report?since=yesterday",
        "flow/report?since=2026-10-10&until=2026-10-01",
        "flow/report?since=0001-01-01",
        "flow/report?since=1970-01-01&until=2200-12-31",
        "flow/report?tz=Mars/Olympus",
        "flow/report?team_id=-1",
        "flow/report?team_id=99999",
        "flow/report?flow_type=bugs",
        "flow/cfd?until=9999-12-31",
        "flow/throughput?period_id=2147483648",
        "flow/forecast?items=-5",
        "flow/forecast?items=0",
        "flow/forecast",
        "flow/forecast?items=3&by=2027-01-01",
        "flow/forecast?by=2199-01-01",
        "flow/forecast?by=2020-01-01",
        "flow/forecast?items=3&window_days=100000",
        "flow/forecast?items=3&window_days=0",
        "flow/forecast?items=3&seed=-1",
        "flow/value-stream?compare_since=2026-01-01",
        "flow/value-stream?compare_since=2026-02-01&compare_until=2026-01-01",
        "dora?since=1970-01-01",
        "dora?since=2026-10-10&until=2026-10-01",
        "dora?team_id=99999",
        "dora?tz=nowhere",
        "work-items?per_page=100000",
        "work-items?page=0",
        "work-items?level=galaxy",
        "unaligned-work",
        "unaligned-work?period_id=99999",
        "traceability-matrix?format=xml",
    ],
)
def test_malformed_parameters_are_problems_not_500(world, query):
    r = get(world, f"/workspaces/{world.ws_a}/{query}")
    assert 400 <= r.status_code < 500, (query, r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"


def test_no_write_input_makes_a_500(world, monkeypatch):
    import json

    from tests.test_api_problems import NASTY_BODIES

    monkeypatch.setenv(sources.SECRET_ENV, Fernet.generate_key().decode())
    c = world.client
    h = {**world.headers("superuser"), "Content-Type": "application/json"}
    src, item = world.work["source_a"], world.work["item_free"]
    extra: list[object] = [
        {"name": "x", "kind": "files", "team_id": world.team_b},
        {"name": "y", "kind": "files", "team_id": 424242},
        {"name": "z", "kind": "jira", "credentials": {"token": ""}},
        {"name": "w", "kind": "jira", "credentials": {"token": "x" * 5000}},
        {"name": "v", "kind": "jira", "mapping": {"types": {"Spike": {"level": "galaxy"}}}},
        {"team_id": 424242},
        {"key_result_id": 424242},
        {"key_result_id": 10**30},
    ]
    for method, path in (
        ("POST", f"/workspaces/{world.ws_a}/sources"),
        ("PATCH", f"/sources/{src}"),
        ("POST", f"/work-items/{item}/links"),
    ):
        for body in [*NASTY_BODIES, *extra]:
            r = c.request(method, API + path, headers=h, content=json.dumps(body).encode())
            assert 400 <= r.status_code < 500, (method, path, body, r.status_code, r.text[:300])
            assert r.headers["content-type"] == "application/problem+json"
    url = f"{API}/sources/{src}/import"
    hdr = world.headers("superuser")
    for kwargs in (
        {"content": b"--x\r\nbroken", "headers": {**hdr, "Content-Type": "multipart/form-data; boundary=x"}},
        {"files": [("files", ("w.csv", b"\xff\xfe", "text/csv"))], "headers": hdr},
        {"files": [("files", ("w.json", b"{not json", "application/json"))], "headers": hdr},
        {"files": [("files", ("w.csv", b"", "text/csv"))], "headers": hdr},
        {"data": {"files": "text, not a file"}, "headers": hdr},
    ):
        r = c.post(url, **kwargs)
        assert r.status_code == 422, (kwargs, r.status_code, r.text[:300])
