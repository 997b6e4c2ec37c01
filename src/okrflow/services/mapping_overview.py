"""What each source's mapping does with the values stored for it: the facts behind the web page ``/mappings``.

Per source, every **issue type** seen in its items (with item counts) and every **status** seen (items in it
now, and items whose history passes through it), each with the rule that applies and where the rule comes from:
the source's own mapping, the defaults of its kind, or (statuses) the fallback by status category. Which values
are unmapped or mapped only by category is taken from :func:`okrflow.services.sources.mapping_report`, so the
page says exactly what ``okrflow mappings check`` and every sync run say.

Also the small pure helpers of the in-place edit: a rule merged into a source's stored mapping
(:func:`with_rule`), a suggested rule for an unmapped value, and the YAML that ``okrflow config apply``
accepts for it (:func:`rule_yaml`, :func:`source_yaml`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor
from okrflow.domain.work import (
    DEFAULT_MAPPINGS,
    Level,
    MappingReport,
    StatusRule,
    TypeRule,
    WorkMapping,
    normalise,
)
from okrflow.services import sources
from okrflow.store.models import Team
from okrflow.store.models_work import Source, StatusChange, WorkItem

Origin = Literal["source", "default", "category", ""]
SECRET_WORDS = ("token", "secret", "password", "credential", "api_key", "apikey")


@dataclass(frozen=True)
class TypeRow:
    """An issue type seen in a source's items."""

    name: str
    items: int
    rule: TypeRule | None
    origin: Origin  # "source" (its own mapping), "default" (of its kind), "" (unmapped)

    @property
    def unmapped(self) -> bool:
        return self.rule is None


@dataclass(frozen=True)
class StatusRow:
    """A status seen in a source's items (now) or in their history (either side of a change)."""

    name: str
    category: str | None  # the source's status category, stored with items currently in the status
    items_now: int
    items_history: int  # items whose history enters or leaves the status
    rule: StatusRule | None
    origin: Origin  # "source", "default", "category" (fallback by category), "" (unmapped)

    @property
    def state(self) -> Literal["unmapped", "category", "mapped"]:
        if self.rule is None:
            return "unmapped"
        return "category" if self.origin == "category" else "mapped"


@dataclass(frozen=True)
class SourceMappings:
    source: Source
    team: str | None  # the name of the source's team
    team_slug: str | None
    items: int
    own_rules: int  # rules in the source's own mapping
    types: list[TypeRow]  # unmapped first, then by level (theme … task, none last), then by name
    statuses: list[StatusRow]  # unmapped first, then mapped by category, then by step order, then by name
    report: MappingReport

    @property
    def unmapped(self) -> int:
        return len(self.report.unmapped_types) + len(self.report.unmapped_statuses)


@dataclass(frozen=True)
class WorkspaceMappings:
    sources: list[SourceMappings]
    flow_level: str

    @property
    def unmapped(self) -> int:
        return sum(s.unmapped for s in self.sources)

    @property
    def sources_with_unmapped(self) -> int:
        return sum(1 for s in self.sources if s.unmapped)

    @property
    def by_category(self) -> int:
        return sum(len(s.report.by_category) for s in self.sources)


# ------------------------------------------------------------------ reading


def _origin(own: WorkMapping, base: WorkMapping, section: str, name: str) -> Origin:
    key = normalise(name)
    if key in getattr(own, section):
        return "source"
    if key in getattr(base, section):
        return "default"
    return ""


def source_mappings(session: Session, actor: Actor, source_id: int) -> SourceMappings:
    """The issue types and statuses stored for one source, each with its rule and where the rule comes from."""
    src = sources.get_source(session, actor, source_id)
    team = session.get(Team, src.team_id) if src.team_id else None
    report = sources.mapping_report(session, actor, source_id)
    own = sources.parse_mapping(src.mapping)
    base = DEFAULT_MAPPINGS.get(src.kind, WorkMapping())
    effective = base.merged(own)

    type_counts = session.execute(
        select(WorkItem.issue_type, func.count()).where(WorkItem.source_id == src.id).group_by(WorkItem.issue_type)
    ).all()
    unmapped_types = set(report.unmapped_types)
    types = []
    for name, n in type_counts:
        rule = None if name in unmapped_types else effective.type_rule(name)
        types.append(TypeRow(name, int(n), rule, _origin(own, base, "types", name) if rule else ""))

    now: dict[str, int] = {}
    categories: dict[str, str | None] = {}
    for status, category, n in session.execute(
        select(WorkItem.status, WorkItem.status_category, func.count())
        .where(WorkItem.source_id == src.id)
        .group_by(WorkItem.status, WorkItem.status_category)
    ):
        now[status] = now.get(status, 0) + int(n)
        if category and (categories.get(status) is None or category < str(categories[status])):
            categories[status] = category
        categories.setdefault(status, None)
    passes = union(
        select(StatusChange.work_item_id.label("item"), StatusChange.to_status.label("status"))
        .join(WorkItem, WorkItem.id == StatusChange.work_item_id)
        .where(WorkItem.source_id == src.id),
        select(StatusChange.work_item_id.label("item"), StatusChange.from_status.label("status"))
        .join(WorkItem, WorkItem.id == StatusChange.work_item_id)
        .where(WorkItem.source_id == src.id, StatusChange.from_status != ""),
    ).subquery()
    history = {
        str(status): int(n)
        for status, n in session.execute(select(passes.c.status, func.count()).group_by(passes.c.status))
        if status
    }
    unmapped_statuses, by_category = set(report.unmapped_statuses), set(report.by_category)
    statuses = []
    for name in set(now) | set(history):
        category = categories.get(name)
        status_rule = None if name in unmapped_statuses else effective.status_rule(name, category)
        if status_rule is None:
            origin: Origin = ""
        elif name in by_category:
            origin = "category"
        else:
            origin = _origin(own, base, "statuses", name)
        statuses.append(StatusRow(name, category, now.get(name, 0), history.get(name, 0), status_rule, origin))

    def type_key(r: TypeRow) -> tuple[int, int, str]:
        depth = r.rule.level.depth if r.rule and r.rule.level else len(Level)
        return (0 if r.unmapped else 1, depth, normalise(r.name))

    def status_key(r: StatusRow) -> tuple[int, int, str]:
        rank = {"unmapped": 0, "category": 1, "mapped": 2}[r.state]
        return (rank, r.rule.step.order if r.rule else 0, normalise(r.name))

    own_rules = sum(len(getattr(own, k)) for k in ("types", "statuses", "status_categories"))
    return SourceMappings(
        source=src,
        team=team.name if team else None,
        team_slug=team.slug if team else None,
        items=sum(r.items for r in types),
        own_rules=own_rules,
        types=sorted(types, key=type_key),
        statuses=sorted(statuses, key=status_key),
        report=report,
    )


def workspace_mappings(session: Session, actor: Actor, workspace_id: int) -> WorkspaceMappings:
    """Every source of the workspace (by name) with its types and statuses, and the workspace's flow level."""
    from okrflow.services import traceability

    rows = [source_mappings(session, actor, src.id) for src in sources.list_sources(session, actor, workspace_id)]
    return WorkspaceMappings(rows, traceability.flow_level(session, workspace_id))


# ------------------------------------------------------------------ editing (pure)


def with_rule(mapping: dict[str, Any] | None, section: str, name: str, rule: dict[str, Any]) -> dict[str, Any]:
    """A copy of a source's stored mapping with ``rule`` for ``name`` in ``section`` (``types``, ``statuses``):
    an existing rule for the same name in another case or spacing is replaced, not kept next to it."""
    out = copy.deepcopy(mapping or {})
    rules = {k: v for k, v in (out.get(section) or {}).items() if normalise(k) != normalise(name)}
    rules[" ".join(name.split())] = rule
    out[section] = rules
    return out


_TYPE_HINTS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (("bug", "defect", "incident", "缺陷", "故障"), {"level": "story", "flow_type": "defect"}),
    (("spike", "risk", "风险"), {"level": "task", "flow_type": "risk"}),
    (("debt", "refactor", "债务", "重构"), {"level": "story", "flow_type": "debt"}),
    (("sub-task", "subtask", "子任务"), {"level": "task", "flow_type": "feature"}),
    (("theme", "主题"), {"level": "theme", "flow_type": "feature"}),
    (("initiative", "举措"), {"level": "initiative", "flow_type": "feature"}),
    (("epic", "史诗"), {"level": "epic", "flow_type": "feature"}),
    (("feature", "特性", "需求"), {"level": "feature", "flow_type": "feature"}),
    (("task", "任务"), {"level": "task", "flow_type": "feature"}),
)
_STATUS_HINTS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("done", "closed", "complete", "resolved", "shipped", "已完成", "已关闭", "已解决", "已发布", "完成"),
     {"step": "done", "stage": "operation", "active": False}),
    (("deploy", "release", "发布"), {"step": "deployment", "stage": "delivery", "active": False}),
    (("test", "qa", "verif", "测试", "验证"), {"step": "testing", "stage": "delivery", "active": True}),
    (("review", "blocked", "hold", "评审", "挂起"), {"step": "development", "stage": "delivery", "active": False}),
    (("progress", "develop", "doing", "coding", "开发", "处理中"),
     {"step": "development", "stage": "delivery", "active": True}),
    (("analys", "refine", "design", "分析", "设计"), {"step": "planning", "stage": "discovery", "active": True}),
    (("ready", "selected", "planned", "todo", "to do", "待"),
     {"step": "planning", "stage": "delivery", "active": False}),
)  # fmt: skip


def suggest_type_rule(name: str) -> dict[str, str]:
    """A first guess for an unmapped issue type, from words in its name (a story of type feature otherwise)."""
    key = normalise(name)
    for words, rule in _TYPE_HINTS:
        if any(w in key for w in words):
            return dict(rule)
    return {"level": "story", "flow_type": "feature"}


def suggest_status_rule(name: str, category_rule: StatusRule | None = None) -> dict[str, Any]:
    """A first guess for a status: its category's rule if it has one, else from words in its name, else the
    backlog (waiting time before work starts, the guess that distorts flow time least)."""
    if category_rule is not None:
        return status_rule_dict(category_rule)
    key = normalise(name)
    for words, rule in _STATUS_HINTS:
        if any(w in key for w in words):
            return dict(rule)
    return {"step": "backlog", "stage": "discovery", "active": False}


def status_rule_dict(rule: StatusRule) -> dict[str, Any]:
    return {"step": rule.step.value, "stage": rule.stage.value, "active": rule.active}


def clean_mapping(mapping: dict[str, Any] | None) -> dict[str, Any]:
    """A stored mapping with every rule written out in the shape okrflow.yaml accepts (``level: none`` for
    "not a work item", defaults filled in, unknown keys dropped); names kept as written."""
    out: dict[str, Any] = {}
    for section in ("types", "statuses", "status_categories"):
        rules = (mapping or {}).get(section) or {}
        if not rules:
            continue
        parsed = sources.parse_mapping({section: rules})
        clean: dict[str, Any] = {}
        for name in rules:
            rule = getattr(parsed, section)[normalise(name)]
            if isinstance(rule, TypeRule):
                clean[name] = {"level": rule.level.value if rule.level else "none", "flow_type": rule.flow_type.value}
                if rule.note:
                    clean[name]["note"] = rule.note
            else:
                clean[name] = status_rule_dict(rule)
        out[section] = clean
    return out


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=None, width=100)


def rule_yaml(source: Source, section: str, name: str, rule: dict[str, Any]) -> str:
    """The ``sources:`` entry that maps one value, as ``okrflow config apply`` reads it (to merge into the
    source's entry of okrflow.yaml)."""
    entry = {"name": source.name, "kind": source.kind, "mapping": {section: {name: rule}}}
    return _dump({"sources": [entry]})


def source_yaml(source: Source, team_slug: str | None, extra: dict[str, dict[str, Any]] | None = None) -> str:
    """The source's whole entry for okrflow.yaml: base URL, team, the non-secret settings and its own mapping,
    with the ``extra`` rules (``{"types": {name: rule}, "statuses": {…}}``) merged in. Applying it leaves the
    source as it is apart from those rules (``config apply`` sets base URL, settings and team from the entry)."""
    mapping = clean_mapping(source.mapping)
    for section, rules in (extra or {}).items():
        for name, rule in rules.items():
            mapping = with_rule(mapping, section, name, rule)
    entry: dict[str, Any] = {"name": source.name, "kind": source.kind}
    if source.base_url:
        entry["base_url"] = source.base_url
    if team_slug:
        entry["team"] = team_slug
    settings = {k: v for k, v in (source.settings or {}).items() if not any(w in k.lower() for w in SECRET_WORDS)}
    if settings:
        entry["settings"] = settings
    mapping = {k: v for k, v in mapping.items() if v}
    entry["mapping"] = mapping
    return _dump({"sources": [entry]})


__all__ = [
    "SourceMappings",
    "StatusRow",
    "TypeRow",
    "WorkspaceMappings",
    "clean_mapping",
    "rule_yaml",
    "source_mappings",
    "source_yaml",
    "status_rule_dict",
    "suggest_status_rule",
    "suggest_type_rule",
    "with_rule",
    "workspace_mappings",
]
