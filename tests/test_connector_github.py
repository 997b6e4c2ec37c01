"""The GitHub connector against a local server replaying GitHub REST v3 payloads: Link paging, ETag 304s,
primary and secondary rate limits, and what a sync imports (work items, changes, deployments, incidents)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from okrflow.connectors import github
from okrflow.connectors.rest import EtagCache
from okrflow.domain.errors import AuthenticationError, InvalidInputError
from okrflow.services import sources, sync_git
from okrflow.store.models_delivery import Change, Deployment, Incident
from okrflow.store.models_work import FieldChange, Source, StatusChange, SyncRun, WorkItem
from tests.git_fake import FakeGitApi, Scripted, load

REPO = "octo-org/checkout"
TOKEN = "ghp_test_token_not_a_secret"
NOW = 1_800_000_000.0


def t(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


def routes(statuses_104: str = "104") -> dict[str, object]:
    base = f"/repos/{REPO}"
    out: dict[str, object] = {
        f"{base}/issues": load("github", "issues.json"),
        f"{base}/pulls": load("github", "pulls.json"),
        f"{base}/deployments": load("github", "deployments.json"),
    }
    for n in (1, 2, 3):
        out[f"{base}/issues/{n}/timeline"] = load("github", f"timeline/{n}.json")
    for n in (4, 6, 7, 8):
        out[f"{base}/pulls/{n}/commits"] = load("github", f"pull_commits/{n}.json")
    for dep in load("github", "deployments.json"):
        out[f"{base}/deployments/{dep['id']}"] = dep
        name = statuses_104 if dep["id"] == 104 else str(dep["id"])
        out[f"{base}/deployments/{dep['id']}/statuses"] = load("github", f"deployment_statuses/{name}.json")
    out[f"{base}/compare/{'a' * 40}...{'3' * 40}"] = load("github", "compare_101_103.json")
    out[f"{base}/compare/{'3' * 40}...{'d' * 40}"] = load("github", "compare_103_104.json")
    return out


@pytest.fixture
def api():
    fake = FakeGitApi(style="github", routes=routes(), token=TOKEN)
    url = fake.start()
    fake.base_url = url  # type: ignore[attr-defined]
    yield fake
    fake.stop()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(api, **kw) -> github.GitHubClient:
    return github.GitHubClient(api.base_url, {"token": TOKEN}, **kw)


# ---------------------------------------------------------------- client and connector, no database


def test_link_paging_reads_every_page_and_skips_pull_requests(api):
    settings = github.settings_from({"repository": REPO, "page_size": 2})
    with client(api) as c:
        fetched = github.fetch(c, settings)
    assert not fetched.errors
    assert sorted(r.key for r in fetched.records) == [f"{REPO}#1", f"{REPO}#2", f"{REPO}#3"]
    issue_pages = [r for r in api.requests if r.path == f"/repos/{REPO}/issues"]
    assert [r.params.get("page", "1") for r in issue_pages] == ["1", "2"]
    assert all(r.headers["accept"] == "application/vnd.github+json" for r in api.requests)
    assert all(r.headers["x-github-api-version"] == "2022-11-28" for r in api.requests)
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api.requests)
    assert len([r for r in api.requests if r.path == f"/repos/{REPO}/pulls"]) == 2
    assert not api.hits("/issues/4/timeline")  # #4 is a pull request listed among issues


def test_issue_history_labels_and_types():
    settings = github.settings_from({"repository": REPO})
    issue = load("github", "issues.json")[0]
    rec = github.parse_issue(issue, load("github", "timeline/1.json"), repo=REPO, settings=settings)
    assert (rec.external_id, rec.issue_type, rec.status, rec.assignee) == ("9001", "Bug", "closed", "bob")
    assert [(h.from_status, h.to_status, h.at, h.author) for h in rec.history] == [
        ("", "open", t("2026-03-02T09:00:00"), "ann"),
        ("open", "closed", t("2026-03-04T17:00:00"), "bob"),
        ("closed", "open", t("2026-03-05T10:00:00"), "ann"),
        ("open", "closed", t("2026-03-06T12:00:00"), "bob"),
    ]
    # The bug label came after creation: the item was an Issue first, then a Bug.
    assert [(f.field, f.from_value, f.to_value) for f in rec.field_changes] == [
        ("labels", "", "bug"),
        ("issuetype", "Issue", "Bug"),
    ]
    native = issue | {"type": {"id": 1, "node_id": "IT_1", "name": "Task", "description": "", "color": "blue"}}
    rec = github.parse_issue(native, load("github", "timeline/1.json"), repo=REPO, settings=settings)
    assert rec.issue_type == "Task" and [f.field for f in rec.field_changes] == ["labels"]


def test_primary_rate_limit_waits_until_reset_and_secondary_honours_retry_after(api):
    sleeps = Sleeps()
    api.script.extend(
        [
            Scripted(
                403,
                {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 30)},
                load("github", "error_rate_limit.json"),
            ),
            Scripted(429, {"retry-after": "7"}, load("github", "error_secondary.json")),
            Scripted(403, {}, load("github", "error_secondary.json")),  # secondary, no header: one minute
            Scripted(200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 120)}),
        ]
    )
    with client(api, sleep=sleeps, clock=lambda: NOW) as c:
        page = c.get(f"/repos/{REPO}/deployments/101")
        assert page.data["id"] == 101
        assert sleeps == [31.0, 7.0, 60.0]
        c.get(f"/repos/{REPO}/deployments/102")  # the previous answer used the limit up: wait for its reset
    assert sleeps == [31.0, 7.0, 60.0, 121.0]
    assert [r.status for r in api.requests] == [403, 429, 403, 200, 200]


def test_etag_304_reuses_the_cache(api):
    cache = EtagCache()
    with client(api, etags=cache) as c:
        first = c.get(f"/repos/{REPO}/deployments", {"environment": "production"})
    saved = cache.used()
    with client(api, etags=EtagCache(saved)) as c:
        again = c.get(f"/repos/{REPO}/deployments", {"environment": "production"})
    assert first.data and again.not_modified and again.data is None
    assert api.requests[-1].headers["if-none-match"] == saved[first.url]["etag"]
    assert api.requests[-1].status == 304


# ---------------------------------------------------------------- syncs on both engines


def _source(db, admin_setup, admin_actor, api, monkeypatch, *, token: str = TOKEN, **settings) -> int:
    monkeypatch.setenv(sources.SECRET_ENV, Fernet.generate_key().decode())
    with db.write() as s:
        return sources.create_source(
            s,
            admin_actor,
            admin_setup.workspace_id,
            "checkout-gh",
            "github",
            base_url=api.base_url,
            settings={"repository": REPO, "page_size": 2, "service": "checkout"} | settings,
            credentials={"token": token},
        ).id


def test_sync_imports_work_changes_deployments_and_incidents(db, admin_setup, admin_actor, api, monkeypatch):
    source_id = _source(db, admin_setup, admin_actor, api, monkeypatch)
    result = sync_git.sync_github(db, admin_actor, source_id, sleep=Sleeps(), clock=lambda: NOW)
    assert result.fetched == {"issues": 3, "changes": 4, "deployments": 4, "incidents": 1}
    assert (result.work.created, result.delivery.created) == (3, 9)
    assert result.cursor_after == "2026-03-11T08:50:00+00:00"
    with db.read() as s:
        items = {w.key: w for w in s.scalars(select(WorkItem))}
        bug = items[f"{REPO}#1"]
        assert (bug.issue_type, bug.level, bug.flow_type, bug.status) == ("Bug", "story", "defect", "closed")
        assert bug.resolved == t("2026-03-06T12:00:00")
        assert items[f"{REPO}#2"].flow_type == "feature" and items[f"{REPO}#2"].resolved is None
        history = s.execute(
            select(StatusChange.from_status, StatusChange.to_status)
            .where(StatusChange.work_item_id == bug.id)
            .order_by(StatusChange.at)
        ).all()
        assert [tuple(h) for h in history] == [("", "open"), ("open", "closed"), ("closed", "open"), ("open", "closed")]
        assert s.scalar(select(FieldChange.to_value).where(FieldChange.field == "issuetype")) == "Bug"

        changes = {c.external_id: c for c in s.scalars(select(Change))}
        fix = changes["1104"]
        assert (fix.kind, fix.service, fix.first_commit_at) == ("pull_request", "checkout", t("2026-03-02T15:00:00"))
        assert (fix.merged_at, fix.merge_commit_sha) == (t("2026-03-04T16:00:00"), "a" * 40)
        assert changes["1106"].merged_at is None and changes["1106"].merge_commit_sha is None  # open: test merge
        assert changes["1107"].merge_commit_sha is None  # closed without merging

        deps = {d.external_id: d for d in s.scalars(select(Deployment))}
        assert {k: (d.status, d.finished_at) for k, d in deps.items()} == {
            "101": ("success", t("2026-03-04T16:20:00")),  # inactive later: still a success
            "102": ("failure", t("2026-03-10T13:15:00")),
            "103": ("success", t("2026-03-10T16:20:00")),
            "104": ("in_progress", None),
        }
        assert deps["103"].environment == "production" and deps["103"].commit_sha == "3" * 40
        assert deps["103"].commit_shas == ["2" * 40, "3" * 40]  # compare with the previous success (101)
        assert deps["101"].commit_shas == []  # the first one: unknown

        incident = s.scalar(select(Incident))
        assert (incident.external_id, incident.severity, incident.service) == ("9003", "high", "checkout")
        assert (incident.started_at, incident.resolved_at) == (t("2026-03-10T14:00:00"), t("2026-03-10T16:30:00"))


def test_resync_is_idempotent_and_uses_etags_then_refreshes_pending_deployments(
    db, admin_setup, admin_actor, api, monkeypatch
):
    source_id = _source(db, admin_setup, admin_actor, api, monkeypatch)
    sync_git.sync_github(db, admin_actor, source_id, sleep=Sleeps())

    api.requests.clear()
    second = sync_git.sync_github(db, admin_actor, source_id, sleep=Sleeps())
    assert (second.work.created, second.work.updated, second.delivery.created, second.delivery.updated) == (0, 0, 0, 0)
    # The issue list now asks since the cursor − overlap (a new URL); pulls and deployments are conditional.
    assert api.hits("/issues")[0].params["since"] == "2026-03-11T08:40:00Z"
    pulls = [r for r in api.requests if r.path == f"/repos/{REPO}/pulls"]
    assert len(pulls) == 1 and pulls[0].headers.get("if-none-match") and pulls[0].status == 304
    assert not api.hits("/commits")  # an unchanged pull request list reads no commits

    api.requests.clear()
    third = sync_git.sync_github(db, admin_actor, source_id, sleep=Sleeps())
    lists = [r for r in api.requests if r.path.endswith(("/issues", "/pulls", "/deployments"))]
    assert lists and all(r.status == 304 and r.headers.get("if-none-match") for r in lists)
    assert (third.work.created, third.work.updated, third.delivery.updated) == (0, 0, 0)
    assert third.not_modified >= len(lists)
    with db.read() as s:
        assert s.scalar(select(Source.cursor).where(Source.id == source_id)) == "2026-03-11T08:50:00+00:00"
        cache = s.scalar(select(Source.settings).where(Source.id == source_id))["etag_cache"]
        assert all(set(v) <= {"etag", "next", "data"} for v in cache.values())

    # Deployment 104 finishes: its list page is unchanged (304), but the stored in-progress one is re-read.
    api.routes.update(routes(statuses_104="104_done"))
    api.requests.clear()
    fourth = sync_git.sync_github(db, admin_actor, source_id, sleep=Sleeps())
    assert (fourth.delivery.created, fourth.delivery.updated) == (0, 1)
    assert api.hits("/deployments/104/statuses")[0].status == 200
    assert not api.hits("/deployments/101/statuses")  # final outcomes are not read again
    with db.read() as s:
        dep = s.scalar(select(Deployment).where(Deployment.external_id == "104"))
        assert (dep.status, dep.finished_at) == ("success", t("2026-03-11T09:20:00"))
        assert dep.commit_shas == ["8" * 39 + "1", "8" * 39 + "2", "d" * 40]


def test_auth_failure_and_a_malformed_issue_fail_the_run_and_write_nothing(
    db, admin_setup, admin_actor, api, monkeypatch
):
    source_id = _source(db, admin_setup, admin_actor, api, monkeypatch, token="wrong")
    with pytest.raises(AuthenticationError, match=r"GitHub refused the token \(HTTP 401\): Bad credentials"):
        sync_git.sync_github(db, admin_actor, source_id, sleep=Sleeps())

    broken = load("github", "issues.json")
    broken[1]["created_at"] = "2026-03-03 08:30"  # no zone
    api.routes[f"/repos/{REPO}/issues"] = broken
    with db.write() as s:
        sources.update_source(s, admin_actor, source_id, {"credentials": {"token": TOKEN}})
    with pytest.raises(InvalidInputError, match=f"issue {REPO}#2: created_at") as exc:
        sync_git.sync_github(db, admin_actor, source_id, sleep=Sleeps())
    assert exc.value.details["errors"] == [
        f"issue {REPO}#2: created_at: timestamp without a time zone: '2026-03-03 08:30'"
    ]
    with db.read() as s:
        assert s.scalar(select(WorkItem)) is None and s.scalar(select(Change)) is None
        assert s.scalar(select(Source.cursor).where(Source.id == source_id)) is None
        runs = s.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert [r.status for r in runs] == ["failed", "failed"]
        assert "Bad credentials" in runs[0].errors[0] and "wrong" not in repr(runs[0].errors)


def test_the_generic_sync_dispatches_by_kind(db, admin_setup, admin_actor, api, monkeypatch):
    from okrflow.domain.errors import ConfigurationError
    from okrflow.services import sync

    source_id = _source(db, admin_setup, admin_actor, api, monkeypatch)
    summary = sync.run(db, admin_actor, source_id, sleep=Sleeps())
    assert (summary.kind, summary.created, len(summary.runs)) == ("github", 12, 2)
    with db.write() as s:
        files = sources.create_source(s, admin_actor, admin_setup.workspace_id, "sheet", "files")
    with pytest.raises(ConfigurationError, match="okrflow import FILE --source sheet"):
        sync.run(db, admin_actor, files.id)
