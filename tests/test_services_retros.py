"""Retrospectives and blameless postmortems with owned action items, on both engines."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from okrflow.domain.errors import InvalidInputError, NotFoundError, PermissionDeniedError, StaleVersionError
from okrflow.services import auth, retros, sources, tenancy
from okrflow.store.models import AuditEntry, User
from okrflow.store.models_delivery import Incident

TODAY = date(2026, 5, 20)


@pytest.fixture
def world(db, admin_setup, admin_actor):
    ws = admin_setup.workspace_id
    with db.write() as s:
        team = tenancy.create_team(s, admin_actor, ws, "checkout", "Checkout")
        other = tenancy.create_team(s, admin_actor, ws, "search", "Search")
        ana = tenancy.create_person(s, admin_actor, ws, "Ana Owner", team_id=team.id)
        ben = tenancy.create_person(s, admin_actor, ws, "Ben Builder", team_id=team.id)
        src = sources.create_source(s, admin_actor, ws, "files", "files", team_id=team.id)
    return {"ws": ws, "team": team, "other": other, "ana": ana, "ben": ben, "src": src, "actor": admin_actor}


def incident(db, world):
    with db.write() as s:
        row = Incident(
            workspace_id=world["ws"],
            source_id=world["src"].id,
            external_id="INC-7",
            service="checkout",
            title="Payments down",
            started_at=datetime(2026, 5, 1, 10, tzinfo=UTC),
            resolved_at=datetime(2026, 5, 1, 12, tzinfo=UTC),
        )
        s.add(row)
        s.flush()
        return row.id


def postmortem(s, world, **extra):
    data = {
        "kind": "postmortem",
        "title": "Payments outage on 1 May",
        "held_on": "2026-05-04",
        "team_id": world["team"].id,
        "what_happened": "A config push disabled the card provider for 2 hours.",
        "impact": "12% of checkouts failed; about 3,100 orders lost.",
        "contributing_factors": ["no canary for config pushes", "alert routed to an old channel"],
        "learnings": "Config is code: it goes through the same pipeline.",
    } | extra
    return retros.create_retro(s, world["actor"], world["ws"], data)


def test_postmortem_with_actions_and_overdue_list(db, world):
    inc = incident(db, world)
    a = world["actor"]
    with db.write() as s:
        pm = postmortem(s, world, incident_id=inc)
        late = retros.add_action(
            s,
            a,
            pm.id,
            {
                "title": "Canary for config pushes",
                "owner_person_id": world["ana"].id,
                "due_on": "2026-05-10",
                "playbook_url": "/docs/runbooks/config-rollback",
            },
        )
        later = retros.add_action(
            s, a, pm.id, {"title": "Alert routing test", "owner_person_id": world["ben"].id, "due_on": "2026-05-15"}
        )
        done = retros.add_action(
            s, a, pm.id, {"title": "Write the runbook", "owner_person_id": world["ben"].id, "due_on": "2026-05-01"}
        )
        retros.update_action(s, a, done.id, {"status": "done"}, expected_version=1)
        retros.add_action(
            s, a, pm.id, {"title": "Quarterly game day", "owner_person_id": world["ana"].id, "due_on": "2026-07-01"}
        )
    with db.read() as s:
        assert [r.id for r in retros.list_retros(s, a, world["ws"], incident_id=inc)] == [pm.id]
        assert retros.get_retro(s, a, pm.id).contributing_factors[0] == "no canary for config pushes"
        overdue = retros.overdue_actions(s, a, world["ws"], TODAY)
        assert [(o.action.id, o.owner, o.days_overdue) for o in overdue] == [
            (late.id, "Ana Owner", 10),
            (later.id, "Ben Builder", 5),
        ]
        assert overdue[0].retrospective.title == "Payments outage on 1 May"
        assert retros.overdue_actions(s, a, world["ws"], TODAY, team_id=world["other"].id) == []
        assert len(retros.actions_of(s, a, pm.id)) == 4
        kinds = {e.entity_type for e in s.scalars(select(AuditEntry))}
        assert {"retrospective", "action_item"} <= kinds


def test_validation_messages(db, world):
    a = world["actor"]
    cases = [
        ({"what_happened": ""}, "a postmortem says what happened"),
        ({"impact": " "}, "a postmortem states the impact"),
        ({"kind": "blame-session"}, "kind is one of retrospective, postmortem"),
        ({"held_on": "yesterday"}, "held_on must be a date"),
        ({"title": ""}, "title is required"),
        ({"incident_id": 4242}, "incident 4242 does not exist"),
        ({"pilot_id": "x"}, "pilot_id must be an id"),
        ({"culprit": "Ben"}, "unknown field"),
    ]
    for extra, message in cases:
        with pytest.raises(InvalidInputError, match=message), db.write() as s:
            postmortem(s, world, **extra)
    with db.write() as s:
        retro = retros.create_retro(s, a, world["ws"], {"title": "Q1 retro", "held_on": date(2026, 4, 2)})
        assert retro.kind == "retrospective" and retro.contributing_factors == []
    action_cases = [
        ({"title": "x"}, "an action item has an owner"),
        ({"title": "x", "owner_person_id": world["ana"].id}, "due_on is required"),
        (
            {"title": "x", "owner_person_id": world["ana"].id, "due_on": "2026-06-01", "status": "later"},
            "status is one of",
        ),
        (
            {
                "title": "x",
                "owner_person_id": world["ana"].id,
                "due_on": "2026-06-01",
                "playbook_url": "javascript:alert(1)",
            },
            "playbook_url",
        ),
        ({"title": "x", "owner_person_id": 99999, "due_on": "2026-06-01"}, "person 99999 does not exist"),
    ]
    for data, message in action_cases:
        with pytest.raises(InvalidInputError, match=message), db.write() as s:
            retros.add_action(s, a, retro.id, data)


def test_optimistic_locking_and_no_lost_update(db, world):
    a = world["actor"]
    with db.write() as s:
        pm = postmortem(s, world)
        act = retros.add_action(
            s, a, pm.id, {"title": "Canary", "owner_person_id": world["ana"].id, "due_on": "2026-06-01"}
        )
    with db.write() as s:
        retros.update_retro(s, a, pm.id, {"learnings": "first edit"}, expected_version=1)
    with pytest.raises(StaleVersionError), db.write() as s:
        retros.update_retro(s, a, pm.id, {"learnings": "second edit from an old page"}, expected_version=1)
    with pytest.raises(InvalidInputError, match="a postmortem states the impact"), db.write() as s:
        retros.update_retro(s, a, pm.id, {"impact": ""})
    with pytest.raises(InvalidInputError, match="keeps an owner"), db.write() as s:
        retros.update_action(s, a, act.id, {"owner_person_id": None})
    with db.read() as s:
        assert retros.get_retro(s, a, pm.id).learnings == "first edit"


def test_permissions(db, world, admin_setup):
    a = world["actor"]
    with db.write() as s:
        pm = postmortem(s, world)
        user = tenancy.create_user(s, a, "vera", "a-long-password-1")
        tenancy.create_membership(s, a, world["ws"], user.id, "viewer")
        outsider = tenancy.create_user(s, a, "otto", "a-long-password-1")
    with db.read() as s:
        viewer = auth.actor_for_user(s, s.get(User, user.id))
        stranger = auth.actor_for_user(s, s.get(User, outsider.id))
        assert retros.get_retro(s, viewer, pm.id).id == pm.id
        with pytest.raises(NotFoundError):
            retros.get_retro(s, stranger, pm.id)
    with pytest.raises(PermissionDeniedError, match="contributor role"), db.write() as s:
        retros.add_action(s, viewer, pm.id, {"title": "x", "owner_person_id": world["ana"].id, "due_on": "2026-06-01"})
