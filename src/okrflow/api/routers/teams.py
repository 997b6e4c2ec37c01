"""Teams of a workspace (nested): list, create and delete (admins), read (members), change (team contributors)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from okrflow.api.deps import CurrentActor, IfMatch, Paging, PathId, ReadSession, WriteSession, created, set_etag
from okrflow.api.schemas import TeamCreate, TeamRead, TeamUpdate
from okrflow.services import tenancy
from okrflow.store.models import Team

router = APIRouter(tags=["teams"])


@router.get("/workspaces/{workspace_id}/teams", response_model=list[TeamRead])
def list_teams(
    workspace_id: PathId, actor: CurrentActor, session: ReadSession, page: Paging, response: Response
) -> list[Team]:
    return page.apply(response, tenancy.list_teams(session, actor, workspace_id))


@router.post("/workspaces/{workspace_id}/teams", response_model=TeamRead, status_code=201)
def create_team(
    workspace_id: PathId,
    body: TeamCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> Team:
    team = tenancy.create_team(session, actor, workspace_id, **body.model_dump())
    return created(request, response, "get_team", team, team_id=team.id)


@router.get("/teams/{team_id}", response_model=TeamRead)
def get_team(team_id: PathId, actor: CurrentActor, session: ReadSession, response: Response) -> Team:
    team = tenancy.get_team(session, actor, team_id)
    set_etag(response, team)
    return team


@router.patch("/teams/{team_id}", response_model=TeamRead)
def update_team(
    team_id: PathId, body: TeamUpdate, actor: CurrentActor, session: WriteSession, expected: IfMatch, response: Response
) -> Team:
    team = tenancy.update_team(session, actor, team_id, body.changes(), expected_version=expected)
    set_etag(response, team)
    return team


@router.delete("/teams/{team_id}", status_code=204, response_class=Response)
def delete_team(team_id: PathId, actor: CurrentActor, session: WriteSession, expected: IfMatch) -> Response:
    tenancy.delete_team(session, actor, team_id, expected_version=expected)
    return Response(status_code=204)
