"""Traceability on both engines: links (manual, from labels, inherited from epics), the matrix, unaligned work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from okrflow.domain.errors import ConflictError
from okrflow.domain.work import StatusChangeRecord, WorkRecord
from okrflow.services import imports, okr, sources, tenancy, traceability
from okrflow.store.models_work import WorkItem

T0 = datetime(2026, 10, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 15, tzinfo=UTC)


def item(ext, typ, *, parent=None, labels=(), start=2, done=None):
    hist = [StatusChangeRecord(T0 + timedelta(days=start), "In Progress", "To Do")]
    if done is not None:
        hist.append(StatusChangeRecord(T0 + timedelta(days=done), "Done", "In Progress"))
    return WorkRecord(
        ext,
        typ,
        "Done" if done is not None else "In Progress",
        T0,
        key=f"PAY-{ext}",
        parent_external_id=parent,
        labels=tuple(labels),
        history=tuple(hist),
    )


@pytest.fixture
def world(db, admin_setup, admin_actor):
    ws = admin_setup.workspace_id
    with db.write() as s:
        team = tenancy.create_team(s, admin_actor, ws, "payments", "Payments")
        other = tenancy.create_team(s, admin_actor, ws, "checkout", "Checkout")
        periods = okr.create_year(s, admin_actor, ws, 2026)
        obj = okr.create_objective(s, admin_actor, ws, periods[4].id, "Faster payments", team_id=team.id)
        kr = okr.create_key_result(s, admin_actor, obj.id, "p95 under 300 ms", "decrease", baseline=800, target=300)
        src = sources.create_source(s, admin_actor, ws, "jira", "jira", team_id=team.id)
        src2 = sources.create_source(s, admin_actor, ws, "jira2", "jira", team_id=other.id)
    imports.import_records(
        db,
        admin_actor,
        src.id,
        [
            item("1", "Epic", labels=(f"okr:KR-{kr.id}",)),
            item("2", "Story", parent="1", done=12),  # inherits the epic's link; 10 days of flow
            item("3", "Story", done=20),  # unaligned; 18 days
            item("4", "Story", labels=("okr:KR-999",)),  # unaligned; names a KR that does not exist
        ],
    )
    imports.import_records(db, admin_actor, src2.id, [item("9", "Story", done=6)])
    return {"ws": ws, "kr": kr, "q4": periods[4], "team": team, "other": other}


def test_links_from_labels_inherit_down_the_tree(db, admin_actor, world):
    with db.write() as s:
        made, problems = traceability.auto_link(s, admin_actor, world["ws"])
    assert made == 1 and problems == ["PAY-4: label 'okr:KR-999' names key result 999, which does not exist"]
    with db.write() as s:
        again, _ = traceability.auto_link(s, admin_actor, world["ws"])
    assert again == 0
    with db.read() as s:
        rows = traceability.matrix(s, admin_actor, world["ws"])
    linked = {(r.item_key, r.via) for r in rows if r.item_key}
    assert linked == {("PAY-1", None), ("PAY-2", "PAY-1")}
    assert all(r.key_result == "p95 under 300 ms" for r in rows)


def test_manual_link_and_unlink(db, admin_actor, world):
    with db.read() as s:
        story = s.scalar(select(WorkItem).where(WorkItem.key == "PAY-3"))
    with db.write() as s:
        traceability.link(s, admin_actor, story.id, world["kr"].id)
    with pytest.raises(ConflictError), db.write() as s:
        traceability.link(s, admin_actor, story.id, world["kr"].id)
    with db.write() as s:
        traceability.unlink(s, admin_actor, story.id, world["kr"].id)
    with db.read() as s:
        assert story.id not in traceability.effective_links(s, world["ws"])


def test_unaligned_share_by_count_and_flow_time(db, admin_actor, world):
    with db.write() as s:
        traceability.auto_link(s, admin_actor, world["ws"])
    with db.read() as s:
        shares = {r.team: r for r in traceability.unaligned_share(s, admin_actor, world["ws"], world["q4"].id, now=NOW)}
    pay = shares["Payments"]
    # stories PAY-2 (aligned, 10 days), PAY-3 (18 days), PAY-4 (in progress since day 2 → 43 days to NOW)
    assert (pay.items, pay.unaligned_items) == (3, 2)
    assert pay.flow_days == pytest.approx(10 + 18 + 43)
    assert pay.share_by_flow_time == pytest.approx((18 + 43) / (10 + 18 + 43))
    assert shares["Checkout"].share_by_count == 1.0
