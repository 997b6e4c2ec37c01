"""``/audit``: the audit log, newest first (workspace admins for their workspace; superusers for all)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from okrflow.api.deps import MAX_ID, CurrentActor, ReadSession
from okrflow.api.schemas import AuditEntryRead
from okrflow.services import audit
from okrflow.store.models import AuditEntry

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[AuditEntryRead], summary="Read the audit log (admins)")
def list_audit(
    actor: CurrentActor,
    session: ReadSession,
    workspace_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Required unless superuser.")] = None,
    entity_type: Annotated[str | None, Query(pattern=r"^[a-z_]{1,64}$")] = None,
    entity_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:@-]{1,64}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Page back: entries older than this.")] = None,
) -> list[AuditEntry]:
    return audit.history(
        session,
        actor,
        workspace_id=workspace_id,
        entity_type=entity_type,
        entity_id=entity_id,
        limit=limit,
        before_seq=before_seq,
    )
