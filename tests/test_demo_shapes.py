"""The demo shows what a leader should see at once: a testing bottleneck, aging work, a team with poor flow
efficiency, unaligned work, and services at different delivery speeds."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from sqlalchemy import func, select

from okrflow.metrics.flow import build_segments, item_timings
from okrflow.services import demo, flow_data
from okrflow.store.models import Team
from okrflow.store.models_delivery import Deployment, Incident
from okrflow.store.models_work import WorkItemLink

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory):
    from okrflow.store.db import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OKRFLOW_DEMO_SCALE", "1")  # the full demo, as `okrflow demo` builds it
        summary = demo.build(db, password="demo-password-1", now=NOW)
    assert summary.work_items > 4500  # three teams, two years, through the Jira connector's parser
    with db.read() as s:
        data = flow_data.load(s, 1)
        teams = {t.id: t.slug for t in s.scalars(select(Team))}
    yield db, data, teams, summary
    db.dispose()


@pytest.fixture(scope="module")
def built(demo_build):
    return demo_build[:3]


def test_the_summary_counts_what_the_briefing_counts(demo_build):
    """The summary panel and the briefing under it name the same number of key results (the work step adds one
    on a flow metric after the OKRs are built)."""
    from okrflow.domain.access import SYSTEM_ACTOR
    from okrflow.services import briefing
    from okrflow.store.models_okr import KeyResult

    db, _data, _teams, summary = demo_build
    with db.read() as s:
        assert summary.key_results == s.scalar(select(func.count()).select_from(KeyResult))
        lines = briefing.headlines(s, SYSTEM_ACTOR, 1, now=NOW)
    assert any(
        line.endswith(f"of {summary.key_results} key results are forecast to miss their target") for line in lines
    )
    assert not any("(s)" in line for line in lines)


def test_testing_holds_the_most_waiting_time(built):
    _db, data, _teams = built
    sg = build_segments(data.frames, NOW)
    steps = np.array(sg.step_names)[sg.code]
    waiting = (
        pl.DataFrame({"step": steps, "secs": (sg.end - sg.start) / 1e6, "active": sg.active})
        .filter(~pl.col("active") & ~pl.col("step").is_in(["done", "backlog"]))
        .group_by("step")
        .agg(pl.col("secs").sum())
        .sort("secs", descending=True)
    )
    assert waiting["step"][0] == "testing"


def test_aging_wip_and_the_least_efficient_team(built):
    _db, data, teams = built
    t = item_timings(data.frames, NOW).join(data.items.select("item_id", "team_id", "level"), on="item_id")
    stories = t.filter(pl.col("level") == "story")
    old = stories.filter(pl.col("done_at").is_null() & ((pl.lit(NOW) - pl.col("work_start")).dt.total_days() > 90))
    assert old.height >= 10
    eff = (
        stories.group_by("team_id")
        .agg((pl.col("active_seconds").sum() / pl.col("flow_seconds").sum()).alias("eff"))
        .sort("eff")
    )
    assert teams[eff["team_id"][0]] == "discovery"


def test_some_work_serves_key_results_and_some_does_not(built):
    db, data, _teams = built
    with db.read() as s:
        links = s.scalar(select(func.count()).select_from(WorkItemLink))
    epics = data.items.filter(pl.col("level") == "epic").height
    assert 0 < links < epics


def test_services_ship_at_different_speeds(built):
    db, _data, _teams = built
    with db.read() as s:
        per_service = dict(s.execute(select(Deployment.service, func.count()).group_by(Deployment.service)).all())
        incidents = dict(s.execute(select(Incident.service, func.count()).group_by(Incident.service)).all())
    assert per_service["checkout"] > 10 * per_service["backoffice"]
    assert incidents.get("backoffice", 0) >= 1


def test_the_briefing_names_what_to_look_at_first(built):
    from okrflow.domain.access import SYSTEM_ACTOR
    from okrflow.services import briefing

    db, _data, _teams = built
    with db.read() as s:
        lines = briefing.headlines(s, SYSTEM_ACTOR, 1, now=NOW)
    text = "\n".join(lines)
    assert "forecast to miss" in text and "flow bottleneck" in text and text.count("testing") >= 1
    assert "more than 90 days" in text and "serves no objective" in text
    assert "DORA deployment frequency: " in text and "backoffice low" in text


def test_the_last_quarter_shows_testing_as_the_bottleneck(built):
    from okrflow.domain.access import SYSTEM_ACTOR
    from okrflow.services import flow

    db, _data, _teams = built
    with db.read() as s:
        assert flow.value_stream(s, SYSTEM_ACTOR, 1, now=NOW).map.bottleneck == "testing"


def test_pilots_decisions_outcomes_and_postmortems(built):
    """Two finished pilots (a clear win → scale, a guardrail breach → rollback), one running; ten decisions, one
    superseded; anticipated outcomes achieved, not achieved and due for review; two postmortems with open and
    overdue actions."""
    from okrflow.domain.access import SYSTEM_ACTOR
    from okrflow.services import decisions, outcomes, pilots, retros

    db, _data, _teams = built
    today = NOW.date()
    with db.read() as s:
        found = {p.key: p for p in pilots.list_pilots(s, SYSTEM_ACTOR, 1)}
        assert {k: p.status for k, p in found.items()} == {"P-1": "closed", "P-2": "closed", "P-3": "running"}
        latest = {k: pilots.latest_evaluation(s, SYSTEM_ACTOR, p.id) for k, p in found.items()}
        assert {k: e.action for k, e in latest.items() if e} == {"P-1": "scale", "P-2": "rollback", "P-3": "continue"}
        assert "refund_rate" in latest["P-2"].evidence["numbers"]["breached_guardrails"]
        # every plan has a power analysis; the running one has collected part of the units it needs
        powers = {k: pilots.results(s, SYSTEM_ACTOR, p.id).power for k, p in found.items()}
        assert all(pw is not None and pw.required_units and not pw.underpowered for pw in powers.values())
        running = powers["P-3"]
        assert running is not None and running.basis == "observed" and 0 < running.progress < 1  # type: ignore[operator]
        log = decisions.list_decisions(s, SYSTEM_ACTOR, 1)
        assert len(log) == 10
        assert len(decisions.list_decisions(s, SYSTEM_ACTOR, 1, current_only=True)) == 9
        assert {d.action for d in log if d.pilot_id} == {"scale", "rollback"}
        assert not any(d.overrides_recommendation for d in log)
        assert decisions.decisions_due_for_review(s, SYSTEM_ACTOR, 1, today)
        due = outcomes.outcome_reviews_due(s, SYSTEM_ACTOR, 1, today)
        assert due
        rate = outcomes.realization_rate(s, SYSTEM_ACTOR, 1, start=today.replace(year=today.year - 2), end=today)
        assert rate.achieved and rate.not_achieved and rate.partially and rate.pending
        kinds = [r.kind for r in retros.list_retros(s, SYSTEM_ACTOR, 1)]
        assert kinds.count("postmortem") == 2
        assert all(r.incident_id for r in retros.list_retros(s, SYSTEM_ACTOR, 1, kind="postmortem"))
        overdue = retros.overdue_actions(s, SYSTEM_ACTOR, 1, today)
        assert len(overdue) >= 2 and all(o.action.status == "open" for o in overdue)
