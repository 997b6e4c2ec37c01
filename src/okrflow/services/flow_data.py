"""Loading a workspace's work into the frames the flow engine computes on (``metrics.flow.FlowFrames``).

Statuses are mapped per source (two sources may read the same status name differently); when they do, the
status keys are prefixed with the source id so each keeps its own rule. A status the mapping does not name
falls back to its category (Jira's new / indeterminate / done) when items currently in it carry one — the same
fallback the import's mapping report counts as mapped.

Flow metrics count the items of the workspace's **flow level** (``settings["work"]["flow_level"]``, else
``settings["traceability"]["flow_level"]``, ``story`` by default): pass ``level=flow_level(session, ws)``;
``level=None`` loads every level (traceability, the hierarchy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.metrics.flow import FlowFrames
from okrflow.services.sources import mapping_for
from okrflow.store.models import Workspace
from okrflow.store.models_work import Source, StatusChange, WorkItem

DEFAULT_FLOW_LEVEL = "story"
ATTRIBUTE_COLUMNS = ("item_id", "team_id", "source_id", "flow_type", "level")

ITEM_COLUMNS = (
    "item_id",
    "source_id",
    "team_id",
    "key",
    "title",
    "level",
    "flow_type",
    "status",
    "created",
    "resolved",
    "parent_id",
)


@dataclass(frozen=True)
class WorkData:
    frames: FlowFrames  # rules: status, step, step_order, active, stage
    items: pl.DataFrame  # ITEM_COLUMNS, one row per item, ordered by item_id

    @property
    def attributes(self) -> pl.DataFrame:
        """``item_id, team_id, source_id, flow_type, level`` ordered by ``item_id`` (``flow_metrics.prepare``)."""
        return self.items.select(ATTRIBUTE_COLUMNS)


def flow_level(session: Session, workspace_id: int) -> str:
    """The level that counts as the flow item in the workspace (``story`` unless configured)."""
    ws = session.get(Workspace, workspace_id)
    settings = (ws.settings or {}) if ws else {}
    work = settings.get("work") or {}
    trace = settings.get("traceability") or {}
    return str(work.get("flow_level") or trace.get("flow_level") or DEFAULT_FLOW_LEVEL)


def _frame(rows: list[tuple[object, ...]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


def load(
    session: Session,
    workspace_id: int,
    *,
    team_ids: Sequence[int] | None = None,
    source_ids: Sequence[int] | None = None,
    flow_types: Sequence[str] | None = None,
    level: str | None = None,
) -> WorkData:
    """The workspace's items (optionally only those of the given teams, sources, flow types and level — ``None``
    means no filter on that field) with their status changes and the status rules of their sources."""
    conds = [WorkItem.workspace_id == workspace_id]
    if team_ids is not None:
        conds.append(WorkItem.team_id.in_(list(team_ids)))
    if source_ids is not None:
        conds.append(WorkItem.source_id.in_(list(source_ids)))
    if flow_types is not None:
        conds.append(WorkItem.flow_type.in_(list(flow_types)))
    if level is not None:
        conds.append(WorkItem.level == level)
    q = (
        select(
            WorkItem.id,
            WorkItem.source_id,
            WorkItem.team_id,
            WorkItem.key,
            WorkItem.title,
            WorkItem.level,
            WorkItem.flow_type,
            WorkItem.status,
            WorkItem.created,
            WorkItem.resolved,
            WorkItem.parent_id,
        )
        .where(*conds)
        .order_by(WorkItem.id)
    )
    item_rows = session.execute(q).all()
    items = _frame(
        [tuple(r) for r in item_rows],
        {
            "item_id": pl.Int64(),
            "source_id": pl.Int64(),
            "team_id": pl.Int64(),
            "key": pl.Utf8(),
            "title": pl.Utf8(),
            "level": pl.Utf8(),
            "flow_type": pl.Utf8(),
            "status": pl.Utf8(),
            "created": pl.Datetime("us", "UTC"),
            "resolved": pl.Datetime("us", "UTC"),
            "parent_id": pl.Int64(),
        },
    )
    cq = (
        select(StatusChange.work_item_id, StatusChange.at, StatusChange.from_status, StatusChange.to_status)
        .join(WorkItem, WorkItem.id == StatusChange.work_item_id)
        .where(*conds)
        .order_by(StatusChange.work_item_id, StatusChange.at, StatusChange.id)
    )
    changes = _frame(
        [tuple(r) for r in session.execute(cq).all()],
        {"item_id": pl.Int64(), "at": pl.Datetime("us", "UTC"), "from_status": pl.Utf8(), "to_status": pl.Utf8()},
    )
    sources = {s.id: s for s in session.scalars(select(Source).where(Source.workspace_id == workspace_id))}
    names_by_source: dict[int, set[str]] = {}
    category_of: dict[tuple[int, str], str] = {}
    for sid, status, category in session.execute(
        select(WorkItem.source_id, WorkItem.status, WorkItem.status_category).where(*conds).distinct()
    ):
        if category:
            category_of.setdefault((sid, status), category)
    src_of_item = dict(zip(items["item_id"].to_list(), items["source_id"].to_list(), strict=True))
    for sid, status in zip(items["source_id"].to_list(), items["status"].to_list(), strict=True):
        names_by_source.setdefault(sid, set()).add(status)
    if len(changes):
        pairs = changes.select(
            pl.col("item_id").replace_strict(src_of_item, return_dtype=pl.Int64).alias("source_id"),
            "from_status",
            "to_status",
        ).unique()
        for sid, f, t in pairs.iter_rows():
            names_by_source.setdefault(sid, set()).update(x for x in (f, t) if x)
    rules: dict[tuple[int, str], tuple[str, int, bool, str]] = {}
    for sid, names in names_by_source.items():
        mapping = mapping_for(sources[sid])
        for name in names:
            rule = mapping.status_rule(name, category_of.get((sid, name)))
            if rule is not None:
                rules[(sid, name)] = (rule.step.value, rule.step.order, rule.active, rule.stage.value)
    by_name: dict[str, set[tuple[str, int, bool, str]]] = {}
    for (_sid, name), r in rules.items():
        by_name.setdefault(name, set()).add(r)
    conflict = any(len(v) > 1 for v in by_name.values())
    if conflict:
        prefix = pl.col("source_id").cast(pl.Utf8) + "\x1f"
        items_f = items.select("item_id", "created", (prefix + pl.col("status")).alias("status"))
        ch_src = changes.with_columns(
            pl.col("item_id").replace_strict(src_of_item, return_dtype=pl.Int64).alias("source_id")
        )
        changes_f = ch_src.select(
            "item_id",
            "at",
            pl.when(pl.col("from_status") == "")
            .then(pl.lit(""))
            .otherwise(prefix + pl.col("from_status"))
            .alias("from_status"),
            (prefix + pl.col("to_status")).alias("to_status"),
        )
        rule_rows = [(f"{sid}\x1f{name}", *r) for (sid, name), r in rules.items()]
    else:
        items_f = items.select("item_id", "created", "status")
        changes_f = changes
        rule_rows = [(name, *next(iter(rs))) for name, rs in by_name.items()]
    rules_df = pl.DataFrame(
        sorted(rule_rows),
        schema={"status": pl.Utf8, "step": pl.Utf8, "step_order": pl.Int16, "active": pl.Boolean, "stage": pl.Utf8},
        orient="row",
    )
    return WorkData(FlowFrames(items_f, changes_f, rules_df), items)
