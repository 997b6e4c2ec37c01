"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL.

PostgreSQL: ``OKRFLOW_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) names a
server; the tests create their own databases on it and drop them at the end. Under ``CI=true`` a missing
PostgreSQL fails the run; elsewhere its tests are skipped with the reason.

Speed (the suite runs on small CI machines):

* the schema is migrated once per engine and session; every test gets a copy of the SQLite template file, or
  the session's PostgreSQL database emptied (rows deleted, used sequences restarted: see :func:`_empty_pg`);
* the demo is built once per session and engine (and password, and ``now``) into a template, and each user
  gets a private copy: :func:`demo_copy`, or ``@pytest.mark.demo(...)`` on a test using ``db`` / ``db_url``;
* in-process password hashing uses the cheapest argon2 parameters (below); subprocesses (the real CLI) keep
  the production ones;
* the PostgreSQL test databases commit without waiting for the WAL flush (``synchronous_commit=off``: only
  crash durability differs);
* the suite runs on pytest-xdist workers (``-n 2``): each worker process has its own databases and templates
  (PostgreSQL names carry the pid, files live in the worker's temporary directory).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

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

# Test-only: production argon2 costs ~0.3 s of CPU per hash and per check, and the suite logs in hundreds of
# times. The hashes stay argon2id (same code paths, same format); only the cost parameters are the minimum.
# The production defaults in okrflow.services.auth are untouched (and still used by the CLI subprocess tests).
auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
auth._DUMMY_HASH = auth._hasher.hash(uuid.uuid4().hex)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "demo(password=None, now=None): the test's ``db`` / ``db_url`` hold the demo, as if "
        "``demo.build(db, password=password, now=now)`` had just run (a copy of a per-session template)",
    )


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


def _pg_name(kind: str) -> str:
    return f"okrflow_{kind}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _pg_url_of(name: str) -> str:
    return make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the PostgreSQL server (skips, or fails under CI, when there is none)."""
    try:
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but is not reachable at {PG_SERVER_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_SERVER_URL}: {exc}")
    yield admin
    admin.dispose()


def _pg_create(admin: Engine, name: str, template: str | None = None) -> str:
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    return _pg_url_of(name)


def _pg_drop(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_url(pg_admin: Engine) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run."""
    name = _pg_name("test")
    url = _pg_create(pg_admin, name)
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    yield url
    engine = _pg_engines.pop(url, None)
    if engine is not None:
        engine.dispose()
    _pg_drop(pg_admin, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


_pg_engines: dict[str, Engine] = {}
_pg_superuser: dict[str, bool] = {}


def _empty_pg(url: str) -> None:
    """Empty every model table and restart the sequences that were used, as ``TRUNCATE <all> RESTART IDENTITY``
    would. A test writes a few rows, and DELETE of a few rows is much cheaper than TRUNCATE, which replaces every
    table's files. The append-only triggers (audit, decisions) and the foreign keys are bypassed with
    ``session_replication_role = replica``, which needs a superuser; without one, TRUNCATE."""
    engine = _pg_engines.get(url)
    if engine is None:
        engine = _pg_engines[url] = create_engine(url)
    tables = [f'"{t.name}"' for t in Base.metadata.sorted_tables]
    with engine.begin() as conn:
        if url not in _pg_superuser:
            _pg_superuser[url] = conn.exec_driver_sql("SELECT current_setting('is_superuser')").scalar() == "on"
        if not _pg_superuser[url]:
            conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            return
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.exec_driver_sql(" ".join(f"DELETE FROM {t};" for t in reversed(tables)))
        conn.exec_driver_sql(
            "SELECT setval((quote_ident(schemaname) || '.' || quote_ident(sequencename))::regclass, start_value, false)"
            " FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
        )


# ------------------------------------------------------------------ the demo, built once per session


class DemoTemplates:
    """The demo built once per (engine, password, now) into a template; :meth:`copy` hands out private copies
    (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), dropped at the end of the session."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._request = request
        self._dir = tmp_path_factory.mktemp("demo")
        self._templates: dict[tuple[str, str, datetime | None], str] = {}  # -> file path / PG database
        self._pg_created: list[str] = []

    def _template(self, engine: str, password: str | None, now: datetime | None) -> str:
        from okrflow.services import demo

        password = password or ADMIN_PASSWORD  # one template serves every test that does not care
        key = (engine, password, now)
        if key not in self._templates:
            if engine == "sqlite":
                target = str(self._dir / f"template-{len(self._templates)}.db")
                url = f"sqlite:///{target}"
            else:
                admin: Engine = self._request.getfixturevalue("pg_admin")
                target = _pg_name("demotmpl")
                url = _pg_create(admin, target)
                self._pg_created.append(target)
            db = Database(url)
            try:
                demo.build(db, password=password, now=now)
                if engine == "sqlite":
                    with db.engine.connect() as conn:  # everything in the main file, so one file is the copy
                        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                db.dispose()
            self._templates[key] = target
        return self._templates[key]

    def copy(
        self, engine: str, *, password: str | None = None, now: datetime | None = None, path: Path | None = None
    ) -> str:
        """URL of a private database holding the demo; SQLite: at ``path`` (default: a new file)."""
        template = self._template(engine, password, now)
        if engine == "sqlite":
            target = path or self._dir / f"copy-{uuid.uuid4().hex[:8]}.db"
            for suffix in ("-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            shutil.copy(template, target)
            return f"sqlite:///{target}"
        admin: Engine = self._request.getfixturevalue("pg_admin")
        name = _pg_name("demo")
        url = _pg_create(admin, name, template=template)
        self._pg_created.append(name)
        return url

    def drop(self, url: str) -> None:
        """Drop a PostgreSQL copy early (SQLite copies live in the session's temporary directory)."""
        name = make_url(url).database
        if name in self._pg_created and url.startswith("postgresql"):
            self._pg_created.remove(name)
            _pg_drop(self._request.getfixturevalue("pg_admin"), name)

    def close(self) -> None:
        if self._pg_created:
            admin: Engine = self._request.getfixturevalue("pg_admin")
            for name in reversed(self._pg_created):
                _pg_drop(admin, name)


@pytest.fixture(scope="session")
def demo_templates(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTemplates]:
    templates = DemoTemplates(request, tmp_path_factory)
    yield templates
    templates.close()


@pytest.fixture(scope="session")
def demo_copy(demo_templates: DemoTemplates) -> Callable[..., str]:
    """``demo_copy("sqlite" | "postgresql", password=…, now=…, path=…)``: URL of a private copy of the demo as
    ``demo.build(db, password=password, now=now)`` leaves it (built once per session; the copy is yours)."""
    return demo_templates.copy


# ------------------------------------------------------------------ the per-test database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty, migrated database, once per engine; with ``@pytest.mark.demo(...)``: holding the demo."""
    marker = request.node.get_closest_marker("demo")
    if marker is not None:
        templates: DemoTemplates = request.getfixturevalue("demo_templates")
        if request.param == "postgresql":
            request.getfixturevalue("pg_url")  # skips (or fails under CI) like the plain databases
        url = templates.copy(request.param, path=tmp_path / "okrflow.db", **marker.kwargs)
        yield url
        templates.drop(url)
        return
    if request.param == "sqlite":
        path = tmp_path / "okrflow.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("pg_url")
    _empty_pg(url)
    yield url


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
