"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL.

PostgreSQL: ``OKRFLOW_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) names a
server; the tests create their own database on it and drop it at the end. Under ``CI=true`` a missing
PostgreSQL fails the run; elsewhere its tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from okrflow.domain.access import SYSTEM_ACTOR, Actor
from okrflow.services import auth, setup
from okrflow.store import migrate
from okrflow.store.db import Database
from okrflow.store.models import Base

PG_SERVER_URL = os.environ.get("OKRFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ADMIN_PASSWORD = "correct-horse-battery"

# The demo is built by many tests: a quarter of its work data keeps the suite fast (test_demo_shapes builds the
# full one). Subprocesses (the CLI) inherit it.
os.environ.setdefault("OKRFLOW_DEMO_SCALE", "0.25")  # a test fixture, not a secret


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run."""
    name = f"okrflow_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but is not reachable at {PG_SERVER_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_SERVER_URL}: {exc}")
    url = make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, migrated database, once per engine."""
    if request.param == "sqlite":
        path = tmp_path / "okrflow.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_url")
    _truncate_pg(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def system() -> Actor:
    return SYSTEM_ACTOR


@pytest.fixture
def admin_setup(db: Database) -> setup.SetupResult:
    """A superuser ``admin`` who is admin of workspace ``acme``."""
    return setup.initialize(
        db, admin_username="admin", admin_password=ADMIN_PASSWORD, workspace_slug="acme", workspace_name="Acme"
    )


@pytest.fixture
def admin_actor(db: Database, admin_setup: setup.SetupResult) -> Actor:
    with db.read() as s:
        from okrflow.store.models import User

        user = s.get(User, admin_setup.user_id)
        assert user is not None
        return auth.actor_for_user(s, user)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright, shared by a test module. Missing Chromium fails under
    CI=true and skips elsewhere."""
    from tests._browser import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail(f"Chromium is required under CI=true but {CHROMIUM} is missing")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
