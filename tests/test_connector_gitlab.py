"""The GitLab connector against a local server replaying GitLab REST v4 payloads: Link / X-Next-Page paging,
429 with Retry-After, and what a sync imports (work items, changes, deployments, incidents)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from okrflow.connectors import gitlab
from okrflow.domain.errors import AuthenticationError, InvalidInputError
from okrflow.services import sources, sync_git
from okrflow.store.models_delivery import Change, Deployment, Incident
from okrflow.store.models_work import FieldChange, Source, StatusChange, SyncRun, WorkItem
from tests.git_fake import FakeGitApi, Scripted, load

PROJECT = "acme/payments"
P = "/projects/acme%2Fpayments"
TOKEN = "glpat-test-token-not-a-secret"


def t(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


def routes() -> dict[str, object]:
    out: dict[str, object] = {
        f"{P}/issues": load("gitlab", "issues.json"),
        f"{P}/merge_requests": load("gitlab", "merge_requests.json"),
        f"{P}/deployments": load("gitlab", "deployments.json"),
    }
    for iid in (11, 12, 13, 14):
        out[f"{P}/issues/{iid}/resource_state_events"] = load("gitlab", f"resource_state_events/{iid}.json")
        out[f"{P}/issues/{iid}/resource_label_events"] = load("gitlab", f"resource_label_events/{iid}.json")
    for iid in (21, 22, 23):
        out[f"{P}/merge_requests/{iid}/commits"] = load("gitlab", f"mr_commits/{iid}.json")
    for dep in (41, 43, 44):
        out[f"{P}/deployments/{dep}/merge_requests"] = (
            load("gitlab", f"deployment_merge_requests/{dep}.json") if dep != 44 else []
        )
    return out


@pytest.fixture
def api():
    fake = FakeGitApi(style="gitlab", routes=routes(), token=TOKEN, prefix="/api/v4")
    fake.base_url = fake.start()  # type: ignore[attr-defined]
    yield fake
    fake.stop()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# ---------------------------------------------------------------- client and connector, no database


def test_paging_auth_header_and_429_retry_after(api):
    sleeps = Sleeps()
    api.script.append(Scripted(429, {"Retry-After": "12"}, load("gitlab", "error_429.json"), path="/issues"))
    settings = gitlab.settings_from({"project": PROJECT, "page_size": 3})
    with gitlab.GitLabClient(api.base_url, {"token": TOKEN}, sleep=sleeps) as c:
        fetched = gitlab.fetch(c, settings)
    assert not fetched.errors and sleeps == [12.0]
    assert [r.key for r in fetched.records] == [f"{PROJECT}#{n}" for n in (11, 12, 13, 14)]
    pages = [r for r in api.requests if r.path == f"/api/v4{P}/issues"]
    assert [(r.status, r.params.get("page", "1")) for r in pages] == [(429, "1"), (200, "1"), (200, "2")]
    assert all(r.headers["private-token"] == TOKEN and "authorization" not in r.headers for r in api.requests)
    assert pages[1].params["order_by"] == "updated_at" and "updated_after" not in pages[1].params


def test_x_next_page_is_followed_without_a_link_header(api):
    settings = gitlab.settings_from({"project": PROJECT, "page_size": 1, "issues": False, "deployments": False})
    api.script.extend(Scripted(200, {"Link": ""}, path="/merge_requests") for _ in range(3))
    with gitlab.GitLabClient(api.base_url, {"token": TOKEN}) as c:
        fetched = gitlab.fetch(c, settings)
    assert sorted(c.external_id for c in fetched.changes) == ["7021", "7022", "7023"]
    listed = [r.params.get("page", "1") for r in api.requests if r.path.endswith("/merge_requests")]
    assert listed == ["1", "2", "3"]


def test_issue_history_types_and_incidents():
    settings = gitlab.settings_from({"project": PROJECT})
    issues = load("gitlab", "issues.json")
    rec = gitlab.parse_issue(
        issues[0],
        load("gitlab", "resource_state_events/11.json"),
        load("gitlab", "resource_label_events/11.json"),
        project=PROJECT,
        settings=settings,
    )
    assert (rec.issue_type, rec.status, rec.story_points, rec.assignee) == ("Bug", "closed", 3.0, "bob")
    assert [(h.from_status, h.to_status, h.at) for h in rec.history] == [
        ("", "opened", t("2026-04-01T08:00:00")),
        ("opened", "closed", t("2026-04-02T12:00:00")),
        ("closed", "opened", t("2026-04-02T16:00:00")),
        ("opened", "closed", t("2026-04-03T15:00:00")),
    ]
    assert [(f.field, f.from_value, f.to_value) for f in rec.field_changes] == [
        ("labels", "", "backend"),
        ("labels", "backend", "backend, bug"),
        ("issuetype", "Issue", "Bug"),
    ]
    sepa = gitlab.parse_issue(issues[1], [], [], project=PROJECT, settings=settings)
    assert sepa.created == t("2026-04-02T07:00:00") and sepa.kr_refs == ("KR-9",)  # +02:00 read as UTC
    native = gitlab.parse_incident(issues[2], project=PROJECT, settings=settings)
    assert (native.severity, native.resolved_at) == ("high", t("2026-04-06T11:45:00"))


def test_auth_failure_is_a_clear_error(db, admin_setup, admin_actor, api, monkeypatch):
    source_id = _source(db, admin_setup, admin_actor, api, monkeypatch, token="nope")
    with pytest.raises(AuthenticationError, match=r"GitLab refused the token \(HTTP 401\): 401 Unauthorized"):
        sync_git.sync_gitlab(db, admin_actor, source_id, sleep=Sleeps())
    with db.read() as s:
        assert s.scalar(select(SyncRun.status)) == "failed"


# ---------------------------------------------------------------- syncs on both engines


def _source(db, admin_setup, admin_actor, api, monkeypatch, *, token: str = TOKEN, **settings) -> int:
    monkeypatch.setenv(sources.SECRET_ENV, Fernet.generate_key().decode())
    with db.write() as s:
        return sources.create_source(
            s,
            admin_actor,
            admin_setup.workspace_id,
            "payments-gl",
            "gitlab",
            base_url=api.base_url,
            settings={"project": PROJECT, "page_size": 2, "environments": ["production", "staging"]} | settings,
            credentials={"token": token},
        ).id


def test_sync_imports_and_resync_is_idempotent(db, admin_setup, admin_actor, api, monkeypatch):
    source_id = _source(db, admin_setup, admin_actor, api, monkeypatch)
    first = sync_git.sync_gitlab(db, admin_actor, source_id, sleep=Sleeps())
    assert first.fetched == {"issues": 4, "changes": 3, "deployments": 4, "incidents": 2}
    assert (first.work.created, first.delivery.created) == (4, 9)
    with db.read() as s:
        items = {w.key: w for w in s.scalars(select(WorkItem))}
        assert {k: (w.issue_type, w.flow_type, w.status) for k, w in items.items()} == {
            f"{PROJECT}#11": ("Bug", "defect", "closed"),
            f"{PROJECT}#12": ("Issue", "feature", "opened"),
            f"{PROJECT}#13": ("Incident", "defect", "closed"),
            f"{PROJECT}#14": ("Issue", "feature", "opened"),
        }
        assert s.scalar(select(func.count()).select_from(StatusChange)) == 4 + 1 + 2 + 1
        assert s.scalar(select(func.count()).select_from(FieldChange)) == 3 + 2 + 0 + 2
        changes = {c.external_id: c for c in s.scalars(select(Change))}
        assert (changes["7021"].kind, changes["7021"].first_commit_at) == ("merge_request", t("2026-04-01T17:00:00"))
        assert changes["7021"].merge_commit_sha == "a1" * 20
        assert changes["7022"].merge_commit_sha == "a2" * 20  # squash merge: the squash commit
        assert changes["7023"].merged_at is None and changes["7023"].merge_commit_sha is None
        deps = {d.external_id: d for d in s.scalars(select(Deployment))}
        assert {k: (d.environment, d.status, d.finished_at) for k, d in deps.items()} == {
            "41": ("production", "success", t("2026-04-03T14:24:00")),
            "42": ("production", "failure", t("2026-04-05T09:19:00")),
            "43": ("production", "success", t("2026-04-05T10:15:00")),
            "44": ("staging", "success", t("2026-04-05T10:39:00")),
        }
        assert deps["43"].commit_shas == ["a2" * 20] and deps["43"].started_at == t("2026-04-05T10:01:00")
        incidents = {i.external_id: i for i in s.scalars(select(Incident))}
        assert set(incidents) == {"5013", "5014"} and incidents["5014"].resolved_at is None
        assert s.scalar(select(Source.cursor).where(Source.id == source_id)) == "2026-04-07T07:30:00+00:00"

    api.requests.clear()
    again = sync_git.sync_gitlab(db, admin_actor, source_id, sleep=Sleeps())
    assert (again.work.created, again.work.updated, again.delivery.created, again.delivery.updated) == (0, 0, 0, 0)
    listed = [r for r in api.requests if r.path.endswith(("/issues", "/merge_requests", "/deployments"))]
    assert listed and all(r.params["updated_after"] == "2026-04-07T07:20:00Z" for r in listed)
    assert not api.hits("/deployments/43/merge_requests")  # stored final deployments are not read again


def test_malformed_deployment_writes_nothing(db, admin_setup, admin_actor, api, monkeypatch):
    deps = load("gitlab", "deployments.json")
    deps[1]["status"] = "exploded"
    api.routes[f"{P}/deployments"] = deps
    source_id = _source(db, admin_setup, admin_actor, api, monkeypatch)
    with pytest.raises(InvalidInputError, match="deployment 42 of acme/payments: unknown status 'exploded'"):
        sync_git.sync_gitlab(db, admin_actor, source_id, sleep=Sleeps())
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(WorkItem)) == 0
        assert s.scalar(select(func.count()).select_from(Deployment)) == 0
