"""Role and scope rules (pure): least privilege, team nesting, scopes cap roles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okrflow.domain.access import Actor, Grant, Permission, Role, Scope, parse_scopes

# team tree: 1 > 2 > 3, and 4 separate; workspace 10
PARENTS = {1: None, 2: 1, 3: 2, 4: None}


def actor(*grants: Grant, scopes: frozenset[Scope] | None = None) -> Actor:
    return Actor(label="user:t", user_id=1, grants=grants, scopes=scopes, team_parents=PARENTS)


def test_viewer_reads_but_never_writes():
    a = actor(Grant(10, Role.VIEWER))
    assert a.can(Permission.READ, 10)
    assert not a.can(Permission.WRITE, 10, 1)
    assert not a.can(Permission.ADMIN, 10)


def test_team_contributor_writes_own_team_and_subteams_only():
    a = actor(Grant(10, Role.CONTRIBUTOR, team_id=2))
    assert a.can(Permission.WRITE, 10, 2)
    assert a.can(Permission.WRITE, 10, 3)  # sub-team
    assert not a.can(Permission.WRITE, 10, 1)  # parent team
    assert not a.can(Permission.WRITE, 10, 4)  # unrelated team
    assert not a.can(Permission.WRITE, 10)  # workspace-level write
    assert a.can(Permission.READ, 10)  # any member reads the workspace


def test_admin_of_one_workspace_is_nothing_in_another():
    a = actor(Grant(10, Role.ADMIN))
    assert a.can(Permission.ADMIN, 10)
    assert not a.can(Permission.READ, 11)
    assert not a.is_member_of(11)


def test_team_admin_is_not_workspace_admin():
    a = actor(Grant(10, Role.ADMIN, team_id=1))
    assert a.can(Permission.ADMIN, 10, 3)
    assert not a.can(Permission.ADMIN, 10)


def test_scope_caps_role():
    a = actor(Grant(10, Role.ADMIN), scopes=frozenset({Scope.READ}))
    assert a.can(Permission.READ, 10)
    assert not a.can(Permission.WRITE, 10, 1)
    assert a.can(Permission.ADMIN, 10, scope=Permission.READ)  # admin reads (e.g. the audit log) with a read token


def test_cycle_in_team_parents_does_not_hang():
    a = Actor(label="x", grants=(Grant(10, Role.CONTRIBUTOR, team_id=7),), team_parents={5: 6, 6: 5})
    assert not a.can(Permission.WRITE, 10, 5)


def test_parse_scopes():
    assert parse_scopes("read, write") == {Scope.READ, Scope.WRITE}
    with pytest.raises(ValueError, match="unknown scope 'root'"):
        parse_scopes("read,root")
    with pytest.raises(ValueError, match="at least one scope"):
        parse_scopes(" , ")


roles = st.sampled_from(list(Role))
teams = st.sampled_from([None, 1, 2, 3, 4])
perms = st.sampled_from(list(Permission))
scope_sets = st.one_of(st.none(), st.frozensets(st.sampled_from(list(Scope)), min_size=1))


@given(st.lists(st.tuples(roles, teams), max_size=4), perms, teams, scope_sets)
def test_more_grants_never_take_rights_away(grants, needed, team, scopes):
    """Monotonicity: adding a membership can only add permissions."""
    base = actor(*(Grant(10, r, t) for r, t in grants), scopes=scopes)
    more = actor(*(Grant(10, r, t) for r, t in grants), Grant(10, Role.VIEWER), scopes=scopes)
    if base.can(needed, 10, team):
        assert more.can(needed, 10, team)


@given(st.lists(st.tuples(roles, teams), max_size=4), perms, teams, scope_sets)
def test_narrower_scope_never_allows_more(grants, needed, team, scopes):
    full = actor(*(Grant(10, r, t) for r, t in grants), scopes=None)
    limited = actor(*(Grant(10, r, t) for r, t in grants), scopes=scopes)
    if limited.can(needed, 10, team):
        assert full.can(needed, 10, team)


@given(st.lists(st.tuples(roles, teams), max_size=4), perms, teams)
def test_nobody_acts_outside_their_workspaces(grants, needed, team):
    a = actor(*(Grant(10, r, t) for r, t in grants))
    assert not a.can(needed, 99, team)
