"""Memberships (roles of users in a workspace or on a team): members read, admins grant, change and remove."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from okrflow.api.deps import CurrentActor, IfMatch, Paging, PathId, ReadSession, WriteSession, created, set_etag
from okrflow.api.schemas import MembershipCreate, MembershipRead, MembershipUpdate
from okrflow.services import tenancy
from okrflow.store.models import Membership

router = APIRouter(tags=["memberships"])


@router.get("/workspaces/{workspace_id}/memberships", response_model=list[MembershipRead])
def list_memberships(
    workspace_id: PathId, actor: CurrentActor, session: ReadSession, page: Paging, response: Response
) -> list[Membership]:
    return page.apply(response, tenancy.list_memberships(session, actor, workspace_id))


@router.post("/workspaces/{workspace_id}/memberships", response_model=MembershipRead, status_code=201)
def create_membership(
    workspace_id: PathId,
    body: MembershipCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> Membership:
    m = tenancy.create_membership(session, actor, workspace_id, body.user_id, body.role, body.team_id)
    return created(request, response, "get_membership", m, membership_id=m.id)


@router.get("/memberships/{membership_id}", response_model=MembershipRead)
def get_membership(membership_id: PathId, actor: CurrentActor, session: ReadSession, response: Response) -> Membership:
    m = tenancy.get_membership(session, actor, membership_id)
    set_etag(response, m)
    return m


@router.patch("/memberships/{membership_id}", response_model=MembershipRead)
def update_membership(
    membership_id: PathId,
    body: MembershipUpdate,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> Membership:
    m = tenancy.update_membership(session, actor, membership_id, body.role, expected_version=expected)
    set_etag(response, m)
    return m


@router.delete("/memberships/{membership_id}", status_code=204, response_class=Response)
def delete_membership(membership_id: PathId, actor: CurrentActor, session: WriteSession, expected: IfMatch) -> Response:
    tenancy.delete_membership(session, actor, membership_id, expected_version=expected)
    return Response(status_code=204)
