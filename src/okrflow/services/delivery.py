"""Importing delivery data (deployments, changes, incidents) for DORA, with the same guarantees as work
imports: one all-or-nothing, idempotent sync run, upsert by (source, external id), per-record errors."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import astuple
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor
from okrflow.domain.delivery import ChangeRecord, DeploymentRecord, IncidentRecord
from okrflow.domain.errors import InvalidInputError
from okrflow.services import audit
from okrflow.services.imports import ImportResult, _finish_run, start_run
from okrflow.services.sources import get_source
from okrflow.store.db import Database
from okrflow.store.models_delivery import Change, Deployment, Incident

Record = DeploymentRecord | ChangeRecord | IncidentRecord


def _digest(rec: Record) -> str:
    return hashlib.sha256(repr(astuple(rec)).encode("utf-8", "surrogatepass")).hexdigest()


def _row(rec: Record) -> dict[str, Any]:
    row = {k: (list(v) if isinstance(v, tuple) else v) for k, v in rec.__dict__.items()}
    row["content_hash"] = _digest(rec)
    return row


def _validate(kind: str, recs: Sequence[Record]) -> list[str]:
    errors, seen = [], set()
    for i, rec in enumerate(recs, start=1):
        errors += [f"{kind} {i} ({rec.external_id or '?'}): {p}" for p in rec.problems()]
        if rec.external_id in seen:
            errors.append(f"{kind} {i} ({rec.external_id}): appears twice")
        seen.add(rec.external_id)
    return errors


def _upsert(
    s: Session,
    table: Table,
    source_id: int,
    workspace_id: int,
    team_id: int | None,
    run_id: int,
    recs: Sequence[Record],
) -> tuple[int, int, int]:
    existing = dict(
        s.execute(select(table.c.external_id, table.c.content_hash).where(table.c.source_id == source_id)).all()
    )
    base = {"source_id": source_id, "workspace_id": workspace_id, "team_id": team_id, "last_run_id": run_id}
    new, changed, same = [], [], 0
    for rec in recs:
        row = _row(rec) | base
        old = existing.get(rec.external_id)
        if old is None:
            new.append(row)
        elif old == row["content_hash"]:
            same += 1
        else:
            changed.append(row)
    if new:
        s.execute(insert(table), new)
    if changed:
        cols = [c for c in changed[0] if c not in ("external_id", "source_id")]
        stmt = (
            update(table)
            .where(table.c.source_id == bindparam("b_source_id"), table.c.external_id == bindparam("b_external_id"))
            .values({c: bindparam(f"b_{c}") for c in cols})
        )
        s.execute(
            stmt.execution_options(synchronize_session=False),
            [{f"b_{k}": v for k, v in row.items()} for row in changed],
        )
    return len(new), len(changed), same


def import_delivery(
    db: Database,
    actor: Actor,
    source_id: int,
    *,
    deployments: Sequence[DeploymentRecord] = (),
    changes: Sequence[ChangeRecord] = (),
    incidents: Sequence[IncidentRecord] = (),
    cursor_after: str | None = None,
) -> ImportResult:
    run_id, _ = start_run(db, actor, source_id)
    result = ImportResult(run_id=run_id, cursor_after=cursor_after)
    errors = _validate("deployment", deployments) + _validate("change", changes) + _validate("incident", incidents)
    if errors:
        result.errors, result.rejected = errors, len(errors)
        _finish_run(db, run_id, result, "failed")
        raise InvalidInputError(
            f"{len(errors)} bad record(s); nothing was imported. " + "; ".join(errors[:10]),
            errors=errors,
            run_id=run_id,
        )
    counts: dict[str, tuple[int, int, int]] = {}
    try:
        with db.write() as s:
            src = get_source(s, actor, source_id)
            for name, table, recs in (
                ("deployments", Deployment.__table__, deployments),
                ("changes", Change.__table__, changes),
                ("incidents", Incident.__table__, incidents),
            ):
                counts[name] = _upsert(s, table, src.id, src.workspace_id, src.team_id, run_id, recs)
            if cursor_after:
                src.cursor = cursor_after
            audit.record(
                s,
                actor,
                "import",
                "sync_run",
                run_id,
                workspace_id=src.workspace_id,
                after={"source": src.name}
                | {k: dict(zip(("created", "updated", "unchanged"), v, strict=True)) for k, v in counts.items()},
            )
    except Exception as exc:
        _finish_run(db, run_id, ImportResult(run_id=run_id, errors=[f"{type(exc).__name__}: {exc}"]), "failed")
        raise
    result.created = sum(c[0] for c in counts.values())
    result.updated = sum(c[1] for c in counts.values())
    result.unchanged = sum(c[2] for c in counts.values())
    _finish_run(db, run_id, result, "succeeded")
    return result
