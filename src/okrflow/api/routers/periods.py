"""Strategy periods of a workspace: list, create (workspace contributors), a year with its quarters, read."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from okrflow.api.deps import (
    CurrentActor,
    IfMatch,
    Paging,
    PathId,
    ReadSession,
    WriteSession,
    created,
    set_etag,
    set_location,
)
from okrflow.api.schemas_okr import PeriodCreate, PeriodRead, PeriodUpdate, YearCreate
from okrflow.services import okr
from okrflow.store.models_okr import Period

router = APIRouter(tags=["periods"])


@router.get("/workspaces/{workspace_id}/periods", response_model=list[PeriodRead])
def list_periods(
    workspace_id: PathId, actor: CurrentActor, session: ReadSession, page: Paging, response: Response
) -> list[Period]:
    return page.apply(response, okr.list_periods(session, actor, workspace_id))


@router.post("/workspaces/{workspace_id}/periods", response_model=PeriodRead, status_code=201)
def create_period(
    workspace_id: PathId,
    body: PeriodCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> Period:
    period = okr.create_period(session, actor, workspace_id, **body.model_dump())
    return created(request, response, "get_period", period, period_id=period.id)


@router.post(
    "/workspaces/{workspace_id}/periods/year",
    response_model=list[PeriodRead],
    status_code=201,
    summary="Create the annual period of a year and its four quarters (existing ones are kept)",
)
def create_year(
    workspace_id: PathId,
    body: YearCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> list[Period]:
    periods = okr.create_year(session, actor, workspace_id, body.year)
    set_location(request, response, "get_period", period_id=periods[0].id)
    return periods


@router.get("/periods/{period_id}", response_model=PeriodRead)
def get_period(period_id: PathId, actor: CurrentActor, session: ReadSession, response: Response) -> Period:
    period = okr.get_period(session, actor, period_id)
    set_etag(response, period)
    return period


@router.patch("/periods/{period_id}", response_model=PeriodRead, summary="Rename a period or move its dates")
def update_period(
    period_id: PathId,
    body: PeriodUpdate,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> Period:
    period = okr.update_period(session, actor, period_id, body.changes(), expected_version=expected)
    set_etag(response, period)
    return period
