"""The ``okrflow`` commands for flow and delivery: ``flow report``, ``flow publish``, ``dora report``, ``forecast``.

Registered on :data:`okrflow.cli.app` (imported at the end of ``okrflow.cli``). Each command is a thin edge over
the flow and DORA services (``services.flow``, ``services.dora``, ``services.flow_publish``); errors are one
line on stderr with the exit code of their class. Piped output keeps every table row on one line; numbers carry
their units (days, hours, items, items/week, %).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from okrflow.cli import (
    WorkspaceOption,
    _actor,
    _bar,
    _period_named,
    _print_table,
    _state,
    _team_id,
    _workspace,
    app,
    err,
    out,
    sparkline,
)
from okrflow.domain.errors import InvalidInputError, NotFoundError

flow_app = typer.Typer(
    help="Flow Framework metrics, aging work and the value-stream map; publishing them into the KPI catalog.",
    no_args_is_help=True,
)
dora_app = typer.Typer(help="DORA metrics per service with their 2023 performance levels.", no_args_is_help=True)
app.add_typer(flow_app, name="flow")
app.add_typer(dora_app, name="dora")

TeamsOption = Annotated[
    list[str] | None,
    typer.Option("--team", "-t", metavar="SLUG", help="Only this team and its sub-teams (repeatable)."),
]
SourcesOption = Annotated[
    list[str] | None, typer.Option("--source", "-s", metavar="NAME", help="Only work of this source (repeatable).")
]
TypesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--type", metavar="TYPE", help="Only this flow item type: feature, defect, risk or debt (repeatable)."
    ),
]
SinceOption = Annotated[str | None, typer.Option(metavar="DATE", help="First day of the window (YYYY-MM-DD).")]
UntilOption = Annotated[
    str | None, typer.Option(metavar="DATE", help="Last day of the window (YYYY-MM-DD, inclusive; default today).")
]
PeriodOption = Annotated[
    str | None, typer.Option(metavar="NAME", help="The window of an OKR period, e.g. 2026-Q4 (cut at today).")
]
TzOption = Annotated[str, typer.Option("--tz", help="IANA time zone of the days, e.g. Europe/Berlin.")]

LEVEL_STYLE = {"elite": "bold white on green", "high": "bold black on cyan", "medium": "bold black on yellow",
               "low": "bold white on red"}  # fmt: skip
BUCKET_STYLE = {"0-30": "green", "30-60": "cyan", "60-90": "yellow", ">90": "red"}
TYPE_STYLE = {"feature": "green", "defect": "red", "risk": "yellow", "debt": "magenta", "unclassified": "white"}
HISTOGRAM_ROWS = 20


def _now() -> datetime:
    """The instant "now" of every command here (tests pin it)."""
    return datetime.now(UTC)


# ------------------------------------------------------------------ formatting


def _day(raw: str | None, option: str) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInputError(f"{option}: {raw!r} is not a date; write YYYY-MM-DD, e.g. 2026-09-30") from None


def _days(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f} days"


def _hours(value: float | None) -> str:
    """A duration given in hours: hours under two days, else days."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1f} hours" if value < 48 else f"{value / 24:.1f} days"


def _percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value * 100:.{digits}f}%"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _badge(level: str | None) -> str:
    if not level:
        return "[dim]no level[/dim]"
    return f"[{LEVEL_STYLE.get(level, 'white')}] {escape(level)} [/]"


def _sparkline(values: Sequence[float | None]) -> str:
    """A sparkline of the known values (weeks without a value are left out)."""
    return sparkline([float(v) for v in values if v is not None and not math.isnan(float(v))], width=60)


def _window_text(since: date, until: date, tz: str) -> str:
    return f"{since.isoformat()} → {until.isoformat()} ({_count((until - since).days + 1, 'day')}, {tz})"


# ------------------------------------------------------------------ shared option handling


def _window(session: Any, actor: Any, ws: Any, since: str | None, until: str | None, period: str | None) -> Any:
    """``(since, until, period_id)`` from the options; a period and dates exclude each other."""
    s, u = _day(since, "--since"), _day(until, "--until")
    if period is not None:
        if s is not None or u is not None:
            raise InvalidInputError("give --period or --since/--until, not both")
        return None, None, _period_named(session, actor, ws, period).id
    if s is not None and u is not None and u < s:
        raise InvalidInputError(f"--until {u} is before --since {s}")
    return s, u, None


def _flow_filters(
    session: Any,
    actor: Any,
    ws: Any,
    teams: list[str] | None,
    sources: list[str] | None,
    types: list[str] | None,
) -> dict[str, Any]:
    from okrflow.services import sources as source_service

    team_ids = [_team_id(session, ws, slug) for slug in teams or []]
    source_ids = [source_service.source_by_name(session, actor, ws.id, n.strip()).id for n in sources or []]
    flow_types = [t.strip().lower() for t in types or []]
    return {"teams": team_ids, "sources": source_ids, "flow_types": flow_types}


def _scope_text(ctx: Any, sources: list[str] | None) -> str:
    scope = ctx.scope
    parts = [
        "teams " + ", ".join(scope.teams) if scope.teams else "all teams",
        "sources " + ", ".join(s.strip() for s in sources) if sources else "all sources",
        "types " + ", ".join(scope.flow_types) if scope.flow_types else "all types",
        f"{scope.level} level" if scope.level else "all levels",
    ]
    return " · ".join(parts)


# ------------------------------------------------------------------ flow report


def _metrics_table(r: Any) -> Table:
    ft = r.flow_time
    table = Table("metric", "value", "how it is measured", title="Flow Framework metrics")
    table.add_row(
        "Flow velocity",
        f"{_count(r.velocity, 'item')} done · {r.velocity_per_week:.1f} items/week",
        "items done in the window",
    )
    table.add_row(
        "Flow time",
        f"p50 {_days(ft.p50_days)} · p85 {_days(ft.p85_days)} · p95 {_days(ft.p95_days)} · mean {_days(ft.mean_days)}",
        f"work start → done, of the {_count(ft.items, 'item')} done in the window",
    )
    table.add_row(
        "Flow efficiency",
        f"{_percent(r.efficiency)} (median item {_percent(r.median_item_efficiency)})",
        "active time ÷ flow time of the items done in the window",
    )
    table.add_row(
        "Flow load",
        f"{_count(r.load_now, 'item')} in progress now · mean {r.load_mean:.1f} items",
        "items in progress (end of each day over the window)",
    )
    dist = r.distribution
    shares = []
    for scope in ("done", "wip"):
        rows = dist.filter(pl.col("scope") == scope).sort("items", descending=True)
        text = ", ".join(f"{t} {_percent(sh, 0)}" for t, sh in zip(rows["flow_type"], rows["share"], strict=True))
        shares.append(f"{scope}: {text or '-'}")
    table.add_row("Flow distribution", " · ".join(shares), "share of each flow item type")
    table.add_row(
        "Flow predictability",
        f"{_percent(r.predictability)} ({r.delivered:,} of {r.committed:,} committed items delivered)",
        "per week: items in progress at its start done by its end (SAFe, not Kersten's five)",
    )
    return table


def _weekly_table(weekly: pl.DataFrame) -> Table:
    table = Table(
        "week of", "days", "velocity", "flow time p85", "efficiency", "load (mean)", "predictability",
        title="Weekly trend",
    )  # fmt: skip
    rows = weekly.to_dicts()
    for w in rows:
        table.add_row(
            w["week_start"].isoformat(),
            str(w["days"]),
            _count(int(w["items_done"]), "item"),
            _days(w["flow_time_p85_days"]),
            _percent(w["efficiency"]),
            f"{w['load_mean']:.1f} items" if w["load_mean"] is not None else "-",
            _percent(w["predictability"]),
        )
    table.add_section()
    table.add_row(
        "trend",
        "",
        _sparkline([w["items_done"] for w in rows]),
        _sparkline([w["flow_time_p85_days"] for w in rows]),
        _sparkline([w["efficiency"] for w in rows]),
        _sparkline([w["load_mean"] for w in rows]),
        _sparkline([w["predictability"] for w in rows]),
    )
    return table


def _distribution_table(dist: pl.DataFrame) -> Table:
    table = Table("of", "flow item type", "items", "share", "", title="Flow distribution")
    for scope, label in (("done", "done in the window"), ("wip", "in progress now")):
        rows = dist.filter(pl.col("scope") == scope).sort("items", descending=True).to_dicts()
        for i, row in enumerate(rows):
            t = str(row["flow_type"])
            table.add_row(
                label if i == 0 else "",
                escape(t),
                _count(int(row["items"]), "item"),
                _percent(row["share"]),
                _bar(float(row["share"] or 0.0), TYPE_STYLE.get(t, "white"), width=30),
            )
        if not rows:
            table.add_row(label, "-", "0 items", "-", "")
        table.add_section()
    return table


def _aging_table(ag: Any) -> Table:
    by_step = ag.by_step.to_dicts()
    total = int(ag.by_age["items"].sum())
    table = Table(
        "age", "items", "share", "", "oldest", "where", title="Aging work in progress (age = now − work start)"
    )
    for row in ag.by_age.to_dicts():
        bucket = str(row["bucket"])
        here = [r for r in by_step if str(r["bucket"]) == bucket]
        oldest = max((float(r["oldest_days"]) for r in here), default=None)
        where = ", ".join(f"{r['current_step']} {r['items']}" for r in sorted(here, key=lambda r: -r["items"]))
        waste = bucket == ">90"
        label = f"{bucket} days" + ("  ⚠ waste" if waste else "")
        cells = [
            label,
            _count(int(row["items"]), "item"),
            _percent(row["share"]) if total else "-",
            _bar(float(row["share"] or 0.0), BUCKET_STYLE[bucket], width=30),
            _days(oldest),
            escape(where) or "-",
        ]
        table.add_row(*cells, style="bold red" if waste and row["items"] else None)
    return table


def _value_stream_table(vmap: Any) -> Table:
    rows = [
        r
        for r in vmap.steps.to_dicts()
        if r["step"] != "unmapped" or r["items_now"] or r["items_visited"]
    ]  # fmt: skip
    longest = max((float(r["active_days"]) + float(r["waiting_days"]) for r in rows), default=0.0) or 1.0
    table = Table(
        "step", "items now", "items through", "median time", "p85 time", "active", "waiting", "active ▮ vs waiting ▯",
        "share of waiting", "rework",
        title="Value-stream map",
    )  # fmt: skip
    for r in rows:
        active, waiting = float(r["active_days"]), float(r["waiting_days"])
        a_cells = round(active / longest * 30)
        w_cells = round((active + waiting) / longest * 30) - a_cells
        bar = f"[green]{'▮' * a_cells}[/green][yellow]{'▯' * w_cells}[/yellow]"
        is_bottleneck = r["step"] == vmap.bottleneck
        moves = []
        if r["rework_in"]:
            moves.append(
                f"{r['rework_in']} moves back in · {_count(int(r['rework_items']), 'item')} "
                f"({_percent(r['rework_share'])})"
            )
        if r["rework_out"]:
            moves.append(f"{r['rework_out']} sent back")
        rework = " · ".join(moves) or "-"
        table.add_row(
            escape(str(r["step"])) + ("  ◀ bottleneck" if is_bottleneck else ""),
            _count(int(r["items_now"]), "item"),
            _count(int(r["items_visited"]), "item"),
            _days(r["median_days"]),
            _days(r["p85_days"]),
            _days(active),
            _days(waiting),
            bar,
            _percent(r["waiting_share"]),
            rework,
            style="bold red" if is_bottleneck else None,
        )
    return table


@flow_app.command("report")
def flow_report(
    ctx: typer.Context,
    team: TeamsOption = None,
    source: SourcesOption = None,
    flow_type: TypesOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    period: PeriodOption = None,
    tz: TzOption = "UTC",
    workspace: WorkspaceOption = None,
) -> None:
    """The five Flow Framework metrics and predictability, weekly trends, distribution, aging work in progress and
    the value-stream map with its bottleneck (default window: the last 90 days up to today)."""
    from okrflow.services import flow

    now = _now()
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        s_day, u_day, period_id = _window(s, actor, ws, since, until, period)
        options: dict[str, Any] = {
            **_flow_filters(s, actor, ws, team, source, flow_type),
            "since": s_day,
            "until": u_day,
            "period_id": period_id,
            "now": now,
            "tz": tz.strip(),
        }
        r = flow.report(s, actor, ws.id, **options)
        ag = flow.aging(s, actor, ws.id, **options)
        vsm = flow.value_stream(s, actor, ws.id, **options).map
        name = ws.name
    c = r.context
    out.print(
        f"[bold]Flow · {escape(name)}[/bold] · {_window_text(c.since, c.until, c.tz)}"
        + (f" · period {escape(period)}" if period else "")
    )
    out.print(
        f"scope: {escape(_scope_text(c, source))} · {_count(c.items, 'item')} in scope · "
        f"as of {c.as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )
    _print_table(_metrics_table(r))
    _print_table(_weekly_table(r.weekly))
    _print_table(_distribution_table(r.distribution))
    _print_table(_aging_table(ag))
    if ag.waste:
        out.print(
            f"[bold red]⚠ {_count(ag.waste, 'item')} in progress for more than 90 days: "
            "a waste signal (finish, split or stop them)[/bold red]"
        )
    else:
        out.print("[green]no work in progress is older than 90 days[/green]")
    _print_table(_value_stream_table(vsm))
    if vsm.bottleneck:
        row = vsm.steps.filter(pl.col("step") == vsm.bottleneck).row(0, named=True)
        out.print(
            f"[bold]bottleneck: {escape(vsm.bottleneck)}[/bold] — {_percent(row['waiting_share'])} of all waiting "
            f"time in the window ({_days(row['waiting_days'])}); the bottleneck is the step with the largest share "
            "of waiting time"
        )
    else:
        out.print("bottleneck: none (no waiting time in the window)")
    stages = " · ".join(
        f"{st['stage']} {_percent(st['efficiency'])}" for st in vsm.stages.to_dicts() if st["total_days"]
    )
    if stages:
        out.print(f"flow efficiency per stage: {stages}")
    if r.velocity == 0:
        err.print("[yellow]warning:[/yellow] no item was done in the window")


# ------------------------------------------------------------------ flow publish


def publish_summary(report: Any) -> str:
    """One line saying what :func:`okrflow.services.flow_publish.publish` did."""
    what = "flow and DORA metrics" if report.dora else "flow metrics"
    days = f" for {report.first_day} … {report.last_day}" if report.first_day else ""
    defined = f"defined {len(report.defined)}" + (f" ({', '.join(report.defined)})" if report.defined else "")
    revised = f"revised {len(report.revised)}" + (f" ({', '.join(report.revised)})" if report.revised else "")
    values = (
        f"values: {report.created:,} created, {report.updated:,} updated, {report.unchanged:,} unchanged "
        f"in {sum(report.series.values()):,} series"
    )
    return f"Published {what}{days}: {defined}, {revised}; {values}"


@flow_app.command("publish")
def flow_publish_command(
    ctx: typer.Context,
    days: Annotated[
        int, typer.Option(min=1, max=3660, help="Complete local days to (re)compute, back from yesterday.")
    ] = 90,
    tz: TzOption = "UTC",
    dora: Annotated[bool, typer.Option("--dora/--no-dora", help="Publish the DORA metrics too.")] = True,
    workspace: WorkspaceOption = None,
) -> None:
    """Publish the flow (and DORA) metrics into the KPI catalog: define them where needed, write a new version
    when okrflow's calculation changed, and record one value per day (publishing again changes nothing)."""
    from okrflow.services import flow

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws_id = _workspace(s, actor, workspace).id
    report = flow.publish(db, actor, ws_id, _now(), days=days, tz=tz.strip(), dora=dora)
    out.print(escape(publish_summary(report)))
    for key, n in report.series.items():
        out.print(f"  {escape(key)}  {n} series")
    for key in report.skipped:
        err.print(f"[yellow]warning:[/yellow] metric {escape(key)} belongs to a person: left alone")


# ------------------------------------------------------------------ dora report


def _period_days(session: Any, actor: Any, ws: Any, period: str, now: datetime, tz: str) -> tuple[date, date]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    p = _period_named(session, actor, ws, period)
    try:
        today = now.astimezone(ZoneInfo(tz)).date()
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(f"unknown time zone {tz!r}") from None
    if p.start_date > today:
        raise InvalidInputError(f"period {period} has not started yet")
    return p.start_date, min(p.end_date, today)


def _known_services(session: Any, workspace_id: int) -> list[str]:
    from sqlalchemy import select

    from okrflow.store.models_delivery import Change, Deployment, Incident

    names: set[str] = set()
    for model in (Deployment, Change, Incident):
        names.update(session.scalars(select(model.service).where(model.workspace_id == workspace_id).distinct()))
    return sorted(names)


@dora_app.command("report")
def dora_report(
    ctx: typer.Context,
    service: Annotated[
        list[str] | None, typer.Option("--service", metavar="NAME", help="Only this service (repeatable).")
    ] = None,
    team: Annotated[str | None, typer.Option(metavar="SLUG", help="Only this team and its sub-teams.")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    period: PeriodOption = None,
    tz: TzOption = "UTC",
    workspace: WorkspaceOption = None,
) -> None:
    """Per service: deployment frequency, lead time for changes, change failure rate and failed-deployment
    recovery time with their 2023 DORA levels, and the weekly deployment days (default: the last 90 days)."""
    from okrflow.services import dora

    now = _now()
    actor = _actor()
    db = _state(ctx).db()
    wanted = [n.strip() for n in service or [] if n.strip()]
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        s_day, u_day, _ = _window(s, actor, ws, since, until, None)
        if period is not None:
            if since is not None or until is not None:
                raise InvalidInputError("give --period or --since/--until, not both")
            s_day, u_day = _period_days(s, actor, ws, period, now, tz.strip())
        if wanted:
            known = _known_services(s, ws.id)
            lower = {k.lower() for k in known}
            for name in wanted:
                if name.lower() not in lower:
                    raise NotFoundError(
                        f"service {name!r} has no deployments, changes or incidents in workspace {ws.slug} "
                        f"(services: {', '.join(known) or 'none yet'})"
                    )
        r = dora.report(
            s, actor, ws.id, services=wanted, team_id=_team_id(s, ws, team), since=s_day, until=u_day, now=now,
            tz=tz.strip(),
        )  # fmt: skip
        name = ws.name
    scope = [f"team {team}" if team else "all teams", "services " + ", ".join(wanted) if wanted else "all services"]
    out.print(
        f"[bold]DORA · {escape(name)}[/bold] · {_window_text(r.since, r.until, r.tz)}"
        + (f" · period {escape(period)}" if period else "")
    )
    out.print(
        f"scope: {escape(' · '.join(scope))} · production deployments with status success count · "
        "levels: DORA 2023 (docs/dora.md)"
    )
    if r.services.height == 0:
        err.print("no deployments, changes or incidents in scope")
        return
    table = Table(
        "service", "deployment frequency", "level", "lead time for changes", "level", "change failure rate", "level",
        "failed-deployment recovery time", "level",
        title="DORA metrics per service",
    )  # fmt: skip
    for row in r.services.to_dicts():
        table.add_row(
            f"[bold]{escape(row['service'])}[/bold]",
            f"{row['median_days_per_week']:.1f} deployment days/week (median) · "
            f"{_count(row['deployments'], 'deployment')}",
            _badge(row["deployment_frequency_level"]),
            f"{_hours(row['median_lead_time_hours'])} (median) · p85 {_hours(row['p85_lead_time_hours'])} · "
            f"{_count(row['changes'], 'change')}",
            _badge(row["lead_time_level"]),
            f"{_percent(row['change_failure_rate'])} ({row['failed_deployments']} of {row['deployments']} failed)"
            if row["deployments"]
            else "-",
            _badge(row["change_failure_rate_level"]),
            f"{_hours(row['median_recovery_time_hours'])} (median) · {_count(row['incidents'], 'incident')}",
            _badge(row["recovery_time_level"]),
        )
    _print_table(table)
    weeks = sorted(set(r.weekly["week_start"].to_list()))
    trend = Table(
        "service", "trend", *(w.strftime("%m-%d") for w in weeks),
        title="Deployment days per week (week of …)",
    )  # fmt: skip
    for svc in r.services["service"].to_list():
        per_week = dict(r.weekly.filter(pl.col("service") == svc).select("week_start", "deployment_days").iter_rows())
        values = [int(per_week.get(w) or 0) for w in weeks]
        trend.add_row(escape(svc), sparkline([float(v) for v in values], width=60), *(str(v) for v in values))
    _print_table(trend)


# ------------------------------------------------------------------ forecast


def _histogram(fc: Any, shown: str) -> Table:
    hist = fc.histogram
    share = "done within" if fc.kind == "when" else "reach at least"
    table = Table(shown, "trials", "", share, title=f"Histogram of {fc.trials:,} trials")
    if hist.height == 0:
        return table
    values = hist["value"].to_list()
    trials = hist["trials"].to_list()
    low, high = int(min(values)), int(max(values))
    width = max(1, math.ceil((high - low + 1) / HISTOGRAM_ROWS))
    bins: dict[int, int] = {}
    for v, t in zip(values, trials, strict=True):
        start = low + (int(v) - low) // width * width
        bins[start] = bins.get(start, 0) + int(t)
    markers = {p: a for p, a in fc.answers.items() if a is not None}
    most = max(bins.values())
    cumulative = 0
    ordered = sorted(bins.items(), reverse=fc.kind == "how_many")  # how many: most first (the share reaching it)
    for start, n in ordered:
        end = start + width - 1
        cumulative += n
        label = str(start) if width == 1 else f"{start}–{end}"
        marks = [f"p{p}" for p, a in markers.items() if start <= a <= end]
        bar = "█" * max(1, round(n / most * 40))
        table.add_row(
            label + (f"  ◀ {' '.join(marks)}" if marks else ""),
            f"{n:,}",
            f"[cyan]{bar}[/cyan]",
            _percent(cumulative / fc.trials),
            style="bold" if marks else None,
        )
    return table


@app.command("forecast")
def forecast_command(
    ctx: typer.Context,
    items: Annotated[int | None, typer.Option("--items", metavar="N", help="When will N more items be done?")] = None,
    by: Annotated[str | None, typer.Option("--by", metavar="DATE", help="How many items by this date?")] = None,
    window_days: Annotated[
        int, typer.Option("--window-days", min=1, max=3660, help="Days of throughput history (before today).")
    ] = 90,
    seed: Annotated[int | None, typer.Option(help="Random seed: the same seed gives the same answers.")] = None,
    trials: Annotated[int, typer.Option(min=100, max=1_000_000, help="Monte Carlo trials.")] = 10_000,
    team: TeamsOption = None,
    source: SourcesOption = None,
    flow_type: TypesOption = None,
    tz: TzOption = "UTC",
    workspace: WorkspaceOption = None,
) -> None:
    """Monte Carlo forecast from the daily throughput of the last --window-days days: when N items will be done
    (--items) or how many will be done by a date (--by), at 50/85/95% confidence."""
    from okrflow.services import flow

    if (items is None) == (by is None):
        raise InvalidInputError("give --items N (when?) or --by DATE (how many?), one of them")
    target = _day(by, "--by")
    now = _now()
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        options: dict[str, Any] = {
            **_flow_filters(s, actor, ws, team, source, flow_type),
            "window_days": window_days,
            "trials": trials,
            "seed": seed,
            "now": now,
            "tz": tz.strip(),
        }
        if items is not None:
            result = flow.forecast_when(s, actor, ws.id, items, **options)
        else:
            assert target is not None
            result = flow.forecast_how_many(s, actor, ws.id, target, **options)
        name = ws.name
    c, fc = result.context, result.forecast
    question = (
        f"when will {_count(items, 'more item')} be done?"
        if items is not None
        else f"how many items will be done from {result.start} through {target}?"
    )
    out.print(f"[bold]Forecast · {escape(name)}[/bold] · {escape(question)}")
    out.print(
        f"history: {_window_text(c.since, c.until, c.tz)} · {_count(result.history_items, 'item')} done · "
        f"{result.mean_per_day:.2f} items/day · scope {escape(_scope_text(c, source))}"
    )
    out.print(
        f"{fc.trials:,} trials · seed {fc.seed if fc.seed is not None else 'random (give --seed to repeat)'} · "
        f"day 1 = {result.start} (today)"
    )
    table = Table("confidence", "answer", "read as", title="Forecast")
    for p in sorted(fc.answers):
        answer = fc.answers[p]
        if fc.kind == "when":
            day = fc.dates.get(p)
            shown = f"{day.isoformat()} ({day:%a}) · {_count(answer, 'day')}" if day and answer is not None else "-"
            read = f"{p}% of the trials are done by then"
        else:
            shown = _count(answer, "item") if answer is not None else "-"
            read = f"{p}% of the trials do at least this many (the {100 - p}th percentile)"
        table.add_row(f"{p}%", shown, read, style="bold" if p == 85 else None)
    _print_table(table)
    if fc.kind == "how_many":
        out.print("[dim]more is better here: the 85% answer is the 15th percentile of the trials, not the 85th[/dim]")
    _print_table(_histogram(fc, "days" if fc.kind == "when" else "items"))
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
