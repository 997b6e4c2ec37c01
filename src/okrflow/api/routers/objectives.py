"""Objectives: list (``?period_id=&team_id=``), create, read with computed state, change, delete; the OKR tree.

A team's objectives are written by contributors of that team; workspace-level ones need the contributor role
for the whole workspace. Everyone in the workspace reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from okrflow.api import okr_views
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
from okrflow.api.schemas_okr import ObjectiveCreate, ObjectiveDetail, ObjectiveRead, ObjectiveUpdate, TreeObjective
from okrflow.services import okr, tenancy
from okrflow.store.models_okr import Objective

router = APIRouter(tags=["objectives"])

PeriodFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only objectives of this period.")]
TeamFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only objectives of this team.")]


@router.get("/workspaces/{workspace_id}/objectives", response_model=list[ObjectiveRead])
def list_objectives(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    page: Paging,
    response: Response,
    period_id: PeriodFilter = None,
    team_id: TeamFilter = None,
) -> list[Objective]:
    found = okr.list_objectives(session, actor, workspace_id, period_id=period_id, team_id=team_id)
    return page.apply(response, found)


@router.post("/workspaces/{workspace_id}/objectives", response_model=ObjectiveRead, status_code=201)
def create_objective(
    workspace_id: PathId,
    body: ObjectiveCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> Objective:
    fields = body.model_dump()
    obj = okr.create_objective(session, actor, workspace_id, fields.pop("period_id"), fields.pop("title"), **fields)
    return created(request, response, "get_objective", obj, objective_id=obj.id)


@router.get(
    "/workspaces/{workspace_id}/okr-tree",
    response_model=list[TreeObjective],
    summary="The nested OKR tree (objectives → key results → aligned child objectives) with computed state",
)
def okr_tree(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    period_id: PeriodFilter = None,
    team_id: TeamFilter = None,
) -> list[TreeObjective]:
    roots = okr.tree(session, actor, workspace_id, period_id=period_id, team_id=team_id)
    return [okr_views.tree_node(session, st) for st in roots]


@router.get(
    "/objectives/{objective_id}",
    response_model=ObjectiveDetail,
    summary="An objective with progress, grade, key results and their state, aligned children and ancestors",
)
def get_objective(
    objective_id: PathId, actor: CurrentActor, session: ReadSession, response: Response
) -> ObjectiveDetail:
    obj = okr.get_objective(session, actor, objective_id)
    settings = okr.OkrSettings.of(tenancy.get_workspace(session, actor, obj.workspace_id))
    state = okr.objective_state(session, obj, settings, datetime.now(UTC))
    set_etag(response, obj)
    return okr_views.objective_detail(session, state, okr.ancestors(session, actor, objective_id))


@router.patch("/objectives/{objective_id}", response_model=ObjectiveRead)
def update_objective(
    objective_id: PathId,
    body: ObjectiveUpdate,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> Objective:
    obj = okr.update_objective(session, actor, objective_id, body.changes(), expected_version=expected)
    set_etag(response, obj)
    return obj


@router.delete("/objectives/{objective_id}", status_code=204, response_class=Response)
def delete_objective(objective_id: PathId, actor: CurrentActor, session: WriteSession, expected: IfMatch) -> Response:
    okr.delete_objective(session, actor, objective_id, expected_version=expected)
    return Response(status_code=204)
