"""The KPI catalog over the API: define → revise (If-Match, reason) → versions and compare; values by JSON
batch (idempotent upsert, all-or-nothing) and CSV (round trip, bad lines → 422 with line numbers, nothing
written); status (threshold, freshness); north star; glossary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api_world import API, World, build_world


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _problem(r: Any, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return r.json()


def _define(w: World, **extra: Any) -> dict[str, Any]:
    body = {
        "key": "checkout_conversion",
        "name": "Checkout conversion",
        "definition": "Orders divided by checkout sessions.",
        "unit": "%",
        "dimensions": ["team"],
        "thresholds": {"green": 3.0, "red": 2.5},
        "freshness_warn_hours": 24,
        "freshness_error_hours": 72,
        "owner_person_id": w.person_alpha,
        **extra,
    }
    r = w.client.post(f"{API}/workspaces/{w.ws_a}/metrics", headers=w.headers("contributor_ws"), json=body)
    metric = _ok(r, 201)
    assert r.headers["location"] == f"{API}/metrics/{metric['id']}" and r.headers["etag"] == '"1"'
    return metric


def test_define_revise_versions_and_compare(db) -> None:
    with build_world(db) as w:
        c, h = w.client, w.headers("contributor_ws")
        m = _define(w)
        assert m["current_version"] == 1 and m["definition"]["number"] == 1
        assert m["definition"]["reason"] == "first definition" and m["definition"]["author"] == "user:contributor-ws"
        assert m["status"] == {"latest_value": None, "latest_at": None, "threshold": None, "freshness": "no_data"}
        url = f"{API}/metrics/{m['id']}"

        p = _problem(c.post(f"{url}/versions", headers=h, json={"changes": {"unit": "ratio"}, "reason": "  "}))
        assert p["errors"][0]["field"] == "reason"
        p = _problem(c.post(f"{url}/versions", headers=h, json={"changes": {"unit": "%"}, "reason": "same"}))
        assert "nothing changes" in p["detail"]
        p = _problem(c.post(f"{url}/versions", headers=h, json={"changes": {"colour": "red"}, "reason": "r"}))
        assert p["errors"][0]["field"] == "changes.colour"
        p = _problem(
            c.post(f"{url}/versions", headers=h, json={"changes": {"owner_person_id": w.person_b}, "reason": "r"})
        )
        assert p["errors"][0]["field"] == "owner_person_id"

        etag = c.get(url, headers=h).headers["etag"]
        change = {"calculation": "orders / sessions, bots excluded", "thresholds": {"green": 3.2, "red": 2.6}}
        r = c.post(
            f"{url}/versions", headers={**h, "If-Match": etag}, json={"changes": change, "reason": "exclude bots"}
        )
        v2 = _ok(r, 201)
        assert (v2["number"], v2["reason"], v2["calculation"]) == (2, "exclude bots", change["calculation"])
        assert v2["definition"] == "Orders divided by checkout sessions."  # unchanged fields carry over
        assert _ok(c.get(url, headers=h))["current_version"] == 2
        assert _problem(
            c.post(f"{url}/versions", headers={**h, "If-Match": etag}, json={"changes": {"unit": "x"}, "reason": "r"}),
            412,
        )

        versions = _ok(c.get(f"{url}/versions", headers=h))
        assert [v["number"] for v in versions] == [1, 2] and versions[0]["calculation"] == ""
        assert _ok(c.get(f"{url}/versions/1", headers=h)) == versions[0]
        diff = _ok(c.get(f"{url}/versions/compare", headers=h, params={"a": 1, "b": 2}))
        assert diff == {
            "metric_id": m["id"],
            "a": 1,
            "b": 2,
            "changes": [
                {"field": "calculation", "a": "", "b": change["calculation"]},
                {"field": "thresholds", "a": {"green": 3.0, "red": 2.5}, "b": {"green": 3.2, "red": 2.6}},
            ],
        }
        assert _ok(c.get(f"{url}/versions/compare", headers=h, params={"a": 2, "b": 2}))["changes"] == []

        listed = _ok(c.get(f"{API}/workspaces/{w.ws_a}/metrics", headers=w.headers("viewer")))
        assert [x["key"] for x in listed] == ["checkout_conversion"] and listed[0]["current_version"] == 2
        p = _problem(
            c.post(f"{API}/workspaces/{w.ws_a}/metrics", headers=h, json={"key": "checkout_conversion", "name": "X"}),
            409,
        )
        assert "revise" in p["detail"]
        p = _problem(
            c.post(
                f"{API}/workspaces/{w.ws_a}/metrics", headers=h, json={"key": "r", "name": "R", "aggregation": "ratio"}
            )
        )
        assert p["errors"][0]["field"] == "aggregation"
        p = _problem(
            c.post(
                f"{API}/workspaces/{w.ws_a}/metrics",
                headers=h,
                json={"key": "f", "name": "F", "freshness_warn_hours": 48, "freshness_error_hours": 24},
            )
        )
        assert "freshness_error_hours" in p["detail"]


def _batch(w: World, values: list[dict[str, Any]], role: str = "contributor_ws") -> Any:
    return w.client.post(f"{API}/workspaces/{w.ws_a}/metric-values", headers=w.headers(role), json={"values": values})


def test_value_batches_are_idempotent_upserts_and_all_or_nothing(db) -> None:
    with build_world(db) as w:
        m = _define(w)
        url = f"{API}/metrics/{m['id']}/values"
        h = w.headers("viewer")
        points = [
            {
                "metric": "checkout_conversion",
                "timestamp": f"2026-10-0{d}",
                "value": 2.0 + d / 10,
                "dimensions": {"team": t},
            }
            for d in (1, 2, 3)
            for t in ("payments", "search")
        ]
        assert _ok(_batch(w, points)) == {"created": 6, "updated": 0, "unchanged": 0, "total": 6}
        assert _ok(_batch(w, points)) == {"created": 0, "updated": 0, "unchanged": 6, "total": 6}
        changed = [{**points[0], "value": 9.0}, {**points[1], "timestamp": "2026-10-01T00:00:00+00:00"}]
        assert _ok(_batch(w, changed)) == {"created": 0, "updated": 1, "unchanged": 1, "total": 2}

        # all or nothing: one unknown metric or dimension and nothing of the batch is written
        bad_metric = [
            {**points[0], "timestamp": "2026-10-09"},
            {"metric": "nope", "timestamp": "2026-10-09", "value": 1},
        ]
        assert _problem(_batch(w, bad_metric))["errors"][0]["field"] == "metric"
        bad_dim = [{**points[0], "timestamp": "2026-10-09"}, {**points[0], "dimensions": {"region": "eu"}}]
        assert _problem(_batch(w, bad_dim))["errors"][0]["field"] == "dimensions"
        p = _problem(_batch(w, [{**points[0], "value": "NaN"}]))
        assert p["errors"][0]["field"] == "values.0.value"
        assert _problem(_batch(w, points, role="contributor_team"), 403)
        assert _problem(_batch(w, []))["errors"][0]["field"] == "values"

        everything = _ok(w.client.get(url, headers=h))
        assert len(everything) == 6 and all(v["metric_version"] == 1 for v in everything)
        one = w.client.get(url, headers=h, params={"dim.team": "payments"})
        assert one.headers["x-total-count"] == "3"
        assert [(v["at"], v["value"]) for v in one.json()] == [
            ("2026-10-01T00:00:00Z", 9.0),
            ("2026-10-02T00:00:00Z", 2.2),
            ("2026-10-03T00:00:00Z", 2.3),
        ]
        window = _ok(
            w.client.get(
                url, headers=h, params={"dim.team": "search", "since": "2026-10-02", "until": "2026-10-02T23:59:59"}
            )
        )
        assert [v["value"] for v in window] == [2.2]
        assert _ok(w.client.get(url, headers=h, params={"dim.team": "nobody"})) == []
        paged = w.client.get(url, headers=h, params={"limit": 2, "offset": 5})
        assert len(paged.json()) == 1 and paged.headers["x-total-count"] == "6"


def test_values_csv_round_trip_and_bad_lines(db) -> None:
    with build_world(db) as w:
        m = _define(w)
        h = w.headers("contributor_ws")
        csv_h = {**h, "Content-Type": "text/csv"}
        imports = f"{API}/workspaces/{w.ws_a}/metric-values/csv"
        good = (
            "metric,timestamp,value,dim.team\n"
            "checkout_conversion,2026-10-01,2.5,payments\n"
            "checkout_conversion,2026-10-02T12:00:00Z,2.75,payments\n"
            "checkout_conversion,2026-10-02T12:00:00Z,3.1,search\n"
        )
        assert _ok(w.client.post(imports, headers=csv_h, content=good.encode())) == {
            "created": 3,
            "updated": 0,
            "unchanged": 0,
            "total": 3,
        }
        values_url = f"{API}/metrics/{m['id']}/values"
        as_csv = w.client.get(values_url, headers={**h, "Accept": "text/csv"})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        assert as_csv.headers["x-total-count"] == "3"
        lines = as_csv.text.splitlines()
        assert lines[0] == "metric,timestamp,value,dim.team,source"
        assert lines[1] == "checkout_conversion,2026-10-01T00:00:00+00:00,2.5,payments,csv"
        assert w.client.get(values_url, headers=h, params={"format": "csv"}).text == as_csv.text
        # The export imports again unchanged, here and into another workspace (multipart upload there).
        again = _ok(w.client.post(imports, headers=csv_h, content=as_csv.content))
        assert (again["created"], again["unchanged"]) == (0, 3)
        su = w.headers("superuser")
        body = {"key": "checkout_conversion", "name": "Checkout conversion", "dimensions": ["team"]}
        other = _ok(w.client.post(f"{API}/workspaces/{w.ws_b}/metrics", headers=su, json=body), 201)
        upload = {"file": ("values.csv", as_csv.content, "text/csv")}
        copied = _ok(w.client.post(f"{API}/workspaces/{w.ws_b}/metric-values/csv", headers=su, files=upload))
        assert copied["created"] == 3
        mine = [(v["at"], v["value"], v["dimensions"]) for v in w.client.get(values_url, headers=h).json()]
        theirs = w.client.get(f"{API}/metrics/{other['id']}/values", headers=su).json()
        assert [(v["at"], v["value"], v["dimensions"]) for v in theirs] == mine

        bad = (
            "metric,timestamp,value,dim.team\n"
            "checkout_conversion,2026-11-01,2.5,payments\n"
            "checkout_conversion,yesterday,2.5,payments\n"
            "checkout_conversion,2026-11-03,2.5,payments\n"
            "checkout_conversion,2026-11-04,lots,payments\n"
            "checkout_conversion,2026-11-05,inf,payments\n"
        )
        p = _problem(w.client.post(imports, headers=csv_h, content=bad.encode()))
        assert [e["line"] for e in p["errors"]] == [3, 5, 6]
        assert [e["field"] for e in p["errors"]] == ["line 3", "line 5", "line 6"]
        assert "nothing was imported" in p["detail"] and "'lots' is not a number" in p["errors"][1]["message"]
        unknown = "metric,timestamp,value\ncheckout_conversion,2026-11-01,1\nmissing,2026-11-01,1\n"
        p = _problem(w.client.post(imports, headers=csv_h, content=unknown.encode()))
        assert [(e["line"], e["field"], e["type"]) for e in p["errors"]] == [(3, "line 3", "invalid_line")]
        assert p["errors"][0]["message"].startswith("unknown metric 'missing'")
        p = _problem(w.client.post(imports, headers=csv_h, content=b"when,what\n1,2\n"))
        assert p["errors"][0]["line"] == 1
        assert w.client.get(values_url, headers=h).headers["x-total-count"] == "3"  # nothing was written

        assert _problem(w.client.post(imports, headers=h, json={"csv": good}))["errors"][0]["field"] == "Content-Type"
        assert _problem(w.client.post(imports, headers=csv_h, content=b"\xff\xfe bad"))["errors"][0]["field"] == "file"
        assert (
            _problem(w.client.post(imports, headers=h, files={"other": ("x.csv", b"x", "text/csv")}))["errors"][0][
                "field"
            ]
            == "file"
        )
        assert _problem(w.client.post(imports, headers=csv_h, content=b"metric,timestamp,value\n"))


def test_status_north_star_and_glossary(db) -> None:
    with build_world(db) as w:
        c = w.client
        m = _define(w, key="uptime", name="Uptime", dimensions=[], definition="Share of minutes the API answered.")
        now = datetime.now(UTC)
        _ok(_batch(w, [{"metric": "uptime", "timestamp": (now - timedelta(hours=30)).isoformat(), "value": 2.7}]))
        st = _ok(c.get(f"{API}/metrics/{m['id']}", headers=w.headers("viewer")))["status"]
        assert (st["latest_value"], st["threshold"], st["freshness"]) == (2.7, "amber", "warn")

        url = f"{API}/workspaces/{w.ws_a}/north-star"
        assert _problem(c.put(url, headers=w.headers("contributor_ws"), json={"metric_id": m["id"]}), 403)
        r = c.put(url, headers=w.headers("admin"), json={"metric_id": m["id"]})
        star = _ok(r)
        assert star["north_star_metric_id"] == m["id"] and star["metric_key"] == "uptime"
        ws = c.get(f"{API}/workspaces/{w.ws_a}", headers=w.headers("admin"))
        assert ws.json()["north_star_metric_id"] == m["id"] and ws.headers["etag"] == r.headers["etag"]
        assert _ok(c.get(f"{API}/metrics/{m['id']}", headers=w.headers("viewer")))["is_north_star"] is True
        su = w.headers("superuser")
        other = _ok(c.post(f"{API}/workspaces/{w.ws_b}/metrics", headers=su, json={"key": "x", "name": "X"}), 201)
        assert _problem(c.put(url, headers=su, json={"metric_id": other["id"]}))["errors"][0]["field"] == "metric_id"
        assert _ok(c.put(url, headers=w.headers("admin"), json={"metric_id": None}))["north_star_metric_id"] is None

        gl = _ok(c.get(f"{API}/workspaces/{w.ws_a}/glossary", headers=w.headers("viewer"), params={"q": "minutes"}))
        assert [(e["term"], e["kind"], e["key"], e["version"]) for e in gl] == [("Uptime", "metric", "uptime", 1)]
        everything = _ok(c.get(f"{API}/workspaces/{w.ws_a}/glossary", headers=w.headers("viewer")))
        assert {"metric", "term"} == {e["kind"] for e in everything}
        assert [e["term"].lower() for e in everything] == sorted(e["term"].lower() for e in everything)
        assert _problem(c.get(f"{API}/workspaces/{w.ws_a}/glossary", headers=w.headers("outsider")), 404)


def test_kr_bound_to_a_metric_updates_itself(db) -> None:
    with build_world(db) as w:
        c, h = w.client, w.headers("admin")
        m = _define(
            w, key="p95", name="p95 latency", unit="ms", direction="decrease", thresholds=None, dimensions=["team"]
        )
        today = datetime.now(UTC).date()
        body = {
            "name": "Now",
            "kind": "custom",
            "start_date": (today - timedelta(days=20)).isoformat(),
            "end_date": (today + timedelta(days=20)).isoformat(),
        }
        period = _ok(c.post(f"{API}/workspaces/{w.ws_a}/periods", headers=h, json=body), 201)
        obj = _ok(
            c.post(
                f"{API}/workspaces/{w.ws_a}/objectives", headers=h, json={"period_id": period["id"], "title": "Fast"}
            ),
            201,
        )
        kr_body = {
            "title": "p95 < 300",
            "direction": "decrease",
            "baseline": 800,
            "target": 300,
            "metric_id": m["id"],
            "metric_dimensions": {"team": "payments"},
        }
        kr = _ok(c.post(f"{API}/objectives/{obj['id']}/key-results", headers=h, json=kr_body), 201)
        start = datetime.now(UTC) - timedelta(days=15)
        vals = [
            {
                "metric": "p95",
                "timestamp": (start + timedelta(days=d)).isoformat(),
                "value": 800 - 20 * d,
                "dimensions": {"team": "payments"},
            }
            for d in range(10)
        ]
        _ok(_batch(w, vals))
        p = _problem(c.post(f"{API}/key-results/{kr['id']}/checkins", headers=h, json={"value": 500, "confidence": 7}))
        assert p["errors"][0]["field"] == "value" and "bound to a metric" in p["detail"]
        _ok(
            c.post(f"{API}/key-results/{kr['id']}/checkins", headers=h, json={"confidence": 8, "note": "trend holds"}),
            201,
        )
        state = _ok(c.get(f"{API}/key-results/{kr['id']}", headers=h))["state"]
        assert state["metric_key"] == "p95" and state["current_value"] == 800 - 20 * 9
        assert state["progress"]["raw"] == (800 - 620) / 500 and state["status"] == "on_track"
        assert state["forecast"]["method"] == "trend" and state["forecast"]["points"] == 10
        chart = _ok(c.get(f"{API}/key-results/{kr['id']}/chart", headers=h))
        assert chart["series"][0]["label"] == "Metric values" and len(chart["series"][0]["points"]) == 10
