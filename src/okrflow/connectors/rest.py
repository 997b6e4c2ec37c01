"""A small JSON REST client shared by the GitHub and GitLab connectors, on httpx and tenacity.

- **Paging:** follows ``Link: <…>; rel="next"`` (RFC 8288, GitHub and GitLab keyset paging) or, when there is
  no Link header, GitLab's ``X-Next-Page`` (empty on the last page).
- **Conditional requests:** with an :class:`EtagCache`, a GET sends ``If-None-Match`` with the ETag of the
  last answer for the same URL; a ``304 Not Modified`` is a :class:`Page` with ``not_modified=True`` (and the
  next link remembered from that answer). A 304 costs nothing against GitHub's primary rate limit.
- **Rate limits:** a 429, or a 403 that says it is a rate limit (``x-ratelimit-remaining: 0``,
  ``Retry-After``, or "rate limit" in the message), is retried after ``Retry-After`` seconds, else until
  ``x-ratelimit-reset`` (primary limit), else one minute (GitHub's advice for a secondary limit). A successful
  answer with ``remaining: 0`` makes the *next* request wait for the reset. 5xx and connection errors are
  retried with exponential backoff. ``sleep`` and ``clock`` are injectable, so tests never wait.
- **Errors:** 401 → :class:`AuthenticationError`, 403 → :class:`PermissionDeniedError`, 404 →
  :class:`NotFoundError`, all with the server's own message; the token is never part of a message or a log.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from okrflow.domain.errors import (
    AuthenticationError,
    NotFoundError,
    OkrflowError,
    PermissionDeniedError,
    UnavailableError,
)

log = logging.getLogger(__name__)

SECONDARY_LIMIT_WAIT = 60.0
_LINK_RE = re.compile(r"<([^>]*)>\s*;\s*([^,]*)")


def parse_link_header(value: str | None) -> dict[str, str]:
    """``<https://…?page=2>; rel="next", <…>; rel="last"`` → ``{"next": "https://…?page=2", "last": …}``."""
    out: dict[str, str] = {}
    for url, params in _LINK_RE.findall(value or ""):
        m = re.search(r'rel\s*=\s*"?([^";]+)"?', params)
        if m:
            for rel in m.group(1).split():
                out.setdefault(rel, url)
    return out


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp with a zone (``2011-04-22T13:33:48Z``, ``…48.077+02:00``) → aware UTC.

    Raises :class:`ValueError` for anything else: a time without a zone would corrupt flow times."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"not a timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


class EtagCache:
    """URL → ``{"etag": …, "next": …, "data": …}`` of the last 200 answer, JSON-able so that a source can keep
    it in its settings. ``data`` is a small summary a caller chose to remember (never a whole page).

    :meth:`used` returns only the entries read or written during this run, so URLs that are no longer asked
    (an old ``since`` window) drop out instead of growing the cache forever."""

    def __init__(self, entries: Mapping[str, Any] | None = None) -> None:
        self._old = {k: dict(v) for k, v in (entries or {}).items() if isinstance(v, Mapping) and v.get("etag")}
        self._new: dict[str, dict[str, Any]] = {}

    def etag(self, url: str) -> str | None:
        entry = self._new.get(url) or self._old.get(url)
        return entry.get("etag") if entry else None

    def hit(self, url: str) -> dict[str, Any]:
        entry = self._new.get(url) or self._old.get(url) or {}
        self._new[url] = entry
        return entry

    def store(self, url: str, etag: str, next_url: str | None) -> None:
        self._new[url] = {"etag": etag, "next": next_url}

    def remember(self, url: str, data: Any) -> None:
        if url in self._new:
            self._new[url]["data"] = data

    def data(self, url: str) -> Any:
        entry = self._new.get(url) or self._old.get(url) or {}
        return entry.get("data")

    def used(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in sorted(self._new.items())}


@dataclass(frozen=True)
class Page:
    url: str
    data: Any  # decoded JSON; None when not modified
    next_url: str | None
    not_modified: bool = False
    headers: Mapping[str, str] | None = None


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class RestClient:
    """GET-only JSON client of one API (``name`` appears in messages: "GitHub", "GitLab")."""

    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        headers: Mapping[str, str],
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_attempts: int = 6,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        max_wait: float = 3700.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        etags: EtagCache | None = None,
        remaining_header: str = "x-ratelimit-remaining",
        reset_header: str = "x-ratelimit-reset",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.max_attempts = max(1, max_attempts)
        self.max_wait = max_wait
        self.etags = etags
        self.requests = 0
        self.not_modified = 0
        self.waited = 0.0
        self._sleep = sleep
        self._clock = clock
        self._remaining_header = remaining_header
        self._reset_header = reset_header
        self._resume_at: float | None = None
        self._backoff = wait_exponential_jitter(initial=backoff_initial, max=backoff_max)
        self._http = httpx.Client(transport=transport, timeout=timeout, headers=dict(headers), follow_redirects=True)

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:  # never the headers: they hold the token
        return f"{type(self).__name__}({self.base_url!r})"

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """Absolute URL of ``path`` with ``params`` (sorted, so equal requests have equal cache keys)."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            url += ("&" if "?" in url else "?") + urlencode(sorted(query.items()), doseq=True)
        return url

    # ------------------------------------------------------------------ one GET with retries

    def _pause(self, seconds: float) -> None:
        seconds = min(max(0.0, seconds), self.max_wait)
        if seconds > 0:
            self.waited += seconds
            self._sleep(seconds)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.wait is not None:
            return min(exc.wait, self.max_wait)
        return float(self._backoff(state))

    def _sleep_and_count(self, seconds: float) -> None:
        self.waited += seconds
        self._sleep(seconds)

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s: %s; retrying in %.1f s (attempt %d)", self.name, exc, wait, state.attempt_number)

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, conditional: bool = True) -> Page:
        """GET one page. ``conditional``: send ``If-None-Match`` when the cache knows the URL."""
        url = self.url(path, params)
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep_and_count,
            before_sleep=self._before_sleep,
            reraise=False,
        )
        try:
            return retrying(self._get_once, url, conditional)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            reason = last.reason if isinstance(last, _Retryable) else str(last)
            raise UnavailableError(
                f"{self.name} is unavailable: {reason} (gave up after {self.max_attempts} attempts)"
            ) from None

    def _limit_wait(self, response: httpx.Response) -> float | None:
        now = self._clock()
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        if retry_after is not None:
            return retry_after
        if response.headers.get(self._remaining_header) == "0":
            try:
                return max(0.0, float(response.headers.get(self._reset_header, "")) - now) + 1.0
            except ValueError:
                return SECONDARY_LIMIT_WAIT
        return None

    def _get_once(self, url: str, conditional: bool) -> Page:
        if self._resume_at is not None:
            wait, self._resume_at = self._resume_at - self._clock(), None
            log.info("%s: primary rate limit used up; waiting %.0f s for the reset", self.name, wait)
            self._pause(wait)
        headers = {}
        etag = self.etags.etag(url) if (conditional and self.etags is not None) else None
        if etag:
            headers["If-None-Match"] = etag
        self.requests += 1
        try:
            response = self._http.get(url, headers=headers)
        except httpx.TransportError as exc:
            raise _Retryable(f"{type(exc).__name__} on GET {_path(url)}") from None
        code = response.status_code
        message = server_message(response)
        if code == 429 or (code == 403 and self._is_rate_limited(response, message)):
            limit_wait = self._limit_wait(response)
            raise _Retryable(
                f"rate limited (HTTP {code}) on GET {_path(url)}: {message}",
                SECONDARY_LIMIT_WAIT if limit_wait is None else limit_wait,
            )
        if code >= 500:
            raise _Retryable(f"HTTP {code} on GET {_path(url)}: {message}", self._limit_wait(response))
        if code == 401:
            raise AuthenticationError(f"{self.name} refused the token (HTTP 401): {message}")
        if code == 403:
            raise PermissionDeniedError(f"{self.name} denied access (HTTP 403) on GET {_path(url)}: {message}")
        if code == 404:
            raise NotFoundError(f"{self.name}: GET {_path(url)} not found (HTTP 404): {message}")
        self._note_limit(response)
        if code == 304 and etag and self.etags is not None:
            self.not_modified += 1
            entry = self.etags.hit(url)
            return Page(url, None, entry.get("next"), not_modified=True, headers=response.headers)
        if code >= 300:
            raise OkrflowError(f"{self.name} answered HTTP {code} on GET {_path(url)}: {message}")
        try:
            data = response.json()
        except ValueError:
            raise UnavailableError(f"{self.name} answered GET {_path(url)} with a body that is not JSON") from None
        next_url = self._next(response, url)
        new_etag = response.headers.get("etag")
        if conditional and new_etag and self.etags is not None:
            self.etags.store(url, new_etag, next_url)
        return Page(url, data, next_url, headers=response.headers)

    def _is_rate_limited(self, response: httpx.Response, message: str) -> bool:
        return (
            response.headers.get(self._remaining_header) == "0"
            or "retry-after" in response.headers
            or "rate limit" in message.lower()
        )

    def _note_limit(self, response: httpx.Response) -> None:
        if response.headers.get(self._remaining_header) == "0":
            try:
                self._resume_at = float(response.headers.get(self._reset_header, "")) + 1.0
            except ValueError:
                self._resume_at = None

    def _next(self, response: httpx.Response, url: str) -> str | None:
        links = parse_link_header(response.headers.get("link"))
        if "next" in links:
            return urljoin(url, links["next"])
        next_page = (response.headers.get("x-next-page") or "").strip()
        if next_page:
            base, _, query = url.partition("?")
            pairs = [p for p in query.split("&") if p and not p.startswith("page=")]
            return base + "?" + "&".join([*pairs, f"page={next_page}"])
        return None

    def pages(self, path: str, params: Mapping[str, Any] | None = None, *, conditional: bool = True) -> Iterator[Page]:
        """Every page of a list, following the next links; a URL seen twice stops the walk (a looping server)."""
        url: str | None = self.url(path, params)
        seen: set[str] = set()
        while url is not None:
            if url in seen:
                raise UnavailableError(f"{self.name} sent the same next page twice ({_path(url)}); stopping")
            seen.add(url)
            page = self.get(url, conditional=conditional)
            yield page
            url = page.next_url

    def all(self, path: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every element of a list, unconditionally (for sub-resources read together with a changed parent)."""
        out: list[Any] = []
        for page in self.pages(path, params, conditional=False):
            if not isinstance(page.data, list):
                raise UnavailableError(f"{self.name}: GET {_path(page.url)} did not answer with a list")
            out.extend(page.data)
        return out


def _path(url: str) -> str:
    """The URL without scheme and host (messages stay short and never show credentials in a URL)."""
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else url


def server_message(response: httpx.Response, limit: int = 300) -> str:
    """The API's own words (GitHub ``message``, GitLab ``message`` / ``error``), else the status line."""
    text = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        msg = body.get("message") or body.get("error") or body.get("error_description")
        if isinstance(msg, Mapping):
            msg = "; ".join(f"{k}: {v}" for k, v in msg.items())
        text = str(msg or "")
    if not text:
        text = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return text[:limit]
