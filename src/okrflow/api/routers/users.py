"""Accounts: ``/users`` (superusers see all, workspace admins their members, everyone themselves) and ``/me``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from okrflow.api.deps import CurrentActor, IfMatch, Paging, PathId, ReadSession, WriteSession, created, set_etag
from okrflow.api.schemas import GrantRead, MeRead, UserCreate, UserRead, UserUpdate
from okrflow.domain.errors import NotFoundError
from okrflow.services import tenancy
from okrflow.store.models import User

router = APIRouter(tags=["users"])


@router.get("/me", response_model=MeRead, summary="The caller's account, memberships and token scopes")
def get_me(actor: CurrentActor, session: ReadSession, response: Response) -> MeRead:
    if actor.user_id is None:  # a token always belongs to an account; kept for other kinds of actor
        raise NotFoundError("this caller has no account")
    user = tenancy.get_user(session, actor, actor.user_id)
    set_etag(response, user)
    return MeRead(
        user=UserRead.model_validate(user),
        memberships=[
            GrantRead(workspace_id=g.workspace_id, team_id=g.team_id, role=g.role.value) for g in actor.grants
        ],
        scopes=None if actor.scopes is None else sorted(s.value for s in actor.scopes),
    )


@router.get("/users", response_model=list[UserRead])
def list_users(actor: CurrentActor, session: ReadSession, page: Paging, response: Response) -> list[User]:
    return page.apply(response, tenancy.list_users(session, actor))


@router.post(
    "/users",
    response_model=UserRead,
    status_code=201,
    summary="Create an account (superuser, or a workspace admin together with a membership)",
)
def create_user(
    body: UserCreate, actor: CurrentActor, session: WriteSession, request: Request, response: Response
) -> User:
    fields = body.model_dump()
    user = tenancy.create_user(session, actor, fields.pop("username"), fields.pop("password"), **fields)
    return created(request, response, "get_user", user, user_id=user.id)


@router.get("/users/{user_id}", response_model=UserRead)
def get_user(user_id: PathId, actor: CurrentActor, session: ReadSession, response: Response) -> User:
    user = tenancy.get_user(session, actor, user_id)
    set_etag(response, user)
    return user


@router.patch("/users/{user_id}", response_model=UserRead)
def update_user(
    user_id: PathId, body: UserUpdate, actor: CurrentActor, session: WriteSession, expected: IfMatch, response: Response
) -> User:
    user = tenancy.update_user(session, actor, user_id, body.changes(), expected_version=expected)
    set_etag(response, user)
    return user
