"""Work items and how a source's own vocabulary maps onto ours (pure rules).

Every imported item gets a **level** of the agile work hierarchy (theme > initiative > epic > feature > story >
task) and a **flow-item type** of the Flow Framework (feature, defect, risk, debt), from its source issue type.
Every source status maps to a **value-stream step** (backlog … done), a **stage** (discovery, delivery,
operation, support) and whether time there is **active** work or **waiting**. Names are matched
case-insensitively (Unicode case folding), so statuses in any language work ("已完成", "In Progress").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, overload


class Level(StrEnum):
    THEME = "theme"
    INITIATIVE = "initiative"
    EPIC = "epic"
    FEATURE = "feature"
    STORY = "story"
    TASK = "task"

    @property
    def depth(self) -> int:
        return _LEVEL_ORDER.index(self)


_LEVEL_ORDER = [Level.THEME, Level.INITIATIVE, Level.EPIC, Level.FEATURE, Level.STORY, Level.TASK]


class FlowItemType(StrEnum):
    FEATURE = "feature"
    DEFECT = "defect"
    RISK = "risk"
    DEBT = "debt"


class Step(StrEnum):
    """Value-stream steps, in flow order (a move to an earlier step is a backward move: rework)."""

    BACKLOG = "backlog"
    PLANNING = "planning"
    DEVELOPMENT = "development"
    TESTING = "testing"
    DEPLOYMENT = "deployment"
    VERIFICATION = "verification"
    DONE = "done"

    @property
    def order(self) -> int:
        return _STEP_ORDER.index(self)


_STEP_ORDER = list(Step)


class Stage(StrEnum):
    DISCOVERY = "discovery"
    DELIVERY = "delivery"
    OPERATION = "operation"
    SUPPORT = "support"


def normalise(name: str) -> str:
    """Matching key of a type or status name: trimmed, inner blanks collapsed, Unicode case-folded."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class TypeRule:
    """What a source issue type becomes. ``level=None`` means "not a work item" (e.g. an Aha! release)."""

    level: Level | None
    flow_type: FlowItemType = FlowItemType.FEATURE
    note: str = ""


@dataclass(frozen=True)
class StatusRule:
    step: Step
    stage: Stage = Stage.DELIVERY
    active: bool = False


@dataclass(frozen=True)
class WorkMapping:
    """A source's mapping: types → level + flow type, statuses → step + stage + active/waiting."""

    types: Mapping[str, TypeRule] = field(default_factory=dict)
    statuses: Mapping[str, StatusRule] = field(default_factory=dict)
    # Fallback for statuses by the source's own category (Jira: new / indeterminate / done).
    status_categories: Mapping[str, StatusRule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", {normalise(k): v for k, v in self.types.items()})
        object.__setattr__(self, "statuses", {normalise(k): v for k, v in self.statuses.items()})
        object.__setattr__(self, "status_categories", {normalise(k): v for k, v in self.status_categories.items()})

    def type_rule(self, name: str) -> TypeRule | None:
        return self.types.get(normalise(name))

    def status_rule(self, name: str, category: str | None = None) -> StatusRule | None:
        rule = self.statuses.get(normalise(name))
        if rule is None and category:
            rule = self.status_categories.get(normalise(category))
        return rule

    def merged(self, other: WorkMapping) -> WorkMapping:
        """This mapping with ``other``'s rules on top (a workspace's configuration over the defaults)."""
        return WorkMapping(
            types={**self.types, **other.types},
            statuses={**self.statuses, **other.statuses},
            status_categories={**self.status_categories, **other.status_categories},
        )


@dataclass(frozen=True)
class MappingReport:
    """What a mapping does not cover: reported by ``okrflow mappings check`` and every sync, never dropped."""

    unmapped_types: tuple[str, ...] = ()
    unmapped_statuses: tuple[str, ...] = ()
    by_category: tuple[str, ...] = ()  # statuses mapped only through their category fallback

    @property
    def complete(self) -> bool:
        return not self.unmapped_types and not self.unmapped_statuses


def check_mapping(
    mapping: WorkMapping, types: Iterable[str], statuses: Iterable[tuple[str, str | None]]
) -> MappingReport:
    """Which of the given type names and (status, category) pairs the mapping does not cover."""
    unmapped_types = sorted({t for t in types if mapping.type_rule(t) is None}, key=normalise)
    missing, by_category = set(), set()
    for name, category in statuses:
        if normalise(name) in mapping.statuses:
            continue
        if category and normalise(category) in mapping.status_categories:
            by_category.add(name)
        else:
            missing.add(name)
    return MappingReport(
        tuple(unmapped_types), tuple(sorted(missing, key=normalise)), tuple(sorted(by_category, key=normalise))
    )


def is_backward(from_step: Step | None, to_step: Step) -> bool:
    """A move to an earlier step than where the item was: rework (reopening counts too)."""
    return from_step is not None and to_step.order < from_step.order


_W, _A = False, True
COMMON_STATUSES: dict[str, StatusRule] = {
    "backlog": StatusRule(Step.BACKLOG, Stage.DISCOVERY, _W),
    "open": StatusRule(Step.BACKLOG, Stage.DISCOVERY, _W),
    "new": StatusRule(Step.BACKLOG, Stage.DISCOVERY, _W),
    "to do": StatusRule(Step.BACKLOG, Stage.DISCOVERY, _W),
    "funnel": StatusRule(Step.BACKLOG, Stage.DISCOVERY, _W),
    "analysis": StatusRule(Step.PLANNING, Stage.DISCOVERY, _A),
    "refinement": StatusRule(Step.PLANNING, Stage.DISCOVERY, _A),
    "ready": StatusRule(Step.PLANNING, Stage.DELIVERY, _W),
    "selected for development": StatusRule(Step.PLANNING, Stage.DELIVERY, _W),
    "ready for development": StatusRule(Step.PLANNING, Stage.DELIVERY, _W),
    "in progress": StatusRule(Step.DEVELOPMENT, Stage.DELIVERY, _A),
    "in development": StatusRule(Step.DEVELOPMENT, Stage.DELIVERY, _A),
    "blocked": StatusRule(Step.DEVELOPMENT, Stage.DELIVERY, _W),
    "code review": StatusRule(Step.DEVELOPMENT, Stage.DELIVERY, _W),
    "in review": StatusRule(Step.DEVELOPMENT, Stage.DELIVERY, _W),
    "ready for qa": StatusRule(Step.TESTING, Stage.DELIVERY, _W),
    "ready for test": StatusRule(Step.TESTING, Stage.DELIVERY, _W),
    "in qa": StatusRule(Step.TESTING, Stage.DELIVERY, _A),
    "testing": StatusRule(Step.TESTING, Stage.DELIVERY, _A),
    "in test": StatusRule(Step.TESTING, Stage.DELIVERY, _A),
    "ready for release": StatusRule(Step.DEPLOYMENT, Stage.DELIVERY, _W),
    "ready to deploy": StatusRule(Step.DEPLOYMENT, Stage.DELIVERY, _W),
    "deploying": StatusRule(Step.DEPLOYMENT, Stage.OPERATION, _A),
    "verification": StatusRule(Step.VERIFICATION, Stage.OPERATION, _A),
    "uat": StatusRule(Step.VERIFICATION, Stage.OPERATION, _A),
    "done": StatusRule(Step.DONE, Stage.OPERATION, _W),
    "closed": StatusRule(Step.DONE, Stage.OPERATION, _W),
    "resolved": StatusRule(Step.DONE, Stage.OPERATION, _W),
    "released": StatusRule(Step.DONE, Stage.OPERATION, _W),
    "accepted": StatusRule(Step.DONE, Stage.OPERATION, _W),
    "won't do": StatusRule(Step.DONE, Stage.OPERATION, _W),
}

JIRA_STATUS_CATEGORIES: dict[str, StatusRule] = {
    "new": StatusRule(Step.BACKLOG, Stage.DISCOVERY, _W),  # "To Do" category
    "indeterminate": StatusRule(Step.DEVELOPMENT, Stage.DELIVERY, _A),  # "In Progress" category
    "done": StatusRule(Step.DONE, Stage.OPERATION, _W),
}

DEFAULT_MAPPINGS: dict[str, WorkMapping] = {
    "jira": WorkMapping(
        types={
            "Epic": TypeRule(Level.EPIC, FlowItemType.FEATURE),
            "Story": TypeRule(Level.STORY, FlowItemType.FEATURE),
            "Bug": TypeRule(Level.STORY, FlowItemType.DEFECT),
            "Task": TypeRule(Level.TASK, FlowItemType.FEATURE),
            "Sub-task": TypeRule(Level.TASK, FlowItemType.FEATURE),
            "Subtask": TypeRule(Level.TASK, FlowItemType.FEATURE),
        },
        statuses=COMMON_STATUSES,
        status_categories=JIRA_STATUS_CATEGORIES,
    ),
    # Generic files: our own vocabulary plus the common tool names.
    "files": WorkMapping(
        types={
            "Theme": TypeRule(Level.THEME),
            "Initiative": TypeRule(Level.INITIATIVE),
            "Epic": TypeRule(Level.EPIC),
            "Feature": TypeRule(Level.FEATURE),
            "Story": TypeRule(Level.STORY),
            "User Story": TypeRule(Level.STORY),
            "Bug": TypeRule(Level.STORY, FlowItemType.DEFECT),
            "Defect": TypeRule(Level.STORY, FlowItemType.DEFECT),
            "Risk": TypeRule(Level.STORY, FlowItemType.RISK),
            "Debt": TypeRule(Level.STORY, FlowItemType.DEBT),
            "Tech Debt": TypeRule(Level.STORY, FlowItemType.DEBT),
            "Task": TypeRule(Level.TASK),
            "Sub-task": TypeRule(Level.TASK),
        },
        statuses=COMMON_STATUSES,
    ),
    "rally": WorkMapping(
        types={
            "PortfolioItem/Initiative": TypeRule(Level.INITIATIVE, FlowItemType.FEATURE),
            "PortfolioItem/Feature": TypeRule(Level.FEATURE, FlowItemType.FEATURE),
            "HierarchicalRequirement": TypeRule(Level.STORY, FlowItemType.FEATURE),
            "Defect": TypeRule(Level.STORY, FlowItemType.DEFECT),
            "Task": TypeRule(Level.TASK, FlowItemType.FEATURE),
        },
        statuses=COMMON_STATUSES
        | {
            "defined": StatusRule(Step.PLANNING, Stage.DELIVERY, _W),
            "completed": StatusRule(Step.TESTING, Stage.DELIVERY, _W),
        },
    ),
    "aha": WorkMapping(
        types={
            "Initiative": TypeRule(Level.INITIATIVE, FlowItemType.FEATURE),
            "Epic": TypeRule(Level.EPIC, FlowItemType.FEATURE),
            "Feature": TypeRule(Level.FEATURE, FlowItemType.FEATURE),
            "Requirement": TypeRule(Level.STORY, FlowItemType.FEATURE),
            "Release": TypeRule(None, note="an Aha! release is a time box, not a work item"),
        },
        statuses=COMMON_STATUSES
        | {
            "under consideration": StatusRule(Step.BACKLOG, Stage.DISCOVERY, _W),
            "ready to develop": StatusRule(Step.PLANNING, Stage.DELIVERY, _W),
            "shipped": StatusRule(Step.DONE, Stage.OPERATION, _W),
        },
    ),
    "github": WorkMapping(
        types={"Issue": TypeRule(Level.STORY, FlowItemType.FEATURE), "Bug": TypeRule(Level.STORY, FlowItemType.DEFECT)},
        statuses={
            "open": StatusRule(Step.DEVELOPMENT, Stage.DELIVERY, _A),
            "closed": StatusRule(Step.DONE, Stage.OPERATION),
        },
    ),
    "gitlab": WorkMapping(
        types={
            "Issue": TypeRule(Level.STORY, FlowItemType.FEATURE),
            "Bug": TypeRule(Level.STORY, FlowItemType.DEFECT),
            "Incident": TypeRule(Level.STORY, FlowItemType.DEFECT),
            "Task": TypeRule(Level.TASK),
        },
        statuses={
            "opened": StatusRule(Step.DEVELOPMENT, Stage.DELIVERY, _A),
            "closed": StatusRule(Step.DONE, Stage.OPERATION),
        },
    ),
}


# ---------------------------------------------------------------- records that connectors produce


@dataclass(frozen=True)
class StatusChangeRecord:
    at: datetime
    to_status: str
    from_status: str = ""
    author: str = ""


class StatusHistory(Sequence[StatusChangeRecord]):
    """A status history kept as four columns (``at``, ``to_status``, ``from_status``, ``author``), not as one
    object per change: what a connector builds for a million changes, read by the import column by column.

    It is a sequence of :class:`StatusChangeRecord` (built on access) and equals the tuple of those records, so a
    record's ``history`` reads the same whichever form it has."""

    __slots__ = ("at", "author", "from_status", "to_status")

    at: tuple[datetime, ...]
    to_status: tuple[str, ...]
    from_status: tuple[str, ...]
    author: tuple[str, ...]

    def __init__(
        self, at: Iterable[datetime], to_status: Iterable[str], from_status: Iterable[str], author: Iterable[str]
    ) -> None:
        cols = (tuple(at), tuple(to_status), tuple(from_status), tuple(author))
        if len({len(c) for c in cols}) > 1:
            raise ValueError("the columns of a status history have one value per change each")
        self.at, self.to_status, self.from_status, self.author = cols

    @classmethod
    def from_records(cls, records: Iterable[StatusChangeRecord]) -> StatusHistory:
        rows = [(r.at, r.to_status, r.from_status, r.author) for r in records]
        return cls(*zip(*rows, strict=True)) if rows else cls((), (), (), ())

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[datetime, str, str, str]]) -> StatusHistory:
        """From ``(at, to_status, from_status, author)`` tuples."""
        return cls(*zip(*rows, strict=True)) if rows else cls((), (), (), ())

    def __len__(self) -> int:
        return len(self.at)

    @overload
    def __getitem__(self, index: int) -> StatusChangeRecord: ...
    @overload
    def __getitem__(self, index: slice) -> StatusHistory: ...
    def __getitem__(self, index: int | slice) -> StatusChangeRecord | StatusHistory:
        if isinstance(index, slice):
            return StatusHistory(self.at[index], self.to_status[index], self.from_status[index], self.author[index])
        return StatusChangeRecord(self.at[index], self.to_status[index], self.from_status[index], self.author[index])

    def __iter__(self) -> Iterator[StatusChangeRecord]:
        return map(StatusChangeRecord, self.at, self.to_status, self.from_status, self.author)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StatusHistory):
            return (self.at, self.to_status, self.from_status, self.author) == (
                other.at,
                other.to_status,
                other.from_status,
                other.author,
            )
        if isinstance(other, tuple):
            return tuple(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))  # as the equal tuple of records hashes

    def __repr__(self) -> str:
        return f"StatusHistory({list(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (StatusHistory, (self.at, self.to_status, self.from_status, self.author))


@dataclass(frozen=True)
class FieldChangeRecord:
    at: datetime
    field: str
    from_value: str = ""
    to_value: str = ""
    author: str = ""


@dataclass(frozen=True)
class WorkRecord:
    """One work item as a connector read it from its source, before mapping."""

    external_id: str
    issue_type: str
    status: str
    created: datetime
    title: str = ""
    key: str = ""
    url: str = ""
    status_category: str | None = None
    resolved: datetime | None = None
    updated: datetime | None = None
    parent_external_id: str | None = None
    labels: tuple[str, ...] = ()
    story_points: float | None = None
    assignee: str | None = None
    history: tuple[StatusChangeRecord, ...] | StatusHistory = ()  # the parsers of big sources: columns
    field_changes: tuple[FieldChangeRecord, ...] = ()
    kr_refs: tuple[str, ...] = ()  # key results named by the source (e.g. an "OKR" field)

    def problems(self) -> list[str]:
        """What makes this record unusable (an import with any such record writes nothing)."""
        out = []
        if not self.external_id.strip():
            out.append("external id is empty")
        if not self.issue_type.strip():
            out.append("issue type is empty")
        if not self.status.strip():
            out.append("status is empty")
        for name in ("created", "resolved", "updated"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                out.append(f"{name} has no time zone")
        if self.resolved is not None and self.resolved < self.created:
            out.append("resolved lies before created")
        if self.story_points is not None and not (self.story_points == self.story_points and self.story_points >= 0):
            out.append("story points must be a number ≥ 0")
        if self.parent_external_id is not None and self.parent_external_id == self.external_id:
            out.append("an item cannot be its own parent")
        return out
