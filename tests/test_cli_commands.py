"""The okrflow CLI, driven through Typer's CliRunner on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text, update
from typer.testing import CliRunner

import okrflow
from okrflow import cli
from okrflow.domain.errors import ConflictError
from okrflow.services import auth
from okrflow.store import migrate
from okrflow.store.db import ENV_DATABASE_URL, Database
from okrflow.store.models import AuditEntry

PASSWORD = "correct-horse-battery"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "okrflow.yaml"


@pytest.fixture
def run(monkeypatch):
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    monkeypatch.delenv("OKRFLOW_ADMIN_PASSWORD", raising=False)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(cli.app, [str(a) for a in args], input=input)

    return invoke


@pytest.fixture
def initialised(run, db_url):
    result = run(
        "--database-url", db_url, "init", "--admin-username", "admin", "--admin-password", PASSWORD,
        "--admin-email", "admin@example.com", "--workspace-slug", "acme", "--workspace-name", "Acme", "--no-input",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return db_url


def assert_one_line_error(result, code: int, message: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"okrflow {okrflow.__version__}"


def test_init_by_flags_then_db_current(run, initialised):
    result = run("--database-url", initialised, "db", "current")
    assert result.exit_code == 0, result.output
    head = migrate.head_revision()
    assert f"current   {head}" in result.stdout and f"head      {head}" in result.stdout
    assert "up to date" in result.stdout
    users = run("--database-url", initialised, "user", "list")
    assert "admin" in users.stdout and "acme:admin" in users.stdout
    again = run(
        "--database-url", initialised, "init", "--admin-username", "x", "--admin-password", PASSWORD,
        "--workspace-slug", "x", "--no-input",
    )  # fmt: skip
    assert_one_line_error(again, ConflictError.exit_code, "initialised already")


def test_init_interactive_prompts_hide_and_confirm_the_password(run, tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    answers = "boss\nshort\nshort\n" + f"{PASSWORD}\n{PASSWORD}\n" + "boss@example.com\nmain\n\n"
    result = run("--database-url", url, "init", input=answers)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert "at least 8 characters" in result.output
    assert "workspace      main (Main)" in result.stdout


def test_init_aborted_at_a_prompt_is_not_an_unexpected_error(run, tmp_path):
    result = run("--database-url", f"sqlite:///{tmp_path / 'a.db'}", "init", input="")
    assert result.exit_code == 1 and "unexpected" not in result.output and "Traceback" not in result.output


def test_init_no_input_refuses_to_prompt(run, tmp_path):
    result = run("--database-url", f"sqlite:///{tmp_path / 'n.db'}", "init", "--admin-username", "a", "--no-input")
    assert_one_line_error(result, 2, "--admin-password is required with --no-input")


def test_db_upgrade_and_current_on_an_empty_database(run, tmp_path):
    url = f"sqlite:///{tmp_path / 'e.db'}"
    missing = run("--database-url", url, "db", "current", "--check")
    assert missing.exit_code == 10 and "(no schema)" in missing.stdout
    assert not (tmp_path / "e.db").exists()  # asking did not create the file
    up = run("--database-url", url, "db", "upgrade")
    assert up.exit_code == 0 and f"upgraded from empty to {migrate.head_revision()}" in up.stdout
    assert "up to date" in run("--database-url", url, "db", "upgrade").stdout
    assert run("--database-url", url, "db", "current", "--check").exit_code == 0


def test_commands_on_a_missing_database_say_what_to_do(run, tmp_path):
    result = run("--database-url", f"sqlite:///{tmp_path / 'none.db'}", "user", "list")
    assert_one_line_error(result, 10, "run `okrflow init`")


def test_error_is_one_line_with_the_exit_code_of_its_class(run, initialised):
    result = run("--database-url", initialised, "token", "revoke", "999")
    assert_one_line_error(result, 5, "token 999 does not exist")


def test_unexpected_errors_are_one_line_unless_debug(run, initialised, monkeypatch):
    from okrflow.services import tenancy

    def boom(*_a, **_k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tenancy, "list_users", boom)
    result = run("--database-url", initialised, "user", "list")
    assert_one_line_error(result, 1, "unexpected RuntimeError: disk on fire")
    debug = run("--debug", "--database-url", initialised, "user", "list")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr and "error: unexpected RuntimeError" in debug.stderr


def test_user_create_with_role_and_list(run, initialised):
    created = run(
        "--database-url", initialised, "user", "create", "ada", "--password", "ada-password-1", "--email",
        "ada@example.com", "--workspace", "acme", "--role", "contributor",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    robot = run("--database-url", initialised, "user", "create", "robot", "--no-input")
    assert robot.exit_code == 0 and "API tokens only" in robot.stdout
    listing = run("--database-url", initialised, "user", "list").stdout
    assert "ada" in listing and "acme:contributor" in listing and "robot" in listing
    taken = run("--database-url", initialised, "user", "create", "ada", "--no-input")
    assert_one_line_error(taken, 6, "taken")
    no_ws = run("--database-url", initialised, "user", "create", "bob", "--no-input", "--workspace", "nope")
    assert_one_line_error(no_ws, 5, "workspace 'nope' does not exist")
    bad_role = run(
        "--database-url", initialised, "user", "create", "bob", "--no-input", "--workspace", "acme", "--role", "boss"
    )
    assert_one_line_error(bad_role, 2, "unknown role")


def test_token_create_prints_a_working_token_once(run, initialised):
    result = run(
        "--database-url", initialised, "token", "create", "--user", "admin", "--scopes", "read,write",
        "--name", "ci", "--expires", "30d",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert "\n" not in secret and secret.startswith("okf_")
    assert "shown only this once" in result.stderr
    db = Database(initialised)
    try:
        with db.read() as s:
            user, token = auth.authenticate_token(s, secret)
            assert user.username == "admin" and token.scopes == "read,write" and token.expires_at is not None
            token_id = token.id
    finally:
        db.dispose()
    listing = run("--database-url", initialised, "token", "list", "--user", "admin")
    assert "ci" in listing.stdout and "active" in listing.stdout and secret not in listing.stdout
    revoked = run("--database-url", initialised, "token", "revoke", str(token_id))
    assert revoked.exit_code == 0 and f"Revoked token {token_id}" in revoked.stdout
    assert "revoked" in run("--database-url", initialised, "token", "list", "--user", "admin").stdout
    bad = run("--database-url", initialised, "token", "create", "--user", "admin", "--expires", "someday")
    assert_one_line_error(bad, 2, "cannot read the expiry")
    nobody = run("--database-url", initialised, "token", "create", "--user", "nobody")
    assert_one_line_error(nobody, 5, "user 'nobody' does not exist")


def test_parse_expiry():
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert cli.parse_expiry("30d", now) == now + timedelta(days=30)
    assert cli.parse_expiry("12h", now) == now + timedelta(hours=12)
    assert cli.parse_expiry("2026-12-31", now) == datetime(2027, 1, 1, tzinfo=UTC)
    assert cli.parse_expiry("never", now) is None


def test_audit_verify_names_the_tampered_entry(run, initialised):
    ok = run("--database-url", initialised, "audit", "verify")
    assert ok.exit_code == 0 and "Audit log intact" in ok.stdout
    db = Database(initialised)
    try:
        with db.engine.begin() as conn:
            if db.backend == "sqlite":
                conn.execute(text("DROP TRIGGER audit_no_update"))
            else:
                conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER audit_no_update"))
            conn.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(after={"slug": "evil"}))
        result = run("--database-url", initialised, "audit", "verify")
        assert_one_line_error(result, 9, "first bad entry: seq 2")
        assert "entry 2 was changed" in result.stderr
    finally:
        if db.backend == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER audit_no_update"))
        db.dispose()


def test_audit_log_filters(run, initialised):
    run("--database-url", initialised, "config", "apply", EXAMPLE)
    everything = run("--database-url", initialised, "audit", "log", "--limit", "100")
    assert everything.exit_code == 0 and "workspace:1" in everything.stdout
    teams = run("--database-url", initialised, "audit", "log", "--entity", "team", "--workspace", "acme")
    assert "team:" in teams.stdout and "workspace:1" not in teams.stdout
    one = run("--database-url", initialised, "audit", "log", "--entity", "workspace:1")
    assert "workspace:1" in one.stdout and "team:" not in one.stdout
    assert_one_line_error(run("--database-url", initialised, "audit", "log", "--workspace", "x"), 5, "'x'")


def test_config_check_schema_and_apply(run, initialised, tmp_path):
    assert run("config", "check", EXAMPLE).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nworkspace: {slug: acme, name: Acme}\nteams:\n  - {slug: a, nmae: A}\n")
    result = run("config", "check", bad)
    assert result.exit_code == 10
    assert f"{bad}:4: teams[0].nmae: unknown key" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: {bad}: 2 problems"
    schema_file = tmp_path / "schema.json"
    assert run("config", "schema", "--out", schema_file).exit_code == 0
    assert '"additionalProperties": false' in schema_file.read_text()
    assert run("config", "schema").stdout.startswith("{")
    first = run("--database-url", initialised, "config", "apply", EXAMPLE)
    assert first.exit_code == 0 and "team checkout created" in first.stdout
    second = run("--database-url", initialised, "config", "apply", EXAMPLE)
    assert second.exit_code == 0 and "Nothing to change" in second.stdout
    refused = run("--database-url", initialised, "config", "apply", bad)
    assert_one_line_error(refused, 10, "teams[0]")


def test_backup_and_restore_commands(run, initialised, tmp_path):
    path = tmp_path / "b.json"
    made = run("--database-url", initialised, "backup", "--out", path)
    assert made.exit_code == 0, made.output
    assert path.exists() and "Backed up" in made.stdout
    exists = run("--database-url", initialised, "backup", "--out", path)
    assert_one_line_error(exists, 6, "exists already")
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    restored = run("--database-url", target, "restore", path)
    assert restored.exit_code == 0, restored.output
    assert run("--database-url", target, "audit", "verify").exit_code == 0
    refused = run("--database-url", target, "restore", path)
    assert_one_line_error(refused, 6, "--force")
    assert run("--database-url", target, "restore", path, "--force").exit_code == 0
    copy = tmp_path / "copy.db"
    sqlite_copy = run("--database-url", initialised, "backup", "--out", copy, "--format", "sqlite")
    if initialised.startswith("sqlite"):
        assert sqlite_copy.exit_code == 0 and "pages" in sqlite_copy.stdout
    else:
        assert_one_line_error(sqlite_copy, 2, "use --format json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text(path.read_text()[:100])
    assert_one_line_error(run("--database-url", target, "restore", corrupt, "--force"), 9, "invalid JSON")


def test_serve_checks_the_schema_and_runs_uvicorn(run, initialised, tmp_path, monkeypatch):
    import uvicorn

    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    result = run("--database-url", initialised, "serve", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123/" in result.stdout
    (app,), kwargs = calls[0]
    assert kwargs == {"host": "127.0.0.1", "port": 8123} and app.state.db.url.render_as_string(False).startswith(
        initialised.split(":")[0]
    )
    reload = run("--database-url", initialised, "serve", "--reload")
    assert reload.exit_code == 0, reload.output
    args, kwargs = calls[1]
    assert args == ("okrflow.api.app:create_app",) and kwargs["factory"] is True and kwargs["reload"] is True
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    Database(empty).dispose()
    run("--database-url", empty, "db", "current")
    not_ready = run("--database-url", empty, "serve")
    assert_one_line_error(not_ready, 10, "okrflow")
    assert len(calls) == 2


@dataclass
class FakeSummary:
    workspace_slug: str = "demo"
    workspace_name: str = "Demo Corp"
    teams: list[str] = field(default_factory=lambda: ["Checkout", "Platform"])
    people: int = 12
    admin_username: str = "demo"
    admin_password: str = "demo-password"
    database_url: str = "sqlite:///./okrflow.db"


def test_demo_prints_a_summary_and_the_next_command(run, tmp_path, monkeypatch):
    module = types.ModuleType("okrflow.services.demo")
    built: list[bool] = []

    def build(db, force=False, **_kw):
        if built and not force:
            raise ConflictError("this database holds the demo already; use --force to rebuild it")
        built.append(force)
        return FakeSummary(database_url=db.display_url)

    module.build = build  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "okrflow.services.demo", module)
    import okrflow.services

    monkeypatch.setattr(okrflow.services, "demo", module, raising=False)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = run("--database-url", url, "demo")
    assert result.exit_code == 0, result.output
    assert "Demo Corp" in result.stdout and "demo-password" in result.stdout and "okrflow" in result.stdout
    assert "serve" in result.stdout
    assert_one_line_error(run("--database-url", url, "demo"), 6, "--force")
    assert run("--database-url", url, "demo", "--force").exit_code == 0
