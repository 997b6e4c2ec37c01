"""Jira's "Export Excel CSV (all fields)": parsing (dates in the export's zone, repeated Labels columns, epic
links, line numbers in errors) and importing as one all-or-nothing run on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from okrflow.connectors.jira.csv_export import CsvOptions, parse_csv
from okrflow.domain.errors import InvalidInputError
from okrflow.services import sources, sync
from okrflow.store.models_work import StatusChange, SyncRun, WorkItem
from tests.jira_fake import FIXTURES

GOOD = (FIXTURES / "jira" / "export_all_fields.csv").read_text(encoding="utf-8")
BAD = (FIXTURES / "jira" / "export_bad_date.csv").read_text(encoding="utf-8")


def test_export_rows_become_records_in_the_exports_time_zone():
    result = parse_csv(GOOD, CsvOptions(base_url="https://acme.atlassian.net", timezone="Europe/Berlin"))
    assert result.errors == [] and result.warnings == []
    recs = {r.key: r for r in result.records}
    assert list(recs) == ["PAY-1", "PAY-2", "PAY-3", "PAY-4"]
    epic, story, bug, sub = recs["PAY-1"], recs["PAY-2"], recs["PAY-3"], recs["PAY-4"]
    assert epic.created == datetime(2026, 3, 2, 8, 5, tzinfo=UTC)  # 9:05 AM in Berlin (UTC+1 in March)
    assert story.resolved == datetime(2026, 3, 12, 10, 30, tzinfo=UTC)
    assert (story.labels, story.kr_refs, story.story_points) == (("frontend", "okr:KR-12", "payments"), ("KR-12",), 3)
    assert story.parent_external_id == "10001" and bug.parent_external_id == "10001"  # epic link → the epic's id
    assert sub.parent_external_id == "10002" and sub.story_points == 0.5 and sub.assignee is None
    assert (bug.status, bug.status_category, bug.assignee) == ("已完成", "done", "李雷")
    assert story.url == "https://acme.atlassian.net/browse/PAY-2"
    assert all(r.history == () for r in result.records)  # an export has no changelog


def test_errors_name_their_physical_line():
    result = parse_csv(BAD)
    # The header is line 1; PAY-1's description spans lines 2-3, so PAY-2 is on line 4 and PAY-3 on line 5.
    assert result.errors == [
        "line 4 (PAY-2): Created '2026-03-03 10:00' does not match the date format '%d/%b/%y %I:%M %p'",
        "line 5 (PAY-3): story points 'many' is not a number",
    ]
    fixed = BAD.replace("2026-03-03 10:00", "03/Mar/26 10:00 AM").replace(",many", ",8")
    assert parse_csv(fixed).errors == []


def test_a_file_that_is_not_a_jira_export_is_refused():
    assert parse_csv("id,name\n1,x\n").errors[0].startswith("line 1: missing column(s) Issue key, Issue id")


@pytest.fixture
def source_id(db, admin_setup, admin_actor):
    with db.write() as s:
        return sources.create_source(
            s,
            admin_actor,
            admin_setup.workspace_id,
            "jira-export",
            "jira",
            base_url="https://acme.atlassian.net",
            settings={"csv_timezone": "Europe/Berlin"},
            mapping={"statuses": {"已完成": {"step": "done", "stage": "operation"}}},
        ).id


def test_import_an_export_then_again_unchanged(db, admin_actor, source_id):
    first = sync.import_jira_csv(db, admin_actor, source_id, GOOD)
    assert (first.imported.created, first.imported.unmapped_statuses, first.imported.unmapped_types) == (4, [], [])
    second = sync.import_jira_csv(db, admin_actor, source_id, GOOD)
    assert (second.imported.created, second.imported.updated, second.imported.unchanged) == (0, 0, 4)
    with db.read() as s:
        items = {i.key: i for i in s.scalars(select(WorkItem))}
        assert items["PAY-2"].parent_id == items["PAY-1"].id and items["PAY-4"].parent_id == items["PAY-2"].id
        assert (items["PAY-3"].level, items["PAY-3"].flow_type) == ("story", "defect")
        assert s.scalar(select(func.count()).select_from(StatusChange)) == 0


def test_an_export_with_a_bad_line_writes_nothing(db, admin_actor, source_id):
    with pytest.raises(InvalidInputError, match=r"line 4 \(PAY-2\): Created") as exc:
        sync.import_jira_csv(db, admin_actor, source_id, BAD)
    assert len(exc.value.details["errors"]) == 2
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(WorkItem)) == 0
        run = s.scalar(select(SyncRun))
        assert run.status == "failed" and run.errors[0].startswith("line 4 (PAY-2)")
