"""The one error family of okrflow.

Every error a user can cause or act on is an :class:`OkrflowError`. Each subclass maps to exactly one
HTTP status (the API answers ``application/problem+json`` with the message) and one CLI exit code
(the CLI prints the message on one line). The message is written for the person who has to act on it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OkrflowError(Exception):
    """Base of every error okrflow raises on purpose."""

    http_status: ClassVar[int] = 400
    exit_code: ClassVar[int] = 1
    title: ClassVar[str] = "Bad request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class InvalidInputError(OkrflowError):
    """The input breaks a rule (a bad value, a cycle, a wrong reference)."""

    http_status = 422
    exit_code = 2
    title = "Invalid input"


class AuthenticationError(OkrflowError):
    """No valid credentials: missing, wrong, expired or revoked."""

    http_status = 401
    exit_code = 3
    title = "Not authenticated"


class PermissionDeniedError(OkrflowError):
    """Valid credentials, but the role or the token scope does not allow this action."""

    http_status = 403
    exit_code = 4
    title = "Permission denied"


class NotFoundError(OkrflowError):
    """The addressed thing does not exist (or is invisible to the caller)."""

    http_status = 404
    exit_code = 5
    title = "Not found"


class ConflictError(OkrflowError):
    """The request clashes with existing data (a duplicate key, a non-empty database)."""

    http_status = 409
    exit_code = 6
    title = "Conflict"


class StaleVersionError(OkrflowError):
    """Optimistic locking: the caller edited an old version of the row."""

    http_status = 412
    exit_code = 7
    title = "Precondition failed"


class ThrottledError(OkrflowError):
    """Too many attempts in a short time (login throttling)."""

    http_status = 429
    exit_code = 8
    title = "Too many requests"

    def __init__(self, message: str, retry_after_seconds: int, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after_seconds = retry_after_seconds


class IntegrityViolationError(OkrflowError):
    """Stored data fails a check (a tampered audit chain, a broken backup file)."""

    http_status = 409
    exit_code = 9
    title = "Integrity check failed"


class ConfigurationError(OkrflowError):
    """The configuration file or the environment is wrong."""

    http_status = 422
    exit_code = 10
    title = "Invalid configuration"


class UnavailableError(OkrflowError):
    """A dependency (the database) cannot be reached."""

    http_status = 503
    exit_code = 11
    title = "Service unavailable"


ALL_ERRORS: tuple[type[OkrflowError], ...] = (
    OkrflowError,
    InvalidInputError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    ConflictError,
    StaleVersionError,
    ThrottledError,
    IntegrityViolationError,
    ConfigurationError,
    UnavailableError,
)
