"""HTTP client of the GitLab REST API (v4), on the shared :class:`~okrflow.connectors.rest.RestClient`.

Authenticates with ``PRIVATE-TOKEN`` (a personal, project or group access token: ``{"token": …}``) or an OAuth
bearer token (``{"oauth_token": …}``). Paging follows ``Link`` (keyset) or ``X-Next-Page``; a 429 waits for
``Retry-After`` (else ``RateLimit-Reset``). The project is a numeric id or its full path (URL-encoded here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from urllib.parse import quote

import httpx

from okrflow.connectors.rest import EtagCache, RestClient
from okrflow.domain.errors import ConfigurationError

DEFAULT_URL = "https://gitlab.com"


def auth_headers(credentials: Mapping[str, str]) -> dict[str, str]:
    token = credentials.get("token") or credentials.get("private_token")
    oauth = credentials.get("oauth_token") or credentials.get("bearer_token")
    if token:
        return {"PRIVATE-TOKEN": token}
    if oauth:
        return {"Authorization": f"Bearer {oauth}"}
    if credentials:
        raise ConfigurationError("GitLab credentials are {'token': …} (access token) or {'oauth_token': …}")
    return {}


def project_path(project: str) -> str:
    """``/projects/<id>``: a numeric id as is, a path like ``group/sub/project`` URL-encoded."""
    return f"/projects/{quote(project.strip(), safe='')}"


class GitLabClient(RestClient):
    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        credentials: Mapping[str, str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        etags: EtagCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 6,
        timeout: float = 30.0,
    ) -> None:
        base = (base_url or DEFAULT_URL).rstrip("/")
        if not base.endswith("/api/v4"):
            base += "/api/v4"
        headers = {"Accept": "application/json", "User-Agent": "okrflow-gitlab-connector"}
        headers.update(auth_headers(credentials or {}))
        super().__init__(
            base,
            name="GitLab",
            headers=headers,
            transport=transport,
            etags=etags,
            sleep=sleep,
            clock=clock,
            max_attempts=max_attempts,
            timeout=timeout,
            remaining_header="ratelimit-remaining",
            reset_header="ratelimit-reset",
        )
