"""HTTP client of the Jira REST API (Cloud v3 and Server/Data Center v2), on httpx.

- **Auth:** e-mail + API token (HTTP basic, Cloud) or a personal access token (bearer, Server/Data Center).
  Credentials live only in the ``httpx.Client`` headers: they are never logged, put in an error or echoed.
- **Paging:** Cloud ``GET /rest/api/3/search/jql`` pages with ``nextPageToken`` until ``isLast`` (or no token);
  Server ``GET /rest/api/2/search`` pages with ``startAt`` / ``maxResults`` / ``total``. A truncated inline
  changelog (``total`` > histories returned) is read in full from ``/rest/api/{v}/issue/{key}/changelog``.
- **Retries:** HTTP 429 and 5xx (and connection errors) are retried with tenacity, waiting ``Retry-After``
  (seconds or an HTTP date) when the server sends it, else exponential backoff with jitter; after
  ``max_attempts`` the call fails with :class:`UnavailableError`. 401 → :class:`AuthenticationError`,
  403 → :class:`PermissionDeniedError`, both with the server's own message.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from okrflow.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    OkrflowError,
    PermissionDeniedError,
    UnavailableError,
)

log = logging.getLogger(__name__)

API_VERSIONS = {"cloud": "3", "server": "2"}
MAX_RETRY_AFTER = 600.0  # never sleep longer than this on one Retry-After


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def loads(body: bytes | str) -> Any:
    """A JSON response body → Python objects: orjson (several times faster on big search pages); what it refuses
    but the standard library reads (NaN, Infinity, a byte-order mark) is read by the latter. One difference
    stays: an integer beyond 64 bits comes back as a float (Jira sends ids as strings, estimates as numbers)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, min(float(value), MAX_RETRY_AFTER))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(delta, MAX_RETRY_AFTER))


def server_message(response: httpx.Response, limit: int = 300) -> str:
    """Jira's own words for an error (``errorMessages`` / ``errors`` / ``message``), else the status line."""
    text = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        parts = [str(m) for m in body.get("errorMessages") or ()]
        errors = body.get("errors")
        if isinstance(errors, Mapping):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        if body.get("message"):
            parts.append(str(body["message"]))
        text = "; ".join(parts)
    elif response.headers.get("content-type", "").startswith("text/plain"):
        text = response.text.strip()
    if not text:
        text = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return text[:limit]


def auth_headers(credentials: Mapping[str, str]) -> httpx.Auth | None:
    """``{"email", "api_token"}`` → basic auth; ``{"token"}`` (a personal access token) → bearer; ``{}`` → none."""
    email = credentials.get("email") or credentials.get("username")
    token = credentials.get("api_token") or credentials.get("password")
    pat = credentials.get("token") or credentials.get("personal_access_token")
    if email and token:
        return httpx.BasicAuth(email, token)
    if pat:
        return _BearerAuth(pat)
    if email or token:
        raise ConfigurationError("Jira credentials need both email and api_token (or a personal access token)")
    return None


class _BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:  # never show the token
        return "_BearerAuth(***)"


class JiraClient:
    """A Jira site. ``api``: ``"cloud"`` (REST v3) or ``"server"`` (REST v2, Server/Data Center)."""

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, str] | None = None,
        *,
        api: str = "cloud",
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        page_size: int = 100,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if api not in API_VERSIONS:
            raise ConfigurationError(f"Jira api is one of {', '.join(API_VERSIONS)}, not {api!r}")
        if not base_url:
            raise ConfigurationError("the Jira source needs a base URL, e.g. https://example.atlassian.net")
        self.base_url = base_url.rstrip("/")
        self.api = api
        self.version = API_VERSIONS[api]
        self.max_attempts = max(1, max_attempts)
        self.page_size = page_size
        self.requests = 0
        self._sleep = sleep
        self._backoff = wait_random_exponential(multiplier=backoff_initial, max=backoff_max)  # "full jitter"
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth_headers(credentials or {}),
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "okrflow-jira-connector"},
            follow_redirects=False,
        )

    def __enter__(self) -> JiraClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"JiraClient({self.base_url!r}, api={self.api!r})"

    # ------------------------------------------------------------------ transport with retries

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("Jira: %s; retrying in %.1f s (attempt %d)", exc, wait, state.attempt_number)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` (relative to the site) → decoded JSON, with the retry and error rules above."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=False,
        )
        try:
            return retrying(self._get_once, path, params)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            reason = last.reason if isinstance(last, _Retryable) else str(last)
            raise UnavailableError(
                f"Jira at {self.base_url} is unavailable: {reason} (gave up after {self.max_attempts} attempts)"
            ) from None

    def _get_once(self, path: str, params: Mapping[str, Any] | None) -> Any:
        self.requests += 1
        try:
            response = self._http.get(path, params=dict(params or {}))
        except httpx.TransportError as exc:
            raise _Retryable(f"{type(exc).__name__} on GET {path}") from None
        code = response.status_code
        if code == 429 or code >= 500:
            raise _Retryable(
                f"HTTP {code} on GET {path}: {server_message(response)}",
                parse_retry_after(response.headers.get("Retry-After")),
            )
        if code == 401:
            raise AuthenticationError(
                f"Jira refused the credentials (HTTP 401): {server_message(response)}. "
                "Cloud needs email + API token; Server/Data Center a personal access token."
            )
        if code == 403:
            raise PermissionDeniedError(f"Jira denied access (HTTP 403): {server_message(response)}")
        if code == 404:
            raise NotFoundError(f"Jira: GET {path} not found: {server_message(response)}")
        if code == 400:
            raise InvalidInputError(f"Jira rejected the request (HTTP 400): {server_message(response)}")
        if code >= 300:
            raise OkrflowError(f"Jira answered HTTP {code} on GET {path}: {server_message(response)}")
        try:
            return loads(response.content)
        except ValueError:
            raise UnavailableError(f"Jira answered GET {path} with a body that is not JSON") from None

    # ------------------------------------------------------------------ API calls

    def server_info(self) -> dict[str, Any]:
        """A cheap authenticated call (``/myself``) used by "test connection"."""
        return dict(self.get(f"/rest/api/{self.version}/myself"))

    def statuses(self) -> list[dict[str, Any]]:
        """The site's statuses (``/status``): id, name and ``statusCategory.key`` (new, indeterminate, done)."""
        return [dict(x) for x in self.get(f"/rest/api/{self.version}/status") or ()]

    def issue_id(self, key: str) -> str | None:
        """The id of the issue ``key`` (to resolve an epic link), ``None`` when it does not exist."""
        try:
            data = self.get(f"/rest/api/{self.version}/issue/{key}", {"fields": "summary"})
        except NotFoundError:
            return None
        return str(data["id"]) if data.get("id") else None

    def search(self, jql: str, *, fields: str = "*all") -> Iterator[dict[str, Any]]:
        """Every issue matching ``jql``, with a complete changelog, page by page."""
        pages = self._search_cloud(jql, fields) if self.api == "cloud" else self._search_server(jql, fields)
        for page in pages:
            for issue in page:
                yield self.complete_changelog(issue)

    def _search_cloud(self, jql: str, fields: str) -> Iterator[list[dict[str, Any]]]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {
                "jql": jql,
                "fields": fields,
                "expand": "changelog",
                "maxResults": self.page_size,
            }
            if token:
                params["nextPageToken"] = token
            data = self.get("/rest/api/3/search/jql", params)
            yield list(data.get("issues") or ())
            token = data.get("nextPageToken")
            if data.get("isLast", not token) or not token:
                return
            if token in seen:  # a server that repeats itself would loop forever
                raise UnavailableError("Jira returned the same nextPageToken twice; stopping the search")
            seen.add(token)

    def _search_server(self, jql: str, fields: str) -> Iterator[list[dict[str, Any]]]:
        start = 0
        while True:
            data = self.get(
                "/rest/api/2/search",
                {"jql": jql, "fields": fields, "expand": "changelog", "startAt": start, "maxResults": self.page_size},
            )
            issues = list(data.get("issues") or ())
            yield issues
            start = int(data.get("startAt", start)) + len(issues)
            total = data.get("total")
            if not issues or (total is not None and start >= int(total)):
                return

    def complete_changelog(self, issue: dict[str, Any]) -> dict[str, Any]:
        """The issue with all of its changelog: fetched page by page when the inline one is truncated."""
        changelog = issue.get("changelog")
        if not isinstance(changelog, Mapping):
            return issue
        histories = list(changelog.get("histories") or ())
        total = changelog.get("total")
        max_results = changelog.get("maxResults")
        if total is None or (int(total) <= len(histories) and (max_results is None or int(max_results) >= int(total))):
            return issue
        full = list(self.changelog(str(issue.get("key") or issue.get("id"))))
        return {**issue, "changelog": {"startAt": 0, "maxResults": len(full), "total": len(full), "histories": full}}

    def changelog(self, key: str) -> Iterator[dict[str, Any]]:
        """All changelog entries of one issue, oldest first (Cloud: ``values`` + ``isLast``; v2: ``histories``)."""
        start = 0
        while True:
            data = self.get(
                f"/rest/api/{self.version}/issue/{key}/changelog", {"startAt": start, "maxResults": self.page_size}
            )
            values = list(data.get("values") or data.get("histories") or ())
            yield from values
            start = int(data.get("startAt", start)) + len(values)
            total = data.get("total")
            if not values or data.get("isLast") is True:
                return
            if data.get("isLast") is None and total is not None and start >= int(total):
                return
