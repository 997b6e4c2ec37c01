"""The bulk-load paths of a big import give what the general paths give.

- a status history kept as columns (:class:`StatusHistory`, what the Jira parser builds) reads, compares, hashes,
  pickles and imports exactly as the tuple of :class:`StatusChangeRecord` it stands for;
- SQLite datetime text made column by column equals the value-by-value text;
- rows inserted column by column (SQLite ``executemany``, PostgreSQL binary ``COPY``) read back exactly;
- PostgreSQL's deferred constraints of a big first load re-create every constraint and index as it was, fail the
  run (writing nothing) on a duplicate, and step aside (never wait) when another session holds a lock;
- Jira response bodies decode with orjson, and what orjson refuses with the standard library.
"""

from __future__ import annotations

import pickle
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from okrflow.connectors.jira import client, parser
from okrflow.domain.errors import ConflictError
from okrflow.domain.work import StatusChangeRecord, StatusHistory, WorkRecord
from okrflow.services import imports, sources, sync
from okrflow.store import bulk
from okrflow.store.models_work import StatusChange, WorkItem

T0 = datetime(2026, 9, 1, 9, tzinfo=UTC)

RECORDS = st.lists(
    st.builds(
        StatusChangeRecord,
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
            lambda d: d.replace(tzinfo=UTC)
        ),
        st.sampled_from(["To Do", "In Progress", "Done", "进行中", ""]),
        st.sampled_from(["To Do", "In Progress", "", "a\x01b"]),
        st.sampled_from(["ann", "", "李雷"]),
    ),
    max_size=6,
)


@given(RECORDS)
def test_a_columnar_history_is_the_tuple_of_its_records(records: list[StatusChangeRecord]) -> None:
    rows = tuple(records)
    h = StatusHistory.from_records(records)
    assert h == rows and rows == h and list(h) == records and len(h) == len(rows)
    assert hash(h) == hash(rows)
    assert h == StatusHistory.from_rows([(r.at, r.to_status, r.from_status, r.author) for r in records])
    assert pickle.loads(pickle.dumps(h)) == h
    if records:
        assert h[0] == records[0] and h[-1] == records[-1] and h[1:] == rows[1:]
    a = WorkRecord("1", "Story", "Done", T0, history=rows)
    b = WorkRecord("1", "Story", "Done", T0, history=h)
    assert a == b
    assert imports.content_hash(a) == imports.content_hash(b)


def test_a_columnar_history_equals_what_the_tuple_equals() -> None:
    records = [StatusChangeRecord(T0, "Done")]
    h = StatusHistory.from_records(records)
    assert h == tuple(records) and h != records and StatusHistory.from_records([]) == () != []


def test_the_fetch_progress_passes_through_the_young_collections(monkeypatch) -> None:
    calls: list[tuple[str, int, int]] = []
    collected: list[int] = []
    monkeypatch.setattr(sync.gc, "collect", lambda generation=2: collected.append(generation) or 0)
    tick = sync._young_gc(lambda *a: calls.append(a))
    for n in range(1, 2 * sync.YOUNG_GC_EVERY + 1):
        tick("fetched", n, 0)
    assert len(calls) == 2 * sync.YOUNG_GC_EVERY and collected == [1, 1]
    sync._young_gc(None)("fetched", 1, 0)  # no progress asked for


def test_a_columnar_history_needs_columns_of_one_length() -> None:
    with pytest.raises(ValueError, match="one value per change"):
        StatusHistory([T0], ["Done"], [], [""])


def test_the_jira_parser_builds_columns() -> None:
    issue = {
        "id": "1",
        "key": "K-1",
        "fields": {
            "summary": "s",
            "issuetype": {"name": "Story"},
            "status": {"name": "Done"},
            "created": "2024-01-05T10:15:30.000+0000",
        },
        "changelog": {
            "histories": [
                {
                    "created": "2024-01-06T10:15:30.000+0100",
                    "author": {"displayName": "ann"},
                    "items": [{"field": "status", "from": "1", "to": "2", "fromString": "To Do", "toString": "Done"}],
                }
            ]
        },
    }
    rec = parser.parse_issue(issue, base_url="https://x.atlassian.net", status_names={"2": "Closed"})
    assert isinstance(rec.history, StatusHistory)
    assert rec.history == (StatusChangeRecord(datetime(2024, 1, 6, 9, 15, 30, tzinfo=UTC), "Closed", "To Do", "ann"),)


@given(
    st.lists(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)), max_size=5),
    st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=5, minutes=30))]),
    st.booleans(),
)
def test_sqlite_datetime_columns_are_the_value_by_value_text(at: list[datetime], tz: timezone, none: bool) -> None:
    values: list[datetime | None] = [a.replace(tzinfo=tz) for a in at] + ([None] if none else [])
    assert bulk._sqlite_datetimes(values) == [bulk._sqlite_datetime(v) for v in values]


def test_sqlite_datetime_columns_reject_naive_values() -> None:
    with pytest.raises(ValueError, match="naive"):
        bulk._sqlite_datetimes([T0, datetime(2024, 1, 1)])


def test_response_bodies_decode_with_orjson_and_fall_back_to_the_standard_library() -> None:
    assert client.loads(b'{"issues": [{"id": "1", "fields": {"x": 1.5}}]}') == {
        "issues": [{"id": "1", "fields": {"x": 1.5}}]
    }
    got = client.loads(b'{"a": NaN}')  # orjson refuses it, json reads it
    assert got["a"] != got["a"]
    assert client.loads('"\\ud83d\\ude00 ok"') == "😀 ok"


# ------------------------------------------------------------------ on both engines


@pytest.fixture
def source_id(db, admin_setup, admin_actor):
    with db.write() as s:
        return sources.create_source(s, admin_actor, admin_setup.workspace_id, "jira-cloud", "jira").id


def history(n: int) -> StatusHistory:
    at = [T0 + timedelta(hours=i, microseconds=i) for i in range(n)]
    return StatusHistory(at, [f"S{i}" for i in range(n)], [f"S{i - 1}" if i else "" for i in range(n)], ["李雷"] * n)


def stored(db) -> list[tuple[object, ...]]:
    with db.read() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(
                    WorkItem.external_id,
                    StatusChange.at,
                    StatusChange.from_status,
                    StatusChange.to_status,
                    StatusChange.author,
                )
                .join(WorkItem, WorkItem.id == StatusChange.work_item_id)
                .order_by(WorkItem.external_id, StatusChange.at)
            )
        ]


def expected(records: list[WorkRecord]) -> list[tuple[object, ...]]:
    return sorted((r.external_id, h.at, h.from_status, h.to_status, h.author) for r in records for h in r.history)


def test_columnar_histories_import_and_reimport_as_tuples_do(db, admin_actor, source_id):
    records = [WorkRecord(str(n), "Story", "Done", T0, key=f"K-{n}", history=history(n % 4)) for n in range(1, 9)]
    first = imports.import_records(db, admin_actor, source_id, records)
    assert (first.created, first.status_changes) == (8, sum(n % 4 for n in range(1, 9)))
    assert stored(db) == expected(records)
    as_tuples = [WorkRecord(r.external_id, "Story", "Done", T0, key=r.key, history=tuple(r.history)) for r in records]
    again = imports.import_records(db, admin_actor, source_id, as_tuples)  # the same content hash either way
    assert (again.created, again.updated, again.unchanged, again.status_changes) == (0, 0, 8, 0)


def test_rows_inserted_by_columns_read_back_exactly(db, admin_actor, source_id):
    imports.import_records(db, admin_actor, source_id, [WorkRecord("1", "Story", "Done", T0)])
    at = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with db.write() as s:
        item_id = s.scalar(select(WorkItem.id))
        n = bulk.insert_columns(
            s,
            StatusChange.__table__,
            ("work_item_id", "at", "from_status", "to_status", "author"),
            ([item_id, item_id], [at, T0], ["待办", ""], ["进行中", "Done"], ["李雷", 'it\'s "quoted"\t\\']),
        )
        assert n == 2
        assert bulk.insert_columns(s, StatusChange.__table__, ("work_item_id", "at"), ([], [])) == 0
    with db.read() as s:
        rows = s.execute(
            select(StatusChange.at, StatusChange.from_status, StatusChange.to_status, StatusChange.author).order_by(
                StatusChange.at
            )
        ).all()
        assert [tuple(r) for r in rows] == [(at, "待办", "进行中", "李雷"), (T0, "", "Done", 'it\'s "quoted"\t\\')]
        assert s.scalar(select(func.count()).select_from(StatusChange).where(StatusChange.at > at)) == 1


def test_a_duplicate_in_a_column_insert_is_a_conflict_and_writes_nothing(db, admin_actor, source_id):
    imports.import_records(db, admin_actor, source_id, [WorkRecord("1", "Story", "Done", T0)])
    with pytest.raises(ConflictError), db.write() as s:
        item_id = s.scalar(select(WorkItem.id))
        bulk.insert_columns(
            s,
            StatusChange.__table__,
            ("work_item_id", "at", "from_status", "to_status", "author"),
            ([item_id] * 2, [T0] * 2, [""] * 2, ["Done"] * 2, ["a", "b"]),
        )
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(StatusChange)) == 0


def test_naive_datetimes_are_refused_by_the_column_insert(db, admin_actor, source_id):
    imports.import_records(db, admin_actor, source_id, [WorkRecord("1", "Story", "Done", T0)])
    with pytest.raises(ValueError, match="naive"), db.write() as s:
        item_id = s.scalar(select(WorkItem.id))
        bulk.insert_columns(
            s,
            StatusChange.__table__,
            ("work_item_id", "at", "to_status"),
            ([item_id], [datetime(2024, 1, 1)], ["Done"]),
        )


# ------------------------------------------------------------------ PostgreSQL: deferred constraints


def schema(db) -> tuple[list[tuple[str, str]], list[str]]:
    with db.read() as s:
        cons = s.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'status_changes'::regclass ORDER BY conname"
            )
        ).all()
        idx = s.scalars(
            text("SELECT indexdef FROM pg_indexes WHERE tablename = 'status_changes' ORDER BY indexname")
        ).all()
    return [tuple(c) for c in cons], list(idx)


pg_only = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the deferral is PostgreSQL's alone


@pytest.fixture
def pg(db):
    assert db.backend == "postgresql"
    return db


@pytest.fixture
def small_bulk(monkeypatch):
    monkeypatch.setattr(bulk, "PG_DEFER_MIN_ROWS", 5)
    monkeypatch.setattr(bulk, "_PG_ROW_BYTES", 100_000)  # the shared test database keeps a few pages of old rows


@pg_only
def test_a_big_first_load_defers_and_restores_every_constraint_and_index(pg, admin_actor, source_id, small_bulk):
    before = schema(pg)
    assert any("FOREIGN KEY" in d for _, d in before[0]) and any("UNIQUE" in d for _, d in before[0])
    seen: list[bool] = []
    real = bulk.deferred_constraints

    def spy(*args, **kwargs):
        with real(*args, **kwargs) as deferred:
            seen.append(deferred)
            with pg.engine.connect() as other:  # meanwhile, from outside: the constraints are gone
                other.execute(text("SET lock_timeout = '50ms'"))
                if deferred:
                    with pytest.raises(Exception, match="lock"):
                        other.execute(text("SELECT count(*) FROM status_changes"))
            yield deferred

    import contextlib

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bulk, "deferred_constraints", contextlib.contextmanager(spy))
        records = [WorkRecord(str(n), "Story", "Done", T0, history=history(3)) for n in range(1, 5)]
        result = imports.import_records(pg, admin_actor, source_id, records)
    assert seen == [True] and result.status_changes == 12
    assert schema(pg) == before
    assert stored(pg) == expected(records)
    # a second load into a table that is no longer small relative to it goes the ordinary way
    more = [WorkRecord("9", "Story", "Done", T0, history=history(6))]
    seen.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bulk, "deferred_constraints", contextlib.contextmanager(spy))
        mp.setattr(bulk, "_PG_ROW_BYTES", 1)
        imports.import_records(pg, admin_actor, source_id, more)
    assert seen == [False] and schema(pg) == before


@pg_only
def test_a_duplicate_fails_the_deferred_load_and_writes_nothing(pg, admin_actor, source_id, small_bulk):
    before = schema(pg)
    imports.import_records(pg, admin_actor, source_id, [WorkRecord("1", "Story", "Done", T0)])
    with pytest.raises(ConflictError), pg.write() as s:
        item_id = s.scalar(select(WorkItem.id))
        rows = 6
        with bulk.deferred_constraints(s, StatusChange.__table__, rows) as deferred:
            assert deferred
            bulk.insert_columns(
                s,
                StatusChange.__table__,
                ("work_item_id", "at", "from_status", "to_status", "author"),
                ([item_id] * rows, [T0] * rows, [""] * rows, ["Done"] * rows, [""] * rows),  # six times one event
            )
    assert schema(pg) == before
    with pg.read() as s:
        assert s.scalar(select(func.count()).select_from(StatusChange)) == 0


@pg_only
def test_a_dangling_key_fails_the_deferred_load(pg, admin_actor, source_id, small_bulk):
    before = schema(pg)
    with (
        pytest.raises(ConflictError),
        pg.write() as s,
        bulk.deferred_constraints(s, StatusChange.__table__, 5) as deferred,
    ):
        assert deferred
        bulk.insert_columns(
            s,
            StatusChange.__table__,
            ("work_item_id", "at", "from_status", "to_status", "author"),
            ([987654] * 5, [T0 + timedelta(hours=i) for i in range(5)], [""] * 5, ["Done"] * 5, [""] * 5),
        )
    assert schema(pg) == before


@pg_only
def test_the_deferred_load_steps_aside_when_another_session_holds_a_lock(
    pg, db_url, admin_actor, source_id, small_bulk
):
    url = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as other:
        other.execute("SELECT count(*) FROM status_changes")  # a reader in an open transaction
        seen: list[bool] = []
        done = threading.Event()

        def run() -> None:
            with pg.write() as s, bulk.deferred_constraints(s, StatusChange.__table__, 10) as deferred:
                seen.append(deferred)
                s.execute(select(func.count()).select_from(StatusChange))  # the transaction is still usable
            done.set()

        started = time.monotonic()
        worker = threading.Thread(target=run)
        worker.start()
        assert done.wait(10), "the load waited for the reader (or failed)"
        worker.join()
        other.rollback()
    assert seen == [False] and time.monotonic() - started < 10
