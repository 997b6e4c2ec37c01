"""Workspaces, teams (nested), people, user accounts and memberships, with least-privilege checks.

Rules (see docs/security.md):
- a workspace is created by a superuser (or the local CLI); its creator becomes its admin;
- workspace admins manage teams, people, users of their workspace and memberships;
- a contributor may edit the teams its membership covers and the people in them;
- every member (viewer and up) may read the whole workspace.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor, Permission, Role
from okrflow.domain.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from okrflow.services import records
from okrflow.services.auth import hash_password
from okrflow.store.models import Membership, Person, Team, User, Workspace

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TEAM_KINDS = ("product", "platform", "enabling", "complicated-subsystem", "leadership", "other")


def _require(actor: Actor, needed: Permission, workspace_id: int, team_id: int | None = None, what: str = "") -> None:
    if actor.can(needed, workspace_id, team_id):
        return
    if not actor.scope_allows(needed):
        raise PermissionDeniedError(f"this token's scopes do not allow {what or 'this action'}")
    role = {Permission.READ: "viewer", Permission.WRITE: "contributor", Permission.ADMIN: "admin"}[needed]
    where = "on this team" if team_id is not None and needed is Permission.WRITE else "in this workspace"
    raise PermissionDeniedError(f"{what or 'this action'} needs the {role} role {where}")


def _check_slug(slug: str, field: str = "slug") -> str:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise InvalidInputError(
            f"{slug!r} is not a valid {field}: use 1-63 lower-case letters, digits and dashes", field=field
        )
    return slug


def _check_name(name: str, field: str = "name") -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError(f"the {field} must have 1 to 200 characters", field=field)
    return name


def _check_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip()
    if not EMAIL_RE.match(email):
        raise InvalidInputError(f"{email!r} is not an e-mail address", field="email")
    return email


# ------------------------------------------------------------------ workspaces


def list_workspaces(session: Session, actor: Actor) -> list[Workspace]:
    q = select(Workspace).order_by(Workspace.name)
    if not (actor.is_system or actor.is_superuser):
        q = q.where(Workspace.id.in_({g.workspace_id for g in actor.grants}))
    return list(session.scalars(q))


def get_workspace(session: Session, actor: Actor, workspace_id: int) -> Workspace:
    ws = session.get(Workspace, workspace_id)
    if ws is None or not actor.is_member_of(workspace_id):
        raise NotFoundError(f"workspace {workspace_id} does not exist")
    _require(actor, Permission.READ, workspace_id, what="reading this workspace")
    return ws


def workspace_by_slug(session: Session, slug: str) -> Workspace | None:
    return session.scalar(select(Workspace).where(Workspace.slug == slug))


def create_workspace(session: Session, actor: Actor, slug: str, name: str, description: str = "") -> Workspace:
    if not (actor.is_system or actor.is_superuser) or not actor.scope_allows(Permission.ADMIN):
        raise PermissionDeniedError("creating a workspace needs a superuser account (and the admin scope)")
    slug = _check_slug(slug)
    if workspace_by_slug(session, slug):
        raise ConflictError(f"a workspace with slug {slug!r} exists already", field="slug")
    ws = records.created(
        session,
        actor,
        Workspace(slug=slug, name=_check_name(name), description=description or "", settings={}),
        entity_type="workspace",
        workspace_id=None,
    )
    if actor.user_id is not None:
        create_membership(session, actor, ws.id, actor.user_id, Role.ADMIN.value)
    return ws


def update_workspace(
    session: Session, actor: Actor, workspace_id: int, changes: dict[str, Any], expected_version: int | None = None
) -> Workspace:
    ws = get_workspace(session, actor, workspace_id)
    _require(actor, Permission.ADMIN, workspace_id, what="changing the workspace")
    changes = dict(changes)
    if "name" in changes:
        changes["name"] = _check_name(changes["name"])
    if "slug" in changes:
        changes["slug"] = _check_slug(changes["slug"])
        other = workspace_by_slug(session, changes["slug"])
        if other is not None and other.id != ws.id:
            raise ConflictError(f"a workspace with slug {changes['slug']!r} exists already", field="slug")
    if "settings" in changes and not isinstance(changes["settings"], dict):
        raise InvalidInputError("settings must be an object", field="settings")
    return records.update(
        session,
        actor,
        ws,
        entity_type="workspace",
        changes=changes,
        allowed=("name", "slug", "description", "settings"),
        expected_version=expected_version,
        workspace_id=ws.id,
    )


# ------------------------------------------------------------------ teams


def list_teams(session: Session, actor: Actor, workspace_id: int) -> list[Team]:
    get_workspace(session, actor, workspace_id)
    return list(session.scalars(select(Team).where(Team.workspace_id == workspace_id).order_by(Team.name)))


def get_team(session: Session, actor: Actor, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None or not actor.is_member_of(team.workspace_id):
        raise NotFoundError(f"team {team_id} does not exist")
    _require(actor, Permission.READ, team.workspace_id, what="reading this team")
    return team


def team_by_slug(session: Session, workspace_id: int, slug: str) -> Team | None:
    return session.scalar(select(Team).where(Team.workspace_id == workspace_id, Team.slug == slug))


def _check_parent(session: Session, workspace_id: int, team_id: int | None, parent_id: int | None) -> None:
    if parent_id is None:
        return
    parent = session.get(Team, parent_id)
    if parent is None or parent.workspace_id != workspace_id:
        raise InvalidInputError(f"parent team {parent_id} does not exist in this workspace", field="parent_id")
    # Walk up from the new parent: meeting the team itself means the change would make a cycle.
    seen: set[int] = set()
    current: Team | None = parent
    while current is not None and current.id not in seen:
        if team_id is not None and current.id == team_id:
            raise InvalidInputError("a team cannot be placed below itself or one of its sub-teams", field="parent_id")
        seen.add(current.id)
        current = session.get(Team, current.parent_id) if current.parent_id is not None else None


def create_team(
    session: Session,
    actor: Actor,
    workspace_id: int,
    slug: str,
    name: str,
    parent_id: int | None = None,
    kind: str = "product",
    description: str = "",
) -> Team:
    get_workspace(session, actor, workspace_id)
    _require(actor, Permission.ADMIN, workspace_id, what="creating a team")
    slug = _check_slug(slug)
    if kind not in TEAM_KINDS:
        raise InvalidInputError(f"unknown team kind {kind!r}; use one of {', '.join(TEAM_KINDS)}", field="kind")
    if team_by_slug(session, workspace_id, slug):
        raise ConflictError(f"a team with slug {slug!r} exists already in this workspace", field="slug")
    _check_parent(session, workspace_id, None, parent_id)
    team = Team(
        workspace_id=workspace_id,
        slug=slug,
        name=_check_name(name),
        parent_id=parent_id,
        kind=kind,
        description=description or "",
    )
    return records.created(session, actor, team, entity_type="team", workspace_id=workspace_id)


def update_team(
    session: Session, actor: Actor, team_id: int, changes: dict[str, Any], expected_version: int | None = None
) -> Team:
    team = get_team(session, actor, team_id)
    changes = dict(changes)
    # Moving a team in the tree changes who may edit it: only admins may.
    needed = Permission.ADMIN if {"parent_id", "slug"} & set(changes) else Permission.WRITE
    _require(actor, needed, team.workspace_id, team.id, what="changing this team")
    if "name" in changes:
        changes["name"] = _check_name(changes["name"])
    if "slug" in changes:
        changes["slug"] = _check_slug(changes["slug"])
        other = team_by_slug(session, team.workspace_id, changes["slug"])
        if other is not None and other.id != team.id:
            raise ConflictError(f"a team with slug {changes['slug']!r} exists already in this workspace", field="slug")
    if "kind" in changes and changes["kind"] not in TEAM_KINDS:
        raise InvalidInputError(f"unknown team kind {changes['kind']!r}", field="kind")
    if "parent_id" in changes:
        _check_parent(session, team.workspace_id, team.id, changes["parent_id"])
    return records.update(
        session,
        actor,
        team,
        entity_type="team",
        changes=changes,
        allowed=("name", "slug", "kind", "description", "parent_id"),
        expected_version=expected_version,
        workspace_id=team.workspace_id,
    )


def delete_team(session: Session, actor: Actor, team_id: int, expected_version: int | None = None) -> None:
    team = get_team(session, actor, team_id)
    _require(actor, Permission.ADMIN, team.workspace_id, what="deleting a team")
    children = session.scalar(select(func.count()).select_from(Team).where(Team.parent_id == team.id))
    if children:
        raise ConflictError(f"team {team.slug!r} has {children} sub-team(s); move or delete them first")
    records.deleted(
        session, actor, team, entity_type="team", workspace_id=team.workspace_id, expected_version=expected_version
    )


# ------------------------------------------------------------------ people


def list_people(session: Session, actor: Actor, workspace_id: int, team_id: int | None = None) -> list[Person]:
    get_workspace(session, actor, workspace_id)
    q = select(Person).where(Person.workspace_id == workspace_id).order_by(Person.name)
    if team_id is not None:
        q = q.where(Person.team_id == team_id)
    return list(session.scalars(q))


def get_person(session: Session, actor: Actor, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None or not actor.is_member_of(person.workspace_id):
        raise NotFoundError(f"person {person_id} does not exist")
    _require(actor, Permission.READ, person.workspace_id, what="reading people")
    return person


def _check_team_in_ws(session: Session, workspace_id: int, team_id: int | None) -> None:
    if team_id is None:
        return
    team = session.get(Team, team_id)
    if team is None or team.workspace_id != workspace_id:
        raise InvalidInputError(f"team {team_id} does not exist in this workspace", field="team_id")


def _check_unique_email(session: Session, workspace_id: int, email: str | None, person_id: int | None) -> None:
    if email is None:
        return
    other = session.scalar(select(Person).where(Person.workspace_id == workspace_id, Person.email == email))
    if other is not None and other.id != person_id:
        raise ConflictError(f"a person with e-mail {email} exists already in this workspace", field="email")


def create_person(
    session: Session,
    actor: Actor,
    workspace_id: int,
    name: str,
    email: str | None = None,
    title: str = "",
    team_id: int | None = None,
) -> Person:
    get_workspace(session, actor, workspace_id)
    _check_team_in_ws(session, workspace_id, team_id)
    needed = Permission.WRITE if team_id is not None else Permission.ADMIN
    _require(actor, needed, workspace_id, team_id, what="adding a person")
    email = _check_email(email)
    _check_unique_email(session, workspace_id, email, None)
    person = Person(workspace_id=workspace_id, name=_check_name(name), email=email, title=title or "", team_id=team_id)
    return records.created(session, actor, person, entity_type="person", workspace_id=workspace_id)


def update_person(
    session: Session, actor: Actor, person_id: int, changes: dict[str, Any], expected_version: int | None = None
) -> Person:
    person = get_person(session, actor, person_id)
    changes = dict(changes)
    # Edit rights on the team the person is in now, and on the team they move to.
    for team_id in {person.team_id, changes.get("team_id", person.team_id)}:
        needed = Permission.WRITE if team_id is not None else Permission.ADMIN
        _require(actor, needed, person.workspace_id, team_id, what="changing this person")
    if "name" in changes:
        changes["name"] = _check_name(changes["name"])
    if "email" in changes:
        changes["email"] = _check_email(changes["email"])
        _check_unique_email(session, person.workspace_id, changes["email"], person.id)
    if "team_id" in changes:
        _check_team_in_ws(session, person.workspace_id, changes["team_id"])
    return records.update(
        session,
        actor,
        person,
        entity_type="person",
        changes=changes,
        allowed=("name", "email", "title", "team_id"),
        expected_version=expected_version,
        workspace_id=person.workspace_id,
    )


def delete_person(session: Session, actor: Actor, person_id: int, expected_version: int | None = None) -> None:
    person = get_person(session, actor, person_id)
    needed = Permission.WRITE if person.team_id is not None else Permission.ADMIN
    _require(actor, needed, person.workspace_id, person.team_id, what="removing this person")
    records.deleted(
        session,
        actor,
        person,
        entity_type="person",
        workspace_id=person.workspace_id,
        expected_version=expected_version,
    )


# ------------------------------------------------------------------ users


def _admin_workspaces(actor: Actor) -> set[int]:
    return {g.workspace_id for g in actor.grants if g.role is Role.ADMIN and g.team_id is None}


def _visible_user_ids(session: Session, actor: Actor) -> set[int] | None:
    """``None`` = all users. Others see themselves and the members of workspaces they administer."""
    if actor.is_system or actor.is_superuser:
        return None
    ids = {actor.user_id} if actor.user_id is not None else set()
    admin_ws = _admin_workspaces(actor)
    if admin_ws:
        ids |= set(session.scalars(select(Membership.user_id).where(Membership.workspace_id.in_(admin_ws))))
    return ids


def list_users(session: Session, actor: Actor) -> list[User]:
    if not actor.scope_allows(Permission.READ):
        raise PermissionDeniedError("this token's scopes do not allow reading users")
    visible = _visible_user_ids(session, actor)
    q = select(User).order_by(User.username)
    if visible is not None:
        q = q.where(User.id.in_(visible))
    return list(session.scalars(q))


def get_user(session: Session, actor: Actor, user_id: int) -> User:
    visible = _visible_user_ids(session, actor)
    user = session.get(User, user_id)
    if user is None or (visible is not None and user_id not in visible):
        raise NotFoundError(f"user {user_id} does not exist")
    return user


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def create_user(
    session: Session,
    actor: Actor,
    username: str,
    password: str | None,
    *,
    email: str | None = None,
    display_name: str = "",
    is_superuser: bool = False,
    person_id: int | None = None,
    workspace_id: int | None = None,
    role: str | None = None,
    team_id: int | None = None,
) -> User:
    """Create an account. Superusers (and the CLI) may create any; a workspace admin creates accounts
    together with a membership in their workspace (``workspace_id`` and ``role``)."""
    privileged = actor.is_system or actor.is_superuser
    if not actor.scope_allows(Permission.ADMIN):
        raise PermissionDeniedError("creating an account needs the admin scope")
    if not privileged:
        if workspace_id is None or role is None:
            raise PermissionDeniedError("only a superuser may create an account without a workspace membership")
        _require(actor, Permission.ADMIN, workspace_id, what="creating an account")
        if is_superuser:
            raise PermissionDeniedError("only a superuser may create another superuser")
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise InvalidInputError(
            "a username has 2-64 letters, digits or . _ @ - and starts with a letter or digit", field="username"
        )
    if user_by_username(session, username):
        raise ConflictError(f"the username {username!r} is taken", field="username")
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is None or (not privileged and person.workspace_id != workspace_id):
            raise InvalidInputError(f"person {person_id} does not exist", field="person_id")
    user = User(
        username=username,
        email=_check_email(email),
        display_name=(display_name or username).strip()[:200],
        password_hash=hash_password(password) if password else None,
        is_superuser=is_superuser,
        is_active=True,
        person_id=person_id,
    )
    records.created(session, actor, user, entity_type="user", workspace_id=None)
    if workspace_id is not None and role is not None:
        create_membership(session, actor, workspace_id, user.id, role, team_id)
    return user


def update_user(
    session: Session, actor: Actor, user_id: int, changes: dict[str, Any], expected_version: int | None = None
) -> User:
    user = get_user(session, actor, user_id)
    changes = dict(changes)
    privileged = actor.is_system or actor.is_superuser
    is_self = actor.user_id == user.id
    admin_ws = _admin_workspaces(actor)
    if not actor.scope_allows(Permission.WRITE):
        raise PermissionDeniedError("this token's scopes do not allow changing accounts")
    if "is_superuser" in changes and not privileged:
        raise PermissionDeniedError("only a superuser may grant or remove superuser rights")
    if not (privileged or is_self):
        # A workspace admin may (de)activate and rename accounts of their members, never set passwords.
        if not admin_ws or not actor.scope_allows(Permission.ADMIN):
            raise PermissionDeniedError("you can change only your own account")
        if "password" in changes:
            raise PermissionDeniedError("only the account owner or a superuser may set a password")
    if is_self and changes.get("is_active") is False:
        raise InvalidInputError("you cannot deactivate your own account", field="is_active")
    if "password" in changes:
        changes["password_hash"] = hash_password(str(changes.pop("password")))
    if "email" in changes:
        changes["email"] = _check_email(changes["email"])
    if "display_name" in changes:
        changes["display_name"] = _check_name(changes["display_name"], "display name")
    if changes.get("person_id") is not None:
        person = session.get(Person, changes["person_id"])
        if person is None or not actor.is_member_of(person.workspace_id):
            raise InvalidInputError(f"person {changes['person_id']} does not exist", field="person_id")
    return records.update(
        session,
        actor,
        user,
        entity_type="user",
        changes=changes,
        allowed=("email", "display_name", "is_active", "is_superuser", "password_hash", "person_id"),
        expected_version=expected_version,
        workspace_id=None,
    )


# ------------------------------------------------------------------ memberships


def _parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidInputError(f"unknown role {role!r}; use viewer, contributor or admin", field="role") from None


def list_memberships(session: Session, actor: Actor, workspace_id: int) -> list[Membership]:
    get_workspace(session, actor, workspace_id)
    return list(
        session.scalars(select(Membership).where(Membership.workspace_id == workspace_id).order_by(Membership.id))
    )


def get_membership(session: Session, actor: Actor, membership_id: int) -> Membership:
    m = session.get(Membership, membership_id)
    if m is None or not actor.is_member_of(m.workspace_id):
        raise NotFoundError(f"membership {membership_id} does not exist")
    return m


def create_membership(
    session: Session, actor: Actor, workspace_id: int, user_id: int, role: str, team_id: int | None = None
) -> Membership:
    if session.get(Workspace, workspace_id) is None or not actor.is_member_of(workspace_id):
        raise NotFoundError(f"workspace {workspace_id} does not exist")
    fresh_workspace = not session.scalar(
        select(func.count()).select_from(Membership).where(Membership.workspace_id == workspace_id)
    )
    # The creator of a workspace becomes its first admin; after that only admins grant roles.
    if not (fresh_workspace and actor.user_id == user_id and actor.is_superuser):
        _require(actor, Permission.ADMIN, workspace_id, what="granting a role")
    parsed = _parse_role(role)
    if session.get(User, user_id) is None:
        raise InvalidInputError(f"user {user_id} does not exist", field="user_id")
    _check_team_in_ws(session, workspace_id, team_id)
    dup = session.scalar(
        select(Membership).where(
            Membership.user_id == user_id,
            Membership.workspace_id == workspace_id,
            Membership.team_id.is_(None) if team_id is None else Membership.team_id == team_id,
        )
    )
    if dup is not None:
        raise ConflictError(f"user {user_id} has a membership here already (id {dup.id}); change its role instead")
    m = Membership(user_id=user_id, workspace_id=workspace_id, team_id=team_id, role=parsed.value)
    return records.created(session, actor, m, entity_type="membership", workspace_id=workspace_id)


def _admins_left(session: Session, workspace_id: int, excluding: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(
                Membership.workspace_id == workspace_id,
                Membership.team_id.is_(None),
                Membership.role == Role.ADMIN.value,
                Membership.id != excluding,
            )
        )
        or 0
    )


def update_membership(
    session: Session, actor: Actor, membership_id: int, role: str, expected_version: int | None = None
) -> Membership:
    m = get_membership(session, actor, membership_id)
    _require(actor, Permission.ADMIN, m.workspace_id, what="changing a role")
    parsed = _parse_role(role)
    demoting_admin = m.role == Role.ADMIN.value and m.team_id is None and parsed is not Role.ADMIN
    if demoting_admin and not _admins_left(session, m.workspace_id, m.id):
        raise ConflictError("this is the last admin of the workspace; make someone else admin first")
    return records.update(
        session,
        actor,
        m,
        entity_type="membership",
        changes={"role": parsed.value},
        allowed=("role",),
        expected_version=expected_version,
        workspace_id=m.workspace_id,
    )


def delete_membership(session: Session, actor: Actor, membership_id: int, expected_version: int | None = None) -> None:
    m = get_membership(session, actor, membership_id)
    _require(actor, Permission.ADMIN, m.workspace_id, what="removing a role")
    if m.role == Role.ADMIN.value and m.team_id is None and not _admins_left(session, m.workspace_id, m.id):
        raise ConflictError("this is the last admin of the workspace; make someone else admin first")
    records.deleted(
        session, actor, m, entity_type="membership", workspace_id=m.workspace_id, expected_version=expected_version
    )
