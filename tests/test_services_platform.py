"""Platform services on both engines: tenancy rules, login throttling, audit log guarantees, demo."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from okrflow.domain.access import SYSTEM_ACTOR, Role
from okrflow.domain.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
    StaleVersionError,
    ThrottledError,
)
from okrflow.services import audit, auth, demo, tenancy
from okrflow.store.models import AuditEntry, LoginSession, Team, User
from tests.conftest import ADMIN_PASSWORD


def _actor(db, username):
    with db.read() as s:
        user = s.scalar(select(User).where(User.username == username))
        return auth.actor_for_user(s, user)


def test_team_cycle_is_rejected_with_a_clear_message(db, admin_setup, admin_actor):
    ws = admin_setup.workspace_id
    with db.write() as s:
        a = tenancy.create_team(s, admin_actor, ws, "a", "A")
        b = tenancy.create_team(s, admin_actor, ws, "b", "B", parent_id=a.id)
        c = tenancy.create_team(s, admin_actor, ws, "c", "C", parent_id=b.id)
    with pytest.raises(InvalidInputError, match="below itself"), db.write() as s:
        tenancy.update_team(s, admin_actor, a.id, {"parent_id": c.id})
    with pytest.raises(InvalidInputError, match="below itself"), db.write() as s:
        tenancy.update_team(s, admin_actor, a.id, {"parent_id": a.id})
    with db.read() as s:
        assert s.get(Team, a.id).parent_id is None


def test_contributor_edits_own_team_only(db, admin_setup, admin_actor):
    ws = admin_setup.workspace_id
    with db.write() as s:
        pay = tenancy.create_team(s, admin_actor, ws, "payments", "Payments")
        chk = tenancy.create_team(s, admin_actor, ws, "checkout", "Checkout")
        tenancy.create_user(s, SYSTEM_ACTOR, "pm", None, workspace_id=ws, role="contributor", team_id=pay.id)
    pm = _actor(db, "pm")
    with db.write() as s:
        tenancy.update_team(s, pm, pay.id, {"description": "cards and wallets"})
        tenancy.create_person(s, pm, ws, "Lena", "lena@x.io", team_id=pay.id)
    with pytest.raises(PermissionDeniedError, match="contributor role on this team"), db.write() as s:
        tenancy.update_team(s, pm, chk.id, {"description": "not mine"})
    with pytest.raises(PermissionDeniedError, match="admin"), db.write() as s:
        tenancy.update_team(s, pm, pay.id, {"parent_id": chk.id})  # moving teams is for admins
    with pytest.raises(PermissionDeniedError), db.write() as s:
        tenancy.create_team(s, pm, ws, "mine", "Mine")


def test_last_admin_cannot_be_removed(db, admin_setup, admin_actor):
    with db.read() as s:
        (m,) = tenancy.list_memberships(s, admin_actor, admin_setup.workspace_id)
    with pytest.raises(ConflictError, match="last admin"), db.write() as s:
        tenancy.update_membership(s, admin_actor, m.id, "viewer")
    with pytest.raises(ConflictError, match="last admin"), db.write() as s:
        tenancy.delete_membership(s, admin_actor, m.id)


def test_duplicate_slug_and_bad_input(db, admin_setup, admin_actor):
    ws = admin_setup.workspace_id
    with db.write() as s:
        tenancy.create_team(s, admin_actor, ws, "payments", "Payments")
    with pytest.raises(ConflictError, match="exists already"), db.write() as s:
        tenancy.create_team(s, admin_actor, ws, "payments", "Payments 2")
    with pytest.raises(InvalidInputError, match="not a valid slug"), db.write() as s:
        tenancy.create_team(s, admin_actor, ws, "Pay Ments!", "x")
    with pytest.raises(InvalidInputError, match="e-mail"), db.write() as s:
        tenancy.create_person(s, admin_actor, ws, "X", "not-an-email")


def test_stale_version_is_refused(db, admin_setup, admin_actor):
    with db.write() as s:
        team = tenancy.create_team(s, admin_actor, admin_setup.workspace_id, "t", "T")
    with db.write() as s:
        tenancy.update_team(s, admin_actor, team.id, {"name": "T2"}, expected_version=1)
    with pytest.raises(StaleVersionError, match="version 1, the current one is 2"), db.write() as s:
        tenancy.update_team(s, admin_actor, team.id, {"name": "T3"}, expected_version=1)


def test_login_throttling_locks_after_repeated_failures_then_recovers(db, admin_setup):
    now = auth.now_utc()
    policy = auth.ThrottlePolicy(max_failures=3, window=timedelta(minutes=15), lockout=timedelta(minutes=10))
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            auth.login_attempt(db, "admin", "wrong-password", client_ip="10.0.0.1", now=now, policy=policy)
    # Locked: even the right password is refused, with the time to wait.
    with pytest.raises(ThrottledError, match="too many failed logins") as exc:
        auth.login_attempt(db, "admin", ADMIN_PASSWORD, client_ip="10.0.0.2", now=now, policy=policy)
    assert 0 < exc.value.retry_after_seconds <= 601
    later = now + timedelta(minutes=11)
    user, _row, secret = auth.login_attempt(db, "admin", ADMIN_PASSWORD, client_ip="10.0.0.2", now=later, policy=policy)
    assert user.username == "admin"
    with db.read() as s:
        assert auth.session_for_cookie(s, secret, now=later) is not None
        assert auth.session_for_cookie(s, secret, now=later + auth.SESSION_LIFETIME) is None
        assert s.scalar(select(LoginSession.token_hash)) != secret  # only a hash is stored


def test_unknown_user_and_wrong_password_look_the_same(db, admin_setup):
    with pytest.raises(AuthenticationError) as a:
        auth.login_attempt(db, "nobody", "whatever-pass")
    with pytest.raises(AuthenticationError) as b:
        auth.login_attempt(db, "admin", "whatever-pass")
    assert a.value.message == b.value.message


def test_audit_log_is_append_only_in_the_database(db, admin_setup):
    with pytest.raises(Exception, match="append-only"), db.write() as s:
        s.execute(text("UPDATE audit_entries SET actor = 'mallory'"))
    with pytest.raises(Exception, match="append-only"), db.write() as s:
        s.execute(text("DELETE FROM audit_entries"))
    with db.read() as s:
        assert audit.verify(s).ok


def test_audit_entries_have_before_after_and_no_secrets(db, admin_setup, admin_actor):
    with db.write() as s:
        team = tenancy.create_team(s, admin_actor, admin_setup.workspace_id, "t", "Old")
        tenancy.update_team(s, admin_actor, team.id, {"name": "New"})
    with db.read() as s:
        upd, crt = audit.history(s, admin_actor, workspace_id=admin_setup.workspace_id, entity_type="team")
        assert (upd.action, upd.before["name"], upd.after["name"]) == ("update", "Old", "New")
        assert upd.actor == "user:admin" and crt.action == "create"
        user_entry = s.scalars(select(AuditEntry).where(AuditEntry.entity_type == "user")).first()
        assert "password_hash" not in user_entry.after


def test_concurrent_writers_never_fork_the_audit_chain(db, admin_setup, admin_actor):
    ws = admin_setup.workspace_id
    errors: list[Exception] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                with db.write() as s:
                    tenancy.create_team(s, admin_actor, ws, f"w{n}-{i}", f"Team {n}/{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with db.read() as s:
        verdict = audit.verify(s)
        assert verdict.ok, verdict.reason
        assert s.scalar(select(func.count()).select_from(Team)) == 20


def test_demo_builds_and_refuses_to_overwrite(db):
    summary = demo.build(db, password="demo-password-1")
    assert summary.people == 20 and len(summary.teams) >= 4
    with pytest.raises(ConflictError, match="--force"):
        demo.build(db)
    again = demo.build(db, force=True, password="demo-password-2")
    user, _, _ = auth.login_attempt(db, "demo", again.admin_password)
    with db.read() as s:
        actor = auth.actor_for_user(s, user)
        (ws,) = tenancy.list_workspaces(s, actor)
        assert actor.role_in(ws.id) is Role.ADMIN
        assert len(tenancy.list_people(s, actor, ws.id)) == 20
        assert audit.verify(s).ok
