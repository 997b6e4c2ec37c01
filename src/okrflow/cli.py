"""The ``okrflow`` command line: setup, serving, accounts, tokens, audit, configuration, OKRs, the KPI catalog,
backup, demo; sources of work, sync and import runs, mappings and traceability (in ``okrflow.cli_work``); flow,
DORA and forecasts (in ``okrflow.cli_flow``).

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


class _Console(Console):
    """Wraps text to the terminal; piped or redirected, keeps each line of text whole (for grep and friends).
    Panels and tables are laid out as usual (soft wrapping would crop them)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if all(isinstance(o, str) for o in objects):
            kwargs.setdefault("soft_wrap", not self.is_terminal)
        super().print(*objects, **kwargs)


out = _Console(highlight=False)
err = _Console(stderr=True, highlight=False)


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
    out.print(
        f"{escape(str(file))} is valid: workspace {escape(loaded.workspace.slug)}, {len(loaded.teams)} team(s), "
        f"{len(loaded.metrics)} metric(s), {len(loaded.sources)} source(s)"
    )


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
    """Create or update the workspace, teams, settings, metrics and sources of an okrflow.yaml (never deletes)."""
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
    if report.unmanaged_metrics:
        err.print(
            f"[yellow]note:[/yellow] {len(report.unmanaged_metrics)} metric(s) exist in the database but not in the "
            f"file (left as they are): {escape(', '.join(report.unmanaged_metrics))}"
        )
    if report.unmanaged_sources:
        err.print(
            f"[yellow]note:[/yellow] {len(report.unmanaged_sources)} source(s) exist in the database but not in the "
            f"file (left as they are): {escape(', '.join(report.unmanaged_sources))}"
        )
    for note in report.notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}")


# ------------------------------------------------------------------ OKRs and the KPI catalog: shared helpers

WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace slug (default: the only workspace).")
]
_STATUS_STYLE = {"on_track": "green", "at_risk": "yellow", "off_track": "red"}
_STATUS_TEXT = {"on_track": "on track", "at_risk": "at risk", "off_track": "off track"}
_THRESHOLD_STYLE = {"green": "green", "amber": "yellow", "red": "red"}
_FRESHNESS_STYLE = {"fresh": "green", "warn": "yellow", "error": "red", "no_data": "dim"}
_SPARKS = "▁▂▃▄▅▆▇█"

okr_app = typer.Typer(help="Objectives and key results: the tree, check-ins, periods.", no_args_is_help=True)
period_app = typer.Typer(help="Strategy periods (years and their quarters).", no_args_is_help=True)
objective_app = typer.Typer(help="Objectives.", no_args_is_help=True)
kr_app = typer.Typer(help="Key results.", no_args_is_help=True)
metrics_app = typer.Typer(help="The KPI catalog: metric definitions, their versions, values.", no_args_is_help=True)
okr_app.add_typer(period_app, name="period")
okr_app.add_typer(objective_app, name="objective")
okr_app.add_typer(kr_app, name="kr")
app.add_typer(okr_app, name="okr")
app.add_typer(metrics_app, name="metrics")


def _workspace(session: Any, actor: Actor, slug: str | None) -> Any:
    """The workspace named by ``--workspace``, or the only one there is."""
    from okrflow.services import tenancy

    if slug:
        ws = tenancy.workspace_by_slug(session, slug.strip())
        if ws is None:
            raise NotFoundError(f"workspace {slug!r} does not exist")
        return tenancy.get_workspace(session, actor, ws.id)
    workspaces = tenancy.list_workspaces(session, actor)
    if len(workspaces) == 1:
        return workspaces[0]
    if not workspaces:
        raise NotFoundError("there is no workspace yet; run `okrflow init` or `okrflow config apply FILE`")
    slugs = ", ".join(w.slug for w in workspaces)
    raise InvalidInputError(f"there are {len(workspaces)} workspaces ({slugs}); choose one with --workspace")


def _period_named(session: Any, actor: Actor, ws: Any, name: str) -> Any:
    from okrflow.services import okr

    period = okr.period_by_name(session, ws.id, name.strip())
    if period is None:
        known = ", ".join(p.name for p in okr.list_periods(session, actor, ws.id)) or "none yet"
        raise NotFoundError(f"period {name!r} does not exist in workspace {ws.slug} (periods: {known})")
    return period


def _team_id(session: Any, ws: Any, slug: str | None) -> int | None:
    from okrflow.services import tenancy

    if slug is None:
        return None
    team = tenancy.team_by_slug(session, ws.id, slug.strip())
    if team is None:
        raise NotFoundError(f"team {slug!r} does not exist in workspace {ws.slug}")
    return int(team.id)


def _person_id(session: Any, workspace_id: int, email: str | None, option: str = "--owner") -> int | None:
    from sqlalchemy import func, select

    from okrflow.store.models import Person

    if email is None:
        return None
    person_id = session.scalar(
        select(Person.id).where(Person.workspace_id == workspace_id, func.lower(Person.email) == email.strip().lower())
    )
    if person_id is None:
        raise NotFoundError(f"{option}: no person with e-mail {email!r} in this workspace")
    return int(person_id)


def _person_name(session: Any, person_id: int | None) -> str | None:
    from okrflow.store.models import Person

    person = session.get(Person, person_id) if person_id is not None else None
    return person.name if person is not None else None


def _num(value: float | None) -> str:
    """A number for people: 136,000 / 98.35 / 0.0012; '-' for none."""
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _amount(value: float | None, unit: str) -> str:
    return f"{_num(value)} {unit}".rstrip() if value is not None else "-"


def _kr_value(kr: Any, value: float | None) -> str:
    """A key result's value with its unit; milestones as 'n of m milestones'."""
    if kr.direction == "milestone" and value is not None:
        return f"{_num(value)} of {max(1, len(kr.milestones or []))} milestones"
    return _amount(value, kr.unit)


def _pct(raw: float | None) -> str:
    return "-" if raw is None else f"{raw * 100:.0f}%"


def _bar(fraction: float, style: str, width: int = 12) -> str:
    """Rich markup of a progress bar; ``fraction`` is clamped to 0..1 (the raw percentage is shown beside it)."""
    full = round(min(1.0, max(0.0, fraction)) * width)
    return f"[{style}]{'█' * full}[/{style}][dim]{'░' * (width - full)}[/dim]"


def _age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 3600:
        return "just now" if seconds < 60 else f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"


def _status(status: Any) -> str:
    """Rich markup of a check-in status (on track / at risk / off track) in its colour."""
    if status is None:
        return "[dim]no check-in[/dim]"
    value = str(getattr(status, "value", status))
    style = _STATUS_STYLE.get(value, "white")
    return f"[{style}]{_STATUS_TEXT.get(value, value)}[/{style}]"


def _styled(value: str | None, styles: dict[str, str]) -> str:
    if value is None:
        return "-"
    style = styles.get(value, "white")
    return f"[{style}]{escape(value)}[/{style}]"


def sparkline(values: list[float], width: int = 40) -> str:
    """A text sparkline of ``values``, evenly sampled down to ``width`` points (always keeping the newest)."""
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [values[min(len(values) - 1, round((i + 1) * step) - 1)] for i in range(width)]
    low, high = min(values), max(values)
    if high == low:
        return _SPARKS[3] * len(values)
    return "".join(_SPARKS[round((v - low) / (high - low) * (len(_SPARKS) - 1))] for v in values)


def _wide_print(renderable: Any) -> None:
    (out if out.is_terminal else Console(highlight=False, width=400)).print(renderable)


def _forecast_markup(state: Any) -> str:
    fc = state.forecast
    text = f"{escape(_kr_value(state.kr, fc.value_at_end))} at end"
    if fc.probability_on_target is not None:
        text += f" (P on target {fc.probability_on_target * 100:.0f}%)"
    return text + ("  [red]▲ at risk[/red]" if fc.at_risk else "  [green]on target[/green]")


def _kr_label(state: Any, now: datetime) -> str:
    kr = state.kr
    style = _STATUS_STYLE.get(state.status.value if state.status else "", "cyan")
    bound = f"  [dim]metric {escape(state.metric_key)}[/dim]" if state.metric_key else ""
    return (
        f"[bold]KR {kr.id}[/bold] {escape(kr.title)}{bound}\n"
        f"{escape(_kr_value(kr, state.current_value))}  {_bar(state.display_progress, style)} "
        f"{_pct(state.progress)}  {_status(state.status)}"
        + (f" ({_age(state.last_checkin_at, now)})" if state.last_checkin_at else "")
        + f"  forecast {_forecast_markup(state)}"
    )


def _objective_label(state: Any) -> str:
    o, g = state.objective, state.grade
    meta = [state.team_name or "whole workspace"]
    if state.owner_name:
        meta.append(f"owner {state.owner_name}")
    meta += [state.period.name, o.commitment]
    if o.status != "active":
        meta.append(o.status)
    band = g.band.value
    verdict = "[green]success[/green]" if g.success else f"expects {g.expected:.1f}"
    line = (
        f"[bold]#{o.id} {escape(o.title)}[/bold]  [dim]{escape(' · '.join(meta))}[/dim]\n"
        f"{_bar(state.display_progress, band)} {_pct(state.progress)}  "
        f"grade [{band}]{g.grade:.1f} {band}[/{band}] ({verdict})"
    )
    if state.at_risk_krs:
        line += f"  [red]{len(state.at_risk_krs)} KR(s) at risk[/red]"
    if state.warning:
        line += f"  [yellow]⚠ {escape(state.warning)}[/yellow]"
    return line


def _add_objective(parent: Any, state: Any, now: datetime) -> None:
    node = parent.add(_objective_label(state))
    for kr_state in state.key_results:
        kr_node = node.add(_kr_label(kr_state, now))
        for child in state.children.get(kr_state.kr.id, []):
            _add_objective(kr_node, child, now)


# ------------------------------------------------------------------ OKRs: tree, show, due, check-in


@okr_app.command("tree")
def okr_tree(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    period: Annotated[str | None, typer.Option(help="Period name, e.g. 2026-Q4 (default: all periods).")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team's objectives (slug).")] = None,
) -> None:
    """The OKR tree: objectives, their key results, and under each key result the objectives aligned to it."""
    from rich.tree import Tree

    from okrflow.services import catalog, okr
    from okrflow.store.models_okr import Metric

    now = datetime.now(UTC)
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        period_id = _period_named(s, actor, ws, period).id if period else None
        states = okr.tree(s, actor, ws.id, period_id=period_id, team_id=_team_id(s, ws, team), now=now)
        title = f"[bold]{escape(ws.name)}[/bold] OKRs · {escape(period) if period else 'all periods'}"
        title += f" · team {escape(team)}" if team else ""
        metric = s.get(Metric, ws.north_star_metric_id) if ws.north_star_metric_id else None
        if metric is not None:
            st = catalog.status(s, metric, now)
            title += f"\nnorth star: {escape(st.version.name)} {escape(_amount(st.latest_value, st.version.unit))}"
        root = Tree(title)
        for state in states:
            _add_objective(root, state, now)
    if not states:
        err.print("no objectives match")
        return
    _wide_print(root)


def _kr_definition(kr: Any) -> str:
    unit = kr.unit
    if kr.direction == "band":
        return (
            f"stay within {escape(_amount(kr.band_low, unit))} – {escape(_amount(kr.band_high, unit))} "
            f"(baseline {escape(_amount(kr.baseline, unit))})"
        )
    if kr.direction == "milestone":
        names = kr.milestones or ["done"]
        return "milestones: " + ", ".join(f"{i}. {escape(m)}" for i, m in enumerate(names, start=1))
    return f"{kr.direction} from {escape(_amount(kr.baseline, unit))} to {escape(_amount(kr.target, unit))}"


@okr_app.command("show")
def okr_show(ctx: typer.Context, kr_id: Annotated[int, typer.Argument(metavar="KR_ID")]) -> None:
    """One key result: definition, current value, progress, status, forecast and its check-in history."""
    from okrflow.domain.okr import confidence_status
    from okrflow.services import okr
    from okrflow.store.models import Team, Workspace
    from okrflow.store.models_okr import Period

    now = datetime.now(UTC)
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        kr, obj = okr.get_key_result(s, actor, kr_id)
        ws, period = s.get(Workspace, obj.workspace_id), s.get(Period, obj.period_id)
        assert ws is not None and period is not None
        settings = okr.OkrSettings.of(ws)
        st = okr.kr_state(s, kr, period, settings, now)
        team = s.get(Team, obj.team_id) if obj.team_id else None
        owner = _person_name(s, kr.owner_person_id)
        checkins = okr.list_checkins(s, actor, kr.id)
        unit = kr.unit
        source = "check-ins"
        if st.metric_key:
            dims = ", ".join(f"{k}={v}" for k, v in sorted((kr.metric_dimensions or {}).items()))
            source = f"metric {st.metric_key}" + (f" ({dims})" if dims else "")
        fc, sched = st.forecast, st.schedule
        style = _STATUS_STYLE.get(st.status.value if st.status else "", "cyan")
        lines = [
            f"objective   #{obj.id} {escape(obj.title)} [dim]({escape(team.name if team else 'whole workspace')} · "
            f"{escape(period.name)} {period.start_date} – {period.end_date})[/dim]",
            f"target      {_kr_definition(kr)}",
            f"kind        {kr.kind} · weight {_num(kr.weight)} · unit {escape(unit or '-')} · "
            f"owner {escape(owner or '-')} · value from {escape(source)}",
            "",
            f"current     {escape(_kr_value(kr, st.current_value))}"
            + (f" [dim](at {_fmt_time(st.current_at)})[/dim]" if st.current_at else ""),
            f"progress    {_bar(st.display_progress, style, 20)} {_pct(st.progress)}"
            + (" [dim](over-achieved; the bar is clamped)[/dim]" if (st.progress or 0) > 1 else ""),
            f"status      {_status(st.status)}"
            + (f" (confidence {_num(st.confidence)}, checked in {_age(st.last_checkin_at, now)})" if st.status else ""),
            f"schedule    expected {_pct(sched.expected_progress)} by now (linear), "
            f"actual {_pct(sched.actual_progress)}"
            + (
                ""
                if sched.gap is None
                else f" → [{'red' if sched.behind else 'green'}]{abs(sched.gap) * 100:.0f} points "
                f"{'behind' if sched.behind else 'ahead'}[/]"
            ),
        ]
        if fc.method == "trend":
            slope = f", {_num(fc.slope_per_day)} {escape(unit)}/day" if fc.slope_per_day is not None else ""
            lines.append(f"forecast    trend fit over {fc.points} points{slope}")
            lines.append(
                f"            at period end {escape(_kr_value(kr, fc.value_at_end))} ({_pct(fc.progress_at_end)}); "
                f"{fc.level * 100:.0f}% interval {escape(_kr_value(kr, fc.low))} – {escape(_kr_value(kr, fc.high))}"
            )
            if fc.probability_on_target is not None:
                lines.append(f"            probability on target {fc.probability_on_target * 100:.0f}%")
        else:
            lines.append(
                f"forecast    expected-progress line ({fc.points} point{'s' if fc.points != 1 else ''}; "
                "a trend needs 3)"
            )
            lines.append(
                f"            at period end {escape(_kr_value(kr, fc.value_at_end))} ({_pct(fc.progress_at_end)})"
            )
        lines.append(
            "            "
            + ("[red]▲ at risk: the forecast misses the target[/red]" if fc.at_risk else "[green]on target[/green]")
        )
        spark = sparkline([v for _, v in st.history])
        if spark:
            lines.append(f"history     {spark} [dim]({len(st.history)} values)[/dim]")
        panel = Panel("\n".join(lines), title=f"KR {kr.id} · {escape(kr.title)}", expand=False)
        table = Table("at (UTC)", "value", "confidence", "status", "note", "author", title="check-ins")
        for c in reversed(checkins):
            table.add_row(
                _fmt_time(c.at),
                escape(_kr_value(kr, c.value)) if c.value is not None else "[dim](metric)[/dim]",
                _num(c.confidence),
                _status(confidence_status(c.confidence, settings.confidence)),
                escape(c.note),
                escape(c.author),
            )
    _wide_print(panel)
    if checkins:
        _print_table(table)
    else:
        out.print("no check-ins yet")


@okr_app.command("due")
def okr_due(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    days: Annotated[
        int | None,
        typer.Option(help="Due after this many days without a check-in (default: the workspace setting, 7)."),
    ] = None,
) -> None:
    """Key results of active objectives in running periods whose check-in is due."""
    from okrflow.services import okr

    now = datetime.now(UTC)
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        limit = days if days is not None else okr.OkrSettings.of(ws).checkin_due_days
        due = okr.checkins_due(s, actor, ws.id, now=now, days=days)
        rows = [
            (
                str(d.key_result.id),
                d.key_result.title,
                f"#{d.objective.id} {d.objective.title}",
                _fmt_time(d.last_checkin_at) if d.last_checkin_at else "never",
                "never" if d.days_since is None else f"{int(d.days_since)}d",
            )
            for d in due
        ]
    if not rows:
        out.print(f"No check-ins due: every key result was checked in within {limit} days")
        return
    table = Table("KR", "key result", "objective", "last check-in", "since", title=f"check-ins due (> {limit} days)")
    for row in rows:
        table.add_row(*(escape(c) for c in row))
    _print_table(table)


@app.command()
def checkin(
    ctx: typer.Context,
    kr_id: Annotated[int, typer.Argument(metavar="KR_ID")],
    confidence: Annotated[float, typer.Option(help="How sure you are to hit the target, 0-10.")],
    value: Annotated[
        float | None, typer.Option(help="The current value (leave out for a key result bound to a metric).")
    ] = None,
    note: Annotated[str, typer.Option(help="What happened, what's next.")] = "",
) -> None:
    """Check in on a key result: its current value, your confidence and a note."""
    from okrflow.services import okr
    from okrflow.store.models import Workspace
    from okrflow.store.models_okr import Period

    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        c = okr.create_checkin(s, actor, kr_id, confidence=confidence, value=value, note=note)
        kr, obj = okr.get_key_result(s, actor, kr_id)
        ws, period = s.get(Workspace, obj.workspace_id), s.get(Period, obj.period_id)
        assert ws is not None and period is not None
        st = okr.kr_state(s, kr, period, okr.OkrSettings.of(ws), c.at)
        style = _STATUS_STYLE.get(st.status.value if st.status else "", "cyan")
        message = (
            f"Checked in KR {kr.id} {escape(kr.title)} (check-in {c.id})\n"
            f"  value     {escape(_kr_value(kr, st.current_value))}"
            + (f" [dim](from metric {escape(st.metric_key)})[/dim]" if st.metric_key else "")
            + f"\n  progress  {_bar(st.display_progress, style)} {_pct(st.progress)}\n"
            f"  status    {_status(st.status)} (confidence {_num(c.confidence)})\n"
            f"  forecast  {_forecast_markup(st)}"
        )
    out.print(message)


# ------------------------------------------------------------------ OKRs: periods, objectives, key results


@period_app.command("create-year")
def period_create_year(
    ctx: typer.Context, year: Annotated[int, typer.Argument(help="e.g. 2026")], workspace: WorkspaceOption = None
) -> None:
    """Create the annual period YEAR and its quarters YEAR-Q1..Q4 (existing ones are kept)."""
    from okrflow.services import okr

    if not 1970 <= year <= 9999:
        raise InvalidInputError(f"{year} is not a year okrflow plans for (1970-9999)")
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        before = {p.id for p in okr.list_periods(s, actor, ws.id)}
        periods = okr.create_year(s, actor, ws.id, year)
        rows = [(p.name, p.kind, str(p.start_date), str(p.end_date), p.id not in before) for p in periods]
    for name, kind, start, end, new in rows:
        mark = "[green]+[/green]" if new else "[dim]=[/dim]"
        out.print(f"{mark} {escape(name):<8} {kind:<8} {start} – {end}{'' if new else '  (exists)'}")


@period_app.command("list")
def period_list(ctx: typer.Context, workspace: WorkspaceOption = None) -> None:
    """List the periods of the workspace."""
    from okrflow.services import okr

    actor = _actor()
    db = _state(ctx).db()
    today = datetime.now(UTC).date()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        periods = okr.list_periods(s, actor, ws.id)
        names = {p.id: p.name for p in periods}
        rows = [
            (
                str(p.id),
                p.name,
                p.kind,
                str(p.start_date),
                str(p.end_date),
                names.get(p.parent_id, "") if p.parent_id else "",
                "current" if p.start_date <= today <= p.end_date else "",
            )
            for p in periods
        ]
    table = Table("id", "name", "kind", "start", "end", "within", "")
    for row in rows:
        table.add_row(*(escape(c) for c in row))
    _print_table(table)
    if not rows:
        err.print("no periods yet; create some with `okrflow okr period create-year YEAR`")


@objective_app.command("add")
def objective_add(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Period name, e.g. 2026-Q4.")],
    title: Annotated[str, typer.Option(help="What you want to achieve.")],
    workspace: WorkspaceOption = None,
    team: Annotated[str | None, typer.Option(help="Team slug (default: an objective of the whole workspace).")] = None,
    owner: Annotated[str | None, typer.Option(help="E-mail of the owning person.")] = None,
    description: Annotated[str, typer.Option(help="Why it matters.")] = "",
    aspirational: Annotated[
        bool, typer.Option("--aspirational", help="Aspirational (~0.7 is success) instead of committed (1.0).")
    ] = False,
    align_to: Annotated[
        int | None, typer.Option("--align-to", metavar="KR_ID", help="Align to (contribute to) this parent key result.")
    ] = None,
    draft: Annotated[bool, typer.Option("--draft", help="Create it as a draft instead of active.")] = False,
) -> None:
    """Add an objective to a period."""
    from okrflow.services import okr

    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        p = _period_named(s, actor, ws, period)
        o = okr.create_objective(
            s,
            actor,
            ws.id,
            p.id,
            title,
            team_id=_team_id(s, ws, team),
            owner_person_id=_person_id(s, ws.id, owner),
            description=description,
            status="draft" if draft else "active",
            commitment="aspirational" if aspirational else "committed",
            aligned_to_kr_id=align_to,
        )
        summary = f"Created objective #{o.id} {escape(o.title)} ({o.commitment}, {escape(p.name)})"
        if align_to is not None:
            summary += f", aligned to KR {align_to}"
        oid = o.id
    out.print(summary)
    out.print(f"Next: add 3 to 5 key results with [bold]okrflow okr kr add {oid} --title ... --direction ...[/bold]")


def _dimensions(pairs: list[str] | None) -> dict[str, str]:
    dims: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidInputError(f"--dim {pair!r}: write NAME=VALUE, e.g. --dim team=payments")
        dims[name.strip()] = value.strip()
    return dims


@kr_app.command("add")
def kr_add(
    ctx: typer.Context,
    objective_id: Annotated[int, typer.Argument(metavar="OBJECTIVE_ID")],
    title: Annotated[str, typer.Option(help="The measurable result.")],
    direction: Annotated[str, typer.Option(help="increase, decrease, band or milestone.")],
    baseline: Annotated[float | None, typer.Option(help="Value at the start (default 0).")] = None,
    target: Annotated[float | None, typer.Option(help="Value to reach (increase / decrease).")] = None,
    low: Annotated[float | None, typer.Option(help="Band: lowest good value.")] = None,
    high: Annotated[float | None, typer.Option(help="Band: highest good value.")] = None,
    milestone: Annotated[
        list[str] | None, typer.Option("--milestone", help="Milestone: a step to reach (repeat for several).")
    ] = None,
    unit: Annotated[str, typer.Option(help="Unit, e.g. %, ms, buyers.")] = "",
    weight: Annotated[float, typer.Option(help="Weight in the objective's progress.")] = 1.0,
    kind: Annotated[str, typer.Option(help="outcome, output or discovery.")] = "outcome",
    owner: Annotated[str | None, typer.Option(help="E-mail of the owning person.")] = None,
    metric: Annotated[
        str | None, typer.Option(help="Bind to this metric of the catalog (key): it updates the value itself.")
    ] = None,
    dim: Annotated[
        list[str] | None, typer.Option("--dim", help="Metric dimension NAME=VALUE, e.g. team=payments (repeatable).")
    ] = None,
) -> None:
    """Add a key result to an objective."""
    from okrflow.domain.okr import kr_count_warning
    from okrflow.services import catalog, okr

    direction = direction.strip().lower()
    if direction in ("increase", "decrease") and target is None:
        raise InvalidInputError(f"--target is needed for a key result that should {direction}")
    if direction == "band" and (low is None or high is None):
        raise InvalidInputError("a band key result needs --low and --high")
    if dim and not metric:
        raise InvalidInputError("--dim needs --metric")
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        obj = okr.get_objective(s, actor, objective_id)
        metric_id = catalog.metric_by_key(s, actor, obj.workspace_id, metric.strip()).id if metric else None
        extra: dict[str, Any] = {}
        if baseline is not None:
            extra["baseline"] = baseline
        if target is not None:
            extra["target"] = target
        kr = okr.create_key_result(
            s,
            actor,
            obj.id,
            title,
            direction,
            band_low=low,
            band_high=high,
            milestones=milestone or [],
            unit=unit,
            weight=weight,
            kind=kind,
            owner_person_id=_person_id(s, obj.workspace_id, owner),
            metric_id=metric_id,
            metric_dimensions=_dimensions(dim),
            **extra,
        )
        summary = f"Created KR {kr.id} {escape(kr.title)} on objective #{obj.id}: {_kr_definition(kr)}"
        warning = kr_count_warning(len(okr.list_key_results(s, actor, obj.id)))
    out.print(summary)
    if warning:
        err.print(f"[yellow]note:[/yellow] {escape(warning)}")


@okr_app.command("north-star")
def okr_north_star(
    ctx: typer.Context,
    metric_key: Annotated[str, typer.Argument(metavar="METRIC_KEY", help="Key of a metric of the catalog.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Name the workspace's north-star metric."""
    from okrflow.services import catalog, okr

    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        metric = catalog.metric_by_key(s, actor, ws.id, metric_key.strip())
        okr.set_north_star(s, actor, ws.id, metric.id)
        name = catalog.current_version(s, metric).name
        slug = ws.slug
    out.print(f"North star of {escape(slug)}: {escape(name)} ({escape(metric_key.strip())})")


# ------------------------------------------------------------------ the KPI catalog

DefinitionOpt = Annotated[str | None, typer.Option(help="Business definition (the glossary text).")]
UnitOpt = Annotated[str | None, typer.Option(help="Unit, e.g. %, ms, orders.")]
IndicatorOpt = Annotated[str | None, typer.Option(help="leading or lagging.")]
DirectionOpt = Annotated[str | None, typer.Option(help="Which way is better: increase, decrease or band.")]
AggregationOpt = Annotated[str | None, typer.Option(help="sum, mean, last or ratio.")]
NumeratorOpt = Annotated[str | None, typer.Option(help="Ratio: key of the numerator metric.")]
DenominatorOpt = Annotated[str | None, typer.Option(help="Ratio: key of the denominator metric.")]
DimensionOpt = Annotated[
    list[str] | None, typer.Option("--dimension", help="A dimension name, e.g. team (repeat for several).")
]
SourceOpt = Annotated[str | None, typer.Option(help="Where the values come from.")]
CalculationOpt = Annotated[str | None, typer.Option(help="The calculation rule, as text or SQL.")]
WarnOpt = Annotated[float | None, typer.Option("--warn-after", metavar="HOURS", help="Freshness: warn after.")]
ErrorOpt = Annotated[float | None, typer.Option("--error-after", metavar="HOURS", help="Freshness: error after.")]
GreenOpt = Annotated[float | None, typer.Option(help="Threshold: green from this value (with --red).")]
RedOpt = Annotated[float | None, typer.Option(help="Threshold: red beyond this value (with --green).")]
LowOpt = Annotated[float | None, typer.Option(help="Target band: lowest good value (with --high).")]
HighOpt = Annotated[float | None, typer.Option(help="Target band: highest good value (with --low).")]
OwnerOpt = Annotated[str | None, typer.Option(help="E-mail of the owning person.")]


@dataclass
class _DefinitionOptions:
    """The definition options of `metrics define` and `metrics revise`; None means 'not given'."""

    name: str | None = None
    definition: str | None = None
    unit: str | None = None
    indicator: str | None = None
    direction: str | None = None
    aggregation: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    dimension: list[str] | None = None
    source: str | None = None
    calculation: str | None = None
    warn_after: float | None = None
    error_after: float | None = None
    green: float | None = None
    red: float | None = None
    low: float | None = None
    high: float | None = None
    owner: str | None = None

    def fields(self, session: Any, workspace_id: int, current_thresholds: dict[str, float]) -> dict[str, Any]:
        """The definition fields given (``catalog.DEFINITION_FIELDS`` names)."""
        plain = {
            "name": self.name,
            "definition": self.definition,
            "unit": self.unit,
            "indicator": self.indicator,
            "direction": self.direction,
            "aggregation": self.aggregation,
            "numerator_key": self.numerator,
            "denominator_key": self.denominator,
            "source": self.source,
            "calculation": self.calculation,
            "freshness_warn_hours": self.warn_after,
            "freshness_error_hours": self.error_after,
        }
        fields: dict[str, Any] = {k: v for k, v in plain.items() if v is not None}
        if self.dimension:
            fields["dimensions"] = [d.strip() for d in self.dimension]
        if self.owner is not None:
            fields["owner_person_id"] = _person_id(session, workspace_id, self.owner)
        colours = {k: v for k, v in (("green", self.green), ("red", self.red)) if v is not None}
        band = {k: v for k, v in (("low", self.low), ("high", self.high)) if v is not None}
        if colours and band:
            raise InvalidInputError("use --green/--red or --low/--high, not both")
        if colours or band:
            # One of a pair completes from the current thresholds of the same kind (revise --green 99).
            family = ("green", "red") if colours else ("low", "high")
            fields["thresholds"] = {k: v for k, v in current_thresholds.items() if k in family} | colours | band
        return fields


@metrics_app.command("define")
def metrics_define(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="Stable key: lower-case letters, digits, _ . -")],
    name: Annotated[str, typer.Option(help="Display name, e.g. 'Checkout conversion'.")],
    definition: DefinitionOpt = None,
    unit: UnitOpt = None,
    indicator: IndicatorOpt = None,
    direction: DirectionOpt = None,
    aggregation: AggregationOpt = None,
    numerator: NumeratorOpt = None,
    denominator: DenominatorOpt = None,
    dimension: DimensionOpt = None,
    source: SourceOpt = None,
    calculation: CalculationOpt = None,
    warn_after: WarnOpt = None,
    error_after: ErrorOpt = None,
    green: GreenOpt = None,
    red: RedOpt = None,
    low: LowOpt = None,
    high: HighOpt = None,
    owner: OwnerOpt = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Define a metric of the KPI catalog: version 1 of its definition."""
    from okrflow.services import catalog

    options = _DefinitionOptions(
        None, definition, unit, indicator, direction, aggregation, numerator, denominator, dimension, source,
        calculation, warn_after, error_after, green, red, low, high, owner,
    )  # fmt: skip
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        metric = catalog.define_metric(s, actor, ws.id, key, name=name, **options.fields(s, ws.id, {}))
        shown = f"Defined metric {escape(metric.key)} (id {metric.id}) in {escape(ws.slug)}: version 1"
    out.print(shown)


@metrics_app.command("revise")
def metrics_revise(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY")],
    reason: Annotated[str | None, typer.Option(help="Why the definition changes (kept in the history).")] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    definition: DefinitionOpt = None,
    unit: UnitOpt = None,
    indicator: IndicatorOpt = None,
    direction: DirectionOpt = None,
    aggregation: AggregationOpt = None,
    numerator: NumeratorOpt = None,
    denominator: DenominatorOpt = None,
    dimension: DimensionOpt = None,
    source: SourceOpt = None,
    calculation: CalculationOpt = None,
    warn_after: WarnOpt = None,
    error_after: ErrorOpt = None,
    green: GreenOpt = None,
    red: RedOpt = None,
    low: LowOpt = None,
    high: HighOpt = None,
    owner: OwnerOpt = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Change a metric's definition or calculation rule: writes version n+1; stored values keep theirs."""
    from okrflow.services import catalog

    options = _DefinitionOptions(
        name, definition, unit, indicator, direction, aggregation, numerator, denominator, dimension, source,
        calculation, warn_after, error_after, green, red, low, high, owner,
    )  # fmt: skip
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        metric = catalog.metric_by_key(s, actor, ws.id, key.strip())
        current = catalog.current_version(s, metric)
        changes = options.fields(s, ws.id, dict(current.thresholds or {}))
        if not changes:
            raise InvalidInputError("say what changes: give at least one option such as --calculation or --unit")
        version = catalog.revise_metric(s, actor, metric.id, changes, reason or "")
        diff = catalog.compare_versions(current, version)
        shown = f"Revised metric {escape(metric.key)}: version {version.number} ({escape(', '.join(diff))})"
    out.print(shown)
    out.print("Values stored so far keep the version they were computed with; new values use the new one.")


@metrics_app.command("list")
def metrics_list(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    archived: Annotated[bool, typer.Option("--archived", help="Include archived metrics.")] = False,
) -> None:
    """The KPI catalog: each metric with its latest value, threshold status and freshness."""
    from okrflow.services import catalog

    now = datetime.now(UTC)
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        rows = []
        for m in catalog.list_metrics(s, actor, ws.id, include_archived=archived):
            st = catalog.status(s, m, now)
            star = " ★" if ws.north_star_metric_id == m.id else ""
            rows.append(
                (
                    escape(m.key) + star,
                    escape(st.version.name),
                    escape(st.version.unit),
                    f"v{st.version.number}",
                    escape(_num(st.latest_value)),
                    _fmt_time(st.latest_at),
                    _styled(st.threshold, _THRESHOLD_STYLE),
                    _styled(st.freshness, _FRESHNESS_STYLE),
                    escape(_person_name(s, st.version.owner_person_id) or ""),
                )
            )
    table = Table("key", "name", "unit", "version", "latest", "at (UTC)", "threshold", "freshness", "owner")
    for row in rows:
        table.add_row(*row)
    _print_table(table)
    if not rows:
        err.print("no metrics yet; define one with `okrflow metrics define KEY --name ...`")


def _shown(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, dict):  # thresholds: green before red, low before high (JSONB keeps no order)
        order = {"green": 0, "red": 1, "low": 2, "high": 3}
        keys = sorted(value, key=lambda k: (order.get(k, 9), k))
        return ", ".join(f"{k} {_num(value[k]) if isinstance(value[k], int | float) else value[k]}" for k in keys)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return _num(value)
    return str(value)


@metrics_app.command("versions")
def metrics_versions(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY")],
    diff: Annotated[
        tuple[int, int] | None,
        typer.Option(metavar="A B", help="Show the fields that differ between versions A and B."),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Every version of a metric's definition: who changed it, when and why; --diff A B compares two."""
    from okrflow.services import catalog

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        metric = catalog.metric_by_key(s, actor, ws.id, key.strip())
        history = catalog.versions(s, actor, metric.id)
        table = Table("version", "created (UTC)", "author", "reason", "changed", title=f"metric {escape(metric.key)}")
        previous = None
        for v in history:
            changed = ", ".join(catalog.compare_versions(previous, v)) if previous is not None else "-"
            current = " (current)" if v.number == metric.current_version else ""
            table.add_row(
                f"v{v.number}{current}", _fmt_time(v.created_at), escape(v.author), escape(v.reason), escape(changed)
            )
            previous = v
        comparison = None
        if diff is not None:
            by_number = {v.number: v for v in history}
            missing = [n for n in diff if n not in by_number]
            if missing:
                raise NotFoundError(f"metric {metric.key!r} has no version {missing[0]} (it has 1 to {len(history)})")
            a, b = by_number[diff[0]], by_number[diff[1]]
            changes = catalog.compare_versions(a, b)
            comparison = Table("field", f"v{a.number}", f"v{b.number}", title=f"v{a.number} → v{b.number}")
            for field_name, (before, after) in changes.items():
                if field_name == "owner_person_id":
                    field_name, before, after = "owner", _person_name(s, before), _person_name(s, after)
                comparison.add_row(escape(field_name), escape(_shown(before)), escape(_shown(after)))
    _print_table(table)
    if comparison is not None:
        if comparison.row_count:
            _print_table(comparison)
        else:
            out.print(f"v{diff[0]} and v{diff[1]} define the metric the same way")  # type: ignore[index]


@metrics_app.command("import")
def metrics_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="metric,timestamp,value[,dim.<name>...][,source]")],
    workspace: WorkspaceOption = None,
    source: Annotated[str, typer.Option(help="Source recorded for rows without a source column.")] = "csv",
) -> None:
    """Import metric values from a CSV file: all or nothing; a re-import changes nothing."""
    import uuid

    from okrflow.services import catalog

    try:
        text = file.read_text(encoding="utf-8-sig")  # -sig: spreadsheets like to start with a byte-order mark
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None
    run_id = uuid.uuid4().hex[:12]
    actor = _actor()
    db = _state(ctx).db()
    try:
        with db.write() as s, _progress() as progress:
            ws = _workspace(s, actor, workspace)
            report = catalog.import_values_csv(
                s, actor, ws.id, text, source=source, import_run=run_id, progress=progress
            )
    except InvalidInputError as exc:
        errors = exc.details.get("errors")
        if not errors:
            raise
        for line in errors:
            typer.echo(f"{file}: {line}", err=True)
        raise InvalidInputError(
            f"{file}: {len(errors)} bad line{'s' if len(errors) != 1 else ''}; nothing was imported"
        ) from None
    out.print(
        f"Imported {escape(str(file))}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged" + (f" (import run {run_id})" if report.created or report.updated else "")
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
    if getattr(summary, "work_items", 0):
        lines.append(
            f"work       {summary.work_items:,} items, {summary.status_changes:,} status changes, "
            f"{summary.deployments:,} deployments"
        )
    if getattr(summary, "pilots", 0):
        lines.append(
            f"decisions  {summary.pilots} pilots, {summary.decisions} decisions, "
            f"{summary.anticipated_outcomes} anticipated outcomes ({summary.actual_outcomes} reviewed), "
            f"{summary.retrospectives} retrospectives"
        )
    body = "\n".join(lines)
    out.print(Panel(body, title="okrflow demo ready", expand=False))
    from okrflow.services import briefing
    from okrflow.services.tenancy import workspace_by_slug

    first: list[str] = []
    if getattr(summary, "work_items", 0):  # a demo with work data: say what to look at first
        with db.read() as s:
            ws = workspace_by_slug(s, summary.workspace_slug)
            first = briefing.headlines(s, _actor(), ws.id) if ws is not None else []
    if first:
        out.print("[bold]Look at these first:[/bold]")
        for line in first:
            out.print(f"  • {escape(line)}")
    prefix = "" if state.database_url is None else f"--database-url {escape(summary.database_url)} "
    out.print(f"Next: [bold]okrflow {prefix}serve[/bold] and open http://127.0.0.1:8000/")


# The commands for work (sources, sync, import, runs, mappings, traceability) and for flow (flow, dora, forecast)
# live in their own modules.
from okrflow import cli_flow as _cli_flow  # noqa: E402,F401  (flow, dora and forecast commands)
from okrflow import cli_pilots as _cli_pilots  # noqa: E402,F401  (pilot, decision, outcome and retro)
from okrflow import cli_stats as _cli_stats  # noqa: E402,F401  (stats ab and stats srm)
from okrflow import cli_work as _cli_work  # noqa: E402,F401  (registers its commands on ``app``)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="okrflow")


if __name__ == "__main__":  # pragma: no cover
    main()
