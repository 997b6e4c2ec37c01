"""Closing the loop on initiatives and epics: the anticipated outcome (four questions, on the work item: If-Match
is the work item's ETag), the actual outcome (achieved | partially | not_achieved, its own ETag), outcome reviews
due, and the realization rate per period (per team too; JSON or CSV).

Contributors of the item's team (or of the whole workspace) write; members read. "Today" is the server's clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from okrflow.api import tabular
from okrflow.api.deps import MAX_ID, CurrentActor, IfMatch, Paging, PathId, ReadSession, WriteSession, set_etag
from okrflow.api.schemas_pilots import (
    FIRST_DAY,
    LAST_DAY,
    ActualOutcomeIn,
    ActualOutcomeRead,
    AnticipatedOutcomeIn,
    AnticipatedOutcomeRead,
    OutcomeDueRead,
    RealizationRateRead,
    RealizationRead,
)
from okrflow.domain.errors import InvalidInputError, NotFoundError, StaleVersionError
from okrflow.services import outcomes, tenancy, traceability
from okrflow.store.models_work import WorkItem

router = APIRouter(tags=["outcomes"])

OptId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Day = Annotated[date, Query(ge=FIRST_DAY, le=LAST_DAY, description="YYYY-MM-DD, inclusive")]
DUE_COLUMNS = list(OutcomeDueRead.model_fields)
RATE_COLUMNS = ["team_id", "team", "delivered", "achieved", "partially", "not_achieved", "pending", "rate"]


def _anticipated(item: WorkItem) -> AnticipatedOutcomeRead:
    return AnticipatedOutcomeRead(
        work_item_id=item.id,
        key=item.key,
        title=item.title,
        level=item.level,
        team_id=item.team_id,
        anticipated_outcome=dict(item.anticipated_outcome) if item.anticipated_outcome else None,
        version=item.version,
    )


@router.get(
    "/work-items/{item_id}/anticipated-outcome",
    response_model=AnticipatedOutcomeRead,
    summary="The anticipated outcome of an initiative or epic (null: not stated yet); the ETag is the work item's",
)
def get_anticipated_outcome(
    item_id: PathId, actor: CurrentActor, session: ReadSession, response: Response
) -> AnticipatedOutcomeRead:
    item = traceability.get_item(session, actor, item_id)
    set_etag(response, item)
    return _anticipated(item)


@router.put(
    "/work-items/{item_id}/anticipated-outcome",
    response_model=AnticipatedOutcomeRead,
    summary="State the anticipated outcome (the four questions; replaces the previous answer); If-Match is the "
    "work item's ETag",
)
def set_anticipated_outcome(
    item_id: PathId,
    body: AnticipatedOutcomeIn,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> AnticipatedOutcomeRead:
    item = outcomes.set_anticipated_outcome(session, actor, item_id, **body.model_dump(), expected_version=expected)
    set_etag(response, item)
    return _anticipated(item)


@router.get(
    "/work-items/{item_id}/actual-outcome",
    response_model=ActualOutcomeRead,
    summary="What the initiative or epic achieved (404 while none is recorded)",
)
def get_actual_outcome(
    item_id: PathId, actor: CurrentActor, session: ReadSession, response: Response
) -> ActualOutcomeRead:
    row = outcomes.actual_outcome(session, actor, item_id)
    if row is None:
        raise NotFoundError(f"work item {item_id} has no actual outcome yet")
    set_etag(response, row)
    return ActualOutcomeRead.model_validate(row)


@router.put(
    "/work-items/{item_id}/actual-outcome",
    response_model=ActualOutcomeRead,
    responses={201: {"description": "The first actual outcome of the item was recorded."}},
    summary="Record the actual outcome: 201 the first time, 200 when it changes; If-Match is the actual outcome's ETag",
)
def put_actual_outcome(
    item_id: PathId,
    body: ActualOutcomeIn,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    request: Request,
    response: Response,
) -> ActualOutcomeRead:
    existing = outcomes.actual_outcome(session, actor, item_id)
    if existing is None and expected is not None:
        raise StaleVersionError(
            f"work item {item_id} has no actual outcome yet; record the first one without If-Match",
            current_version=None,
        )
    row = outcomes.record_actual_outcome(session, actor, item_id, **body.model_dump(), expected_version=expected)
    if existing is None:
        response.status_code = 201
        response.headers["Location"] = request.url_for("get_actual_outcome", item_id=item_id).path
    set_etag(response, row)
    return ActualOutcomeRead.model_validate(row)


@router.get(
    "/workspaces/{workspace_id}/outcomes/due",
    response_model=list[OutcomeDueRead],
    responses=tabular.CSV_RESPONSE,
    summary="Outcome reviews due: delivered initiatives and epics past their anticipated by-date without an actual "
    "outcome, the longest overdue first; CSV too",
)
def outcomes_due(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    response: Response,
    page: Paging,
    team_id: OptId = None,
    format: tabular.Format = None,
) -> Any:
    today = datetime.now(UTC).date()
    due = outcomes.outcome_reviews_due(session, actor, workspace_id, today, team_id=team_id)
    rows = []
    for item in page.apply(response, due):
        stated = dict(item.anticipated_outcome or {})
        by = date.fromisoformat(stated["by_date"]) if stated.get("by_date") else None
        rows.append(
            OutcomeDueRead(
                work_item_id=item.id,
                key=item.key,
                title=item.title,
                level=item.level,
                team_id=item.team_id,
                resolved=item.resolved,
                by_date=by,
                days_overdue=(today - by).days if by else 0,
                metric_key=stated.get("metric_key"),
                target=stated.get("target"),
            )
        )
    if tabular.wants_csv(request, format):
        return tabular.dict_csv([r.model_dump() for r in rows], "outcomes-due.csv", DUE_COLUMNS)
    return rows


def _rate(rate: outcomes.RealizationRate, team_id: int | None, team: str | None) -> RealizationRead:
    return RealizationRead(
        team_id=team_id,
        team=team,
        delivered=rate.delivered,
        achieved=rate.achieved,
        partially=rate.partially,
        not_achieved=rate.not_achieved,
        pending=rate.pending,
        rate=rate.rate,
    )


@router.get(
    "/workspaces/{workspace_id}/outcomes/realization-rate",
    response_model=RealizationRateRead,
    responses=tabular.CSV_RESPONSE,
    summary="Of the initiatives and epics delivered in [start, end] with an anticipated outcome, the share that "
    "achieved it; without team_id also per team (by_team). CSV: one row per team and the total",
)
def realization_rate(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    start: Day,
    end: Day,
    team_id: OptId = None,
    format: tabular.Format = None,
) -> Any:
    total = outcomes.realization_rate(session, actor, workspace_id, start=start, end=end, team_id=team_id)
    team_name = None
    by_team: list[RealizationRead] = []
    for team in tenancy.list_teams(session, actor, workspace_id):
        if team_id is not None:
            team_name = team.name if team.id == team_id else team_name
            continue
        rate = outcomes.realization_rate(session, actor, workspace_id, start=start, end=end, team_id=team.id)
        if rate.delivered:
            by_team.append(_rate(rate, team.id, team.name))
    if team_id is not None and team_name is None:
        raise InvalidInputError(f"team {team_id} does not exist in this workspace", field="team_id")
    answer = RealizationRateRead(
        **_rate(total, team_id, team_name).model_dump(),
        start=start,
        end=end,
        item_ids=list(total.item_ids),
        by_team=by_team,
    )
    if tabular.wants_csv(request, format):
        records = [r.model_dump() for r in by_team] + [_rate(total, team_id, team_name or "all").model_dump()]
        return tabular.dict_csv(records, "realization-rate.csv", RATE_COLUMNS)
    return answer
