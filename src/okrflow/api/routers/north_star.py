"""Workspace-level OKR views: the north-star metric (admins name it) and the glossary of metrics and terms."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from okrflow.api.deps import CurrentActor, PathId, ReadSession, WriteSession, set_etag
from okrflow.api.schemas_okr import GlossaryEntry, NorthStarRead, NorthStarSet
from okrflow.services import catalog, okr
from okrflow.store.models_okr import Metric

router = APIRouter(tags=["north star and glossary"])


@router.put(
    "/workspaces/{workspace_id}/north-star",
    response_model=NorthStarRead,
    summary="Name the workspace's north-star metric (admins); null clears it",
)
def set_north_star(
    workspace_id: PathId, body: NorthStarSet, actor: CurrentActor, session: WriteSession, response: Response
) -> NorthStarRead:
    ws = okr.set_north_star(session, actor, workspace_id, body.metric_id)
    metric = session.get(Metric, ws.north_star_metric_id) if ws.north_star_metric_id else None
    set_etag(response, ws)
    return NorthStarRead(
        workspace_id=ws.id,
        north_star_metric_id=ws.north_star_metric_id,
        metric_key=metric.key if metric else None,
        version=ws.version,
    )


@router.get(
    "/workspaces/{workspace_id}/glossary",
    response_model=list[GlossaryEntry],
    summary="Every metric definition and domain term; ?q= searches term, key and definition",
)
def glossary(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    q: Annotated[str, Query(max_length=200)] = "",
) -> list[GlossaryEntry]:
    if "\x00" in q:
        q = q.replace("\x00", "")
    return [GlossaryEntry(**e) for e in catalog.glossary(session, actor, workspace_id, q)]
