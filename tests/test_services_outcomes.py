"""Anticipated vs actual outcomes on both engines: reviews due and the realization rate."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from okrflow.domain.errors import InvalidInputError
from okrflow.domain.work import WorkRecord
from okrflow.services import imports, outcomes, sources, tenancy
from okrflow.store.models_work import WorkItem

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def initiative(ext, *, done=None, typ="Initiative"):
    resolved = datetime(2026, 2, done, tzinfo=UTC) if done else None
    return WorkRecord(ext, typ, "Done" if done else "In Progress", T0, key=f"INI-{ext}", resolved=resolved)


@pytest.fixture
def world(db, admin_setup, admin_actor):
    ws = admin_setup.workspace_id
    with db.write() as s:
        team = tenancy.create_team(s, admin_actor, ws, "checkout", "Checkout")
        src = sources.create_source(s, admin_actor, ws, "files", "files", team_id=team.id)
    records = [initiative(str(k), done=k) for k in range(1, 6)] + [
        initiative("6"),
        initiative("7", typ="Story", done=3),
    ]
    imports.import_records(db, admin_actor, src.id, records)
    with db.read() as s:
        items = {i.key: i.id for i in s.scalars(select(WorkItem))}
    return {"ws": ws, "team": team, "items": items, "actor": admin_actor}


def anticipate(s, world, key, by):
    return outcomes.set_anticipated_outcome(
        s,
        world["actor"],
        world["items"][key],
        problem="people abandon the cart",
        expected_result="more completed checkouts",
        measured_by="weekly conversion from the warehouse",
        metric_key="checkout_conversion",
        target=0.12,
        by_date=by,
        how_we_learn="pilot P-1, then the monthly review",
    )


def test_outcomes_due_and_realization_rate(db, world):
    a = world["actor"]
    with db.write() as s:
        for key in ("INI-1", "INI-2", "INI-3", "INI-4", "INI-6"):
            anticipate(s, world, key, date(2026, 4, 1))
        anticipate(s, world, "INI-5", date(2026, 9, 1))  # delivered, but its by-date is still ahead
        outcomes.record_actual_outcome(
            s, a, world["items"]["INI-1"], result="achieved", observed_on=date(2026, 4, 2), observed_value=0.125
        )
        outcomes.record_actual_outcome(
            s,
            a,
            world["items"]["INI-2"],
            result="not_achieved",
            observed_on=date(2026, 4, 2),
            learning="the step was not the problem",
        )
        item = s.get(WorkItem, world["items"]["INI-1"])
        assert item.anticipated_outcome["by_date"] == "2026-04-01" and item.anticipated_outcome["target"] == 0.12
    with db.read() as s:
        due = outcomes.outcome_reviews_due(s, a, world["ws"], date(2026, 5, 1))
        assert [i.key for i in due] == ["INI-3", "INI-4"]  # INI-5 not yet due, INI-6 not delivered
        assert outcomes.outcome_reviews_due(s, a, world["ws"], date(2026, 3, 1)) == []
        rate = outcomes.realization_rate(
            s, a, world["ws"], start=date(2026, 2, 1), end=date(2026, 2, 28), team_id=world["team"].id
        )
        assert (rate.delivered, rate.achieved, rate.not_achieved, rate.pending) == (5, 1, 1, 3)
        assert rate.rate == pytest.approx(1 / 5)
        empty = outcomes.realization_rate(s, a, world["ws"], start=date(2026, 3, 1), end=date(2026, 3, 31))
        assert empty.delivered == 0 and empty.rate is None
    with db.write() as s:  # recording again updates the one actual outcome
        again = outcomes.record_actual_outcome(
            s, a, world["items"]["INI-3"], result="achieved", observed_on="2026-05-02"
        )
        outcomes.record_actual_outcome(
            s, a, world["items"]["INI-3"], result="partially", observed_on="2026-05-03", expected_version=again.version
        )
    with db.read() as s:
        rate = outcomes.realization_rate(s, a, world["ws"], start=date(2026, 2, 1), end=date(2026, 2, 28))
        assert (rate.achieved, rate.partially, rate.pending) == (1, 1, 2)


def test_outcome_validation(db, world):
    a = world["actor"]
    with pytest.raises(InvalidInputError, match="outcomes belong to initiatives and epics"), db.write() as s:
        anticipate(s, world, "INI-7", date(2026, 4, 1))
    with pytest.raises(InvalidInputError, match="no anticipated outcome"), db.write() as s:
        outcomes.record_actual_outcome(s, a, world["items"]["INI-1"], result="achieved", observed_on=date(2026, 4, 2))
    with db.write() as s:
        anticipate(s, world, "INI-1", date(2026, 4, 1))
    with pytest.raises(InvalidInputError, match="result is one of"), db.write() as s:
        outcomes.record_actual_outcome(s, a, world["items"]["INI-1"], result="great", observed_on=date(2026, 4, 2))
    with pytest.raises(InvalidInputError, match="by_date must be a date"), db.write() as s:
        anticipate(s, world, "INI-1", "soon")
