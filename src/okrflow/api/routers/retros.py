"""Retrospectives and blameless postmortems (what happened, impact, contributing factors, learnings; linked to an
incident or a pilot) with owned action items (owner, due date, open → done | dropped, a playbook link), and the
open action items past their due date (JSON or CSV).

Contributors of the retrospective's team (or of the whole workspace) write; members read. Every change is
audited and needs the current ETag in If-Match to be safe from lost updates. "Today" is the server's clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from okrflow.api import tabular
from okrflow.api.deps import (
    MAX_ID,
    CurrentActor,
    IfMatch,
    Paging,
    PathId,
    ReadSession,
    WriteSession,
    created,
    set_etag,
)
from okrflow.api.schemas_pilots import (
    ActionItemCreate,
    ActionItemRead,
    ActionItemUpdate,
    OverdueActionRead,
    RetroKind,
    RetrospectiveCreate,
    RetrospectiveRead,
    RetrospectiveUpdate,
)
from okrflow.services import retros
from okrflow.store.models_pilots import ActionItem, Retrospective

router = APIRouter(tags=["retrospectives"])

OptId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
OVERDUE_COLUMNS = list(OverdueActionRead.model_fields)


def _action(session: Session, a: ActionItem) -> ActionItemRead:
    owner = retros.owner_names(session, [a.owner_person_id]).get(a.owner_person_id or 0, "")
    return ActionItemRead(
        id=a.id,
        retrospective_id=a.retrospective_id,
        title=a.title,
        owner_person_id=a.owner_person_id,
        owner=owner,
        due_on=a.due_on,
        status=a.status,
        playbook_url=a.playbook_url,
        version=a.version,
        created_at=a.created_at,
        updated_at=a.updated_at,
    )


@router.get(
    "/workspaces/{workspace_id}/retrospectives",
    response_model=list[RetrospectiveRead],
    summary="Retrospectives and postmortems, the most recent first; filters kind, team_id, incident_id, pilot_id",
)
def list_retrospectives(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    page: Paging,
    response: Response,
    kind: RetroKind | None = None,
    team_id: OptId = None,
    incident_id: OptId = None,
    pilot_id: OptId = None,
) -> list[Retrospective]:
    found = retros.list_retros(
        session, actor, workspace_id, kind=kind, team_id=team_id, incident_id=incident_id, pilot_id=pilot_id
    )
    return page.apply(response, found)


@router.post(
    "/workspaces/{workspace_id}/retrospectives",
    response_model=RetrospectiveRead,
    status_code=201,
    summary="Record a retrospective or a blameless postmortem (a postmortem states what happened and the impact)",
)
def create_retrospective(
    workspace_id: PathId,
    body: RetrospectiveCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> Retrospective:
    retro = retros.create_retro(session, actor, workspace_id, body.model_dump())
    return created(request, response, "get_retrospective", retro, retrospective_id=retro.id)


@router.get("/retrospectives/{retrospective_id}", response_model=RetrospectiveRead)
def get_retrospective(
    retrospective_id: PathId, actor: CurrentActor, session: ReadSession, response: Response
) -> Retrospective:
    retro = retros.get_retro(session, actor, retrospective_id)
    set_etag(response, retro)
    return retro


@router.patch("/retrospectives/{retrospective_id}", response_model=RetrospectiveRead)
def update_retrospective(
    retrospective_id: PathId,
    body: RetrospectiveUpdate,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> Retrospective:
    retro = retros.update_retro(session, actor, retrospective_id, body.changes(), expected_version=expected)
    set_etag(response, retro)
    return retro


@router.get(
    "/retrospectives/{retrospective_id}/action-items",
    response_model=list[ActionItemRead],
    summary="The action items of a retrospective, oldest first",
)
def list_action_items(
    retrospective_id: PathId, actor: CurrentActor, session: ReadSession, page: Paging, response: Response
) -> list[ActionItemRead]:
    return [_action(session, a) for a in page.apply(response, retros.actions_of(session, actor, retrospective_id))]


@router.post(
    "/retrospectives/{retrospective_id}/action-items",
    response_model=ActionItemRead,
    status_code=201,
    summary="Add an owned action item: title, owner (a person of the workspace), due date, optional playbook link",
)
def create_action_item(
    retrospective_id: PathId,
    body: ActionItemCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> ActionItemRead:
    item = retros.add_action(session, actor, retrospective_id, body.model_dump())
    return created(request, response, "get_action_item", _action(session, item), action_item_id=item.id)


@router.get("/action-items/{action_item_id}", response_model=ActionItemRead)
def get_action_item(
    action_item_id: PathId, actor: CurrentActor, session: ReadSession, response: Response
) -> ActionItemRead:
    item, _retro = retros.get_action(session, actor, action_item_id)
    set_etag(response, item)
    return _action(session, item)


@router.patch(
    "/action-items/{action_item_id}",
    response_model=ActionItemRead,
    summary="Close (status done or dropped), reassign or reschedule an action item",
)
def update_action_item(
    action_item_id: PathId,
    body: ActionItemUpdate,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> ActionItemRead:
    item = retros.update_action(session, actor, action_item_id, body.changes(), expected_version=expected)
    set_etag(response, item)
    return _action(session, item)


@router.get(
    "/workspaces/{workspace_id}/action-items/overdue",
    response_model=list[OverdueActionRead],
    responses=tabular.CSV_RESPONSE,
    summary="Open action items past their due date, the longest overdue first; CSV too",
)
def overdue_action_items(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    response: Response,
    page: Paging,
    team_id: OptId = None,
    format: tabular.Format = None,
) -> Any:
    overdue = retros.overdue_actions(session, actor, workspace_id, datetime.now(UTC), team_id=team_id)
    rows = [
        OverdueActionRead(
            action_item_id=o.action.id,
            title=o.action.title,
            owner_person_id=o.action.owner_person_id,
            owner=o.owner,
            due_on=o.action.due_on,
            days_overdue=o.days_overdue,
            playbook_url=o.action.playbook_url,
            retrospective_id=o.retrospective.id,
            retrospective=o.retrospective.title,
            kind=o.retrospective.kind,
            team_id=o.retrospective.team_id,
        )
        for o in page.apply(response, overdue)
    ]
    if tabular.wants_csv(request, format):
        return tabular.dict_csv([r.model_dump() for r in rows], "overdue-action-items.csv", OVERDUE_COLUMNS)
    return rows
