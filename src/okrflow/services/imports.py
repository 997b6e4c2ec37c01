"""Importing work: one sync run writes all of a source's records in one transaction, or nothing.

- **Idempotent:** items are upserted by (source, external id); an item whose content hash is unchanged is not
  touched, and status/field changes are inserted only when new. Re-running the same import changes nothing.
- **All-or-nothing:** every record is validated first; any bad record fails the run with a per-record error
  report and nothing is written. A killed run leaves the database as before it began (one transaction).
- **Reported:** the run row keeps counts, the cursor before/after, errors, and the type and status names the
  mapping does not cover (they are imported with level/flow type unset, never dropped).
- **Audited:** one audit entry per run with its counts (an entry per item would bury the log).
- **Fast:** existing rows are read once per run and written with multi-row INSERT/UPDATE statements.
"""

from __future__ import annotations

import gc
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

from sqlalchemy import and_, bindparam, case, func, null, or_, select, text, update
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import InvalidInputError, NotFoundError, OkrflowError, PermissionDeniedError
from okrflow.domain.work import StatusChangeRecord, StatusHistory, WorkMapping, WorkRecord, check_mapping
from okrflow.services import audit
from okrflow.services.sources import get_source, mapping_for
from okrflow.store import bulk
from okrflow.store.db import Database
from okrflow.store.models_work import FieldChange, Source, StatusChange, SyncRun, WorkItem

Progress = Callable[[str, int, int], None]
CHUNK = 2000


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_resume = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a run builds and writes its rows (up to millions of tuples).

    It would walk every record and row again and again and find no cycle to free (reference counting frees
    them). Nested and concurrent runs share one pause; the collector runs again when the last one ends, if it
    ran before the first one began."""
    global _gc_pausers, _gc_resume
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_resume:
                gc.enable()


@dataclass
class ImportResult:
    run_id: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    status_changes: int = 0
    field_changes: int = 0
    errors: list[str] = field(default_factory=list)
    unmapped_types: list[str] = field(default_factory=list)
    unmapped_statuses: list[str] = field(default_factory=list)
    by_category: list[str] = field(default_factory=list)
    cursor_after: str | None = None
    warnings: list[str] = field(default_factory=list)


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def content_hash(rec: WorkRecord) -> str:
    """SHA-256 of everything an import stores about the record: equal hash, nothing to write.

    Built from plain tuples (not ``dataclasses.asdict``, which deep-copies and is ~10x slower at 1M changes).
    """
    parts = (
        rec.external_id,
        rec.issue_type,
        rec.status,
        _ts(rec.created),
        rec.title,
        rec.key,
        rec.url,
        rec.status_category,
        _ts(rec.resolved),
        _ts(rec.updated),
        rec.parent_external_id,
        rec.labels,
        rec.story_points,
        rec.assignee,
        rec.kr_refs,
        _history_key(rec.history),
        tuple([(f.at.timestamp(), f.field, f.from_value, f.to_value, f.author) for f in rec.field_changes]),
    )
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


_timestamp = datetime.timestamp


def _history_key(history: tuple[StatusChangeRecord, ...] | StatusHistory) -> tuple[Any, ...]:
    """``((at as a POSIX timestamp, to, from, author), …)``: the history's part of :func:`content_hash`."""
    if type(history) is StatusHistory:  # columns: built at C speed, the same tuples
        return tuple(
            zip(map(_timestamp, history.at), history.to_status, history.from_status, history.author, strict=True)
        )
    return tuple([(h.at.timestamp(), h.to_status, h.from_status, h.author) for h in history])


def history_columns(
    history: tuple[StatusChangeRecord, ...] | StatusHistory,
) -> tuple[Sequence[datetime], Sequence[str], Sequence[str], Sequence[str]]:
    """``(at, to_status, from_status, author)`` columns of a history in either form."""
    if type(history) is StatusHistory:
        return history.at, history.to_status, history.from_status, history.author
    h = StatusHistory.from_records(history)
    return h.at, h.to_status, h.from_status, h.author


def validate(records: list[WorkRecord]) -> list[str]:
    """Per-record problems, each naming the record; also duplicate external ids within the run."""
    errors: list[str] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(records, start=1):
        label = f"record {i} ({rec.key or rec.external_id or '?'})"
        for problem in rec.problems():
            errors.append(f"{label}: {problem}")
        if rec.external_id in seen:
            errors.append(
                f"{label}: external id {rec.external_id!r} appears twice (first as record {seen[rec.external_id]})"
            )
        else:
            seen[rec.external_id] = i
    return errors


def _item_row(rec: WorkRecord, mapping: WorkMapping, source: Source, run_id: int, digest: str) -> dict[str, Any]:
    type_rule = mapping.type_rule(rec.issue_type)
    return {
        "workspace_id": source.workspace_id,
        "source_id": source.id,
        "external_id": rec.external_id,
        "key": rec.key,
        "url": rec.url,
        "title": rec.title,
        "issue_type": rec.issue_type,
        "level": type_rule.level.value if type_rule and type_rule.level else None,
        "flow_type": type_rule.flow_type.value if type_rule and type_rule.level else None,
        "status": rec.status,
        "status_category": rec.status_category,
        "parent_external_id": rec.parent_external_id,
        "team_id": source.team_id,
        "created": rec.created,
        "resolved": rec.resolved,
        "updated": rec.updated,
        "labels": list(rec.labels),
        "story_points": rec.story_points,
        "assignee": rec.assignee,
        "content_hash": digest,
        "last_run_id": run_id,
    }


def start_run(db: Database, actor: Actor, source_id: int) -> tuple[int, str | None]:
    """Record that a run starts (its own transaction, so even a failed run leaves a trace)."""
    with db.write() as s:
        src = get_source(s, actor, source_id)
        if not actor.can(Permission.WRITE, src.workspace_id):
            raise PermissionDeniedError("importing work needs the contributor role for the whole workspace")
        # Runs left "running" by a killed process are closed as interrupted: their transaction never committed.
        s.execute(
            update(SyncRun)
            .where(SyncRun.source_id == src.id, SyncRun.status == "running")
            .values(status="failed", finished_at=datetime.now(UTC), errors=["interrupted: nothing was written"])
        )
        run = SyncRun(
            workspace_id=src.workspace_id,
            source_id=src.id,
            cursor_before=src.cursor,
            actor=actor.label,
            status="running",
        )
        s.add(run)
        s.flush()
        return run.id, src.cursor


def _finish_run(db: Database, run_id: int, result: ImportResult, status: str) -> None:
    with db.write() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        run.status = status
        run.finished_at = datetime.now(UTC)
        run.created, run.updated, run.unchanged = result.created, result.updated, result.unchanged
        run.rejected, run.status_changes = result.rejected, result.status_changes
        run.errors = result.errors[:1000]
        run.cursor_after = result.cursor_after
        run.report = {
            "unmapped_types": result.unmapped_types,
            "unmapped_statuses": result.unmapped_statuses,
            "statuses_mapped_by_category": result.by_category,
            "field_changes": result.field_changes,
            "warnings": result.warnings[:1000],
        }


def import_records(
    db: Database,
    actor: Actor,
    source_id: int,
    records: Iterable[WorkRecord],
    *,
    cursor_after: str | None = None,
    progress: Progress = _no_progress,
    status_categories: Mapping[str, str] | None = None,
    warnings: Iterable[str] = (),
) -> ImportResult:
    """Write ``records`` for the source as one sync run. Raises :class:`InvalidInputError` (with ``errors``)
    when any record is bad — then nothing but the failed run row is written.

    ``status_categories`` (status name → the source's category, e.g. Jira's ``/status``) lets the mapping
    report count history statuses mapped through their category fallback instead of as unmapped; ``warnings``
    (what a connector read but kept out, e.g. a negative estimate) are kept in the run's report."""
    run_id, _cursor_before = start_run(db, actor, source_id)
    recs = list(records)
    result = ImportResult(run_id=run_id, cursor_after=cursor_after, warnings=list(warnings))
    problems = validate(recs)
    if problems:
        result.rejected = len({p.split(":", 1)[0] for p in problems})
        result.errors = problems
        _finish_run(db, run_id, result, "failed")
        raise InvalidInputError(
            f"{len(problems)} problem(s) in {result.rejected} record(s); nothing was imported. "
            + "; ".join(problems[:10])
            + (f"; … and {len(problems) - 10} more" if len(problems) > 10 else ""),
            errors=problems,
            run_id=run_id,
        )
    try:
        with gc_paused(), db.write() as s:
            _write(s, actor, source_id, run_id, recs, result, progress, status_categories or {})
    except OkrflowError as exc:
        result.errors = [exc.message]
        _finish_run(db, run_id, ImportResult(run_id=run_id, errors=[exc.message]), "failed")
        raise
    except Exception as exc:
        _finish_run(db, run_id, ImportResult(run_id=run_id, errors=[f"{type(exc).__name__}: {exc}"]), "failed")
        raise
    _finish_run(db, run_id, result, "succeeded")
    return result


def _write(
    s: Session,
    actor: Actor,
    source_id: int,
    run_id: int,
    recs: list[WorkRecord],
    result: ImportResult,
    progress: Progress,
    status_categories: Mapping[str, str],
) -> None:
    src = get_source(s, actor, source_id)
    mapping = mapping_for(src)
    moves: set[tuple[str, str]] = set()
    for r in recs:
        if r.history:
            _, to, frm, _ = history_columns(r.history)
            moves.update(zip(to, frm, strict=True))
    report = check_mapping(
        mapping,
        {r.issue_type for r in recs},
        {(r.status, r.status_category) for r in recs}
        | {(to, status_categories.get(to)) for to, _ in moves}
        # the status an item started in counts toward its flow time too
        | {(frm, status_categories.get(frm)) for _, frm in moves if frm},
    )
    result.unmapped_types = list(report.unmapped_types)
    result.unmapped_statuses = list(report.unmapped_statuses)
    result.by_category = list(report.by_category)

    existing = {
        ext: (item_id, digest)
        for ext, item_id, digest in s.execute(
            select(WorkItem.external_id, WorkItem.id, WorkItem.content_hash).where(WorkItem.source_id == src.id)
        )
    }
    new_rows, changed_rows, touched = [], [], []
    for rec in recs:
        digest = content_hash(rec)
        known = existing.get(rec.external_id)
        if known is None:
            new_rows.append((rec, _item_row(rec, mapping, src, run_id, digest)))
        elif known[1] == digest:
            result.unchanged += 1
        else:
            row = _item_row(rec, mapping, src, run_id, digest)
            row["b_id"] = known[0]
            changed_rows.append((rec, row))
    total = len(new_rows) + len(changed_rows)
    done = 0
    table = WorkItem.__table__
    if new_rows:
        now = datetime.now(UTC)
        # Ids are taken before the insert (the ones the database would give), so that an item's parent id can
        # be written with it when the parent is stored already or comes earlier in this run; the others are
        # linked by _link_parents, as are all the items of earlier runs.
        new_ids = _next_ids(s, len(new_rows))
        by_ext = {ext: known[0] for ext, known in existing.items()}
        item_rows = []
        for (rec, row), item_id in zip(new_rows, new_ids, strict=True):
            parent_ext = rec.parent_external_id
            item_rows.append((item_id, *row.values(), by_ext.get(parent_ext) if parent_ext else None, 1, now, now))
            by_ext[rec.external_id] = item_id
            touched.append((item_id, rec, True))
        columns = ["id", *new_rows[0][1].keys(), "parent_id", "version", "created_at", "updated_at"]
        bulk.insert_rows(s, table, columns, item_rows)
        del item_rows, by_ext
        done += len(new_rows)
        progress("items", done, total)
    if changed_rows:
        # Bind names must differ from column names in a multi-row UPDATE: prefix them with "b_".
        columns = [c for c in changed_rows[0][1] if c != "b_id"]
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                {c: bindparam(f"b_{c}") for c in columns}
                | {"version": table.c.version + 1, "updated_at": bindparam("b_updated_at")}
            )
        )
        for start in range(0, len(changed_rows), CHUNK):
            chunk = changed_rows[start : start + CHUNK]
            now = datetime.now(UTC)
            params = [
                {f"b_{c}": row[c] for c in columns} | {"b_id": row["b_id"], "b_updated_at": now} for _, row in chunk
            ]
            s.execute(stmt.execution_options(synchronize_session=False), params)
            for rec, row in chunk:
                touched.append((row["b_id"], rec, False))
            done += len(chunk)
            progress("items", done, total)
    result.created, result.updated = len(new_rows), len(changed_rows)
    _write_history(s, touched, result, progress)
    _link_parents(s, src.id, run_id)
    if result.created or result.updated:
        src.cursor = result.cursor_after or src.cursor
    elif result.cursor_after:
        src.cursor = result.cursor_after
    audit.record(
        s,
        actor,
        "import",
        "sync_run",
        run_id,
        workspace_id=src.workspace_id,
        after={
            "source": src.name,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "status_changes": result.status_changes,
            "unmapped_types": result.unmapped_types,
            "unmapped_statuses": result.unmapped_statuses,
        },
    )


def _next_ids(s: Session, n: int) -> list[int]:
    """The ids ``n`` new work items get, in order: PostgreSQL's sequence, SQLite's next rowids (the write
    transaction holds the database lock, so nobody else takes them meanwhile)."""
    if s.connection().dialect.name == "postgresql":
        got = s.scalars(
            text("SELECT nextval(pg_get_serial_sequence('work_items', 'id')) FROM generate_series(1, :n)"),
            {"n": n},
        )
        return sorted(got)
    start = s.scalar(select(func.max(WorkItem.id))) or 0
    return list(range(start + 1, start + n + 1))


def _write_history(
    s: Session, touched: list[tuple[int, WorkRecord, bool]], result: ImportResult, progress: Progress
) -> None:
    """Insert the status and field changes not stored yet (new items: all of them)."""
    changed_ids = [item_id for item_id, _, is_new in touched if not is_new]
    have_status: set[tuple[int, datetime, str, str]] = set()
    have_field: set[tuple[int, datetime, str, str]] = set()
    for start in range(0, len(changed_ids), CHUNK):
        ids = changed_ids[start : start + CHUNK]
        have_status |= {
            (i, at, f, t)
            for i, at, f, t in s.execute(
                select(
                    StatusChange.work_item_id, StatusChange.at, StatusChange.from_status, StatusChange.to_status
                ).where(StatusChange.work_item_id.in_(ids))
            )
        }
        have_field |= {
            (i, at, f, t)
            for i, at, f, t in s.execute(
                select(FieldChange.work_item_id, FieldChange.at, FieldChange.field, FieldChange.to_value).where(
                    FieldChange.work_item_id.in_(ids)
                )
            )
        }
    status_rows: list[tuple[Any, ...]] = []
    field_rows: list[tuple[Any, ...]] = []
    # The histories of new items go in as columns (most of a big first run): item id, at, from, to, author.
    new_cols: tuple[list[Any], list[Any], list[Any], list[Any], list[Any]] = ([], [], [], [], [])
    col_ids, col_at, col_from, col_to, col_author = new_cols
    for item_id, rec, is_new in touched:
        history = rec.history
        if is_new and history:
            # A new item has nothing stored yet: without repeated events in the record, every change is new.
            at, to, frm, author = history_columns(history)
            if len(set(zip(at, frm, to, strict=True))) == len(at):
                col_ids.extend(repeat(item_id, len(at)))
                col_at.extend(at)
                col_from.extend(frm)
                col_to.extend(to)
                col_author.extend(author)
                history = ()
        seen: set[tuple[int, datetime, str, str]] = set()
        for h in history:
            k = (item_id, h.at, h.from_status, h.to_status)
            if k in have_status or k in seen:
                continue
            seen.add(k)
            status_rows.append((item_id, h.at, h.from_status, h.to_status, h.author))
        fseen: set[tuple[int, datetime, str, str]] = set()
        for fc in rec.field_changes:
            k = (item_id, fc.at, fc.field, fc.to_value)
            if k in have_field or k in fseen:
                continue
            fseen.add(k)
            field_rows.append((item_id, fc.at, fc.field, fc.from_value, fc.to_value, fc.author))
    status_cols = ("work_item_id", "at", "from_status", "to_status", "author")
    if status_rows:  # the new events of changed items, and those of new items with a repeated event
        for column, values in zip(new_cols, zip(*status_rows, strict=True), strict=True):
            column.extend(values)
    with bulk.deferred_constraints(s, StatusChange.__table__, len(col_ids)):  # PostgreSQL, a big first load
        n_status = bulk.insert_columns(s, StatusChange.__table__, status_cols, new_cols)
    progress("status changes", n_status, n_status)
    field_cols = ("work_item_id", "at", "field", "from_value", "to_value", "author")
    bulk.insert_rows(s, FieldChange.__table__, field_cols, field_rows)
    result.status_changes = n_status
    result.field_changes = len(field_rows)


def _link_parents(s: Session, source_id: int, run_id: int) -> None:
    """Resolve ``parent_external_id`` to ``parent_id`` within the source, for rows where it changed.

    One set-based UPDATE (the parent found through the (source, external id) index), not a statement per row,
    over the rows that can need it: those without a parent id but naming a parent (children stored before their
    parent, in this run or an earlier one) and those this run updated. A new row got its parent id with its
    insert whenever the parent was known; nothing else sets a work item's parent id, and a parent's deletion
    sets its children's to NULL."""
    t = WorkItem.__table__
    parent = t.alias("parent")
    want = case(
        (or_(t.c.parent_external_id.is_(None), t.c.parent_external_id == ""), null()),
        else_=select(parent.c.id)
        .where(parent.c.source_id == source_id, parent.c.external_id == t.c.parent_external_id)
        .scalar_subquery(),
    )
    waiting = and_(t.c.parent_id.is_(None), t.c.parent_external_id.is_not(None), t.c.parent_external_id != "")
    updated_now = and_(t.c.last_run_id == run_id, t.c.version > 1)  # new rows of this run have version 1
    s.execute(
        update(t)
        .where(t.c.source_id == source_id, or_(waiting, updated_now), t.c.parent_id.is_distinct_from(want))
        .values(parent_id=want)
        .execution_options(synchronize_session=False)
    )


def list_runs(session: Session, actor: Actor, source_id: int, limit: int = 50) -> list[SyncRun]:
    get_source(session, actor, source_id)
    return list(
        session.scalars(select(SyncRun).where(SyncRun.source_id == source_id).order_by(SyncRun.id.desc()).limit(limit))
    )


def get_run(session: Session, actor: Actor, run_id: int) -> SyncRun:
    """One sync run, for members of its workspace (others: "does not exist")."""
    run = session.get(SyncRun, run_id)
    if run is None or not actor.is_member_of(run.workspace_id):
        raise NotFoundError(f"sync run {run_id} does not exist")
    return run
