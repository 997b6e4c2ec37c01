"""DORA metrics: hand-checked small cases for every metric and level boundary, Hypothesis properties, and a simple
per-item reference implementation the vectorized lead time and incident attribution must match."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okrflow.domain.delivery import ChangeRecord, DeploymentRecord, IncidentRecord
from okrflow.metrics import dora

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
D = timedelta(days=1)


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours, minutes=minutes)


def dep(
    ext: str,
    finished: datetime | None,
    *,
    service: str = "checkout",
    env: str = "production",
    status: str = "success",
    sha: str | None = None,
    shas: tuple[str, ...] = (),
    started: datetime | None = None,
) -> DeploymentRecord:
    return DeploymentRecord(ext, service, env, status, finished, started, sha, shas)


def chg(
    ext: str,
    created: datetime,
    *,
    service: str = "checkout",
    first_commit: datetime | None = None,
    merged: datetime | None = None,
    merge_sha: str | None = None,
    shas: tuple[str, ...] = (),
    author: str = "ann",
) -> ChangeRecord:
    return ChangeRecord(
        ext, "pull_request", service, created, author=author, first_commit_at=first_commit, merged_at=merged,
        merge_commit_sha=merge_sha, commit_shas=shas,
    )  # fmt: skip


def inc(ext: str, started: datetime, resolved: datetime | None = None, service: str = "checkout") -> IncidentRecord:
    return IncidentRecord(ext, service, started, resolved_at=resolved)


def one_period(start: datetime, end: datetime) -> list[dora.Period]:
    return [dora.Period("p", start, end)]


def by_key(frame: pl.DataFrame, key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in frame.iter_rows(named=True)}


# ------------------------------------------------------------------------------------------------------------------
# Levels (the 2023 table) and their boundaries
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "level"),
    [
        (0, "elite"),
        (dora.DAY_S - 1e-6, "elite"),
        (dora.DAY_S, "high"),  # "less than one day" is elite, exactly one day is not
        (7 * dora.DAY_S, "high"),  # "between one day and one week" includes the week
        (7 * dora.DAY_S + 1, "medium"),
        (30 * dora.DAY_S, "medium"),
        (30 * dora.DAY_S + 1, "low"),
        (400 * dora.DAY_S, "low"),
        (None, None),
    ],
)
def test_lead_time_levels(seconds, level):
    assert dora.classify("lead_time", seconds) == level


@pytest.mark.parametrize(
    ("rate", "level"),
    [
        (0.0, "elite"),
        (0.05, "elite"),
        (0.0501, "high"),
        (0.10, "high"),
        (0.15, "medium"),
        (0.1501, "low"),
        (1.0, "low"),
    ],
)
def test_change_failure_rate_levels(rate, level):
    assert dora.classify("change_failure_rate", rate) == level


@pytest.mark.parametrize(
    ("seconds", "level"),
    [
        (0, "elite"),
        (3599, "elite"),
        (3600, "high"),  # "less than one hour"
        (dora.DAY_S - 1, "high"),
        (dora.DAY_S, "medium"),  # "less than one day" for high
        (7 * dora.DAY_S, "medium"),
        (7 * dora.DAY_S + 1, "low"),
        (None, None),
    ],
)
def test_recovery_time_levels(seconds, level):
    assert dora.classify("recovery_time", seconds) == level


@pytest.mark.parametrize(
    ("per_week", "per_month", "level"),
    [
        (7, 30, "elite"),
        (5, 20, "elite"),
        (4.5, 18, "high"),
        (1, 4, "high"),
        (0.5, 2, "medium"),
        (0, 1, "medium"),
        (0, 0.5, "low"),
        (0, 0, "low"),
        (None, 1, None),
    ],
)
def test_deployment_frequency_levels(per_week, per_month, level):
    assert dora.classify("deployment_frequency", per_week, per_month) == level


def test_the_level_table_is_encoded_once_with_its_source():
    assert set(dora.LEVELS_2023) == {"deployment_frequency", "lead_time", "change_failure_rate", "recovery_time"}
    for levels in dora.LEVELS_2023.values():
        assert tuple(b.level for b in levels.bands) == dora.LEVELS
        assert levels.bands[-1].bound is None and all(b.bound is not None for b in levels.bands[:-1])
    assert "2023" in dora.LEVELS_SOURCE
    assert dora.LEVELS_2023["change_failure_rate"].bands[3].report == "64%"


# ------------------------------------------------------------------------------------------------------------------
# Periods and frames
# ------------------------------------------------------------------------------------------------------------------


def test_calendar_periods():
    months = dora.calendar_periods(datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC), "month")
    assert [p.label for p in months] == ["2024-01", "2024-02", "2024-03"]
    assert months[1].start == datetime(2024, 2, 1, tzinfo=UTC) and months[1].end == datetime(2024, 3, 1, tzinfo=UTC)
    quarters = dora.calendar_periods(datetime(2023, 11, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC), "quarter")
    assert [p.label for p in quarters] == ["2023-Q4", "2024-Q1"]
    weeks = dora.calendar_periods(datetime(2024, 1, 3, tzinfo=UTC), datetime(2024, 1, 9, tzinfo=UTC), "week")
    assert [(p.label, p.start.day) for p in weeks] == [("2024-W01", 1), ("2024-W02", 8)]


def test_periods_and_frames_reject_naive_times():
    with pytest.raises(ValueError, match="time zone"):
        dora.Period("x", datetime(2024, 1, 1), datetime(2024, 2, 1))
    with pytest.raises(ValueError, match="ends before"):
        dora.Period("x", at(1), at(0))
    naive = pl.DataFrame(
        {"deployment_id": ["1"], "service": ["s"], "environment": ["production"], "status": ["success"]}
    ).with_columns(finished_at=pl.lit(datetime(2024, 1, 1)))
    with pytest.raises(ValueError, match="time-zone aware"):
        dora.production_deployments(naive)
    with pytest.raises(ValueError, match="lacks column"):
        dora.production_deployments(naive.drop("status"))


def test_other_time_zones_are_converted_to_utc():
    plus2 = pl.DataFrame(
        {"deployment_id": ["1"], "service": ["s"], "environment": ["Production"], "status": ["SUCCESS"]}
    ).with_columns(finished_at=pl.lit(datetime(2024, 1, 1, 12)).dt.replace_time_zone("Europe/Athens"))
    got = dora.production_deployments(plus2)
    assert got["finished_at"].to_list() == [datetime(2024, 1, 1, 10, tzinfo=UTC)]  # case-insensitive env/status


def test_empty_inputs():
    empty = dora.deployments_frame([])
    period = one_period(at(0), at(7))
    assert dora.deployment_frequency(empty, period).height == 0
    assert dora.change_lead_times(dora.changes_frame([]), empty).height == 0
    assert dora.attribute_incidents(dora.incidents_frame([]), empty).height == 0
    assert dora.change_failure_rate(empty, dora.incidents_frame([]), period).height == 0
    report = dora.dora_report(empty, dora.changes_frame([]), dora.incidents_frame([]), period)
    assert report.height == 0


# ------------------------------------------------------------------------------------------------------------------
# Deployment frequency
# ------------------------------------------------------------------------------------------------------------------


def test_deployment_days_per_week_and_median():
    deps = dora.deployments_frame(
        [
            dep("1", at(0, 9)),  # Mon week 1
            dep("2", at(0, 15)),  # same day: one deployment day, two deployments
            dep("3", at(2, 10)),  # Wed week 1
            dep("4", at(18, 10)),  # Fri week 3
            dep("x", at(3), status="failure"),
            dep("y", at(4), env="staging"),
            dep("z", None),
            dep("5", at(1), service="search"),
        ]
    )
    series = dora.deployment_days(deps, at(0), at(21))
    checkout = series.filter(pl.col("service") == "checkout")
    assert checkout["deployment_days"].to_list() == [2, 0, 1]
    assert checkout["deployments"].to_list() == [3, 0, 1]
    assert series.filter(pl.col("service") == "search")["deployment_days"].to_list() == [1, 0, 0]
    freq = by_key(dora.deployment_frequency(deps, one_period(at(0), at(21))), "service")
    assert freq["checkout"]["deployments"] == 4
    assert freq["checkout"]["deployment_days"] == 3
    assert freq["checkout"]["weeks"] == 3
    assert freq["checkout"]["median_days_per_week"] == 1.0
    assert freq["checkout"]["median_days_per_month"] == 3.0
    assert freq["checkout"]["deployments_per_week"] == pytest.approx(4 / 3)
    assert freq["checkout"]["level"] == "high"
    assert freq["search"]["median_days_per_week"] == 0.0 and freq["search"]["level"] == "medium"


def test_deployment_frequency_elite_medium_low_and_teams():
    daily = [dep(f"d{i}", at(i, 10), service="api") for i in range(28) if i % 7 < 5]  # every working day
    monthly = [dep("m1", at(10), service="batch"), dep("m2", at(40), service="batch")]
    rare = [dep("r1", at(10), service="legacy")]
    deps = dora.deployments_frame(daily + monthly + rare, extra={"team": ["core"] * len(daily) + ["data"] * 3})
    period = one_period(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))
    levels = {r["service"]: r["level"] for r in dora.deployment_frequency(deps, period).iter_rows(named=True)}
    # api deploys every working day for 4 of the 9 weeks that meet January–February: weekly days
    # [5, 5, 5, 5, 0, 0, 0, 0, 0] → median 0; monthly [20, 0] → median 10 → medium. batch: [1, 1] a month.
    assert levels == {"api": "medium", "batch": "medium", "legacy": "low"}
    four_weeks = one_period(at(0), at(28))
    assert by_key(dora.deployment_frequency(deps, four_weeks), "service")["api"]["level"] == "elite"
    per_team = by_key(dora.deployment_frequency(deps, four_weeks, by=["team"]), "team")
    assert per_team["core"]["median_days_per_week"] == 5.0
    assert per_team["data"]["deployments"] == 2  # m1 and r1 (m2 is outside)


def test_deployment_days_use_the_given_time_zone():
    # 23:30 UTC on Sunday and 00:30 UTC on Monday: two UTC days in two ISO weeks; one Berlin day (Monday).
    deps = dora.deployments_frame([dep("1", at(6, 23, 30)), dep("2", at(7, 0, 30))])
    utc = dora.deployment_days(deps, at(0), at(14))
    berlin = dora.deployment_days(deps, at(0), at(14), tz="Europe/Berlin")
    assert utc["deployment_days"].to_list() == [1, 1]
    # In Berlin the period [Jan 1 00:00 UTC, Jan 15 00:00 UTC) ends at 01:00 local on Monday Jan 15, so a third
    # (edge) week meets it.
    assert berlin["deployment_days"].to_list() == [0, 1, 0]
    months = dora.deployment_days(deps, at(0), at(40), every="month")
    assert months["deployment_days"].to_list() == [2, 0]


# ------------------------------------------------------------------------------------------------------------------
# Lead time for changes
# ------------------------------------------------------------------------------------------------------------------


def test_lead_time_and_components_hand_checked():
    changes = dora.changes_frame(
        [chg("c1", at(1), first_commit=at(0), merged=at(2), merge_sha="m1", shas=("a1", "a2"))]
    )
    reviews = dora.reviews_frame([("c1", "ann", at(1, 1)), ("c1", "bob", at(1, 3)), ("c1", "cy", at(1, 2, 30))])
    deployments = dora.deployments_frame([dep("d1", at(3), sha="head", shas=("x", "m1"))])
    row = dora.change_lead_times(changes, deployments, reviews).row(0, named=True)
    assert row["deployment_id"] == "d1" and row["deployed_at"] == at(3)
    assert row["first_review_at"] == at(1, 2, 30)  # the author's own comment (ann, 1h) does not count
    assert row["coding_time"] == D
    assert row["pickup_time"] == timedelta(hours=2, minutes=30)
    assert row["review_time"] == timedelta(hours=21, minutes=30)
    assert row["deploy_time"] == D
    assert row["lead_time"] == 3 * D


def test_which_deployment_contains_a_change():
    changes = dora.changes_frame(
        [
            chg("by-merge", at(0), merge_sha="m1"),
            chg("by-commit", at(0), merge_sha="zz", shas=("c7",)),
            chg("by-head", at(0), merge_sha="h3"),
            chg("staging-only", at(0), merge_sha="s1"),
            chg("other-service", at(0), merge_sha="o1", service="search"),
            chg("never", at(0), merge_sha="nope"),
        ]
    )
    deployments = dora.deployments_frame(
        [
            dep("late", at(9), shas=("m1",)),
            dep("early", at(4), shas=("m1", "c7"), started=at(3)),
            dep("failed", at(1), shas=("m1",), status="failure"),
            dep("head", at(5), sha="h3"),
            dep("stg", at(1), env="staging", shas=("s1",)),
            dep("checkout-has-o1", at(2), shas=("o1",)),
        ]
    )
    got = {
        r["change_id"]: r["deployment_id"] for r in dora.change_lead_times(changes, deployments).iter_rows(named=True)
    }
    assert got == {
        "by-merge": "early",
        "by-commit": "early",
        "by-head": "head",
        "staging-only": None,
        "other-service": None,  # same sha, but deployed by another service
        "never": None,
    }
    anywhere = dora.deployments_of_changes(changes, deployments, scope=None)
    assert by_key(anywhere, "change_id")["other-service"]["deployment_id"] == "checkout-has-o1"


def test_lead_time_edge_cases():
    changes = dora.changes_frame(
        [
            chg("no-commit-time", at(1), merged=at(2), merge_sha="a"),  # starts at creation
            chg("clock-skew", at(1), first_commit=at(10), merge_sha="b"),  # deployed "before" its first commit
            chg("commit-after-open", at(1), first_commit=at(2), merged=at(3), merge_sha="c"),
        ]
    )
    deployments = dora.deployments_frame([dep("d", at(5), shas=("a", "b", "c"))])
    rows = by_key(dora.change_lead_times(changes, deployments), "change_id")
    assert rows["no-commit-time"]["lead_time"] == 4 * D
    assert rows["no-commit-time"]["coding_time"] is None
    assert rows["clock-skew"]["lead_time"] is None  # negative spans are null, never clamped
    assert rows["commit-after-open"]["coding_time"] is None and rows["commit-after-open"]["lead_time"] == 3 * D


def test_reviews_when_the_author_is_unknown_or_absent():
    changes = dora.changes_frame([chg("c", at(0), author=""), chg("d", at(0))])
    reviews = dora.reviews_frame([("c", "x", at(1)), ("d", "ann", at(1))])
    firsts = by_key(dora.first_reviews(changes, reviews), "change_id")
    assert firsts["c"]["first_review_at"] == at(1)  # unknown author: every comment is a review
    assert firsts["d"]["first_review_at"] is None  # only the author commented
    assert dora.first_reviews(changes, None)["first_review_at"].null_count() == 2


def test_lead_time_for_changes_median_per_period_and_level():
    changes = dora.changes_frame(
        [chg(f"c{i}", at(0), first_commit=at(0), merge_sha=f"m{i}") for i in range(4)]
        + [chg("s", at(0), first_commit=at(0), merge_sha="ms", service="search")]
    )
    deployments = dora.deployments_frame(
        [
            dep("d1", at(0, 6), shas=("m0",)),
            dep("d2", at(0, 20), shas=("m1",)),
            dep("d3", at(3), shas=("m2",)),
            dep("d4", at(40), shas=("m3",)),
        ]
    )
    lt = dora.change_lead_times(changes, deployments)
    periods = dora.calendar_periods(at(0), at(45), "month")
    out = {(r["service"], r["period"]): r for r in dora.lead_time_for_changes(lt, periods).iter_rows(named=True)}
    jan = out[("checkout", "2024-01")]
    assert jan["changes"] == 3 and jan["median_lead_time"] == 20 * H and jan["level"] == "elite"
    feb = out[("checkout", "2024-02")]
    assert feb["changes"] == 1 and feb["median_lead_time"] == 40 * D and feb["level"] == "low"
    assert out[("search", "2024-01")]["changes"] == 0 and out[("search", "2024-01")]["level"] is None


# ------------------------------------------------------------------------------------------------------------------
# Change failure rate and recovery
# ------------------------------------------------------------------------------------------------------------------


def test_attribution_hand_checked():
    deployments = dora.deployments_frame(
        [
            dep("d1", at(1)),
            dep("d2", at(2)),
            dep("d2b", at(2), started=at(1, 23)),  # same finish as d2, started later → preferred
            dep("bad", at(3), status="failure"),
            dep("stg", at(3), env="staging"),
            dep("other", at(3), service="search"),
        ]
    )
    incidents = dora.incidents_frame(
        [
            inc("i0", at(0)),
            inc("i1", at(1)),
            inc("i2", at(3, 5)),
            inc("i3", at(1, 12)),
            inc("s", at(4), service="search"),
        ]
    )
    att = by_key(dora.attribute_incidents(incidents, deployments), "incident_id")
    assert att["i0"]["deployment_id"] is None  # nothing deployed before it
    assert att["i1"]["deployment_id"] == "d1"  # finished exactly when the incident started: counts
    assert att["i3"]["deployment_id"] == "d1"
    assert att["i2"]["deployment_id"] == "d2b"  # failure, staging and other services are skipped
    assert att["s"]["deployment_id"] == "other"
    assert list(dora.attribute_incidents(incidents, deployments)["incident_id"]) == ["i0", "i1", "i2", "i3", "s"]


def test_change_failure_rate_hand_checked():
    deployments = dora.deployments_frame(
        [dep("d1", at(1)), dep("d2", at(2)), dep("d3", at(3)), dep("d4", at(4)), dep("e1", at(40))]
    )
    incidents = dora.incidents_frame([inc("i1", at(2, 1)), inc("i2", at(2, 5)), inc("i3", at(45))])
    periods = dora.calendar_periods(at(0), at(59), "month")
    out = {r["period"]: r for r in dora.change_failure_rate(deployments, incidents, periods).iter_rows(named=True)}
    assert (out["2024-01"]["deployments"], out["2024-01"]["failed_deployments"]) == (4, 1)  # two incidents, one deploy
    assert out["2024-01"]["change_failure_rate"] == 0.25 and out["2024-01"]["level"] == "low"
    assert out["2024-02"]["change_failure_rate"] == 1.0
    none = dora.change_failure_rate(deployments, dora.incidents_frame([]), periods)
    assert none["change_failure_rate"].to_list() == [0.0, 0.0] and none["level"].to_list() == ["elite", "elite"]
    march = dora.change_failure_rate(deployments, incidents, one_period(at(61), at(90)))
    assert march["deployments"].to_list() == [0] and march["change_failure_rate"].to_list() == [None]


def test_recovery_time_hand_checked():
    deployments = dora.deployments_frame([dep("d1", at(1)), dep("d2", at(5))])
    incidents = dora.incidents_frame(
        [
            inc("i1", at(1, 0, 10), resolved=at(1, 0, 40)),  # 40 min after d1 finished; restored in 30 min
            inc("i2", at(5, 2), resolved=at(5, 3)),  # 3 h after d2
            inc("i3", at(6), resolved=None),  # unresolved: not counted
            inc("i4", at(0), resolved=at(0, 1)),  # before any deployment: restore time only
        ]
    )
    per = by_key(dora.incident_recovery(incidents, deployments), "incident_id")
    assert per["i1"]["recovery_time"] == timedelta(minutes=40) and per["i1"]["time_to_restore"] == timedelta(minutes=30)
    assert per["i4"]["recovery_time"] is None and per["i4"]["time_to_restore"] == H
    row = dora.failed_deployment_recovery_time(incidents, deployments, one_period(at(0), at(30))).row(0, named=True)
    assert row["incidents"] == 2
    assert row["median_recovery_time"] == timedelta(minutes=110)  # median of 40 min and 3 h
    assert row["median_time_to_restore"] == H  # median of 30 min, 1 h, 1 h
    assert row["level"] == "high"


def test_scope_by_project_and_the_combined_report():
    deployments = dora.deployments_frame(
        [dep("a1", at(1), service="api", shas=("m",)), dep("w1", at(2), service="web")],
        extra={"project": ["shop", "shop"]},
    )
    incidents = dora.incidents_frame([inc("i", at(2, 1), at(2, 2), service="api")], extra={"project": ["shop"]})
    by_service = dora.attribute_incidents(incidents, deployments)
    by_project = dora.attribute_incidents(incidents, deployments, scope="project")
    assert by_service["deployment_id"].to_list() == ["a1"]
    assert by_project["deployment_id"].to_list() == ["w1"]  # the project's last deployment
    changes = dora.changes_frame([chg("c", at(0), first_commit=at(0), merge_sha="m", service="api")])
    report = dora.dora_report(deployments, changes, incidents, one_period(at(0), at(7)))
    rows = by_key(report, "service")
    assert set(rows) == {"api", "web"}
    assert rows["api"]["median_lead_time"] == D and rows["api"]["change_failure_rate"] == 1.0
    assert rows["api"]["median_recovery_time"] == timedelta(days=1, hours=2)
    assert rows["web"]["change_failure_rate"] == 0.0 and rows["web"]["lead_time_level"] is None
    assert {"deployment_frequency_level", "lead_time_level", "change_failure_rate_level", "recovery_time_level"} <= set(
        report.columns
    )


# ------------------------------------------------------------------------------------------------------------------
# Properties and the per-item reference
# ------------------------------------------------------------------------------------------------------------------

SHAS = [f"s{i}" for i in range(8)]
SERVICES = ["a", "b"]
minutes_st = st.integers(min_value=0, max_value=60 * 24 * 20)


@st.composite
def deployments_st(draw: st.DrawFn) -> list[DeploymentRecord]:
    n = draw(st.integers(min_value=0, max_value=12))
    out = []
    for i in range(n):
        finished = draw(st.one_of(st.none(), minutes_st.map(lambda m: at(minutes=m))))
        started = draw(st.one_of(st.none(), st.just(finished - H) if finished else st.none()))
        out.append(
            dep(
                f"d{i}",
                finished,
                service=draw(st.sampled_from(SERVICES)),
                env=draw(st.sampled_from(["production", "staging"])),
                status=draw(st.sampled_from(["success", "success", "failure"])),
                sha=draw(st.one_of(st.none(), st.sampled_from(SHAS))),
                shas=tuple(draw(st.lists(st.sampled_from(SHAS), max_size=3, unique=True))),
                started=started,
            )
        )
    return out


@st.composite
def changes_st(draw: st.DrawFn) -> list[ChangeRecord]:
    n = draw(st.integers(min_value=0, max_value=10))
    return [
        chg(
            f"c{i}",
            at(minutes=draw(minutes_st)),
            service=draw(st.sampled_from(SERVICES)),
            first_commit=draw(st.one_of(st.none(), minutes_st.map(lambda m: at(minutes=m)))),
            merge_sha=draw(st.one_of(st.none(), st.sampled_from(SHAS))),
            shas=tuple(draw(st.lists(st.sampled_from(SHAS), max_size=2, unique=True))),
        )
        for i in range(n)
    ]


@st.composite
def incidents_st(draw: st.DrawFn) -> list[IncidentRecord]:
    n = draw(st.integers(min_value=0, max_value=10))
    out = []
    for i in range(n):
        start = draw(minutes_st)
        resolved = draw(st.one_of(st.none(), st.integers(0, 5000).map(lambda m, s=start: at(minutes=s + m))))
        out.append(inc(f"i{i}", at(minutes=start), resolved, service=draw(st.sampled_from(SERVICES))))
    return out


def _prod(deps: list[DeploymentRecord]) -> list[DeploymentRecord]:
    return [d for d in deps if d.status == "success" and d.environment == "production" and d.finished_at]


def reference_lead_times(changes: list[ChangeRecord], deps: list[DeploymentRecord]) -> dict[str, tuple[Any, Any]]:
    """Per change: (deployment id, lead time) — one change and one deployment at a time."""
    out: dict[str, tuple[Any, Any]] = {}
    for c in changes:
        mine = {s for s in (c.merge_commit_sha, *c.commit_shas) if s}
        hits = [
            d for d in _prod(deps) if d.service == c.service and (d.commit_sha in mine or mine & set(d.commit_shas))
        ]
        if not hits:
            out[c.external_id] = (None, None)
            continue
        first = min(hits, key=lambda d: (d.finished_at, d.started_at is None, d.started_at or T0, d.external_id))
        assert first.finished_at is not None
        span = first.finished_at - (c.first_commit_at or c.created_at)
        out[c.external_id] = (first.external_id, span if span >= timedelta(0) else None)
    return out


def reference_attribution(incidents: list[IncidentRecord], deps: list[DeploymentRecord]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in incidents:
        before = [d for d in _prod(deps) if d.service == i.service and d.finished_at and d.finished_at <= i.started_at]
        last = max(
            before,
            key=lambda d: (d.finished_at, d.started_at is not None, d.started_at or T0, d.external_id),
            default=None,
        )
        out[i.external_id] = last.external_id if last else None
    return out


@settings(max_examples=150, deadline=None)
@given(changes=changes_st(), deps=deployments_st())
def test_lead_time_matches_the_per_item_reference(changes, deps):
    got = dora.change_lead_times(dora.changes_frame(changes), dora.deployments_frame(deps))
    ours = {r["change_id"]: (r["deployment_id"], r["lead_time"]) for r in got.iter_rows(named=True)}
    assert ours == reference_lead_times(changes, deps)
    assert all(v is None or v >= timedelta(0) for v in got["lead_time"].to_list())
    for col in ("coding_time", "pickup_time", "review_time", "deploy_time"):
        assert all(v is None or v >= timedelta(0) for v in got[col].to_list())


@settings(max_examples=150, deadline=None)
@given(incidents=incidents_st(), deps=deployments_st())
def test_attribution_matches_the_reference_and_its_properties(incidents, deps):
    got = dora.attribute_incidents(dora.incidents_frame(incidents), dora.deployments_frame(deps))
    assert got.height == len(incidents)  # each incident at most one deployment (one row each)
    assert dict(zip(got["incident_id"], got["deployment_id"], strict=True)) == reference_attribution(incidents, deps)
    by_id = {d.external_id: d for d in deps}
    for r in got.iter_rows(named=True):
        if r["deployment_id"] is not None:
            d = by_id[r["deployment_id"]]
            assert d.finished_at == r["deployment_finished_at"] <= r["started_at"]
            assert d.service == r["service"] and d.status == "success" and d.environment == "production"


@settings(max_examples=60, deadline=None)
@given(incidents=incidents_st(), deps=deployments_st())
def test_change_failure_rate_is_a_fraction_and_recovery_is_not_negative(incidents, deps):
    periods = dora.calendar_periods(at(0), at(25), "week")
    d, i = dora.deployments_frame(deps), dora.incidents_frame(incidents)
    cfr = dora.change_failure_rate(d, i, periods)
    rates = [r for r in cfr["change_failure_rate"].to_list() if r is not None]
    assert all(0.0 <= r <= 1.0 for r in rates)
    assert (cfr["failed_deployments"] <= cfr["deployments"]).all()
    assert cfr["deployments"].sum() == len([x for x in _prod(deps) if x.finished_at and x.finished_at < at(28)])
    rec = dora.incident_recovery(i, d)
    assert all(v is None or v >= timedelta(0) for v in rec["recovery_time"].to_list())
    freq = dora.deployment_frequency(d, periods)
    assert (freq["deployment_days"] <= freq["deployments"]).all()
