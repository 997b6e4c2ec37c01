"""The server-rendered web UI: login, workspace home, teams, people, account (Jinja2 + HTMX).

Security model (see docs/web.md):
- a password login opens a :class:`~okrflow.store.models.LoginSession`; its secret travels in the
  ``okrflow_session`` cookie (HttpOnly, SameSite=Lax, Secure behind TLS);
- every POST carries the session's CSRF token, as the form field ``csrf_token`` or the ``X-CSRF-Token`` header
  (HTMX sends it from ``hx-headers`` on ``<body>``); the login form itself uses a double-submit token;
- no inline script or style anywhere, so the strict Content-Security-Policy of the app holds;
- errors are shown as pages or inline messages, never as a traceback.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Form, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

import okrflow
from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import NotFoundError, OkrflowError, PermissionDeniedError, ThrottledError
from okrflow.services import auth, tenancy
from okrflow.store.db import Database
from okrflow.store.models import LoginSession, Membership, Person, Team, User, Workspace

log = logging.getLogger("okrflow.web")

SESSION_COOKIE = "okrflow_session"
LOGIN_CSRF_COOKIE = "okrflow_login_csrf"
WORKSPACE_COOKIE = "okrflow_ws"
CSRF_FAILED = "the form expired or was not sent by okrflow; reload and try again"
TOKEN_LIFETIMES = {"30": 30, "90": 90, "365": 365, "never": None}

templates = Jinja2Templates(directory=str(files("okrflow.web") / "templates"))


def _fmt_dt(value: datetime | None, empty: str = "—") -> str:
    if value is None:
        return empty
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _fmt_date(value: datetime | None, empty: str = "—") -> str:
    return empty if value is None else value.strftime("%Y-%m-%d")


def _sentence(message: str) -> str:
    """Service messages are lower-case clauses; on a page they read as sentences."""
    message = str(message).strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


templates.env.filters["dt"] = _fmt_dt
templates.env.filters["sentence"] = _sentence
templates.env.filters["date"] = _fmt_date
templates.env.globals["version"] = okrflow.__version__


# ------------------------------------------------------------------ request context


class LoginRequired(Exception):
    """Raised by :func:`current` when there is no valid session; answered with a redirect to /login."""


class CsrfRejected(Exception):
    """A POST without the right CSRF token."""


@dataclass
class Ctx:
    """Who is looking, at which workspace, and what they may do there."""

    request: Request
    user: User
    login: LoginSession
    actor: Actor
    workspaces: list[Workspace]
    workspace: Workspace | None
    ws_from_query: bool = False
    extra_cookies: dict[str, str] = field(default_factory=dict)

    @property
    def csrf_token(self) -> str:
        return self.login.csrf_token

    @property
    def is_admin(self) -> bool:
        return self.workspace is not None and self.actor.can(Permission.ADMIN, self.workspace.id)

    @property
    def role(self) -> str:
        if self.workspace is None:
            return ""
        if self.actor.is_superuser and not self.actor.role_in(self.workspace.id):
            return "superuser"
        role = self.actor.role_in(self.workspace.id)
        if role is None:  # team-level grants only: name the highest of them
            ranks = [g.role for g in self.actor.grants if g.workspace_id == self.workspace.id]
            role = max(ranks, key=lambda r: r.rank) if ranks else None
            return f"{role.value} (team)" if role else "member"
        return role.value

    def writable_team_ids(self, teams: list[Team]) -> set[int]:
        if self.workspace is None:
            return set()
        return {t.id for t in teams if self.actor.can(Permission.WRITE, self.workspace.id, t.id)}


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def current(request: Request) -> Ctx:
    """The logged-in user and the workspace in view, or :class:`LoginRequired`."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise LoginRequired()
    with _db(request).read() as s:
        login = auth.session_for_cookie(s, secret)
        if login is None:
            raise LoginRequired()
        user = s.get(User, login.user_id)
        if user is None:
            raise LoginRequired()
        actor = auth.actor_for_user(s, user)
        workspaces = tenancy.list_workspaces(s, actor)
    wanted = request.query_params.get("ws")
    from_query = wanted is not None
    wanted = wanted or request.cookies.get(WORKSPACE_COOKIE)
    workspace = next((w for w in workspaces if w.slug == wanted), None)
    if workspace is None and workspaces:
        workspace = workspaces[0]
        from_query = False
    return Ctx(request, user, login, actor, workspaces, workspace, ws_from_query=from_query and workspace is not None)


def check_csrf(ctx: Ctx, form_token: str | None, header_token: str | None) -> None:
    if not auth.csrf_matches(ctx.csrf_token, form_token or header_token):
        raise CsrfRejected()


def safe_next(target: str | None) -> str:
    """Only a local path may be a redirect target (no scheme, no host, no ``//`` or backslash tricks)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    if parts.path.startswith(("/login", "/logout")):
        return "/"
    return target


def render(
    request: Request,
    template: str,
    ctx: Ctx | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("ctx", ctx)
    response = templates.TemplateResponse(request, template, context, status_code=status_code, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    if ctx is not None and ctx.ws_from_query and ctx.workspace is not None:
        response.set_cookie(
            WORKSPACE_COOKIE,
            ctx.workspace.slug,
            max_age=365 * 86400,
            path="/",
            httponly=True,
            samesite="lax",
            secure=_secure(request),
        )
    return response


def _secure(request: Request) -> bool:
    return bool(getattr(request.app.state, "secure_cookies", False))


def error_page(request: Request, status: int, title: str, message: str, ctx: Ctx | None = None) -> HTMLResponse:
    response = render(request, "error.html", ctx, status_code=status, status=status, title=title, message=message)
    if _is_htmx(request):
        # HTMX does not swap error responses; okrflow.js shows this header as a message instead.
        response.headers["X-Okrflow-Error"] = quote(message)
    return response


def _error_status(request: Request, status: int) -> int:
    """HTMX swaps only 2xx and 422 (see htmx-config in base.html): inline form errors go out as 422."""
    return 422 if _is_htmx(request) or status < 400 else status


def _require_workspace(ctx: Ctx) -> Workspace:
    if ctx.workspace is None:
        raise NotFoundError("you are not a member of any workspace yet; ask an admin to add you")
    return ctx.workspace


def _slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.strip().lower()).strip("-")
    return slug[:63].strip("-")


def _parse_id(value: str | None) -> int | None:
    if value is None or not str(value).strip():
        return None
    try:
        return int(value)
    except ValueError:
        return -1  # names no row; the service answers with a clear message


def team_tree(teams: list[Team]) -> list[tuple[Team, int]]:
    """Teams in tree order (parents before children, siblings by name) with their depth."""
    by_parent: dict[int | None, list[Team]] = {}
    ids = {t.id for t in teams}
    for t in teams:
        by_parent.setdefault(t.parent_id if t.parent_id in ids else None, []).append(t)
    out: list[tuple[Team, int]] = []
    seen: set[int] = set()

    def walk(parent: int | None, depth: int) -> None:
        for t in sorted(by_parent.get(parent, []), key=lambda x: x.name.lower()):
            if t.id in seen:
                continue
            seen.add(t.id)
            out.append((t, depth))
            walk(t.id, depth + 1)

    walk(None, 0)
    out.extend((t, 0) for t in teams if t.id not in seen)  # defensive: a cycle would otherwise hide teams
    return out


# ------------------------------------------------------------------ data for pages


def _workspace_counts(db: Database, ctx: Ctx, ws: Workspace) -> dict[str, int]:
    with db.read() as s:
        teams = tenancy.list_teams(s, ctx.actor, ws.id)
        people = tenancy.list_people(s, ctx.actor, ws.id)
        members = {m.user_id for m in tenancy.list_memberships(s, ctx.actor, ws.id)}
    return {"teams": len(teams), "people": len(people), "members": len(members)}


def _teams_data(db: Database, ctx: Ctx, ws: Workspace) -> dict[str, Any]:
    with db.read() as s:
        teams = tenancy.list_teams(s, ctx.actor, ws.id)
        people = tenancy.list_people(s, ctx.actor, ws.id)
    people_per_team: dict[int, int] = {}
    children: dict[int, int] = {}
    for p in people:
        if p.team_id is not None:
            people_per_team[p.team_id] = people_per_team.get(p.team_id, 0) + 1
    for t in teams:
        if t.parent_id is not None:
            children[t.parent_id] = children.get(t.parent_id, 0) + 1
    return {
        "tree": team_tree(teams),
        "teams": teams,
        "people_per_team": people_per_team,
        "children": children,
        "team_kinds": tenancy.TEAM_KINDS,
    }


def _people_data(db: Database, ctx: Ctx, ws: Workspace, team_filter: int | None) -> dict[str, Any]:
    with db.read() as s:
        teams = tenancy.list_teams(s, ctx.actor, ws.id)
        people = tenancy.list_people(s, ctx.actor, ws.id, team_filter)
    team_names = {t.id: t.name for t in teams}
    writable = ctx.writable_team_ids(teams)
    return {
        "people": people,
        "team_names": team_names,
        "tree": team_tree(teams),
        "writable_team_ids": writable,
        "can_add_people": ctx.is_admin or bool(writable),
        "team_filter": team_filter,
    }


def _account_data(db: Database, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        tokens = auth.list_tokens(s, ctx.actor, ctx.user.id)
        memberships = list(s.query(Membership).filter(Membership.user_id == ctx.user.id).order_by(Membership.id))
        ws_names = {
            w.id: w.name for w in s.query(Workspace).filter(Workspace.id.in_({m.workspace_id for m in memberships}))
        }
        team_ids = {m.team_id for m in memberships if m.team_id is not None}
        team_names = {t.id: t.name for t in s.query(Team).filter(Team.id.in_(team_ids))} if team_ids else {}
        person = s.get(Person, ctx.user.person_id) if ctx.user.person_id else None
    now = auth.now_utc()
    rows = [(t, auth.token_status(t, now)) for t in reversed(tokens)]
    return {
        "tokens": rows,
        "memberships": [(m, ws_names.get(m.workspace_id, "?"), team_names.get(m.team_id or 0)) for m in memberships],
        "person": person,
    }


# ------------------------------------------------------------------ routes


_shared_routes: list[BaseRoute] = []
_shared_routes_lock = threading.Lock()


def install(app: FastAPI) -> None:
    """Add the web UI to ``app``: its error handlers, and its routes.

    The routes are built once per process and shared by every app: building them (FastAPI analyses every
    endpoint's signature) costs far more than the rest of an app. They hold no per-app state; a request finds its
    database and settings on ``request.app``, and the app's own error handlers and middleware apply."""
    _install_error_handlers(app)
    with _shared_routes_lock:
        if not _shared_routes:
            builder = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)  # only collects the routes
            _add_routes(builder)
            _shared_routes.extend(builder.router.routes)
    app.router.routes.extend(_shared_routes)


def _add_routes(app: FastAPI) -> None:
    from okrflow.web import (
        flow_routes,
        learning_routes,
        mapping_routes,
        okr_routes,
        pilot_routes,
        source_edit_routes,
        work_routes,
    )

    okr_routes.install(app)
    work_routes.install(app)
    flow_routes.install(app)
    learning_routes.install(app)
    pilot_routes.install(app)
    mapping_routes.install(app)
    source_edit_routes.install(app)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> Response:
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            with _db(request).read() as s:
                if auth.session_for_cookie(s, secret) is not None:
                    return RedirectResponse(safe_next(next), status_code=303)
        return _login_page(request, next=safe_next(next))

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_submit(
        request: Request,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        target = safe_next(next)
        if not auth.csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
            return _login_page(request, next=target, username=username, error=CSRF_FAILED, status_code=403)
        if not username.strip() or not password:
            return _login_page(
                request, next=target, username=username, error="enter your username and password", status_code=422
            )
        client_ip = request.client.host if request.client else None
        try:
            _user, _row, secret = auth.login_attempt(_db(request), username, password, client_ip=client_ip)
        except ThrottledError as exc:
            resp = _login_page(request, next=target, username=username, error=exc.message, status_code=429)
            resp.headers["Retry-After"] = str(exc.retry_after_seconds)
            return resp
        except OkrflowError as exc:
            return _login_page(request, next=target, username=username, error=exc.message, status_code=exc.http_status)
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(
            SESSION_COOKIE,
            secret,
            max_age=int(auth.SESSION_LIFETIME.total_seconds()),
            path="/",
            httponly=True,
            samesite="lax",
            secure=_secure(request),
        )
        resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return resp

    @app.post("/logout", include_in_schema=False)
    def logout(
        request: Request,
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        with _db(request).write() as s:
            auth.logout(s, request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        if _is_htmx(request):
            resp = Response(status_code=204, headers={"HX-Redirect": "/login"})
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    # ---------------------------------------------------------------- home

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> Response:
        ctx = current(request)
        if ctx.workspace is None:
            return render(request, "home.html", ctx, counts=None, nav="home")
        counts = _workspace_counts(_db(request), ctx, ctx.workspace)
        with _db(request).read() as s:
            okrs = okr_routes.home_okr_summary(s, ctx, ctx.workspace)
            work = work_routes.home_work_summary(s, ctx, ctx.workspace)
            attention = pilot_routes.home_attention(s, ctx, ctx.workspace)
        return render(request, "home.html", ctx, counts=counts, okrs=okrs, work=work, attention=attention, nav="home")

    # ---------------------------------------------------------------- teams

    @app.get("/teams", response_class=HTMLResponse, include_in_schema=False)
    def teams_page(request: Request, created: str | None = None) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        data = _teams_data(_db(request), ctx, ws)
        return render(request, "teams.html", ctx, nav="teams", form={}, errors={}, created=created, **data)

    @app.post("/teams", response_class=HTMLResponse, include_in_schema=False)
    def teams_create(
        request: Request,
        name: Annotated[str, Form()] = "",
        slug: Annotated[str, Form()] = "",
        parent_id: Annotated[str, Form()] = "",
        kind: Annotated[str, Form()] = "product",
        description: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        form = {"name": name, "slug": slug, "parent_id": parent_id, "kind": kind, "description": description}
        errors: dict[str, str] = {}
        created: str | None = None
        status = 422
        if not name.strip():
            errors["name"] = "give the team a name"
        elif not (slug.strip() or _slugify(name)):
            errors["slug"] = "the name has no letters or digits to make a slug from; enter a slug"
        if not errors:
            try:
                with db.write() as s:
                    team = tenancy.create_team(
                        s,
                        ctx.actor,
                        ws.id,
                        slug.strip() or _slugify(name),
                        name,
                        parent_id=_parse_id(parent_id),
                        kind=kind or "product",
                        description=description.strip(),
                    )
                    created = team.name
            except PermissionDeniedError:
                raise  # not a form mistake: the 403 page (or, under HTMX, a message)
            except OkrflowError as exc:
                errors[str(exc.details.get("field") or "_form")] = exc.message
                status = exc.http_status
        if created and not _is_htmx(request):
            return RedirectResponse(f"/teams?created={quote(created)}", status_code=303)
        data = _teams_data(db, ctx, ws)
        if created:
            form = {}
        template = "_teams_section.html" if _is_htmx(request) else "teams.html"
        return render(
            request,
            template,
            ctx,
            status_code=_error_status(request, status) if errors else 200,
            nav="teams",
            form=form,
            errors=errors,
            created=created,
            **data,
        )

    # ---------------------------------------------------------------- people

    @app.get("/people", response_class=HTMLResponse, include_in_schema=False)
    def people_page(request: Request, team: str | None = None, created: str | None = None) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        data = _people_data(_db(request), ctx, ws, _parse_id(team))
        return render(request, "people.html", ctx, nav="people", form={}, errors={}, created=created, **data)

    @app.post("/people", response_class=HTMLResponse, include_in_schema=False)
    def people_create(
        request: Request,
        name: Annotated[str, Form()] = "",
        email: Annotated[str, Form()] = "",
        title: Annotated[str, Form()] = "",
        team_id: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        form = {"name": name, "email": email, "title": title, "team_id": team_id}
        errors: dict[str, str] = {}
        created: str | None = None
        status = 422
        if not name.strip():
            errors["name"] = "enter the person's name"
        else:
            try:
                with db.write() as s:
                    person = tenancy.create_person(
                        s, ctx.actor, ws.id, name, email=email or None, title=title.strip(), team_id=_parse_id(team_id)
                    )
                    created = person.name
            except PermissionDeniedError:
                raise  # not a form mistake: the 403 page (or, under HTMX, a message)
            except OkrflowError as exc:
                errors[str(exc.details.get("field") or "_form")] = exc.message
                status = exc.http_status
        if created and not _is_htmx(request):
            return RedirectResponse(f"/people?created={quote(created)}", status_code=303)
        data = _people_data(db, ctx, ws, None)
        if created:
            form = {"team_id": team_id}
        template = "_people_section.html" if _is_htmx(request) else "people.html"
        return render(
            request,
            template,
            ctx,
            status_code=_error_status(request, status) if errors else 200,
            nav="people",
            form=form,
            errors=errors,
            created=created,
            **data,
        )

    # ---------------------------------------------------------------- account

    @app.get("/account", response_class=HTMLResponse, include_in_schema=False)
    def account_page(request: Request) -> Response:
        ctx = current(request)
        data = _account_data(_db(request), ctx)
        return render(request, "account.html", ctx, nav="account", form={}, errors={}, new_token=None, **data)

    @app.post("/account/tokens", response_class=HTMLResponse, include_in_schema=False)
    def token_create(
        request: Request,
        name: Annotated[str, Form()] = "",
        scopes: Annotated[list[str] | None, Form()] = None,
        expires: Annotated[str, Form()] = "90",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        db = _db(request)
        chosen = [s for s in (scopes or []) if s]
        form = {"name": name, "scopes": chosen, "expires": expires}
        errors: dict[str, str] = {}
        new_token: dict[str, str] | None = None
        status = 422
        if expires not in TOKEN_LIFETIMES:
            errors["expires"] = "choose one of the offered lifetimes"
        else:
            days = TOKEN_LIFETIMES[expires]
            expires_at = auth.now_utc() + timedelta(days=days) if days else None
            try:
                with db.write() as s:
                    token, secret = auth.create_token(
                        s, ctx.actor, ctx.user.id, name, chosen or "", expires_at=expires_at
                    )
                    new_token = {"name": token.name, "secret": secret}
            except PermissionDeniedError:
                raise  # not a form mistake: the 403 page (or, under HTMX, a message)
            except OkrflowError as exc:
                errors[str(exc.details.get("field") or "_form")] = exc.message
                status = exc.http_status
        data = _account_data(db, ctx)
        if new_token:
            form = {}
        template = "_tokens_section.html" if _is_htmx(request) else "account.html"
        return render(
            request,
            template,
            ctx,
            status_code=_error_status(request, status) if errors else 200,
            nav="account",
            form=form,
            errors=errors,
            new_token=new_token,
            **data,
        )

    @app.post("/account/tokens/{token_id}/revoke", response_class=HTMLResponse, include_in_schema=False)
    def token_revoke(
        request: Request,
        token_id: int,
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        db = _db(request)
        with db.write() as s:
            auth.revoke_token(s, ctx.actor, token_id)
        if not _is_htmx(request):
            return RedirectResponse("/account", status_code=303)
        data = _account_data(db, ctx)
        return render(request, "_tokens_section.html", ctx, nav="account", form={}, errors={}, new_token=None, **data)


def _login_page(
    request: Request, *, next: str, username: str = "", error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    fresh = not token or len(token) < 32 or len(token) > 128
    if fresh:
        token = secrets.token_urlsafe(32)
    resp = render(
        request, "login.html", None, status_code=status_code, next=next, username=username, error=error, csrf=token
    )
    if fresh:
        resp.set_cookie(
            LOGIN_CSRF_COOKIE, token, path="/login", httponly=True, samesite="strict", secure=_secure(request)
        )
    return resp


# ------------------------------------------------------------------ errors as pages


def _is_web_path(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/static/", "/healthz"))


def _ctx_or_none(request: Request) -> Ctx | None:
    try:
        return current(request)
    except Exception:  # the error page must render even when the database is the problem
        return None


def _install_error_handlers(app: FastAPI) -> None:
    handlers = app.exception_handlers
    orig_http = handlers.get(StarletteHTTPException)
    orig_okrflow = handlers.get(OkrflowError)
    orig_validation = handlers.get(RequestValidationError)
    orig_unexpected = handlers.get(Exception)

    async def login_required(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        location = "/login" if target == "/" else f"/login?next={quote(target, safe='')}"
        if _is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": location})
        return RedirectResponse(location, status_code=303)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        ctx = await run_in_threadpool(_ctx_or_none, request)
        return error_page(request, 403, "Form expired", CSRF_FAILED, ctx)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not _is_web_path(request) and orig_http is not None:
            return await orig_http(request, exc)
        ctx = await run_in_threadpool(_ctx_or_none, request)
        status = exc.status_code
        titles = {404: "Page not found", 405: "Not allowed", 403: "Permission denied"}
        messages = {
            404: "there is no page at this address; it may have moved or never existed",
            405: "this address does not accept that kind of request",
        }
        message = messages.get(status) or (str(exc.detail) if exc.detail else "the request could not be handled")
        return error_page(request, status, titles.get(status, "Error"), message, ctx)

    async def okrflow_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OkrflowError)
        if not _is_web_path(request) and orig_okrflow is not None:
            return await orig_okrflow(request, exc)
        ctx = await run_in_threadpool(_ctx_or_none, request)
        title = "Permission denied" if isinstance(exc, PermissionDeniedError) else exc.title
        return error_page(request, exc.http_status, title, exc.message, ctx)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not _is_web_path(request) and orig_validation is not None:
            return await orig_validation(request, exc)
        ctx = await run_in_threadpool(_ctx_or_none, request)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "the request was not valid"
        return error_page(request, 422, "Invalid input", message, ctx)

    async def unexpected(request: Request, exc: Exception) -> Response:
        if not _is_web_path(request) and orig_unexpected is not None:
            return await orig_unexpected(request, exc)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_page(request, 500, "Something went wrong", "an unexpected error occurred; it has been logged")

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(OkrflowError, okrflow_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


__all__ = ["SESSION_COOKIE", "install", "safe_next", "team_tree"]
