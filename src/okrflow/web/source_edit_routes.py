"""Adding and configuring sources of work on ``/sources`` (admins).

- ``POST /sources``: a new source — name, kind, base URL, team, the connector's settings (YAML, e.g. ``jql:``),
  and its credentials (Jira Cloud e-mail + API token, or a token alone). The token is encrypted under
  ``OKRFLOW_SECRET_KEY`` by the service and never shown again, not even when the form comes back with an error.
- ``POST /sources/{id}/config``: change a source's base URL, team and settings, replace its token or remove its
  credentials; the version it was read at is checked (a stale form says so and keeps what was typed).

The settings are checked by the connector of the kind (:func:`okrflow.services.sources.check_settings`), so a
mistyped ``api:`` or a repository without an owner is refused here, not at the first sync.
"""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from okrflow.domain.errors import ConfigurationError, PermissionDeniedError, StaleVersionError
from okrflow.services import sources, tenancy
from okrflow.store.models import Workspace
from okrflow.store.models_work import Source
from okrflow.web import forms
from okrflow.web.forms import CsrfHeader, CsrfToken
from okrflow.web.routes import Ctx, _db, _is_htmx, render, team_tree, templates

SETTINGS_HINTS: dict[str, str] = {
    "jira": "jql: project = PAY\napi: cloud   # or server (Server / Data Center)",
    "github": "repository: owner/name",
    "gitlab": "project: group/name   # or the numeric project id",
    "files": "",
}
CREDENTIALS_HELP = (
    "Jira Cloud: the API user's e-mail and an API token. Jira Server / Data Center: a personal access token alone. "
    "GitHub and GitLab: a token alone."
)


def settings_yaml(src: Source) -> str:
    """The source's hand-edited settings as YAML for the form (what the connectors keep for themselves, such as
    GitHub's ETag cache, is left out and kept)."""
    shown = {k: v for k, v in (src.settings or {}).items() if k not in sources.CONNECTOR_KEPT_SETTINGS}
    return yaml.safe_dump(shown, allow_unicode=True, sort_keys=True, default_flow_style=False) if shown else ""


templates.env.filters["settings_yaml"] = settings_yaml


def _parse_settings(text: str, errors: dict[str, str]) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        errors["settings"] = f"the settings are not valid YAML{where}: write one 'key: value' per line"
        return {}
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        errors["settings"] = "the settings are 'key: value' lines, e.g. jql: project = PAY"
        return {}
    return value


def _team(session: Session, ctx: Ctx, ws: Workspace, raw: str, errors: dict[str, str]) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    ids = {t.id for t in tenancy.list_teams(session, ctx.actor, ws.id)}
    if not raw.isdigit() or int(raw) not in ids:
        errors["team_id"] = "choose a team of this workspace"
        return None
    return int(raw)


def _check_settings(kind: str, settings: dict[str, Any], errors: dict[str, str]) -> None:
    if "settings" in errors:
        return
    try:
        sources.check_settings(kind, settings)
    except ConfigurationError as exc:
        errors["settings"] = f"the {kind} connector refuses these settings: {exc.message}"


def _stale(exc: StaleVersionError) -> str:
    return f"{exc.message}. Someone else changed this source: reload the page to see their change, then apply yours."


def form_context(session: Session, ctx: Ctx, ws: Workspace) -> dict[str, Any]:
    """What the add and configure forms offer: kinds, teams, settings hints."""
    return {
        "source_kinds": sources.KINDS,
        "source_teams": team_tree(tenancy.list_teams(session, ctx.actor, ws.id)),
        "settings_hints": SETTINGS_HINTS,
        "credentials_help": CREDENTIALS_HELP,
    }


def install(app: FastAPI) -> None:
    from okrflow.web.work_routes import _sources_data, source_in_ws, source_response

    def _page(request: Request, ctx: Ctx, ws: Workspace, status: int, **extra: Any) -> HTMLResponse:
        with _db(request).read() as s:
            data = _sources_data(s, ctx, ws)
        return render(request, "sources.html", ctx, status_code=status, nav="sources", outcomes={}, **data, **extra)

    @app.post("/sources", response_class=HTMLResponse, include_in_schema=False)
    def source_create(
        request: Request,
        name: Annotated[str, Form()] = "",
        kind: Annotated[str, Form()] = "",
        base_url: Annotated[str, Form()] = "",
        team_id: Annotated[str, Form()] = "",
        settings: Annotated[str, Form()] = "",
        email: Annotated[str, Form()] = "",
        token: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        post = forms.begin(request, csrf_token, x_csrf_token)
        ctx, ws, db = post
        if not ctx.is_admin:
            raise PermissionDeniedError("adding a source of work needs the admin role")
        kind = kind.strip().lower()
        saving = forms.Saving({})
        parsed = _parse_settings(settings, saving.errors)
        created: Source | None = None
        with db.read() as s:
            team = _team(s, ctx, ws, team_id, saving.errors)
        if kind in sources.KINDS:
            _check_settings(kind, parsed, saving.errors)
        if not saving.errors:
            with saving.catch(_stale), db.write() as s:
                credentials = sources.make_credentials(kind, email=email, token=token) if kind in sources.KINDS else {}
                created = sources.create_source(
                    s,
                    ctx.actor,
                    ws.id,
                    name.strip(),
                    kind,
                    base_url=base_url.strip(),
                    settings=parsed,
                    credentials=credentials or None,
                    team_id=team,
                )
                new_id = created.id
        if created is not None and not saving.failed:
            target = f"/sources?added={new_id}#source-{new_id}"  # a new query: the page loads again
            if _is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        values = {"name": name, "kind": kind, "base_url": base_url, "team_id": team_id, "settings": settings}
        values["email"] = email  # the token is never sent back
        new_form = {"values": values, "errors": saving.errors, "open": True}
        if _is_htmx(request):
            with db.read() as s:
                extra = form_context(s, ctx, ws)
            return render(
                request, "_source_new.html", ctx, status_code=saving.status(request), new_form=new_form, **extra
            )
        return _page(request, ctx, ws, saving.status(request), new_form=new_form)

    @app.post("/sources/{source_id}/config", response_class=HTMLResponse, include_in_schema=False)
    def source_configure(
        request: Request,
        source_id: int,
        base_url: Annotated[str, Form()] = "",
        team_id: Annotated[str, Form()] = "",
        settings: Annotated[str, Form()] = "",
        email: Annotated[str, Form()] = "",
        token: Annotated[str, Form()] = "",
        clear_credentials: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        post = forms.begin(request, csrf_token, x_csrf_token)
        ctx, ws, db = post
        with db.read() as s:
            kind = source_in_ws(s, ctx, ws, source_id).kind
            if not ctx.is_admin:
                raise PermissionDeniedError("changing a source of work needs the admin role")
        saving = forms.Saving({})
        expected = forms.expected_version(version, saving.errors)
        parsed = _parse_settings(settings, saving.errors)
        with db.read() as s:
            team = _team(s, ctx, ws, team_id, saving.errors)
        _check_settings(kind, parsed, saving.errors)
        if not saving.errors:
            with saving.catch(_stale), db.write() as s:
                current = sources.get_source(s, ctx.actor, source_id)
                kept = {k: v for k, v in (current.settings or {}).items() if k in sources.CONNECTOR_KEPT_SETTINGS}
                changes: dict[str, Any] = {
                    "base_url": base_url.strip().rstrip("/"),
                    "team_id": team,
                    "settings": parsed | kept,
                }
                if clear_credentials in ("1", "on", "true"):
                    changes["credentials"] = None
                elif token.strip() or email.strip():
                    changes["credentials"] = sources.make_credentials(kind, email=email, token=token)
                sources.update_source(s, ctx.actor, source_id, changes, expected_version=expected)
        outcome: dict[str, Any]
        if saving.failed:
            outcome = {
                "kind": "config",
                "config_errors": saving.errors,
                "config_stale": saving.stale,
                "config_values": {"base_url": base_url, "team_id": team_id, "settings": settings, "email": email},
            }
        else:
            outcome = {"kind": "config", "message": "Source saved."}
        status = saving.status(request)
        if not saving.failed and not _is_htmx(request):
            return RedirectResponse(f"/sources#source-{source_id}", status_code=303)
        return source_response(request, ctx, ws, source_id, outcome, status)
