"""Key results of an objective: list, create, read with computed state (progress, status, forecast, schedule),
the burn-up chart, change and delete. Written by whoever may write the objective."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.api import okr_views
from okrflow.api.deps import CurrentActor, IfMatch, Paging, PathId, ReadSession, WriteSession, created, set_etag
from okrflow.api.schemas_okr import ChartRead, KeyResultCreate, KeyResultDetail, KeyResultRead, KeyResultUpdate
from okrflow.domain.access import Actor
from okrflow.services import okr, tenancy
from okrflow.store.models_okr import KeyResult, Objective, Period

router = APIRouter(tags=["key results"])


@router.get("/objectives/{objective_id}/key-results", response_model=list[KeyResultRead])
def list_key_results(
    objective_id: PathId, actor: CurrentActor, session: ReadSession, page: Paging, response: Response
) -> list[KeyResult]:
    return page.apply(response, okr.list_key_results(session, actor, objective_id))


@router.post("/objectives/{objective_id}/key-results", response_model=KeyResultRead, status_code=201)
def create_key_result(
    objective_id: PathId,
    body: KeyResultCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> KeyResult:
    fields = body.model_dump()
    kr = okr.create_key_result(session, actor, objective_id, fields.pop("title"), fields.pop("direction"), **fields)
    return created(request, response, "get_key_result", kr, key_result_id=kr.id)


def _state(session: Session, actor: Actor, key_result_id: int) -> tuple[okr.KrState, Period, datetime]:
    kr, obj = okr.get_key_result(session, actor, key_result_id)
    settings = okr.OkrSettings.of(tenancy.get_workspace(session, actor, obj.workspace_id))
    period = okr.get_period(session, actor, obj.period_id)
    now = datetime.now(UTC)
    return okr.kr_state(session, kr, period, settings, now), period, now


@router.get(
    "/key-results/{key_result_id}",
    response_model=KeyResultDetail,
    summary="A key result with its state: value, progress, status, forecast, schedule, history",
)
def get_key_result(
    key_result_id: PathId, actor: CurrentActor, session: ReadSession, response: Response
) -> KeyResultDetail:
    state, _period, _now = _state(session, actor, key_result_id)
    children = session.scalars(
        select(Objective.id).where(Objective.aligned_to_kr_id == key_result_id).order_by(Objective.id)
    )
    set_etag(response, state.kr)
    return okr_views.kr_detail(session, state, list(children))


@router.get(
    "/key-results/{key_result_id}/chart",
    response_model=ChartRead,
    summary="Burn-up chart series: measured points, target, expected line, forecast cone (ISO times, numbers)",
)
def get_chart(key_result_id: PathId, actor: CurrentActor, session: ReadSession, response: Response) -> ChartRead:
    state, period, now = _state(session, actor, key_result_id)
    set_etag(response, state.kr)
    return okr_views.chart(session, state, period, now)


@router.patch("/key-results/{key_result_id}", response_model=KeyResultRead)
def update_key_result(
    key_result_id: PathId,
    body: KeyResultUpdate,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> KeyResult:
    kr = okr.update_key_result(session, actor, key_result_id, body.changes(), expected_version=expected)
    set_etag(response, kr)
    return kr


@router.delete("/key-results/{key_result_id}", status_code=204, response_class=Response)
def delete_key_result(key_result_id: PathId, actor: CurrentActor, session: WriteSession, expected: IfMatch) -> Response:
    okr.delete_key_result(session, actor, key_result_id, expected_version=expected)
    return Response(status_code=204)
