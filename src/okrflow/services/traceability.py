"""Traceability: which work serves which key result, the Objective × KR × KPI × work item matrix, and the
share of work that serves no objective ("parallel universe" work) per team.

- A link is made by hand (API/CLI/UI) or automatically from a label pattern (default ``okr:KR-<id>``,
  configurable per workspace in ``settings["traceability"]["label_pattern"]``; the first group names the KR
  by id, with or without a ``KR-`` prefix).
- A link on an item covers all its descendants (an epic linked to a KR covers its stories and tasks).
- **Unaligned share** per team: among the work items of the flow level (workspace setting
  ``settings["work"]["flow_level"]``, ``story`` by default; items without a level are left out and reported by
  the mapping check) that were in progress at some time in the period, the share that no key result covers —
  by item count and by flow time inside the period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from okrflow.metrics.flow import item_timings
from okrflow.services import audit, flow_data
from okrflow.services.okr import get_key_result, period_bounds
from okrflow.services.tenancy import get_workspace
from okrflow.store.models import Team
from okrflow.store.models_okr import KeyResult, Metric, Objective, Period
from okrflow.store.models_work import WorkItem, WorkItemLink

DEFAULT_LABEL_PATTERN = r"^okr:(?:KR-)?(\d+)$"


def _settings(session: Session, workspace_id: int) -> dict[str, str]:
    from okrflow.store.models import Workspace

    ws = session.get(Workspace, workspace_id)
    settings = (ws.settings or {}) if ws else {}
    raw = settings.get("traceability", {}) or {}
    work = settings.get("work", {}) or {}  # okrflow.yaml `work: {flow_level}`; else the old place
    return {
        "label_pattern": raw.get("label_pattern", DEFAULT_LABEL_PATTERN),
        "flow_level": work.get("flow_level") or raw.get("flow_level", "story"),
    }


def get_item(session: Session, actor: Actor, item_id: int) -> WorkItem:
    item = session.get(WorkItem, item_id)
    if item is None or not actor.is_member_of(item.workspace_id):
        raise NotFoundError(f"work item {item_id} does not exist")
    return item


def flow_level(session: Session, workspace_id: int) -> str:
    """The level that counts as the flow item in this workspace (``story`` or ``feature``)."""
    return _settings(session, workspace_id)["flow_level"]


def item_by_key(session: Session, actor: Actor, workspace_id: int, key: str, source_id: int | None = None) -> WorkItem:
    """The work item with this key (e.g. ``PAY-12``) in the workspace, optionally of one source."""
    get_workspace(session, actor, workspace_id)
    q = select(WorkItem).where(WorkItem.workspace_id == workspace_id, WorkItem.key == key.strip())
    if source_id is not None:
        q = q.where(WorkItem.source_id == source_id)
    found = list(session.scalars(q.order_by(WorkItem.id).limit(2)))
    if not found:
        raise NotFoundError(f"no work item with key {key.strip()!r}")
    if len(found) > 1:
        raise InvalidInputError(f"several sources have a work item {key.strip()!r}; name the source", field="key")
    return found[0]


def link(session: Session, actor: Actor, item_id: int, kr_id: int, origin: str = "manual") -> WorkItemLink:
    item = get_item(session, actor, item_id)
    kr, obj = get_key_result(session, actor, kr_id)
    if obj.workspace_id != item.workspace_id:
        raise InvalidInputError(
            "the work item and the key result belong to different workspaces", field="key_result_id"
        )
    if not (
        actor.can(Permission.WRITE, item.workspace_id, obj.team_id)
        or actor.can(Permission.WRITE, item.workspace_id, item.team_id)
    ):
        raise PermissionDeniedError("linking work to a key result needs the contributor role on its team")
    existing = session.scalar(
        select(WorkItemLink).where(WorkItemLink.work_item_id == item.id, WorkItemLink.key_result_id == kr.id)
    )
    if existing is not None:
        raise ConflictError(f"{item.key or item.id} is linked to this key result already")
    row = WorkItemLink(work_item_id=item.id, key_result_id=kr.id, origin=origin, author=actor.label)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "link",
        "work_item",
        item.id,
        workspace_id=item.workspace_id,
        after={"key_result_id": kr.id, "origin": origin},
    )
    return row


def unlink(session: Session, actor: Actor, item_id: int, kr_id: int) -> None:
    item = get_item(session, actor, item_id)
    _kr, obj = get_key_result(session, actor, kr_id)
    if not (
        actor.can(Permission.WRITE, item.workspace_id, obj.team_id)
        or actor.can(Permission.WRITE, item.workspace_id, item.team_id)
    ):
        raise PermissionDeniedError("unlinking work needs the contributor role on its team")
    gone = session.execute(
        delete(WorkItemLink).where(WorkItemLink.work_item_id == item.id, WorkItemLink.key_result_id == kr_id)
    ).rowcount
    if not gone:
        raise NotFoundError(f"{item.key or item.id} is not linked to key result {kr_id}")
    audit.record(
        session, actor, "unlink", "work_item", item.id, workspace_id=item.workspace_id, before={"key_result_id": kr_id}
    )


def auto_link(session: Session, actor: Actor, workspace_id: int) -> tuple[int, list[str]]:
    """Create links from labels matching the workspace's pattern. Returns (links made, problems)."""
    get_workspace(session, actor, workspace_id)
    if not actor.can(Permission.WRITE, workspace_id):
        raise PermissionDeniedError("linking work from labels needs the contributor role for the whole workspace")
    pattern = re.compile(_settings(session, workspace_id)["label_pattern"])
    krs = {
        kr_id
        for (kr_id,) in session.execute(
            select(KeyResult.id)
            .join(Objective, Objective.id == KeyResult.objective_id)
            .where(Objective.workspace_id == workspace_id)
        )
    }
    have = set(
        session.execute(
            select(WorkItemLink.work_item_id, WorkItemLink.key_result_id)
            .join(WorkItem)
            .where(WorkItem.workspace_id == workspace_id)
        ).all()
    )
    made, problems, new_rows = 0, [], []
    for item_id, key, labels in session.execute(
        select(WorkItem.id, WorkItem.key, WorkItem.labels).where(WorkItem.workspace_id == workspace_id)
    ):
        for label in labels or []:
            m = pattern.match(str(label))
            if not m:
                continue
            try:
                kr_id = int(m.group(1))
            except (IndexError, ValueError):
                problems.append(f"{key}: label {label!r} does not name a key result id")
                continue
            if kr_id not in krs:
                problems.append(f"{key}: label {label!r} names key result {kr_id}, which does not exist")
            elif (item_id, kr_id) not in have:
                have.add((item_id, kr_id))
                new_rows.append(
                    WorkItemLink(work_item_id=item_id, key_result_id=kr_id, origin="label", author=actor.label)
                )
                made += 1
    session.add_all(new_rows)
    session.flush()
    if made:
        audit.record(
            session,
            actor,
            "auto_link",
            "workspace",
            workspace_id,
            workspace_id=workspace_id,
            after={"links": made, "problems": problems[:50]},
        )
    return made, problems


def effective_links(session: Session, workspace_id: int) -> dict[int, dict[int, int]]:
    """Item id → {key result id: id of the item that carries the link} — itself, or the linked ancestor."""
    direct: dict[int, set[int]] = {}
    for item_id, kr_id in session.execute(
        select(WorkItemLink.work_item_id, WorkItemLink.key_result_id)
        .join(WorkItem)
        .where(WorkItem.workspace_id == workspace_id)
    ):
        direct.setdefault(item_id, set()).add(kr_id)
    children: dict[int, list[int]] = {}
    for item_id, parent_id in session.execute(
        select(WorkItem.id, WorkItem.parent_id).where(
            WorkItem.workspace_id == workspace_id, WorkItem.parent_id.is_not(None)
        )
    ):
        children.setdefault(parent_id, []).append(item_id)
    covered: dict[int, dict[int, int]] = {}
    for root, krs in direct.items():  # push each link down its subtree
        stack, seen = [root], set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            mine = covered.setdefault(node, {})
            for kr_id in krs:
                if kr_id in direct.get(node, ()):
                    mine[kr_id] = node  # linked directly
                else:
                    mine.setdefault(kr_id, root)  # inherited from a linked ancestor
            stack.extend(children.get(node, ()))
    return covered


@dataclass(frozen=True)
class MatrixRow:
    objective_id: int
    objective: str
    key_result_id: int | None
    key_result: str | None
    metric_key: str | None
    item_id: int | None
    item_key: str | None
    item_title: str | None
    item_level: str | None
    item_status: str | None
    via: str | None  # None: linked directly; else the key of the ancestor that carries the link


def matrix(session: Session, actor: Actor, workspace_id: int, period_id: int | None = None) -> list[MatrixRow]:
    """Objective × KR × KPI × work item. Objectives without KRs and KRs without work appear with blanks."""
    get_workspace(session, actor, workspace_id)
    covered = effective_links(session, workspace_id)
    wanted = set(covered) | {c for krs in covered.values() for c in krs.values()}
    items = {i.id: i for i in session.scalars(select(WorkItem).where(WorkItem.id.in_(wanted)))} if wanted else {}
    by_kr: dict[int, list[tuple[int, int]]] = {}
    for item_id, krs in covered.items():
        for kr_id, carrier in krs.items():
            by_kr.setdefault(kr_id, []).append((item_id, carrier))
    q = select(Objective).where(Objective.workspace_id == workspace_id).order_by(Objective.id)
    if period_id is not None:
        q = q.where(Objective.period_id == period_id)
    rows: list[MatrixRow] = []
    for obj in session.scalars(q):
        krs = session.scalars(
            select(KeyResult).where(KeyResult.objective_id == obj.id).order_by(KeyResult.position)
        ).all()
        if not krs:
            rows.append(MatrixRow(obj.id, obj.title, None, None, None, None, None, None, None, None, None))
        for kr in krs:
            metric = session.get(Metric, kr.metric_id).key if kr.metric_id else None  # type: ignore[union-attr]
            linked = sorted(by_kr.get(kr.id, []))
            if not linked:
                rows.append(MatrixRow(obj.id, obj.title, kr.id, kr.title, metric, None, None, None, None, None, None))
            for item_id, carrier in linked:
                it = items[item_id]
                via = None if carrier == item_id else items[carrier].key or str(carrier)
                rows.append(
                    MatrixRow(
                        obj.id, obj.title, kr.id, kr.title, metric, it.id, it.key, it.title, it.level, it.status, via
                    )
                )
    return rows


@dataclass(frozen=True)
class UnalignedShare:
    team_id: int | None
    team: str
    items: int
    unaligned_items: int
    flow_days: float
    unaligned_flow_days: float

    @property
    def share_by_count(self) -> float | None:
        return self.unaligned_items / self.items if self.items else None

    @property
    def share_by_flow_time(self) -> float | None:
        return self.unaligned_flow_days / self.flow_days if self.flow_days else None


def unaligned_share(
    session: Session, actor: Actor, workspace_id: int, period_id: int, now: datetime | None = None
) -> list[UnalignedShare]:
    get_workspace(session, actor, workspace_id)
    period = session.get(Period, period_id)
    if period is None or period.workspace_id != workspace_id:
        raise NotFoundError(f"period {period_id} does not exist")
    now = now or datetime.now(UTC)
    start, end = period_bounds(period)
    stop = min(end, now)
    level = _settings(session, workspace_id)["flow_level"]
    data = flow_data.load(session, workspace_id)
    if data.items.is_empty():
        return []
    timings = item_timings(data.frames, now)
    covered = effective_links(session, workspace_id)
    df = (
        data.items.select("item_id", "team_id", "level")
        .join(timings.select("item_id", "work_start", "done_at"), on="item_id")
        .filter(pl.col("level") == level)
        .filter(pl.col("work_start").is_not_null() & (pl.col("work_start") < stop))
        .filter(pl.col("done_at").is_null() | (pl.col("done_at") >= start))
        .with_columns(
            # flow time inside the period: from max(work start, period start) to min(done, period end, now)
            (
                (
                    pl.min_horizontal(pl.col("done_at").fill_null(stop), pl.lit(stop))
                    - pl.max_horizontal("work_start", pl.lit(start))
                ).dt.total_seconds()
                / 86400
            )
            .clip(0)
            .alias("days"),
            pl.col("item_id").is_in(list(covered)).not_().alias("unaligned"),
        )
    )
    teams = {t.id: t.name for t in session.scalars(select(Team).where(Team.workspace_id == workspace_id))}
    out = []
    for row in (
        df.group_by("team_id")
        .agg(
            pl.len().alias("items"),
            pl.col("unaligned").sum().alias("unaligned_items"),
            pl.col("days").sum().alias("flow_days"),
            pl.col("days").filter(pl.col("unaligned")).sum().alias("unaligned_flow_days"),
        )
        .sort("team_id", nulls_last=True)
        .iter_rows(named=True)
    ):
        out.append(
            UnalignedShare(
                row["team_id"],
                teams.get(row["team_id"], "(no team)"),
                row["items"],
                row["unaligned_items"],
                float(row["flow_days"]),
                float(row["unaligned_flow_days"]),
            )
        )
    return out
