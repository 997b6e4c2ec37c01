"""Importing work on both engines: idempotent upsert, all-or-nothing runs, history, parents, reports."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from okrflow.domain.errors import ConfigurationError, InvalidInputError
from okrflow.domain.work import StatusChangeRecord, WorkRecord
from okrflow.services import audit, imports, sources
from okrflow.store.models import AuditEntry
from okrflow.store.models_work import Source, StatusChange, SyncRun, WorkItem

T0 = datetime(2026, 9, 1, 9, tzinfo=UTC)


def rec(n: int, status: str = "Done", *, parent: str | None = None, issue_type: str = "Story", **kw) -> WorkRecord:
    history = (
        StatusChangeRecord(T0 + timedelta(days=n), "In Progress", "To Do", "ann"),
        StatusChangeRecord(T0 + timedelta(days=n + 3), status, "In Progress", "bob"),
    )
    return WorkRecord(
        external_id=str(1000 + n),
        key=f"PAY-{n}",
        issue_type=issue_type,
        status=status,
        created=T0,
        title=f"Item {n}",
        parent_external_id=parent,
        history=history,
        **kw,
    )


@pytest.fixture
def source_id(db, admin_setup, admin_actor):
    with db.write() as s:
        return sources.create_source(s, admin_actor, admin_setup.workspace_id, "jira-cloud", "jira").id


def count(db, model) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_import_then_reimport_changes_nothing(db, admin_actor, source_id):
    batch = [rec(0, issue_type="Epic", status="In Progress")] + [rec(i, parent="1000") for i in range(1, 6)]
    first = imports.import_records(db, admin_actor, source_id, batch, cursor_after="2026-09-10T00:00")
    assert (first.created, first.updated, first.unchanged, first.status_changes) == (6, 0, 0, 12)
    with db.read() as s:
        epic = s.scalar(select(WorkItem).where(WorkItem.key == "PAY-0"))
        story = s.scalar(select(WorkItem).where(WorkItem.key == "PAY-3"))
        assert (epic.level, epic.flow_type, story.level, story.parent_id) == ("epic", "feature", "story", epic.id)
        assert s.get(Source, source_id).cursor == "2026-09-10T00:00"
    audit_before = count(db, AuditEntry)
    second = imports.import_records(db, admin_actor, source_id, batch)
    assert (second.created, second.updated, second.unchanged, second.status_changes) == (0, 0, 6, 0)
    assert count(db, WorkItem) == 6 and count(db, StatusChange) == 12
    assert count(db, AuditEntry) == audit_before + 1  # one run entry, no item writes


def test_changed_item_is_updated_and_only_new_history_added(db, admin_actor, source_id):
    imports.import_records(db, admin_actor, source_id, [rec(1, "In Progress")])
    done = rec(1, "Done")
    moved = replace(
        done, history=(done.history[0], StatusChangeRecord(T0 + timedelta(days=9), "Done", "In Progress", "bob"))
    )
    result = imports.import_records(db, admin_actor, source_id, [moved])
    assert (result.updated, result.status_changes) == (1, 1)
    with db.read() as s:
        item = s.scalar(select(WorkItem))
        assert (item.status, item.version) == ("Done", 2)
        assert [c.to_status for c in s.scalars(select(StatusChange).order_by(StatusChange.at))] == [
            "In Progress",
            "In Progress",
            "Done",
        ]


def test_bad_records_write_nothing_and_are_reported_per_record(db, admin_actor, source_id):
    bad = [
        rec(1),
        WorkRecord(external_id="", issue_type="Story", status="Done", created=T0),
        WorkRecord(external_id="9", issue_type="Story", status="Done", created=datetime(2026, 1, 1)),
        rec(1),
    ]
    with pytest.raises(InvalidInputError) as exc:
        imports.import_records(db, admin_actor, source_id, bad)
    errors = exc.value.details["errors"]
    assert any(e.startswith("record 2") and "external id is empty" in e for e in errors)
    assert any(e.startswith("record 3") and "time zone" in e for e in errors)
    assert any(e.startswith("record 4") and "appears twice" in e for e in errors)
    assert count(db, WorkItem) == 0 and count(db, StatusChange) == 0
    with db.read() as s:
        run = s.scalar(select(SyncRun))
        assert run.status == "failed" and run.rejected == 3 and run.errors == errors


def test_a_failure_mid_write_leaves_the_database_as_before(db, admin_actor, source_id, monkeypatch):
    imports.import_records(db, admin_actor, source_id, [rec(1)])

    def boom(*_a, **_k):
        raise RuntimeError("killed")

    monkeypatch.setattr(imports, "_link_parents", boom)
    with pytest.raises(RuntimeError):
        imports.import_records(db, admin_actor, source_id, [rec(1, "Closed"), rec(2), rec(3)])
    assert count(db, WorkItem) == 1 and count(db, StatusChange) == 2
    with db.read() as s:
        runs = s.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert [r.status for r in runs] == ["succeeded", "failed"]
        assert "killed" in runs[1].errors[0]


def test_unmapped_types_and_statuses_are_imported_and_reported(db, admin_actor, source_id):
    result = imports.import_records(
        db, admin_actor, source_id, [rec(1, issue_type="故事", status="已完成"), rec(2, issue_type="Spike")]
    )
    assert result.unmapped_types == ["Spike", "故事"] and "已完成" in result.unmapped_statuses
    with db.read() as s:
        assert {i.level for i in s.scalars(select(WorkItem))} == {None}
        run = s.scalar(select(SyncRun))
        assert run.report["unmapped_types"] == ["Spike", "故事"]


def test_source_mapping_overrides_defaults(db, admin_setup, admin_actor):
    with db.write() as s:
        src = sources.create_source(
            s,
            admin_actor,
            admin_setup.workspace_id,
            "cn",
            "jira",
            mapping={
                "types": {"故事": {"level": "story", "flow_type": "feature"}},
                "statuses": {"已完成": {"step": "done", "stage": "operation"}},
            },
        )
    result = imports.import_records(db, admin_actor, src.id, [rec(1, issue_type="故事", status="已完成")])
    assert result.unmapped_types == [] and "已完成" not in result.unmapped_statuses
    with pytest.raises(InvalidInputError, match="needs level"), db.write() as s:
        sources.update_source(s, admin_actor, src.id, {"mapping": {"types": {"X": {"level": "huge"}}}})


def test_credentials_are_encrypted_and_never_audited(db, admin_setup, admin_actor, monkeypatch):
    monkeypatch.delenv(sources.SECRET_ENV, raising=False)
    with pytest.raises(ConfigurationError, match="OKRFLOW_SECRET_KEY"), db.write() as s:
        sources.create_source(s, admin_actor, admin_setup.workspace_id, "gh", "github", credentials={"token": "t0p"})
    monkeypatch.setenv(sources.SECRET_ENV, Fernet.generate_key().decode())
    with db.write() as s:
        src = sources.create_source(
            s, admin_actor, admin_setup.workspace_id, "gh", "github", credentials={"token": "t0p-secret"}
        )
    with db.read() as s:
        stored = s.get(Source, src.id).credentials
        assert "t0p-secret" not in stored
        assert sources.decrypt_credentials(stored) == {"token": "t0p-secret"}
        entry = audit.history(s, admin_actor, workspace_id=admin_setup.workspace_id, entity_type="source")[0]
        assert "credentials" not in entry.after and "t0p" not in str(entry.after)


def test_bulk_written_rows_read_back_exactly(db, admin_actor, source_id):
    at = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)  # microseconds, around a DST change in Europe
    r = WorkRecord(
        external_id="x1",
        key="CN-1",
        issue_type="Story",
        status="进行中",
        created=at,
        title="Ünïcødé “title”",
        labels=("okr:KR-12", "支付"),
        story_points=2.5,
        assignee="Zoë",
        history=(StatusChangeRecord(at + timedelta(microseconds=1), "进行中", "待办", "李雷"),),
    )
    imports.import_records(db, admin_actor, source_id, [r])
    with db.read() as s:
        item = s.scalar(select(WorkItem))
        change = s.scalar(select(StatusChange))
        assert (item.created, item.labels, item.story_points, item.title) == (at, ["okr:KR-12", "支付"], 2.5, r.title)
        assert (change.at, change.from_status, change.to_status, change.author) == (
            at + timedelta(microseconds=1),
            "待办",
            "进行中",
            "李雷",
        )
        # SQL comparisons on the stored text (SQLite) or timestamptz (PostgreSQL) agree with Python's
        assert s.scalar(select(func.count()).select_from(StatusChange).where(StatusChange.at > at)) == 1


def test_a_new_mapping_rule_applies_to_items_imported_before_it(db, admin_actor, source_id):
    imports.import_records(db, admin_actor, source_id, [rec(1, issue_type="Spike"), rec(2)])
    with db.write() as s:
        sources.update_source(
            s, admin_actor, source_id, {"mapping": {"types": {"Spike": {"level": "task", "flow_type": "risk"}}}}
        )
    with db.read() as s:
        spike = s.scalar(select(WorkItem).where(WorkItem.issue_type == "Spike"))
        assert (spike.level, spike.flow_type) == ("task", "risk")
    # a re-import of the unchanged data keeps the remapped values
    imports.import_records(db, admin_actor, source_id, [rec(1, issue_type="Spike"), rec(2)])
    with db.read() as s:
        assert s.scalar(select(WorkItem.level).where(WorkItem.issue_type == "Spike")) == "task"
