"""SQLAlchemy models of work: sources, work items with their status and field history, sync runs, and the
links from work items to key results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from okrflow.store.models import Base, Versioned, utcnow
from okrflow.store.types import JSONType


class Source(Versioned, Base):
    """Where work comes from: a Jira site + JQL, a GitHub repository, a GitLab project, or files."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_sources_workspace_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # jira | github | gitlab | files
    base_url: Mapped[str] = mapped_column(String(500), default="")
    settings: Mapped[Any] = mapped_column(JSONType, default=dict)  # JQL, project, repository, field names …
    mapping: Mapped[Any] = mapped_column(JSONType, default=dict)  # type/status rules over the kind's defaults
    credentials: Mapped[str | None] = mapped_column(Text)  # encrypted; never returned by the API or logged
    cursor: Mapped[str | None] = mapped_column(String(100))  # incremental sync: last "updated" seen
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))


class WorkItem(Versioned, Base):
    __tablename__ = "work_items"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id", name="uq_work_items_source_external"),
        Index("ix_work_items_ws_level", "workspace_id", "level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(100), default="")
    url: Mapped[str] = mapped_column(String(1000), default="")
    title: Mapped[str] = mapped_column(Text, default="")
    issue_type: Mapped[str] = mapped_column(String(100))  # the source's own type name
    level: Mapped[str | None] = mapped_column(String(16))  # None: the type is not mapped yet
    flow_type: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(100))  # the source's own status name
    status_category: Mapped[str | None] = mapped_column(String(32))
    parent_external_id: Mapped[str | None] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("work_items.id", ondelete="SET NULL"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    created: Mapped[datetime] = mapped_column()
    resolved: Mapped[datetime | None] = mapped_column()
    updated: Mapped[datetime | None] = mapped_column()
    labels: Mapped[Any] = mapped_column(JSONType, default=list)
    story_points: Mapped[float | None] = mapped_column(Float)
    assignee: Mapped[str | None] = mapped_column(String(200))
    anticipated_outcome: Mapped[Any] = mapped_column(JSONType, nullable=True)  # initiatives/epics: see pilots
    content_hash: Mapped[str] = mapped_column(String(64), default="")  # unchanged re-imports write nothing
    last_run_id: Mapped[int | None] = mapped_column(Integer)


class StatusChange(Base):
    """One status transition of a work item (the full history, as the source reports it)."""

    __tablename__ = "status_changes"
    __table_args__ = (
        UniqueConstraint("work_item_id", "at", "from_status", "to_status", name="uq_status_changes_event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column()
    from_status: Mapped[str] = mapped_column(String(100), default="")
    to_status: Mapped[str] = mapped_column(String(100))
    author: Mapped[str] = mapped_column(String(200), default="")


class FieldChange(Base):
    """A change of another field that matters to flow (type, parent, team, …)."""

    __tablename__ = "field_changes"
    __table_args__ = (UniqueConstraint("work_item_id", "at", "field", "to_value", name="uq_field_changes_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column()
    field: Mapped[str] = mapped_column(String(64))
    from_value: Mapped[str] = mapped_column(Text, default="")
    to_value: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200), default="")


class SyncRun(Base):
    """One import: what it saw and did. Written even when the import fails (then nothing else was)."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | succeeded | failed
    cursor_before: Mapped[str | None] = mapped_column(String(100))
    cursor_after: Mapped[str | None] = mapped_column(String(100))
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    status_changes: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[Any] = mapped_column(JSONType, default=list)
    report: Mapped[Any] = mapped_column(JSONType, default=dict)  # unmapped types/statuses, warnings
    actor: Mapped[str] = mapped_column(String(200), default="")


class WorkItemLink(Base):
    """A work item serves a key result. A link on an epic covers its descendants."""

    __tablename__ = "work_item_links"
    __table_args__ = (UniqueConstraint("work_item_id", "key_result_id", name="uq_work_item_links_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"), index=True)
    key_result_id: Mapped[int] = mapped_column(ForeignKey("key_results.id", ondelete="CASCADE"), index=True)
    origin: Mapped[str] = mapped_column(String(16), default="manual")  # manual | label | field
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[str] = mapped_column(String(200), default="")
