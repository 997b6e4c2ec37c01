"""Backup and restore: round trips within and across engines, refusals, corrupt files, SQLite file copies."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from okrflow.domain.access import cli_actor
from okrflow.domain.errors import ConflictError, IntegrityViolationError, InvalidInputError
from okrflow.services import audit, auth, setup, tenancy
from okrflow.services import backup as service
from okrflow.store import backup as store
from okrflow.store import migrate
from okrflow.store.db import Database
from okrflow.store.models import AuditEntry, Team, Workspace

PG_SERVER_URL = os.environ.get("OKRFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ACTOR = cli_actor("tester")


def populate(db: Database) -> None:
    """A small but varied database: nested teams (one moved under a later team), people, users, a token,
    JSON settings, NULLs, booleans and timestamps."""
    result = setup.initialize(
        db, admin_username="admin", admin_password="correct-horse-battery", workspace_slug="acme", workspace_name="Acme"
    )
    ws_id = result.workspace_id
    with db.write() as s:
        child = tenancy.create_team(s, ACTOR, ws_id, "checkout", "Checkout")
        parent = tenancy.create_team(s, ACTOR, ws_id, "product", "Product", kind="leadership")
        # The child's id is lower than its parent's: restore must insert the parent first.
        tenancy.update_team(s, ACTOR, child.id, {"parent_id": parent.id})
        tenancy.update_workspace(s, ACTOR, ws_id, {"settings": {"north_star": "gmv", "weights": [1, 2.5], "x": None}})
        person = tenancy.create_person(s, ACTOR, ws_id, "Ada Lovelace", "ada@example.com", team_id=child.id)
        tenancy.create_user(
            s, ACTOR, "ada", "another-secret-pw", email="ada@example.com", person_id=person.id,
            workspace_id=ws_id, role="contributor", team_id=child.id,
        )  # fmt: skip
        token, _ = auth.create_token(s, ACTOR, result.user_id, "ci", "read,write")
        auth.revoke_token(s, ACTOR, token.id)
        tenancy.create_user(s, ACTOR, "robot", None)
    populate_okr(db, ws_id)


def populate_okr(db: Database, ws_id: int) -> None:
    """Rows with a foreign-key cycle between tables (objective -> key result -> objective), dates and floats,
    written straight through the models so the test does not depend on the OKR services."""
    from okrflow.store import models_okr as m

    at = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    with db.write() as s:
        year = m.Period(
            workspace_id=ws_id, name="2026", kind="annual", start_date=date(2026, 1, 1), end_date=date(2026, 12, 31)
        )
        s.add(year)
        s.flush()
        q1 = m.Period(
            workspace_id=ws_id,
            parent_id=year.id,
            name="2026-Q1",
            kind="quarter",
            start_date=date(2026, 1, 1),
            end_date=date(2026, 3, 31),
        )
        metric = m.Metric(workspace_id=ws_id, key="conversion", current_version=1)
        s.add_all([q1, metric])
        s.flush()
        s.add(
            m.MetricVersion(
                metric_id=metric.id, number=1, name="Conversion", author="cli:tester", thresholds={"warn": 0.02}
            )
        )
        s.add(
            m.MetricValue(
                metric_id=metric.id,
                at=at,
                value=0.031,
                dimensions={"country": "DE"},
                dimension_key="country=DE",
                metric_version=1,
            )
        )
        # The aligned (child) objective is written first, so its id is lower than the key result it points to.
        child = m.Objective(workspace_id=ws_id, period_id=q1.id, title="Faster checkout")
        parent = m.Objective(workspace_id=ws_id, period_id=year.id, title="Grow revenue")
        s.add_all([child, parent])
        s.flush()
        kr = m.KeyResult(
            objective_id=parent.id,
            title="Conversion to 3.5%",
            direction="increase",
            baseline=0.028,
            target=0.035,
            milestones=[],
            metric_id=metric.id,
            metric_dimensions={},
        )
        s.add(kr)
        s.flush()
        child.aligned_to_kr_id = kr.id
        s.add(m.CheckIn(key_result_id=kr.id, at=at, value=0.031, confidence=0.7, note="on track", author="cli:tester"))


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Factory of brand-new, empty (unmigrated) databases: ``fresh_url("sqlite")`` or ``("postgresql")``."""
    created: list[str] = []
    admin = None

    def make(kind: str) -> str:
        nonlocal admin
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'fresh-{uuid.uuid4().hex[:6]}.db'}"
        name = f"okrflow_bk_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        try:
            admin = admin or create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                raise
            pytest.skip(f"PostgreSQL not reachable: {exc}")
        created.append(name)
        return make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    if admin is not None:
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def open_db() -> Iterator[Callable[[str], Database]]:
    opened: list[Database] = []

    def make(url: str) -> Database:
        db = Database(url)
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.dispose()


def tables_of(path: Path) -> dict[str, list[list[object]]]:
    doc = json.loads(path.read_text())
    return {name: t["rows"] for name, t in doc["tables"].items()}


def assert_same_plus_restore(a: Path, b: Path) -> None:
    """Every table of backup ``b`` equals ``a``'s, except one extra ``restore`` audit entry at the end."""
    rows_a, rows_b = tables_of(a), tables_of(b)
    assert set(rows_a) == set(rows_b) == {t.name for t in store.tables()}
    for name in rows_a:
        if name == "audit_entries":
            assert rows_b[name][:-1] == rows_a[name]
            columns = json.loads(b.read_text())["tables"][name]["columns"]
            extra = dict(zip(columns, rows_b[name][-1], strict=True))
            assert extra["action"] == "restore"
            assert extra["seq"] == len(rows_a[name]) + 1
        else:
            assert rows_b[name] == rows_a[name], name


def round_trip(source: Database, target: Database, tmp_path: Path) -> None:
    populate(source)
    first = tmp_path / "a.json"
    service.backup(source, first, actor=ACTOR)
    result = service.restore(target, first, actor=ACTOR)
    assert result.total_rows == sum(len(r) for r in tables_of(first).values())
    second = tmp_path / "b.json"
    service.backup(target, second, actor=ACTOR)
    assert_same_plus_restore(first, second)
    with target.read() as s:
        assert audit.verify(s).ok
    # Sequences continue after the restored ids (PostgreSQL) and the restored data is usable.
    with target.write() as s:
        ws = s.scalar(select(Workspace).where(Workspace.slug == "acme"))
        assert ws is not None
        team = tenancy.create_team(s, ACTOR, ws.id, "new-team", "New team")
        assert team.id > max(s.scalars(select(Team.id).where(Team.slug != "new-team")))
    with target.read() as s:
        assert audit.verify(s).ok


def test_round_trip_same_engine(db, fresh_url, open_db, tmp_path):
    round_trip(db, open_db(fresh_url(db.backend)), tmp_path)


def test_round_trip_across_engines(db, fresh_url, open_db, tmp_path):
    other = "postgresql" if db.backend == "sqlite" else "sqlite"
    round_trip(db, open_db(fresh_url(other)), tmp_path)


def test_backup_is_audited_and_describes_itself(db, tmp_path):
    populate(db)
    path = tmp_path / "a.json"
    result = service.backup(db, path, actor=ACTOR)
    doc = json.loads(path.read_text())
    assert doc["format"] == "okrflow-backup" and doc["format_version"] == 1
    assert doc["schema_revision"] == migrate.head_revision() == result.schema_revision
    assert doc["checksum"].startswith("sha256:")
    ws_cols = doc["tables"]["workspaces"]["columns"]
    ws = dict(zip(ws_cols, doc["tables"]["workspaces"]["rows"][0], strict=True))
    assert ws["settings"] == {"north_star": "gmv", "weights": [1, 2.5], "x": None}
    assert ws["created_at"].endswith("+00:00")
    with db.read() as s:
        last = s.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
        assert last is not None and last.action == "backup" and last.actor == "cli:tester"
    with pytest.raises(ConflictError, match="exists already"):
        service.backup(db, path)
    service.backup(db, path, overwrite=True)


def test_restore_refuses_a_non_empty_database_unless_forced(db, fresh_url, open_db, tmp_path):
    populate(db)
    path = tmp_path / "a.json"
    service.backup(db, path, actor=ACTOR)
    target = open_db(fresh_url(db.backend))
    other = setup.initialize(
        target, admin_username="other", admin_password="some-password-1", workspace_slug="other", workspace_name="O"
    )
    populate_okr(target, other.workspace_id)
    with pytest.raises(ConflictError, match="not empty"):
        service.restore(target, path)
    with target.read() as s:
        assert tenancy.workspace_by_slug(s, "other") is not None

    result = service.restore(target, path, force=True, actor=ACTOR)
    assert result.replaced_existing
    with target.read() as s:
        assert tenancy.workspace_by_slug(s, "other") is None
        assert tenancy.workspace_by_slug(s, "acme") is not None
        assert audit.verify(s).ok
    again = tmp_path / "b.json"
    service.backup(target, again)
    assert_same_plus_restore(path, again)


def _rewrite(path: Path, edit: Callable[[dict], None]) -> None:
    """Edit a backup and recompute its checksum (a forger who knows the format)."""
    doc = json.loads(path.read_text())
    edit(doc)
    checksum = store._Checksum()
    for name, t in doc["tables"].items():
        checksum.table(name, t["columns"])
        for row in t["rows"]:
            checksum.row(row)
    doc["checksum"] = checksum.hexdigest()
    path.write_text(json.dumps(doc))


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return store.count_rows(conn)


def test_bad_files_leave_the_target_untouched(db, tmp_path):
    populate(db)
    good = tmp_path / "good.json"
    service.backup(db, good)
    before = _counts(db)

    truncated = tmp_path / "truncated.json"
    truncated.write_text(good.read_text()[:-200])
    edited = tmp_path / "edited.json"
    edited.write_text(good.read_text().replace('"Acme"', '"Evil"', 1))
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"hello": "world"}))
    newer = tmp_path / "newer.json"
    newer.write_text(good.read_text().replace('"format_version": 1', '"format_version": 99', 1))
    other_schema = tmp_path / "schema.json"
    other_schema.write_text(
        good.read_text().replace(f'"schema_revision": "{migrate.head_revision()}"', '"schema_revision": "9999"', 1)
    )
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x00\xff\xfe garbage")
    unknown_table = tmp_path / "unknown.json"
    unknown_table.write_text(good.read_text())
    _rewrite(unknown_table, lambda d: d["tables"].__setitem__("secrets", {"columns": [], "rows": []}))
    forged_audit = tmp_path / "forged.json"
    forged_audit.write_text(good.read_text())

    def forge(doc: dict) -> None:
        t = doc["tables"]["audit_entries"]
        t["rows"][0][t["columns"].index("actor")] = "someone-else"

    _rewrite(forged_audit, forge)
    bad_value = tmp_path / "bad-value.json"
    bad_value.write_text(good.read_text())

    def break_timestamp(doc: dict) -> None:
        t = doc["tables"]["workspaces"]
        t["rows"][0][t["columns"].index("created_at")] = "not a time"

    _rewrite(bad_value, break_timestamp)

    cases = {
        truncated: (IntegrityViolationError, "invalid JSON"),
        edited: (IntegrityViolationError, "checksum"),
        foreign: (InvalidInputError, "not an okrflow backup"),
        newer: (InvalidInputError, "format version 99"),
        other_schema: (InvalidInputError, "schema revision 9999"),
        binary: (IntegrityViolationError, "not UTF-8|invalid JSON"),
        unknown_table: (IntegrityViolationError, "unknown table"),
        forged_audit: (IntegrityViolationError, "audit log .* does not verify"),
        bad_value: (IntegrityViolationError, "cannot be read"),
        tmp_path / "missing.json": (InvalidInputError, "does not exist"),
    }
    for path, (error, message) in cases.items():
        with pytest.raises(error, match=message):
            service.restore(db, path, force=True)
        assert _counts(db) == before, path.name
    with db.read() as s:
        assert audit.verify(s).ok
        assert tenancy.workspace_by_slug(s, "acme") is not None


def test_sqlite_file_copy_reopens_and_restores(db, fresh_url, open_db, tmp_path):
    populate(db)
    copy = tmp_path / "copy.db"
    if db.backend == "postgresql":
        with pytest.raises(InvalidInputError, match="--format json"):
            service.backup(db, copy, fmt="sqlite")
        assert not copy.exists()
        return
    result = service.backup(db, copy, fmt="sqlite", actor=ACTOR)
    assert result.pages and copy.read_bytes().startswith(store.SQLITE_MAGIC)
    reopened = open_db(f"sqlite:///{copy}")
    assert migrate.is_current(reopened)
    with reopened.read() as s:
        assert audit.verify(s).ok
        assert tenancy.workspace_by_slug(s, "acme") is not None
        copied_entries = s.scalar(select(func.count()).select_from(AuditEntry))
    with db.read() as s:
        # The source has one more entry: the one recording this backup, written after the copy.
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == copied_entries + 1
    # A SQLite copy restores like a JSON backup, into either engine.
    for kind in ("sqlite", "postgresql"):
        target = open_db(fresh_url(kind))
        service.restore(target, copy)
        with target.read() as s:
            assert audit.verify(s).ok
            assert s.scalar(select(func.count()).select_from(AuditEntry)) == copied_entries + 1


def test_many_rows_in_batches_with_progress(db, fresh_url, open_db, tmp_path):
    setup.initialize(
        db, admin_username="admin", admin_password="correct-horse-battery", workspace_slug="w", workspace_name="W"
    )
    with db.write() as s:
        ws = tenancy.workspace_by_slug(s, "w")
        assert ws is not None
        for i in range(2500):
            s.add(Team(workspace_id=ws.id, slug=f"t{i}", name=f"T{i}", kind="product", description=""))
    seen: list[tuple[str, int, int]] = []
    path = tmp_path / "big.json"
    service.backup(db, path, progress=lambda *a: seen.append(a))
    assert ("teams", 2500, 2500) in seen and ("teams", 1000, 2500) in seen
    target = open_db(fresh_url(db.backend))
    seen.clear()
    service.restore(target, path, progress=lambda *a: seen.append(a))
    assert ("teams", 2500, 2500) in seen
    with target.read() as s:
        assert s.scalar(select(func.count()).select_from(Team)) == 2500


@pytest.mark.demo  # db holds what demo.build(db) leaves
def test_demo_database_round_trips_across_engines(db, fresh_url, open_db, tmp_path):
    """Every table the demo fills (the whole product as it grows) survives a trip to the other engine."""
    first = tmp_path / "demo.json"
    service.backup(db, first)
    target = open_db(fresh_url("postgresql" if db.backend == "sqlite" else "sqlite"))
    service.restore(target, first)
    second = tmp_path / "again.json"
    service.backup(target, second)
    assert_same_plus_restore(first, second)
    with target.read() as s:
        assert audit.verify(s).ok
