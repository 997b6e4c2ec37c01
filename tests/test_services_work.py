"""services.work: the filtered, paged list of work items and one item with hierarchy, history and links."""

from __future__ import annotations

import pytest

from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.errors import NotFoundError
from okrflow.services import work
from okrflow.store.db import Database
from tests.test_web_work import WorkWorld, build_world


@pytest.fixture
def world(db: Database, admin_setup) -> WorkWorld:  # type: ignore[no-untyped-def]
    return build_world(db, admin_setup.workspace_id)


def test_list_items_filters_pages_and_links(db: Database, world: WorkWorld) -> None:
    a, ws = SYSTEM_ACTOR, world.workspace_id
    with db.read() as s:
        first = work.list_items(s, a, ws, page=1, per_page=2)
        second = work.list_items(s, a, ws, page=2, per_page=2)
        assert (first.total, first.pages, len(first.rows), len(second.rows)) == (3, 2, 2, 1)
        assert work.list_items(s, a, ws, page=99, per_page=2).page == 2  # clamped to the last page
        keys = [r.item.key for r in first.rows + second.rows]
        assert keys == ["PAY-3", "PAY-2", "PAY-1"]  # newest first
        rows = {r.item.key: r for r in first.rows + second.rows}
        assert [(kr.id, via.key if via else None) for kr, via in rows["PAY-2"].krs] == [(world.kr_id, "PAY-1")]
        assert [(kr.id, via) for kr, via in rows["PAY-1"].krs] == [(world.kr_id, None)]
        assert rows["PAY-3"].krs == [] and rows["PAY-3"].step == "done" and rows["PAY-2"].step == "testing"
        assert rows["PAY-3"].timing.flow_days == pytest.approx(12, abs=0.01)  # in progress 15 d ago, done 3 d ago
        assert rows["PAY-2"].timing.flow_days is None and rows["PAY-2"].timing.age_days == pytest.approx(20, abs=0.01)
        assert rows["PAY-1"].team == "Payments" and rows["PAY-1"].source == "sheet"

        def keys_for(**kw: object) -> list[str]:
            return [r.item.key for r in work.list_items(s, a, ws, work.WorkFilter(**kw)).rows]  # type: ignore[arg-type]

        assert keys_for(unaligned=True) == ["PAY-3"]
        assert keys_for(level="epic") == ["PAY-1"] and keys_for(level="none") == []
        assert keys_for(step="development") == ["PAY-1"] and keys_for(step="unmapped") == []
        assert keys_for(status="READY FOR QA") == ["PAY-2"]
        assert keys_for(q="ledger") == ["PAY-3"] and keys_for(q="%") == ["PAY-3", "PAY-2", "PAY-1"]
        assert keys_for(source_id=world.jira_id) == []
        choices = work.filter_choices(s, a, ws)
        assert choices["steps"] == ["development", "testing", "done"]
        assert choices["statuses"] == ["Done", "In Progress", "Ready for QA"]


def test_item_detail(db: Database, world: WorkWorld) -> None:
    with db.read() as s:
        d = work.item_detail(s, SYSTEM_ACTOR, world.story)
        assert [x.key for x in d.ancestors] == ["PAY-1"] and d.children == [] and d.step == "testing"
        assert [(h.from_status, h.to_status, h.to_step, h.backward) for h in d.history] == [
            ("To Do", "In Progress", "development", False),
            ("In Progress", "Ready for QA", "testing", False),
            ("Ready for QA", "In Progress", "development", True),
            ("In Progress", "Ready for QA", "testing", False),
        ]
        assert [(sv.key_result.id, sv.via.key if sv.via else None) for sv in d.serves] == [(world.kr_id, "PAY-1")]
        epic = work.item_detail(s, SYSTEM_ACTOR, world.epic)
        assert [c.key for c, _ in epic.children] == ["PAY-2"]
        assert epic.serves[0].via is None and epic.serves[0].link is not None
        run, source = work.last_run(s, SYSTEM_ACTOR, world.workspace_id)  # type: ignore[misc]
        assert source == "sheet" and run.status == "succeeded" and run.created == 3
        with pytest.raises(NotFoundError):
            work.item_detail(s, SYSTEM_ACTOR, 999999)
