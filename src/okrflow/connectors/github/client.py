"""HTTP client of the GitHub REST API (v3), on the shared :class:`~okrflow.connectors.rest.RestClient`.

Sends ``Accept: application/vnd.github+json`` and ``X-GitHub-Api-Version: 2022-11-28``; authenticates with a
bearer token (a fine-grained or classic personal access token, or a GitHub App installation token). Without a
token it reads public repositories anonymously (60 requests an hour). Rate limits and paging: see ``rest``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import httpx

from okrflow.connectors.rest import EtagCache, RestClient
from okrflow.domain.errors import ConfigurationError

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"


def token_of(credentials: Mapping[str, str]) -> str | None:
    token = credentials.get("token") or credentials.get("personal_access_token")
    if credentials and not token:
        raise ConfigurationError("GitHub credentials are {'token': '<personal access token>'}")
    return token or None


class GitHubClient(RestClient):
    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        credentials: Mapping[str, str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        etags: EtagCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 6,
        timeout: float = 30.0,
    ) -> None:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "okrflow-github-connector",
        }
        token = token_of(credentials or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        super().__init__(
            api_url or DEFAULT_API_URL,
            name="GitHub",
            headers=headers,
            transport=transport,
            etags=etags,
            sleep=sleep,
            clock=clock,
            max_attempts=max_attempts,
            timeout=timeout,
        )
