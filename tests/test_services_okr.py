"""OKR and KPI-catalog services on both engines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.errors import ConflictError, InvalidInputError, PermissionDeniedError
from okrflow.domain.okr import CheckinStatus
from okrflow.services import audit, auth, catalog, okr, tenancy
from okrflow.store.models import User
from okrflow.store.models_okr import MetricValue, MetricVersion

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)


@pytest.fixture
def world(db, admin_setup, admin_actor):
    ws = admin_setup.workspace_id
    with db.write() as s:
        periods = okr.create_year(s, admin_actor, ws, 2026)
        team = tenancy.create_team(s, admin_actor, ws, "payments", "Payments")
        company = okr.create_objective(s, admin_actor, ws, periods[0].id, "Grow profitable revenue")
        kr_rev = okr.create_key_result(s, admin_actor, company.id, "Revenue", "increase", baseline=10, target=20)
        kr_cost = okr.create_key_result(s, admin_actor, company.id, "Cost per order", "decrease", baseline=5, target=3)
    return {
        "ws": ws,
        "annual": periods[0],
        "q4": periods[4],
        "q1": periods[1],
        "team": team,
        "company": company,
        "kr_rev": kr_rev,
        "kr_cost": kr_cost,
        "actor": admin_actor,
    }


def test_year_has_quarters_inside_it(db, world):
    assert [p.name for p in (world["annual"], world["q1"], world["q4"])] == ["2026", "2026-Q1", "2026-Q4"]
    assert world["q4"].start_date == date(2026, 10, 1) and world["q4"].end_date == date(2026, 12, 31)
    with pytest.raises(InvalidInputError, match="does not lie inside"), db.write() as s:
        okr.create_period(
            s, world["actor"], world["ws"], "odd", "custom", date(2026, 12, 1), date(2027, 1, 31), world["annual"].id
        )


def test_cascading_rolls_up_and_rejects_cycles_and_unrelated_periods(db, world):
    a = world["actor"]
    with db.write() as s:
        team_obj = okr.create_objective(
            s,
            a,
            world["ws"],
            world["q4"].id,
            "Faster checkout payments",
            team_id=world["team"].id,
            aligned_to_kr_id=world["kr_rev"].id,
        )
        team_kr = okr.create_key_result(s, a, team_obj.id, "Payment success rate", "increase", baseline=90, target=100)
        okr.create_checkin(s, a, team_kr.id, value=100, confidence=8, at=NOW)
        okr.create_checkin(s, a, world["kr_rev"].id, value=15, confidence=6, at=NOW)
        okr.create_checkin(s, a, world["kr_cost"].id, value=4, confidence=3, at=NOW)
    # A cycle: the company objective aligned to the team objective's KR.
    with pytest.raises(InvalidInputError, match="cycle"), db.write() as s:
        okr.update_objective(s, a, world["company"].id, {"aligned_to_kr_id": team_kr.id})
    # Unrelated periods: a Q1 objective cannot align to a Q4 key result.
    with pytest.raises(InvalidInputError, match="same period or to one that contains it"), db.write() as s:
        okr.create_objective(s, a, world["ws"], world["q1"].id, "Q1 thing", aligned_to_kr_id=team_kr.id)
    with db.read() as s:
        (root,) = okr.tree(s, a, world["ws"], now=NOW)
        assert root.objective.id == world["company"].id
        (child,) = root.children[world["kr_rev"].id]
        assert child.progress == pytest.approx(1.0)
        # KRs 0.5 and 0.5, child 1.0 -> (0.5 + 0.5 + 1.0) / 3
        assert root.progress == pytest.approx(2 / 3)
        assert [s_.status for s_ in root.key_results] == [CheckinStatus.AT_RISK, CheckinStatus.OFF_TRACK]
        assert root.warning and "2 key results" in root.warning
        assert [o.id for _, o in okr.ancestors(s, a, team_obj.id)] == [world["company"].id]


def test_aligned_children_can_be_left_out_of_progress(db, world):
    a = world["actor"]
    with db.write() as s:
        tenancy.update_workspace(s, a, world["ws"], {"settings": {"okr": {"include_aligned_in_progress": False}}})
        child = okr.create_objective(s, a, world["ws"], world["q4"].id, "Child", aligned_to_kr_id=world["kr_rev"].id)
        kr = okr.create_key_result(s, a, child.id, "x", "increase", baseline=0, target=1)
        okr.create_checkin(s, a, kr.id, value=1, confidence=9, at=NOW)
        okr.create_checkin(s, a, world["kr_rev"].id, value=10, confidence=5, at=NOW)
    with db.read() as s:
        (root,) = okr.tree(s, a, world["ws"], now=NOW)
        assert root.progress == pytest.approx(0.0)


def test_checkin_rules_and_audit_of_edits(db, world):
    a = world["actor"]
    with pytest.raises(InvalidInputError, match="current value"), db.write() as s:
        okr.create_checkin(s, a, world["kr_rev"].id, confidence=5)
    with pytest.raises(InvalidInputError, match="0 to 10"), db.write() as s:
        okr.create_checkin(s, a, world["kr_rev"].id, value=12, confidence=11)
    with db.write() as s:
        c = okr.create_checkin(s, a, world["kr_rev"].id, value=12, confidence=7, note="first")
        okr.update_checkin(s, a, c.id, {"note": "corrected"}, expected_version=1)
        okr.delete_checkin(s, a, c.id)
    with db.read() as s:
        actions = [e.action for e in audit.history(s, a, workspace_id=world["ws"], entity_type="checkin")]
        assert actions == ["delete", "update", "create"]


def test_team_contributor_writes_own_team_objectives_only(db, world):
    a = world["actor"]
    with db.write() as s:
        other = tenancy.create_team(s, a, world["ws"], "checkout", "Checkout")
        tenancy.create_user(
            s, SYSTEM_ACTOR, "pm", None, workspace_id=world["ws"], role="contributor", team_id=world["team"].id
        )
    with db.read() as s:
        pm = auth.actor_for_user(s, s.scalar(select(User).where(User.username == "pm")))
    with db.write() as s:
        okr.create_objective(s, pm, world["ws"], world["q4"].id, "Mine", team_id=world["team"].id)
    with pytest.raises(PermissionDeniedError, match="contributor role on this objective's team"), db.write() as s:
        okr.create_objective(s, pm, world["ws"], world["q4"].id, "Theirs", team_id=other.id)
    with pytest.raises(PermissionDeniedError), db.write() as s:
        okr.create_checkin(s, pm, world["kr_rev"].id, value=11, confidence=5)  # a workspace-level KR


def test_checkins_due_lists_stale_and_never_checked_krs(db, world):
    a = world["actor"]
    with db.write() as s:
        obj = okr.create_objective(s, a, world["ws"], world["q4"].id, "Q4 objective")
        fresh = okr.create_key_result(s, a, obj.id, "fresh", "increase", baseline=0, target=10)
        stale = okr.create_key_result(s, a, obj.id, "stale", "increase", baseline=0, target=10)
        okr.create_key_result(s, a, obj.id, "never", "increase", baseline=0, target=10)
        okr.create_checkin(s, a, fresh.id, value=1, confidence=7, at=NOW - timedelta(days=2))
        okr.create_checkin(s, a, stale.id, value=1, confidence=7, at=NOW - timedelta(days=9))
    with db.read() as s:
        due = {d.key_result.title: d for d in okr.checkins_due(s, a, world["ws"], now=NOW)}
        assert {"stale", "never"} <= set(due) and "fresh" not in due
        assert due["never"].days_since is None and due["stale"].days_since == pytest.approx(9)
        assert "stale" not in {d.key_result.title for d in okr.checkins_due(s, a, world["ws"], now=NOW, days=10)}


def test_metric_versions_are_immutable_and_values_keep_theirs(db, world):
    a, ws = world["actor"], world["ws"]
    with db.write() as s:
        m = catalog.define_metric(
            s,
            a,
            ws,
            "conversion",
            name="Checkout conversion",
            unit="%",
            dimensions=["team"],
            thresholds={"green": 3.0, "red": 2.5},
            freshness_warn_hours=24,
        )
        catalog.record_values(
            s, a, ws, [catalog.ValuePoint("conversion", NOW - timedelta(days=1), 2.8, {"team": "payments"})]
        )
        v2 = catalog.revise_metric(
            s, a, m.id, {"calculation": "orders / sessions, bots excluded"}, reason="exclude bot sessions"
        )
        catalog.record_values(s, a, ws, [catalog.ValuePoint("conversion", NOW, 3.1, {"team": "payments"})])
    with pytest.raises(InvalidInputError, match="reason"), db.write() as s:
        catalog.revise_metric(s, a, m.id, {"unit": "ratio"}, reason=" ")
    with db.read() as s:
        v1, v2_ = catalog.versions(s, a, m.id)
        assert (v1.number, v2_.number, v2.reason) == (1, 2, "exclude bot sessions")
        assert v1.calculation == "" and catalog.compare_versions(v1, v2_) == {
            "calculation": ("", "orders / sessions, bots excluded")
        }
        vals = catalog.series(s, m.id, {"team": "payments"})
        assert [v.metric_version for v in vals] == [1, 2]
        st = catalog.status(s, m, NOW + timedelta(hours=30), {"team": "payments"})
        assert (st.latest_value, st.threshold, st.freshness) == (3.1, "green", "warn")
        assert s.scalar(select(func.count()).select_from(MetricVersion)) == 2


def test_kr_bound_to_metric_updates_itself(db, world):
    a, ws = world["actor"], world["ws"]
    with db.write() as s:
        m = catalog.define_metric(s, a, ws, "p95_latency", name="API latency p95", unit="ms", direction="decrease")
        obj = okr.create_objective(s, a, ws, world["q4"].id, "Fast APIs")
        kr = okr.create_key_result(
            s, a, obj.id, "p95 below 300 ms", "decrease", baseline=800, target=300, metric_id=m.id
        )
        pts = [
            catalog.ValuePoint("p95_latency", datetime(2026, 10, 1, tzinfo=UTC) + timedelta(days=d), 800 - 5 * d)
            for d in range(0, 45)
        ]
        catalog.record_values(s, a, ws, pts)
        with pytest.raises(InvalidInputError, match="bound to a metric"):
            okr.create_checkin(s, a, kr.id, value=500, confidence=7)
        okr.create_checkin(s, a, kr.id, confidence=8, note="trend holds", at=NOW)
    with db.read() as s:
        state = okr.objective_state(s, obj, okr.OkrSettings(), NOW).key_results[0]
        assert state.current_value == 800 - 5 * 44 and state.metric_key == "p95_latency"
        # −5 ms a day from 800 on Oct 1 lands at 340 ms on Jan 1: misses 300 ms, so the KR is at risk.
        assert state.forecast.method == "trend" and state.forecast.value_at_end == pytest.approx(340)
        assert state.forecast.at_risk and state.forecast.probability_on_target == 0.0


def test_csv_import_is_all_or_nothing_with_line_numbers_and_idempotent(db, world):
    a, ws = world["actor"], world["ws"]
    with db.write() as s:
        catalog.define_metric(s, a, ws, "nps", name="Net promoter score", dimensions=["team"])
    bad = (
        "metric,timestamp,value,dim.team\n"
        "nps,2026-10-01,31,payments\n"
        "nps,yesterday,32,payments\n"
        "nps,2026-10-03,abc,payments\n"
        "unknown,2026-10-04,1,\n"
    )
    with pytest.raises(InvalidInputError) as exc, db.write() as s:
        catalog.import_values_csv(s, a, ws, bad)
    assert exc.value.details["errors"][0].startswith("line 3:")
    assert exc.value.details["errors"][1].startswith("line 4:")
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(MetricValue)) == 0
    good = "metric,timestamp,value,dim.team\nnps,2026-10-01,31,payments\nnps,2026-10-02T12:00:00Z,33,payments\n"
    with db.write() as s:
        first = catalog.import_values_csv(s, a, ws, good)
    with db.write() as s:
        second = catalog.import_values_csv(s, a, ws, good)
    assert (first.created, second.created, second.unchanged) == (2, 0, 2)


def test_metric_definition_errors(db, world):
    a, ws = world["actor"], world["ws"]
    with db.write() as s:
        catalog.define_metric(s, a, ws, "x", name="X")
    with pytest.raises(ConflictError), db.write() as s:
        catalog.define_metric(s, a, ws, "x", name="X again")
    with pytest.raises(InvalidInputError, match="numerator_key"), db.write() as s:
        catalog.define_metric(s, a, ws, "r", name="R", aggregation="ratio")
    with pytest.raises(InvalidInputError, match="pairs"), db.write() as s:
        catalog.define_metric(s, a, ws, "t", name="T", thresholds={"green": 1})
    with pytest.raises(InvalidInputError, match="no dimension"), db.write() as s:
        catalog.record_values(s, a, ws, [catalog.ValuePoint("x", NOW, 1.0, {"team": "a"})])


def test_ratio_metric_is_computed_from_its_two_metrics_and_aggregated(db, world):
    a, ws = world["actor"], world["ws"]
    day = datetime(2026, 11, 2, tzinfo=UTC)
    with db.write() as s:
        catalog.define_metric(s, a, ws, "orders", name="Orders", aggregation="sum")
        catalog.define_metric(s, a, ws, "sessions", name="Sessions", aggregation="sum")
        conv = catalog.define_metric(
            s,
            a,
            ws,
            "conv",
            name="Conversion",
            unit="%",
            aggregation="ratio",
            numerator_key="orders",
            denominator_key="sessions",
        )
        catalog.record_values(
            s, a, ws, [catalog.ValuePoint("orders", day + timedelta(days=d), 30 + d) for d in range(9)]
        )
        catalog.record_values(
            s, a, ws, [catalog.ValuePoint("sessions", day + timedelta(days=d), 1000) for d in range(8)]
        )
        first = catalog.compute_ratio(s, a, conv.id, scale=100)
        again = catalog.compute_ratio(s, a, conv.id, scale=100)
    assert (first.created, again.created, again.unchanged) == (8, 0, 8)
    with db.read() as s:
        orders = catalog.metric_by_key(s, a, ws, "orders")
        weeks, sums = catalog.aggregated_series(s, orders, "week")
        assert weeks == [day, day + timedelta(days=7)] and sums == [sum(range(30, 37)), 37 + 38]
        _, conv_weekly = catalog.aggregated_series(s, conv, "week")
        assert conv_weekly[0] == pytest.approx(3.3)  # mean of 3.0 … 3.6
        with pytest.raises(InvalidInputError, match="not a ratio"):
            catalog.compute_ratio(s, a, orders.id)


def test_a_batch_of_many_metrics_with_long_keys_is_audited_on_both_engines(db, world):
    a, ws = world["actor"], world["ws"]
    keys = [f"a.rather.long.metric.key.number.{i:02d}" for i in range(5)]
    with db.write() as s:
        for k in keys:
            catalog.define_metric(s, a, ws, k, name=k)
        report = catalog.record_values(s, a, ws, [catalog.ValuePoint(k, NOW, 1.0) for k in keys])
    assert report.created == 5
    with db.read() as s:
        entry = audit.history(s, a, workspace_id=ws, entity_type="metric_values")[0]
        assert entry.entity_id == "5 metrics" and entry.after["metrics"] == sorted(keys)


def test_headline_series_of_a_metric_recorded_only_per_dimension(db, world):
    a, ws = world["actor"], world["ws"]
    with db.write() as s:
        m = catalog.define_metric(s, a, ws, "deploys", name="Deploys", dimensions=["service"])
        catalog.record_values(
            s,
            a,
            ws,
            [
                catalog.ValuePoint("deploys", NOW - timedelta(days=d), 1.0, {"service": svc})
                for d in range(3)
                for svc in (["checkout", "search"] if d < 2 else ["checkout"])
            ],
        )
        plain = catalog.define_metric(s, a, ws, "plain", name="Plain")
        catalog.record_values(s, a, ws, [catalog.ValuePoint("plain", NOW, 2.0)])
    with db.read() as s:
        assert catalog.headline_dimensions(s, m.id) == {"service": "checkout"}
        assert catalog.headline_dimensions(s, plain.id) == {}
        assert catalog.status(s, m, NOW, catalog.headline_dimensions(s, m.id)).latest_value == 1.0
