"""Testing the connection of a source against local servers shaped like Jira, GitHub and GitLab (jira_fake.py,
git_fake.py: real sockets, the connectors' own clients): the service on both engines (who, what, clear
failures, short retries, nothing written), the API endpoint, ``okrflow source test`` and the web button."""

from __future__ import annotations

import base64
import json
import re
import socket
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from okrflow import cli
from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR, Actor
from okrflow.domain.errors import InvalidInputError, PermissionDeniedError
from okrflow.services import auth, source_check, sources, tenancy
from okrflow.store.db import ENV_DATABASE_URL, Database
from okrflow.store.models import AuditEntry, User
from okrflow.store.models_work import SyncRun
from tests.api_world import API, build_world
from tests.conftest import ADMIN_PASSWORD
from tests.git_fake import FakeGitApi, Scripted, github_repository, gitlab_project
from tests.jira_fake import FakeJira
from tests.test_web_ui import HX, _assert_no_inline, _csrf, _login

EMAIL = "bot@acme.test"
JIRA_TOKEN = "jira-api-token-never-shown"
PAT = "jira-pat-never-shown"
GH_TOKEN = "ghp_github-token-never-shown"
GL_TOKEN = "glpat-gitlab-token-never-shown"
SECRETS = (EMAIL, JIRA_TOKEN, PAT, GH_TOKEN, GL_TOKEN)
BASIC = "Basic " + base64.b64encode(f"{EMAIL}:{JIRA_TOKEN}".encode()).decode()
REPO = "acme/checkout"
PROJECT = "acme/platform/checkout"
VIEWER_PASSWORD = "viewer-password-1"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked: {text}"


def shown(check: source_check.ConnectionCheck) -> str:
    return json.dumps({"message": check.message, "details": check.details}, default=str)


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sources.SECRET_ENV, Fernet.generate_key().decode())


@pytest.fixture
def ws(db: Database, admin_setup: Any) -> int:
    return int(admin_setup.workspace_id)


def add_source(db: Database, ws: int, name: str, kind: str, base_url: str = "", **kw: Any) -> int:
    with db.write() as s:
        return sources.create_source(s, SYSTEM_ACTOR, ws, name, kind, base_url=base_url, **kw).id


def counts(db: Database) -> tuple[int, int]:
    with db.read() as s:
        runs = s.scalar(select(func.count()).select_from(SyncRun)) or 0
        audit = s.scalar(select(func.count()).select_from(AuditEntry)) or 0
        return runs, audit


@pytest.fixture
def github_api() -> Iterator[tuple[FakeGitApi, str]]:
    fake = FakeGitApi(style="github", routes={f"/repos/{REPO}": github_repository(REPO)}, token=GH_TOKEN)
    url = fake.start()
    yield fake, url
    fake.stop()


@pytest.fixture
def gitlab_api() -> Iterator[tuple[FakeGitApi, str]]:
    routes = {"/projects/acme%2Fplatform%2Fcheckout": gitlab_project(PROJECT, project_id=42)}
    fake = FakeGitApi(style="gitlab", routes=routes, token=GL_TOKEN, prefix="/api/v4")
    url = fake.start()
    yield fake, url
    fake.stop()


# ---------------------------------------------------------------- the service, on both engines


def test_jira_cloud_and_server_say_who_and_what_and_write_nothing(db: Database, ws: int, admin_actor: Actor) -> None:
    with FakeJira(issues=_issues("PAY-7"), authorization=BASIC, projects=("PAY",)) as fake:
        cloud = add_source(
            db, ws, "pay", "jira", fake.base_url, settings={"jql": "project = PAY"},
            credentials={"email": EMAIL, "api_token": JIRA_TOKEN},
        )  # fmt: skip
        before = counts(db)
        check = sources.test_connection(db, admin_actor, cloud)
        assert counts(db) == before  # no sync run, no audit entry
        requests = [(r.path, r.params) for r in fake.requests]
        assert all(r.authorization == BASIC for r in fake.requests)
    assert check.ok, check.message
    assert check.kind == "jira" and check.duration_ms >= 0
    host = fake.base_url.removeprefix("http://")
    assert check.message == (
        f"Connected to Jira Cloud 1001.0.0-SNAPSHOT at {host} as okrflow bot; the JQL matches issues (e.g. PAY-7)"
    )
    assert check.details == {
        "api": "cloud",
        "user": "okrflow bot",
        "account": "5b10a2844c20165700ede21g",
        "time_zone": "UTC",
        "version": "1001.0.0-SNAPSHOT",
        "deployment_type": "Cloud",
        "server_title": "Jira",
        "jql": "(project = PAY) ORDER BY updated ASC",
        "sample_issue": "PAY-7",
    }
    assert [p for p, _ in requests] == ["/rest/api/3/myself", "/rest/api/3/serverInfo", "/rest/api/3/search/jql"]
    assert requests[2][1] == {"jql": "(project = PAY) ORDER BY updated ASC", "maxResults": "1", "fields": "key"}
    no_secret(shown(check))

    pat = f"Bearer {PAT}"
    with FakeJira(issues=_issues("OPS-1", "OPS-2", "OPS-3"), authorization=pat, deployment="DataCenter") as fake:
        server = add_source(
            db, ws, "ops", "jira", fake.base_url, settings={"jql": "project = OPS ORDER BY rank", "api": "server"},
            credentials={"token": PAT},
        )  # fmt: skip
        before = counts(db)
        check = sources.test_connection(db, admin_actor, server)
        assert counts(db) == before
        paths = [r.path for r in fake.requests]
        assert all(r.authorization == pat for r in fake.requests)
    assert check.ok, check.message
    assert check.message.startswith("Connected to Jira Data Center 9.12.15 at ")
    assert check.message.endswith(" as okrflow bot; the JQL matches 3 issues")
    assert check.details["account"] == "JIRAUSER10100" and check.details["matching_issues"] == 3
    assert check.details["jql"] == "(project = OPS) ORDER BY updated ASC"  # what a sync sends, not the ORDER BY given
    assert paths == ["/rest/api/2/myself", "/rest/api/2/serverInfo", "/rest/api/2/search"]
    no_secret(shown(check))


def _issues(*keys: str) -> list[dict[str, Any]]:
    return [
        {
            "id": str(10000 + i),
            "key": key,
            "fields": {"updated": "2025-05-01T10:00:00.000+0000"},
            "changelog": {"histories": []},
        }
        for i, key in enumerate(keys)
    ]


def test_jira_bad_credentials_and_a_bad_jql_are_clear_failures(db: Database, ws: int, admin_actor: Actor) -> None:
    with FakeJira(authorization="Basic somebody-else", projects=("PAY",)) as fake:
        wrong = add_source(
            db, ws, "wrong", "jira", fake.base_url, settings={"jql": "project = PAY"},
            credentials={"email": EMAIL, "api_token": JIRA_TOKEN},
        )  # fmt: skip
        refused = sources.test_connection(db, admin_actor, wrong)
        assert len(fake.requests) == 1  # a 401 is not retried
    assert not refused.ok
    assert refused.message == "Jira refused the credentials (HTTP 401): check the e-mail and API token (Jira Cloud)"
    no_secret(shown(refused))

    with FakeJira(issues=_issues("PAY-1"), authorization=BASIC, projects=("PAY",)) as fake:
        bad = add_source(
            db, ws, "bad-jql", "jira", fake.base_url, settings={"jql": "project = NOPE"},
            credentials={"email": EMAIL, "api_token": JIRA_TOKEN},
        )  # fmt: skip
        unbalanced = add_source(
            db, ws, "unbalanced", "jira", fake.base_url, settings={"jql": "project = PAY AND (status = Done"},
            credentials={"email": EMAIL, "api_token": JIRA_TOKEN},
        )  # fmt: skip
        nope = sources.test_connection(db, admin_actor, bad)
        paren = sources.test_connection(db, admin_actor, unbalanced)
    assert not nope.ok
    assert nope.message == (
        "Jira rejected the JQL 'project = NOPE': The value 'NOPE' does not exist for the field 'project'."
    )
    assert nope.details["user"] == "okrflow bot"  # how far it got
    assert not paren.ok and paren.message.startswith("Jira rejected the JQL 'project = PAY AND (status = Done': ")
    assert "Expecting ')' but reached the end of the query" in paren.message


def test_github_repository_found_missing_and_rate_limited(
    db: Database, ws: int, admin_actor: Actor, github_api: tuple[FakeGitApi, str]
) -> None:
    fake, url = github_api
    token = {"token": GH_TOKEN}
    found = add_source(db, ws, "gh", "github", url, settings={"repository": REPO}, credentials=token)
    missing = add_source(db, ws, "gh-missing", "github", url, settings={"repository": "acme/nope"}, credentials=token)
    check = sources.test_connection(db, admin_actor, found)
    assert check.ok, check.message
    assert check.message == (
        f"Connected to GitHub: repository {REPO} (private, default branch main) is readable; "
        "4,999 of 5,000 API requests left this hour"
    )
    assert check.details == {
        "authenticated": True,
        "repository": REPO,
        "private": True,
        "visibility": "private",
        "default_branch": "main",
        "html_url": f"https://github.com/{REPO}",
        "rate_limit_remaining": 4999,
        "rate_limit": 5000,
    }
    req = fake.requests[-1]
    assert req.path == f"/repos/{REPO}" and req.headers["authorization"] == f"Bearer {GH_TOKEN}"
    assert req.headers["x-github-api-version"] == "2022-11-28" and "if-none-match" not in req.headers

    gone = sources.test_connection(db, admin_actor, missing)
    assert not gone.ok
    assert gone.message == "GitHub repository acme/nope not found, or not visible to this token (HTTP 404)"

    fake.script.append(Scripted(403, {}, {"message": "Resource not accessible by personal access token"}))
    denied = sources.test_connection(db, admin_actor, found)
    assert not denied.ok
    assert denied.message.startswith(
        f"GitHub denied access to {REPO} (HTTP 403): Resource not accessible by personal access token; the token "
        "needs read access to the repository"
    )

    limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "4102444800"}  # the year 2100
    body = {"message": "API rate limit exceeded for user ID 1."}
    fake.script.extend([Scripted(403, limited, body), Scripted(403, limited, body)])
    sleeps = Sleeps()
    slow = sources.test_connection(db, admin_actor, found, sleep=sleeps)
    assert not slow.ok and sleeps == [source_check.CHECK_MAX_WAIT]  # never the hours the reset asks for
    host = url.removeprefix("http://")
    assert slow.message == (
        f"GitHub at {host} is unavailable: rate limited (HTTP 403) on GET /repos/{REPO}: "
        "API rate limit exceeded for user ID 1. (gave up after 2 attempts)"
    )
    for c in (check, gone, denied, slow):
        no_secret(shown(c))


def test_gitlab_project_found_and_token_refused(
    db: Database, ws: int, admin_actor: Actor, gitlab_api: tuple[FakeGitApi, str]
) -> None:
    fake, url = gitlab_api
    found = add_source(db, ws, "gl", "gitlab", url, settings={"project": PROJECT}, credentials={"token": GL_TOKEN})
    wrong = add_source(db, ws, "gl-x", "gitlab", url, settings={"project": PROJECT}, credentials={"token": "glpat-x"})
    check = sources.test_connection(db, admin_actor, found)
    assert check.ok, check.message
    host = url.removeprefix("http://")
    assert check.message == (
        f"Connected to GitLab at {host}: project {PROJECT} (private, default branch main) is readable"
    )
    assert check.details["project"] == PROJECT and check.details["project_id"] == 42
    req = fake.requests[-1]
    assert req.path == "/api/v4/projects/acme%2Fplatform%2Fcheckout" and req.headers["private-token"] == GL_TOKEN
    refused = sources.test_connection(db, admin_actor, wrong)
    assert not refused.ok
    assert refused.message == (
        "GitLab refused the token (HTTP 401): check that it is valid, not expired or revoked, and has the read_api "
        "scope"
    )
    no_secret(shown(check) + shown(refused))


def test_unreachable_host_and_server_errors_fail_fast_naming_the_host(
    db: Database, ws: int, admin_actor: Actor
) -> None:
    port = closed_port()
    creds = {"email": EMAIL, "api_token": JIRA_TOKEN}
    down = add_source(db, ws, "down", "jira", f"http://127.0.0.1:{port}", settings={"jql": ""}, credentials=creds)
    gh_down = add_source(
        db, ws, "gh-down", "github", f"http://127.0.0.1:{port}", settings={"repository": REPO},
        credentials={"token": GH_TOKEN},
    )  # fmt: skip
    for source_id in (down, gh_down):
        sleeps = Sleeps()
        check = sources.test_connection(db, admin_actor, source_id, sleep=sleeps)
        assert not check.ok
        assert check.message.startswith(f"cannot connect to 127.0.0.1:{port}: the connection was refused or ")
        assert "(ConnectError) (gave up after 2 attempts)" in check.message
        assert len(sleeps) == 1 and sleeps[0] <= source_check.CHECK_MAX_WAIT
        no_secret(shown(check))

    failures = deque([(503, {"Retry-After": "120"}, {"errorMessages": ["Down for maintenance"]})] * 2)
    with FakeJira(failures=failures) as fake:
        busy = add_source(db, ws, "busy", "jira", fake.base_url, credentials=creds)
        sleeps = Sleeps()
        check = sources.test_connection(db, admin_actor, busy, sleep=sleeps)
    assert not check.ok and sleeps == [source_check.CHECK_MAX_WAIT]  # not the 120 s Retry-After asks for
    host = fake.base_url.removeprefix("http://")
    assert check.message == (
        f"Jira at {host} is unavailable: HTTP 503 on GET /rest/api/3/myself: Down for maintenance "
        "(gave up after 2 attempts)"
    )


def test_settings_problems_are_failed_checks_files_and_viewers_are_refused(
    db: Database, ws: int, admin_actor: Actor
) -> None:
    no_repo = add_source(db, ws, "gh-empty", "github", settings={})
    no_url = add_source(db, ws, "jira-empty", "jira")
    bad_url = add_source(db, ws, "jira-host", "jira", "acme.atlassian.net")
    check = sources.test_connection(db, admin_actor, no_repo)
    assert not check.ok and check.message == "a GitHub source needs settings.repository"
    check = sources.test_connection(db, admin_actor, no_url)
    assert not check.ok and check.message == "the Jira source has no base URL, e.g. https://example.atlassian.net"
    check = sources.test_connection(db, admin_actor, bad_url)
    assert not check.ok and "not an http(s) URL with a host name" in check.message

    files = add_source(db, ws, "sheet", "files")
    with pytest.raises(InvalidInputError, match="a files source is fed by upload or `okrflow import`"):
        sources.test_connection(db, admin_actor, files)
    with db.write() as s:
        tenancy.create_user(s, SYSTEM_ACTOR, "vera", None, workspace_id=ws, role="viewer")
    with db.read() as s:
        user = s.scalar(select(User).where(User.username == "vera"))
        assert user is not None
        viewer = auth.actor_for_user(s, user)
    with pytest.raises(PermissionDeniedError, match="contributor role for the whole workspace"):
        sources.test_connection(db, viewer, no_url)


# ---------------------------------------------------------------- API


def test_api_answers_200_with_ok_or_the_reason_422_for_files_403_for_viewers(db: Database) -> None:
    with build_world(db) as world, FakeJira(issues=_issues("PAY-1"), authorization=BASIC) as fake:
        c, admin = world.client, world.headers("admin")
        body = {
            "name": "pay",
            "kind": "jira",
            "base_url": fake.base_url,
            "settings": {"jql": "project = PAY"},
            "credentials": {"email": EMAIL, "api_token": JIRA_TOKEN},
        }
        src = c.post(f"{API}/workspaces/{world.ws_a}/sources", json=body, headers=admin).json()
        ok = c.post(f"{API}/sources/{src['id']}/test", headers=world.headers("contributor_ws"))
        assert ok.status_code == 200, ok.text
        got = ok.json()
        assert set(got) == {"ok", "kind", "message", "details", "duration_ms"}
        assert got["ok"] is True and got["kind"] == "jira" and got["details"]["user"] == "okrflow bot"
        assert got["message"].startswith("Connected to Jira Cloud 1001.0.0-SNAPSHOT at 127.0.0.1:")

        patch = {"credentials": {"email": EMAIL, "api_token": JIRA_TOKEN + "-old"}}
        etag = c.get(f"{API}/sources/{src['id']}", headers=admin).headers["etag"]
        c.patch(f"{API}/sources/{src['id']}", json=patch, headers={**admin, "If-Match": etag})
        failed = c.post(f"{API}/sources/{src['id']}/test", headers=admin)
        assert failed.status_code == 200 and failed.json()["ok"] is False
        assert failed.json()["message"].startswith("Jira refused the credentials (HTTP 401)")

        files = c.post(
            f"{API}/workspaces/{world.ws_a}/sources", json={"name": "sheet", "kind": "files"}, headers=admin
        ).json()
        refused = c.post(f"{API}/sources/{files['id']}/test", headers=admin)
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
        assert "nothing to connect to" in refused.json()["detail"]
        viewer = c.post(f"{API}/sources/{src['id']}/test", headers=world.headers("viewer"))
        assert viewer.status_code == 403
        outsider = c.post(f"{API}/sources/{src['id']}/test", headers=world.headers("outsider"))
        assert outsider.status_code == 404
        for resp in (ok, failed, refused, viewer):
            no_secret(resp.text)


# ---------------------------------------------------------------- CLI


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    runner = CliRunner()

    def invoke(*args: object) -> Any:
        return runner.invoke(cli.app, [str(a) for a in args])

    return invoke


def test_cli_source_test_prints_the_result_and_exits_0_1_or_2(
    run: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    init = run(
        "--database-url", db_url, "init", "--admin-username", "admin", "--admin-password", ADMIN_PASSWORD,
        "--workspace-slug", "acme", "--workspace-name", "Acme", "--no-input",
    )  # fmt: skip
    assert init.exit_code == 0, init.output
    monkeypatch.setenv("JIRA_TOKEN", JIRA_TOKEN)
    with FakeJira(issues=_issues("PAY-1"), authorization=BASIC, projects=("PAY",)) as fake:
        for name, jql in (("pay", "project = PAY"), ("typo", "project = PYA")):
            added = run(
                "--database-url", db_url, "source", "add", name, "--kind", "jira", "--url", fake.base_url,
                "--email", EMAIL, "--token-env", "JIRA_TOKEN", "--setting", f"jql={jql}",
            )  # fmt: skip
            assert added.exit_code == 0, added.output
        assert run("--database-url", db_url, "source", "add", "sheet", "--kind", "files").exit_code == 0
        good = run("--database-url", db_url, "source", "test", "pay")
        as_json = run("--database-url", db_url, "source", "test", "typo", "--json")
        typo = run("--database-url", db_url, "source", "test", "typo")
        files = run("--database-url", db_url, "source", "test", "sheet")
        unknown = run("--database-url", db_url, "source", "test", "nope")
    assert good.exit_code == 0, good.output
    first = good.stdout.splitlines()[0]
    assert first.startswith("✓ pay (jira): Connected to Jira Cloud 1001.0.0-SNAPSHOT at 127.0.0.1:")
    assert re.search(r"^  user +okrflow bot$", good.stdout, re.M)
    assert re.search(r"^  sample issue +PAY-1$", good.stdout, re.M)
    assert as_json.exit_code == 1, as_json.output
    payload = json.loads(as_json.stdout)
    assert payload["source"] == "typo" and payload["ok"] is False and payload["kind"] == "jira"
    assert payload["message"] == (
        "Jira rejected the JQL 'project = PYA': The value 'PYA' does not exist for the field 'project'."
    )
    assert typo.exit_code == 1 and typo.stdout.startswith("✗ typo (jira): Jira rejected the JQL")
    assert files.exit_code == 2 and files.stderr.strip() == (
        "error: a files source is fed by upload or `okrflow import`; there is nothing to connect to"
    )
    assert unknown.exit_code == 5 and "no source named 'nope'" in unknown.stderr
    for result in (good, as_json, typo, files):
        no_secret(result.output)


# ---------------------------------------------------------------- web


def _web(db: Database, user: str = "admin", password: str = ADMIN_PASSWORD) -> TestClient:
    client = TestClient(create_app(db))
    assert _login(client, user, password).status_code == 303
    return client


def test_web_button_for_admins_swaps_in_the_result(db: Database, ws: int, github_api: tuple[FakeGitApi, str]) -> None:
    _fake, url = github_api
    good = add_source(db, ws, "gh", "github", url, settings={"repository": REPO}, credentials={"token": GH_TOKEN})
    bad = add_source(db, ws, "gh-x", "github", url, settings={"repository": "acme/nope"}, credentials={"token": "x"})
    files = add_source(db, ws, "sheet", "files")
    with db.write() as s:
        tenancy.create_user(s, SYSTEM_ACTOR, "vera", VIEWER_PASSWORD, workspace_id=ws, role="viewer")
    admin = _web(db)
    page = admin.get("/sources").text
    _assert_no_inline(page, "sources")
    for source_id in (good, bad):
        assert f'hx-post="/sources/{source_id}/test"' in page
        assert f'hx-target="#connection-result-{source_id}"' in page and f'id="connection-result-{source_id}"' in page
    assert f"/sources/{files}/test" not in page  # a files source has nothing to connect to
    token = _csrf(page)

    frag = admin.post(f"/sources/{good}/test", data={"csrf_token": token}, headers=HX)
    assert frag.status_code == 200 and "<html" not in frag.text
    assert 'data-testid="connection-result"' in frag.text and 'data-ok="true"' in frag.text
    assert "alert-success" in frag.text and f"repository {REPO} (private, default branch main) is readable" in frag.text
    failed = admin.post(f"/sources/{bad}/test", data={"csrf_token": token}, headers=HX)
    assert failed.status_code == 200 and 'data-ok="false"' in failed.text and "alert-danger" in failed.text
    assert "GitHub refused the token (HTTP 401)" in failed.text
    refused = admin.post(f"/sources/{files}/test", data={"csrf_token": token}, headers=HX)
    assert refused.status_code == 422 and "nothing to connect to" in refused.text
    plain = admin.post(f"/sources/{good}/test", data={"csrf_token": token}, follow_redirects=False)
    assert plain.status_code == 200 and "<html" in plain.text  # without JavaScript: the page, the result on the card
    card = plain.text[plain.text.index(f'id="connection-result-{good}"') :]
    assert 'data-ok="true"' in card[:2000] and "is readable" in card[:2000]
    plain_files = admin.post(f"/sources/{files}/test", data={"csrf_token": token}, follow_redirects=False)
    assert plain_files.status_code == 422 and "<html" in plain_files.text  # the page, the reason on the card
    assert f'id="connection-result-{files}"' in plain_files.text and "nothing to connect to" in plain_files.text
    no_csrf = admin.post(f"/sources/{good}/test", data={}, headers=HX)
    assert no_csrf.status_code in (400, 403) and "connection-result" not in no_csrf.text
    for resp in (frag, failed, refused, plain):
        no_secret(resp.text)

    viewer = _web(db, "vera", VIEWER_PASSWORD)
    page = viewer.get("/sources").text
    assert "/test" not in page and "connection-result" not in page and "Test connection" not in page
    forbidden = viewer.post(f"/sources/{good}/test", data={"csrf_token": _csrf(page)}, headers=HX)
    assert forbidden.status_code == 403 and "connection-result" not in forbidden.text
