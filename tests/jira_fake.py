"""A local HTTP server shaped like Jira's REST API, for connector tests (real sockets, real httpx path).

It serves issues through Cloud ``/rest/api/3/search/jql`` (``nextPageToken`` pages) and Server
``/rest/api/2/search`` (``startAt`` pages), changelogs through ``/rest/api/{v}/issue/{key}/changelog`` (Cloud:
``values`` + ``isLast``; v2: ``histories``), ``/status``, ``/myself``, ``/serverInfo`` and ``/issue/{key}``
(``/myself`` and ``/serverInfo`` shaped like the examples of the Cloud or the Server/Data Center REST docs, after
``deployment``). It filters the search by the JQL's ``updated >= "yyyy-MM-dd HH:mm"`` clause (read in ``tz``,
like Jira reads it in the user's zone), refuses a JQL with unbalanced parentheses or naming a project outside
``projects`` with a 400 and Jira's ``errorMessages``, can truncate inline changelogs, can answer scripted failures
first, and logs every request.
"""

from __future__ import annotations

import base64
import csv
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from okrflow.connectors.jira.parser import parse_jira_datetime

FIXTURES = Path(__file__).parent / "fixtures"
DEVLAKE = FIXTURES / "devlake" / "jira"
csv.field_size_limit(10**8)


def devlake_issues() -> list[dict[str, Any]]:
    """The verbatim issue JSON of ``_raw_jira_api_issues.csv`` (column ``data``)."""
    with (DEVLAKE / "raw" / "_raw_jira_api_issues.csv").open(encoding="utf-8") as fh:
        return [json.loads(row["data"]) for row in csv.DictReader(fh)]


def devlake_statuses() -> list[dict[str, Any]]:
    with (DEVLAKE / "raw" / "_raw_jira_api_status.csv").open(encoding="utf-8") as fh:
        return [json.loads(row["data"]) for row in csv.DictReader(fh)]


def devlake_changelogs() -> dict[str, list[dict[str, Any]]]:
    """Issue id → its changelog entries (one per row of ``_raw_jira_api_issue_changelogs.csv``), oldest first."""
    out: dict[str, list[dict[str, Any]]] = {}
    with (DEVLAKE / "raw" / "_raw_jira_api_issue_changelogs.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            issue_id = str(json.loads(row["input"])["issue_id"])
            out.setdefault(issue_id, []).append(json.loads(row["data"]))
    for entries in out.values():
        entries.sort(key=lambda h: (parse_jira_datetime(h["created"]), int(h["id"])))
    return out


def devlake_expected(name: str) -> list[dict[str, str]]:
    with (DEVLAKE / "expected" / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@dataclass
class Request:
    path: str
    params: dict[str, str]
    authorization: str | None


@dataclass
class FakeJira:
    issues: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    changelogs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id or key → entries
    extra_issues: list[dict[str, Any]] = field(default_factory=list)  # reachable by /issue/{key}, not searched
    search_page_size: int = 10
    changelog_page_size: int = 7
    truncate: dict[str, int] = field(default_factory=dict)  # key → histories left inline
    tz: str = "UTC"
    authorization: str | None = None  # expected header; None: anything goes
    deployment: str = "Cloud"  # serverInfo's deploymentType: "Cloud", "Server" or "DataCenter"
    projects: tuple[str, ...] | None = None  # project keys a JQL may name; None: any
    failures: deque[tuple[int, dict[str, str], Any]] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    base_url: str = ""
    _server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeJira:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, *_args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def paths(self, prefix: str = "") -> list[Request]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    # ------------------------------------------------------------------ routing

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = unquote(url.path)
        self.requests.append(Request(path, params, h.headers.get("Authorization")))
        if self.failures:
            status, headers, body = self.failures.popleft()
            return self._send(h, status, body, headers)
        if self.authorization is not None and h.headers.get("Authorization") != self.authorization:
            return self._send(h, 401, {"errorMessages": ["You are not authenticated. Authentication required."]})
        m = re.fullmatch(r"/rest/api/(2|3)/(.*)", path)
        if not m:
            return self._send(h, 404, {"errorMessages": ["no such resource"]})
        version, rest = m.groups()
        if rest in ("search/jql", "search") and (errors := self._jql_errors(params.get("jql", ""))):
            return self._send(h, 400, {"errorMessages": errors, "warningMessages": []})
        if rest == "search/jql" and version == "3":
            return self._send(h, 200, self._search_cloud(params))
        if rest == "search" and version == "2":
            return self._send(h, 200, self._search_server(params))
        if rest == "status":
            return self._send(h, 200, self.statuses)
        if rest == "myself":
            return self._send(h, 200, self._myself(version))
        if rest == "serverInfo":
            return self._send(h, 200, self._server_info())
        cm = re.fullmatch(r"issue/([^/]+)/changelog", rest)
        if cm:
            return self._changelog(h, version, cm.group(1), params)
        im = re.fullmatch(r"issue/([^/]+)", rest)
        if im:
            for issue in [*self.issues, *self.extra_issues]:
                if im.group(1) in (issue["id"], issue["key"]):
                    return self._send(h, 200, {"id": issue["id"], "key": issue["key"], "fields": {}})
            return self._send(
                h, 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
            )
        return self._send(h, 404, {"errorMessages": [f"no route {path}"]})

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    # ------------------------------------------------------------------ endpoints

    def _myself(self, version: str) -> dict[str, Any]:
        """The current user, as in the REST docs' examples (Cloud: an account id; Server: a user name and key)."""
        base = f"{self.base_url}/rest/api/{version}"
        avatars = {size: f"{self.base_url}/secure/useravatar?size={size}" for size in ("48x48", "24x24", "16x16")}
        if self.deployment == "Cloud":
            return {
                "self": f"{base}/user?accountId=5b10a2844c20165700ede21g",
                "accountId": "5b10a2844c20165700ede21g",
                "accountType": "atlassian",
                "emailAddress": "bot@acme.test",
                "avatarUrls": avatars,
                "displayName": "okrflow bot",
                "active": True,
                "timeZone": self.tz,
                "locale": "en_US",
                "groups": {"size": 3, "items": []},
                "applicationRoles": {"size": 1, "items": []},
                "expand": "groups,applicationRoles",
            }
        return {
            "self": f"{base}/user?username=okrflow-bot",
            "key": "JIRAUSER10100",
            "name": "okrflow-bot",
            "emailAddress": "bot@acme.test",
            "avatarUrls": avatars,
            "displayName": "okrflow bot",
            "active": True,
            "deleted": False,
            "timeZone": self.tz,
            "locale": "en_US",
            "groups": {"size": 1, "items": []},
            "applicationRoles": {"size": 1, "items": []},
            "expand": "groups,applicationRoles",
        }

    def _server_info(self) -> dict[str, Any]:
        cloud = self.deployment == "Cloud"
        version = "1001.0.0-SNAPSHOT" if cloud else "9.12.15"
        return {
            "baseUrl": self.base_url,
            "version": version,
            "versionNumbers": [int(n) for n in version.split("-")[0].split(".")],
            "deploymentType": self.deployment,
            "buildNumber": 100280 if cloud else 9120015,
            "buildDate": "2025-05-12T00:00:00.000+0000",
            "serverTime": "2025-05-13T09:30:00.000+0000",
            "scmInfo": "3a3b2fd5ed6c5c7d4b1e8e7a0b0c9f1e2d3c4b5a",
            "serverTitle": "Jira",
        }

    def _jql_errors(self, jql: str) -> list[str]:
        """Jira's answers to two common JQL mistakes: unbalanced parentheses and an unknown project."""
        depth = 0
        for ch in re.sub(r'"(?:[^"\\]|\\.)*"', '""', jql):  # not inside quoted text
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth < 0:
                return ["Error in the JQL Query: Expecting either a value, list or function but got ''. (line 1)"]
        if depth:
            return ["Error in the JQL Query: Expecting ')' but reached the end of the query. (line 1)"]
        if self.projects is None:
            return []
        errors = []
        for m in re.finditer(r"\bproject\s*(?:=\s*\"?([\w-]+)\"?|in\s*\(([^)]*)\))", jql, re.IGNORECASE):
            names = [m.group(1)] if m.group(1) else [n.strip(' "') for n in m.group(2).split(",")]
            errors += [
                f"The value '{n}' does not exist for the field 'project'." for n in names if n not in self.projects
            ]
        return errors

    def _matching(self, jql: str) -> list[dict[str, Any]]:
        issues = list(self.issues)
        m = re.search(r'updated\s*>=\s*"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})"', jql)
        if m:
            since = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(self.tz))
            issues = [i for i in issues if parse_jira_datetime(i["fields"]["updated"]) >= since]
        if "ORDER BY updated ASC" in jql:
            issues.sort(key=lambda i: parse_jira_datetime(i["fields"]["updated"]))
        return [self._inline(i) for i in issues]

    def _inline(self, issue: dict[str, Any]) -> dict[str, Any]:
        keep = self.truncate.get(issue["key"])
        if keep is None:
            return issue
        histories = issue["changelog"]["histories"]
        return {
            **issue,
            "changelog": {"startAt": 0, "maxResults": keep, "total": len(histories), "histories": histories[:keep]},
        }

    def _search_cloud(self, params: dict[str, str]) -> dict[str, Any]:
        issues = self._matching(params.get("jql", ""))
        size = min(int(params.get("maxResults", 50)), self.search_page_size)
        token = params.get("nextPageToken")
        start = int(base64.urlsafe_b64decode(token).decode().split(":")[1]) if token else 0
        page = issues[start : start + size]
        body: dict[str, Any] = {"issues": page, "isLast": start + size >= len(issues)}
        if not body["isLast"]:
            body["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
        return body

    def _search_server(self, params: dict[str, str]) -> dict[str, Any]:
        issues = self._matching(params.get("jql", ""))
        size = min(int(params.get("maxResults", 50)), self.search_page_size)
        start = int(params.get("startAt", 0))
        return {"startAt": start, "maxResults": size, "total": len(issues), "issues": issues[start : start + size]}

    def _changelog(self, h: BaseHTTPRequestHandler, version: str, key: str, params: dict[str, str]) -> None:
        entries = self.changelogs.get(key)
        for issue in self.issues:
            if entries is None and key in (issue["id"], issue["key"]):
                entries = self.changelogs.get(issue["id"], issue["changelog"]["histories"])
        if entries is None:
            return self._send(h, 404, {"errorMessages": ["Issue does not exist"]})
        size = min(int(params.get("maxResults", 100)), self.changelog_page_size)
        start = int(params.get("startAt", 0))
        page = entries[start : start + size]
        if version == "3":
            body = {
                "startAt": start,
                "maxResults": size,
                "total": len(entries),
                "isLast": start + size >= len(entries),
                "values": page,
            }
        else:
            body = {"startAt": start, "maxResults": size, "total": len(entries), "histories": page}
        return self._send(h, 200, body)
