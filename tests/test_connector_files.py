"""Generic CSV/JSON files: columns, history from a second file, delivery data, per-line errors, idempotence."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from okrflow.connectors.files import FileFormatError, read_files
from okrflow.domain.errors import InvalidInputError
from okrflow.services import file_import, sources
from okrflow.store.models_delivery import Change, Deployment, Incident
from okrflow.store.models_work import StatusChange, SyncRun, WorkItem

FIX = Path(__file__).parent / "fixtures" / "files"


def test_items_with_history_from_a_second_file():
    batch = read_files({p.name: p.read_text() for p in (FIX / "items.csv", FIX / "status_changes.csv")})
    assert not batch.errors
    s1 = next(r for r in batch.work_items if r.external_id == "S-1")
    assert s1.resolved == datetime(2026, 9, 12, 14, tzinfo=UTC)  # +02:00 converted
    assert s1.created == datetime(2026, 9, 2, 10, tzinfo=UTC)  # no offset: read in the given zone (UTC)
    assert s1.labels == ("frontend", "wallet") and s1.story_points == 3 and s1.parent_external_id == "E-1"
    assert [h.to_status for h in s1.history] == ["In Progress", "In QA", "Done"]


def test_local_timezone_for_naive_timestamps():
    text = "external_id,type,status,created\nX,Story,Done,2026-03-29 02:30\n"
    batch = read_files({"i.csv": text}, timezone="Europe/Berlin")
    assert batch.work_items[0].created.utcoffset().total_seconds() == 0


def test_errors_name_file_and_line():
    text = (
        "external_id,type,status,created,story_points\n"
        "A,Story,Done,2026-09-01,2\nB,Story,Done,yesterday,2\nC,,Done,2026-09-01,x\n"
    )
    batch = read_files({"items.csv": text})
    assert batch.errors == [
        "items.csv: line 3: created 'yesterday' is not an ISO 8601 date or timestamp",
        "items.csv: line 4: type is empty",
    ]
    with pytest.raises(FileFormatError, match="line 1: cannot tell"):
        read_files({"x.csv": "a,b\n1,2\n"})
    with pytest.raises(FileFormatError, match="unknown column 'colour'"):
        read_files({"x.csv": "external_id,type,status,created,colour\n"})
    orphan = read_files({"c.csv": "external_id,at,to_status\nZ,2026-09-01,Done\n"})
    assert orphan.errors == ["status changes for 'Z': no work item with that external id in these files"]


@pytest.fixture
def source_id(db, admin_setup, admin_actor):
    with db.write() as s:
        return sources.create_source(s, admin_actor, admin_setup.workspace_id, "sheet", "files").id


def count(db, model):
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_import_files_end_to_end_and_again(db, admin_actor, source_id):
    files = [FIX / "items.csv", FIX / "status_changes.csv", FIX / "delivery.json"]
    first = file_import.import_files(db, admin_actor, source_id, files)
    assert (first.work.created, first.work.status_changes, first.delivery.created) == (4, 7, 3)
    again = file_import.import_files(db, admin_actor, source_id, files)
    assert (again.work.unchanged, again.delivery.unchanged) == (4, 3)
    assert count(db, WorkItem) == 4 and count(db, StatusChange) == 7
    assert (count(db, Deployment), count(db, Change), count(db, Incident)) == (1, 1, 1)
    with db.read() as s:
        story = s.scalar(select(WorkItem).where(WorkItem.key == "SHOP-2"))
        epic = s.scalar(select(WorkItem).where(WorkItem.key == "SHOP-1"))
        assert story.parent_id == epic.id and story.level == "story" and epic.level == "epic"


def test_a_bad_line_writes_nothing(db, admin_actor, source_id, tmp_path):
    shutil.copy(FIX / "items.csv", tmp_path / "items.csv")
    (tmp_path / "status_changes.csv").write_text(
        (FIX / "status_changes.csv").read_text() + "S-2,not-a-time,In Progress,Done,\n"
    )
    with pytest.raises(InvalidInputError, match=r"status_changes\.csv: line 9"):
        file_import.import_files(db, admin_actor, source_id, [tmp_path / "items.csv", tmp_path / "status_changes.csv"])
    assert count(db, WorkItem) == 0 and count(db, StatusChange) == 0
    with db.read() as s:
        assert s.scalar(select(SyncRun.status)) == "failed"
