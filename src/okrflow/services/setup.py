"""First-run setup: schema, the first admin account, the first workspace."""

from __future__ import annotations

from dataclasses import dataclass

from okrflow.domain.access import SYSTEM_ACTOR, Actor, Role
from okrflow.domain.errors import ConflictError
from okrflow.services import tenancy
from okrflow.store import migrate
from okrflow.store.db import Database


@dataclass(frozen=True)
class SetupResult:
    user_id: int
    username: str
    workspace_id: int
    workspace_slug: str
    schema_revision: str | None


def initialize(
    db: Database,
    *,
    admin_username: str,
    admin_password: str,
    workspace_slug: str,
    workspace_name: str,
    admin_email: str | None = None,
    actor: Actor = SYSTEM_ACTOR,
) -> SetupResult:
    """Upgrade the schema, then create a superuser who is admin of a new workspace, in one transaction."""
    _, revision = migrate.upgrade(db)
    with db.write() as s:
        if tenancy.user_by_username(s, admin_username.strip()) is not None:
            raise ConflictError(f"the username {admin_username!r} is taken; this database seems initialised already")
        user = tenancy.create_user(
            s, actor, admin_username, admin_password, email=admin_email, display_name=admin_username, is_superuser=True
        )
        ws = tenancy.create_workspace(s, actor, workspace_slug, workspace_name)
        tenancy.create_membership(s, actor, ws.id, user.id, Role.ADMIN.value)
        return SetupResult(user.id, user.username, ws.id, ws.slug, revision)
