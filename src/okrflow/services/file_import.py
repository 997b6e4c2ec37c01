"""``okrflow import FILE…``: generic CSV/JSON files into a ``files`` source.

Everything is parsed and validated before anything is written; any problem (with its file and line) fails the
run and writes nothing. Work items go in one sync run, delivery data (deployments, changes, incidents) in a
second one right after it — both are idempotent, so re-running the same files changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from okrflow.connectors.files import FileFormatError
from okrflow.connectors.files.reader import read_paths
from okrflow.domain.access import Actor
from okrflow.domain.errors import InvalidInputError
from okrflow.services import delivery, imports
from okrflow.services.imports import ImportResult, Progress, _finish_run, _no_progress, start_run
from okrflow.store.db import Database


@dataclass
class FileImportResult:
    work: ImportResult | None
    delivery: ImportResult | None


def _fail(db: Database, actor: Actor, source_id: int, errors: list[str]) -> InvalidInputError:
    run_id, _ = start_run(db, actor, source_id)
    _finish_run(db, run_id, ImportResult(run_id=run_id, errors=errors, rejected=len(errors)), "failed")
    shown = "; ".join(errors[:10]) + (f"; … and {len(errors) - 10} more" if len(errors) > 10 else "")
    return InvalidInputError(f"{len(errors)} problem(s); nothing was imported. {shown}", errors=errors, run_id=run_id)


def import_files(
    db: Database,
    actor: Actor,
    source_id: int,
    paths: Iterable[Path],
    *,
    timezone: str = "UTC",
    progress: Progress = _no_progress,
) -> FileImportResult:
    try:
        batch = read_paths(list(paths), timezone)
    except FileFormatError as exc:
        raise _fail(db, actor, source_id, [str(exc)]) from None
    errors = list(batch.errors)
    errors += imports.validate(batch.work_items)
    for kind, recs in (("deployment", batch.deployments), ("change", batch.changes), ("incident", batch.incidents)):
        errors += [f"{kind} {r.external_id or '?'}: {p}" for r in recs for p in r.problems()]
    if errors:
        raise _fail(db, actor, source_id, errors)
    if batch.empty:
        raise _fail(db, actor, source_id, ["the files hold no rows"])
    work = (
        imports.import_records(db, actor, source_id, batch.work_items, progress=progress) if batch.work_items else None
    )
    dlv = None
    if batch.deployments or batch.changes or batch.incidents:
        dlv = delivery.import_delivery(
            db, actor, source_id, deployments=batch.deployments, changes=batch.changes, incidents=batch.incidents
        )
    return FileImportResult(work, dlv)
