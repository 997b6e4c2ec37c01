"""Check-ins of a key result (value, confidence 0–10, note): list, create, change, delete — edits and deletions
are audited by the service — and the key results whose check-in is due."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from okrflow.api import okr_views
from okrflow.api.deps import CurrentActor, IfMatch, Paging, PathId, ReadSession, WriteSession, created, set_etag
from okrflow.api.schemas_okr import CheckinCreate, CheckinRead, CheckinUpdate, DueCheckinRead
from okrflow.domain.access import Actor
from okrflow.domain.okr import ConfidenceThresholds
from okrflow.services import okr, tenancy

router = APIRouter(tags=["check-ins"])


def _thresholds(session: Session, actor: Actor, workspace_id: int) -> ConfidenceThresholds:
    return okr.OkrSettings.of(tenancy.get_workspace(session, actor, workspace_id)).confidence


@router.get("/key-results/{key_result_id}/checkins", response_model=list[CheckinRead], summary="Oldest first")
def list_checkins(
    key_result_id: PathId, actor: CurrentActor, session: ReadSession, page: Paging, response: Response
) -> list[CheckinRead]:
    _kr, obj = okr.get_key_result(session, actor, key_result_id)
    thresholds = _thresholds(session, actor, obj.workspace_id)
    return [
        okr_views.checkin(c, thresholds) for c in page.apply(response, okr.list_checkins(session, actor, key_result_id))
    ]


@router.post("/key-results/{key_result_id}/checkins", response_model=CheckinRead, status_code=201)
def create_checkin(
    key_result_id: PathId,
    body: CheckinCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> CheckinRead:
    c = okr.create_checkin(session, actor, key_result_id, **body.model_dump())
    _c, _kr, obj = okr.get_checkin(session, actor, c.id)
    created(request, response, "get_checkin", c, checkin_id=c.id)
    return okr_views.checkin(c, _thresholds(session, actor, obj.workspace_id))


@router.get("/checkins/{checkin_id}", response_model=CheckinRead)
def get_checkin(checkin_id: PathId, actor: CurrentActor, session: ReadSession, response: Response) -> CheckinRead:
    c, _kr, obj = okr.get_checkin(session, actor, checkin_id)
    set_etag(response, c)
    return okr_views.checkin(c, _thresholds(session, actor, obj.workspace_id))


@router.patch("/checkins/{checkin_id}", response_model=CheckinRead)
def update_checkin(
    checkin_id: PathId,
    body: CheckinUpdate,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> CheckinRead:
    c = okr.update_checkin(session, actor, checkin_id, body.changes(), expected_version=expected)
    _c, _kr, obj = okr.get_checkin(session, actor, c.id)
    set_etag(response, c)
    return okr_views.checkin(c, _thresholds(session, actor, obj.workspace_id))


@router.delete("/checkins/{checkin_id}", status_code=204, response_class=Response)
def delete_checkin(checkin_id: PathId, actor: CurrentActor, session: WriteSession, expected: IfMatch) -> Response:
    okr.delete_checkin(session, actor, checkin_id, expected_version=expected)
    return Response(status_code=204)


@router.get(
    "/workspaces/{workspace_id}/checkins-due",
    response_model=list[DueCheckinRead],
    summary="Key results of active objectives in running periods without a check-in for more than N days",
)
def checkins_due(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    page: Paging,
    response: Response,
    days: Annotated[
        int | None, Query(ge=1, le=365, description="Default: the workspace's setting (7 unless changed).")
    ] = None,
) -> list[DueCheckinRead]:
    due = okr.checkins_due(session, actor, workspace_id, days=days)
    return [
        DueCheckinRead(
            key_result_id=d.key_result.id,
            key_result_title=d.key_result.title,
            objective_id=d.objective.id,
            objective_title=d.objective.title,
            team_id=d.objective.team_id,
            last_checkin_at=d.last_checkin_at,
            days_since=d.days_since,
        )
        for d in page.apply(response, due)
    ]
