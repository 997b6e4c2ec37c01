"""The ASGI application: the API under ``/api/v1``, the web UI at ``/``, ``/healthz``, static assets."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

import okrflow
from okrflow.api import problems
from okrflow.domain.errors import OkrflowError
from okrflow.store import migrate
from okrflow.store.db import Database

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def create_api(db: Database) -> FastAPI:
    from okrflow.api.routers import ROUTERS

    api = FastAPI(
        title="okrflow API",
        version=okrflow.__version__,
        description="Objectives, key results, KPIs, work, flow, pilots and decisions. "
        "Authenticate with `Authorization: Bearer <token>`; errors are RFC 9457 problem details.",
        openapi_url="/openapi.json",
        docs_url=None,  # Swagger UI loads from a CDN; okrflow is offline-first. The schema is at /openapi.json.
        redoc_url=None,
    )
    api.state.db = db
    problems.install(api)
    # The routers' routes, built once at import, are shared by every app (including a router would build its
    # routes again for each app). They hold no per-app state: a request finds its database on ``request.app``.
    for router in ROUTERS:
        api.router.routes.extend(router.routes)
    return api


def create_app(db: Database | None = None, *, secure_cookies: bool = False) -> FastAPI:
    """Build the whole application on ``db`` (default: the configured database URL)."""
    db = db or Database()
    app = FastAPI(title="okrflow", version=okrflow.__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.db = db
    app.state.secure_cookies = secure_cookies
    app.add_middleware(SecurityHeaders)
    problems.install(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            db.ping()
            schema = migrate.current_revision(db)
        except Exception as exc:  # the health check reports, never raises
            reason = exc.message if isinstance(exc, OkrflowError) else type(exc).__name__
            return JSONResponse({"status": "error", "database": "unreachable", "detail": reason}, status_code=503)
        ok = schema == migrate.head_revision()
        body = {
            "status": "ok" if ok else "error",
            "database": db.backend,
            "schema": schema,
            "version": okrflow.__version__,
        }
        if not ok:
            body["detail"] = "the database schema is not current; run `okrflow db upgrade`"
        return JSONResponse(body, status_code=200 if ok else 503)

    app.mount("/api/v1", create_api(db))
    app.mount("/static", StaticFiles(directory=str(files("okrflow.web") / "static")), name="static")

    from okrflow.web import routes as web_routes

    web_routes.install(app)
    return app
