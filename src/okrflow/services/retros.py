"""Retrospectives and blameless postmortems with owned action items.

A *retrospective* looks back on a stretch of work (a pilot, a quarter); a *postmortem* on an incident. Both
record what happened, the impact, the contributing factors (a list — blameless: factors, not culprits), and
what we learned. A postmortem is linked to an incident (DORA's failed deployments and restores) or a pilot.

Action items carry an owner (a person of the workspace), a due date, a status (open → done | dropped) and
optionally a link to a playbook or runbook page (``http(s)://…`` or a path such as ``/docs/runbooks/x``).
:func:`overdue_actions` lists open actions past their due date, the longest overdue first.

Writes need the contributor role on the retrospective's team (or workspace-wide); everyone in the workspace
reads. Every change is audited and optimistically locked (``expected_version``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import InvalidInputError, NotFoundError
from okrflow.services import records, validate
from okrflow.services.tenancy import get_workspace
from okrflow.store.models import Person, Team
from okrflow.store.models_delivery import Incident
from okrflow.store.models_pilots import ActionItem, Pilot, Retrospective

KINDS = ("retrospective", "postmortem")
ACTION_STATUSES = ("open", "done", "dropped")
RETRO_FIELDS = (
    "kind",
    "title",
    "held_on",
    "team_id",
    "what_happened",
    "impact",
    "contributing_factors",
    "learnings",
    "incident_id",
    "pilot_id",
)
ACTION_FIELDS = ("title", "owner_person_id", "due_on", "status", "playbook_url")


# ------------------------------------------------------------------ validation helpers


def _factors(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [line for line in value.splitlines()]
    if not isinstance(value, list | tuple):
        raise InvalidInputError("contributing_factors must be a list of texts", field="contributing_factors")
    factors = [validate.text(v, "contributing_factors", 1000, required=False, separate_messages=True) for v in value]
    factors = [f for f in factors if f]
    if len(factors) > 50:
        raise InvalidInputError("at most 50 contributing factors", field="contributing_factors")
    return factors


def _id(value: Any, field_name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"{field_name} must be an id", field=field_name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{field_name} must be an id, not {value!r}", field=field_name) from None


def _playbook(value: Any) -> str:
    url = validate.text(value, "playbook_url", 1000, required=False, separate_messages=True)
    if not url:
        return ""
    parts = urlsplit(url)
    if url.startswith("/") and not url.startswith("//"):
        return url
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    raise InvalidInputError(
        "playbook_url must be an http(s) address or a path starting with /, e.g. /docs/runbooks/rollback",
        field="playbook_url",
    )


def _in_workspace(
    session: Session, model: Any, entity_id: int | None, workspace_id: int, label: str, field: str
) -> None:
    if entity_id is None:
        return
    obj = session.get(model, entity_id)
    if obj is None or obj.workspace_id != workspace_id:
        raise InvalidInputError(f"{label} {entity_id} does not exist in this workspace", field=field)


def _clean_retro(session: Session, workspace_id: int, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    unknown = set(data) - set(RETRO_FIELDS)
    if unknown:
        raise InvalidInputError(f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    out: dict[str, Any] = {}
    if "kind" in data or not partial:
        kind = data.get("kind") or "retrospective"
        if kind not in KINDS:
            raise InvalidInputError(f"kind is one of {', '.join(KINDS)}, not {kind!r}", field="kind")
        out["kind"] = kind
    if "title" in data or not partial:
        out["title"] = validate.text(data.get("title"), "title", 300, separate_messages=True)
    if "held_on" in data or not partial:
        out["held_on"] = validate.day(data.get("held_on"), "held_on", report_missing=True)
    for name in ("what_happened", "impact", "learnings"):
        if name in data or not partial:
            out[name] = validate.text(data.get(name), name, 5000, required=False, separate_messages=True)
    if "contributing_factors" in data or not partial:
        out["contributing_factors"] = _factors(data.get("contributing_factors"))
    for name, model, label in (
        ("team_id", Team, "team"),
        ("incident_id", Incident, "incident"),
        ("pilot_id", Pilot, "pilot"),
    ):
        if name in data or not partial:
            value = _id(data.get(name), name)
            _in_workspace(session, model, value, workspace_id, label, name)
            out[name] = value
    return out


def _check_postmortem(values: Mapping[str, Any]) -> None:
    if values.get("kind") != "postmortem":
        return
    if not values.get("what_happened"):
        raise InvalidInputError("a postmortem says what happened", field="what_happened")
    if not values.get("impact"):
        raise InvalidInputError("a postmortem states the impact", field="impact")


# ------------------------------------------------------------------ retrospectives


def get_retro(session: Session, actor: Actor, retro_id: int) -> Retrospective:
    retro = session.get(Retrospective, retro_id)
    if retro is None or not actor.can(Permission.READ, retro.workspace_id):
        raise NotFoundError(f"retrospective {retro_id} does not exist")
    return retro


def list_retros(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    kind: str | None = None,
    team_id: int | None = None,
    incident_id: int | None = None,
    pilot_id: int | None = None,
) -> list[Retrospective]:
    """Retrospectives and postmortems, the most recent first."""
    get_workspace(session, actor, workspace_id)
    if kind is not None and kind not in KINDS:
        raise InvalidInputError(f"kind is one of {', '.join(KINDS)}, not {kind!r}", field="kind")
    q = select(Retrospective).where(Retrospective.workspace_id == workspace_id)
    if kind:
        q = q.where(Retrospective.kind == kind)
    if team_id is not None:
        q = q.where(Retrospective.team_id == team_id)
    if incident_id is not None:
        q = q.where(Retrospective.incident_id == incident_id)
    if pilot_id is not None:
        q = q.where(Retrospective.pilot_id == pilot_id)
    return list(session.scalars(q.order_by(Retrospective.held_on.desc(), Retrospective.id.desc())))


def create_retro(session: Session, actor: Actor, workspace_id: int, data: Mapping[str, Any]) -> Retrospective:
    """Record a retrospective or a blameless postmortem (audited)."""
    get_workspace(session, actor, workspace_id)
    values = _clean_retro(session, workspace_id, data, partial=False)
    _check_postmortem(values)
    validate.check_write(
        actor, workspace_id, values.get("team_id"), f"recording a {values['kind']}", where="on the team"
    )
    retro = Retrospective(workspace_id=workspace_id, **values)
    created: Retrospective = records.created(
        session, actor, retro, entity_type="retrospective", workspace_id=workspace_id
    )
    return created


def update_retro(
    session: Session,
    actor: Actor,
    retro_id: int,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> Retrospective:
    retro = get_retro(session, actor, retro_id)
    validate.check_write(actor, retro.workspace_id, retro.team_id, f"editing a {retro.kind}", where="on the team")
    values = _clean_retro(session, retro.workspace_id, changes, partial=True)
    merged = {name: getattr(retro, name) for name in RETRO_FIELDS} | values
    _check_postmortem(merged)
    if "team_id" in values:
        validate.check_write(
            actor, retro.workspace_id, values["team_id"], f"moving a {retro.kind} to that team", where="on the team"
        )
    updated: Retrospective = records.update(
        session,
        actor,
        retro,
        entity_type="retrospective",
        changes=values,
        allowed=RETRO_FIELDS,
        expected_version=expected_version,
        workspace_id=retro.workspace_id,
    )
    return updated


# ------------------------------------------------------------------ action items


def actions_of(session: Session, actor: Actor, retro_id: int) -> list[ActionItem]:
    get_retro(session, actor, retro_id)
    return list(
        session.scalars(select(ActionItem).where(ActionItem.retrospective_id == retro_id).order_by(ActionItem.id))
    )


def get_action(session: Session, actor: Actor, action_id: int) -> tuple[ActionItem, Retrospective]:
    action = session.get(ActionItem, action_id)
    if action is None:
        raise NotFoundError(f"action item {action_id} does not exist")
    try:
        retro = get_retro(session, actor, action.retrospective_id)
    except NotFoundError:
        raise NotFoundError(f"action item {action_id} does not exist") from None
    return action, retro


def _clean_action(session: Session, workspace_id: int, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    unknown = set(data) - set(ACTION_FIELDS)
    if unknown:
        raise InvalidInputError(f"unknown field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    out: dict[str, Any] = {}
    if "title" in data or not partial:
        out["title"] = validate.text(data.get("title"), "title", 300, separate_messages=True)
    if "owner_person_id" in data or not partial:
        owner = _id(data.get("owner_person_id"), "owner_person_id")
        if owner is None and not partial:
            raise InvalidInputError("an action item has an owner (owner_person_id)", field="owner_person_id")
        _in_workspace(session, Person, owner, workspace_id, "person", "owner_person_id")
        out["owner_person_id"] = owner
    if "due_on" in data or not partial:
        out["due_on"] = validate.day(data.get("due_on"), "due_on", report_missing=True)
    if "status" in data or not partial:
        status = data.get("status") or "open"
        if status not in ACTION_STATUSES:
            raise InvalidInputError(f"status is one of {', '.join(ACTION_STATUSES)}, not {status!r}", field="status")
        out["status"] = status
    if "playbook_url" in data or not partial:
        out["playbook_url"] = _playbook(data.get("playbook_url"))
    return out


def add_action(session: Session, actor: Actor, retro_id: int, data: Mapping[str, Any]) -> ActionItem:
    """Add an owned action item (title, owner, due date, optional playbook link) to a retrospective."""
    retro = get_retro(session, actor, retro_id)
    validate.check_write(actor, retro.workspace_id, retro.team_id, "adding an action item", where="on the team")
    values = _clean_action(session, retro.workspace_id, data, partial=False)
    action = ActionItem(retrospective_id=retro.id, **values)
    created: ActionItem = records.created(
        session, actor, action, entity_type="action_item", workspace_id=retro.workspace_id
    )
    return created


def update_action(
    session: Session,
    actor: Actor,
    action_id: int,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> ActionItem:
    """Change an action item: close it (``status`` done or dropped), reassign it, move its due date."""
    action, retro = get_action(session, actor, action_id)
    validate.check_write(actor, retro.workspace_id, retro.team_id, "changing an action item", where="on the team")
    values = _clean_action(session, retro.workspace_id, changes, partial=True)
    if "owner_person_id" in values and values["owner_person_id"] is None:
        raise InvalidInputError("an action item keeps an owner", field="owner_person_id")
    updated: ActionItem = records.update(
        session,
        actor,
        action,
        entity_type="action_item",
        changes=values,
        allowed=ACTION_FIELDS,
        expected_version=expected_version,
        workspace_id=retro.workspace_id,
    )
    return updated


@dataclass(frozen=True)
class OverdueAction:
    action: ActionItem
    retrospective: Retrospective
    owner: str
    days_overdue: int


def overdue_actions(
    session: Session, actor: Actor, workspace_id: int, now: date | datetime, *, team_id: int | None = None
) -> list[OverdueAction]:
    """Open action items past their due date, the longest overdue first."""
    get_workspace(session, actor, workspace_id)
    today = now.date() if isinstance(now, datetime) else now
    q = (
        select(ActionItem, Retrospective)
        .join(Retrospective, Retrospective.id == ActionItem.retrospective_id)
        .where(
            Retrospective.workspace_id == workspace_id,
            ActionItem.status == "open",
            ActionItem.due_on.is_not(None),
            ActionItem.due_on < today,
        )
    )
    if team_id is not None:
        q = q.where(Retrospective.team_id == team_id)
    rows = session.execute(q.order_by(ActionItem.due_on, ActionItem.id)).all()
    names = owner_names(session, [a.owner_person_id for a, _r in rows])
    return [
        OverdueAction(
            action=a,
            retrospective=r,
            owner=names.get(a.owner_person_id or 0, ""),
            days_overdue=(today - a.due_on).days if a.due_on else 0,
        )
        for a, r in rows
    ]


def owner_names(session: Session, person_ids: Sequence[int | None]) -> dict[int, str]:
    ids = sorted({p for p in person_ids if p is not None})
    if not ids:
        return {}
    return {p.id: p.name for p in session.scalars(select(Person).where(Person.id.in_(ids)))}
