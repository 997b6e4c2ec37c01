"""The steps the form handlers (POST) of the web pages share, written once:

1. :func:`begin` — who posts (or :class:`~okrflow.web.routes.LoginRequired`), the CSRF check (form field or
   ``X-CSRF-Token`` header, declared with :data:`CsrfToken` and :data:`CsrfHeader`), the workspace in view;
2. :func:`require_write` — the contributor role on the row's team, else the error page with the handler's message;
3. :func:`expected_version` — the ``version`` hidden field an edit passes on as ``expected_version``;
4. :class:`Saving` — the service call: its refusal lands next to the field it names, a stale version becomes
   the 412 message, and :meth:`Saving.status` is the status of the answer;
5. :func:`redisplay` — the answer: the fragment HTMX swaps in, or the whole page, with that status.

A handler stays a plain function that calls these in order; what it checks and renders is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, NamedTuple

from fastapi import Form, Header, Request
from fastapi.responses import HTMLResponse

from okrflow.domain.access import Permission
from okrflow.domain.errors import OkrflowError, PermissionDeniedError, StaleVersionError
from okrflow.store.db import Database
from okrflow.store.models import Workspace
from okrflow.web import routes
from okrflow.web.routes import Ctx

CsrfToken = Annotated[str, Form()]
CsrfHeader = Annotated[str | None, Header()]
NO_VERSION = "the form has no version; reload the page and try again"


class Post(NamedTuple):
    """A form post that passed the CSRF check: who posts, the workspace in view, the database."""

    ctx: Ctx
    ws: Workspace
    db: Database


def begin(request: Request, csrf_token: str | None, x_csrf_token: str | None) -> Post:
    """The first steps of a form handler: the logged-in user, the CSRF check, the workspace in view."""
    ctx = routes.current(request)
    routes.check_csrf(ctx, csrf_token, x_csrf_token)
    return Post(ctx, routes._require_workspace(ctx), routes._db(request))


def can_write(ctx: Ctx, ws: Workspace, team_id: int | None) -> bool:
    """May the user write to the team (``None``: to the whole workspace)?"""
    return ctx.actor.can(Permission.WRITE, ws.id, team_id)


def require_write(ctx: Ctx, ws: Workspace, team_id: int | None, message: str) -> None:
    """Refuse with ``message`` (the permission error page) unless :func:`can_write`."""
    if not can_write(ctx, ws, team_id):
        raise PermissionDeniedError(message)


def parse_version(raw: str) -> int | None:
    """The version in a form's hidden field: a whole number ≥ 1, else ``None``."""
    v = routes._parse_id(raw)
    return v if v is not None and v >= 1 else None


def expected_version(raw: str, errors: dict[str, str]) -> int | None:
    """The version an edit expects (:func:`parse_version`); without one, the form error :data:`NO_VERSION`."""
    expected = parse_version(raw)
    if expected is None:
        errors["_form"] = NO_VERSION
    return expected


@dataclass
class Saving:
    """One attempt to save a form, and what came of it.

    ``errors`` are the form's inline errors (checked by the handler first); the service call goes in
    ``with saving.catch(stale_message), db.write() as s:``, where a refusal by the service becomes
    the error of the field it names (renamed by ``rename``; no field: ``_form``) with its status in ``code``, and a
    :class:`StaleVersionError` becomes ``stale`` (``stale_message(exc)``). A
    :class:`PermissionDeniedError` is not caught: it shows the error page.
    """

    errors: dict[str, str]
    rename: Mapping[str, str] = field(default_factory=dict)
    stale: str | None = None
    code: int = 422

    @property
    def failed(self) -> bool:
        return bool(self.errors) or bool(self.stale)

    @contextmanager
    def catch(self, stale_message: Callable[[StaleVersionError], str]) -> Iterator[None]:
        try:
            yield
        except PermissionDeniedError:
            raise
        except StaleVersionError as exc:
            self.stale = stale_message(exc)
        except OkrflowError as exc:
            name = str(exc.details.get("field") or "_form")
            self.errors[self.rename.get(name, name)] = exc.message
            self.code = exc.http_status

    def status(self, request: Request) -> int:
        """412 for a stale version (HTMX swaps it, see htmx-config in base.html), inline errors as 422 under HTMX
        (else the refusal's status), else 200."""
        if self.stale:
            return 412
        if self.errors:
            return routes._error_status(request, self.code)
        return 200


def redisplay(
    request: Request, ctx: Ctx, saving: Saving | None, *, fragment: str, page: str, **context: Any
) -> HTMLResponse:
    """Answer a form post with the form shown again (or the view after a save): the ``fragment`` template under
    HTMX, else the whole ``page``, with the status of ``saving`` (200 without one)."""
    status = saving.status(request) if saving is not None else 200
    return routes.render(request, fragment if routes._is_htmx(request) else page, ctx, status_code=status, **context)
