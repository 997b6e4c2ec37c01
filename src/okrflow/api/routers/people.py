"""People of a workspace: list (``?team_id=``), add, read, change and remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from okrflow.api.deps import (
    MAX_ID,
    CurrentActor,
    IfMatch,
    Paging,
    PathId,
    ReadSession,
    WriteSession,
    created,
    set_etag,
)
from okrflow.api.schemas import PersonCreate, PersonRead, PersonUpdate
from okrflow.services import tenancy
from okrflow.store.models import Person

router = APIRouter(tags=["people"])


@router.get("/workspaces/{workspace_id}/people", response_model=list[PersonRead])
def list_people(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    page: Paging,
    response: Response,
    team_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only the people of this team.")] = None,
) -> list[Person]:
    return page.apply(response, tenancy.list_people(session, actor, workspace_id, team_id=team_id))


@router.post("/workspaces/{workspace_id}/people", response_model=PersonRead, status_code=201)
def create_person(
    workspace_id: PathId,
    body: PersonCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> Person:
    person = tenancy.create_person(session, actor, workspace_id, **body.model_dump())
    return created(request, response, "get_person", person, person_id=person.id)


@router.get("/people/{person_id}", response_model=PersonRead)
def get_person(person_id: PathId, actor: CurrentActor, session: ReadSession, response: Response) -> Person:
    person = tenancy.get_person(session, actor, person_id)
    set_etag(response, person)
    return person


@router.patch("/people/{person_id}", response_model=PersonRead)
def update_person(
    person_id: PathId,
    body: PersonUpdate,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> Person:
    person = tenancy.update_person(session, actor, person_id, body.changes(), expected_version=expected)
    set_etag(response, person)
    return person


@router.delete("/people/{person_id}", status_code=204, response_class=Response)
def delete_person(person_id: PathId, actor: CurrentActor, session: WriteSession, expected: IfMatch) -> Response:
    tenancy.delete_person(session, actor, person_id, expected_version=expected)
    return Response(status_code=204)
