"""Jira client and parser against a local HTTP server shaped like Jira (no database): paging, changelogs,
retries, auth errors, epic links, JQL. The payloads are DevLake's real Jira Cloud fixtures."""

from __future__ import annotations

import base64
import copy
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pytest

from okrflow.connectors.jira import JiraClient, build_jql, fetch, parse_issue, parse_jira_datetime, parse_retry_after
from okrflow.connectors.jira.parser import FieldConfig
from okrflow.domain.errors import AuthenticationError, PermissionDeniedError, UnavailableError
from tests.jira_fake import FakeJira, devlake_changelogs, devlake_issues, devlake_statuses

ISSUES = devlake_issues()
STATUSES = devlake_statuses()
CREDS = {"email": "bot@example.com", "api_token": "s3cret-api-token"}
BASIC = "Basic " + base64.b64encode(b"bot@example.com:s3cret-api-token").decode()


@pytest.fixture
def fake():
    with FakeJira(issues=copy.deepcopy(ISSUES), statuses=STATUSES) as server:
        yield server


def client(fake: FakeJira, **kw) -> JiraClient:
    kw.setdefault("sleep", lambda _s: None)
    return JiraClient(fake.base_url, kw.pop("credentials", CREDS), **kw)


def test_cloud_search_pages_with_next_page_token(fake):
    fake.authorization = BASIC
    with client(fake, page_size=50) as c:
        got = list(c.search("project = EE ORDER BY updated ASC"))
    assert len(got) == len(ISSUES) == 33
    searches = fake.paths("/rest/api/3/search/jql")
    assert len(searches) == 4  # the server caps pages at 10 issues
    assert [("nextPageToken" in r.params) for r in searches] == [False, True, True, True]
    assert {r.params["fields"] for r in searches} == {"*all"} and {r.params["expand"] for r in searches} == {
        "changelog"
    }
    assert {r.authorization for r in fake.requests} == {BASIC}
    assert not fake.paths("/rest/api/3/issue/")  # no inline changelog is truncated: no extra requests


def test_truncated_inline_changelog_is_read_page_by_page(fake):
    """DevLake's changelog pages (100, 100 and 79 entries of three issues) behind a truncated inline changelog."""
    changelogs = devlake_changelogs()
    assert {k: len(v) for k, v in changelogs.items()} == {"13383": 100, "13954": 100, "13491": 79}
    template = next(i for i in ISSUES if i["key"] == "EE-1")
    shells = []
    for n, (issue_id, entries) in enumerate(sorted(changelogs.items()), start=1):
        shell = copy.deepcopy(template)
        shell.update(id=issue_id, key=f"CL-{n}")
        shell["changelog"] = {"startAt": 0, "maxResults": 2, "total": len(entries), "histories": entries[-2:]}
        shells.append(shell)
    fake.issues, fake.changelogs, fake.changelog_page_size = shells, changelogs, 30
    with client(fake) as c:
        got = {i["id"]: i for i in c.search("project = CL")}
    for issue_id, entries in changelogs.items():
        assert [h["id"] for h in got[issue_id]["changelog"]["histories"]] == [h["id"] for h in entries]
        rec = parse_issue(got[issue_id], base_url=fake.base_url)
        status_items = [
            (it["fromString"], it["toString"]) for h in entries for it in h["items"] if it["field"] == "status"
        ]
        assert [(s.from_status, s.to_status) for s in rec.history] == status_items
    pages = fake.paths("/rest/api/3/issue/")
    assert len(pages) == 4 + 4 + 3  # ceil(100/30), ceil(100/30), ceil(79/30)
    assert [r.params["startAt"] for r in pages[:4]] == ["0", "30", "60", "90"]


def test_server_v2_pages_with_start_at_and_bearer_token(fake):
    fake.authorization = "Bearer pat-123"
    fake.truncate = {"EE-17": 4}
    with client(fake, api="server", credentials={"token": "pat-123"}) as c:
        got = list(c.search("project = EE"))
    assert len(got) == 33
    assert [r.params["startAt"] for r in fake.paths("/rest/api/2/search")] == ["0", "10", "20", "30"]
    ee17 = next(i for i in got if i["key"] == "EE-17")
    full = next(i for i in ISSUES if i["key"] == "EE-17")["changelog"]["histories"]
    assert len(ee17["changelog"]["histories"]) == len(full) == 31  # v2 changelog pages ("histories")
    assert len(fake.paths("/rest/api/2/issue/EE-17/changelog")) == 5  # 31 entries, 7 a page


def test_429_waits_retry_after_then_succeeds(fake):
    waits: list[float] = []
    fake.failures.append((429, {"Retry-After": "7"}, {"errorMessages": ["Rate limit exceeded"]}))
    with client(fake, sleep=waits.append) as c:
        assert len(c.statuses()) == len(STATUSES)
    assert waits == [7.0] and len(fake.requests) == 2


def test_retry_after_as_http_date():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("99999") == 600.0  # bounded


def test_503_is_retried_with_backoff_then_unavailable(fake, caplog):
    waits: list[float] = []
    for _ in range(5):
        fake.failures.append((503, {}, "Service Unavailable"))
    caplog.set_level(logging.DEBUG)
    with (
        client(fake, sleep=waits.append, max_attempts=3, backoff_initial=0.5, backoff_max=4) as c,
        pytest.raises(UnavailableError, match=r"HTTP 503.*gave up after 3 attempts"),
    ):
        c.statuses()
    assert len(fake.requests) == 3 and len(waits) == 2
    assert all(0 <= w <= 4 for w in waits)  # exponential with full jitter, bounded by backoff_max
    assert "s3cret" not in caplog.text and "Basic" not in caplog.text


def test_401_and_403_are_clear_errors_without_credentials(fake):
    fake.authorization = BASIC
    bad = {"email": "bot@example.com", "api_token": "wrong-token-xyz"}
    with client(fake, credentials=bad) as c, pytest.raises(AuthenticationError) as exc:
        c.statuses()
    assert "You are not authenticated" in exc.value.message and "wrong-token-xyz" not in exc.value.message
    assert "wrong-token-xyz" not in repr(c)
    fake.failures.append((403, {}, {"errorMessages": ["You do not have the permission to see the specified issue."]}))
    with client(fake) as c, pytest.raises(PermissionDeniedError, match="permission to see"):
        c.statuses()


def test_jira_timestamps_become_aware_utc():
    assert parse_jira_datetime("2020-06-12T08:17:32.778+0800") == datetime(2020, 6, 12, 0, 17, 32, 778000, UTC)
    assert parse_jira_datetime("2020-06-12T08:17:32.778-05:30") == datetime(2020, 6, 12, 13, 47, 32, 778000, UTC)
    assert parse_jira_datetime("2020-06-12T00:17:32Z") == datetime(2020, 6, 12, 0, 17, 32, tzinfo=UTC)
    with pytest.raises(ValueError, match="time zone"):
        parse_jira_datetime("2020-06-12T08:17:32.778")


def test_epic_link_resolves_to_the_epic_id(fake):
    """K5-2 and K5-3 name their epic only by the epic-link field: K5-4 is in the run, K5-1 is looked up."""
    k5 = [copy.deepcopy(i) for i in ISSUES if i["key"].startswith("K5-")]
    for issue in k5:
        issue["fields"].pop("parent", None)
    epic = {"id": "20707", "key": "K5-1", "fields": {}}
    fake.issues, fake.extra_issues = k5, [epic]
    with client(fake) as c:
        result = fetch(c, "project = K5", config=FieldConfig())
    parents = {r.key: r.parent_external_id for r in result.records}
    assert parents == {"K5-2": "20707", "K5-3": "20710", "K5-4": None}
    assert len(fake.paths("/rest/api/3/issue/K5-1")) == 1 and result.errors == [] == result.warnings


def test_parser_reads_fields_labels_points_and_kr_refs():
    issue = copy.deepcopy(next(i for i in ISSUES if i["key"] == "EE-2"))
    issue["fields"]["labels"] = ["frontEnd", "okr:KR-12", "okr:KR-7"]
    config = FieldConfig.from_settings({"story_points_field": "customfield_10024"})
    rec = parse_issue(issue, base_url="https://merico.atlassian.net/", config=config)
    assert (rec.external_id, rec.key, rec.url) == ("10064", "EE-2", "https://merico.atlassian.net/browse/EE-2")
    assert (rec.issue_type, rec.status, rec.status_category, rec.story_points) == ("故事", "已完成", "done", 2.0)
    assert rec.kr_refs == ("KR-12", "KR-7") and rec.assignee == "Dingding Zhang"
    assert rec.updated == datetime(2021, 3, 28, 8, 5, 55, 16000, UTC)
    assert {f.field for f in rec.field_changes} <= {"issuetype", "Parent", "Epic Link", "Sprint"}
    assert [h.at for h in rec.history] == sorted(h.at for h in rec.history)


def test_incremental_jql_has_the_overlap_in_the_users_zone():
    cursor = datetime(2022, 7, 15, 22, 31, 38, 612000, UTC)
    assert (
        build_jql("project = EE ORDER BY created DESC", cursor, overlap_minutes=10, tz=ZoneInfo("UTC"))
        == '(project = EE) AND updated >= "2022-07-15 22:21" ORDER BY updated ASC'
    )
    assert 'updated >= "2022-07-16 06:21"' in build_jql("", cursor, overlap_minutes=10, tz=ZoneInfo("Asia/Shanghai"))
    assert build_jql("project = EE", None, overlap_minutes=10, tz=ZoneInfo("UTC")) == (
        "(project = EE) ORDER BY updated ASC"
    )
