"""The ``okrflow`` commands for work: connector secrets, sources, sync and import runs, mappings, traceability.

Registered on :data:`okrflow.cli.app` (imported at the end of ``okrflow.cli``). Like every command there, each is
a thin edge over one service call: errors are one line on stderr with the exit code of their class. Credentials
are never printed: ``source add`` reads a token from a hidden prompt or an environment variable.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from okrflow.cli import (
    WorkspaceOption,
    _actor,
    _fmt_time,
    _period_named,
    _print_table,
    _progress,
    _state,
    _team_id,
    _wide_print,
    _workspace,
    app,
    err,
    out,
)
from okrflow.domain.errors import ConfigurationError, InvalidInputError, OkrflowError

secret_app = typer.Typer(help="The key that encrypts connector credentials (OKRFLOW_SECRET_KEY).", no_args_is_help=True)
source_app = typer.Typer(help="Sources of work: Jira, GitHub, GitLab, files.", no_args_is_help=True)
mappings_app = typer.Typer(help="How source issue types and statuses map onto levels and steps.", no_args_is_help=True)
trace_app = typer.Typer(help="Traceability: work ↔ key results, the matrix, unaligned work.", no_args_is_help=True)
app.add_typer(secret_app, name="secret")
app.add_typer(source_app, name="source")
app.add_typer(mappings_app, name="mappings")
app.add_typer(trace_app, name="trace")

SourceOption = Annotated[str, typer.Option("--source", "-s", help="Name of the source.")]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _source(session: Any, actor: Any, workspace: str | None, name: str) -> tuple[Any, Any]:
    from okrflow.services import sources

    ws = _workspace(session, actor, workspace)
    return ws, sources.source_by_name(session, actor, ws.id, name.strip())


def _duration(run: Any) -> str:
    if run.finished_at is None or run.started_at is None:
        return "-"
    seconds = (_aware(run.finished_at) - _aware(run.started_at)).total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _first_error(run: Any, width: int = 80) -> str:
    errors = run.errors or []
    if not errors:
        return ""
    text = " ".join(str(errors[0]).split())
    more = f" (+{len(errors) - 1})" if len(errors) > 1 else ""
    return (text if len(text) <= width else text[: width - 1] + "…") + more


# ------------------------------------------------------------------ secret


@secret_app.command("generate")
def secret_generate() -> None:
    """Print a new key for OKRFLOW_SECRET_KEY (on stdout; how to set it on stderr)."""
    from okrflow.services import sources

    key = sources.generate_secret_key()
    err.print(
        f"A new key for {sources.SECRET_ENV} (it encrypts connector credentials). Keep it in your secret store and "
        f"set it wherever okrflow runs, e.g.\n  export {sources.SECRET_ENV}='<the key below>'\n"
        "[yellow]Losing or changing it makes stored credentials unreadable: enter them again then.[/yellow]"
    )
    typer.echo(key)


# ------------------------------------------------------------------ sources


def _setting_value(raw: str) -> Any:
    """``--setting`` values: lists/objects in YAML flow style ([a, b], {k: v}), true/false, numbers; else text."""
    text = raw.strip()
    if text[:1] in ("[", "{"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            raise InvalidInputError(f"--setting value {raw!r} is not a valid list or object") from None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return raw


def _settings(pairs: list[str] | None) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--setting {pair!r}: write KEY=VALUE, e.g. --setting jql='project = PAY'")
        settings[key.strip()] = _setting_value(value)
    return settings


@source_app.command("add")
def source_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name: lower-case letters, digits, _ . -")],
    kind: Annotated[str, typer.Option(help="jira, github, gitlab or files.")],
    url: Annotated[str, typer.Option("--url", help="Base URL, e.g. https://acme.atlassian.net.")] = "",
    setting: Annotated[
        list[str] | None,
        typer.Option("--setting", metavar="KEY=VALUE", help="A connector setting (repeatable), e.g. jql=project=PAY."),
    ] = None,
    team: Annotated[str | None, typer.Option(help="Slug of the team the source's work belongs to.")] = None,
    email: Annotated[
        str | None, typer.Option(envvar="OKRFLOW_SOURCE_EMAIL", help="Jira Cloud: e-mail of the API user.")
    ] = None,
    token: Annotated[
        bool, typer.Option("--token", help="Ask for the API token / personal access token (hidden prompt).")
    ] = False,
    token_env: Annotated[
        str | None, typer.Option("--token-env", metavar="VAR", help="Read the token from this environment variable.")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Add a source of work. Its token is read from a hidden prompt or an environment variable, stored
    encrypted under OKRFLOW_SECRET_KEY, and never shown again."""
    from okrflow.services import sources

    kind = kind.strip().lower()
    if token and token_env:
        raise InvalidInputError("use --token (prompt) or --token-env VAR, not both")
    settings = _settings(setting)
    secret: str | None = None
    if token or token_env or email:
        if kind in sources.KINDS:
            # refuse a files source or an e-mail for GitHub before asking for anything
            sources.make_credentials(kind, email=email, token="?")  # noqa: S106 - a placeholder
        sources.encrypt_credentials({})  # fails fast, before any prompt, when OKRFLOW_SECRET_KEY is missing
        if token_env:
            secret = os.environ.get(token_env.strip(), "")
            if not secret.strip():
                raise InvalidInputError(f"--token-env: the environment variable {token_env.strip()} is not set")
        elif token or email:
            secret = str(typer.prompt("Token", hide_input=True, err=True))
    credentials = sources.make_credentials(kind, email=email, token=secret) if kind in sources.KINDS else {}
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        src = sources.create_source(
            s,
            actor,
            ws.id,
            name.strip(),
            kind,
            base_url=url.strip(),
            settings=settings,
            credentials=credentials or None,
            team_id=_team_id(s, ws, team),
        )
        shown = f"Added {escape(src.kind)} source {escape(src.name)} (id {src.id}) to {escape(ws.slug)}"
    out.print(shown)
    out.print(f"  credentials  {'stored, encrypted' if credentials else 'none'}")
    if kind == "files":
        out.print(f"Next: [bold]okrflow import FILE… --source {escape(name.strip())}[/bold]")
    else:
        out.print(f"Next: [bold]okrflow sync {escape(name.strip())}[/bold]")


@source_app.command("list")
def source_list(ctx: typer.Context, workspace: WorkspaceOption = None) -> None:
    """The sources of the workspace (never their credentials)."""
    from okrflow.services import imports, sources
    from okrflow.store.models import Team

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        rows = []
        for src in sources.list_sources(s, actor, ws.id):
            team = s.get(Team, src.team_id) if src.team_id else None
            last = next(iter(imports.list_runs(s, actor, src.id, limit=1)), None)
            rows.append(
                (
                    escape(src.name),
                    src.kind,
                    escape(src.base_url or "-"),
                    escape(team.slug if team else "-"),
                    "stored" if src.credentials else "none",
                    escape(src.cursor or "-"),
                    f"{_fmt_time(last.started_at)} {last.status}" if last else "never",
                )
            )
    table = Table("name", "kind", "url", "team", "credentials", "cursor", "last run")
    for row in rows:
        table.add_row(*row)
    _print_table(table)
    if not rows:
        err.print("no sources yet; add one with `okrflow source add NAME --kind jira|github|gitlab|files`")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@source_app.command("show")
def source_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the source.")],
    workspace: WorkspaceOption = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Newest runs to show.")] = 5,
) -> None:
    """One source: settings, its own mapping rules, cursor and its last runs (never its credentials)."""
    from okrflow.services import imports
    from okrflow.store.models import Team

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws, src = _source(s, actor, workspace, name)
        team = s.get(Team, src.team_id) if src.team_id else None
        lines = [
            f"kind         {src.kind}",
            f"url          {escape(src.base_url or '-')}",
            f"team         {escape(team.slug if team else '-')}",
            f"credentials  {'stored, encrypted' if src.credentials else 'none'}",
            f"cursor       {escape(src.cursor or '-')}",
            "settings     " + ("-" if not src.settings else ""),
        ]
        lines += [f"  {escape(k)} = {escape(_json(v))}" for k, v in sorted((src.settings or {}).items())]
        mapping = src.mapping or {}
        lines.append(
            "mapping      "
            + ("defaults of the kind only" if not any(mapping.values()) else "defaults of the kind, with these rules:")
        )
        for section in ("types", "statuses", "status_categories"):
            for rule_name, rule in (mapping.get(section) or {}).items():
                lines.append(f"  {section[:-1] if section != 'statuses' else 'status'} {escape(rule_name)!r}: "
                             f"{escape(_json(rule))}")  # fmt: skip
        runs = imports.list_runs(s, actor, src.id, limit=limit)
        table = _runs_table([(src.name, r) for r in runs], title="last runs")
        title = f"source {escape(src.name)} · {escape(ws.slug)}"
    _wide_print(Panel("\n".join(lines), title=title, expand=False))
    if runs:
        _print_table(table)
    else:
        out.print("no runs yet")


@source_app.command("test")
def source_test(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of a jira, github or gitlab source.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Test the connection of a source with its connector: who the credentials are, the repository or project,
    the JQL (one issue). Writes nothing. Exit 0 when it works, 1 when it does not (the reason is printed)."""
    from okrflow.services import sources

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        _ws, src = _source(s, actor, workspace, name)
        source_id, label = src.id, src.name
    check = sources.test_connection(db, actor, source_id)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "source": label,
                    "ok": check.ok,
                    "kind": check.kind,
                    "message": check.message,
                    "details": check.details,
                    "duration_ms": check.duration_ms,
                },
                indent=2,
                ensure_ascii=False,
                default=str,
            )
        )
    else:
        mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
        out.print(f"{mark} {escape(label)} ({check.kind}): {escape(check.message)} [dim]({check.duration_ms} ms)[/dim]")
        width = max((len(k) for k in check.details), default=0)
        for key, value in check.details.items():
            text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
            out.print(f"  {escape(key.replace('_', ' ')):<{width}}  {escape(text)}")
    if not check.ok:
        raise typer.Exit(1)


# ------------------------------------------------------------------ runs


def _runs_table(runs: list[tuple[str, Any]], title: str | None = None) -> Table:
    table = Table(
        "run", "source", "started (UTC)", "duration", "status", "created", "updated", "unchanged", "rejected",
        "cursor before → after", "first error", title=title,
    )  # fmt: skip
    style = {"succeeded": "green", "failed": "red", "running": "yellow"}
    for source_name, r in runs:
        st = style.get(r.status, "white")
        table.add_row(
            str(r.id),
            escape(source_name),
            _fmt_time(r.started_at),
            _duration(r),
            f"[{st}]{r.status}[/{st}]",
            str(r.created),
            str(r.updated),
            str(r.unchanged),
            str(r.rejected),
            escape(f"{r.cursor_before or '-'} → {r.cursor_after or '-'}"),
            escape(_first_error(r)),
        )
    return table


@app.command("runs")
def runs_list(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Newest runs to show.")] = 20,
    workspace: WorkspaceOption = None,
) -> None:
    """Sync and import runs, newest first: counts, cursor, duration and the first error."""
    from okrflow.services import imports, sources

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        chosen = (
            [sources.source_by_name(s, actor, ws.id, source.strip())]
            if source
            else sources.list_sources(s, actor, ws.id)
        )
        runs = [(src.name, r) for src in chosen for r in imports.list_runs(s, actor, src.id, limit=limit)]
        runs = sorted(runs, key=lambda pair: pair[1].id, reverse=True)[:limit]
        table = _runs_table(runs)
    _print_table(table)
    if not runs:
        err.print("no runs yet; run `okrflow sync SOURCE` or `okrflow import FILE --source NAME`")


# ------------------------------------------------------------------ sync and import


def _last_run_id(db: Any, source_id: int) -> int:
    from sqlalchemy import func, select

    from okrflow.store.models_work import SyncRun

    with db.read() as s:
        return int(s.scalar(select(func.max(SyncRun.id)).where(SyncRun.source_id == source_id)) or 0)


def _failed_runs(db: Any, source_id: int, after: int) -> list[int]:
    from sqlalchemy import select

    from okrflow.store.models_work import SyncRun

    with db.read() as s:
        return list(
            s.scalars(
                select(SyncRun.id)
                .where(SyncRun.source_id == source_id, SyncRun.id > after, SyncRun.status == "failed")
                .order_by(SyncRun.id)
            )
        )


def _report_failure(db: Any, exc: OkrflowError, source_id: int, before: int, label: str) -> NoReturn:
    """Print the run's problems one per line (stderr), then fail with one line naming the failed run."""
    errors = [str(e) for e in exc.details.get("errors") or []]
    for line in errors[:200]:
        typer.echo(" ".join(line.split()), err=True)
    if len(errors) > 200:
        typer.echo(f"… and {len(errors) - 200} more (see `okrflow runs --source {label}`)", err=True)
    run_ids = _failed_runs(db, source_id, before)
    run = f" (run {run_ids[-1]})" if run_ids else ""
    message = f"{_plural(len(errors), 'problem')}; nothing was imported{run}" if errors else f"{exc.message}{run}"
    raise type(exc)(message) from None


def _print_result(results: list[Any], warnings: list[str], seconds: float) -> None:
    created = sum(r.created for r in results)
    updated = sum(r.updated for r in results)
    unchanged = sum(r.unchanged for r in results)
    changes = sum(r.status_changes for r in results)
    ids = ", ".join(str(r.run_id) for r in results)
    out.print(
        f"{created} created, {updated} updated, {unchanged} unchanged · {_plural(changes, 'status change')} · "
        f"{seconds:.1f}s (run {ids})"
    )
    types = sorted({t for r in results for t in r.unmapped_types})
    statuses = sorted({t for r in results for t in r.unmapped_statuses})
    by_category = sorted({t for r in results for t in r.by_category})
    if types:
        out.print(f"[yellow]unmapped types[/yellow]     {escape(', '.join(types))}")
    if statuses:
        out.print(f"[yellow]unmapped statuses[/yellow]  {escape(', '.join(statuses))}")
    if by_category:
        out.print(f"[dim]mapped by category[/dim] {escape(', '.join(by_category))}")
    if types or statuses:
        out.print("  imported as they are; map them in okrflow.yaml (`okrflow mappings check` lists them all)")
    for warning in [*warnings, *(w for r in results for w in r.warnings if w not in warnings)][:50]:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")


@app.command("sync")
def sync_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="Name of a jira, github or gitlab source.")],
    full: Annotated[
        bool, typer.Option("--full", help="Read everything, not just what changed since the cursor.")
    ] = False,
    publish: Annotated[
        bool,
        typer.Option("--publish/--no-publish", help="Publish the flow and DORA catalog metrics after the sync."),
    ] = True,
    workspace: WorkspaceOption = None,
) -> None:
    """Sync a source with its connector: one all-or-nothing, idempotent run; then publish the flow and DORA
    metrics into the KPI catalog (`okrflow flow publish`) so they stay current, unless --no-publish."""
    from okrflow.cli_flow import _now as _flow_now
    from okrflow.services import sync

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        _ws, src = _source(s, actor, workspace, source)
        source_id, name, kind = src.id, src.name, src.kind
    before = _last_run_id(db, source_id)
    started = time.monotonic()
    try:
        with _progress() as progress:
            summary = sync.run(db, actor, source_id, full=full, progress=progress, publish=publish, now=_flow_now())
    except OkrflowError as exc:
        _report_failure(db, exc, source_id, before, name)
    out.print(
        f"Synced {kind} source {escape(name)}{' (full)' if full else ''}: fetched {summary.fetched} "
        f"in {_plural(summary.requests, 'request')}"
    )
    _print_result(summary.runs, summary.warnings, summary.duration_seconds or time.monotonic() - started)
    if summary.published is not None:
        from okrflow.cli_flow import publish_summary

        out.print(escape(publish_summary(summary.published)))
        for key in summary.published.skipped:
            err.print(f"[yellow]warning:[/yellow] metric {escape(key)} belongs to a person: left alone")


@app.command("import")
def import_command(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(metavar="FILE…", help="CSV or JSON files (see docs/connectors).")],
    source: SourceOption,
    timezone: Annotated[
        str | None, typer.Option(help="Zone of timestamps without an offset, e.g. Europe/Berlin (default UTC).")
    ] = None,
    jira_csv: Annotated[bool, typer.Option("--jira-csv", help="FILE is a Jira CSV export (all fields).")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Import work (and deployments, changes, incidents) from files: all or nothing; a re-import changes nothing."""
    from okrflow.services import file_import, sync

    if jira_csv and len(files) != 1:
        raise InvalidInputError("--jira-csv imports one export file at a time")
    if jira_csv and timezone:
        raise InvalidInputError("a Jira CSV export is read in the source's csv_timezone setting, not --timezone")
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        _ws, src = _source(s, actor, workspace, source)
        source_id, name = src.id, src.name
    before = _last_run_id(db, source_id)
    started = time.monotonic()
    try:
        if jira_csv:
            try:
                text = files[0].read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidInputError(f"cannot read {files[0]}: {getattr(exc, 'strerror', None) or exc}") from None
            with _progress() as progress:
                result = sync.import_jira_csv(db, actor, source_id, text, progress=progress)
            results, warnings = [result.imported], result.warnings
        else:
            with _progress() as progress:
                imported = file_import.import_files(
                    db, actor, source_id, files, timezone=timezone or "UTC", progress=progress
                )
            results = [r for r in (imported.work, imported.delivery) if r is not None]
            warnings = []
    except OkrflowError as exc:
        _report_failure(db, exc, source_id, before, name)
    out.print(f"Imported {_plural(len(files), 'file')} into {escape(name)}")
    _print_result(results, warnings, time.monotonic() - started)


# ------------------------------------------------------------------ mappings


@mappings_app.command("check")
def mappings_check(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Only this source.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Issue types and statuses stored for each source that its mapping does not cover (exit 10 if any)."""
    from okrflow.services import sources

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        chosen = (
            [sources.source_by_name(s, actor, ws.id, source.strip())]
            if source
            else sources.list_sources(s, actor, ws.id)
        )
        reports = [(src.name, src.kind, sources.mapping_report(s, actor, src.id)) for src in chosen]
    incomplete = []
    for name, kind, report in reports:
        if report.complete:
            out.print(f"[green]✓[/green] {escape(name)} ({kind}): every stored type and status is mapped")
        else:
            incomplete.append(name)
            out.print(f"[red]✗[/red] {escape(name)} ({kind}):")
        for t in report.unmapped_types:
            out.print(f"    unmapped type    {escape(t)}")
        for st in report.unmapped_statuses:
            out.print(f"    unmapped status  {escape(st)}")
        for st in report.by_category:
            out.print(f"    [dim]status {escape(st)} is mapped only by its category[/dim]")
    if not reports:
        err.print("no sources yet")
    if incomplete:
        raise ConfigurationError(
            f"unmapped types or statuses in {_plural(len(incomplete), 'source')} ({', '.join(incomplete)}); "
            "add rules under sources[].mapping in okrflow.yaml and run `okrflow config apply`"
        )


@mappings_app.command("show")
def mappings_show(ctx: typer.Context, source: SourceOption, workspace: WorkspaceOption = None) -> None:
    """The effective rules of a source: the defaults of its kind with its own rules on top."""
    from okrflow.services import sources

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        _ws, src = _source(s, actor, workspace, source)
        effective = sources.mapping_for(src)
        own = sources.parse_mapping(src.mapping)
        name, kind = src.name, src.kind

    def origin(section: str, key: str) -> str:
        return "source" if key in getattr(own, section) else f"{kind} default"

    types = Table("type (matched case-insensitively)", "level", "flow type", "from", title=f"{name}: types")
    for key, rule in sorted(effective.types.items()):
        level = rule.level.value if rule.level else "none (not a work item)"
        flow_type = rule.flow_type.value if rule.level else "-"
        types.add_row(escape(key), level, flow_type, origin("types", key))
    _print_table(types)
    for section, label in (("statuses", "status"), ("status_categories", "status category")):
        rules = getattr(effective, section)
        if not rules:
            continue
        table = Table(label, "step", "stage", "time is", "from", title=f"{name}: {section.replace('_', ' ')}")
        for key, rule in sorted(rules.items(), key=lambda kv: (kv[1].step.order, kv[0])):
            active = "active" if rule.active else "waiting"
            table.add_row(escape(key), rule.step.value, rule.stage.value, active, origin(section, key))
        _print_table(table)


# ------------------------------------------------------------------ traceability


@app.command("link")
def link_command(
    ctx: typer.Context,
    item_key: Annotated[str | None, typer.Argument(metavar="ITEM_KEY", help="Key of a work item, e.g. PAY-12.")] = None,
    kr_id: Annotated[int | None, typer.Argument(metavar="KR_ID", help="Id of the key result.")] = None,
    from_labels: Annotated[
        bool, typer.Option("--from-labels", help="Link every item whose labels name a key result (label pattern).")
    ] = False,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Source of the item (if keys repeat).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Link a work item to a key result (it covers the item's descendants too), or link from labels."""
    from okrflow.services import sources, traceability

    if from_labels == (item_key is not None):
        raise InvalidInputError("give ITEM_KEY and KR_ID, or --from-labels")
    actor = _actor()
    db = _state(ctx).db()
    if from_labels:
        with db.write() as s:
            ws = _workspace(s, actor, workspace)
            made, problems = traceability.auto_link(s, actor, ws.id)
        out.print(f"Made {_plural(made, 'link')} from labels")
        for problem in problems:
            err.print(f"[yellow]problem:[/yellow] {escape(problem)}")
        return
    if kr_id is None:
        raise InvalidInputError("give the key result: okrflow link ITEM_KEY KR_ID")
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        source_id = sources.source_by_name(s, actor, ws.id, source.strip()).id if source else None
        item = traceability.item_by_key(s, actor, ws.id, item_key or "", source_id)
        traceability.link(s, actor, item.id, kr_id)
        shown = f"Linked {escape(item.key)} ({escape(item.title)}) to KR {kr_id}"
    out.print(shown)


@app.command("unlink")
def unlink_command(
    ctx: typer.Context,
    item_key: Annotated[str, typer.Argument(metavar="ITEM_KEY")],
    kr_id: Annotated[int, typer.Argument(metavar="KR_ID")],
    source: Annotated[str | None, typer.Option("--source", "-s", help="Source of the item (if keys repeat).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Remove the link between a work item and a key result."""
    from okrflow.services import sources, traceability

    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        source_id = sources.source_by_name(s, actor, ws.id, source.strip()).id if source else None
        item = traceability.item_by_key(s, actor, ws.id, item_key, source_id)
        traceability.unlink(s, actor, item.id, kr_id)
        shown = f"Unlinked {escape(item.key)} from KR {kr_id}"
    out.print(shown)


MATRIX_COLUMNS = (
    "objective_id", "objective", "key_result_id", "key_result", "metric", "item_key", "item_title", "item_level",
    "item_status", "via",
)  # fmt: skip


@trace_app.command("matrix")
def trace_matrix(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option(help="Only objectives of this period, e.g. 2026-Q4.")] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", metavar="FILE", help="Write the matrix as CSV (with a header); - : stdout.")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The traceability matrix: objective × key result × KPI × work item (links on a parent cover its children)."""
    from okrflow.services import traceability

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        period_id = _period_named(s, actor, ws, period).id if period else None
        rows = traceability.matrix(s, actor, ws.id, period_id)
    attributes = [{"metric": "metric_key"}.get(c, c) for c in MATRIX_COLUMNS]
    records = [tuple(getattr(r, a) for a in attributes) for r in rows]
    if csv_file is not None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(MATRIX_COLUMNS)
        writer.writerows(["" if v is None else v for v in rec] for rec in records)
        if str(csv_file) == "-":
            typer.echo(buffer.getvalue(), nl=False)
        else:
            csv_file.write_text(buffer.getvalue(), encoding="utf-8")
            err.print(f"wrote {_plural(len(records), 'row')} to {escape(str(csv_file))}")
        return
    table = Table("objective", "key result", "KPI", "work item", "level", "status", "via")
    for rec in records:
        table.add_row(
            escape(f"#{rec[0]} {rec[1]}"),
            escape(f"KR {rec[2]} {rec[3]}") if rec[2] is not None else "[dim]no key results[/dim]",
            escape(rec[4] or "-"),
            escape(f"{rec[5]} {rec[6]}") if rec[5] is not None else "[dim]no linked work[/dim]",
            escape(rec[7] or "-"),
            escape(rec[8] or "-"),
            escape(f"via {rec[9]}") if rec[9] else "",
        )
    _print_table(table)
    if not records:
        err.print("no objectives match")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


@trace_app.command("unaligned")
def trace_unaligned(
    ctx: typer.Context,
    period: Annotated[str, typer.Option(help="Period name, e.g. 2026-Q4.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Per team: the share of work in progress in the period that serves no key result (by count, by flow time)."""
    from okrflow.services import traceability

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        p = _period_named(s, actor, ws, period)
        shares = traceability.unaligned_share(s, actor, ws.id, p.id)
        level = traceability.flow_level(s, ws.id)
    table = Table(
        "team", "items", "unaligned", "share by count", "flow days", "unaligned flow days", "share by flow time",
        title=f"unaligned work · {escape(period)} · {level} level",
    )  # fmt: skip
    for sh in shares:
        table.add_row(
            escape(sh.team),
            str(sh.items),
            str(sh.unaligned_items),
            _share(sh.share_by_count),
            f"{sh.flow_days:.1f}",
            f"{sh.unaligned_flow_days:.1f}",
            _share(sh.share_by_flow_time),
        )
    _print_table(table)
    if not shares:
        err.print(f"no {level}-level work was in progress in {period}")
