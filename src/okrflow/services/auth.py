"""Passwords, login sessions with CSRF tokens, login throttling, API tokens, and building the Actor."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor, Grant, Role, Scope, parse_scopes
from okrflow.domain.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ThrottledError,
)
from okrflow.services import audit
from okrflow.store.db import Database
from okrflow.store.models import ApiToken, LoginSession, LoginThrottle, Membership, Team, User

_hasher = PasswordHasher()
# A hash of a random password: verifying against it costs the same time as a real check, so a wrong
# username cannot be told from a wrong password by timing.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD_LENGTH = 8
SESSION_LIFETIME = timedelta(hours=12)
TOKEN_PREFIX = "okf"  # noqa: S105 - a label, not a secret


@dataclass(frozen=True)
class ThrottlePolicy:
    """Lock a username or an address after ``max_failures`` failed logins within ``window``."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


DEFAULT_THROTTLE = ThrottlePolicy()


def now_utc() -> datetime:
    return datetime.now(UTC)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- passwords


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters", field="password")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------- throttling


def _throttle_keys(username: str, client_ip: str | None) -> list[str]:
    keys = [f"user:{username.strip().lower()}"]
    if client_ip:
        keys.append(f"ip:{client_ip}")
    return keys


def _check_not_locked(session: Session, keys: list[str], now: datetime) -> None:
    for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))):
        if row.locked_until and row.locked_until > now:
            wait = int((row.locked_until - now).total_seconds()) + 1
            minutes = max(1, round(wait / 60))
            raise ThrottledError(
                f"too many failed logins; try again in about {minutes} minute{'s' if minutes != 1 else ''}",
                retry_after_seconds=wait,
            )


def _record_failure(session: Session, keys: list[str], now: datetime, policy: ThrottlePolicy) -> None:
    for key in keys:
        row = session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_start=now)
            session.add(row)
        if now - row.window_start > policy.window:
            row.failures, row.window_start, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= policy.max_failures:
            row.locked_until = now + policy.lockout
    session.flush()


def login(
    session: Session,
    username: str,
    password: str,
    *,
    client_ip: str | None = None,
    now: datetime | None = None,
    policy: ThrottlePolicy = DEFAULT_THROTTLE,
) -> tuple[User, LoginSession, str]:
    """Check the password and open a browser session. Returns (user, session row, cookie secret).

    Throttled per username and per address: after ``policy.max_failures`` failures in the window further
    attempts are refused (even with the right password) until the lockout ends. A failure is written even
    though the login raises, so callers must commit the failure: use :func:`login_attempt`.
    """
    now = now or now_utc()
    keys = _throttle_keys(username, client_ip)
    _check_not_locked(session, keys, now)
    user = session.scalar(select(User).where(User.username == username.strip()))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        _record_failure(session, keys, now, policy)
        raise AuthenticationError("wrong username or password")
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    secret = secrets.token_urlsafe(32)
    row = LoginSession(
        token_hash=sha256_hex(secret),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    session.flush()
    audit.record(session, Actor(label=f"user:{user.username}", user_id=user.id), "login", "user", user.id)
    return user, row, secret


def login_attempt(
    db: Database,
    username: str,
    password: str,
    *,
    client_ip: str | None = None,
    now: datetime | None = None,
    policy: ThrottlePolicy = DEFAULT_THROTTLE,
) -> tuple[User, LoginSession, str]:
    """:func:`login` in its own transaction that keeps the failure count even when the login fails."""
    failure: AuthenticationError | None = None
    with db.write() as session:
        try:
            return login(session, username, password, client_ip=client_ip, now=now, policy=policy)
        except AuthenticationError as exc:
            failure = exc  # leave the block normally so the failure count commits
    raise failure


def session_for_cookie(session: Session, secret: str | None, now: datetime | None = None) -> LoginSession | None:
    if not secret:
        return None
    row = session.scalar(select(LoginSession).where(LoginSession.token_hash == sha256_hex(secret)))
    if row is None or row.expires_at <= (now or now_utc()):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return row


def logout(session: Session, secret: str | None) -> None:
    if secret:
        session.execute(delete(LoginSession).where(LoginSession.token_hash == sha256_hex(secret)))


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


# ---------------------------------------------------------------- actor


def actor_for_user(session: Session, user: User, scopes: frozenset[Scope] | None = None) -> Actor:
    grants = tuple(
        Grant(workspace_id=m.workspace_id, role=Role(m.role), team_id=m.team_id)
        for m in session.scalars(select(Membership).where(Membership.user_id == user.id))
    )
    ws_ids = {g.workspace_id for g in grants}
    parents: dict[int, int | None] = {}
    if ws_ids:
        for tid, pid in session.execute(select(Team.id, Team.parent_id).where(Team.workspace_id.in_(ws_ids))):
            parents[tid] = pid
    return Actor(
        label=f"user:{user.username}",
        user_id=user.id,
        is_superuser=user.is_superuser,
        grants=grants,
        scopes=scopes,
        team_parents=parents,
    )


# ---------------------------------------------------------------- API tokens


def _can_manage_tokens_of(actor: Actor, user_id: int) -> bool:
    return actor.is_system or actor.is_superuser or actor.user_id == user_id


def create_token(
    session: Session,
    actor: Actor,
    user_id: int,
    name: str,
    scopes: str | list[str],
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for a user. Returns the row and the token text, which is never shown again.

    A token cannot carry more than its creator holds: a token made with a token has at most its scopes.
    """
    now = now or now_utc()
    if not _can_manage_tokens_of(actor, user_id):
        raise PermissionDeniedError("you can create tokens only for your own account")
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} does not exist")
    try:
        wanted = parse_scopes(scopes)
    except ValueError as exc:
        raise InvalidInputError(str(exc), field="scopes") from None
    if actor.scopes is not None:
        # A leaked token must not be able to mint tokens that outlive its revocation.
        if Scope.ADMIN not in actor.scopes:
            raise PermissionDeniedError("creating tokens with a token needs the admin scope; log in or use the CLI")
        if not wanted <= actor.scopes:
            raise PermissionDeniedError("a token cannot grant scopes that the token used to create it lacks")
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError("a token needs a name of 1 to 200 characters", field="name")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= now:
            raise InvalidInputError("the expiry date must lie in the future", field="expires_at")
    prefix = secrets.token_hex(6)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        user_id=user_id,
        name=name,
        prefix=prefix,
        token_hash=sha256_hex(secret),
        scopes=",".join(sorted(s.value for s in wanted)),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    audit.record(session, actor, "create", "api_token", token.id, after=audit.snapshot(token))
    return token, secret


_TOKEN_RE = re.compile(rf"^{TOKEN_PREFIX}_([0-9a-f]{{12}})_[A-Za-z0-9_-]{{20,}}$")


def authenticate_token(session: Session, secret: str, now: datetime | None = None) -> tuple[User, ApiToken]:
    """The user and token behind ``Authorization: Bearer <secret>``, or AuthenticationError."""
    now = now or now_utc()
    m = _TOKEN_RE.match(secret.strip())
    if not m:
        raise AuthenticationError("the bearer token is malformed")
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == m.group(1)))
    if token is None or not hmac.compare_digest(token.token_hash, sha256_hex(secret.strip())):
        raise AuthenticationError("the bearer token is not valid")
    if token.revoked_at is not None:
        raise AuthenticationError("the bearer token was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise AuthenticationError("the bearer token has expired")
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("the account of this token is disabled")
    return user, token


def touch_token(session: Session, token_id: int, now: datetime | None = None) -> None:
    """Remember when a token was last used (at most once a minute, to keep reads cheap)."""
    now = now or now_utc()
    token = session.get(ApiToken, token_id)
    if token is not None and (token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1)):
        token.last_used_at = now


def token_scopes(token: ApiToken) -> frozenset[Scope]:
    return parse_scopes(token.scopes)


def list_tokens(session: Session, actor: Actor, user_id: int) -> list[ApiToken]:
    if not _can_manage_tokens_of(actor, user_id):
        raise PermissionDeniedError("you can list only your own tokens")
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


def get_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or not _can_manage_tokens_of(actor, token.user_id):
        raise NotFoundError(f"token {token_id} does not exist")
    return token


def revoke_token(session: Session, actor: Actor, token_id: int, now: datetime | None = None) -> ApiToken:
    token = get_token(session, actor, token_id)
    if token.revoked_at is None:
        before = audit.snapshot(token)
        token.revoked_at = now or now_utc()
        session.flush()
        audit.record(session, actor, "revoke", "api_token", token.id, before=before, after=audit.snapshot(token))
    return token


def token_status(token: ApiToken, now: datetime | None = None) -> str:
    now = now or now_utc()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"
