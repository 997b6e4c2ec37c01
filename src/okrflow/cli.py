"""The ``okrflow`` command line: setup, serving, accounts, tokens, audit, configuration, backup, demo.

Every command is a thin edge over one service call. Errors are one line on stderr (``error: <message>``) and
the exit code of the error's class (see ``okrflow.domain.errors``); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url
from typer.core import TyperGroup
from typer.exceptions import TyperException

import okrflow
from okrflow.domain.access import Actor, cli_actor
from okrflow.domain.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    OkrflowError,
)
from okrflow.store.db import ENV_DATABASE_URL, Database, resolve_url

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


# ------------------------------------------------------------------ error handling and shared state


class OkrflowGroup(TyperGroup):
    """Turns every error of a command into one line on stderr and the error's exit code."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except OkrflowError as exc:
            _fail(ctx, exc.message, exc.exit_code, exc)
        except Exception as exc:
            _fail(ctx, f"unexpected {type(exc).__name__}: {exc}", 1, exc)


def _fail(ctx: typer.Context, message: str, code: int, exc: BaseException) -> None:
    state = ctx.obj if isinstance(ctx.obj, State) else None
    if state is not None and state.debug:
        traceback.print_exception(exc, file=sys.stderr)
    one_line = " ".join(str(message).split())
    typer.echo(f"error: {one_line}", err=True)
    raise typer.Exit(code)


@dataclass
class State:
    database_url: str | None
    debug: bool
    _db: Database | None = None

    @property
    def url(self) -> str:
        return resolve_url(self.database_url)

    def db(self, *, require_schema: bool = True) -> Database:
        """The database; with ``require_schema`` it must exist and be at the current schema revision."""
        if self._db is None:
            url = self.url
            if require_schema:
                _require_existing_file(url)
            self._db = Database(url)
        if require_schema:
            _require_current_schema(self._db)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


def _require_existing_file(url: str) -> None:
    parsed = make_url(url)
    in_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if in_file and not Path(str(parsed.database)).exists():
        raise ConfigurationError(
            f"the database file {parsed.database} does not exist; run `okrflow init` or `okrflow demo` "
            "first, or point --database-url / $OKRFLOW_DATABASE_URL at your database"
        )


def _require_current_schema(db: Database) -> None:
    from okrflow.store import migrate

    current, head = migrate.current_revision(db), migrate.head_revision()
    if current is None:
        raise ConfigurationError(
            f"database {db.display_url} has no okrflow schema yet; run `okrflow init` (or `okrflow db upgrade`)"
        )
    if current != head:
        raise ConfigurationError(
            f"database {db.display_url} is at schema revision {current}, this okrflow needs {head}; "
            "run `okrflow db upgrade`"
        )


def _state(ctx: typer.Context) -> State:
    obj = ctx.find_object(State)
    assert obj is not None
    return obj


def _actor() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        user = "unknown"
    return cli_actor(user)


@contextmanager
def _progress(enabled: bool = True) -> Iterator[Any]:
    """A rich progress display on stderr (only on a terminal); yields a ``(table, done, total)`` callback."""
    progress = Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not (enabled and err.is_terminal),
    )
    tasks: dict[str, Any] = {}

    def update(name: str, done: int, total: int) -> None:
        if total == 0 and name not in tasks:
            return
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=total)
        progress.update(tasks[name], completed=done, total=total)

    with progress:
        yield update


def _print_table(table: Table) -> None:
    # Piped output keeps one row per line (for grep and friends) instead of wrapping at 80 columns.
    (out if out.is_terminal else Console(highlight=False, width=400)).print(table)


def _fmt_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


# ------------------------------------------------------------------ the application


app = typer.Typer(
    name="okrflow",
    cls=OkrflowGroup,
    help="okrflow: metric-driven product execution, from objectives to the work and outcomes that move them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts and integrations.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration as code (okrflow.yaml).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
app.add_typer(config_app, name="config")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"okrflow {okrflow.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar=ENV_DATABASE_URL,
            help="Database URL: sqlite:///FILE or postgresql://USER@HOST/DB. Default: sqlite:///./okrflow.db.",
            show_envvar=True,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    state = State(database_url, debug)
    ctx.obj = state
    ctx.call_on_close(state.close)


# ------------------------------------------------------------------ init, db, serve


def _ask(value: str | None, prompt: str, option: str, no_input: bool, default: str | None = None) -> str:
    if value is not None:
        return value
    if no_input:
        if default is not None:
            return default
        raise InvalidInputError(f"{option} is required with --no-input")
    return str(typer.prompt(prompt, default=default))


def _ask_password(value: str | None, option: str, no_input: bool) -> str:
    from okrflow.services.auth import check_password_rules

    if value is not None:
        return value
    if no_input:
        raise InvalidInputError(f"{option} is required with --no-input")
    while True:
        password = str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
        try:
            check_password_rules(password)
            return password
        except InvalidInputError as exc:
            err.print(f"[yellow]{escape(exc.message)}[/yellow]")


@app.command()
def init(
    ctx: typer.Context,
    admin_username: Annotated[str | None, typer.Option(help="Username of the first admin (a superuser).")] = None,
    admin_password: Annotated[
        str | None, typer.Option(envvar="OKRFLOW_ADMIN_PASSWORD", help="Password (prompted, hidden, if absent).")
    ] = None,
    admin_email: Annotated[str | None, typer.Option(help="E-mail of the first admin.")] = None,
    workspace_slug: Annotated[str | None, typer.Option(help="Slug of the first workspace, e.g. acme.")] = None,
    workspace_name: Annotated[str | None, typer.Option(help="Name of the first workspace.")] = None,
    no_input: Annotated[bool, typer.Option("--no-input", help="Never prompt; fail if a value is missing.")] = False,
) -> None:
    """Create the database schema, the first admin account and the first workspace."""
    from sqlalchemy import func, select

    from okrflow.services import setup
    from okrflow.store import migrate
    from okrflow.store.models import User

    state = _state(ctx)
    db = state.db(require_schema=False)
    migrate.upgrade(db)
    with db.read() as s:
        users = s.scalar(select(func.count()).select_from(User)) or 0
    if users:
        raise ConflictError(
            f"database {db.display_url} is initialised already ({users} account(s)); "
            "add accounts with `okrflow user create`"
        )
    username = _ask(admin_username, "Admin username", "--admin-username", no_input, default="admin")
    password = _ask_password(admin_password, "--admin-password", no_input)
    email = admin_email if admin_email is not None or no_input else typer.prompt("Admin e-mail", default="") or None
    slug = _ask(workspace_slug, "Workspace slug", "--workspace-slug", no_input)
    name = _ask(workspace_name, "Workspace name", "--workspace-name", no_input, default=slug.replace("-", " ").title())
    result = setup.initialize(
        db,
        admin_username=username,
        admin_password=password,
        workspace_slug=slug,
        workspace_name=name,
        admin_email=email or None,
        actor=_actor(),
    )
    out.print(f"Initialised {escape(db.display_url)} (schema {result.schema_revision})")
    out.print(f"  admin account  {escape(result.username)} (superuser)")
    out.print(f"  workspace      {escape(result.workspace_slug)} ({escape(name)})")
    out.print(
        "Next: [bold]okrflow serve[/bold] to open the web UI, "
        f"[bold]okrflow token create --user {escape(result.username)} --scopes read,write[/bold] for the API."
    )


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the database schema to the version this okrflow needs."""
    from okrflow.store import migrate

    db = _state(ctx).db(require_schema=False)
    before, after = migrate.upgrade(db)
    if before == after:
        out.print(f"{escape(db.display_url)}: schema is up to date ({after})")
    else:
        out.print(f"{escape(db.display_url)}: schema upgraded from {before or 'empty'} to {after}")


@db_app.command("current")
def db_current(
    ctx: typer.Context,
    check: Annotated[bool, typer.Option("--check", help="Exit with an error when the schema is not current.")] = False,
) -> None:
    """Show the database's schema revision and the one this okrflow needs."""
    from okrflow.store import migrate

    state = _state(ctx)
    try:
        _require_existing_file(state.url)
    except ConfigurationError:
        # Asking must not create an empty database file.
        current, shown = None, make_url(state.url).render_as_string(hide_password=True)
    else:
        db = state.db(require_schema=False)
        current, shown = migrate.current_revision(db), db.display_url
    head = migrate.head_revision()
    up_to_date = current == head
    out.print(f"database  {escape(shown)}")
    out.print(f"current   {current or '(no schema)'}")
    out.print(f"head      {head}")
    status = "up to date" if up_to_date else "not up to date - run `okrflow db upgrade`"
    out.print(f"status    {status}")
    if check and not up_to_date:
        raise ConfigurationError(f"the schema is at {current or 'nothing'}, this okrflow needs {head}")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    reload: Annotated[bool, typer.Option("--reload", help="Restart when the code changes (development).")] = False,
) -> None:
    """Serve the web UI and the API (uvicorn)."""
    import uvicorn

    state = _state(ctx)
    db = state.db(require_schema=True)
    shown_host = f"[{host}]" if ":" in host else host
    out.print(f"okrflow {okrflow.__version__} on {escape(db.display_url)}")
    out.print(f"Serving at [bold]http://{shown_host}:{port}/[/bold] (API: /api/v1/docs) - press Ctrl+C to stop")
    if reload:
        # The reloader imports the app in a fresh process: the database URL travels in the environment.
        os.environ[ENV_DATABASE_URL] = state.url
        state.close()
        uvicorn.run("okrflow.api.app:create_app", factory=True, host=host, port=port, reload=True)
        return
    from okrflow.api.app import create_app

    uvicorn.run(create_app(db), host=host, port=port)


# ------------------------------------------------------------------ users


@user_app.command("create")
def user_create(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name.")],
    password: Annotated[str | None, typer.Option(help="Password (prompted, hidden, if absent).")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the UI.")] = None,
    superuser: Annotated[bool, typer.Option("--superuser", help="May do everything in every workspace.")] = False,
    workspace: Annotated[str | None, typer.Option(help="Slug of a workspace to add the account to.")] = None,
    role: Annotated[str | None, typer.Option(help="Role in the workspace: viewer, contributor or admin.")] = None,
    team: Annotated[str | None, typer.Option(help="Limit the role to this team (slug) and its sub-teams.")] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Never prompt; without --password the account can use API tokens only.")
    ] = False,
) -> None:
    """Create a user account, optionally with a role in a workspace."""
    from okrflow.services import tenancy

    if (role or team) and not workspace:
        raise InvalidInputError("--role and --team need --workspace")
    db = _state(ctx).db()
    if password is None and not no_input:
        password = _ask_password(None, "--password", no_input)
    actor = _actor()
    with db.write() as s:
        ws_id = team_id = None
        if workspace:
            ws = tenancy.workspace_by_slug(s, workspace)
            if ws is None:
                raise NotFoundError(f"workspace {workspace!r} does not exist")
            ws_id = ws.id
            if team:
                t = tenancy.team_by_slug(s, ws.id, team)
                if t is None:
                    raise NotFoundError(f"team {team!r} does not exist in workspace {workspace!r}")
                team_id = t.id
        user = tenancy.create_user(
            s,
            actor,
            username,
            password,
            email=email,
            display_name=display_name or "",
            is_superuser=superuser,
            workspace_id=ws_id,
            role=(role or "viewer") if ws_id is not None else None,
            team_id=team_id,
        )
        user_id = user.id
    what = " superuser" if superuser else ""
    out.print(f"Created{what} account {escape(username)} (id {user_id})")
    if workspace:
        where = f"team {team} of workspace {workspace}" if team else f"workspace {workspace}"
        out.print(f"  role {role or 'viewer'} in {escape(where)}")
    if password is None:
        out.print("  no password: this account can sign in with API tokens only (okrflow token create)")


@user_app.command("list")
def user_list(ctx: typer.Context) -> None:
    """List user accounts and their roles."""
    from sqlalchemy import select

    from okrflow.services import tenancy
    from okrflow.store.models import Membership, Team, Workspace

    db = _state(ctx).db()
    with db.read() as s:
        users = tenancy.list_users(s, _actor())
        slugs = dict(s.execute(select(Workspace.id, Workspace.slug)).all())
        teams = dict(s.execute(select(Team.id, Team.slug)).all())
        roles: dict[int, list[str]] = {}
        for m in s.scalars(select(Membership).order_by(Membership.id)):
            where = slugs.get(m.workspace_id, "?") + (f"/{teams.get(m.team_id, '?')}" if m.team_id else "")
            roles.setdefault(m.user_id, []).append(f"{where}:{m.role}")
    table = Table("id", "username", "e-mail", "superuser", "active", "roles")
    for u in users:
        table.add_row(
            str(u.id),
            escape(u.username),
            escape(u.email or ""),
            "yes" if u.is_superuser else "",
            "yes" if u.is_active else "no",
            escape(", ".join(roles.get(u.id, []))),
        )
    _print_table(table)


# ------------------------------------------------------------------ tokens

_DURATION_RE = re.compile(r"^(\d+)\s*([hdw])$")


def parse_expiry(text: str | None, now: datetime | None = None) -> datetime | None:
    """``30d``, ``12h``, ``2w``, a date (valid through that day, UTC) or an ISO timestamp; ``never``/None."""
    if text is None or text.strip().lower() in ("", "never"):
        return None
    now = now or datetime.now(UTC)
    raw = text.strip().lower()
    m = _DURATION_RE.match(raw)
    if m:
        amount, unit = int(m.group(1)), m.group(2)
        return now + {"h": timedelta(hours=amount), "d": timedelta(days=amount), "w": timedelta(weeks=amount)}[unit]
    try:
        day = date.fromisoformat(raw)
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"cannot read the expiry {text!r}; use e.g. 30d, 12h, 2w, 2026-12-31 or never", field="expires"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _user_id(session: Any, username: str) -> int:
    from okrflow.services import tenancy

    user = tenancy.user_by_username(session, username.strip())
    if user is None:
        raise NotFoundError(f"user {username!r} does not exist")
    return user.id


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="Username the token acts as.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, write, admin.")] = "read",
    name: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
    expires: Annotated[str | None, typer.Option(help="30d, 12h, 2w, a date like 2026-12-31, or never.")] = None,
) -> None:
    """Create an API token. The token is printed once, on stdout; store it now."""
    from okrflow.services import auth

    expires_at = parse_expiry(expires)
    db = _state(ctx).db()
    with db.write() as s:
        token, secret = auth.create_token(
            s,
            _actor(),
            _user_id(s, user),
            name or f"cli token {datetime.now(UTC):%Y-%m-%d}",
            scopes,
            expires_at=expires_at,
        )
        info = (token.id, token.name, token.scopes, token.expires_at)
    err.print(
        Panel(
            f"token {info[0]} [bold]{escape(info[1])}[/bold] for {escape(user)}: scopes {info[2]}, "
            f"expires {_fmt_time(info[3]) if info[3] else 'never'}\n"
            "[yellow]Store the token now: it is shown only this once.[/yellow] "
            "Send it as 'Authorization: Bearer <token>'.",
            title="API token created",
            expand=False,
        )
    )
    typer.echo(secret)


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="Username whose tokens to list.")],
) -> None:
    """List the tokens of a user (never the secrets)."""
    from okrflow.services import auth

    db = _state(ctx).db()
    table = Table("id", "name", "prefix", "scopes", "status", "created", "expires", "last used")
    with db.read() as s:
        for t in auth.list_tokens(s, _actor(), _user_id(s, user)):
            table.add_row(
                str(t.id),
                escape(t.name),
                f"okf_{t.prefix}_...",
                t.scopes,
                auth.token_status(t),
                _fmt_time(t.created_at),
                _fmt_time(t.expires_at),
                _fmt_time(t.last_used_at),
            )
    _print_table(table)


@token_app.command("revoke")
def token_revoke(ctx: typer.Context, token_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Revoke a token: it stops working at once."""
    from okrflow.services import auth

    db = _state(ctx).db()
    with db.write() as s:
        token = auth.revoke_token(s, _actor(), token_id)
        label = token.name
    out.print(f"Revoked token {token_id} ({escape(label)})")


# ------------------------------------------------------------------ audit


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Recompute the hash chain of the whole audit log; names the first entry that was tampered with."""
    from okrflow.domain.errors import IntegrityViolationError
    from okrflow.services import audit

    db = _state(ctx).db()
    with db.read() as s, err.status("verifying the audit chain...") if err.is_terminal else _nothing():
        verdict = audit.verify(s)
    if not verdict.ok:
        raise IntegrityViolationError(
            f"the audit log does not verify: {verdict.reason} (first bad entry: seq {verdict.first_bad_seq}; "
            f"{verdict.checked} entries before it are intact)"
        )
    out.print(f"Audit log intact: {verdict.checked} entries verified")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _changed_keys(before: Any, after: Any) -> str:
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        return ", ".join(k for k in keys if k not in ("version", "updated_at"))
    return ""


@audit_app.command("log")
def audit_log(
    ctx: typer.Context,
    entity: Annotated[str | None, typer.Option(help="TYPE or TYPE:ID, e.g. team or team:3.")] = None,
    workspace: Annotated[str | None, typer.Option(help="Workspace slug.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Newest entries to show.")] = 50,
) -> None:
    """Show the newest audit entries."""
    from okrflow.services import audit, tenancy

    entity_type, _, entity_id = (entity or "").partition(":")
    db = _state(ctx).db()
    with db.read() as s:
        ws_id = None
        slugs: dict[int, str] = {}
        if workspace:
            ws = tenancy.workspace_by_slug(s, workspace)
            if ws is None:
                raise NotFoundError(f"workspace {workspace!r} does not exist")
            ws_id = ws.id
        for ws in tenancy.list_workspaces(s, _actor()):
            slugs[ws.id] = ws.slug
        entries = audit.history(
            s,
            _actor(),
            workspace_id=ws_id,
            entity_type=entity_type or None,
            entity_id=entity_id or None,
            limit=limit,
        )
        rows = [
            (
                str(e.seq),
                _fmt_time(e.at),
                e.actor,
                e.action,
                f"{e.entity_type}:{e.entity_id}",
                slugs.get(e.workspace_id, "") if e.workspace_id is not None else "",
                _changed_keys(e.before, e.after),
            )
            for e in entries
        ]
    table = Table("seq", "at (UTC)", "actor", "action", "entity", "workspace", "changed")
    for row in rows:
        table.add_row(*(escape(c) for c in row))
    _print_table(table)
    if not rows:
        err.print("no audit entries match")


# ------------------------------------------------------------------ configuration as code


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="The okrflow.yaml to check.")]) -> None:
    """Validate an okrflow.yaml without touching any database (for CI)."""
    from okrflow.services import config

    problems = config.check(file)
    if problems:
        for p in problems:
            typer.echo(p.render(str(file)), err=True)
        raise ConfigurationError(f"{file}: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
    loaded = config.load(file)
    out.print(f"{escape(str(file))} is valid: workspace {escape(loaded.workspace.slug)}, {len(loaded.teams)} team(s)")


@config_app.command("schema")
def config_schema(
    out_file: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of okrflow.yaml (for editors and CI)."""
    from okrflow.services import config

    text = config.schema_text()
    if out_file is None:
        typer.echo(text, nl=False)
    else:
        out_file.write_text(text, encoding="utf-8")
        err.print(f"wrote {escape(str(out_file))}")


@config_app.command("apply")
def config_apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The okrflow.yaml to apply.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing.")] = False,
) -> None:
    """Create or update the workspace and teams of an okrflow.yaml (never deletes)."""
    from okrflow.services import config

    loaded = config.load(file)
    db = _state(ctx).db()
    report = config.apply(db, loaded, _actor(), dry_run=dry_run)
    verb = "would be " if dry_run else ""
    for item in report.created:
        out.print(f"[green]+[/green] {escape(item)} {verb}created")
    for item in report.updated:
        out.print(f"[yellow]~[/yellow] {escape(item)} {verb}updated")
    if not report.changed:
        out.print(f"Nothing to change: workspace {escape(report.workspace)} matches {escape(str(file))}")
    else:
        summary = f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged"
        out.print(f"{'Dry run: ' if dry_run else ''}{summary}")
    if report.unmanaged_teams:
        err.print(
            f"[yellow]note:[/yellow] {len(report.unmanaged_teams)} team(s) exist in the database but not in the file "
            f"(left as they are): {escape(', '.join(report.unmanaged_teams))}"
        )


# ------------------------------------------------------------------ backup and restore


@app.command()
def backup(
    ctx: typer.Context,
    out_file: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[
        str,
        typer.Option("--format", help="json: logical backup of any engine; sqlite: copy of a SQLite database file."),
    ] = "json",
    force: Annotated[bool, typer.Option("--force", help="Overwrite the file if it exists.")] = False,
) -> None:
    """Back up the whole database to one file."""
    from okrflow.services import backup as service

    db = _state(ctx).db()
    with _progress() as progress:
        result = service.backup(db, out_file, fmt=fmt.lower(), actor=_actor(), overwrite=force, progress=progress)
    size = out_file.stat().st_size
    what = f"{result.total_rows} rows" if result.rows is not None else f"{result.pages} pages"
    out.print(f"Backed up {escape(db.display_url)} to {escape(str(out_file))} ({what}, {size:,} bytes, {fmt})")


@app.command()
def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A backup made by `okrflow backup`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace everything in a non-empty database.")] = False,
) -> None:
    """Restore a backup into an empty database (of either engine), all or nothing."""
    from okrflow.services import backup as service

    db = _state(ctx).db(require_schema=False)
    with _progress() as progress:
        result = service.restore(db, file, force=force, actor=_actor(), progress=progress)
    replaced = " (replaced its previous content)" if result.replaced_existing else ""
    out.print(
        f"Restored {result.total_rows} rows from {escape(str(file))} into {escape(db.display_url)}{replaced}; "
        f"audit entry {result.audit_seq} records it"
    )


# ------------------------------------------------------------------ demo


@app.command()
def demo(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Rebuild the demo even if the database holds one.")] = False,
) -> None:
    """Build a realistic demo workspace, then look at it with `okrflow serve`."""
    try:
        from okrflow.services import demo as demo_service
    except ModuleNotFoundError as exc:
        if exc.name != "okrflow.services.demo":
            raise
        raise ConfigurationError("the demo builder is not part of this okrflow build") from None

    state = _state(ctx)
    db = state.db(require_schema=False)
    summary = demo_service.build(db, force=force, actor=_actor())
    lines = [
        f"workspace  [bold]{escape(summary.workspace_name)}[/bold] ({escape(summary.workspace_slug)})",
        f"teams      {escape(', '.join(summary.teams))}",
        f"people     {summary.people}",
    ]
    # Later capabilities add counts to the summary; show the ones this build has.
    extras = [
        f"{getattr(summary, name)} {label}"
        for name, label in (("objectives", "objectives"), ("key_results", "key results"), ("checkins", "check-ins"))
        if getattr(summary, name, 0)
    ]
    if extras:
        lines.append(f"OKRs       {', '.join(extras)}")
    if getattr(summary, "metrics", 0):
        lines.append(f"KPIs       {summary.metrics} metrics")
    lines += [
        f"sign in    {escape(summary.admin_username)} / {escape(summary.admin_password)}",
        f"database   {escape(summary.database_url)}",
    ]
    body = "\n".join(lines)
    out.print(Panel(body, title="okrflow demo ready", expand=False))
    prefix = "" if state.database_url is None else f"--database-url {escape(summary.database_url)} "
    out.print(f"Next: [bold]okrflow {prefix}serve[/bold] and open http://127.0.0.1:8000/")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="okrflow")


if __name__ == "__main__":  # pragma: no cover
    main()
