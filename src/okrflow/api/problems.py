"""Errors as RFC 9457 ``application/problem+json``. Nothing leaks a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from okrflow.domain.errors import InvalidInputError, OkrflowError, ThrottledError

log = logging.getLogger("okrflow.api")
PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, request: Request | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def install(app: FastAPI) -> None:
    @app.exception_handler(OkrflowError)
    async def _okrflow_error(request: Request, exc: OkrflowError) -> JSONResponse:
        details = dict(exc.details)
        if isinstance(exc, InvalidInputError) and isinstance(details.get("field"), str) and "errors" not in details:
            # The same shape as a schema error: one entry per bad field.
            details["errors"] = [{"field": details["field"], "message": exc.message, "type": "invalid"}]
        resp = problem(exc.http_status, exc.title, exc.message, request, **details)
        if isinstance(exc, ThrottledError):
            resp.headers["Retry-After"] = str(exc.retry_after_seconds)
        if exc.http_status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="okrflow"'
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_path(e.get("loc", ())), "message": e.get("msg", "invalid"), "type": e.get("type")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "message": "invalid input"}
        detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return problem(422, "Invalid input", detail, request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Not authenticated", 403: "Permission denied"}
        resp = problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), request)
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "an unexpected error occurred; it has been logged", request)
