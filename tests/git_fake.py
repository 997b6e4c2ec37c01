"""A local HTTP server shaped like the GitHub REST v3 or GitLab REST v4 API, for connector tests (real
sockets, the real httpx path).

Routes map a raw request path (``/repos/o/r/issues``, ``/api/v4/projects/g%2Fp/issues``) to a JSON document;
a list is filtered (``since`` / ``updated_after``, ``environment``), sorted (``sort=updated`` + ``direction``,
or ``order_by=updated_at`` + ``sort``) and paged (``per_page`` / ``page``) with ``Link`` headers (and GitLab's
``X-Next-Page`` family). GitHub style answers carry an ETag and honour ``If-None-Match`` with a 304, plus the
``x-ratelimit-*`` headers. Scripted answers (``script``) are served first, to make 429s, 403 rate limits and
the like. Every request is logged with its headers. ``github_repository`` and ``gitlab_project`` build the
repository and project documents of the two APIs' reference examples.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


def load(kind: str, name: str) -> Any:
    return json.loads((FIXTURES / kind / name).read_text(encoding="utf-8"))


def github_repository(full_name: str, *, private: bool = True, default_branch: str = "main") -> dict[str, Any]:
    """``GET /repos/{owner}/{repo}`` as in the example of GitHub's REST docs (the fields a client reads, and
    enough of the rest to look the part), for ``FakeGitApi(routes={f"/repos/{full_name}": …})``."""
    owner, name = full_name.split("/")
    api = f"https://api.github.com/repos/{full_name}"
    return {
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": name,
        "full_name": full_name,
        "owner": {"login": owner, "id": 1, "type": "Organization", "site_admin": False},
        "private": private,
        "html_url": f"https://github.com/{full_name}",
        "description": "This your first repo!",
        "fork": False,
        "url": api,
        "issues_url": api + "/issues{/number}",
        "pulls_url": api + "/pulls{/number}",
        "deployments_url": api + "/deployments",
        "homepage": "https://github.com",
        "language": None,
        "forks_count": 9,
        "stargazers_count": 80,
        "watchers_count": 80,
        "size": 108,
        "default_branch": default_branch,
        "open_issues_count": 0,
        "is_template": False,
        "topics": ["octocat", "atom", "electron", "api"],
        "has_issues": True,
        "has_projects": True,
        "has_wiki": True,
        "has_pages": False,
        "has_downloads": True,
        "archived": False,
        "disabled": False,
        "visibility": "private" if private else "public",
        "pushed_at": "2011-01-26T19:06:43Z",
        "created_at": "2011-01-26T19:01:12Z",
        "updated_at": "2011-01-26T19:14:43Z",
        "permissions": {"admin": False, "push": False, "pull": True},
        "allow_forking": True,
        "subscribers_count": 42,
        "network_count": 0,
    }


def gitlab_project(path_with_namespace: str, *, project_id: int = 4, visibility: str = "private") -> dict[str, Any]:
    """``GET /projects/:id`` as in the example of GitLab's REST docs (trimmed), for
    ``FakeGitApi(style="gitlab", prefix="/api/v4", routes={"/projects/<url-encoded path>": …})``."""
    namespace, _, name = path_with_namespace.rpartition("/")
    web = f"https://gitlab.example.com/{path_with_namespace}"
    return {
        "id": project_id,
        "description": None,
        "name": name.replace("-", " ").title(),
        "name_with_namespace": f"{namespace.replace('/', ' / ')} / {name}",
        "path": name,
        "path_with_namespace": path_with_namespace,
        "created_at": "2013-09-30T13:46:02Z",
        "default_branch": "main",
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": f"git@gitlab.example.com:{path_with_namespace}.git",
        "http_url_to_repo": f"{web}.git",
        "web_url": web,
        "readme_url": f"{web}/blob/main/README.md",
        "forks_count": 0,
        "star_count": 0,
        "last_activity_at": "2013-09-30T13:46:02Z",
        "namespace": {
            "id": 3,
            "name": namespace.rsplit("/", 1)[-1],
            "path": namespace.rsplit("/", 1)[-1],
            "kind": "group",
            "full_path": namespace,
        },
        "visibility": visibility,
        "archived": False,
        "issues_enabled": True,
        "merge_requests_enabled": True,
        "jobs_enabled": True,
        "wiki_enabled": True,
        "open_issues_count": 1,
        "permissions": {"project_access": {"access_level": 20, "notification_level": 3}, "group_access": None},
    }


@dataclass
class Request:
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int = 0


@dataclass
class Scripted:
    """An answer served instead of the route's (``status=200`` and ``body=None``: the route's body, with these
    extra headers). ``path`` limits it to requests whose path ends with it."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    path: str = ""


@dataclass
class FakeGitApi:
    style: str = "github"  # or "gitlab"
    routes: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    script: deque[Scripted] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    rate_reset: int = 1_800_000_000
    prefix: str = ""  # GitLab: "/api/v4"

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api._handle(self)

            def log_message(self, *_args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ------------------------------------------------------------------ queries for tests

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def hits(self, fragment: str) -> list[Request]:
        return [r for r in self.requests if fragment in r.path]

    # ------------------------------------------------------------------ serving

    def _authorized(self, headers: dict[str, str]) -> bool:
        if self.token is None:
            return True
        if self.style == "github":
            return headers.get("authorization") == f"Bearer {self.token}"
        return headers.get("private-token") == self.token or headers.get("authorization") == f"Bearer {self.token}"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in h.headers.items()}
        req = Request(split.path, params, headers)
        with self._lock:
            self.requests.append(req)
            scripted = None
            if self.script and split.path.endswith(self.script[0].path):
                scripted = self.script.popleft()
        extra: dict[str, str] = {}
        if scripted is not None and not (scripted.status == 200 and scripted.body is None):
            return self._send(h, req, scripted.status, scripted.body, scripted.headers)
        if scripted is not None:
            extra = scripted.headers
        if not self._authorized(headers):
            body = {"message": "Bad credentials"} if self.style == "github" else {"message": "401 Unauthorized"}
            return self._send(h, req, 401, body)
        path = split.path[len(self.prefix) :] if self.prefix and split.path.startswith(self.prefix) else split.path
        if path not in self.routes:
            return self._send(h, req, 404, {"message": "Not Found" if self.style == "github" else "404 Not found"})
        doc = self.routes[path]
        if isinstance(doc, list):
            body, paging = self._page(h, split.path, params, doc)
            extra = paging | extra
        else:
            body = doc
        self._send(h, req, 200, body, extra)

    def _page(
        self, h: BaseHTTPRequestHandler, path: str, params: dict[str, str], items: list[Any]
    ) -> tuple[list[Any], dict[str, str]]:
        since = params.get("since") or params.get("updated_after")
        if since:
            cut = datetime.fromisoformat(since)
            items = [i for i in items if datetime.fromisoformat(i["updated_at"]) >= cut]
        env = params.get("environment")
        if env:
            items = [
                i
                for i in items
                if (i["environment"]["name"] if isinstance(i["environment"], dict) else i["environment"]) == env
            ]
        if params.get("sort") == "updated" or params.get("order_by") == "updated_at":
            direction = params.get("direction") or (
                params.get("sort") if params.get("sort") in ("asc", "desc") else "desc"
            )
            items = sorted(items, key=lambda i: i["updated_at"], reverse=direction == "desc")
        per_page = int(params.get("per_page", 30 if self.style == "github" else 20))
        page = int(params.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        host = h.headers.get("Host")

        def link(n: int) -> str:
            return f"http://{host}{path}?{urlencode({**params, 'page': n})}"

        rels = []
        if page < last:
            rels.append(f'<{link(page + 1)}>; rel="next"')
        rels.append(f'<{link(last)}>; rel="last"')
        if page > 1:
            rels.insert(0, f'<{link(1)}>; rel="first"')
        headers = {"Link": ", ".join(rels)}
        if self.style == "gitlab":
            headers |= {
                "X-Page": str(page),
                "X-Per-Page": str(per_page),
                "X-Next-Page": str(page + 1) if page < last else "",
                "X-Prev-Page": str(page - 1) if page > 1 else "",
                "X-Total": str(len(items)),
                "X-Total-Pages": str(last),
            }
        return chunk, headers

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        req: Request,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        out = {"Content-Type": "application/json; charset=utf-8"}
        if self.style == "github":
            out |= {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "4999",
                "x-ratelimit-reset": str(self.rate_reset),
                "x-ratelimit-resource": "core",
            }
            if status == 200:
                etag = 'W/"' + hashlib.sha256(payload).hexdigest()[:40] + '"'
                out["ETag"] = etag
                if req.headers.get("if-none-match") == etag:
                    status, payload = 304, b""
        out |= headers or {}
        req.status = status
        h.send_response(status)
        for k, v in out.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
