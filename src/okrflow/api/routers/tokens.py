"""The caller's own API tokens: list (never the secret), create (the secret shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from okrflow.api.deps import CurrentActor, Paging, PathId, ReadSession, WriteSession, set_location
from okrflow.api.schemas import TokenCreate, TokenCreated, TokenRead
from okrflow.domain.errors import NotFoundError
from okrflow.services import auth

router = APIRouter(tags=["tokens"])


def _own_user_id(actor: CurrentActor) -> int:
    if actor.user_id is None:  # a token always belongs to an account; kept for other kinds of actor
        raise NotFoundError("this caller has no account, so no tokens")
    return actor.user_id


@router.get("/tokens", response_model=list[TokenRead], summary="The caller's tokens (without secrets)")
def list_tokens(actor: CurrentActor, session: ReadSession, page: Paging, response: Response) -> list[TokenRead]:
    return [TokenRead.of(t) for t in page.apply(response, auth.list_tokens(session, actor, _own_user_id(actor)))]


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=201,
    summary="Create a token for the caller; the response is the only time the secret is shown",
)
def create_token(
    body: TokenCreate, actor: CurrentActor, session: WriteSession, request: Request, response: Response
) -> TokenCreated:
    token, secret = auth.create_token(
        session, actor, _own_user_id(actor), body.name, list(body.scopes), expires_at=body.expires_at
    )
    set_location(request, response, "list_tokens")
    response.headers["Cache-Control"] = "no-store"
    return TokenCreated(**TokenRead.of(token).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response, summary="Revoke a token")
def revoke_token(token_id: PathId, actor: CurrentActor, session: WriteSession) -> Response:
    auth.revoke_token(session, actor, token_id)
    return Response(status_code=204)
