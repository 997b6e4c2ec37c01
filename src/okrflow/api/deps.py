"""Request dependencies: the database, the authenticated actor, ETag / If-Match handling."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Query, Request, Response
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor
from okrflow.domain.errors import AuthenticationError, InvalidInputError
from okrflow.services import auth
from okrflow.store.db import Database


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DB = Annotated[Database, Depends(get_db)]


def get_actor(request: Request, db: DB, authorization: Annotated[str | None, Header()] = None) -> Actor:
    """The caller, from ``Authorization: Bearer <token>``. The API does not take session cookies."""
    if not authorization:
        raise AuthenticationError(
            "send an API token as 'Authorization: Bearer <token>' (create one with `okrflow token create`)"
        )
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    with db.write() as session:
        user, token = auth.authenticate_token(session, secret)
        auth.touch_token(session, token.id)
        return auth.actor_for_user(session, user, auth.token_scopes(token))


CurrentActor = Annotated[Actor, Depends(get_actor)]


def read_session(db: DB) -> Iterator[Session]:
    with db.read() as session:
        yield session


def write_session(db: DB) -> Iterator[Session]:
    with db.write() as session:
        yield session


# ``scope="function"``: the session closes (and a write commits) when the route returns, *before* the response
# is sent. A commit that fails becomes an error response instead of a 2xx for a change that was rolled back.
ReadSession = Annotated[Session, Depends(read_session, scope="function")]
WriteSession = Annotated[Session, Depends(write_session, scope="function")]

T = TypeVar("T")

MAX_ID = 2_147_483_647  # PostgreSQL ``integer``: a larger id cannot exist, so it is a 422, not a database error


PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


class Page:
    """``?limit=&offset=`` of a list, bounded."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=1000, description="At most this many items.")] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Skip this many items first.")] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset

    def apply(self, response: Response, items: list[Any]) -> list[Any]:
        """The requested slice; the full count goes to ``X-Total-Count``."""
        response.headers["X-Total-Count"] = str(len(items))
        return items[self.offset : self.offset + self.limit]


Paging = Annotated[Page, Depends()]

_ETAG_RE = re.compile(r'^(?:W/)?"(\d{1,18})"$')  # bounded: a version never has more digits


def etag_for(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, obj: Any) -> None:
    response.headers["ETag"] = etag_for(obj.version)


def expected_version(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """The version named by ``If-Match`` (the ETag of a previous read), or ``None`` when absent / ``*``."""
    if if_match is None or if_match.strip() == "*":
        return None
    m = _ETAG_RE.match(if_match.strip())
    if not m:
        raise InvalidInputError('If-Match must be an ETag from a previous read, like "3"', field="If-Match")
    return int(m.group(1))


IfMatch = Annotated[int | None, Depends(expected_version)]


def set_location(request: Request, response: Response, route_name: str, **path_params: Any) -> None:
    """``Location`` of a created resource: the path of its GET route (under the API mount)."""
    response.headers["Location"] = request.url_for(route_name, **path_params).path


def created(request: Request, response: Response, route_name: str, obj: T, **path_params: Any) -> T:
    """Finish a POST: ``Location`` and, for a versioned row, ``ETag``. Returns ``obj``."""
    set_location(request, response, route_name, **path_params)
    if hasattr(obj, "version"):
        set_etag(response, obj)
    return obj
