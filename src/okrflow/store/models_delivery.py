"""Delivery data for DORA: deployments (with the commits they shipped), changes and incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from okrflow.store.models import Base
from okrflow.store.types import JSONType


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id", name="uq_deployments_source_external"),
        Index("ix_deployments_ws_service_finished", "workspace_id", "service", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    service: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    commit_shas: Mapped[Any] = mapped_column(JSONType, default=list)
    ref: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(String(1000), default="")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    last_run_id: Mapped[int | None] = mapped_column(Integer)


class Change(Base):
    """A pull/merge request or a commit: what lead time for changes is measured on."""

    __tablename__ = "changes"
    __table_args__ = (UniqueConstraint("source_id", "external_id", name="uq_changes_source_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column()
    first_commit_at: Mapped[datetime | None] = mapped_column()
    merged_at: Mapped[datetime | None] = mapped_column()
    merge_commit_sha: Mapped[str | None] = mapped_column(String(64), index=True)
    commit_shas: Mapped[Any] = mapped_column(JSONType, default=list)
    url: Mapped[str] = mapped_column(String(1000), default="")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    last_run_id: Mapped[int | None] = mapped_column(Integer)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("source_id", "external_id", name="uq_incidents_source_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    service: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(32), default="")
    started_at: Mapped[datetime] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    url: Mapped[str] = mapped_column(String(1000), default="")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    last_run_id: Mapped[int | None] = mapped_column(Integer)
