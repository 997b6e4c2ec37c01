"""Testing the connection of a Jira, GitHub or GitLab source: the connector's own client (same base URL, auth,
headers and tenacity retries as a sync) makes a few cheap requests and the answer is one readable line.

- **Jira:** ``GET /rest/api/{3|2}/myself`` (who the credentials are), ``GET …/serverInfo`` (version and
  deployment type; optional), then the source's JQL as a sync with no cursor would send it, asking for one issue
  (Cloud ``/rest/api/3/search/jql``, Server/Data Center ``/rest/api/2/search``): a JQL Jira refuses comes back
  with Jira's own words.
- **GitHub:** ``GET /repos/{owner}/{repo}`` (full name, visibility, default branch) and the rate limit left.
- **GitLab:** ``GET /api/v4/projects/{id or url-encoded path}`` (path with namespace, visibility).

A check reads the source in a read transaction, then talks HTTP outside of it, and writes nothing: no sync run,
no audit entry. Anything that goes wrong once the source is read (bad settings, credentials that cannot be
decrypted, 401/403/404, a host that cannot be reached, 429/5xx after the retries) is a :class:`ConnectionCheck`
with ``ok=False`` — never an exception. The check stays short: a 10 s timeout, two attempts, and no wait longer
than two seconds, whatever ``Retry-After`` asks. Credentials never appear in a message or in the details.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from okrflow.connectors import github, gitlab
from okrflow.connectors.github.client import token_of
from okrflow.connectors.gitlab.client import auth_headers as gitlab_auth
from okrflow.connectors.gitlab.client import project_path
from okrflow.connectors.jira import connector as jira
from okrflow.connectors.jira.client import API_VERSIONS, JiraClient
from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    OkrflowError,
    PermissionDeniedError,
    UnavailableError,
)
from okrflow.services.sources import decrypt_credentials, get_source
from okrflow.store.db import Database

CHECK_TIMEOUT = 10.0  # seconds per request
CHECK_ATTEMPTS = 2  # one retry on 429, 5xx and connection errors
CHECK_MAX_WAIT = 2.0  # seconds: no wait between attempts is longer, whatever Retry-After says
SERVER_INFO_FIELDS = (("version", "version"), ("deploymentType", "deployment_type"), ("serverTitle", "server_title"))
FILES_MESSAGE = "a files source is fed by upload or `okrflow import`; there is nothing to connect to"
_TRANSPORT_ERROR = re.compile(r"\b([A-Z][A-Za-z]*(?:Error|Timeout|Protocol)) on GET\b")
_SERVER_WORDS = re.compile(r"\(HTTP \d{3}\)[^:]*: (.*)$", re.DOTALL)
_TRANSPORT_HINTS = {
    "ConnectError": "the connection was refused or the host name is unknown",
    "ConnectTimeout": "the connection timed out",
    "ReadTimeout": f"no answer within {CHECK_TIMEOUT:.0f} s",
    "WriteTimeout": "the request could not be sent in time",
    "PoolTimeout": "no connection became free in time",
    "ProxyError": "the proxy refused the connection",
    "RemoteProtocolError": "the server closed the connection or broke the HTTP protocol",
}


@dataclass(frozen=True)
class ConnectionCheck:
    """The answer of a connection check: ``ok``, the source's ``kind``, one readable line, and what was learnt
    (user, server version, repository, rate limit …; never a credential), with the time it took."""

    ok: bool
    kind: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    duration_ms: int = 0


class _Failed(Exception):
    """A check step failed with a message written for the person who has to act on it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class _Target:
    name: str
    kind: str
    base_url: str
    settings: dict[str, Any]
    credentials: str | None  # still encrypted


Sleep = Callable[[float], None]


def test_connection(
    db: Database,
    actor: Actor,
    source_id: int,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep = time.sleep,
) -> ConnectionCheck:
    """Check that source ``source_id`` can be reached and read with its settings and credentials (see the module
    docstring). Needs the same role as a sync (contributor for the whole workspace). A files source is an
    :class:`InvalidInputError`. ``transport`` and ``sleep`` (the retry wait, capped at ``CHECK_MAX_WAIT``) are
    for tests."""
    started = time.monotonic()
    with db.read() as s:
        src = get_source(s, actor, source_id)
        if not actor.can(Permission.WRITE, src.workspace_id):
            raise PermissionDeniedError(
                "testing a source's connection needs the contributor role for the whole workspace"
            )
        if src.kind == "files":
            raise InvalidInputError(FILES_MESSAGE, field="kind")
        target = _Target(src.name, src.kind, src.base_url or "", dict(src.settings or {}), src.credentials)

    def capped(seconds: float) -> None:
        sleep(min(max(0.0, seconds), CHECK_MAX_WAIT))

    details: dict[str, Any] = {}
    secrets: list[str] = []
    try:
        credentials = decrypt_credentials(target.credentials)
        secrets = [v for v in credentials.values() if isinstance(v, str) and len(v) >= 4]
        if target.kind == "jira":
            message = _check_jira(target, credentials, details, transport, capped)
        elif target.kind == "github":
            message = _check_github(target, credentials, details, transport, capped)
        elif target.kind == "gitlab":
            message = _check_gitlab(target, credentials, details, transport, capped)
        else:
            raise _Failed(f"source {target.name!r} is of kind {target.kind!r}, which has no connector")
        ok = True
    except _Failed as exc:
        ok, message = False, exc.message
    except OkrflowError as exc:  # bad settings, undecryptable credentials, an unexpected HTTP status …
        ok, message = False, exc.message
    finally:
        credentials = {}
    duration_ms = round((time.monotonic() - started) * 1000)
    return ConnectionCheck(
        ok=ok,
        kind=target.kind,
        message=_scrub(" ".join(message.split()), secrets),
        details={k: _scrub(v, secrets) if isinstance(v, str) else v for k, v in details.items()},
        duration_ms=duration_ms,
    )


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported by one


# ------------------------------------------------------------------ helpers


def _scrub(text: str, secrets: list[str]) -> str:
    """Defence in depth: a credential value never leaves a check, even if a server echoed it."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _origin(url: str, *, example: str) -> httpx.URL:
    """The base URL, checked: an http(s) URL with a host (the message never repeats the URL: it may hold a
    user name and password)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise _Failed(f"the source's base URL is not an http(s) URL with a host name, e.g. {example}")
    return parsed


def _host(url: httpx.URL) -> str:
    return url.host + (f":{url.port}" if url.port else "")


def _safe_url(url: httpx.URL) -> str:
    """Scheme, host, port and path: without a user name or password."""
    return str(url.copy_with(username=None, password=None, query=None, fragment=None)).rstrip("/")


def _unavailable(service: str, host: str, exc: UnavailableError) -> _Failed:
    """A connection error or a timeout names the host; a 429 or 5xx after the retries says what came back."""
    m = _TRANSPORT_ERROR.search(exc.message)
    attempts = re.search(r"gave up after \d+ attempts?", exc.message)
    tail = f" ({attempts.group(0)})" if attempts else ""
    if m:
        hint = _TRANSPORT_HINTS.get(m.group(1), "the connection failed")
        return _Failed(
            f"cannot connect to {host}: {hint} ({m.group(1)}){tail}; check the base URL, DNS, proxy and firewall"
        )
    reason = exc.message.partition("is unavailable: ")[2] or exc.message
    return _Failed(f"{service} at {host} is unavailable: {reason}")


def _server_words(message: str) -> str:
    """What the server said, from a client error message: ``… (HTTP 400): <words>`` (Jira) or
    ``… (HTTP 403) on GET /repos/o/r: <words>`` (GitHub, GitLab)."""
    m = _SERVER_WORDS.search(message)
    return m.group(1) if m else message


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


# ------------------------------------------------------------------ Jira


def _check_jira(
    target: _Target, credentials: Mapping[str, str], details: dict[str, Any], transport: Any, sleep: Sleep
) -> str:
    settings = jira.JiraSettings.from_settings(target.settings)
    if not target.base_url:
        raise _Failed("the Jira source has no base URL, e.g. https://example.atlassian.net")
    url = _origin(target.base_url, example="https://example.atlassian.net")
    host, version = _host(url), API_VERSIONS[settings.api]
    details["api"] = settings.api
    with JiraClient(
        target.base_url,
        credentials,
        api=settings.api,
        transport=transport,
        timeout=CHECK_TIMEOUT,
        max_attempts=CHECK_ATTEMPTS,
        backoff_max=CHECK_MAX_WAIT,
        page_size=1,
        sleep=sleep,
    ) as client:
        # 1. who are we (GET /myself: the same call a sync makes for the user's time zone)
        try:
            me = client.server_info()
        except AuthenticationError:
            what = (
                "the e-mail and API token (Jira Cloud)"
                if settings.api == "cloud"
                else "the personal access token (or e-mail and password) of Jira Server/Data Center"
            )
            raise _Failed(f"Jira refused the credentials (HTTP 401): check {what}") from None
        except PermissionDeniedError as exc:
            raise _Failed(
                f"Jira denied access (HTTP 403): {_server_words(exc.message)}; check that the account may use Jira "
                "(after failed logins Jira may ask for a CAPTCHA in the browser first)"
            ) from None
        except NotFoundError:
            other = "server" if settings.api == "cloud" else "cloud"
            raise _Failed(
                f"Jira REST API v{version} not found at {_safe_url(url)} (HTTP 404): check that the base URL is the "
                f"site's root and settings.api (now {settings.api}; {other} is for "
                + ("Jira Server/Data Center)" if other == "server" else "Jira Cloud)")
            ) from None
        except UnavailableError as exc:
            raise _unavailable("Jira", host, exc) from None
        except (TypeError, ValueError):
            raise _Failed(f"{host} answered GET /rest/api/{version}/myself, but not like Jira does") from None
        user = _text(me.get("displayName")) or _text(me.get("name")) or "an anonymous user"
        details["user"] = user
        account = _text(me.get("accountId")) or _text(me.get("key")) or _text(me.get("name"))
        if account:
            details["account"] = account
        if _text(me.get("timeZone")):
            details["time_zone"] = me["timeZone"]

        # 2. what is it (GET /serverInfo; a check does not fail when only this is refused)
        deployment = ""
        try:
            info = client.get(f"/rest/api/{version}/serverInfo")
        except OkrflowError:
            info = None
        if isinstance(info, Mapping):
            deployment = str(info.get("deploymentType") or "")
            for key, name in SERVER_INFO_FIELDS:
                if _text(info.get(key)):
                    details[name] = info[key]
        hint = ""
        if deployment == "Cloud" and settings.api == "server":
            hint = "; this is Jira Cloud: set settings.api to cloud (REST v3)"
            details["warning"] = "this is Jira Cloud but settings.api is server; set it to cloud"

        # 3. does the JQL work (the full-read JQL of a sync, one issue)
        jql = jira.build_jql(settings.jql, None, overlap_minutes=settings.overlap_minutes, tz=ZoneInfo("UTC"))
        details["jql"] = jql
        path = "/rest/api/3/search/jql" if settings.api == "cloud" else "/rest/api/2/search"
        params: dict[str, Any] = {"jql": jql, "maxResults": 1, "fields": "key"}
        try:
            found = client.get(path, params)
        except InvalidInputError as exc:
            raise _Failed(
                f"Jira rejected the JQL {settings.jql or jql!r}: {_server_words(exc.message)}{hint}"
            ) from None
        except UnavailableError as exc:
            raise _unavailable("Jira", host, exc) from None
        except OkrflowError as exc:
            raise _Failed(f"the JQL search failed: {exc.message}{hint}") from None
        if not isinstance(found, Mapping):
            raise _Failed(f"{host} answered GET {path}, but not with a search result")
        issues = [i for i in found.get("issues") or () if isinstance(i, Mapping)]
        sample = _text(issues[0].get("key")) if issues else None
        if sample:
            details["sample_issue"] = sample
        total = found.get("total") if settings.api == "server" else None
        if isinstance(total, int):
            details["matching_issues"] = total
    label = " ".join(p for p in ("Jira", {"DataCenter": "Data Center"}.get(deployment, deployment)) if p)
    version_text = f" {details['version']}" if details.get("version") else ""
    if isinstance(total, int):
        matches = f"the JQL matches {total:,} issue{'' if total == 1 else 's'}"
    elif sample:
        matches = f"the JQL matches issues (e.g. {sample})"
    else:
        matches = "the JQL is valid but matches no issue"
    return f"Connected to {label}{version_text} at {host} as {user}; {matches}{hint}"


# ------------------------------------------------------------------ GitHub and GitLab


def _check_github(
    target: _Target, credentials: Mapping[str, str], details: dict[str, Any], transport: Any, sleep: Sleep
) -> str:
    settings = github.settings_from(target.settings)
    base = target.base_url or github.DEFAULT_API_URL
    url = _origin(base, example=github.DEFAULT_API_URL)
    host, repo = _host(url), settings.project
    authenticated = bool(token_of(credentials))
    details["authenticated"] = authenticated
    client = github.GitHubClient(
        base, credentials, transport=transport, sleep=sleep, max_attempts=CHECK_ATTEMPTS, timeout=CHECK_TIMEOUT
    )
    with client:
        try:
            page = client.get(f"/repos/{repo}", conditional=False)
        except AuthenticationError:
            raise _Failed(
                "GitHub refused the token (HTTP 401): check that it is valid, not expired and not revoked"
            ) from None
        except PermissionDeniedError as exc:
            raise _Failed(
                f"GitHub denied access to {repo} (HTTP 403): {_server_words(exc.message)}; the token needs read "
                "access to the repository (fine-grained: Metadata, Issues, Pull requests and Deployments: read; "
                "an organisation with SSO may need the token authorised)"
            ) from None
        except NotFoundError:
            why = (
                "not visible to this token"
                if authenticated
                else "private (store a token: without one only public repositories can be read)"
            )
            hint = (
                "; the base URL of GitHub's API is https://api.github.com (GitHub Enterprise: https://HOST/api/v3)"
                if url.host in ("github.com", "www.github.com")
                else ""
            )
            raise _Failed(f"GitHub repository {repo} not found, or {why} (HTTP 404){hint}") from None
        except UnavailableError as exc:
            raise _unavailable("GitHub", host, exc) from None
    data = page.data if isinstance(page.data, Mapping) else None
    if data is None or not data.get("full_name"):
        raise _Failed(f"{host} answered GET /repos/{repo}, but not like GitHub's API does")
    details["repository"] = data["full_name"]
    details["private"] = bool(data.get("private"))
    for key in ("visibility", "default_branch", "html_url"):
        if _text(data.get(key)):
            details[key] = data[key]
    headers = page.headers or {}
    remaining, limit = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-limit")
    rate = ""
    if remaining is not None and remaining.strip().isdigit():
        details["rate_limit_remaining"] = int(remaining)
        if limit is not None and limit.strip().isdigit():
            details["rate_limit"] = int(limit)
            rate = f"; {int(remaining):,} of {int(limit):,} API requests left this hour"
        else:
            rate = f"; {int(remaining):,} API requests left"
    visibility = details.get("visibility") or ("private" if details["private"] else "public")
    branch = f", default branch {details['default_branch']}" if details.get("default_branch") else ""
    who = "" if authenticated else " (anonymously: public repositories only)"
    return f"Connected to GitHub{who}: repository {data['full_name']} ({visibility}{branch}) is readable{rate}"


def _check_gitlab(
    target: _Target, credentials: Mapping[str, str], details: dict[str, Any], transport: Any, sleep: Sleep
) -> str:
    settings = gitlab.settings_from(target.settings)
    base = target.base_url or gitlab.DEFAULT_URL
    url = _origin(base, example=gitlab.DEFAULT_URL)
    host, project = _host(url), settings.project
    authenticated = bool(gitlab_auth(credentials))
    details["authenticated"] = authenticated
    client = gitlab.GitLabClient(
        base, credentials, transport=transport, sleep=sleep, max_attempts=CHECK_ATTEMPTS, timeout=CHECK_TIMEOUT
    )
    with client:
        try:
            page = client.get(project_path(project), conditional=False)
        except AuthenticationError:
            raise _Failed(
                "GitLab refused the token (HTTP 401): check that it is valid, not expired or revoked, and has the "
                "read_api scope"
            ) from None
        except PermissionDeniedError as exc:
            raise _Failed(
                f"GitLab denied access to {project} (HTTP 403): {_server_words(exc.message)}; the token needs the "
                "read_api scope and at least the Reporter role in the project"
            ) from None
        except NotFoundError:
            why = "not visible to this token" if authenticated else "private (store a token to read it)"
            raise _Failed(f"GitLab project {project} not found, or {why} (HTTP 404)") from None
        except UnavailableError as exc:
            raise _unavailable("GitLab", host, exc) from None
    data = page.data if isinstance(page.data, Mapping) else None
    if data is None or not data.get("path_with_namespace"):
        raise _Failed(f"{host} answered GET /api/v4{project_path(project)}, but not like GitLab's API does")
    details["project"] = data["path_with_namespace"]
    if data.get("id") is not None:
        details["project_id"] = data["id"]
    for key in ("visibility", "default_branch", "web_url"):
        if _text(data.get(key)):
            details[key] = data[key]
    headers = page.headers or {}
    remaining = headers.get("ratelimit-remaining")
    rate = ""
    if remaining is not None and remaining.strip().isdigit():
        details["rate_limit_remaining"] = int(remaining)
        rate = f"; {int(remaining):,} API requests left"
    parts = [str(details["visibility"])] if details.get("visibility") else []
    if details.get("default_branch"):
        parts.append(f"default branch {details['default_branch']}")
    extra = ", ".join(parts)
    who = "" if authenticated else " (anonymously: public projects only)"
    return (
        f"Connected to GitLab at {host}{who}: project {data['path_with_namespace']}"
        + (f" ({extra})" if extra else "")
        + f" is readable{rate}"
    )
