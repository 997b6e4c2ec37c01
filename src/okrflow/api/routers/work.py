"""Work items (filtered, paged list; one item with hierarchy, history and the key results it serves), links
between work and key results, and traceability (the matrix and the unaligned-work share; JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from okrflow.api import tabular
from okrflow.api.deps import MAX_ID, CurrentActor, PathId, ReadSession, WriteSession
from okrflow.api.schemas_work import (
    AutoLinkRead,
    ChildRead,
    FieldChangeRead,
    HistoryRead,
    ItemBrief,
    LinkCreate,
    LinkRead,
    MatrixRowRead,
    ServedRead,
    TimingRead,
    UnalignedRead,
    WorkItemDetail,
    WorkItemRead,
)
from okrflow.domain.work import FlowItemType, Level, Step
from okrflow.services import traceability, work
from okrflow.store.models_okr import KeyResult, Objective
from okrflow.store.models_work import WorkItem

router = APIRouter(tags=["work"])

OptId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
LevelName = Literal["theme", "initiative", "epic", "feature", "story", "task", "none"]
FlowTypeName = Literal["feature", "defect", "risk", "debt"]
StepName = Literal["backlog", "planning", "development", "testing", "deployment", "verification", "done", "unmapped"]
assert set(get_args(LevelName)) == {lv.value for lv in Level} | {"none"}  # kept in step with the domain
assert set(get_args(FlowTypeName)) == {t.value for t in FlowItemType}
assert set(get_args(StepName)) == {s.value for s in Step} | {"unmapped"}


def _brief(item: WorkItem) -> ItemBrief:
    return ItemBrief(id=item.id, key=item.key, title=item.title, level=item.level, status=item.status)


def _timing(t: work.Timing) -> TimingRead:
    return TimingRead(
        work_start=t.work_start,
        done_at=t.done_at,
        flow_days=tabular.cell(t.flow_days),
        age_days=tabular.cell(t.age_days) or 0.0,
        started=t.started,
    )


def _served(session: Session, kr: KeyResult, via: WorkItem | None, origin: str | None) -> ServedRead:
    obj = session.get(Objective, kr.objective_id)
    return ServedRead(
        key_result_id=kr.id,
        key_result=kr.title,
        objective_id=kr.objective_id,
        objective=obj.title if obj else "",
        via=_brief(via) if via is not None else None,
        origin=origin,
    )


def _item(
    it: WorkItem,
    *,
    source: str,
    team: str | None,
    step: str | None,
    timing: work.Timing,
    serves: list[ServedRead],
) -> dict[str, Any]:
    return {
        "id": it.id,
        "workspace_id": it.workspace_id,
        "source_id": it.source_id,
        "source": source,
        "external_id": it.external_id,
        "key": it.key,
        "url": it.url,
        "title": it.title,
        "issue_type": it.issue_type,
        "level": it.level,
        "flow_type": it.flow_type,
        "status": it.status,
        "status_category": it.status_category,
        "step": step,
        "parent_id": it.parent_id,
        "team_id": it.team_id,
        "team": team,
        "created": it.created,
        "resolved": it.resolved,
        "updated": it.updated,
        "labels": [str(x) for x in it.labels or []],
        "story_points": it.story_points,
        "assignee": it.assignee,
        "timing": _timing(timing),
        "serves": serves,
    }


@router.get(
    "/workspaces/{workspace_id}/work-items",
    response_model=list[WorkItemRead],
    summary="Work items, newest first; filters combine with AND; X-Total-Count has the number of matches",
)
def list_work_items(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    response: Response,
    team_id: OptId = None,
    source_id: OptId = None,
    level: LevelName | None = None,
    flow_type: FlowTypeName | None = None,
    status: Annotated[str | None, Query(max_length=100)] = None,
    step: StepName | None = None,
    unaligned: bool = False,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=work.MAX_PER_PAGE)] = work.PER_PAGE,
) -> list[WorkItemRead]:
    filters = work.WorkFilter(
        team_id=team_id,
        source_id=source_id,
        level=level,
        flow_type=flow_type,
        status=status,
        step=step,
        unaligned=unaligned,
        q=q.replace("\x00", ""),
    )
    result = work.list_items(session, actor, workspace_id, filters, page=page, per_page=per_page)
    response.headers["X-Total-Count"] = str(result.total)
    if page > result.pages:  # the service clamps to the last page; a page past the end is empty here
        return []
    return [
        WorkItemRead(
            **_item(
                r.item,
                source=r.source,
                team=r.team,
                step=r.step,
                timing=r.timing,
                serves=[_served(session, kr, via, None) for kr, via in r.krs],
            )
        )
        for r in result.rows
    ]


@router.get(
    "/work-items/{item_id}",
    response_model=WorkItemDetail,
    summary="A work item: fields, parent chain, children, status history with steps, field changes, key results "
    "served (direct or inherited 'via' an ancestor)",
)
def get_work_item(item_id: PathId, actor: CurrentActor, session: ReadSession) -> WorkItemDetail:
    d = work.item_detail(session, actor, item_id)
    serves = [_served(session, s.key_result, s.via, s.link.origin if s.link else None) for s in d.serves]
    return WorkItemDetail(
        **_item(d.item, source=d.source.name, team=d.team, step=d.step, timing=d.timing, serves=serves),
        ancestors=[_brief(a) for a in d.ancestors],
        children=[ChildRead(**_brief(c).model_dump(), step=st) for c, st in d.children],
        history=[HistoryRead(**h.__dict__) for h in d.history],
        field_changes=[FieldChangeRead.model_validate(f) for f in d.field_changes],
    )


@router.post(
    "/work-items/{item_id}/links",
    response_model=LinkRead,
    status_code=201,
    summary="Link the item to a key result (contributor on the item's or the objective's team)",
)
def link_item(item_id: PathId, body: LinkCreate, actor: CurrentActor, session: WriteSession) -> LinkRead:
    row = traceability.link(session, actor, item_id, body.key_result_id)
    return LinkRead(
        work_item_id=row.work_item_id,
        key_result_id=row.key_result_id,
        origin=row.origin,
        author=row.author,
        created_at=row.created_at,
    )


@router.delete("/work-items/{item_id}/links/{key_result_id}", status_code=204)
def unlink_item(item_id: PathId, key_result_id: PathId, actor: CurrentActor, session: WriteSession) -> Response:
    traceability.unlink(session, actor, item_id, key_result_id)
    return Response(status_code=204)


@router.post(
    "/workspaces/{workspace_id}/links/from-labels",
    response_model=AutoLinkRead,
    summary="Link work to key results from labels matching the workspace's pattern (default okr:KR-<id>)",
)
def links_from_labels(workspace_id: PathId, actor: CurrentActor, session: WriteSession) -> AutoLinkRead:
    made, problems = traceability.auto_link(session, actor, workspace_id)
    return AutoLinkRead(links_made=made, problems=problems)


MATRIX_COLUMNS = list(MatrixRowRead.model_fields)
UNALIGNED_COLUMNS = list(UnalignedRead.model_fields)


@router.get(
    "/workspaces/{workspace_id}/traceability-matrix",
    response_model=list[MatrixRowRead],
    responses=tabular.CSV_RESPONSE,
    summary="Objective × key result × KPI × work item (inherited links name their ancestor in 'via'); CSV too",
)
def traceability_matrix(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    period_id: OptId = None,
    format: tabular.Format = None,
) -> Any:
    rows = [MatrixRowRead(**r.__dict__) for r in traceability.matrix(session, actor, workspace_id, period_id)]
    if tabular.wants_csv(request, format):
        return tabular.dict_csv([r.model_dump() for r in rows], "traceability-matrix.csv", MATRIX_COLUMNS)
    return rows


@router.get(
    "/workspaces/{workspace_id}/unaligned-work",
    response_model=list[UnalignedRead],
    responses=tabular.CSV_RESPONSE,
    summary="Per team: the share of work in progress during the period that serves no key result (by count and "
    "by flow time); CSV too",
)
def unaligned_work(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    period_id: Annotated[int, Query(ge=1, le=MAX_ID)],
    format: tabular.Format = None,
) -> Any:
    rows = [
        UnalignedRead(
            team_id=u.team_id,
            team=u.team,
            items=u.items,
            unaligned_items=u.unaligned_items,
            share_by_count=tabular.cell(u.share_by_count),
            flow_days=u.flow_days,
            unaligned_flow_days=u.unaligned_flow_days,
            share_by_flow_time=tabular.cell(u.share_by_flow_time),
        )
        for u in traceability.unaligned_share(session, actor, workspace_id, period_id)
    ]
    if tabular.wants_csv(request, format):
        return tabular.dict_csv([r.model_dump() for r in rows], "unaligned-work.csv", UNALIGNED_COLUMNS)
    return rows
