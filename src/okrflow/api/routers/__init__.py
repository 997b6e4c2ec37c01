"""All API routers, in the order they appear in the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter

from okrflow.api.routers import (
    audit,
    checkins,
    decisions,
    flow,
    key_results,
    memberships,
    metrics,
    north_star,
    objectives,
    outcomes,
    people,
    periods,
    pilots,
    retros,
    sources,
    teams,
    tokens,
    users,
    work,
    workspaces,
)

ROUTERS: list[APIRouter] = [
    workspaces.router,
    teams.router,
    people.router,
    users.router,
    memberships.router,
    tokens.router,
    audit.router,
    periods.router,
    objectives.router,
    key_results.router,
    checkins.router,
    metrics.router,
    north_star.router,
    sources.router,
    work.router,
    flow.router,
    pilots.router,
    decisions.router,
    outcomes.router,
    retros.router,
]
