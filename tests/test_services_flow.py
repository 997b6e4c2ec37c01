"""The flow use cases on both engines, against numbers worked out by hand on a small import.

Teams: eng ⊃ payments; checkout. Source ``pay`` (team payments), source ``chk`` (team checkout); Jira mapping.
T0 = Monday 2026-03-02 00:00 UTC, now = 2026-03-16 12:00 UTC, window 2026-03-02 … 2026-03-15.

  P1 Story   In Progress +1d, Ready for QA (testing, waiting) +3d, Done +5d  → flow 4 d, active 2 d, done 03-07
  P2 Bug     In Progress +2d, Done +10d                                      → flow 8 d, active 8 d, done 03-12
  P3 Story   In Progress +4d                                                 → in progress, age 10.5 d
  P4 Story   never started (To Do)
  P5 Epic    In Progress +1d                                                 → not a story: left out
  C1 Story   In Progress +6d6h, Done +7d6h                                   → flow 1 d, active 1 d, done 03-09
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from okrflow.domain.errors import InvalidInputError, NotFoundError
from okrflow.domain.work import StatusChangeRecord, WorkRecord
from okrflow.services import auth, catalog, flow, flow_data, flow_publish, imports, okr, sources, tenancy
from okrflow.store.models import User

T0 = datetime(2026, 3, 2, tzinfo=UTC)
NOW = T0 + timedelta(days=14, hours=12)
SINCE, UNTIL = date(2026, 3, 2), date(2026, 3, 15)
APPROX = {"rel": 1e-9, "abs": 1e-9}


def rec(ext, typ, moves, *, status=None):
    hist, prev = [], "To Do"
    for days, to in moves:
        hist.append(StatusChangeRecord(T0 + timedelta(days=days), to, prev))
        prev = to
    return WorkRecord(ext, typ, status or prev, T0, key=ext, title=f"item {ext}", history=tuple(hist))


@pytest.fixture(autouse=True)
def fresh_cache():
    flow.CACHE.clear()
    yield
    flow.CACHE.clear()


@pytest.fixture
def world(db, admin_setup, admin_actor):
    ws = admin_setup.workspace_id
    with db.write() as s:
        eng = tenancy.create_team(s, admin_actor, ws, "eng", "Engineering")
        pay = tenancy.create_team(s, admin_actor, ws, "payments", "Payments", eng.id)
        chk = tenancy.create_team(s, admin_actor, ws, "checkout", "Checkout")
        src_pay = sources.create_source(s, admin_actor, ws, "pay", "jira", team_id=pay.id)
        src_chk = sources.create_source(s, admin_actor, ws, "chk", "jira", team_id=chk.id)
    imports.import_records(
        db,
        admin_actor,
        src_pay.id,
        [
            rec("P1", "Story", [(1, "In Progress"), (3, "Ready for QA"), (5, "Done")]),
            rec("P2", "Bug", [(2, "In Progress"), (10, "Done")]),
            rec("P3", "Story", [(4, "In Progress")]),
            rec("P4", "Story", []),
            rec("P5", "Epic", [(1, "In Progress")]),
        ],
    )
    imports.import_records(db, admin_actor, src_chk.id, [rec("C1", "Story", [(6.25, "In Progress"), (7.25, "Done")])])
    return {"ws": ws, "eng": eng.id, "pay": pay.id, "chk": chk.id, "src_pay": src_pay.id, "src_chk": src_chk.id}


def call(db, actor, fn, ws, **kw):
    kw.setdefault("now", NOW)
    with db.read() as s:
        return fn(s, actor, ws, **kw)


def test_flow_data_delivers_stage_and_attributes(db, world):
    with db.read() as s:
        data = flow_data.load(s, world["ws"], level="story")
        assert flow_data.flow_level(s, world["ws"]) == "story"
        every = flow_data.load(s, world["ws"])
    assert data.items.height == 5 and every.items.height == 6
    assert data.attributes.columns == ["item_id", "team_id", "source_id", "flow_type", "level"]
    assert data.attributes["item_id"].is_sorted()
    stage = dict(zip(data.frames.rules["status"], data.frames.rules["stage"], strict=True))
    assert stage["Ready for QA"] == "delivery" and stage["Done"] == "operation" and stage["To Do"] == "discovery"


def test_report_matches_the_hand_computation(db, admin_actor, world):
    r = call(db, admin_actor, flow.report, world["ws"], since=SINCE, until=UNTIL)
    assert r.context.items == 5 and r.context.as_of == NOW
    assert r.velocity == 3 and r.velocity_per_week == pytest.approx(1.5)
    ft = r.flow_time
    assert (ft.items, ft.p50_days) == (3, pytest.approx(4.0))
    assert ft.mean_days == pytest.approx(13 / 3)
    assert ft.p85_days == pytest.approx(4 + 0.7 * 4)  # linear: rank 1.7 among 1, 4, 8
    assert r.efficiency == pytest.approx(11 / 13)
    assert r.load_now == 1  # P3; P4 never started
    dist = {(row["scope"], row["flow_type"]): row["share"] for row in r.distribution.iter_rows(named=True)}
    assert dist == {
        ("done", "defect"): pytest.approx(1 / 3),
        ("done", "feature"): pytest.approx(2 / 3),
        ("wip", "feature"): 1.0,
    }
    # week 2 starts with P2, P3 and C1 in progress; P2 and C1 are done by its end
    assert (r.committed, r.delivered, r.predictability) == (3, 2, pytest.approx(2 / 3))
    weekly = r.weekly.select("week_start", "items_done", "committed", "delivered").rows()
    assert weekly == [(date(2026, 3, 2), 1, 0, 0), (date(2026, 3, 9), 2, 3, 2)]
    assert r.weekly["flow_time_p50_days"].to_list() == [pytest.approx(4.0), pytest.approx(4.5)]
    assert r.weekly["load_end"].to_list() == [3, 1]  # end of 03-08: P2, P3, C1; end of 03-15: P3


def test_team_filter_includes_sub_teams_and_other_filters(db, admin_actor, world):
    ws = world["ws"]
    eng = call(db, admin_actor, flow.report, ws, teams=["eng"], since=SINCE, until=UNTIL)
    pay = call(db, admin_actor, flow.report, ws, teams=[world["pay"]], since=SINCE, until=UNTIL)
    assert eng.context.scope.team_ids == (world["eng"], world["pay"])
    for r in (eng, pay):
        assert r.velocity == 2 and r.flow_time.p50_days == pytest.approx(6.0)
        assert r.flow_time.p85_days == pytest.approx(4 + 0.85 * 4)
    chk = call(db, admin_actor, flow.report, ws, teams=["checkout"], since=SINCE, until=UNTIL)
    assert chk.velocity == 1 and chk.load_now == 0
    defects = call(db, admin_actor, flow.report, ws, flow_types=["defect"], since=SINCE, until=UNTIL)
    assert defects.velocity == 1 and defects.flow_time.p50_days == pytest.approx(8.0)
    by_source = call(db, admin_actor, flow.report, ws, sources=[world["src_chk"]], since=SINCE, until=UNTIL)
    assert by_source.velocity == 1
    every_level = call(db, admin_actor, flow.report, ws, all_levels=True, since=SINCE, until=UNTIL)
    assert every_level.load_now == 2  # the epic too
    with pytest.raises(NotFoundError):
        call(db, admin_actor, flow.report, ws, teams=["nope"])
    with pytest.raises(InvalidInputError):
        call(db, admin_actor, flow.report, ws, flow_types=["bug"])
    with pytest.raises(InvalidInputError):
        call(db, admin_actor, flow.report, ws, since=UNTIL, until=SINCE)


def test_charts(db, admin_actor, world):
    ws = world["ws"]
    tp = call(db, admin_actor, flow.throughput, ws, since=SINCE, until=UNTIL)
    assert tp.total == 3 and tp.daily.height == 14 and tp.mean_per_day == pytest.approx(3 / 14)
    done_days = tp.daily.filter(tp.daily["items_done"] > 0)["date"].to_list()
    assert done_days == [date(2026, 3, 7), date(2026, 3, 9), date(2026, 3, 12)]
    sc = call(db, admin_actor, flow.scatter, ws, since=SINCE, until=UNTIL)
    assert sc.points["key"].to_list() == ["P1", "C1", "P2"]
    assert sc.points["flow_days"].to_list() == [pytest.approx(4), pytest.approx(1), pytest.approx(8)]
    assert sc.percentiles == {50: pytest.approx(4), 85: pytest.approx(6.8), 95: pytest.approx(7.6)}
    ag = call(db, admin_actor, flow.aging, ws, since=SINCE, until=UNTIL)
    assert ag.items.select("key", "current_step").rows() == [("P3", "development")]
    assert ag.items["age_days"][0] == pytest.approx(10.5) and ag.waste == 0
    assert ag.by_age.filter(ag.by_age["bucket"] == "0-30")["items"][0] == 1
    cfd = call(db, admin_actor, flow.cfd, ws, since=SINCE, until=UNTIL).frame
    last = {r["step"]: (r["items"], r["cumulative"]) for r in cfd.filter(cfd["date"] == UNTIL).iter_rows(named=True)}
    assert last["done"] == (3, 3) and last["development"] == (1, 4) and last["backlog"] == (1, 5)


def test_value_stream_and_comparison(db, admin_actor, world):
    ws = world["ws"]
    vsm = call(db, admin_actor, flow.value_stream, ws, since=SINCE, until=UNTIL).map
    assert vsm.bottleneck == "testing"  # P1's two days in Ready for QA are the only waiting time
    testing = vsm.steps.filter(vsm.steps["step"] == "testing").row(0, named=True)
    assert testing["waiting_days"] == pytest.approx(2.0) and testing["active_days"] == 0
    cmp = call(
        db,
        admin_actor,
        flow.compare_periods,
        ws,
        a=(date(2026, 3, 2), date(2026, 3, 8)),
        b=(date(2026, 3, 9), date(2026, 3, 15)),
    )
    assert cmp.comparison.bottleneck_a == "testing" and cmp.comparison.bottleneck_b is None


def test_forecasts_are_reproducible(db, admin_actor, world):
    ws = world["ws"]
    many = call(db, admin_actor, flow.forecast_how_many, ws, by=date(2026, 3, 29), window_days=14, seed=3)
    assert (many.context.since, many.context.until) == (SINCE, UNTIL)  # 14 complete days before today
    assert many.history_items == 3 and many.mean_per_day == pytest.approx(3 / 14)
    assert many.start == date(2026, 3, 16) and many.forecast.trials == 10_000
    again = call(db, admin_actor, flow.forecast_how_many, ws, by=date(2026, 3, 29), window_days=14, seed=3)
    assert again.forecast.answers == many.forecast.answers
    assert many.forecast.answers[50] >= many.forecast.answers[85] >= many.forecast.answers[95] >= 0
    assert many.forecast.answers[50] <= 14  # 14 days of at most one item a day
    when = call(db, admin_actor, flow.forecast_when, ws, items=3, window_days=14, seed=3)
    assert when.forecast.answers[50] <= when.forecast.answers[85] <= when.forecast.answers[95]
    assert when.forecast.dates[50] == date(2026, 3, 16) + timedelta(days=when.forecast.answers[50] - 1)
    with pytest.raises(InvalidInputError):
        call(db, admin_actor, flow.forecast_how_many, ws, by=date(2026, 3, 1))


def test_viewer_reads_outsider_does_not_see(db, admin_actor, world):
    with db.write() as s:
        viewer = tenancy.create_user(s, admin_actor, "vera", None, workspace_id=world["ws"], role="viewer")
        outsider = tenancy.create_user(s, admin_actor, "otto", None)
    with db.read() as s:
        as_viewer = auth.actor_for_user(s, s.get(User, viewer.id))
        as_outsider = auth.actor_for_user(s, s.get(User, outsider.id))
    assert call(db, as_viewer, flow.report, world["ws"], since=SINCE, until=UNTIL).velocity == 3
    with pytest.raises(NotFoundError):
        call(db, as_outsider, flow.report, world["ws"])
    with pytest.raises(NotFoundError):
        call(db, as_outsider, flow.forecast_when, world["ws"], items=3)


def test_cache_serves_repeats_and_imports_invalidate(db, admin_actor, world, monkeypatch):
    loads = []
    real = flow_data.load
    monkeypatch.setattr(flow_data, "load", lambda *a, **k: loads.append(k) or real(*a, **k))
    ws = world["ws"]
    first = call(db, admin_actor, flow.report, ws, since=SINCE, until=UNTIL)
    call(db, admin_actor, flow.cfd, ws, since=SINCE, until=UNTIL)
    call(db, admin_actor, flow.aging, ws, now=NOW + timedelta(minutes=1))  # within the tolerance: same base
    assert len(loads) == 1 and flow.CACHE.stats.prepares == 1
    call(db, admin_actor, flow.report, ws, teams=["checkout"])  # other filters: their own entry
    assert len(loads) == 2
    imports.import_records(db, admin_actor, world["src_chk"], [rec("C2", "Story", [(8, "In Progress"), (9, "Done")])])
    after = call(db, admin_actor, flow.report, ws, since=SINCE, until=UNTIL)
    assert len(loads) == 3 and after.velocity == first.velocity + 1
    assert after.context.input_version != first.context.input_version
    assert len(flow.CACHE) == 1  # the entries of the old input version are gone
    with db.write() as s:  # a mapping change invalidates too
        sources.update_source(s, admin_actor, world["src_chk"], {"mapping": {"statuses": {"Done": {"step": "done"}}}})
    call(db, admin_actor, flow.report, ws, since=SINCE, until=UNTIL)
    assert len(loads) == 4


def test_publish_defines_once_records_idempotently_and_binds_a_key_result(db, admin_actor, world):
    ws = world["ws"]
    first = flow_publish.publish(db, admin_actor, ws, NOW, days=3)
    assert set(first.defined) == {s.key for s in flow_publish.FLOW_SPECS + flow_publish.DORA_SPECS}
    assert (first.first_day, first.last_day) == (date(2026, 3, 13), UNTIL)
    assert first.created > 0 and first.series["flow.time.p85"] == 4  # workspace, eng, payments, checkout
    again = flow_publish.publish(db, admin_actor, ws, NOW, days=3)
    assert (again.defined, again.revised, again.created, again.updated) == ([], [], 0, 0)
    assert again.unchanged == first.created
    with db.read() as s:
        p85 = catalog.metric_by_key(s, admin_actor, ws, "flow.time.p85")
        assert catalog.current_version(s, p85).dimensions == ["team"]
        stamp = datetime(2026, 3, 16, tzinfo=UTC)  # the end of 03-15: window 02-16 … 03-15
        assert catalog.latest_value(s, p85.id, {"team": "payments"}).value == pytest.approx(7.4)
        assert catalog.latest_value(s, p85.id, {}).value == pytest.approx(6.8)
        assert catalog.latest_value(s, p85.id, {"team": "payments"}).at == stamp
        vel = catalog.metric_by_key(s, admin_actor, ws, "flow.velocity")
        assert catalog.latest_value(s, vel.id, {"team": "eng"}).value == pytest.approx(0.5)
    with db.write() as s:
        q1 = okr.create_year(s, admin_actor, ws, 2026)[1]
        obj = okr.create_objective(s, admin_actor, ws, q1.id, "Faster payments", team_id=world["pay"])
        kr = okr.create_key_result(
            s,
            admin_actor,
            obj.id,
            "Flow time p85 under 5 days",
            "decrease",
            baseline=10,
            target=5,
            metric_id=p85.id,
            metric_dimensions={"team": "payments"},
        )
    with db.read() as s:
        state = okr.kr_state(s, s.get(type(kr), kr.id), q1, okr.OkrSettings(), NOW)
    assert state.current_value == pytest.approx(7.4) and state.metric_key == "flow.time.p85"


def test_a_changed_calculation_writes_a_new_version(db, admin_actor, world, monkeypatch):
    ws = world["ws"]
    flow_publish.publish(db, admin_actor, ws, NOW, days=1, dora=False)
    spec = flow_publish.FLOW_SPECS[0]
    changed = flow_publish.MetricSpec(**{**spec.__dict__, "calculation": spec.calculation + " (revised)"})
    monkeypatch.setattr(flow_publish, "FLOW_SPECS", (changed, *flow_publish.FLOW_SPECS[1:]))
    report = flow_publish.publish(db, admin_actor, ws, NOW, days=1, dora=False)
    assert report.revised == [spec.key]
    with db.read() as s:
        m = catalog.metric_by_key(s, admin_actor, ws, spec.key)
        versions = catalog.versions(s, admin_actor, m.id)
    assert [v.number for v in versions] == [1, 2] and "okrflow's calculation changed" in versions[1].reason
