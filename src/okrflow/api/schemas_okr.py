"""Request and response bodies of the OKR and KPI-catalog endpoints (periods, objectives, key results,
check-ins, metrics, metric values, glossary).

The same conventions as :mod:`okrflow.api.schemas`: request bodies reject unknown fields and unstorable values;
numbers are bounded (``|x| ≤ 10¹⁵``) so no computation downstream can overflow to infinity; ids are bounded to
the database's integer range. Computed numbers are never NaN or infinite in a response (they become ``null``).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from okrflow.api.schemas import DbId, Name, Text, _Body, _Patch, _Read, _VersionedRead

MAX_NUMBER = 1e15  # far beyond any KPI; keeps (value − baseline) / (target − baseline) finite

Number = Annotated[float, Field(ge=-MAX_NUMBER, le=MAX_NUMBER, allow_inf_nan=False)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]
Weight = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
Confidence = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False, description="0 (no chance) to 10 (certain).")]
DimName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
DimValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Dimensions = Annotated[dict[DimName, DimValue], Field(max_length=16, examples=[{"team": "payments"}])]
MetricKey = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$"),
    Field(description="Lower-case letters, digits, '_', '.', '-'; at most 100.", examples=["checkout_conversion"]),
]
Hours = Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
PeriodKind = Literal["annual", "quarter", "custom"]
ObjectiveStatusName = Literal["draft", "active", "closed"]
CommitmentName = Literal["committed", "aspirational"]
DirectionName = Literal["increase", "decrease", "band", "milestone"]
KrKindName = Literal["outcome", "output", "discovery"]


def finite(value: float | None) -> float | None:
    """``None`` for NaN/infinity: JSON has no such numbers and a response must never fail to encode."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


class Ref(BaseModel):
    """Another object named by id and name."""

    id: int
    name: str


# ------------------------------------------------------------------ periods


class PeriodCreate(_Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    kind: PeriodKind = "custom"
    start_date: date
    end_date: date
    parent_id: DbId | None = Field(None, description="The enclosing period (a quarter's year).")


class YearCreate(_Body):
    year: int = Field(ge=1900, le=2999, examples=[2026])


class PeriodUpdate(_Patch):
    not_null = ("name", "start_date", "end_date")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    start_date: date | None = None
    end_date: date | None = None


class PeriodRead(_VersionedRead):
    id: int
    workspace_id: int
    parent_id: int | None
    name: str
    kind: str
    start_date: date
    end_date: date


# ------------------------------------------------------------------ objectives


class ObjectiveCreate(_Body):
    period_id: DbId
    title: Title
    team_id: DbId | None = Field(None, description="Leave out for a workspace-level objective.")
    owner_person_id: DbId | None = None
    description: Text = ""
    status: ObjectiveStatusName = "active"
    commitment: CommitmentName = "committed"
    aligned_to_kr_id: DbId | None = Field(None, description="Cascading: the parent key result this contributes to.")
    alignment_weight: Weight = 1.0


class ObjectiveUpdate(_Patch):
    not_null = ("period_id", "title", "description", "status", "commitment", "alignment_weight")

    period_id: DbId | None = None
    title: Title | None = None
    team_id: DbId | None = None
    owner_person_id: DbId | None = None
    description: Text | None = None
    status: ObjectiveStatusName | None = None
    commitment: CommitmentName | None = None
    aligned_to_kr_id: DbId | None = Field(None, description="null removes the alignment.")
    alignment_weight: Weight | None = None


class ObjectiveRead(_VersionedRead):
    id: int
    workspace_id: int
    period_id: int
    team_id: int | None
    owner_person_id: int | None
    title: str
    description: str
    status: str
    commitment: str
    aligned_to_kr_id: int | None
    alignment_weight: float


# ------------------------------------------------------------------ key results


class KeyResultCreate(_Body):
    title: Title
    direction: DirectionName
    baseline: Number = 0.0
    target: Number = 1.0
    band_low: Number | None = None
    band_high: Number | None = None
    milestones: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100
    )
    unit: Unit = ""
    weight: Weight = 1.0
    kind: KrKindName = "outcome"
    owner_person_id: DbId | None = None
    metric_id: DbId | None = Field(None, description="Bind to a catalog metric: its latest value is the KR's value.")
    metric_dimensions: Dimensions = Field(default_factory=dict)


class KeyResultUpdate(_Patch):
    not_null = ("title", "direction", "baseline", "target", "milestones", "unit", "weight", "kind", "position")

    title: Title | None = None
    direction: DirectionName | None = None
    baseline: Number | None = None
    target: Number | None = None
    band_low: Number | None = None
    band_high: Number | None = None
    milestones: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] | None = (
        Field(None, max_length=100)
    )
    unit: Unit | None = None
    weight: Weight | None = None
    kind: KrKindName | None = None
    owner_person_id: DbId | None = None
    metric_id: DbId | None = None
    metric_dimensions: Dimensions | None = None
    position: int | None = Field(None, ge=0, le=10_000)

    def changes(self) -> dict[str, Any]:
        out = super().changes()
        if "metric_dimensions" in out and out["metric_dimensions"] is None:
            out["metric_dimensions"] = {}
        return out


class KeyResultRead(_VersionedRead):
    id: int
    objective_id: int
    title: str
    owner_person_id: int | None
    unit: str
    direction: str
    baseline: float
    target: float
    band_low: float | None
    band_high: float | None
    milestones: list[str]
    weight: float
    kind: str
    metric_id: int | None
    metric_dimensions: dict[str, Any]
    position: int


class ProgressRead(BaseModel):
    raw: float | None = Field(description="Unclamped: above 1 is over-achievement, below 0 the wrong way.")
    display: float = Field(description="Clamped to 0..1, for bars and colours.")


class ForecastRead(BaseModel):
    method: Literal["trend", "expected_line"]
    value_at_end: float | None
    progress_at_end: float | None
    low: float | None = Field(description="Lower end of the prediction interval at `level` (trend only).")
    high: float | None
    level: float
    probability_on_target: float | None
    at_risk: bool
    slope_per_day: float | None
    points: int


class ScheduleRead(BaseModel):
    expected_progress: float = Field(description="Share of the period elapsed: the linear schedule.")
    actual_progress: float | None
    gap: float | None = Field(description="actual − expected; negative means behind schedule.")


class HistoryPoint(BaseModel):
    at: datetime
    value: float


class CheckinBrief(BaseModel):
    id: int
    at: datetime
    value: float | None
    confidence: float
    note: str
    author: str


class KeyResultState(BaseModel):
    current_value: float | None
    current_at: datetime | None
    progress: ProgressRead
    status: Literal["on_track", "at_risk", "off_track"] | None
    confidence: float | None
    last_checkin: CheckinBrief | None
    last_checkin_at: datetime | None
    days_since_checkin: float | None
    forecast: ForecastRead
    schedule: ScheduleRead
    history: list[HistoryPoint]
    metric_key: str | None = Field(description="The bound catalog metric, if any.")
    aligned_objective_ids: list[int] = Field(description="Child objectives aligned to this key result.")


class KeyResultDetail(KeyResultRead):
    state: KeyResultState


class GradeRead(BaseModel):
    grade: float = Field(description="0.0–1.0, one decimal.")
    band: Literal["green", "yellow", "red"]
    expected: float = Field(description="1.0 for committed objectives, 0.7 for aspirational ones.")
    success: bool


class AncestorRead(BaseModel):
    key_result_id: int
    key_result_title: str
    objective_id: int
    objective_title: str


class ObjectiveState(BaseModel):
    progress: ProgressRead
    grade: GradeRead
    warning: str | None = Field(description="Fewer than 3 or more than 5 key results.")
    team: Ref | None
    owner: Ref | None
    period: Ref
    at_risk_key_results: int


class ObjectiveDetail(ObjectiveRead):
    state: ObjectiveState
    key_results: list[KeyResultDetail]
    ancestors: list[AncestorRead] = Field(description="The key results this contributes to, nearest first.")


class TreeKeyResult(KeyResultDetail):
    aligned_objectives: list[TreeObjective]


class TreeObjective(ObjectiveRead):
    state: ObjectiveState
    key_results: list[TreeKeyResult]


TreeKeyResult.model_rebuild()


# ------------------------------------------------------------------ chart


class ChartPoint(BaseModel):
    t: datetime
    y: float | None
    low: float | None = None
    high: float | None = None


class ChartSeries(BaseModel):
    key: Literal["actual", "target", "band_low", "band_high", "expected", "forecast"]
    label: str
    kind: Literal["points", "line", "cone"] = Field(
        description="points: measured values; line: straight reference line; cone: a line with low/high bounds."
    )
    points: list[ChartPoint]


class ChartRead(BaseModel):
    key_result_id: int
    title: str
    unit: str
    direction: str
    period: Ref
    start: datetime
    end: datetime
    now: datetime
    series: list[ChartSeries]
    checkins: list[CheckinBrief]
    forecast: ForecastRead
    schedule: ScheduleRead


# ------------------------------------------------------------------ check-ins


class CheckinCreate(_Body):
    value: Number | None = Field(None, description="Leave out for a key result bound to a metric.")
    confidence: Confidence
    note: Text = ""
    at: datetime | None = Field(None, description="ISO 8601; default now; without a zone it is read as UTC.")

    @field_validator("at")
    @classmethod
    def _at_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class CheckinUpdate(_Patch):
    not_null = ("confidence", "note", "at")

    value: Number | None = None
    confidence: Confidence | None = None
    note: Text | None = None
    at: datetime | None = None

    @field_validator("at")
    @classmethod
    def _at_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class CheckinRead(_VersionedRead):
    id: int
    key_result_id: int
    at: datetime
    value: float | None
    confidence: float
    note: str
    author: str
    author_user_id: int | None
    status: Literal["on_track", "at_risk", "off_track"] | None = None


class DueCheckinRead(BaseModel):
    key_result_id: int
    key_result_title: str
    objective_id: int
    objective_title: str
    team_id: int | None
    last_checkin_at: datetime | None
    days_since: float | None = Field(description="null: never checked in.")


# ------------------------------------------------------------------ metrics


class Thresholds(_Body):
    """``green``/``red`` (which side is good follows the direction) or a target band ``low``/``high``."""

    green: Number | None = None
    red: Number | None = None
    low: Number | None = None
    high: Number | None = None

    def as_dict(self) -> dict[str, float]:
        return self.model_dump(exclude_none=True)


class _MetricFields(_Body):
    name: Name
    definition: Text = Field("", description="The business definition: the glossary text.")
    owner_person_id: DbId | None = None
    unit: Unit = ""
    indicator: Literal["leading", "lagging"] = "lagging"
    direction: Literal["increase", "decrease", "band"] = Field("increase", description="Which way is better.")
    aggregation: Literal["sum", "mean", "last", "ratio"] = "last"
    numerator_key: MetricKey | None = None
    denominator_key: MetricKey | None = None
    dimensions: list[DimName] = Field(default_factory=list, max_length=16)
    source: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = "manual"
    calculation: Text = Field("", description="The calculation rule, as text or SQL.")
    freshness_warn_hours: Hours | None = None
    freshness_error_hours: Hours | None = None
    thresholds: Thresholds | None = None

    def fields(self, *, only_set: bool = False) -> dict[str, Any]:
        out = self.model_dump(exclude_unset=only_set, exclude={"thresholds"})
        if not only_set or "thresholds" in self.model_fields_set:
            out["thresholds"] = self.thresholds.as_dict() if self.thresholds else {}
        return out


class MetricCreate(_MetricFields):
    key: MetricKey
    reason: Text = ""

    def fields(self, *, only_set: bool = False) -> dict[str, Any]:
        out = super().fields(only_set=only_set)
        out.pop("key"), out.pop("reason")
        return out


class MetricChanges(_MetricFields):
    """The fields that change; the others keep their current value."""

    name: Name | None = None  # type: ignore[assignment]

    @field_validator("name")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out but not set to null")
        return value


class MetricRevise(_Body):
    changes: MetricChanges
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = Field(
        description="Why the definition changes; kept in the version history."
    )


class MetricVersionRead(_Read):
    number: int
    name: str
    definition: str
    owner_person_id: int | None
    unit: str
    indicator: str
    direction: str
    aggregation: str
    numerator_key: str | None
    denominator_key: str | None
    dimensions: list[str]
    source: str
    calculation: str
    freshness_warn_hours: float | None
    freshness_error_hours: float | None
    thresholds: dict[str, float]
    author: str
    reason: str
    created_at: datetime


class MetricStatusRead(BaseModel):
    latest_value: float | None
    latest_at: datetime | None
    threshold: Literal["green", "amber", "red"] | None
    freshness: Literal["fresh", "warn", "error", "no_data"]


class MetricRead(_VersionedRead):
    id: int
    workspace_id: int
    key: str
    current_version: int
    archived: bool
    is_north_star: bool = False
    definition: MetricVersionRead = Field(description="The current version of the definition.")
    status: MetricStatusRead


class VersionDiff(BaseModel):
    field: str
    a: Any
    b: Any


class VersionCompareRead(BaseModel):
    metric_id: int
    a: int
    b: int
    changes: list[VersionDiff]


class MetricValueRead(BaseModel):
    metric: str
    at: datetime
    value: float
    dimensions: dict[str, Any]
    metric_version: int
    source: str
    import_run: str | None


class ValueIn(_Body):
    metric: MetricKey
    timestamp: datetime | date = Field(description="ISO 8601 date or timestamp; without a zone it is read as UTC.")
    value: Number
    dimensions: Dimensions = Field(default_factory=dict)


class ValueBatch(_Body):
    values: list[ValueIn] = Field(min_length=1, max_length=50_000)
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = "api"
    import_run: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None


class IngestReportRead(BaseModel):
    created: int
    updated: int
    unchanged: int
    total: int


class NorthStarSet(_Body):
    metric_id: DbId | None = Field(description="null clears the north star.")


class NorthStarRead(BaseModel):
    workspace_id: int
    north_star_metric_id: int | None
    metric_key: str | None
    version: int = Field(description="The workspace's version (its ETag).")


class GlossaryEntry(BaseModel):
    term: str
    kind: Literal["metric", "term"]
    key: str | None
    definition: str
    unit: str
    version: int | None
