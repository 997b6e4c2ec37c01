"""Request and response bodies of the work endpoints: sources (credentials are write-only), mappings, sync
runs, work items, links, traceability, flow and DORA.

The conventions of :mod:`okrflow.api.schemas`: request bodies reject unknown fields and unstorable values.
A source's credentials are accepted on POST/PATCH and **never** returned: a response says ``has_credentials``.
Chart series are lists of plain rows (dates ISO, numbers never NaN); the same rows come as CSV on request.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from okrflow.api.schemas import DbId, _Body, _Patch, _Read

SourceName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$"),
    Field(description="Lower-case letters, digits, '_', '.', '-'; at most 100.", examples=["jira-payments"]),
]
SourceKind = Literal["jira", "github", "gitlab", "files"]
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Credentials = Annotated[
    dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")], Secret],
    Field(
        max_length=8,
        description="Write-only: e.g. {'email', 'api_token'} (Jira Cloud) or {'token'}; stored encrypted, never "
        "returned.",
        examples=[{"email": "bot@example.com", "api_token": "..."}],
    ),
]
JsonObject = Annotated[dict[str, Any], Field(max_length=100)]


# ------------------------------------------------------------------ sources


class SourceCreate(_Body):
    name: SourceName
    kind: SourceKind
    base_url: Url = ""
    settings: JsonObject = Field(default_factory=dict, description="JQL, project, repository, field ids …")
    mapping: JsonObject = Field(
        default_factory=dict, description="Rules over the kind's defaults: {types: {...}, statuses: {...}}"
    )
    credentials: Credentials | None = None
    team_id: DbId | None = None


class SourceUpdate(_Patch):
    not_null = ("base_url", "settings", "mapping")

    base_url: Url | None = None
    settings: JsonObject | None = None
    mapping: JsonObject | None = None
    credentials: Credentials | None = Field(default=None, description="Write-only; null removes them.")
    team_id: DbId | None = None


class SourceRead(_Read):
    id: int
    workspace_id: int
    name: str
    kind: str
    base_url: str
    settings: dict[str, Any]
    mapping: dict[str, Any]
    has_credentials: bool = Field(description="Credentials are stored (they are never returned).")
    cursor: str | None
    team_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class TypeRuleRead(BaseModel):
    level: str | None
    flow_type: str | None
    note: str = ""


class StatusRuleRead(BaseModel):
    step: str
    stage: str
    active: bool


class MappingRead(BaseModel):
    source_id: int
    types: dict[str, TypeRuleRead]
    statuses: dict[str, StatusRuleRead]
    status_categories: dict[str, StatusRuleRead]
    unmapped_types: list[str]
    unmapped_statuses: list[str]
    statuses_mapped_by_category: list[str]
    complete: bool


# ------------------------------------------------------------------ runs


class RunRead(_Read):
    id: int
    workspace_id: int
    source_id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    cursor_before: str | None
    cursor_after: str | None
    created: int
    updated: int
    unchanged: int
    rejected: int
    status_changes: int
    errors: list[Any]
    report: dict[str, Any]
    actor: str


class PublishedRead(BaseModel):
    """What publishing the flow/DORA catalog metrics after the sync did."""

    defined: list[str]
    revised: list[str]
    created: int
    updated: int
    unchanged: int
    first_day: date | None
    last_day: date | None


class SyncSummaryRead(BaseModel):
    source: str
    kind: str
    runs: list[RunRead]
    fetched: int
    requests: int
    created: int
    updated: int
    unchanged: int
    warnings: list[str]
    duration_seconds: float
    published: PublishedRead | None = None


class ConnectionCheckRead(BaseModel):
    """A connection test of a jira, github or gitlab source: a failed check is ``ok: false`` with the reason."""

    ok: bool = Field(description="Reached, the credentials accepted, the repository/project/JQL read.")
    kind: str
    message: str = Field(description="One readable line: what was reached, or what went wrong and what to check.")
    details: dict[str, Any] = Field(
        description="What the check learnt: user, server version and deployment type, repository or project, "
        "rate limit left … (never a credential)."
    )
    duration_ms: int


# ------------------------------------------------------------------ work items


class TimingRead(BaseModel):
    work_start: datetime | None
    done_at: datetime | None
    flow_days: float | None
    age_days: float
    started: bool


class ItemBrief(BaseModel):
    id: int
    key: str
    title: str
    level: str | None
    status: str


class ServedRead(BaseModel):
    key_result_id: int
    key_result: str
    objective_id: int
    objective: str
    via: ItemBrief | None = Field(description="null: linked directly; else the ancestor that carries the link")
    origin: str | None = None


class WorkItemRead(BaseModel):
    id: int
    workspace_id: int
    source_id: int
    source: str
    external_id: str
    key: str
    url: str
    title: str
    issue_type: str
    level: str | None
    flow_type: str | None
    status: str
    status_category: str | None
    step: str | None
    parent_id: int | None
    team_id: int | None
    team: str | None
    created: datetime
    resolved: datetime | None
    updated: datetime | None
    labels: list[str]
    story_points: float | None
    assignee: str | None
    timing: TimingRead
    serves: list[ServedRead]


class HistoryRead(BaseModel):
    at: datetime
    from_status: str
    to_status: str
    from_step: str | None
    to_step: str | None
    author: str
    backward: bool


class FieldChangeRead(_Read):
    at: datetime
    field: str
    from_value: str
    to_value: str
    author: str


class ChildRead(ItemBrief):
    step: str | None


class WorkItemDetail(WorkItemRead):
    ancestors: list[ItemBrief] = Field(description="Root first")
    children: list[ChildRead]
    history: list[HistoryRead]
    field_changes: list[FieldChangeRead]


class LinkCreate(_Body):
    key_result_id: DbId


class LinkRead(BaseModel):
    work_item_id: int
    key_result_id: int
    origin: str
    author: str
    created_at: datetime


class AutoLinkRead(BaseModel):
    links_made: int
    problems: list[str]


class MatrixRowRead(BaseModel):
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
    via: str | None


class UnalignedRead(BaseModel):
    team_id: int | None
    team: str
    items: int
    unaligned_items: int
    share_by_count: float | None
    flow_days: float
    unaligned_flow_days: float
    share_by_flow_time: float | None


# ------------------------------------------------------------------ flow


class WindowRead(BaseModel):
    since: date
    until: date
    tz: str
    as_of: datetime | None = None
    items: int | None = Field(default=None, description="Items in scope (all states)")
    teams: list[str] = []
    flow_types: list[str] | None = None
    level: str | None = None


class FlowTimeRead(BaseModel):
    items: int
    mean_days: float | None
    p50_days: float | None
    p85_days: float | None
    p95_days: float | None


Rows = list[dict[str, Any]]


class FlowReportRead(BaseModel):
    window: WindowRead
    velocity: int
    velocity_per_week: float | None
    flow_time: FlowTimeRead
    efficiency: float | None
    median_item_efficiency: float | None
    load_now: int
    load_mean: float | None
    distribution: Rows
    committed: int
    delivered: int
    predictability: float | None
    weekly: Rows
    weekly_distribution: Rows
    daily_load: Rows


class CfdRead(BaseModel):
    window: WindowRead
    series: Rows = Field(description="date, step, step_order, items, cumulative")


class ThroughputRead(BaseModel):
    window: WindowRead
    total: int
    mean_per_day: float | None
    daily: Rows
    weekly: Rows


class ScatterRead(BaseModel):
    window: WindowRead
    percentiles: dict[str, float | None]
    points: Rows


class AgingRead(BaseModel):
    window: WindowRead
    percentiles: dict[str, float | None]
    waste: int = Field(description="Items in progress for more than 90 days")
    items: Rows
    by_step: Rows
    by_age: Rows


class ValueStreamRead(BaseModel):
    window: WindowRead
    bottleneck: str | None
    items_in_window: int
    steps: Rows
    stages: Rows


class ValueStreamCompareRead(BaseModel):
    window: WindowRead
    a: ValueStreamRead
    b: ValueStreamRead
    steps: Rows = Field(description="<figure>_a, <figure>_b, <figure>_delta (b − a) per step")
    stages: Rows


class ForecastRead(BaseModel):
    window: WindowRead = Field(description="The history window the throughput is sampled from")
    kind: Literal["how_many", "when"]
    start: date
    target_date: date | None
    target_items: int | None
    trials: int
    seed: int | None
    history_days: int
    history_items: int
    mean_per_day: float | None
    answers: dict[str, int | None] = Field(description="Percent confidence → items (how many) or days (when)")
    dates: dict[str, date | None]
    unfinished: int
    histogram: Rows
    warnings: list[str]


class DoraRead(BaseModel):
    since: date
    until: date
    tz: str
    team_id: int | None
    services: Rows = Field(description="Per service: the four metrics and their 2023 levels over the window")
    weekly: Rows = Field(description="The same per service and ISO week (trend series)")
