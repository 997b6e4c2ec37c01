"""Reading imported work for people: a filtered, paged list of work items and one item with its hierarchy,
history and the key results it serves (the web pages of the work slice use these).

- **Step** of an item or of a status in its history: the value-stream step its source's mapping gives the status
  (``None`` when the status is not mapped).
- **Flow time** of an item: from work start (first entry into a step other than backlog) to done, as the flow
  engine computes it (:func:`okrflow.metrics.flow.item_timings`); an item not done yet has an **age** instead
  (now − work start, or now − created when it has not started).
- **Links**: a link on an item covers its descendants, so an item serves the key results linked to it directly
  and those linked to any ancestor (``via`` that ancestor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor
from okrflow.domain.work import WorkMapping
from okrflow.metrics.flow import FlowFrames, item_timings
from okrflow.services.sources import mapping_for
from okrflow.services.tenancy import get_workspace
from okrflow.services.traceability import effective_links, get_item
from okrflow.store.models import Team
from okrflow.store.models_okr import KeyResult, Objective
from okrflow.store.models_work import FieldChange, Source, StatusChange, SyncRun, WorkItem, WorkItemLink

PER_PAGE = 50
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class WorkFilter:
    team_id: int | None = None
    source_id: int | None = None
    level: str | None = None  # a level, or "none" for items whose type is not mapped
    flow_type: str | None = None
    status: str | None = None  # the source's own status name (case-insensitive)
    step: str | None = None  # a value-stream step, or "unmapped"
    unaligned: bool = False  # only items no key result covers (directly or via an ancestor)
    q: str = ""  # text in the key or the title


@dataclass(frozen=True)
class Timing:
    work_start: datetime | None
    done_at: datetime | None
    flow_days: float | None  # done items
    age_days: float  # not done: since work start (or since created when not started); done: flow time
    started: bool


@dataclass(frozen=True)
class ServedKr:
    key_result: KeyResult
    objective: Objective
    via: WorkItem | None  # None: linked directly; else the ancestor that carries the link
    link: WorkItemLink | None = None  # the direct link row (None when inherited)


@dataclass
class ItemRow:
    item: WorkItem
    step: str | None
    team: str | None
    source: str
    timing: Timing
    krs: list[tuple[KeyResult, WorkItem | None]] = field(default_factory=list)  # (kr, via ancestor)


@dataclass
class ItemPage:
    rows: list[ItemRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass
class HistoryEntry:
    at: datetime
    from_status: str
    to_status: str
    from_step: str | None
    to_step: str | None
    author: str
    backward: bool  # to an earlier step than the one it left (rework)


@dataclass
class ItemDetail:
    item: WorkItem
    source: Source
    team: str | None
    step: str | None
    timing: Timing
    ancestors: list[WorkItem]  # root first
    children: list[tuple[WorkItem, str | None]]  # (child, its step)
    history: list[HistoryEntry]
    field_changes: list[FieldChange]
    serves: list[ServedKr]


# ------------------------------------------------------------------ helpers


def _mappings(session: Session, workspace_id: int) -> dict[int, WorkMapping]:
    return {s.id: mapping_for(s) for s in session.scalars(select(Source).where(Source.workspace_id == workspace_id))}


def step_of(mapping: WorkMapping | None, status: str, category: str | None = None) -> str | None:
    if mapping is None or not status:
        return None
    rule = mapping.status_rule(status, category)
    return rule.step.value if rule else None


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def timings(
    session: Session, items: list[WorkItem], mappings: dict[int, WorkMapping], now: datetime
) -> dict[int, Timing]:
    """Flow timings of a few items (a page), with each source's own status mapping."""
    if not items:
        return {}
    ids = [i.id for i in items]
    src = {i.id: i.source_id for i in items}
    changes = session.execute(
        select(StatusChange.work_item_id, StatusChange.at, StatusChange.from_status, StatusChange.to_status)
        .where(StatusChange.work_item_id.in_(ids))
        .order_by(StatusChange.work_item_id, StatusChange.at, StatusChange.id)
    ).all()

    def key(item_id: int, status: str) -> str:
        return f"{src[item_id]}\x1f{status}" if status else ""

    names: set[tuple[int, str]] = {(i.source_id, i.status) for i in items}
    for item_id, _at, f, t in changes:
        names |= {(src[item_id], n) for n in (f, t) if n}
    rules = []
    for sid, name in names:
        rule = mappings[sid].status_rule(name) if sid in mappings else None
        if rule is not None:
            rules.append((f"{sid}\x1f{name}", rule.step.value, rule.step.order, rule.active))
    frames = FlowFrames(
        pl.DataFrame(
            [(i.id, _as_utc(i.created), key(i.id, i.status)) for i in items],
            schema={"item_id": pl.Int64, "created": pl.Datetime("us", "UTC"), "status": pl.Utf8},
            orient="row",
        ),
        pl.DataFrame(
            [(i, _as_utc(at), key(i, f), key(i, t)) for i, at, f, t in changes],
            schema={
                "item_id": pl.Int64,
                "at": pl.Datetime("us", "UTC"),
                "from_status": pl.Utf8,
                "to_status": pl.Utf8,
            },
            orient="row",
        ),
        pl.DataFrame(
            rules,
            schema={"status": pl.Utf8, "step": pl.Utf8, "step_order": pl.Int16, "active": pl.Boolean},
            orient="row",
        ),
    )
    out: dict[int, Timing] = {}
    created = {i.id: _as_utc(i.created) for i in items}
    for row in item_timings(frames, now).iter_rows(named=True):
        start, done = row["work_start"], row["done_at"]
        flow = (done - start).total_seconds() / 86400 if start and done else None
        since = start or created[row["item_id"]] or now
        age = flow if flow is not None else max(0.0, (now - since).total_seconds() / 86400)
        out[row["item_id"]] = Timing(start, done, flow, age, start is not None)
    for i in items:  # items the engine left out (defensive)
        out.setdefault(i.id, Timing(None, None, None, max(0.0, (now - (created[i.id] or now)).days), False))
    return out


def _kr_names(session: Session, kr_ids: set[int]) -> dict[int, KeyResult]:
    if not kr_ids:
        return {}
    return {kr.id: kr for kr in session.scalars(select(KeyResult).where(KeyResult.id.in_(kr_ids)))}


# ------------------------------------------------------------------ the list


def _filtered(
    session: Session, workspace_id: int, f: WorkFilter, mappings: dict[int, WorkMapping], covered: set[int] | None
) -> Select[Any]:
    q = select(WorkItem).where(WorkItem.workspace_id == workspace_id)
    if f.team_id is not None:
        q = q.where(WorkItem.team_id == f.team_id)
    if f.source_id is not None:
        q = q.where(WorkItem.source_id == f.source_id)
    if f.level:
        q = q.where(WorkItem.level.is_(None) if f.level == "none" else WorkItem.level == f.level)
    if f.flow_type:
        q = q.where(WorkItem.flow_type == f.flow_type)
    if f.status:
        q = q.where(func.lower(WorkItem.status) == f.status.strip().lower())
    if f.step:
        pairs = session.execute(
            select(WorkItem.source_id, WorkItem.status, WorkItem.status_category)
            .where(WorkItem.workspace_id == workspace_id)
            .distinct()
        ).all()
        wanted = [
            (sid, status)
            for sid, status, category in pairs
            if (step_of(mappings.get(sid), status, category) or "unmapped") == f.step
        ]
        by_source: dict[int, set[str]] = {}
        for sid, status in wanted:
            by_source.setdefault(sid, set()).add(status)
        conds = [
            and_(WorkItem.source_id == sid, WorkItem.status.in_(sorted(statuses)))
            for sid, statuses in by_source.items()
        ]
        q = q.where(or_(*conds) if conds else false())
    if f.unaligned and covered is not None:
        # "not in" over the covered ids: fine for the tens of thousands of items a workspace links
        q = q.where(WorkItem.id.not_in(sorted(covered))) if covered else q
    text = f.q.strip()
    if text:
        like = f"%{text.lower().replace('%', '').replace('_', '')}%"
        q = q.where(or_(func.lower(WorkItem.key).like(like), func.lower(WorkItem.title).like(like)))
    return q


def list_items(
    session: Session,
    actor: Actor,
    workspace_id: int,
    filters: WorkFilter | None = None,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
    now: datetime | None = None,
) -> ItemPage:
    """Work items of the workspace matching ``filters``, newest first, one page at a time, each with its step,
    team, source, flow time / age and the key results it serves (directly or via an ancestor)."""
    get_workspace(session, actor, workspace_id)
    f = filters or WorkFilter()
    now = now or datetime.now(UTC)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    mappings = _mappings(session, workspace_id)
    links = effective_links(session, workspace_id)
    q = _filtered(session, workspace_id, f, mappings, set(links))
    total = session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = max(1, min(page, pages))
    items = list(
        session.scalars(
            q.order_by(WorkItem.created.desc(), WorkItem.id.desc()).offset((page - 1) * per_page).limit(per_page)
        )
    )
    teams = {t.id: t.name for t in session.scalars(select(Team).where(Team.workspace_id == workspace_id))}
    source_names = {sid: n for sid, n in session.execute(select(Source.id, Source.name))}
    times = timings(session, items, mappings, now)
    wanted = {kr for i in items for kr in links.get(i.id, {})}
    carriers = {c for i in items for c in links.get(i.id, {}).values() if c != i.id}
    krs = _kr_names(session, wanted)
    via = {w.id: w for w in session.scalars(select(WorkItem).where(WorkItem.id.in_(carriers)))} if carriers else {}
    rows = []
    for it in items:
        served = sorted(links.get(it.id, {}).items())
        rows.append(
            ItemRow(
                it,
                step_of(mappings.get(it.source_id), it.status, it.status_category),
                teams.get(it.team_id) if it.team_id else None,
                source_names.get(it.source_id, "?"),
                times[it.id],
                [(krs[k], None if c == it.id else via.get(c)) for k, c in served if k in krs],
            )
        )
    return ItemPage(rows, total, page, per_page)


def filter_choices(session: Session, actor: Actor, workspace_id: int) -> dict[str, list[str]]:
    """The values the filters offer: statuses in use (sorted), steps in use (by flow order)."""
    get_workspace(session, actor, workspace_id)
    mappings = _mappings(session, workspace_id)
    pairs = session.execute(
        select(WorkItem.source_id, WorkItem.status, WorkItem.status_category)
        .where(WorkItem.workspace_id == workspace_id)
        .distinct()
    ).all()
    statuses = sorted({p[1] for p in pairs}, key=str.casefold)
    from okrflow.domain.work import Step

    used = {step_of(mappings.get(sid), st, cat) or "unmapped" for sid, st, cat in pairs}
    steps = [s.value for s in Step if s.value in used] + (["unmapped"] if "unmapped" in used else [])
    return {"statuses": statuses, "steps": steps}


# ------------------------------------------------------------------ one item


def item_detail(session: Session, actor: Actor, item_id: int, *, now: datetime | None = None) -> ItemDetail:
    """One work item with its parent chain, children, full status history (with steps), field changes and the key
    results it serves (directly, or inherited from which ancestor)."""
    item = get_item(session, actor, item_id)
    now = now or datetime.now(UTC)
    source = session.get(Source, item.source_id)
    assert source is not None
    mappings = _mappings(session, item.workspace_id)
    mapping = mappings.get(item.source_id)
    ancestors: list[WorkItem] = []
    seen = {item.id}
    parent_id = item.parent_id
    while parent_id is not None and parent_id not in seen:
        parent = session.get(WorkItem, parent_id)
        if parent is None:
            break
        seen.add(parent.id)
        ancestors.insert(0, parent)
        parent_id = parent.parent_id
    children = list(
        session.scalars(select(WorkItem).where(WorkItem.parent_id == item.id).order_by(WorkItem.created, WorkItem.id))
    )
    history: list[HistoryEntry] = []
    last_order: int | None = None
    for ch in session.scalars(
        select(StatusChange).where(StatusChange.work_item_id == item.id).order_by(StatusChange.at, StatusChange.id)
    ):
        to_rule = mapping.status_rule(ch.to_status) if mapping else None
        from_rule = mapping.status_rule(ch.from_status) if mapping and ch.from_status else None
        prev = from_rule.step.order if from_rule else last_order
        backward = bool(to_rule and prev is not None and to_rule.step.order < prev)
        history.append(
            HistoryEntry(
                _as_utc(ch.at) or ch.at,
                ch.from_status,
                ch.to_status,
                from_rule.step.value if from_rule else None,
                to_rule.step.value if to_rule else None,
                ch.author,
                backward,
            )
        )
        last_order = to_rule.step.order if to_rule else last_order
    field_changes = list(
        session.scalars(
            select(FieldChange).where(FieldChange.work_item_id == item.id).order_by(FieldChange.at, FieldChange.id)
        )
    )
    chain = {a.id: a for a in ancestors}
    link_rows = list(
        session.scalars(
            select(WorkItemLink)
            .where(WorkItemLink.work_item_id.in_([item.id, *chain]))
            .order_by(WorkItemLink.key_result_id, WorkItemLink.id)
        )
    )
    serves: list[ServedKr] = []
    taken: set[int] = set()
    # direct links first, then the nearest ancestor's
    order = [item.id, *reversed([a.id for a in ancestors])]
    for carrier in order:
        for ln in (r for r in link_rows if r.work_item_id == carrier):
            if ln.key_result_id in taken:
                continue
            kr = session.get(KeyResult, ln.key_result_id)
            obj = session.get(Objective, kr.objective_id) if kr else None
            if kr is None or obj is None:
                continue
            taken.add(kr.id)
            serves.append(ServedKr(kr, obj, None if carrier == item.id else chain[carrier], ln))
    team = session.get(Team, item.team_id) if item.team_id else None
    child_steps = [(c, step_of(mappings.get(c.source_id), c.status, c.status_category)) for c in children]
    return ItemDetail(
        item=item,
        source=source,
        team=team.name if team else None,
        step=step_of(mapping, item.status, item.status_category),
        timing=timings(session, [item], mappings, now)[item.id],
        ancestors=ancestors,
        children=child_steps,
        history=history,
        field_changes=field_changes,
        serves=serves,
    )


def last_run(session: Session, actor: Actor, workspace_id: int) -> tuple[SyncRun, str] | None:
    """The workspace's most recent sync run and the name of its source (``None`` before the first import)."""
    get_workspace(session, actor, workspace_id)
    row = session.execute(
        select(SyncRun, Source.name)
        .join(Source, Source.id == SyncRun.source_id)
        .where(SyncRun.workspace_id == workspace_id)
        .order_by(SyncRun.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


__all__ = [
    "PER_PAGE",
    "HistoryEntry",
    "ItemDetail",
    "ItemPage",
    "ItemRow",
    "ServedKr",
    "Timing",
    "WorkFilter",
    "filter_choices",
    "item_detail",
    "last_run",
    "list_items",
    "step_of",
    "timings",
]
