"""The OKR endpoints end to end: a period, an objective with three key results, check-ins that move progress,
status and forecast, the burn-up chart, cascading (cycles and cross-period alignment refused), the tree, and
bad input that is always a 4xx naming the field."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.api_world import API, World, build_world

TODAY = datetime.now(UTC).date()


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _problem(r: Any, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in r.text
    return r.json()


def _period(w: World, name: str, start: date, end: date) -> int:
    body = {"name": name, "kind": "custom", "start_date": start.isoformat(), "end_date": end.isoformat()}
    r = w.client.post(f"{API}/workspaces/{w.ws_a}/periods", headers=w.headers("admin"), json=body)
    return _ok(r, 201)["id"]


def _at(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()


def test_objective_key_results_checkins_progress_forecast_and_chart(db) -> None:
    with build_world(db) as w:
        c, pm = w.client, w.headers("contributor_team")
        period = _period(w, "Now", TODAY - timedelta(days=30), TODAY + timedelta(days=59))
        r = c.post(
            f"{API}/workspaces/{w.ws_a}/objectives",
            headers=pm,
            json={
                "period_id": period,
                "title": " Faster checkout ",
                "team_id": w.team_alpha,
                "owner_person_id": w.person_alpha,
            },
        )
        obj = _ok(r, 201)
        assert r.headers["location"] == f"{API}/objectives/{obj['id']}" and r.headers["etag"] == '"1"'
        assert obj["title"] == "Faster checkout" and obj["commitment"] == "committed"
        krs = []
        for body in (
            {"title": "Conversion", "direction": "increase", "baseline": 0, "target": 100, "unit": "%"},
            {"title": "p95 latency", "direction": "decrease", "baseline": 50, "target": 10, "weight": 2},
            {"title": "Launch", "direction": "milestone", "milestones": ["beta", "GA"], "kind": "output"},
        ):
            r = c.post(f"{API}/objectives/{obj['id']}/key-results", headers=pm, json=body)
            krs.append(_ok(r, 201))
            assert r.headers["location"] == f"{API}/key-results/{krs[-1]['id']}"
        assert krs[2]["target"] == 2.0 and krs[2]["baseline"] == 0.0
        kr_url = f"{API}/key-results/{krs[0]['id']}"

        before = _ok(c.get(kr_url, headers=pm))["state"]
        assert before["progress"] == {"raw": None, "display": 0.0}
        assert before["status"] is None and before["last_checkin"] is None and before["history"] == []
        assert before["forecast"]["method"] == "expected_line" and before["forecast"]["points"] == 0

        first = c.post(
            f"{kr_url}/checkins", headers=pm, json={"value": 10, "confidence": 8, "note": "ok", "at": _at(20)}
        )
        checkin = _ok(first, 201)
        assert first.headers["location"] == f"{API}/checkins/{checkin['id']}" and first.headers["etag"] == '"1"'
        assert checkin["status"] == "on_track" and checkin["author"] == "user:contributor-team"
        one = _ok(c.get(kr_url, headers=pm))["state"]
        assert one["progress"]["raw"] == pytest.approx(0.1) and one["status"] == "on_track"
        assert one["last_checkin"]["note"] == "ok" and one["days_since_checkin"] == pytest.approx(20, abs=0.01)

        _ok(c.post(f"{kr_url}/checkins", headers=pm, json={"value": 30, "confidence": 3, "at": _at(5)}), 201)
        two = _ok(c.get(kr_url, headers=pm))
        state = two["state"]
        assert state["progress"] == {"raw": pytest.approx(0.3), "display": pytest.approx(0.3)}
        assert state["status"] == "off_track" and state["confidence"] == 3
        assert [p["value"] for p in state["history"]] == [10, 30]
        assert state["forecast"]["method"] == "expected_line" and state["forecast"]["points"] == 2
        sched = state["schedule"]
        assert sched["expected_progress"] == pytest.approx(30 / 90, abs=0.02)
        assert sched["gap"] == pytest.approx(sched["actual_progress"] - sched["expected_progress"])
        assert state["forecast"] != before["forecast"]

        # A third point switches to the trend fit, with an uncertainty band.
        _ok(c.post(f"{kr_url}/checkins", headers=pm, json={"value": 35, "confidence": 5, "at": _at(1)}), 201)
        fc = _ok(c.get(kr_url, headers=pm))["state"]["forecast"]
        assert fc["method"] == "trend" and fc["points"] == 3 and fc["low"] < fc["value_at_end"] < fc["high"]
        assert (
            fc["slope_per_day"] > 0
            and 0 <= fc["probability_on_target"] <= 1
            and fc["at_risk"] is (fc["progress_at_end"] < 1)
        )

        chart = _ok(c.get(f"{kr_url}/chart", headers=pm))
        _check_chart(chart, period_id=period)

        detail = _ok(c.get(f"{API}/objectives/{obj['id']}", headers=pm))
        assert [k["title"] for k in detail["key_results"]] == ["Conversion", "p95 latency", "Launch"]
        st = detail["state"]
        assert st["warning"] is None and st["team"] == {"id": w.team_alpha, "name": "Alpha"}
        assert st["owner"] == {"id": w.person_alpha, "name": "Ada"} and st["period"]["id"] == period
        # (0.35 · 1 + 0 · 2 + 0 · 1) / 4
        assert st["progress"]["raw"] == pytest.approx(0.35 / 4)
        assert st["grade"] == {"grade": 0.1, "band": "red", "expected": 1.0, "success": False}
        assert detail["ancestors"] == []

        # Checkins listed oldest first; one due after 0 days (the latency KR was never checked in).
        listed = _ok(c.get(f"{kr_url}/checkins", headers=pm))
        assert [x["value"] for x in listed] == [10, 30, 35]
        due = _ok(c.get(f"{API}/workspaces/{w.ws_a}/checkins-due", headers=pm, params={"days": 2}))
        assert {d["key_result_title"] for d in due} == {"p95 latency", "Launch"}
        assert all(d["days_since"] is None for d in due)


def _check_chart(chart: dict[str, Any], period_id: int) -> None:
    series = {s["key"]: s for s in chart["series"]}
    assert set(series) == {"actual", "target", "expected", "forecast"}
    assert chart["period"]["id"] == period_id
    start, end = datetime.fromisoformat(chart["start"]), datetime.fromisoformat(chart["end"])
    assert start.tzinfo is not None and end - start == timedelta(days=90)
    for s in chart["series"]:
        assert s["label"] and s["kind"] in ("points", "line", "cone")
        for p in s["points"]:
            assert datetime.fromisoformat(p["t"]).tzinfo is not None
            assert isinstance(p["y"], float | int)
    assert [p["y"] for p in series["actual"]["points"]] == [10, 30, 35]
    assert [p["y"] for p in series["target"]["points"]] == [100, 100]
    expected = series["expected"]["points"]
    assert [p["y"] for p in expected] == [0, 100] and [p["t"] for p in expected] == [chart["start"], chart["end"]]
    cone = series["forecast"]["points"]
    assert len(cone) == 2 and cone[0]["t"] == series["actual"]["points"][-1]["t"] and cone[0]["y"] == 35
    assert cone[0]["low"] == cone[0]["high"] == 35
    assert cone[1]["t"] == chart["end"] and cone[1]["low"] < cone[1]["y"] < cone[1]["high"]
    assert cone[1]["y"] == pytest.approx(chart["forecast"]["value_at_end"])
    assert [x["value"] for x in chart["checkins"]] == [10, 30, 35]


def test_band_key_result_chart_has_band_lines(db) -> None:
    with build_world(db) as w:
        c, h = w.client, w.headers("admin")
        period = _period(w, "Now", TODAY - timedelta(days=10), TODAY + timedelta(days=10))
        obj = _ok(
            c.post(f"{API}/workspaces/{w.ws_a}/objectives", headers=h, json={"period_id": period, "title": "O"}), 201
        )
        body = {"title": "Error rate", "direction": "band", "baseline": 2.5, "band_low": 0.5, "band_high": 1.0}
        kr = _ok(c.post(f"{API}/objectives/{obj['id']}/key-results", headers=h, json=body), 201)
        _ok(c.post(f"{API}/key-results/{kr['id']}/checkins", headers=h, json={"value": 1.75, "confidence": 5}), 201)
        chart = _ok(c.get(f"{API}/key-results/{kr['id']}/chart", headers=h))
        keys = [s["key"] for s in chart["series"]]
        assert keys == ["actual", "band_low", "band_high", "expected", "forecast"]
        assert [p["y"] for p in chart["series"][1]["points"]] == [0.5, 0.5]
        assert _ok(c.get(f"{API}/key-results/{kr['id']}", headers=h))["state"]["progress"]["raw"] == pytest.approx(0.5)


def test_cascading_tree_cycle_and_cross_period(db) -> None:
    with build_world(db) as w:
        c, h = w.client, w.headers("admin")
        year = _ok(c.post(f"{API}/workspaces/{w.ws_a}/periods/year", headers=h, json={"year": 2026}), 201)
        assert [p["name"] for p in year] == ["2026", "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
        annual, q1, q2 = year[0]["id"], year[1]["id"], year[2]["id"]
        assert year[1]["parent_id"] == annual
        # again: nothing new, the same periods
        assert [
            p["id"] for p in _ok(c.post(f"{API}/workspaces/{w.ws_a}/periods/year", headers=h, json={"year": 2026}), 201)
        ] == [p["id"] for p in year]

        company = _ok(
            c.post(f"{API}/workspaces/{w.ws_a}/objectives", headers=h, json={"period_id": annual, "title": "Company"}),
            201,
        )
        parent_kr = _ok(
            c.post(
                f"{API}/objectives/{company['id']}/key-results",
                headers=h,
                json={"title": "Revenue", "direction": "increase", "baseline": 10, "target": 20},
            ),
            201,
        )
        team_obj = _ok(
            c.post(
                f"{API}/workspaces/{w.ws_a}/objectives",
                headers=h,
                json={"period_id": q1, "title": "Team", "team_id": w.team_alpha, "aligned_to_kr_id": parent_kr["id"]},
            ),
            201,
        )
        team_kr = _ok(
            c.post(
                f"{API}/objectives/{team_obj['id']}/key-results",
                headers=h,
                json={"title": "Win", "direction": "increase", "target": 4},
            ),
            201,
        )
        _ok(
            c.post(
                f"{API}/key-results/{team_kr['id']}/checkins",
                headers=h,
                json={"value": 4, "confidence": 9, "at": "2026-02-01T00:00:00Z"},
            ),
            201,
        )

        # The cycle: the company objective aligned to the team objective's key result.
        url = f"{API}/objectives/{company['id']}"
        etag = c.get(url, headers=h).headers["etag"]
        p = _problem(c.patch(url, headers={**h, "If-Match": etag}, json={"aligned_to_kr_id": team_kr["id"]}))
        assert "cycle" in p["detail"] and p["errors"][0]["field"] == "aligned_to_kr_id"
        assert "'Company'" in p["detail"] and "'Team'" in p["detail"]
        assert c.get(url, headers=h).headers["etag"] == etag  # nothing changed

        # Across periods: a Q2 objective cannot align to a Q1 key result.
        p = _problem(
            c.post(
                f"{API}/workspaces/{w.ws_a}/objectives",
                headers=h,
                json={"period_id": q2, "title": "Later", "aligned_to_kr_id": team_kr["id"]},
            )
        )
        assert p["errors"][0]["field"] == "aligned_to_kr_id" and "same period" in p["detail"]
        later = _period(w, "2027 custom", date(2027, 1, 1), date(2027, 3, 31))
        p = _problem(c.patch(f"{API}/objectives/{team_obj['id']}", headers=h, json={"period_id": later}))
        assert p["errors"][0]["field"] == "aligned_to_kr_id"  # moving it out of the parent's year breaks the link

        detail = _ok(c.get(url, headers=h))
        assert detail["key_results"][0]["state"]["aligned_objective_ids"] == [team_obj["id"]]
        child = _ok(c.get(f"{API}/objectives/{team_obj['id']}", headers=h))
        assert child["ancestors"] == [
            {
                "key_result_id": parent_kr["id"],
                "key_result_title": "Revenue",
                "objective_id": company["id"],
                "objective_title": "Company",
            }
        ]
        # the parent's progress rolls up the child's (1.0) with its own KR (no value yet = 0)
        assert detail["state"]["progress"]["raw"] == pytest.approx(0.5)

        tree = _ok(c.get(f"{API}/workspaces/{w.ws_a}/okr-tree", headers=h))
        assert [o["title"] for o in tree] == ["Company"]
        (kr_node,) = tree[0]["key_results"]
        assert [o["title"] for o in kr_node["aligned_objectives"]] == ["Team"]
        assert kr_node["aligned_objectives"][0]["key_results"][0]["state"]["progress"]["raw"] == 1.0
        assert tree[0]["state"]["progress"]["raw"] == pytest.approx(0.5)
        # filtered to Q1 the team objective is a root
        q1_tree = _ok(c.get(f"{API}/workspaces/{w.ws_a}/okr-tree", headers=h, params={"period_id": q1}))
        assert [o["title"] for o in q1_tree] == ["Team"]
        by_team = _ok(c.get(f"{API}/workspaces/{w.ws_a}/objectives", headers=h, params={"team_id": w.team_alpha}))
        assert [o["title"] for o in by_team] == ["Team"]

        # A key result with an aligned objective cannot go; nor can its objective.
        assert _problem(c.delete(f"{API}/key-results/{parent_kr['id']}", headers=h), 409)["detail"]
        assert _problem(c.delete(url, headers=h), 409)["detail"]
        # Unaligning, then deleting works.
        _ok(c.patch(f"{API}/objectives/{team_obj['id']}", headers=h, json={"aligned_to_kr_id": None}))
        assert c.delete(f"{API}/key-results/{parent_kr['id']}", headers=h).status_code == 204
        assert c.delete(url, headers=h).status_code == 204
        assert _problem(c.get(url, headers=h), 404)["detail"] == f"objective {company['id']} does not exist"


def test_bad_objective_and_key_result_input_is_422_naming_the_field(db) -> None:
    with build_world(db, okr=True) as w:
        c, h = w.client, w.headers("admin")
        q1 = w.okr["period_q1"]
        objectives, krs = f"{API}/workspaces/{w.ws_a}/objectives", f"{API}/objectives/{w.okr['obj_ws']}/key-results"
        cases: list[tuple[str, dict[str, Any], str]] = [
            (objectives, {"period_id": 424242, "title": "x"}, "period_id"),
            (objectives, {"period_id": q1, "title": "x", "team_id": w.team_b}, "team_id"),
            (objectives, {"period_id": q1, "title": "x", "owner_person_id": w.person_b}, "owner_person_id"),
            (objectives, {"period_id": q1, "title": "x", "aligned_to_kr_id": 424242}, "aligned_to_kr_id"),
            (objectives, {"period_id": q1, "title": "   "}, "title"),
            (objectives, {"period_id": q1, "title": "x", "alignment_weight": -1}, "alignment_weight"),
            (objectives, {"period_id": q1, "title": "x", "status": "done"}, "status"),
            (objectives, {"period_id": 10**30, "title": "x"}, "period_id"),
            (krs, {"title": "x", "direction": "increase", "baseline": 10, "target": 5}, "target"),
            (krs, {"title": "x", "direction": "decrease", "baseline": 1, "target": 5}, "target"),
            (krs, {"title": "x", "direction": "band", "baseline": 1}, "target"),
            (krs, {"title": "x", "direction": "band", "band_low": 3, "band_high": 1}, "target"),
            (krs, {"title": "x", "direction": "sideways"}, "direction"),
            (krs, {"title": "x", "direction": "increase", "target": 10**30}, "target"),
            (krs, {"title": "x", "direction": "increase", "target": "ten"}, "target"),
            (krs, {"title": "x", "direction": "increase", "weight": -2}, "weight"),
            (krs, {"title": "x", "direction": "increase", "metric_id": 424242}, "metric_id"),
            (
                krs,
                {
                    "title": "x",
                    "direction": "increase",
                    "metric_id": w.okr["metric_a"],
                    "metric_dimensions": {"region": "eu"},
                },
                "metric_dimensions",
            ),
            (krs, {"title": "x", "direction": "increase", "owner_person_id": 424242}, "owner_person_id"),
            (f"{API}/key-results/{w.okr['kr_ws']}/checkins", {"value": 1, "confidence": 11}, "confidence"),
            (f"{API}/key-results/{w.okr['kr_ws']}/checkins", {"confidence": 5}, "value"),
            (f"{API}/key-results/{w.okr['kr_ws']}/checkins", {"value": 1, "confidence": 5, "at": "yesterday"}, "at"),
            (
                f"{API}/workspaces/{w.ws_a}/periods",
                {"name": "x", "start_date": "2026-05-01", "end_date": "2026-04-01"},
                "end_date",
            ),
            (
                f"{API}/workspaces/{w.ws_a}/periods",
                {"name": "x", "start_date": "2026-02-30", "end_date": "2026-04-01"},
                "start_date",
            ),
            (f"{API}/workspaces/{w.ws_a}/periods/year", {"year": 10**6}, "year"),
        ]
        for url, body, field in cases:
            p = _problem(c.post(url, headers=h, json=body))
            assert field in {e["field"] for e in p["errors"]}, (body, p)
        # a PATCH that makes the target inconsistent
        p = _problem(c.patch(f"{API}/key-results/{w.okr['kr_ws']}", headers=h, json={"target": -5}))
        assert p["errors"][0]["field"] == "target" and "target ≥ baseline" in p["detail"]
        p = _problem(c.patch(f"{API}/key-results/{w.okr['kr_ws']}", headers=h, json={"title": None}))
        assert p["errors"][0]["field"] == "title"
        assert _problem(c.post(f"{API}/workspaces/{w.ws_a}/periods/year", headers=h, json={"year": 2026} | {"x": 1}))


NASTY: list[object] = [
    None,
    [],
    "text",
    12,
    {"title": None, "direction": None},
    {"title": "x" * 100_000, "direction": "increase"},
    {"title": "nul\x00", "direction": "increase", "value": 1, "confidence": 1},
    {"title": "\ud800", "direction": "increase"},
    {"title": "t", "direction": "increase", "baseline": float("nan"), "target": float("inf")},
    {"value": 1e309, "confidence": float("nan")},
    {"value": 10**400, "confidence": 5},
    {"period_id": 2**63, "title": "t", "team_id": -1, "aligned_to_kr_id": 1e308},
    {"values": [{"metric": "conversion", "timestamp": "0000-00-00", "value": float("inf")}]},
    {"values": [{"metric": "conversion", "timestamp": "2026-01-01", "value": 1, "dimensions": {"team": ["x"]}}]},
    {"changes": {"thresholds": {"green": float("nan"), "red": 1}}, "reason": "r"},
    {"changes": {"name": None}, "reason": ""},
    {"key": "Bad Key", "name": "n", "freshness_warn_hours": -1},
    {"metric_id": "abc"},
    {"year": "MMXXVI"},
    {"name": "n", "kind": "custom", "start_date": "9999-99-99", "end_date": "0001-01-01"},
    {"milestones": [1, 2], "title": "t", "direction": "milestone"},
    {"metric_dimensions": {"Team!": "x"}, "title": "t", "direction": "increase"},
]


def test_no_okr_input_makes_a_500(db) -> None:
    with build_world(db, okr=True) as w:
        c, h = w.client, {**w.headers("superuser"), "Content-Type": "application/json"}
        o = w.okr
        writes = [
            ("POST", f"/workspaces/{w.ws_a}/periods"),
            ("POST", f"/workspaces/{w.ws_a}/periods/year"),
            ("POST", f"/workspaces/{w.ws_a}/objectives"),
            ("PATCH", f"/objectives/{o['obj_ws']}"),
            ("POST", f"/objectives/{o['obj_ws']}/key-results"),
            ("PATCH", f"/key-results/{o['kr_ws']}"),
            ("POST", f"/key-results/{o['kr_ws']}/checkins"),
            ("PATCH", f"/checkins/{o['checkin_ws']}"),
            ("POST", f"/workspaces/{w.ws_a}/metrics"),
            ("POST", f"/metrics/{o['metric_a']}/versions"),
            ("POST", f"/workspaces/{w.ws_a}/metric-values"),
            ("PUT", f"/workspaces/{w.ws_a}/north-star"),
        ]
        for method, path in writes:
            for body in NASTY:
                r = c.request(method, API + path, headers=h, content=json.dumps(body).encode())
                assert 400 <= r.status_code < 500, (method, path, body, r.status_code, r.text[:300])
                assert r.headers["content-type"] == "application/problem+json"
        for query in (
            f"/workspaces/{w.ws_a}/objectives?period_id=abc",
            f"/workspaces/{w.ws_a}/okr-tree?team_id=99999999999999",
            f"/workspaces/{w.ws_a}/checkins-due?days=0",
            f"/workspaces/{w.ws_a}/checkins-due?days=100000",
            f"/metrics/{o['metric_a']}/values?since=notadate",
            f"/metrics/{o['metric_a']}/values?dim.=x",
            f"/metrics/{o['metric_a']}/values?format=xml",
            f"/metrics/{o['metric_a']}/versions/compare?a=0&b=1",
            f"/metrics/{o['metric_a']}/versions/compare?a=1",
            "/key-results/0/chart",
            "/checkins/99999999999999999",
        ):
            assert _problem(c.get(API + query, headers=h))["errors"], query
        for missing in (
            "/objectives/424242",
            "/key-results/424242",
            "/key-results/424242/chart",
            "/checkins/424242",
            "/periods/424242",
            "/metrics/424242",
            f"/metrics/{o['metric_a']}/versions/9",
            f"/metrics/{o['metric_a']}/versions/compare?a=1&b=9",
        ):
            _problem(c.get(API + missing, headers=h), 404)


def test_period_changes_keep_quarters_inside_their_year(db) -> None:
    with build_world(db) as w:
        c, h = w.client, w.headers("contributor_ws")
        year = _ok(c.post(f"{API}/workspaces/{w.ws_a}/periods/year", headers=h, json={"year": 2027}), 201)
        annual, q1 = (f"{API}/periods/{year[i]['id']}" for i in (0, 1))
        p = _problem(c.patch(q1, headers=h, json={"start_date": "2026-12-01"}))
        assert p["errors"][0]["field"] == "start_date" and "inside 2027" in p["detail"]
        p = _problem(c.patch(annual, headers=h, json={"end_date": "2027-06-30"}))
        assert p["errors"][0]["field"] == "end_date" and "2027-Q3" in p["detail"]
        p = _problem(c.patch(q1, headers=h, json={"end_date": "2026-01-01"}))
        assert p["errors"][0]["field"] == "end_date"
        assert _problem(c.patch(q1, headers=h, json={"name": "2027-Q2"}), 409)["field"] == "name"
        assert _problem(c.patch(q1, headers=h, json={"name": None}))["errors"][0]["field"] == "name"
        changed = _ok(c.patch(q1, headers=h, json={"name": "2027 first quarter", "end_date": "2027-03-15"}))
        assert (changed["name"], changed["end_date"], changed["version"]) == ("2027 first quarter", "2027-03-15", 2)
        assert _problem(c.patch(q1, headers=w.headers("contributor_team"), json={"name": "x"}), 403)
