"""Appending to, reading and verifying the audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import instance_state

from okrflow.domain.access import Actor, Permission
from okrflow.domain.audit import GENESIS_HASH, AuditRecord, ChainVerdict, entry_hash, verify_chain
from okrflow.domain.errors import PermissionDeniedError
from okrflow.store.models import AuditEntry

# Columns that never reach the audit log (secrets are stored hashed, but even hashes stay out).
SECRET_COLUMNS = frozenset({"password_hash", "token_hash", "csrf_token", "credentials"})
_PG_AUDIT_LOCK = 0x6F6B72666C6F77  # "okrflow": serialises appends so the chain never forks
_HEAD_KEY = "okrflow_audit_head"


def json_safe(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def snapshot(obj: Any) -> dict[str, Any]:
    """The row's column values as JSON, without secrets: the before/after of an audit entry."""
    mapper = instance_state(obj).mapper
    return {col.key: json_safe(getattr(obj, col.key)) for col in mapper.column_attrs if col.key not in SECRET_COLUMNS}


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: Any,
    *,
    workspace_id: int | None = None,
    before: Any = None,
    after: Any = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry, chained to the last one, inside the caller's transaction.

    The first append of a transaction takes the chain lock (PostgreSQL advisory lock; SQLite write
    transactions hold the database lock already) and reads the head; later appends reuse the head kept in
    ``session.info``, which is dropped on rollback.
    """
    session.flush()
    head = session.info.get(_HEAD_KEY)
    if head is None:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
        last = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
        head = (last[0], last[1]) if last else (0, GENESIS_HASH)
    seq, prev = head[0] + 1, head[1]
    rec = AuditRecord(
        seq=seq,
        at=(at or datetime.now(UTC)).astimezone(UTC),
        actor=actor.label,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        workspace_id=workspace_id,
        before=json_safe(before),
        after=json_safe(after),
        prev_hash=prev,
    )
    entry = AuditEntry(
        seq=rec.seq,
        at=rec.at,
        actor=rec.actor,
        action=rec.action,
        entity_type=rec.entity_type,
        entity_id=rec.entity_id,
        workspace_id=rec.workspace_id,
        before=rec.before,
        after=rec.after,
        prev_hash=rec.prev_hash,
        hash=entry_hash(rec),
    )
    session.add(entry)
    session.flush()
    session.info[_HEAD_KEY] = (entry.seq, entry.hash)
    return entry


@event.listens_for(Session, "after_transaction_end")
def _forget_head(session: Session, transaction: SessionTransaction) -> None:
    # The cached head is valid only inside the transaction that holds the chain lock.
    if transaction.parent is None:
        session.info.pop(_HEAD_KEY, None)


def _as_record(e: AuditEntry) -> AuditRecord:
    return AuditRecord(
        seq=e.seq,
        at=e.at,
        actor=e.actor,
        action=e.action,
        entity_type=e.entity_type,
        entity_id=e.entity_id,
        workspace_id=e.workspace_id,
        before=e.before,
        after=e.after,
        prev_hash=e.prev_hash,
        hash=e.hash,
    )


def verify(session: Session, batch: int = 5000) -> ChainVerdict:
    """Recompute the whole chain in batches; the verdict names the first tampered entry."""

    def records() -> Any:
        after = 0
        while True:
            rows = session.scalars(
                select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(batch)
            ).all()
            if not rows:
                return
            for r in rows:
                yield _as_record(r)
            after = rows[-1].seq
            session.expunge_all()

    return verify_chain(records())


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def history(
    session: Session,
    actor: Actor,
    *,
    workspace_id: int | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[AuditEntry]:
    """Audit entries, newest first. Workspace admins see their workspace; superusers and the CLI see all."""
    if not actor.scope_allows(Permission.READ):
        raise PermissionDeniedError("this token has no read scope")
    if not (actor.is_system or actor.is_superuser) and (
        workspace_id is None or not actor.can(Permission.ADMIN, workspace_id, scope=Permission.READ)
    ):
        raise PermissionDeniedError("reading the audit log needs the admin role in the workspace")
    q = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(max(1, min(limit, 1000)))
    if workspace_id is not None:
        q = q.where(AuditEntry.workspace_id == workspace_id)
    if entity_type:
        q = q.where(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        q = q.where(AuditEntry.entity_id == str(entity_id))
    if before_seq is not None:
        q = q.where(AuditEntry.seq < before_seq)
    return list(session.scalars(q))
