"""The decision log: record, read, filter (JSON or CSV), supersede; decisions due for review.

A recorded decision is immutable: there is no PUT, PATCH or DELETE on ``/decisions/{id}`` (405, and the database
refuses a change too). A change of mind is a new decision that supersedes the old one
(``POST /decisions/{id}/supersede``); a decision is superseded at most once, so a chain never forks. A decision
on a pilot (``pilot_id`` with an ``action``) freezes the pilot's latest recommendation and readout as evidence;
an action other than the recommended one needs a rationale.

Contributors of the pilot's team, of a linked key result's or work item's team, or of the whole workspace record
decisions; everyone in the workspace reads them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.api import tabular
from okrflow.api.deps import MAX_ID, CurrentActor, Paging, PathId, ReadSession, WriteSession, set_location
from okrflow.api.schemas_pilots import (
    FIRST_DAY,
    LAST_DAY,
    ActionName,
    DecisionCreate,
    DecisionDetail,
    DecisionRead,
    DecisionSupersede,
    LinkType,
)
from okrflow.domain.errors import InvalidInputError
from okrflow.services import decisions
from okrflow.store.models_pilots import Decision

router = APIRouter(tags=["decisions"])

OptId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Day = Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY, description="YYYY-MM-DD")]
CSV_COLUMNS = [
    "id",
    "decided_on",
    "title",
    "decision",
    "decided_by",
    "action",
    "recommended_action",
    "overrides_recommendation",
    "pilot_id",
    "rationale",
    "review_on",
    "links",
    "supersedes_id",
    "superseded_by",
    "author",
    "recorded_at",
]


def superseded_map(session: Session, workspace_id: int) -> dict[int, int]:
    """Decision id → the id of the decision that supersedes it (one query for a whole list)."""
    rows = session.execute(
        select(Decision.supersedes_id, Decision.id).where(
            Decision.workspace_id == workspace_id, Decision.supersedes_id.is_not(None)
        )
    )
    return {old: new for old, new in rows if old is not None}


def decision_read(d: Decision, superseded_by: int | None) -> DecisionRead:
    return DecisionRead(
        id=d.id,
        workspace_id=d.workspace_id,
        title=d.title,
        context=d.context,
        options=plain_json(list(d.options or [])),
        decision=d.decision,
        rationale=d.rationale,
        evidence=plain_json(dict(d.evidence or {})),
        decided_by=d.decided_by,
        raci=dict(d.raci or {}),
        decided_on=d.decided_on,
        review_on=d.review_on,
        links=list(d.links or []),
        pilot_id=d.pilot_id,
        action=d.action,
        recommended_action=d.recommended_action,
        overrides_recommendation=d.overrides_recommendation,
        supersedes_id=d.supersedes_id,
        superseded_by=superseded_by,
        recorded_at=d.recorded_at,
        author=d.author,
    )


def plain_json(value: Any) -> Any:
    """Stored JSON with every non-finite number as null (a response never carries NaN)."""
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_json(v) for v in value]
    return tabular.cell(value)


def _csv(rows: list[DecisionRead], filename: str) -> Response:
    records = []
    for r in rows:
        record = r.model_dump()
        record["links"] = [f"{lk.get('type')}:{lk.get('id')}" for lk in r.links]
        records.append(record)
    return tabular.dict_csv(records, filename, CSV_COLUMNS)


def _detail(session: Session, actor: CurrentActor, d: Decision) -> DecisionDetail:
    newer = decisions.superseded_by(session, d.id)
    chain = [x.id for x in decisions.chain(session, actor, d.id)]
    return DecisionDetail(**decision_read(d, newer.id if newer else None).model_dump(), chain=chain)


@router.get(
    "/workspaces/{workspace_id}/decisions",
    response_model=list[DecisionRead],
    responses=tabular.CSV_RESPONSE,
    summary="The decision log, newest first; filters combine with AND; X-Total-Count has the number of matches; "
    "CSV too",
)
def list_decisions(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    response: Response,
    page: Paging,
    pilot_id: OptId = None,
    link_type: LinkType | None = None,
    link_id: OptId = None,
    decided_by: Annotated[str | None, Query(max_length=200)] = None,
    since: Day = None,
    until: Day = None,
    q: Annotated[str, Query(max_length=200)] = "",
    action: ActionName | None = None,
    current_only: Annotated[bool, Query(description="Leave out superseded decisions.")] = False,
    format: tabular.Format = None,
) -> Any:
    if link_id is not None and link_type is None:
        raise InvalidInputError("link_id filters within a link_type; give both", field="link_id")
    found = decisions.list_decisions(
        session,
        actor,
        workspace_id,
        pilot_id=pilot_id,
        link_type=link_type,
        link_id=link_id,
        decided_by=decided_by.replace("\x00", "") if decided_by else None,
        since=since,
        until=until,
        query=q.replace("\x00", ""),
        current_only=current_only,
        action=action,
    )
    newer = superseded_map(session, workspace_id)
    rows = [decision_read(d, newer.get(d.id)) for d in page.apply(response, found)]
    if tabular.wants_csv(request, format):
        return _csv(rows, "decisions.csv")
    return rows


@router.post(
    "/workspaces/{workspace_id}/decisions",
    response_model=DecisionRead,
    status_code=201,
    summary="Record a decision (immutable from now on); with pilot_id and action it freezes the pilot's latest "
    "recommendation and readout, and a concluding action moves a running pilot to decided",
)
def record_decision(
    workspace_id: PathId,
    body: DecisionCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> DecisionRead:
    d = decisions.record_decision(session, actor, workspace_id, now=datetime.now(UTC), **body.model_dump())
    set_location(request, response, "get_decision", decision_id=d.id)
    return decision_read(d, None)


@router.get(
    "/workspaces/{workspace_id}/decisions/due-for-review",
    response_model=list[DecisionRead],
    responses=tabular.CSV_RESPONSE,
    summary="Current (not superseded) decisions whose review date has come, oldest review first; CSV too",
)
def decisions_due_for_review(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    response: Response,
    page: Paging,
    format: tabular.Format = None,
) -> Any:
    due = decisions.decisions_due_for_review(session, actor, workspace_id, datetime.now(UTC))
    rows = [decision_read(d, None) for d in page.apply(response, due)]
    if tabular.wants_csv(request, format):
        return _csv(rows, "decisions-due-for-review.csv")
    return rows


@router.get(
    "/decisions/{decision_id}",
    response_model=DecisionDetail,
    summary="A decision with its frozen evidence, the decision that supersedes it and the whole supersede chain. "
    "Decisions cannot be changed or deleted (PUT, PATCH, DELETE: 405)",
)
def get_decision(decision_id: PathId, actor: CurrentActor, session: ReadSession) -> DecisionDetail:
    return _detail(session, actor, decisions.get_decision(session, actor, decision_id))


@router.api_route("/decisions/{decision_id}", methods=["PUT", "PATCH", "DELETE"], include_in_schema=False)
def refuse_change(request: Request) -> None:
    """405 whatever the caller or the id (as without this route), but with a problem that says why and what to do
    instead: decisions are immutable; a change of mind is a new decision that supersedes the old one."""
    raise HTTPException(
        405,
        detail=f"decisions are immutable: {decisions.IMMUTABLE_MESSAGE} (POST {request.url.path}/supersede)",
        headers={"Allow": "GET"},
    )


@router.post(
    "/decisions/{decision_id}/supersede",
    response_model=DecisionDetail,
    status_code=201,
    summary="Record a new decision that supersedes this one: fields left out are taken over (a pilot's evidence "
    "is frozen afresh); 409 when it is superseded already",
)
def supersede_decision(
    decision_id: PathId,
    body: DecisionSupersede,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> DecisionDetail:
    d = decisions.supersede(session, actor, decision_id, body.changes(), now=datetime.now(UTC))
    set_location(request, response, "get_decision", decision_id=d.id)
    return _detail(session, actor, d)
