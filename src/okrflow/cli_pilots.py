"""The ``okrflow`` commands for decisions and learning: ``pilot``, ``decision``, ``outcome`` and ``retro``.

Registered on :data:`okrflow.cli.app` (imported at the end of ``okrflow.cli``). Each command is a thin edge over
the services (``services.pilots``, ``services.decisions``, ``services.outcomes``, ``services.retros``): it
resolves pilot keys, work item keys, people (by name or e-mail) and teams (by slug), calls the service and
formats what it returns; the statistics and the exit rules are computed there, never here. Errors are one line on
stderr with the exit code of their class; piped output keeps every table row on one line; ``--json`` prints
plain JSON (no NaN).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from okrflow.cli import (
    WorkspaceOption,
    _actor,
    _fmt_time,
    _num,
    _print_table,
    _state,
    _team_id,
    _wide_print,
    _workspace,
    app,
    err,
    out,
)
from okrflow.domain import pilots as dp
from okrflow.domain.errors import InvalidInputError, NotFoundError

pilot_app = typer.Typer(
    help="Pilots: the one-page record, daily results, the statistics readout and the exit-rule recommendation.",
    no_args_is_help=True,
)
decision_app = typer.Typer(
    help="The decision log: immutable decisions with frozen evidence, RACI and supersede chains.", no_args_is_help=True
)
outcome_app = typer.Typer(
    help="Anticipated and actual outcomes of initiatives and epics; reviews due; the realization rate.",
    no_args_is_help=True,
)
retro_app = typer.Typer(help="Retrospectives and blameless postmortems with owned action items.", no_args_is_help=True)
action_app = typer.Typer(help="Action items of a retrospective or postmortem.", no_args_is_help=True)
app.add_typer(pilot_app, name="pilot")
app.add_typer(decision_app, name="decision")
app.add_typer(outcome_app, name="outcome")
app.add_typer(retro_app, name="retro")
retro_app.add_typer(action_app, name="action")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables (plain numbers, no NaN).")]
SourceOption = Annotated[
    str | None, typer.Option("--source", "-s", metavar="NAME", help="Source of the item (if keys repeat).")
]
TeamOption = Annotated[str | None, typer.Option("--team", "-t", metavar="SLUG", help="Slug of the team.")]

ACTION_STYLE = {
    "scale": "bold green",
    "rollback": "bold red",
    "pause": "bold yellow",
    "stop": "bold magenta",
    "extend": "bold cyan",
    "continue": "bold",
}
PILOT_STATUS_STYLE = {"draft": "dim", "running": "cyan", "decided": "green", "closed": "white"}
RESULT_STYLE = {"achieved": "green", "partially": "yellow", "not_achieved": "red"}
ACTION_ITEM_STYLE = {"open": "yellow", "done": "green", "dropped": "dim"}
PHASE_TEXT = {"define": "define", "pilot": "pilot", "scale_or_retire": "scale or retire"}

# The fields of a pilot file: create_pilot's data, with people, teams and work items named as people do.
PILOT_FILE_FIELDS = (
    "key", "title", "problem", "hypothesis", "timebox", "timebox_start", "timebox_end", "owner", "team",
    "work_item", "key_result", "scope", "entry_criteria", "exit_criteria", "risks", "guardrails", "rollout",
    "planned_split", "exit_rules",
)  # fmt: skip
LIST_FIELDS = ("entry_criteria", "exit_criteria", "risks", "guardrails", "rollout", "exit_rules")
RESULT_COLUMNS = ("day", "variant", "metric", "n", "conversions", "sum", "sum_squares")
REQUIRED_RESULT_COLUMNS = ("day", "variant", "metric", "n")
_LINE_RE = re.compile(r"^line (\d+): (.*)$", re.DOTALL)


def _now() -> datetime:
    """The instant "now" of every command here (tests pin it)."""
    return datetime.now(UTC)


def _today() -> date:
    return _now().date()


# ------------------------------------------------------------------ formatting


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _day(raw: str | None, option: str) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInputError(f"{option}: {raw!r} is not a date; write YYYY-MM-DD, e.g. 2026-09-30") from None


def _plain(value: Any) -> Any:
    """JSON-ready: dates as ISO text, tuples as lists, NaN and infinities as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(_plain(value), indent=2, ensure_ascii=False, allow_nan=False))


def _styled(value: str | None, styles: Mapping[str, str]) -> str:
    if not value:
        return "-"
    style = styles.get(value, "white")
    return f"[{style}]{escape(value)}[/{style}]"


def _action(value: str | None) -> str:
    """An exit-rule action, in capitals and its colour (the word stays when piped)."""
    if not value:
        return "-"
    style = ACTION_STYLE.get(value, "bold")
    return f"[{style}]{escape(value.upper())}[/{style}]"


def _short(text: str | None, width: int = 60) -> str:
    one = " ".join((text or "").split())
    return one if len(one) <= width else one[: width - 1] + "…"


def _share(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value * 100:.{digits}f}%"


def _p_value(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "-"
    return "< 0.0001" if p < 0.0001 else f"{p:.4f}"


def _value(value: Any) -> str:
    """An evidence value as written: numbers plainly (0.3, 2.3e-10), text as it is."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return _num(float(value)) if math.isfinite(value) else "-"
    return str(value)


def _effect(value: float | None, scale: str, kind: str | None) -> str:
    """An effect on its scale: relative as %, absolute on a rate in percentage points, else in the metric's unit."""
    if value is None or not math.isfinite(value):
        return "-"
    if scale == "relative":
        return f"{value * 100:+.1f}%"
    if kind == "proportion":
        return f"{value * 100:+.2f} pp"
    return f"{value:+.4g}"


def _summary_text(summary: Any, kind: str | None) -> str:
    if kind == "proportion":
        return f"{summary.mean * 100:.2f}% of {summary.n:,}"
    return f"{_num(summary.mean)} (n {summary.n:,})"


def _accepted(g: dp.Guardrail, kind: str | None) -> str:
    return _effect(g.accepted_regression, g.kind.value, kind).lstrip("+")


# ------------------------------------------------------------------ resolving names


def _find_person(session: Any, actor: Any, workspace_id: int, who: str) -> Any | None:
    """The person with this e-mail, or the one person with this name (case-insensitive); None: nobody."""
    from okrflow.services import tenancy

    text = who.strip().lower()
    people = tenancy.list_people(session, actor, workspace_id)
    for p in people:
        if p.email and p.email.strip().lower() == text:
            return p
    named = [p for p in people if p.name.strip().lower() == text]
    if len(named) > 1:
        raise InvalidInputError(f"{len(named)} people are named {who.strip()!r}; give the e-mail instead")
    return named[0] if named else None


def _person(session: Any, actor: Any, workspace_id: int, who: str, option: str) -> Any:
    if not who.strip():
        raise InvalidInputError(f"{option}: name a person (name or e-mail)")
    try:
        person = _find_person(session, actor, workspace_id, who)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{option}: {exc.message}") from None
    if person is None:
        raise NotFoundError(f"{option}: no person named {who.strip()!r} or with that e-mail in this workspace")
    return person


def _pilot(session: Any, actor: Any, workspace_id: int, key: str) -> Any:
    from okrflow.services import pilots

    return pilots.pilot_by_key(session, actor, workspace_id, key)


def _item(session: Any, actor: Any, workspace_id: int, key: str, source: str | None) -> Any:
    from okrflow.services import sources, traceability

    source_id = sources.source_by_name(session, actor, workspace_id, source.strip()).id if source else None
    return traceability.item_by_key(session, actor, workspace_id, key, source_id)


def _incident_id(session: Any, workspace_id: int, ref: str, option: str) -> int:
    """An incident by id or by its key in the source (e.g. INC-7)."""
    from sqlalchemy import select

    from okrflow.store.models_delivery import Incident

    text = ref.strip()
    if text.isdigit():
        incident = session.get(Incident, int(text))
        if incident is None or incident.workspace_id != workspace_id:
            raise NotFoundError(f"{option}: incident {text} does not exist in this workspace")
        return int(incident.id)
    found = list(
        session.scalars(
            select(Incident.id).where(Incident.workspace_id == workspace_id, Incident.external_id == text).limit(2)
        )
    )
    if not found:
        raise NotFoundError(f"{option}: no incident {text!r} in this workspace")
    if len(found) > 1:
        raise InvalidInputError(f"{option}: several sources have an incident {text!r}; give its id")
    return int(found[0])


def _link(session: Any, actor: Any, workspace_id: int, raw: str) -> dict[str, Any]:
    """``TYPE:REF``: pilot:P-1, work_item:CHK-12, key_result:7, incident:INC-7 (or incident:12)."""
    from okrflow.services import decisions

    kind, sep, ref = raw.partition(":")
    kind, ref = kind.strip().replace("-", "_"), ref.strip()
    if not sep or not ref or kind not in decisions.LINK_TYPES:
        raise InvalidInputError(
            f"--link {raw!r}: write TYPE:REF with TYPE one of {', '.join(decisions.LINK_TYPES)}, e.g. work_item:CHK-12"
        )
    if kind == "pilot":
        return {"type": kind, "id": _pilot(session, actor, workspace_id, ref).id}
    if kind == "work_item":
        return {"type": kind, "id": _item(session, actor, workspace_id, ref, None).id}
    if kind == "incident":
        return {"type": kind, "id": _incident_id(session, workspace_id, ref, "--link")}
    if not ref.isdigit():
        raise InvalidInputError(f"--link {raw!r}: a key result is named by its id, e.g. key_result:7")
    return {"type": kind, "id": int(ref)}


def _link_text(session: Any, link: Mapping[str, Any]) -> str:
    from okrflow.store.models_delivery import Incident
    from okrflow.store.models_okr import KeyResult
    from okrflow.store.models_pilots import Pilot
    from okrflow.store.models_work import WorkItem

    kind, ident = link.get("type"), link.get("id")
    row: Any = None
    if kind == "pilot" and (row := session.get(Pilot, ident)) is not None:
        return f"pilot {row.key} {row.title}"
    if kind == "work_item" and (row := session.get(WorkItem, ident)) is not None:
        return f"{row.level or 'item'} {row.key or row.id} {row.title}"
    if kind == "key_result" and (row := session.get(KeyResult, ident)) is not None:
        return f"KR {row.id} {row.title}"
    if kind == "incident" and (row := session.get(Incident, ident)) is not None:
        return f"incident {row.external_id} {row.title}"
    return f"{kind} {ident}"


# ------------------------------------------------------------------ pilots: create


def _load_record(path: Path) -> dict[str, Any]:
    """A pilot record from a YAML or JSON file (``.json``: JSON; anything else: YAML, which reads JSON too)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path.name}: not valid JSON: line {exc.lineno}: {exc.msg}") from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise InvalidInputError(f"{path.name}: not valid YAML: {where}{problem}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{path.name}: a pilot record is a mapping of fields ({', '.join(PILOT_FILE_FIELDS[:4])}, …)"
        )
    unknown = sorted(str(k) for k in data if k not in PILOT_FILE_FIELDS)
    if unknown:
        raise InvalidInputError(
            f"{path.name}: unknown field {unknown[0]!r}; a pilot record has {', '.join(PILOT_FILE_FIELDS)}",
            field=unknown[0],
        )
    return {str(k): v for k, v in data.items()}


def _text_field(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be text, not {value!r}", field=name)
    return value


def _pilot_fields(session: Any, actor: Any, ws: Any, record: Mapping[str, Any]) -> dict[str, Any]:
    """create_pilot's keyword arguments from a record: people, teams and work items resolved, lists checked."""
    timebox = record.get("timebox")
    start, end = record.get("timebox_start"), record.get("timebox_end")
    if timebox is not None:
        if start is not None or end is not None:
            raise InvalidInputError("give timebox {start, end} or timebox_start/timebox_end, not both", field="timebox")
        if not isinstance(timebox, Mapping) or set(timebox) - {"start", "end"}:
            raise InvalidInputError("timebox is a mapping with start and end (YYYY-MM-DD)", field="timebox")
        start, end = timebox.get("start"), timebox.get("end")
    if start is None:
        raise InvalidInputError("the timebox needs a start date (timebox.start, or --start)", field="timebox.start")
    if end is None:
        raise InvalidInputError("the timebox needs an end date (timebox.end, or --end)", field="timebox.end")
    hypothesis = record.get("hypothesis")
    if not isinstance(hypothesis, Mapping):
        raise InvalidInputError(
            "hypothesis is a mapping: primary_metric, direction, expected_effect (and effect_kind, statement, …); "
            "or give --metric, --direction and --expected-effect",
            field="hypothesis",
        )
    key = _text_field(record, "key")
    if not key:
        raise InvalidInputError("a pilot needs a key, e.g. P-4", field="key")
    owner = _text_field(record, "owner")
    if not owner:
        raise InvalidInputError("a pilot needs an owner (a person's name or e-mail)", field="owner")
    fields: dict[str, Any] = {
        "key": key,
        "title": record.get("title"),
        "problem": record.get("problem"),
        "hypothesis": dict(hypothesis),
        "timebox_start": start,
        "timebox_end": end,
        "owner_person_id": _person(session, actor, ws.id, owner, "owner").id,
        "scope": record.get("scope") or "",
    }
    team = _text_field(record, "team")
    if team:
        fields["team_id"] = _team_id(session, ws, team)
    item = _text_field(record, "work_item")
    if item:
        fields["work_item_id"] = _item(session, actor, ws.id, item, None).id
    kr = record.get("key_result")
    if kr is not None:
        if isinstance(kr, bool) or not isinstance(kr, int):
            raise InvalidInputError(f"key_result is the key result's id (a number), not {kr!r}", field="key_result")
        fields["key_result_id"] = kr
    for name in LIST_FIELDS:
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, list):
            raise InvalidInputError(f"{name} is a list", field=name)
        fields[name] = value
    split = record.get("planned_split")
    if split is not None:
        if not isinstance(split, Mapping):
            raise InvalidInputError("planned_split maps each variant to its share, e.g. {control: 50, treatment: 50}")
        fields["planned_split"] = dict(split)
    return fields


def _with_field(exc: InvalidInputError) -> str:
    """The message, naming the field when the service knows it and the message does not say it."""
    name = exc.details.get("field")
    message = exc.message
    if isinstance(name, str) and name and name.replace("_", " ") not in message and name not in message:
        return f"{name}: {message}"
    return message


def _rules_text(rules: Sequence[dp.Rule]) -> list[str]:
    return [dp.describe_rule(r) for r in rules]


@pilot_app.command("create")
def pilot_create(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", metavar="FILE", help="The pilot record: YAML or JSON.")
    ] = None,
    key: Annotated[str | None, typer.Option(help="Key of the pilot, e.g. P-4 (overrides the file).")] = None,
    title: Annotated[str | None, typer.Option(help="Title.")] = None,
    problem: Annotated[str | None, typer.Option(help="The problem statement.")] = None,
    metric: Annotated[str | None, typer.Option(help="The primary metric, e.g. checkout_conversion.")] = None,
    direction: Annotated[str | None, typer.Option(help="increase or decrease: which way is better.")] = None,
    expected_effect: Annotated[
        float | None, typer.Option(help="The expected effect, a positive size (0.15: 15 % relative).")
    ] = None,
    effect_kind: Annotated[str | None, typer.Option(help="relative (default) or absolute.")] = None,
    statement: Annotated[str | None, typer.Option(help="The hypothesis in words.")] = None,
    start: Annotated[str | None, typer.Option(metavar="DATE", help="First day of the timebox.")] = None,
    end: Annotated[str | None, typer.Option(metavar="DATE", help="Last day of the timebox (inclusive).")] = None,
    owner: Annotated[str | None, typer.Option(metavar="PERSON", help="The owner: name or e-mail.")] = None,
    team: TeamOption = None,
    work_item: Annotated[
        str | None, typer.Option("--work-item", metavar="KEY", help="The initiative or epic it serves, e.g. CHK-E20.")
    ] = None,
    key_result: Annotated[int | None, typer.Option("--key-result", metavar="KR_ID", help="The key result.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a pilot in draft from a YAML/JSON record (--file) and/or options; options override the file.
    Without a file, give at least --key --title --problem --metric --direction --expected-effect --start --end
    --owner (default exit rules: pause on SRM, roll back on a guardrail breach, stop when the timebox is over)."""
    from okrflow.services import pilots

    record: dict[str, Any] = _load_record(file) if file is not None else {}
    label = file.name if file is not None else "pilot"
    flags = {"key": key, "title": title, "problem": problem, "owner": owner, "team": team, "work_item": work_item}
    record |= {k: v for k, v in flags.items() if v is not None}
    if key_result is not None:
        record["key_result"] = key_result
    if start is not None or end is not None:
        box = dict(record.pop("timebox", None) or {})
        box["start"] = start if start is not None else box.get("start", record.pop("timebox_start", None))
        box["end"] = end if end is not None else box.get("end", record.pop("timebox_end", None))
        record.pop("timebox_start", None)
        record.pop("timebox_end", None)
        record["timebox"] = box
    hyp_flags = {
        "primary_metric": metric,
        "direction": direction,
        "expected_effect": expected_effect,
        "effect_kind": effect_kind,
        "statement": statement,
    }
    if any(v is not None for v in hyp_flags.values()):
        hyp = record.get("hypothesis") if isinstance(record.get("hypothesis"), Mapping) else {}
        record["hypothesis"] = dict(hyp or {}) | {k: v for k, v in hyp_flags.items() if v is not None}
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        try:
            fields = _pilot_fields(s, actor, ws, record)
            p = pilots.create_pilot(s, actor, ws.id, **fields)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{label}: {_with_field(exc)}", **exc.details) from None
        except NotFoundError as exc:
            raise NotFoundError(f"{label}: {exc.message}", **exc.details) from None
        spec = pilots.spec_of(s, p)
        h = spec.record.hypothesis
        lines = [
            f"Created pilot [bold]{escape(p.key)}[/bold] {escape(p.title)} (draft) in {escape(ws.slug)}",
            f"  hypothesis  {escape(h.primary_metric)} {h.direction.value} by "
            f"{_effect(h.expected_effect, h.effect_kind.value, None).lstrip('+')} ({h.effect_kind.value})",
            f"  timebox     {h.timebox.start} → {h.timebox.end} "
            f"({_plural((h.timebox.end - h.timebox.start).days + 1, 'day')})",
            "  split       " + " / ".join(f"{escape(v)} {_share(w, 0)}" for v, w in _variants(spec.split)),
            "  guardrails  "
            + (
                ", ".join(f"{escape(g.metric)} (may get {_accepted(g, None)} worse)" for g in spec.record.guardrails)
                or "none"
            ),
        ]
        lines += [f"  exit rule   {escape(r)}" for r in _rules_text(spec.record.exit_rules)]
        lines.append(f"Next: [bold]okrflow pilot start {escape(p.key)}[/bold]")
    for line in lines:
        out.print(line)


def _variants(split: Mapping[str, float]) -> list[tuple[str, float]]:
    return sorted(split.items(), key=lambda kv: (kv[0] != "control", kv[0]))


# ------------------------------------------------------------------ pilots: list, lifecycle


def _timebox_text(tb: dp.Timebox, today: date) -> str:
    end = tb.effective_end
    length = (end - tb.start).days + 1
    extended = f", {tb.extended_days} of them extended" if tb.extended_days else ""
    text = f"{tb.start} → {end} ({_plural(length, 'day')}{extended})"
    said, _tone = tb.status(today)
    if today < tb.start or tb.is_over(today):
        return f"{text} · {said}"
    return f"{text} · day {(today - tb.start).days + 1} of {length} · {said}"


@pilot_app.command("list")
def pilot_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only draft, running, decided or closed pilots.")] = None,
    awaiting_decision: Annotated[
        bool,
        typer.Option(
            "--awaiting-decision",
            help="Only running pilots waiting for a decision: the latest evaluation recommends anything but "
            "continue, or the timebox is over.",
        ),
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The pilots of the workspace: status, owner, team, timebox with days left, the latest recommendation, and
    why it waits for a decision."""
    from okrflow.services import pilots
    from okrflow.store.models import Team

    today = _today()
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        waiting = {w.pilot.id: w.reason for w in pilots.awaiting_decision(s, actor, ws.id, today)}
        rows: list[dict[str, Any]] = []
        for p in pilots.list_pilots(s, actor, ws.id, status=status.strip() if status else None):
            if awaiting_decision and p.id not in waiting:
                continue
            tb = pilots.spec_of(s, p).record.hypothesis.timebox
            latest = pilots.latest_evaluation(s, actor, p.id)
            team = s.get(Team, p.team_id) if p.team_id else None
            owner = _owner_name(s, p.owner_person_id)
            rows.append(
                {
                    "key": p.key,
                    "title": p.title,
                    "status": p.status,
                    "owner": owner,
                    "team": team.slug if team else None,
                    "timebox_start": tb.start,
                    "timebox_end": tb.effective_end,
                    "days_left": tb.status(today, started=p.status != "draft")[0]
                    if p.status in ("draft", "running")
                    else None,
                    "latest_recommendation": latest.action if latest else None,
                    "evaluated_at": latest.at if latest else None,
                    "awaiting_decision": waiting.get(p.id),
                }
            )
    if as_json:
        _print_json(rows)
        return
    table = Table("key", "title", "status", "owner", "team", "timebox", "days left", "latest recommendation")
    for r in rows:
        table.add_row(
            escape(r["key"]),
            escape(r["title"]),
            _styled(r["status"], PILOT_STATUS_STYLE),
            escape(r["owner"] or "-"),
            escape(r["team"] or "-"),
            f"{r['timebox_start']} → {r['timebox_end']}",
            r["days_left"] or "-",
            (
                f"{_action(r['latest_recommendation'])} ({_fmt_time(r['evaluated_at'])})"
                if r["latest_recommendation"]
                else "[dim]not evaluated[/dim]"
            )
            + (
                f"\n[bold red]needs a decision:[/bold red] {escape(r['awaiting_decision'])}"
                if r["awaiting_decision"]
                else ""
            ),
        )
    _print_table(table)
    if not rows:
        err.print(
            "no pilot waits for a decision"
            if awaiting_decision
            else "no pilots yet; create one with `okrflow pilot create --file pilot.yaml`"
        )


def _owner_name(session: Any, person_id: int | None) -> str | None:
    from okrflow.store.models import Person

    person = session.get(Person, person_id) if person_id else None
    return person.name if person is not None else None


def _move(ctx: typer.Context, key: str, target: str, workspace: str | None) -> None:
    from okrflow.services import pilots

    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        p = _pilot(s, actor, ws.id, key)
        before = p.status
        pilots.transition(s, actor, p.id, target.strip().lower())
        shown = f"Pilot {escape(p.key)} moved {before} → {_styled(p.status, PILOT_STATUS_STYLE)}"
        hint = (
            f"Next: [bold]okrflow pilot results {escape(p.key)} --file results.csv[/bold], then "
            f"[bold]okrflow pilot evaluate {escape(p.key)}[/bold]"
            if p.status == "running"
            else None
        )
    out.print(shown)
    if hint:
        out.print(hint)


@pilot_app.command("start")
def pilot_start(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key of the pilot, e.g. P-4.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Start a pilot: draft → running (its exit rules, hypothesis and guardrails are fixed from now on)."""
    _move(ctx, key, "running", workspace)


@pilot_app.command("move")
def pilot_move(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key of the pilot.")],
    to: Annotated[str, typer.Option("--to", help="running, decided or closed.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Move a pilot along draft → running → decided → closed (a draft may be closed: withdrawn)."""
    _move(ctx, key, to, workspace)


# ------------------------------------------------------------------ pilots: results


def _cell(raw: Mapping[str | None, Any], name: str) -> str:
    value = raw.get(name)
    return value.strip() if isinstance(value, str) else ""


def _parse_count(text: str, name: str) -> int:
    try:
        number = float(text)
    except ValueError:
        raise InvalidInputError(f"{name} {text!r} is not a number") from None
    if not math.isfinite(number) or not number.is_integer() or number < 0:
        raise InvalidInputError(f"{name} must be a whole number ≥ 0, not {text!r}")
    return int(number)


def _parse_number(text: str, name: str) -> float | None:
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise InvalidInputError(f"{name} {text!r} is not a number") from None
    if not math.isfinite(number):
        raise InvalidInputError(f"{name} must be a finite number, not {text!r}")
    return number


def _result_rows(text: str, name: str) -> tuple[list[dict[str, Any]], list[int], list[tuple[int, str]]]:
    """Rows for ``record_results``, the file line of each, and the lines that could not be read."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise InvalidInputError(f"{name}: the file is empty; it needs a header: {','.join(RESULT_COLUMNS)}")
    reader.fieldnames = header
    unknown = [h for h in header if h not in RESULT_COLUMNS]
    missing = [h for h in REQUIRED_RESULT_COLUMNS if h not in header]
    if unknown or missing:
        problem = f"unknown column {unknown[0]!r}" if unknown else f"no column {missing[0]!r}"
        raise InvalidInputError(
            f"{name}: {problem}; the columns are {', '.join(RESULT_COLUMNS)} (conversions for a rate, sum and "
            "sum_squares for a mean)"
        )
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: list[tuple[int, str]] = []
    for raw in reader:
        line = reader.line_num
        try:
            if raw.get(None):  # type: ignore[call-overload,unused-ignore]
                raise InvalidInputError(f"more fields than the header's {len(header)}")
            row: dict[str, Any] = {c: _cell(raw, c) for c in ("day", "variant", "metric")}
            row["n"] = _parse_count(_cell(raw, "n"), "n")
            for c in ("conversions", "sum", "sum_squares"):
                row[c] = _parse_number(_cell(raw, c), c)
        except InvalidInputError as exc:
            problems.append((line, exc.message))
            continue
        rows.append(row)
        lines.append(line)
    return rows, lines, problems


@pilot_app.command("results")
def pilot_results(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key of the pilot.")],
    file: Annotated[
        Path,
        typer.Option("--file", "-f", metavar="FILE", help="CSV: day,variant,metric,n,conversions,sum,sum_squares."),
    ],
    source: Annotated[str, typer.Option(help="Where the numbers come from (kept with each row).")] = "csv",
    workspace: WorkspaceOption = None,
) -> None:
    """Record daily results per variant and metric from a CSV file: all or nothing, every bad line reported with
    its line number; rows are upserted by (day, variant, metric), so a re-import changes nothing."""
    from okrflow.services import pilots

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None
    name = file.name
    try:
        rows, lines, problems = _result_rows(text, name)
    except csv.Error as exc:
        raise InvalidInputError(f"{name}: not a readable CSV file: {exc}") from None
    if not rows and not problems:
        raise InvalidInputError(f"{name}: no result rows below the header")
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        p = _pilot(s, actor, ws.id, key)
        report = None
        if rows:
            try:
                report = pilots.record_results(s, actor, p.id, rows, source=source.strip() or "csv")
            except InvalidInputError as exc:
                reported = exc.details.get("errors")
                if not reported:
                    raise
                for entry in reported:
                    m = _LINE_RE.match(str(entry))
                    if m and 1 <= int(m.group(1)) <= len(lines):
                        problems.append((lines[int(m.group(1)) - 1], m.group(2)))
                    else:
                        problems.append((0, str(entry)))
        if problems:
            for line, message in sorted(problems):
                where = f"line {line}: " if line else ""
                typer.echo(f"{name}: {where}{' '.join(message.split())}", err=True)
            raise InvalidInputError(
                f"{name}: {_plural(len({ln for ln, _ in problems}), 'bad line')}; nothing was recorded"
            )
        assert report is not None
        days = sorted({str(r["day"]) for r in rows})
        shown = (
            f"Recorded {name} for pilot {escape(p.key)}: {report.created:,} created, {report.updated:,} updated, "
            f"{report.unchanged:,} unchanged ({_plural(len(rows), 'row')}, {days[0]} … {days[-1]})"
        )
    out.print(shown)


# ------------------------------------------------------------------ pilots: status


def _breach_test(rules: Sequence[dp.Rule]) -> dp.BreachTest:
    for kind in (dp.RollbackWhen, dp.ScaleWhen):
        for rule in rules:
            if isinstance(rule, kind):
                return rule.breach
    return dp.BreachTest.ESTIMATE


def _readout_rows(spec: Any, readout: Any) -> list[dict[str, Any]]:
    """One row per metric and treatment: the comparison on the metric's scale and its verdict."""
    test = _breach_test(spec.record.exit_rules)
    rows: list[dict[str, Any]] = []
    for m in (readout.primary, *readout.guardrails):
        scale = (m.guardrail.kind if m.guardrail is not None else spec.primary_scale).value
        for t in spec.treatments:
            row: dict[str, Any] = {
                "metric": m.metric,
                "role": m.role,
                "kind": m.kind,
                "treatment": t,
                "scale": scale,
                "lower_is_better": m.lower_is_better,
                "control": m.totals.get("control"),
                "variant": m.totals.get(t),
                "effect": None,
                "problem": m.problems.get(t),
                "verdict": None,
                "breached": None,
            }
            comparison = m.comparisons.get(t)
            if comparison is not None:
                effect = comparison.relative if scale == "relative" else comparison.absolute
                row["chance_to_win"] = comparison.chance_to_win
                if effect is None:
                    row["problem"] = "the relative effect is undefined (the control mean is 0)"
                else:
                    row["effect"] = effect
                    if m.guardrail is not None:
                        result = dp.MetricResult(
                            m.metric,
                            m.guardrail.kind,
                            effect.improvement,
                            effect.improvement_ci,
                            min(1.0, max(0.0, effect.p_value)),
                            comparison.chance_to_win,
                        )
                        row["breached"] = dp.GuardrailResult(m.guardrail, result).breached(test)
                    elif effect.p_value < readout.alpha:
                        row["verdict"] = "better" if effect.improvement > 0 else "worse"
                    else:
                        row["verdict"] = "no clear signal yet"
            rows.append(row | {"guardrail": m.guardrail})
    return rows


def _verdict(row: dict[str, Any], test: dp.BreachTest) -> str:
    if row["effect"] is None:
        return "[dim]-[/dim]"
    g = row["guardrail"]
    if g is not None:
        accepted = _accepted(g, row["kind"])
        how = "the whole CI" if test is dp.BreachTest.CONFIDENT else "the estimate"
        if row["breached"]:
            return f"[bold red]✗ FAIL[/bold red]: {how} is more than {accepted} worse"
        return f"[green]✓ pass[/green] (may get {accepted} worse)"
    verdict = row["verdict"]
    style = {"better": "green", "worse": "red"}.get(verdict, "yellow")
    return f"[{style}]{verdict}[/{style}]"


def _readout_table(spec: Any, readout: Any, rows: list[dict[str, Any]]) -> Table:
    level = f"{(1 - readout.alpha) * 100:g}% CI"
    table = Table(
        "metric", "role", "control", "treatment", "effect", level, "p-value", "chance to win", "verdict",
        title=f"Readout · {readout.method.value} analysis, α = {readout.alpha:g}",
    )  # fmt: skip
    test = _breach_test(spec.record.exit_rules)
    for r in rows:
        effect = r["effect"]
        better = "lower is better" if r["lower_is_better"] else "higher is better"
        metric = f"{escape(r['metric'])} [dim]({r['scale']}, {better})[/dim]"
        control = _summary_text(r["control"], r["kind"]) if r["control"] is not None else "-"
        variant = (
            f"{escape(r['treatment'])} {_summary_text(r['variant'], r['kind'])}"
            if r["variant"] is not None
            else f"{escape(r['treatment'])} -"
        )
        if effect is None:
            table.add_row(metric, r["role"], control, variant, f"[dim]{escape(r['problem'] or '-')}[/dim]",
                          "", "", "", _verdict(r, test))  # fmt: skip
            continue
        low, high = effect.ci
        table.add_row(
            metric,
            r["role"],
            control,
            variant,
            _effect(effect.estimate, r["scale"], r["kind"]),
            f"[{_effect(low, r['scale'], r['kind'])}, {_effect(high, r['scale'], r['kind'])}]",
            _p_value(effect.p_value),
            _share(r.get("chance_to_win")),
            _verdict(r, test),
        )
    return table


def _srm_text(readout: Any, spec: Any) -> str:
    units = " · ".join(f"{escape(v)} {readout.units.get(v, 0):,}" for v, _ in _variants(spec.split))
    plan = " / ".join(f"{_share(w, 0)}" for _, w in _variants(spec.split))
    srm = readout.srm
    if srm is None:
        return "SRM       [dim]no units yet[/dim]"
    if srm.mismatch:
        return (
            f"SRM       [bold red]✗ sample ratio mismatch[/bold red] (p = {srm.p_value:.3g} < {srm.threshold:g}): "
            f"units {units} vs the planned {plan}; the data is untrustworthy"
        )
    return f"SRM       [green]✓ no mismatch[/green] (p = {srm.p_value:.3g}): units {units} vs the planned {plan}"


def _power_text(power: Any) -> str:
    """The plan's power analysis in one line: units needed, collected, power now, detectable effect."""
    if power.required_units is None:
        return f"power     [dim]{escape(power.problem or 'no power analysis')}[/dim]"
    kind = power.kind
    expected = _effect(power.expected_effect, power.effect_kind, kind)
    if power.kind == "proportion":
        base = f"{power.baseline_mean * 100:.2f}%"
    else:
        base = f"{_num(power.baseline_mean)} ± {_num(power.baseline_std)}"
    source = "the control so far" if power.basis == "observed" else "the planned baseline"
    text = (
        f"power     {power.required_units:,} units needed for {_share(power.power, 0)} power against {expected} "
        f"({power.method.value}, α = {power.alpha:g}; {source} {base})"
    )
    if power.units:
        text += f" · {power.units:,} so far ({_share(power.progress, 0)}), power now {_share(power.power_now, 0)}"
    mde = power.detectable_effect
    if mde is not None:
        at = f"the planned {power.planned_units:,}" if power.planned_units else "the units so far"
        shown = (
            _effect(mde.relative, "relative", kind)
            if mde.relative is not None
            else _effect(mde.absolute, "absolute", kind)
        )
        text += f" · detectable with {at}: {shown}"
    if power.underpowered:
        text += (
            f"\n          [bold yellow]⚠ underpowered[/bold yellow]: the planned {power.planned_units:,} units give "
            f"{_share(power.planned_power, 0)} power"
        )
    return text


def _ninety_text(windows: Sequence[dp.PhaseWindow], today: date) -> str:
    parts = []
    for w in windows:
        here = w.start <= today <= w.end
        text = f"{PHASE_TEXT.get(w.phase.value, w.phase.value)} {w.start} → {w.end}"
        parts.append(f"[bold]▶ {text}[/bold]" if here else text)
    return " · ".join(parts)


def _recommendation_json(evaluation: Any) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    evidence = evaluation.evidence or {}
    return {
        "evaluation_id": evaluation.id,
        "at": evaluation.at,
        "actor": evaluation.actor,
        "action": evaluation.action,
        "rule": evaluation.rule,
        "reason": evidence.get("reason"),
        "numbers": evidence.get("numbers") or {},
        "also_fired": evidence.get("also_fired") or [],
        "extend_until": evidence.get("extend_until"),
    }


@pilot_app.command("status")
def pilot_status(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key of the pilot.")],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """One pilot: hypothesis, timebox with days left, the 90-day view, the readout per metric (effect with its
    confidence interval, p-value, chance to win), the SRM check, guardrails pass/fail, the latest recommendation
    and the decisions taken on it."""
    from okrflow.services import decisions, pilots
    from okrflow.store.models import Team
    from okrflow.store.models_okr import KeyResult
    from okrflow.store.models_work import WorkItem

    today = _today()
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        p = _pilot(s, actor, ws.id, key)
        spec = pilots.spec_of(s, p)
        readout = pilots.results(s, actor, p.id)
        latest = _recommendation_json(pilots.latest_evaluation(s, actor, p.id))
        taken = decisions.list_decisions(s, actor, ws.id, pilot_id=p.id)
        superseded = {d.supersedes_id for d in taken if d.supersedes_id}
        team = s.get(Team, p.team_id) if p.team_id else None
        kr = s.get(KeyResult, p.key_result_id) if p.key_result_id else None
        item = s.get(WorkItem, p.work_item_id) if p.work_item_id else None
        owner = _owner_name(s, p.owner_person_id)
        rows = _readout_rows(spec, readout)
        record = spec.record
        h = record.hypothesis
        windows = record.ninety_days
        if as_json:
            payload = {
                "key": p.key,
                "title": p.title,
                "status": p.status,
                "problem": p.problem,
                "owner": owner,
                "team": team.slug if team else None,
                "key_result": {"id": kr.id, "title": kr.title} if kr else None,
                "work_item": {"key": item.key, "title": item.title, "level": item.level} if item else None,
                "hypothesis": dict(p.hypothesis or {}),
                "timebox": {
                    "start": h.timebox.start,
                    "end": h.timebox.end,
                    "effective_end": h.timebox.effective_end,
                    "extended_days": h.timebox.extended_days,
                    "days_left": h.timebox.days_left(today) if today >= h.timebox.start else None,
                    "over": h.timebox.is_over(today),
                },
                "ninety_days": [
                    {"phase": w.phase.value, "start": w.start, "end": w.end, "current": w.start <= today <= w.end}
                    for w in windows
                ],
                "exit_rules": _rules_text(record.exit_rules),
                "readout": pilots.frozen_numbers(readout),
                "srm": {
                    "p_value": readout.srm.p_value,
                    "threshold": readout.srm.threshold,
                    "mismatch": readout.srm.mismatch,
                }
                if readout.srm
                else None,
                "guardrails": [
                    {
                        "metric": r["metric"],
                        "treatment": r["treatment"],
                        "accepted_regression": r["guardrail"].accepted_regression,
                        "kind": r["guardrail"].kind.value,
                        "breached": r["breached"],
                    }
                    for r in rows
                    if r["guardrail"] is not None
                ],
                "latest_recommendation": latest,
                "decisions": [
                    {"id": d.id, "action": d.action, "decided_on": d.decided_on, "current": d.id not in superseded}
                    for d in taken
                ],
            }
            _print_json(payload)
            return
        details = [
            f"status      {_styled(p.status, PILOT_STATUS_STYLE)} · owner {escape(owner or '-')} · "
            f"team {escape(team.slug if team else '-')}",
            f"problem     {escape(_short(p.problem, 160))}",
            f"hypothesis  {escape(h.primary_metric)} should {h.direction.value} by "
            f"{_effect(h.expected_effect, h.effect_kind.value, None).lstrip('+')} ({h.effect_kind.value})"
            + (f": {escape(h.statement)}" if h.statement else ""),
            f"timebox     {_timebox_text(h.timebox, today)}",
            f"90 days     {_ninety_text(windows, today)}",
        ]
        if kr or item:
            serves = [
                f"KR {kr.id} {escape(kr.title)}" if kr else "",
                f"{item.level} {escape(item.key)}" if item else "",
            ]
            details.append(f"serves      {' · '.join(x for x in serves if x)}")
        if record.rollout:
            details.append(
                "rollout     "
                + " → ".join(f"{escape(st.cohort)} {st.exposure_percent:g}% from {st.start}" for st in record.rollout)
            )
        details += [f"exit rule   {escape(r)}" for r in _rules_text(record.exit_rules)]
        panel = Panel("\n".join(details), title=f"pilot {escape(p.key)} · {escape(p.title)}", expand=False)
        table = _readout_table(spec, readout, rows)
        srm_line = _srm_text(readout, spec)
        planned = spec.planned_sample_size
        sample = f"sample    {readout.sample_size:,} units" + (
            f" of {planned:,} planned ({_share(readout.sample_size / planned, 0)})" if planned else ""
        )
        if readout.first_day:
            sample += f" · data {readout.first_day} → {readout.last_day}"
        power_line = _power_text(readout.power)
        decided = [
            f"#{d.id} {d.action or '-'} on {d.decided_on}" + (" (superseded)" if d.id in superseded else "")
            for d in taken
        ]
    _wide_print(panel)
    _print_table(table)
    out.print(srm_line)
    out.print(sample)
    out.print(power_line)
    breached = [r["metric"] for r in rows if r["breached"]]
    if breached:
        out.print(f"[bold red]guardrails breached: {escape(', '.join(breached))}[/bold red]")
    if latest is None:
        out.print(f"latest recommendation: none yet; run [bold]okrflow pilot evaluate {escape(p.key)}[/bold]")
    else:
        out.print(
            f"latest recommendation: {_action(latest['action'])} ({_fmt_time(latest['at'])}) · "
            f"rule {escape(latest['rule'])} · {escape(latest['reason'] or '')}"
        )
    out.print("decisions: " + (escape(", ".join(decided)) if decided else "none yet"))


# ------------------------------------------------------------------ pilots: evaluate


@pilot_app.command("evaluate")
def pilot_evaluate(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="Key of the pilot.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the recommendation without storing it (drafts too).")
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Apply the exit rules to the results so far: the recommended action, the rule that fired (as written) and
    the numbers behind it. The recommendation is stored (a decision on the pilot freezes it) unless --dry-run."""
    from okrflow.services import pilots

    now = _now()
    actor = _actor()
    db = _state(ctx).db()
    with db.read() if dry_run else db.write() as s:
        ws = _workspace(s, actor, workspace)
        p = _pilot(s, actor, ws.id, key)
        pilot_key = p.key
        if dry_run:
            rec = pilots.recommend(s, actor, p.id, now)
            evaluation_id = None
        else:
            done = pilots.evaluate(s, actor, p.id, now)
            rec, evaluation_id = done.recommendation, done.evaluation.id
        payload = {"pilot": pilot_key, "evaluation_id": evaluation_id, "at": now} | pilots.evidence_of(rec)
    if as_json:
        _print_json(payload)
        return
    stored = f"evaluation {evaluation_id}" if evaluation_id else "not stored (--dry-run)"
    out.print(f"Evaluated pilot {escape(pilot_key)} at {_fmt_time(now)} UTC ({stored})")
    out.print(f"  recommendation  {_action(rec.action.value)}")
    out.print(f"  rule            {escape(rec.rule)}")
    out.print(f"  reason          {escape(rec.reason)}")
    if rec.extend_until:
        out.print(f"  extend until    {rec.extend_until}")
    out.print(f"  also fired      {escape(', '.join(rec.also_fired)) if rec.also_fired else '-'}")
    table = Table("number", "value", title="The numbers behind it")
    for name, value in rec.evidence.items():
        table.add_row(escape(name), escape(_value(value)))
    _print_table(table)
    if not dry_run:
        out.print(
            f"Next: [bold]okrflow decision record --pilot {escape(pilot_key)} --action {rec.action.value} "
            '--title "…" --decision "…" --decided-by "…"[/bold]'
        )


# ------------------------------------------------------------------ decisions


RaciOption = Annotated[list[str] | None, typer.Option(metavar="PERSON", help="A name or e-mail (repeatable).")]


def _raci_entry(session: Any, actor: Any, workspace_id: int, who: str, option: str) -> int | str:
    """A person of the workspace (by e-mail or name) as their id; any other name as text (a group, a role). An
    e-mail nobody has is a typo, not a name."""
    text = who.strip()
    if not text:
        raise InvalidInputError(f"{option}: name a person, a group or a role")
    try:
        person = _find_person(session, actor, workspace_id, text)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{option}: {exc.message}") from None
    if person is not None:
        return int(person.id)
    if "@" in text:
        raise NotFoundError(f"{option}: no person with e-mail {text!r} in this workspace")
    return text


def _raci(
    session: Any, actor: Any, workspace_id: int, roles: Mapping[str, list[str] | None]
) -> dict[str, list[int | str]]:
    return {
        role: [_raci_entry(session, actor, workspace_id, who, f"--{role}") for who in people]
        for role, people in roles.items()
        if people
    }


def _decided_by(session: Any, actor: Any, workspace_id: int, who: str) -> str:
    """The person's name when ``who`` names one (by e-mail or name), else the text as given."""
    try:
        person = _find_person(session, actor, workspace_id, who) if who.strip() else None
    except InvalidInputError as exc:
        raise InvalidInputError(f"--decided-by: {exc.message}") from None
    return str(person.name) if person is not None else who


def _decision_outcome(session: Any, d: Any, before: str | None, pilot: Any) -> list[str]:
    lines = []
    if pilot is not None:
        follows = (
            f"[bold yellow]overrides the recommendation ({escape(d.recommended_action)})[/bold yellow]"
            if d.overrides_recommendation
            else (
                f"follows the recommendation ({escape(d.recommended_action)})"
                if d.recommended_action
                else "[yellow]no recommendation yet (pilot not evaluated)[/yellow]"
            )
        )
        lines.append(f"  pilot       {escape(pilot.key)}: {_action(d.action)} — {follows}")
        if pilot.status != before:
            lines.append(f"  pilot {escape(pilot.key)} moved {before} → {_styled(pilot.status, PILOT_STATUS_STYLE)}")
        evidence = d.evidence or {}
        if "extend_days" in evidence:
            lines.append(f"  timebox     extended by {_plural(int(evidence['extend_days']), 'day')}")
        frozen = [k for k in ("recommendation", "readout") if k in evidence]
        if frozen:
            lines.append(f"  evidence    frozen: {', '.join(frozen)} (okrflow decision show {d.id})")
    if d.review_on:
        lines.append(f"  review on   {d.review_on}")
    return lines


@decision_app.command("record")
def decision_record(
    ctx: typer.Context,
    title: Annotated[str, typer.Option(help="What was decided, in a few words.")],
    decision: Annotated[str, typer.Option("--decision", help="The decision itself.")],
    decided_by: Annotated[str, typer.Option("--decided-by", metavar="PERSON", help="Who decided: name or e-mail.")],
    pilot: Annotated[str | None, typer.Option(metavar="KEY", help="The pilot this decides on.")] = None,
    action: Annotated[
        str | None, typer.Option(help="With --pilot: scale, rollback, stop, extend, pause or continue.")
    ] = None,
    extend_days: Annotated[
        int | None,
        typer.Option("--extend-days", help="An extend decision: by how many days (default: as recommended)."),
    ] = None,
    rationale: Annotated[str, typer.Option(help="Why (required when overriding the recommendation).")] = "",
    context: Annotated[str, typer.Option(help="The situation that asked for a decision.")] = "",
    option: Annotated[list[str] | None, typer.Option("--option", help="An option considered (repeatable).")] = None,
    responsible: RaciOption = None,
    accountable: Annotated[str | None, typer.Option(metavar="PERSON", help="The one accountable person.")] = None,
    consulted: RaciOption = None,
    informed: RaciOption = None,
    decided_on: Annotated[str | None, typer.Option("--decided-on", metavar="DATE", help="Default: today.")] = None,
    review_on: Annotated[str | None, typer.Option("--review-on", metavar="DATE", help="When to look again.")] = None,
    link: Annotated[
        list[str] | None,
        typer.Option(
            metavar="TYPE:REF", help="pilot:P-1, work_item:CHK-12, key_result:7, incident:INC-7 (repeatable)."
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Record a decision; it can never be changed afterwards (supersede it instead). On a pilot (--pilot,
    --action) the latest recommendation and the readout are frozen as evidence, overriding the recommendation
    needs --rationale, and a concluding action (scale, rollback, stop) moves the running pilot to decided."""
    from okrflow.services import decisions

    if action and not pilot:
        raise InvalidInputError("--action is what the decision does with a pilot; give --pilot KEY too")
    if extend_days is not None and (action or "").strip().lower() != "extend":
        raise InvalidInputError("--extend-days goes with --action extend")
    decided = _day(decided_on, "--decided-on")
    review = _day(review_on, "--review-on")
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        p = _pilot(s, actor, ws.id, pilot) if pilot else None
        before = p.status if p is not None else None
        roles = {"responsible": responsible, "accountable": [accountable] if accountable else None,
                 "consulted": consulted, "informed": informed}  # fmt: skip
        d = decisions.record_decision(
            s,
            actor,
            ws.id,
            title=title,
            decision=decision,
            decided_by=_decided_by(s, actor, ws.id, decided_by),
            now=_now(),
            decided_on=decided,
            context=context,
            options=list(option or []),
            rationale=rationale,
            raci=_raci(s, actor, ws.id, roles) or None,
            review_on=review,
            links=[_link(s, actor, ws.id, raw) for raw in link or []],
            pilot_id=p.id if p is not None else None,
            action=action.strip().lower() if action else None,
            extend_days=extend_days,
        )
        lines = [f"Recorded decision #{d.id} {escape(d.title)} ({d.decided_on}, decided by {escape(d.decided_by)})"]
        lines += _decision_outcome(s, d, before, p)
    for line in lines:
        out.print(line)


@decision_app.command("supersede")
def decision_supersede(
    ctx: typer.Context,
    decision_id: Annotated[int, typer.Argument(metavar="ID", help="The decision this one replaces.")],
    title: Annotated[str | None, typer.Option(help="New title (default: the old one).")] = None,
    decision: Annotated[str | None, typer.Option("--decision", help="The new decision.")] = None,
    decided_by: Annotated[str | None, typer.Option("--decided-by", metavar="PERSON")] = None,
    action: Annotated[str | None, typer.Option(help="A new action on the pilot.")] = None,
    extend_days: Annotated[int | None, typer.Option("--extend-days")] = None,
    rationale: Annotated[str | None, typer.Option(help="Why the decision changed.")] = None,
    context: Annotated[str | None, typer.Option()] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="Replaces the options (repeatable).")] = None,
    responsible: RaciOption = None,
    accountable: Annotated[str | None, typer.Option(metavar="PERSON")] = None,
    consulted: RaciOption = None,
    informed: RaciOption = None,
    decided_on: Annotated[str | None, typer.Option("--decided-on", metavar="DATE", help="Default: today.")] = None,
    review_on: Annotated[str | None, typer.Option("--review-on", metavar="DATE")] = None,
    link: Annotated[list[str] | None, typer.Option(metavar="TYPE:REF", help="Replaces the links (repeatable).")] = None,
) -> None:
    """Record a new decision that supersedes decision ID (a decision is superseded at most once). What you do
    not give is taken over from the old one; a RACI role you give replaces that role; evidence on a pilot is
    frozen afresh."""
    from okrflow.services import decisions

    changes: dict[str, Any] = {}
    for name, value in (("title", title), ("decision", decision), ("rationale", rationale), ("context", context)):
        if value is not None:
            changes[name] = value
    if option is not None:
        changes["options"] = list(option)
    if action is not None:
        changes["action"] = action.strip().lower()
    if extend_days is not None:
        changes["extend_days"] = extend_days
    if decided_on is not None:
        changes["decided_on"] = _day(decided_on, "--decided-on")
    if review_on is not None:
        changes["review_on"] = _day(review_on, "--review-on")
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        old = decisions.get_decision(s, actor, decision_id)
        ws_id = old.workspace_id
        if decided_by is not None:
            changes["decided_by"] = _decided_by(s, actor, ws_id, decided_by)
        roles = {"responsible": responsible, "accountable": [accountable] if accountable else None,
                 "consulted": consulted, "informed": informed}  # fmt: skip
        given = _raci(s, actor, ws_id, roles)
        if given:
            changes["raci"] = dict(old.raci or {}) | given
        if link is not None:
            changes["links"] = [_link(s, actor, ws_id, raw) for raw in link]
        p = None
        if old.pilot_id is not None:
            from okrflow.services import pilots

            p = pilots.get_pilot(s, actor, old.pilot_id)
        before = p.status if p is not None else None
        d = decisions.supersede(s, actor, old.id, changes, now=_now())
        chain = " → ".join(f"#{c.id}" for c in decisions.chain(s, actor, d.id))
        lines = [
            f"Recorded decision #{d.id} {escape(d.title)} ({d.decided_on}), superseding #{old.id}",
            f"  chain       {chain}",
        ]
        lines += _decision_outcome(s, d, before, p)
    for line in lines:
        out.print(line)


def _id_of(row: Any) -> int | None:
    return int(row.id) if row is not None else None


def _chain_cell(d: Any) -> str:
    return f"#{d.id} ⟵ supersedes #{d.supersedes_id}" if d.supersedes_id else f"#{d.id}"


@decision_app.command("list")
def decision_list(
    ctx: typer.Context,
    pilot: Annotated[str | None, typer.Option(metavar="KEY", help="Only decisions on this pilot.")] = None,
    action: Annotated[str | None, typer.Option(help="Only decisions taking this action on a pilot.")] = None,
    since: Annotated[str | None, typer.Option(metavar="DATE", help="Decided on or after.")] = None,
    until: Annotated[str | None, typer.Option(metavar="DATE", help="Decided on or before.")] = None,
    current: Annotated[bool, typer.Option("--current", help="Leave out superseded decisions.")] = False,
    decided_by: Annotated[str | None, typer.Option("--decided-by", metavar="PERSON")] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Text in the title, decision or rationale.")
    ] = None,
    link: Annotated[str | None, typer.Option(metavar="TYPE:REF", help="Only decisions linked to this.")] = None,
    due_for_review: Annotated[
        bool, typer.Option("--due-for-review", help="Only current decisions whose review date has come.")
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The decision log, newest first, with supersede chains (#12 ⟵ supersedes #9; superseded by #12)."""
    from okrflow.services import decisions
    from okrflow.store.models_pilots import Pilot

    s_day, u_day = _day(since, "--since"), _day(until, "--until")
    if s_day and u_day and u_day < s_day:
        raise InvalidInputError(f"--until {u_day} is before --since {s_day}")
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        linked = _link(s, actor, ws.id, link) if link else None
        rows = decisions.list_decisions(
            s,
            actor,
            ws.id,
            pilot_id=_pilot(s, actor, ws.id, pilot).id if pilot else None,
            link_type=linked["type"] if linked else None,
            link_id=linked["id"] if linked else None,
            decided_by=_decided_by(s, actor, ws.id, decided_by) if decided_by else None,
            since=s_day,
            until=u_day,
            query=query or "",
            current_only=current,
            action=action.strip().lower() if action else None,
        )
        if due_for_review:
            due = {d.id for d in decisions.decisions_due_for_review(s, actor, ws.id, _today())}
            rows = [d for d in rows if d.id in due]
        newer = {d.id: decisions.superseded_by(s, d.id) for d in rows}
        pilot_keys = {p.id: p.key for p in (s.get(Pilot, d.pilot_id) for d in rows if d.pilot_id) if p is not None}
        if as_json:
            from okrflow.services import audit

            payload = [
                audit.snapshot(d)
                | {
                    "pilot_key": pilot_keys.get(d.pilot_id or 0),
                    "superseded_by": _id_of(newer[d.id]),
                    "current": newer[d.id] is None,
                }
                for d in rows
            ]
    if as_json:
        _print_json(payload)
        return
    table = Table("decision", "decided on", "title", "decision taken", "pilot · action", "decided by", "review on",
                  "status")  # fmt: skip
    today = _today()
    for d in rows:
        on_pilot = "-"
        if d.pilot_id:
            on_pilot = f"{escape(pilot_keys[d.pilot_id])} {_action(d.action)}"
            if d.overrides_recommendation:
                on_pilot += f" [yellow](overrides {escape(d.recommended_action or '-')})[/yellow]"
        superseder = newer[d.id]
        status = f"[dim]superseded by #{superseder.id}[/dim]" if superseder else "[green]current[/green]"
        review = str(d.review_on) if d.review_on else "-"
        if d.review_on and d.review_on <= today and not superseder:
            review = f"[bold yellow]{review} (due)[/bold yellow]"
        table.add_row(
            _chain_cell(d),
            str(d.decided_on),
            escape(d.title),
            escape(_short(d.decision)),
            on_pilot,
            escape(d.decided_by),
            review,
            status,
        )
    _print_table(table)
    if not rows:
        err.print("no decisions match" if any((pilot, action, since, until, query, link)) else "no decisions yet")


def _frozen_readout_table(readout: Mapping[str, Any]) -> Table:
    table = Table("metric", "role", "variants", "effect", "CI", "p-value", "chance to win",
                  title="Frozen readout")  # fmt: skip
    for m in [readout.get("primary"), *(readout.get("guardrails") or [])]:
        if not isinstance(m, Mapping):
            continue
        kind = m.get("kind")
        variants = " · ".join(
            f"{escape(v)} {_summary_text(_Frozen(x), kind)}" for v, x in (m.get("variants") or {}).items()
        )
        comparisons = m.get("comparisons") or {}
        if not comparisons:
            problems = "; ".join(str(v) for v in (m.get("problems") or {}).values()) or "-"
            table.add_row(escape(str(m.get("metric"))), str(m.get("role")), variants, f"[dim]{escape(problems)}[/dim]",
                          "", "", "")  # fmt: skip
        for _t, c in comparisons.items():
            effect, scale = (c.get("relative"), "relative") if c.get("relative") else (c.get("absolute"), "absolute")
            ci = effect.get("ci") or [None, None] if effect else [None, None]
            table.add_row(
                escape(str(m.get("metric"))),
                str(m.get("role")),
                variants,
                _effect(effect.get("estimate") if effect else None, scale, kind),
                f"[{_effect(ci[0], scale, kind)}, {_effect(ci[1], scale, kind)}]",
                _p_value(effect.get("p_value") if effect else None),
                _share(c.get("chance_to_win")),
            )
    return table


class _Frozen:
    """A frozen variant summary ({n, mean, …}) read like a live one."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.n = int(data.get("n") or 0)
        self.mean = float(data.get("mean") or 0.0)


@decision_app.command("show")
def decision_show(
    ctx: typer.Context,
    decision_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
) -> None:
    """One decision: what, who, why, RACI, links, its supersede chain and the evidence frozen with it."""
    from okrflow.services import audit, decisions
    from okrflow.store.models_pilots import Pilot

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        d = decisions.get_decision(s, actor, decision_id)
        chain = decisions.chain(s, actor, d.id)
        pilot = s.get(Pilot, d.pilot_id) if d.pilot_id else None
        links = [_link_text(s, lk) for lk in d.links or []]
        if as_json:
            payload = audit.snapshot(d) | {
                "pilot_key": pilot.key if pilot else None,
                "chain": [c.id for c in chain],
                "superseded_by": next((c.id for c in chain if c.supersedes_id == d.id), None),
            }
    if as_json:
        _print_json(payload)
        return
    evidence = dict(d.evidence or {})
    lines = [
        f"decision    {escape(d.decision)}",
        f"decided     {d.decided_on} by {escape(d.decided_by)} · recorded {_fmt_time(d.recorded_at)} UTC by "
        f"{escape(d.author or '-')}",
    ]
    if d.context:
        lines.append(f"context     {escape(d.context)}")
    for o in d.options or []:
        lines.append(f"option      {escape(o if isinstance(o, str) else json.dumps(o, ensure_ascii=False))}")
    lines.append(f"rationale   {escape(d.rationale) if d.rationale else '-'}")
    for role in ("responsible", "accountable", "consulted", "informed"):
        people = (d.raci or {}).get(role) or []
        if people:
            lines.append(f"{role:<11} {escape(', '.join(str(p.get('name')) for p in people))}")
    if d.review_on:
        lines.append(f"review on   {d.review_on}")
    for text in links:
        lines.append(f"link        {escape(text)}")
    if pilot is not None:
        follows = (
            f"[bold yellow]overrides the recommendation ({escape(d.recommended_action or '-')})[/bold yellow]"
            if d.overrides_recommendation
            else f"recommended: {escape(d.recommended_action or 'not evaluated')}"
        )
        lines.append(f"pilot       {escape(pilot.key)} {escape(pilot.title)}: {_action(d.action)} · {follows}")
    lines.append(
        "chain       "
        + " → ".join(f"[bold]#{c.id}[/bold] ◀ this" if c.id == d.id else f"#{c.id} {escape(c.title)}" for c in chain)
    )
    _wide_print(Panel("\n".join(lines), title=f"decision #{d.id} · {escape(d.title)}", expand=False))
    rec = evidence.pop("recommendation", None)
    readout = evidence.pop("readout", None)
    if isinstance(rec, Mapping):
        out.print(
            f"[bold]Frozen recommendation[/bold] (evaluation {rec.get('evaluation_id')}, "
            f"{escape(str(rec.get('evaluated_at')))}): {_action(rec.get('action'))} · rule "
            f"{escape(str(rec.get('rule')))}"
        )
        if rec.get("reason"):
            out.print(f"  reason  {escape(str(rec['reason']))}")
        table = Table("number", "value")
        for name, value in (rec.get("numbers") or {}).items():
            table.add_row(escape(str(name)), escape(_value(value)))
        _print_table(table)
    if isinstance(readout, Mapping):
        if "problem" in readout:
            out.print(f"Frozen readout: {escape(str(readout['problem']))}")
        else:
            _print_table(_frozen_readout_table(readout))
            out.print(
                f"units {escape(', '.join(f'{k} {v:,}' for k, v in (readout.get('units') or {}).items()))} · "
                f"SRM p = {_value(readout.get('srm_p_value'))} · data {readout.get('first_day')} → "
                f"{readout.get('last_day')}"
            )
    for name, value in evidence.items():
        shown = value if isinstance(value, str) else json.dumps(_plain(value), ensure_ascii=False)
        out.print(f"evidence {escape(name)}: {escape(shown)}")


# ------------------------------------------------------------------ outcomes


@outcome_app.command("anticipate")
def outcome_anticipate(
    ctx: typer.Context,
    item_key: Annotated[str, typer.Argument(metavar="ITEM_KEY", help="An initiative or epic, e.g. CHK-E20.")],
    problem: Annotated[str, typer.Option(help="1. Which problem or behaviour?")],
    expected_result: Annotated[str, typer.Option("--expected-result", help="2. Which result do we expect?")],
    measured_by: Annotated[str, typer.Option("--measured-by", help="2. How is it measured?")],
    metric: Annotated[str, typer.Option(help="3. Which metric (key)?")],
    by: Annotated[str, typer.Option(metavar="DATE", help="4. By when?")],
    how_we_learn: Annotated[str, typer.Option("--how-we-learn", help="4. How will we learn?")],
    target: Annotated[float | None, typer.Option(help="3. The target value of the metric.")] = None,
    source: SourceOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """State the anticipated outcome of an initiative or epic: the four questions (replaces an earlier answer)."""
    from okrflow.services import outcomes

    by_date = _day(by, "--by")
    assert by_date is not None
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        item = _item(s, actor, ws.id, item_key, source)
        outcomes.set_anticipated_outcome(
            s,
            actor,
            item.id,
            problem=problem,
            expected_result=expected_result,
            measured_by=measured_by,
            metric_key=metric,
            target=target,
            by_date=by_date,
            how_we_learn=how_we_learn,
        )
        lines = [f"Anticipated outcome of {item.level} {escape(item.key)} {escape(item.title)}"]
        lines += _anticipated_lines(item.anticipated_outcome)
    for line in lines:
        out.print(line)


def _anticipated_lines(a: Mapping[str, Any] | None) -> list[str]:
    if not a:
        return ["  [dim]no anticipated outcome yet[/dim]"]
    target = f" → target {_num(a['target'])}" if a.get("target") is not None else ""
    return [
        f"  problem     {escape(str(a.get('problem')))}",
        f"  expected    {escape(str(a.get('expected_result')))} (measured by {escape(str(a.get('measured_by')))})",
        f"  metric      {escape(str(a.get('metric_key')))}{target}",
        f"  by          {a.get('by_date')} · learn: {escape(str(a.get('how_we_learn')))}",
    ]


@outcome_app.command("record")
def outcome_record(
    ctx: typer.Context,
    item_key: Annotated[str, typer.Argument(metavar="ITEM_KEY", help="An initiative or epic.")],
    result: Annotated[str, typer.Option(help="achieved, partially or not_achieved.")],
    learning: Annotated[str, typer.Option(help="What we learned.")],
    observed: Annotated[float | None, typer.Option(metavar="VALUE", help="The observed value of the metric.")] = None,
    observed_on: Annotated[str | None, typer.Option("--observed-on", metavar="DATE", help="Default: today.")] = None,
    source: SourceOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Record what an initiative or epic actually achieved against its anticipated outcome (again: updates it)."""
    from okrflow.services import outcomes

    on = _day(observed_on, "--observed-on") or _today()
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        item = _item(s, actor, ws.id, item_key, source)
        row = outcomes.record_actual_outcome(
            s,
            actor,
            item.id,
            result=result.strip().lower(),
            observed_on=on,
            observed_value=observed,
            learning=learning,
        )
        a = item.anticipated_outcome or {}
        target = f" (target {_num(a['target'])})" if a.get("target") is not None else ""
        shown = [
            f"Recorded the outcome of {item.level} {escape(item.key)}: {_styled(row.result, RESULT_STYLE)} "
            f"on {row.observed_on}",
            f"  observed    {escape(str(a.get('metric_key', 'value')))} = {_num(row.observed_value)}{target}",
            f"  learning    {escape(row.learning or '-')}",
        ]
    for line in shown:
        out.print(line)


@outcome_app.command("show")
def outcome_show(
    ctx: typer.Context,
    item_key: Annotated[str, typer.Argument(metavar="ITEM_KEY")],
    source: SourceOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The anticipated and the actual outcome of an initiative or epic."""
    from okrflow.services import outcomes

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        item = _item(s, actor, ws.id, item_key, source)
        actual = outcomes.actual_outcome(s, actor, item.id)
        lines = [f"{item.level or 'item'} {escape(item.key)} {escape(item.title)}", "anticipated"]
        lines += _anticipated_lines(item.anticipated_outcome)
        if actual is None:
            lines.append("actual       [dim]not recorded yet[/dim]")
        else:
            lines.append(
                f"actual       {_styled(actual.result, RESULT_STYLE)} on {actual.observed_on} · observed "
                f"{_num(actual.observed_value)} · by {escape(actual.recorded_by or '-')}"
            )
            lines.append(f"  learning    {escape(actual.learning or '-')}")
    for line in lines:
        out.print(line)


@outcome_app.command("due")
def outcome_due(
    ctx: typer.Context,
    team: TeamOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Delivered initiatives and epics whose anticipated by-date has passed without an actual outcome, the
    longest overdue first."""
    from okrflow.services import outcomes
    from okrflow.store.models import Team

    today = _today()
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        items = outcomes.outcome_reviews_due(s, actor, ws.id, today, team_id=_team_id(s, ws, team))
        rows: list[dict[str, Any]] = []
        for i in items:
            a = i.anticipated_outcome or {}
            by = date.fromisoformat(a["by_date"])
            t = s.get(Team, i.team_id) if i.team_id else None
            rows.append(
                {
                    "key": i.key,
                    "title": i.title,
                    "level": i.level,
                    "team": t.slug if t else None,
                    "resolved": i.resolved,
                    "by_date": by,
                    "days_overdue": (today - by).days,
                    "metric_key": a.get("metric_key"),
                    "target": a.get("target"),
                }
            )
    if as_json:
        _print_json(rows)
        return
    table = Table("item", "title", "level", "team", "delivered", "by", "overdue", "metric → target")
    for r in rows:
        target = f" → {_num(r['target'])}" if r["target"] is not None else ""
        table.add_row(
            escape(r["key"]),
            escape(r["title"]),
            r["level"] or "-",
            escape(r["team"] or "-"),
            _fmt_time(r["resolved"])[:10],
            str(r["by_date"]),
            f"[yellow]{_plural(r['days_overdue'], 'day')}[/yellow]",
            escape(f"{r['metric_key']}{target}"),
        )
    _print_table(table)
    if rows:
        out.print("Record each with [bold]okrflow outcome record ITEM_KEY --result … --learning …[/bold]")
    else:
        err.print("no outcome reviews are due")


@outcome_app.command("rate")
def outcome_rate(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(metavar="DATE", help="First day items were delivered (resolved).")],
    until: Annotated[str, typer.Option(metavar="DATE", help="Last day (inclusive).")],
    team: TeamOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The realization rate per team: of the initiatives and epics delivered in the window with an anticipated
    outcome, the share that achieved it (partially, not achieved and pending shown beside it)."""
    from okrflow.services import outcomes, tenancy

    start, end = _day(since, "--since"), _day(until, "--until")
    assert start is not None and end is not None
    if end < start:
        raise InvalidInputError(f"--until {end} is before --since {start}")
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        scopes: list[tuple[str, int | None]]
        if team is not None:
            scopes = [(team.strip(), _team_id(s, ws, team))]
        else:
            scopes = [(t.slug, t.id) for t in tenancy.list_teams(s, actor, ws.id)]
        rows = []
        for label, team_id in scopes:
            r = outcomes.realization_rate(s, actor, ws.id, start=start, end=end, team_id=team_id)
            if r.delivered or team is not None:
                rows.append((label, r))
        if team is None:
            rows.append(("all teams", outcomes.realization_rate(s, actor, ws.id, start=start, end=end)))
    if as_json:
        _print_json(
            [
                {
                    "team": label,
                    "delivered": r.delivered,
                    "achieved": r.achieved,
                    "partially": r.partially,
                    "not_achieved": r.not_achieved,
                    "pending": r.pending,
                    "rate": r.rate,
                    "since": start,
                    "until": end,
                }
                for label, r in rows
            ]
        )
        return
    table = Table("team", "delivered", "achieved", "partially", "not achieved", "pending", "realization rate",
                  title=f"Realization rate · delivered {start} → {end}")  # fmt: skip
    for i, (label, r) in enumerate(rows):
        if team is None and i == len(rows) - 1:
            table.add_section()
        table.add_row(
            escape(label),
            str(r.delivered),
            str(r.achieved),
            str(r.partially),
            str(r.not_achieved),
            str(r.pending),
            _share(r.rate, 0) + (f" ({r.achieved} of {r.delivered})" if r.delivered else ""),
            style="bold" if label == "all teams" else None,
        )
    _print_table(table)
    out.print(
        "[dim]rate = achieved ÷ delivered (initiatives and epics resolved in the window with an anticipated "
        "outcome); pending: no actual outcome recorded yet[/dim]"
    )


# ------------------------------------------------------------------ retrospectives


@retro_app.command("create")
def retro_create(
    ctx: typer.Context,
    title: Annotated[str, typer.Option(help="Title.")],
    kind: Annotated[str, typer.Option(help="retrospective or postmortem (blameless).")] = "retrospective",
    held_on: Annotated[str | None, typer.Option("--held-on", metavar="DATE", help="Default: today.")] = None,
    team: TeamOption = None,
    what_happened: Annotated[str, typer.Option("--what-happened", help="What happened (a postmortem needs it).")] = "",
    impact: Annotated[str, typer.Option(help="The impact (a postmortem needs it).")] = "",
    factor: Annotated[
        list[str] | None, typer.Option("--factor", help="A contributing factor — not a culprit (repeatable).")
    ] = None,
    learnings: Annotated[str, typer.Option(help="What we learned.")] = "",
    incident: Annotated[
        str | None, typer.Option(metavar="ID", help="The incident: its id or its key in the source, e.g. INC-7.")
    ] = None,
    pilot: Annotated[str | None, typer.Option(metavar="KEY", help="The pilot it looks back on.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Record a retrospective or a blameless postmortem (contributing factors, not culprits)."""
    from okrflow.services import retros

    held = _day(held_on, "--held-on") or _today()
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        ws = _workspace(s, actor, workspace)
        data = {
            "kind": kind.strip().lower(),
            "title": title,
            "held_on": held,
            "team_id": _team_id(s, ws, team),
            "what_happened": what_happened,
            "impact": impact,
            "contributing_factors": list(factor or []),
            "learnings": learnings,
            "incident_id": _incident_id(s, ws.id, incident, "--incident") if incident else None,
            "pilot_id": _pilot(s, actor, ws.id, pilot).id if pilot else None,
        }
        r = retros.create_retro(s, actor, ws.id, data)
        shown = f"Recorded {r.kind} #{r.id} {escape(r.title)} ({r.held_on})"
    out.print(shown)
    out.print(f"Next: [bold]okrflow retro action add {r.id} --title … --owner PERSON --due DATE[/bold]")


def _retro_json(session: Any, r: Any, actions: list[Any]) -> dict[str, Any]:
    from okrflow.services import retros
    from okrflow.store.models import Team
    from okrflow.store.models_delivery import Incident
    from okrflow.store.models_pilots import Pilot

    team = session.get(Team, r.team_id) if r.team_id else None
    incident = session.get(Incident, r.incident_id) if r.incident_id else None
    pilot = session.get(Pilot, r.pilot_id) if r.pilot_id else None
    names = retros.owner_names(session, [a.owner_person_id for a in actions])
    return {
        "id": r.id,
        "kind": r.kind,
        "title": r.title,
        "held_on": r.held_on,
        "team": team.slug if team else None,
        "what_happened": r.what_happened,
        "impact": r.impact,
        "contributing_factors": list(r.contributing_factors or []),
        "learnings": r.learnings,
        "incident": {"id": incident.id, "key": incident.external_id, "title": incident.title} if incident else None,
        "pilot": pilot.key if pilot else None,
        "actions": [
            {
                "id": a.id,
                "title": a.title,
                "owner": names.get(a.owner_person_id or 0),
                "due_on": a.due_on,
                "status": a.status,
                "playbook_url": a.playbook_url or None,
            }
            for a in actions
        ],
    }


@retro_app.command("list")
def retro_list(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(help="Only retrospectives or only postmortems.")] = None,
    team: TeamOption = None,
    pilot: Annotated[str | None, typer.Option(metavar="KEY", help="Only those on this pilot.")] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Retrospectives and postmortems, the most recent first, with their open and overdue actions."""
    from okrflow.services import retros

    today = _today()
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        found = retros.list_retros(
            s,
            actor,
            ws.id,
            kind=kind.strip().lower() if kind else None,
            team_id=_team_id(s, ws, team),
            pilot_id=_pilot(s, actor, ws.id, pilot).id if pilot else None,
        )
        rows = [_retro_json(s, r, retros.actions_of(s, actor, r.id)) for r in found]
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "kind", "held on", "title", "team", "about", "actions")
    for r in rows:
        about = []
        if r["incident"]:
            about.append(f"incident {r['incident']['key']}")
        if r["pilot"]:
            about.append(f"pilot {r['pilot']}")
        acts = r["actions"]
        open_ = [a for a in acts if a["status"] == "open"]
        overdue = [a for a in open_ if a["due_on"] and a["due_on"] < today]
        summary = f"{len(open_)} open of {len(acts)}" + (
            f" · [bold red]{len(overdue)} overdue[/bold red]" if overdue else ""
        )
        table.add_row(str(r["id"]), r["kind"], str(r["held_on"]), escape(r["title"]), escape(r["team"] or "-"),
                      escape(", ".join(about) or "-"), summary)  # fmt: skip
    _print_table(table)
    if not rows:
        err.print("no retrospectives yet; record one with `okrflow retro create --title …`")


ACTION_COLUMNS = ("action", "title", "owner", "due", "status", "playbook")


def _action_cells(a: Mapping[str, Any], today: date) -> list[str]:
    due = str(a["due_on"]) if a["due_on"] else "-"
    if a["status"] == "open" and a["due_on"] and a["due_on"] < today:
        due = f"[bold red]{due} ({_plural((today - a['due_on']).days, 'day')} overdue)[/bold red]"
    return [
        str(a["id"]),
        escape(a["title"]),
        escape(a["owner"] or "-"),
        due,
        _styled(a["status"], ACTION_ITEM_STYLE),
        escape(a["playbook_url"] or "-"),
    ]


@retro_app.command("show")
def retro_show(
    ctx: typer.Context,
    retro_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
) -> None:
    """One retrospective or postmortem with its contributing factors and action items."""
    from okrflow.services import retros

    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        r = retros.get_retro(s, actor, retro_id)
        data = _retro_json(s, r, retros.actions_of(s, actor, r.id))
    if as_json:
        _print_json(data)
        return
    lines = [f"held on     {data['held_on']} · team {escape(data['team'] or '-')}"]
    if data["incident"]:
        inc = data["incident"]
        lines.append(f"incident    {escape(inc['key'])} {escape(inc['title'])} (id {inc['id']})")
    if data["pilot"]:
        lines.append(f"pilot       {escape(data['pilot'])}")
    for name, label in (("what_happened", "happened"), ("impact", "impact")):
        if data[name]:
            lines.append(f"{label:<11} {escape(data[name])}")
    for f in data["contributing_factors"]:
        lines.append(f"factor      {escape(f)}")
    if data["learnings"]:
        lines.append(f"learnings   {escape(data['learnings'])}")
    _wide_print(Panel("\n".join(lines), title=f"{data['kind']} #{data['id']} · {escape(data['title'])}", expand=False))
    if data["actions"]:
        table = Table(*ACTION_COLUMNS, title="Action items")
        for a in data["actions"]:
            table.add_row(*_action_cells(a, _today()))
        _print_table(table)
    else:
        out.print(f"no action items yet; add one with `okrflow retro action add {data['id']} --title …`")


@retro_app.command("actions")
def retro_actions(
    ctx: typer.Context,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open actions past their due date.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Done and dropped actions too.")] = False,
    team: TeamOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Action items of every retrospective and postmortem: open ones by due date (--overdue: the longest overdue
    first; --all: done and dropped too)."""
    from okrflow.services import retros

    if overdue and all_:
        raise InvalidInputError("give --overdue or --all, not both")
    today = _today()
    actor = _actor()
    db = _state(ctx).db()
    with db.read() as s:
        ws = _workspace(s, actor, workspace)
        team_id = _team_id(s, ws, team)
        rows: list[dict[str, Any]] = []
        if overdue:
            for o in retros.overdue_actions(s, actor, ws.id, today, team_id=team_id):
                a, r = o.action, o.retrospective
                rows.append({"id": a.id, "title": a.title, "owner": o.owner, "due_on": a.due_on, "status": a.status,
                             "playbook_url": a.playbook_url or None, "days_overdue": o.days_overdue,
                             "retro": {"id": r.id, "kind": r.kind, "title": r.title}})  # fmt: skip
        else:
            for r in retros.list_retros(s, actor, ws.id, team_id=team_id):
                for item in _retro_json(s, r, retros.actions_of(s, actor, r.id))["actions"]:
                    if all_ or item["status"] == "open":
                        rows.append(item | {"retro": {"id": r.id, "kind": r.kind, "title": r.title}})
            rows.sort(key=lambda x: (x["due_on"] is None, x["due_on"] or date.max, x["id"]))
    if as_json:
        _print_json(rows)
        return
    table = Table(*ACTION_COLUMNS, "from")
    for row in rows:
        retro = row["retro"]
        table.add_row(*_action_cells(row, today), f"{retro['kind']} #{retro['id']} {escape(retro['title'])}")
    _print_table(table)
    if not rows:
        err.print("no overdue action items" if overdue else "no open action items")


@action_app.command("add")
def action_add(
    ctx: typer.Context,
    retro_id: Annotated[int, typer.Argument(metavar="RETRO_ID")],
    title: Annotated[str, typer.Option(help="What will be done.")],
    owner: Annotated[str, typer.Option(metavar="PERSON", help="Who owns it: name or e-mail.")],
    due: Annotated[str, typer.Option(metavar="DATE", help="Due date.")],
    playbook: Annotated[
        str | None, typer.Option(metavar="URL", help="A playbook or runbook: http(s)://… or /docs/…")
    ] = None,
) -> None:
    """Add an owned action item to a retrospective or postmortem."""
    from okrflow.services import retros

    due_on = _day(due, "--due")
    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        r = retros.get_retro(s, actor, retro_id)
        person = _person(s, actor, r.workspace_id, owner, "--owner")
        a = retros.add_action(
            s,
            actor,
            r.id,
            {"title": title, "owner_person_id": person.id, "due_on": due_on, "playbook_url": playbook or ""},
        )
        shown = (
            f"Added action {a.id} to {r.kind} #{r.id}: {escape(a.title)} · owner {escape(person.name)} · due {a.due_on}"
            + (f" · playbook {escape(a.playbook_url)}" if a.playbook_url else "")
        )
    out.print(shown)


def _close_action(ctx: typer.Context, action_id: int, status: str) -> None:
    from okrflow.services import retros

    actor = _actor()
    db = _state(ctx).db()
    with db.write() as s:
        a, r = retros.get_action(s, actor, action_id)
        before = a.status
        retros.update_action(s, actor, a.id, {"status": status})
        shown = (
            f"Action {a.id} ({escape(a.title)}, {r.kind} #{r.id}): {before} → {_styled(a.status, ACTION_ITEM_STYLE)}"
        )
    out.print(shown)


@action_app.command("done")
def action_done(ctx: typer.Context, action_id: Annotated[int, typer.Argument(metavar="ACTION_ID")]) -> None:
    """Mark an action item done."""
    _close_action(ctx, action_id, "done")


@action_app.command("drop")
def action_drop(ctx: typer.Context, action_id: Annotated[int, typer.Argument(metavar="ACTION_ID")]) -> None:
    """Drop an action item (it will not be done)."""
    _close_action(ctx, action_id, "dropped")
