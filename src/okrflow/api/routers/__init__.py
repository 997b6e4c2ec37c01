"""All API routers, in the order they appear in the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter

from okrflow.api.routers import audit, memberships, people, teams, tokens, users, workspaces

ROUTERS: list[APIRouter] = [
    workspaces.router,
    teams.router,
    people.router,
    users.router,
    memberships.router,
    tokens.router,
    audit.router,
]
