"""SQLAlchemy models of decisions and learning: pilots with their results and evaluations, the decision log,
actual outcomes of initiatives/epics, retrospectives and blameless postmortems with owned action items.

The anticipated outcome of an initiative or epic lives on the work item (``work_items.anticipated_outcome``);
the actual outcome, recorded later, in :class:`ActualOutcome`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from okrflow.store.models import Base, Versioned, utcnow
from okrflow.store.types import JSONType


class Pilot(Versioned, Base):
    """The one-page pilot record. Hypothesis, guardrails, rollout and exit rules are validated by
    ``okrflow.domain.pilots`` and stored as JSON."""

    __tablename__ = "pilots"
    __table_args__ = (UniqueConstraint("workspace_id", "key", name="uq_pilots_workspace_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    problem: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | running | decided | closed
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    hypothesis: Mapped[Any] = mapped_column(JSONType, default=dict)
    timebox_start: Mapped[date | None] = mapped_column(Date)
    timebox_end: Mapped[date | None] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(Text, default="")
    entry_criteria: Mapped[Any] = mapped_column(JSONType, default=list)
    exit_criteria: Mapped[Any] = mapped_column(JSONType, default=list)
    risks: Mapped[Any] = mapped_column(JSONType, default=list)
    guardrails: Mapped[Any] = mapped_column(JSONType, default=list)
    rollout: Mapped[Any] = mapped_column(JSONType, default=list)
    planned_split: Mapped[Any] = mapped_column(JSONType, default=dict)  # variant → share, e.g. 0.5/0.5
    exit_rules: Mapped[Any] = mapped_column(JSONType, default=list)
    key_result_id: Mapped[int | None] = mapped_column(ForeignKey("key_results.id", ondelete="SET NULL"))
    work_item_id: Mapped[int | None] = mapped_column(ForeignKey("work_items.id", ondelete="SET NULL"))


class PilotResult(Base):
    """Summary statistics of one metric, one variant, one day: n and conversions, or n, sum, sum of squares."""

    __tablename__ = "pilot_results"
    __table_args__ = (UniqueConstraint("pilot_id", "day", "variant", "metric_key", name="uq_pilot_results_point"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    variant: Mapped[str] = mapped_column(String(64))
    metric_key: Mapped[str] = mapped_column(String(100))
    n: Mapped[int] = mapped_column(Integer)
    conversions: Mapped[float | None] = mapped_column(Float)
    sum: Mapped[float | None] = mapped_column(Float)
    sum_squares: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(64), default="api")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class PilotEvaluation(Base):
    """A recommendation computed from the exit rules, with the rule that fired and the numbers behind it."""

    __tablename__ = "pilot_evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[Any] = mapped_column(JSONType, default=dict)
    actor: Mapped[str] = mapped_column(String(200), default="")


class Decision(Base):
    """An entry of the decision log. Immutable once recorded: a change is a new decision that supersedes it.
    The database refuses UPDATE and DELETE on it (triggers, migration 0006), as for the audit log."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_ws_date", "workspace_id", "decided_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    context: Mapped[str] = mapped_column(Text, default="")
    options: Mapped[Any] = mapped_column(JSONType, default=list)
    decision: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[Any] = mapped_column(JSONType, default=dict)  # frozen values and chart series
    decided_by: Mapped[str] = mapped_column(String(200))
    raci: Mapped[Any] = mapped_column(JSONType, default=dict)
    decided_on: Mapped[date] = mapped_column(Date)
    review_on: Mapped[date | None] = mapped_column(Date)
    links: Mapped[Any] = mapped_column(JSONType, default=list)  # [{"type": "pilot", "id": 3}, …]
    pilot_id: Mapped[int | None] = mapped_column(ForeignKey("pilots.id", ondelete="SET NULL"), index=True)
    action: Mapped[str | None] = mapped_column(String(16))  # scale | rollback | … for a decision on a pilot
    recommended_action: Mapped[str | None] = mapped_column(String(16))
    overrides_recommendation: Mapped[bool] = mapped_column(Boolean, default=False)
    # UNIQUE: a decision is superseded at most once, so the chain never forks.
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id", ondelete="RESTRICT"), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[str] = mapped_column(String(200), default="")


class ActualOutcome(Versioned, Base):
    """What an initiative or epic actually achieved, against its anticipated outcome (closing the loop)."""

    __tablename__ = "actual_outcomes"
    __table_args__ = (UniqueConstraint("work_item_id", name="uq_actual_outcomes_work_item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"))
    observed_value: Mapped[float | None] = mapped_column(Float)
    result: Mapped[str] = mapped_column(String(16))  # achieved | partially | not_achieved
    learning: Mapped[str] = mapped_column(Text, default="")
    observed_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(200), default="")


class Retrospective(Versioned, Base):
    """A retrospective or a blameless postmortem."""

    __tablename__ = "retrospectives"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # retrospective | postmortem
    title: Mapped[str] = mapped_column(String(300))
    held_on: Mapped[date] = mapped_column(Date)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    what_happened: Mapped[str] = mapped_column(Text, default="")
    impact: Mapped[str] = mapped_column(Text, default="")
    contributing_factors: Mapped[Any] = mapped_column(JSONType, default=list)
    learnings: Mapped[str] = mapped_column(Text, default="")
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    pilot_id: Mapped[int | None] = mapped_column(ForeignKey("pilots.id", ondelete="SET NULL"))


class ActionItem(Versioned, Base):
    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    retrospective_id: Mapped[int] = mapped_column(ForeignKey("retrospectives.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | dropped
    playbook_url: Mapped[str] = mapped_column(String(1000), default="")
