"""services.dora on both engines: frames from the store (team from the row, else its source), the window, and
levels per service."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from okrflow.domain.delivery import DeploymentRecord, IncidentRecord
from okrflow.domain.errors import InvalidInputError, NotFoundError
from okrflow.services import delivery, dora, sources, tenancy

MON = datetime(2026, 10, 5, 12, tzinfo=UTC)  # a Monday


@pytest.fixture
def ws(db, admin_setup, admin_actor):
    ws = admin_setup.workspace_id
    with db.write() as s:
        pay = tenancy.create_team(s, admin_actor, ws, "payments", "Payments")
        sub = tenancy.create_team(s, admin_actor, ws, "wallet", "Wallet", parent_id=pay.id)
        other = tenancy.create_team(s, admin_actor, ws, "search", "Search")
        a = sources.create_source(s, admin_actor, ws, "gh-wallet", "github", team_id=sub.id).id
        b = sources.create_source(s, admin_actor, ws, "gh-search", "github", team_id=other.id).id
    # checkout (wallet team): deployments every weekday of two weeks → elite; search: one a week → high
    deps = [
        DeploymentRecord(f"c{d}", "checkout", "production", "success", MON + timedelta(days=d))
        for d in (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)
    ]
    deps.append(DeploymentRecord("staging", "checkout", "staging", "success", MON))  # not production: ignored
    delivery.import_delivery(
        db,
        admin_actor,
        a,
        deployments=deps,
        incidents=[IncidentRecord("i1", "checkout", MON + timedelta(hours=1), resolved_at=MON + timedelta(hours=2))],
    )
    delivery.import_delivery(
        db,
        admin_actor,
        b,
        deployments=[
            DeploymentRecord(f"s{d}", "search", "production", "success", MON + timedelta(days=d)) for d in (0, 7)
        ],
    )
    return {"ws": ws, "pay": pay.id, "other": other.id}


def test_levels_per_service_and_team_from_the_source(db, admin_actor, ws):
    with db.read() as s:
        r = dora.report(s, admin_actor, ws["ws"], since=date(2026, 10, 5), until=date(2026, 10, 18))
        by = {row["service"]: row for row in r.services.iter_rows(named=True)}
        assert by["checkout"]["deployments"] == 10 and by["checkout"]["median_days_per_week"] == 5.0
        assert by["checkout"]["deployment_frequency_level"] == "elite"
        assert by["search"]["deployment_frequency_level"] == "high"
        assert by["checkout"]["change_failure_rate"] == pytest.approx(0.1)
        assert by["checkout"]["change_failure_rate_level"] == "high"
        assert by["checkout"]["median_recovery_time_hours"] == pytest.approx(2.0)
        assert by["checkout"]["recovery_time_level"] == "high"  # 2 h: under a day, not under an hour
        assert r.weekly.height == 4 and r.weekly["week_start"].to_list()[:2] == [date(2026, 10, 5), date(2026, 10, 12)]
        # a team includes its sub-teams: payments ⊃ wallet (the checkout source's team)
        pay = dora.report(
            s, admin_actor, ws["ws"], team_id=ws["pay"], since=date(2026, 10, 5), until=date(2026, 10, 18)
        )
        assert pay.services["service"].to_list() == ["checkout"]
        only = dora.report(
            s, admin_actor, ws["ws"], services=["SEARCH"], since=date(2026, 10, 5), until=date(2026, 10, 18)
        )
        assert only.services["service"].to_list() == ["search"]


def test_window_and_filters_are_checked(db, admin_actor, ws):
    with db.read() as s:
        with pytest.raises(InvalidInputError):
            dora.report(s, admin_actor, ws["ws"], since=date(2026, 10, 5), until=date(2026, 10, 1))
        with pytest.raises(InvalidInputError):
            dora.report(s, admin_actor, ws["ws"], since=date(2000, 1, 1), until=date(2026, 10, 1))
        with pytest.raises(InvalidInputError):
            dora.report(s, admin_actor, ws["ws"], tz="Nowhere/City")
        with pytest.raises(NotFoundError):
            dora.report(s, admin_actor, ws["ws"], team_id=999_999)
        empty = dora.report(s, admin_actor, ws["ws"], since=date(2020, 1, 1), until=date(2020, 1, 31))
        assert {row["deployments"] for row in empty.services.iter_rows(named=True)} == {0}
