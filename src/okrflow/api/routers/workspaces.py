"""``/workspaces``: list, create (superusers), read and change (workspace admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from okrflow.api.deps import CurrentActor, IfMatch, Paging, PathId, ReadSession, WriteSession, created, set_etag
from okrflow.api.schemas import WorkspaceCreate, WorkspaceRead, WorkspaceUpdate
from okrflow.services import tenancy
from okrflow.store.models import Workspace

router = APIRouter(tags=["workspaces"])


@router.get("/workspaces", response_model=list[WorkspaceRead], summary="Workspaces the caller is a member of")
def list_workspaces(actor: CurrentActor, session: ReadSession, page: Paging, response: Response) -> list[Workspace]:
    return page.apply(response, tenancy.list_workspaces(session, actor))


@router.post("/workspaces", response_model=WorkspaceRead, status_code=201, summary="Create a workspace (superuser)")
def create_workspace(
    body: WorkspaceCreate, actor: CurrentActor, session: WriteSession, request: Request, response: Response
) -> Workspace:
    ws = tenancy.create_workspace(session, actor, body.slug, body.name, body.description)
    return created(request, response, "get_workspace", ws, workspace_id=ws.id)


@router.get("/workspaces/{workspace_id}", response_model=WorkspaceRead)
def get_workspace(workspace_id: PathId, actor: CurrentActor, session: ReadSession, response: Response) -> Workspace:
    ws = tenancy.get_workspace(session, actor, workspace_id)
    set_etag(response, ws)
    return ws


@router.patch("/workspaces/{workspace_id}", response_model=WorkspaceRead, summary="Change a workspace (admin)")
def update_workspace(
    workspace_id: PathId,
    body: WorkspaceUpdate,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> Workspace:
    ws = tenancy.update_workspace(session, actor, workspace_id, body.changes(), expected_version=expected)
    set_etag(response, ws)
    return ws
