"""Deployments, changes and incidents import like work: idempotent, all-or-nothing, per-record errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from okrflow.domain.delivery import ChangeRecord, DeploymentRecord, IncidentRecord
from okrflow.domain.errors import InvalidInputError
from okrflow.services import delivery, sources
from okrflow.store.models_delivery import Change, Deployment, Incident

T = datetime(2026, 10, 5, 12, tzinfo=UTC)


def batch():
    deps = [
        DeploymentRecord(
            f"d{i}",
            "checkout",
            "production",
            "success",
            T + timedelta(hours=i),
            T + timedelta(hours=i) - timedelta(minutes=5),
            commit_sha=f"sha{i}",
            commit_shas=(f"sha{i}",),
        )
        for i in range(3)
    ]
    chg = [
        ChangeRecord(
            "pr-1",
            "pull_request",
            "checkout",
            T - timedelta(days=1),
            first_commit_at=T - timedelta(days=2),
            merged_at=T - timedelta(hours=1),
            merge_commit_sha="sha0",
        )
    ]
    inc = [IncidentRecord("inc-1", "checkout", T + timedelta(hours=5), resolved_at=T + timedelta(hours=7))]
    return deps, chg, inc


@pytest.fixture
def src(db, admin_setup, admin_actor):
    with db.write() as s:
        return sources.create_source(s, admin_actor, admin_setup.workspace_id, "gh", "github").id


def test_import_is_idempotent_and_updates_changed_rows(db, admin_actor, src):
    deps, chg, inc = batch()
    first = delivery.import_delivery(db, admin_actor, src, deployments=deps, changes=chg, incidents=inc)
    again = delivery.import_delivery(db, admin_actor, src, deployments=deps, changes=chg, incidents=inc)
    assert (first.created, again.created, again.unchanged) == (5, 0, 5)
    fixed = [IncidentRecord("inc-1", "checkout", T + timedelta(hours=5), resolved_at=T + timedelta(hours=6))]
    third = delivery.import_delivery(db, admin_actor, src, incidents=fixed)
    assert third.updated == 1
    with db.read() as s:
        assert s.scalar(select(Incident.resolved_at)) == T + timedelta(hours=6)
        assert s.scalar(select(func.count()).select_from(Deployment)) == 3
        assert s.scalar(select(Change.merge_commit_sha)) == "sha0"
        assert s.scalar(select(Deployment.commit_shas).where(Deployment.external_id == "d1")) == ["sha1"]


def test_bad_records_write_nothing(db, admin_actor, src):
    deps, chg, _ = batch()
    bad = [*deps, DeploymentRecord("d9", "checkout", "production", "exploded", T)]
    with pytest.raises(InvalidInputError) as exc:
        delivery.import_delivery(db, admin_actor, src, deployments=bad, changes=chg)
    assert "deployment 4 (d9): status 'exploded'" in exc.value.details["errors"][0]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Deployment)) == 0
        assert s.scalar(select(func.count()).select_from(Change)) == 0
