"""Shared steps of every edit: version check (optimistic locking), field changes, audit entry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from okrflow.domain.access import Actor
from okrflow.domain.errors import InvalidInputError, NotFoundError, StaleVersionError
from okrflow.services import audit

T = TypeVar("T")


def get_or_404(session: Session, model: type[T], entity_id: int, label: str) -> T:
    obj = session.get(model, entity_id)
    if obj is None:
        raise NotFoundError(f"{label} {entity_id} does not exist")
    return obj


def check_version(obj: Any, expected_version: int | None, label: str) -> None:
    """Refuse an edit made on an old version (``If-Match``); ``None`` means the caller did not say."""
    if expected_version is not None and obj.version != expected_version:
        raise StaleVersionError(
            f"{label} {obj.id} was changed by someone else (you edited version {expected_version}, "
            f"the current one is {obj.version}); reload it and apply your change again",
            current_version=obj.version,
        )


def flush_versioned(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise StaleVersionError(
            "someone else changed this record meanwhile; reload it and apply your change again"
        ) from exc


def update(
    session: Session,
    actor: Actor,
    obj: Any,
    *,
    entity_type: str,
    changes: Mapping[str, Any],
    allowed: Iterable[str],
    expected_version: int | None,
    workspace_id: int | None,
) -> Any:
    """Apply ``changes`` (only ``allowed`` fields) to ``obj`` under optimistic locking and audit it."""
    allowed = set(allowed)
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInputError(
            f"cannot change {', '.join(sorted(unknown))} of a {entity_type}", field=sorted(unknown)[0]
        )
    check_version(obj, expected_version, entity_type)
    before = audit.snapshot(obj)
    for key, value in changes.items():
        setattr(obj, key, value)
    flush_versioned(session)
    after = audit.snapshot(obj)
    if before != after:
        audit.record(
            session, actor, "update", entity_type, obj.id, workspace_id=workspace_id, before=before, after=after
        )
    return obj


def created(session: Session, actor: Actor, obj: Any, *, entity_type: str, workspace_id: int | None) -> Any:
    session.add(obj)
    session.flush()
    audit.record(session, actor, "create", entity_type, obj.id, workspace_id=workspace_id, after=audit.snapshot(obj))
    return obj


def deleted(
    session: Session,
    actor: Actor,
    obj: Any,
    *,
    entity_type: str,
    workspace_id: int | None,
    expected_version: int | None,
) -> None:
    if hasattr(obj, "version"):
        check_version(obj, expected_version, entity_type)
    before = audit.snapshot(obj)
    session.delete(obj)
    flush_versioned(session)
    audit.record(session, actor, "delete", entity_type, before["id"], workspace_id=workspace_id, before=before)
