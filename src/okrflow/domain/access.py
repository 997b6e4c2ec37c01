"""Roles, token scopes and the rules that combine them (least privilege).

A *membership* gives a user a role in a workspace, either workspace-wide (``team_id`` is ``None``) or on one
team, where it also covers the team's descendant teams. The effective role on a team is the highest role of
the memberships that cover it. An API token further limits what its user may do by its scopes: the
effective permission is the lower of role and scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class Role(StrEnum):
    """A role in a workspace or team."""

    VIEWER = "viewer"  # read everything in the workspace
    CONTRIBUTOR = "contributor"  # write within the teams the membership covers
    ADMIN = "admin"  # everything in the workspace

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Role.VIEWER: 1, Role.CONTRIBUTOR: 2, Role.ADMIN: 3}


class Scope(StrEnum):
    """What an API token may be used for."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class Permission(IntEnum):
    """What an action needs. Ordered: ADMIN implies WRITE implies READ."""

    READ = 1
    WRITE = 2
    ADMIN = 3


ROLE_PERMISSION: Mapping[Role, Permission] = {
    Role.VIEWER: Permission.READ,
    Role.CONTRIBUTOR: Permission.WRITE,
    Role.ADMIN: Permission.ADMIN,
}

SCOPE_PERMISSION: Mapping[Scope, Permission] = {
    Scope.READ: Permission.READ,
    Scope.WRITE: Permission.WRITE,
    Scope.ADMIN: Permission.ADMIN,
}


def parse_scopes(text: str | Iterable[str]) -> frozenset[Scope]:
    """Parse ``"read,write"`` (or an iterable of names) into scopes; unknown names raise ``ValueError``."""
    names = text.split(",") if isinstance(text, str) else list(text)
    scopes = set()
    for name in names:
        name = name.strip().lower()
        if not name:
            continue
        try:
            scopes.add(Scope(name))
        except ValueError:
            allowed = ", ".join(s.value for s in Scope)
            raise ValueError(f"unknown scope {name!r}; use one or more of: {allowed}") from None
    if not scopes:
        raise ValueError("at least one scope is needed (read, write or admin)")
    return frozenset(scopes)


@dataclass(frozen=True)
class Grant:
    """One membership as the rules see it."""

    workspace_id: int
    role: Role
    team_id: int | None = None


@dataclass(frozen=True)
class Actor:
    """Who is acting, with everything needed to decide what they may do.

    ``scopes`` is ``None`` for a password session or the local CLI (no token limit). ``is_system`` marks the
    local operator (CLI, imports) who holds the database itself and may do everything.
    """

    label: str
    user_id: int | None = None
    is_superuser: bool = False
    is_system: bool = False
    grants: tuple[Grant, ...] = ()
    scopes: frozenset[Scope] | None = None
    # team id -> parent team id, for the workspaces the actor is a member of
    team_parents: Mapping[int, int | None] = field(default_factory=dict)

    def scope_allows(self, needed: Permission) -> bool:
        if self.scopes is None:
            return True
        return any(SCOPE_PERMISSION[s] >= needed for s in self.scopes)

    def role_in(self, workspace_id: int, team_id: int | None = None) -> Role | None:
        """Highest role in the workspace, or on the team (counting ancestor teams and workspace-wide grants).

        With ``team_id=None`` only workspace-wide grants count for write/admin, but any grant in the
        workspace allows reading it.
        """
        covering = _ancestors(team_id, self.team_parents) if team_id is not None else set()
        best: Role | None = None
        for g in self.grants:
            if g.workspace_id != workspace_id:
                continue
            covers = g.team_id is None or g.team_id in covering
            if covers and (best is None or g.role.rank > best.rank):
                best = g.role
        return best

    def is_member_of(self, workspace_id: int) -> bool:
        return self.is_superuser or self.is_system or any(g.workspace_id == workspace_id for g in self.grants)

    def can(
        self,
        needed: Permission,
        workspace_id: int,
        team_id: int | None = None,
        *,
        scope: Permission | None = None,
    ) -> bool:
        """May this actor do something needing ``needed`` in the workspace (on the team, if given)?

        The token scope must allow ``scope`` (by default the same as ``needed``; reading the audit log, for
        example, needs the admin role but only the read scope).
        """
        if not self.scope_allows(needed if scope is None else scope):
            return False
        if self.is_system or self.is_superuser:
            return True
        if needed is Permission.READ:
            return self.is_member_of(workspace_id)
        role = self.role_in(workspace_id, team_id)
        return role is not None and ROLE_PERMISSION[role] >= needed


def _ancestors(team_id: int, parents: Mapping[int, int | None]) -> set[int]:
    """The team and all teams above it (cycle-safe)."""
    seen: set[int] = set()
    current: int | None = team_id
    while current is not None and current not in seen:
        seen.add(current)
        current = parents.get(current)
    return seen


SYSTEM_ACTOR = Actor(label="system", is_system=True)


def cli_actor(os_user: str) -> Actor:
    """The local operator running the CLI: holds the database file, so may do everything."""
    return Actor(label=f"cli:{os_user}", is_system=True)
