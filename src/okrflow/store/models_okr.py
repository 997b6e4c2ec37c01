"""SQLAlchemy models of the OKR slice: periods, objectives, key results, check-ins, the KPI catalog
(metrics with immutable, numbered versions) and metric values."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from okrflow.store.models import Base, Versioned, utcnow
from okrflow.store.types import JSONType


class Period(Versioned, Base):
    """A strategy period: an annual period contains quarters (or custom periods). Dates are inclusive."""

    __tablename__ = "periods"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_periods_workspace_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("periods.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # annual | quarter | custom
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)


class Metric(Versioned, Base):
    """A KPI of the catalog. Its definition lives in numbered, immutable :class:`MetricVersion` rows."""

    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint("workspace_id", "key", name="uq_metrics_workspace_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class MetricVersion(Base):
    """One version of a metric's definition and calculation rule. Never updated: a change is version n+1."""

    __tablename__ = "metric_versions"
    __table_args__ = (UniqueConstraint("metric_id", "number", name="uq_metric_versions_metric_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    metric_id: Mapped[int] = mapped_column(ForeignKey("metrics.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    definition: Mapped[str] = mapped_column(Text, default="")  # business definition: the glossary text
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    unit: Mapped[str] = mapped_column(String(32), default="")
    indicator: Mapped[str] = mapped_column(String(16), default="lagging")  # leading | lagging
    direction: Mapped[str] = mapped_column(String(16), default="increase")  # which way is better
    aggregation: Mapped[str] = mapped_column(String(16), default="last")  # sum | mean | last | ratio
    numerator_key: Mapped[str | None] = mapped_column(String(100))
    denominator_key: Mapped[str | None] = mapped_column(String(100))
    dimensions: Mapped[Any] = mapped_column(JSONType, default=list)
    source: Mapped[str] = mapped_column(String(200), default="manual")
    calculation: Mapped[str] = mapped_column(Text, default="")  # the calculation rule, as text or SQL
    freshness_warn_hours: Mapped[float | None] = mapped_column(Float)
    freshness_error_hours: Mapped[float | None] = mapped_column(Float)
    thresholds: Mapped[Any] = mapped_column(JSONType, default=dict)
    author: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetricValue(Base):
    """A value of a metric at a time, for a combination of dimensions, computed with a definition version."""

    __tablename__ = "metric_values"
    __table_args__ = (
        UniqueConstraint("metric_id", "at", "dimension_key", name="uq_metric_values_point"),
        Index("ix_metric_values_series", "metric_id", "dimension_key", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    metric_id: Mapped[int] = mapped_column(ForeignKey("metrics.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column()
    value: Mapped[float] = mapped_column(Float)
    dimensions: Mapped[Any] = mapped_column(JSONType, default=dict)
    dimension_key: Mapped[str] = mapped_column(String(400), default="")  # canonical text of ``dimensions``
    metric_version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(200), default="api")
    import_run: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Objective(Versioned, Base):
    __tablename__ = "objectives"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id", ondelete="RESTRICT"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    commitment: Mapped[str] = mapped_column(String(16), default="committed")
    # Cascading: this objective contributes to a key result of a parent objective.
    aligned_to_kr_id: Mapped[int | None] = mapped_column(
        ForeignKey("key_results.id", ondelete="SET NULL", use_alter=True), index=True
    )
    alignment_weight: Mapped[float] = mapped_column(Float, default=1.0)


class KeyResult(Versioned, Base):
    __tablename__ = "key_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    objective_id: Mapped[int] = mapped_column(ForeignKey("objectives.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    unit: Mapped[str] = mapped_column(String(32), default="")
    direction: Mapped[str] = mapped_column(String(16))
    baseline: Mapped[float] = mapped_column(Float, default=0.0)
    target: Mapped[float] = mapped_column(Float, default=1.0)
    band_low: Mapped[float | None] = mapped_column(Float)
    band_high: Mapped[float | None] = mapped_column(Float)
    milestones: Mapped[Any] = mapped_column(JSONType, default=list)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    kind: Mapped[str] = mapped_column(String(16), default="outcome")
    # Bound to a metric of the catalog: the current value is the metric's latest value for these dimensions.
    metric_id: Mapped[int | None] = mapped_column(ForeignKey("metrics.id", ondelete="SET NULL"), index=True)
    metric_dimensions: Mapped[Any] = mapped_column(JSONType, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)


class CheckIn(Versioned, Base):
    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_kr_at", "key_result_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_result_id: Mapped[int] = mapped_column(ForeignKey("key_results.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    value: Mapped[float | None] = mapped_column(Float)  # None for KRs bound to a metric
    confidence: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
