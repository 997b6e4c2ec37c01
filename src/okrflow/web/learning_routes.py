"""Web pages of learning (the "Learning" entry of the main nav): closing the loop on outcomes, and
retrospectives and blameless postmortems with owned action items.

- ``/outcomes`` — *Outcome reviews due*: delivered initiatives and epics whose anticipated by-date has passed
  without an actual outcome, the longest overdue first, each with its four anticipated-outcome answers and an
  inline "Record outcome" form; and the *realization rate per team* for a period, as a stacked bar chart (drawn by
  ``static/okrflow-charts.js``, kind ``realization``) and a table. **Default period: the last four quarters** —
  from the first day of the calendar quarter three quarters before the running one, up to today (the running
  quarter counts as one of the four). An OKR period, or a custom since/until range, can be chosen instead.
- ``/work/{id}/outcome`` — the *Outcome* panel of an initiative or epic. The work item page loads it with HTMX
  (``_outcome_hook.html``); without JavaScript it is a page of its own. It shows and edits the anticipated outcome
  (which problem or behaviour; which result, measured how; which metric and target; by when, and how we will
  learn) and records the actual outcome (observed value; achieved, partially or not achieved; the learning).
- ``/retros`` — retrospectives and postmortems (filter by kind and team) with their open and overdue actions,
  the overdue actions of the whole workspace, and the form for a new one; ``/retros/{id}`` — one record (what
  happened, impact, contributing factors, learnings; the linked incident and pilot), its action items (add one,
  mark done or dropped, reopen) and its edit form.

Every edit carries the row's ``version`` (hidden field) as ``expected_version``; a stale edit is answered with
**412** and the service's message, the user's input kept in the form, nothing written. Validation errors come
back next to their fields (422 under HTMX). Everything goes through ``okrflow.services.outcomes`` and
``okrflow.services.retros``; no inline script or style (strict CSP).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.domain.errors import NotFoundError, PermissionDeniedError, StaleVersionError
from okrflow.services import catalog, okr, outcomes, pilots, retros, tenancy, traceability
from okrflow.store.models import Team, Workspace
from okrflow.store.models_delivery import Incident
from okrflow.store.models_okr import Period
from okrflow.store.models_pilots import ActionItem, ActualOutcome, Pilot, Retrospective
from okrflow.store.models_work import WorkItem
from okrflow.web import forms
from okrflow.web.forms import CsrfHeader, CsrfToken
from okrflow.web.okr_edit_routes import num_text
from okrflow.web.routes import (
    Ctx,
    _db,
    _is_htmx,
    _parse_id,
    _require_workspace,
    current,
    render,
    team_tree,
)

LEARNING_TABS = (("outcomes", "/outcomes", "Outcomes"), ("retros", "/retros", "Retros & postmortems"))
RESULT_LABELS = {"achieved": "achieved", "partially": "partially achieved", "not_achieved": "not achieved"}
KIND_LABELS = {"retrospective": "Retrospective", "postmortem": "Postmortem"}
DUE_SHOWN = 100
INCIDENTS_OFFERED = 200
OUTCOMES_TARGET = "outcomes-results"
RETROS_TARGET = "retros-results"
# A refusal about the work item itself is not about a field of the outcome forms: it shows at the top.
ITEM_ERRORS_ON_TOP = {"work_item_id": "_form"}

ANTICIPATED_REQUIRED = {
    "problem": "say which problem or behaviour this should change",
    "expected_result": "say which result you expect",
    "measured_by": "say how the result is measured",
    "metric_key": "name the metric (its key in the KPI catalog, or a new name)",
    "by_date": "say by when the result should show (a date)",
    "how_we_learn": "say how you will learn whether it worked",
}


def _today() -> date:
    return datetime.now(UTC).date()


def _date(raw: str | None) -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _number(raw: str, name: str, errors: dict[str, str]) -> float | None:
    text = raw.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        errors[name] = "enter a number, e.g. 0.12 or 1500"
        return None
    return value


def stale_message(exc: StaleVersionError, kept: bool = True) -> str:
    """The service's 412 message (its entity type made readable: ``work_item 7`` → ``work item 7``), and what
    happened to the user's input."""
    head, _, rest = exc.message.rstrip(".").partition(" ")
    tail = "Nothing was saved; your input is still in the form" if kept else "Nothing was saved"
    return f"{head.replace('_', ' ')} {rest}. {tail}"


def _common() -> dict[str, Any]:
    return {"tabs": LEARNING_TABS, "result_labels": RESULT_LABELS, "kind_labels": KIND_LABELS, "today": _today()}


# ------------------------------------------------------------------ the period of the realization rate


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def last_four_quarters(today: date) -> tuple[date, date]:
    """The default period: the running calendar quarter and the three before it, up to today."""
    q = quarter_start(today)
    months = q.year * 12 + (q.month - 1) - 9
    return date(months // 12, months % 12 + 1, 1), today


@dataclass
class Window:
    query: dict[str, str]
    start: date
    end: date
    label: str
    problems: list[str] = field(default_factory=list)

    def params(self) -> str:
        return urlencode({k: v for k, v in self.query.items() if v})


def _fmt(day: date) -> str:
    return day.strftime("%-d %b %Y")


def _window(raw: Mapping[str, str], periods: list[Period], today: date) -> Window:
    """The period of the realization rate: an OKR period (``period=<id>``), custom dates (``period=custom`` or
    ``since``/``until`` alone), else the last four quarters."""
    query = {k: (raw.get(k) or "").strip() for k in ("period", "since", "until")}
    problems: list[str] = []
    pid = _parse_id(query["period"]) if query["period"] != "custom" else None
    period = next((p for p in periods if p.id == pid), None)
    if period is not None:
        query["since"] = query["until"] = ""
        return Window(query, period.start_date, period.end_date, period.name, problems)
    custom = query["period"] == "custom" or bool(query["since"] or query["until"])
    query["period"] = "custom" if custom else ""
    if custom:
        for key in ("since", "until"):
            if query[key] and _date(query[key]) is None:
                problems.append(f"{key} is not a date (YYYY-MM-DD)")
                query[key] = ""
        since, until = _date(query["since"]), _date(query["until"])
        end = until or today
        if since is None:
            problems.append("give the first day of the custom period; showing the last 4 quarters")
        elif end < since:
            problems.append("the period ends before it starts; showing the last 4 quarters")
        else:
            return Window(query, since, end, f"{_fmt(since)} – {_fmt(end)}", problems)
    start, end = last_four_quarters(today)
    return Window(query, start, end, f"Last 4 quarters ({_fmt(start)} – today)", problems)


# ------------------------------------------------------------------ /outcomes


@dataclass
class RateRow:
    name: str
    team_id: int | None
    depth: int
    rate: outcomes.RealizationRate


@dataclass
class DueRow:
    item: WorkItem
    team: str
    by_date: date
    days_overdue: int
    answers: dict[str, Any]
    can_write: bool


def _realization(session: Session, ctx: Ctx, ws: Workspace, win: Window) -> dict[str, Any]:
    a = ctx.actor
    total = outcomes.realization_rate(session, a, ws.id, start=win.start, end=win.end)
    rows: list[RateRow] = []
    for team, depth in team_tree(tenancy.list_teams(session, a, ws.id)):
        r = outcomes.realization_rate(session, a, ws.id, start=win.start, end=win.end, team_id=team.id)
        if r.delivered:
            rows.append(RateRow(team.name, team.id, depth, r))
    # items without a team: what the whole workspace counts beyond its teams (the team filter is exact)
    seen = {i for row in rows for i in row.rate.item_ids}
    rest = tuple(i for i in total.item_ids if i not in seen)
    if rest:

        def left(name: str) -> int:
            return int(getattr(total, name)) - sum(int(getattr(row.rate, name)) for row in rows)

        achieved = left("achieved")
        rows.append(
            RateRow(
                "No team",
                None,
                0,
                outcomes.RealizationRate(
                    delivered=len(rest),
                    achieved=achieved,
                    partially=left("partially"),
                    not_achieved=left("not_achieved"),
                    pending=left("pending"),
                    rate=achieved / len(rest),
                    item_ids=rest,
                ),
            )
        )
    chart = {
        "rows": [
            [
                row.name,
                row.rate.achieved,
                row.rate.partially,
                row.rate.not_achieved,
                row.rate.pending,
                row.rate.delivered,
            ]
            for row in rows
        ]
    }
    return {"total": total, "rate_rows": rows, "chart": chart}


def _due(session: Session, ctx: Ctx, ws: Workspace, today: date) -> tuple[list[DueRow], int]:
    items = outcomes.outcome_reviews_due(session, ctx.actor, ws.id, today)
    teams = {t.id: t.name for t in tenancy.list_teams(session, ctx.actor, ws.id)}
    rows = []
    for item in items[:DUE_SHOWN]:
        answers = dict(item.anticipated_outcome or {})
        by = _date(answers.get("by_date")) or today
        rows.append(
            DueRow(
                item=item,
                team=teams.get(item.team_id or 0, ""),
                by_date=by,
                days_overdue=(today - by).days,
                answers=answers,
                can_write=forms.can_write(ctx, ws, item.team_id),
            )
        )
    return rows, len(items)


def _outcomes_data(session: Session, ctx: Ctx, ws: Workspace, raw: Mapping[str, str]) -> dict[str, Any]:
    today = _today()
    periods = okr.list_periods(session, ctx.actor, ws.id)
    win = _window(raw, periods, today)
    due, due_total = _due(session, ctx, ws, today)
    return {
        **_common(),
        "win": win,
        "periods": periods,
        "due": due,
        "due_total": due_total,
        **_realization(session, ctx, ws, win),
    }


# ------------------------------------------------------------------ the Outcome panel of a work item


def _outcome_item(session: Session, ctx: Ctx, ws: Workspace, item_id: int) -> WorkItem:
    item = traceability.get_item(session, ctx.actor, item_id)
    if item.workspace_id != ws.id:
        raise NotFoundError(f"work item {item_id} is not in workspace {ws.name}; switch workspace first")
    if item.level not in outcomes.OUTCOME_LEVELS:
        raise NotFoundError(
            f"{item.key or item.id} is a {item.level or 'unmapped'} item; outcomes belong to initiatives and epics"
        )
    return item


def anticipated_values(item: WorkItem) -> dict[str, str]:
    ao = item.anticipated_outcome or {}
    values = {name: str(ao.get(name) or "") for name in ANTICIPATED_REQUIRED}
    values["target"] = num_text(ao.get("target"))
    values["version"] = str(item.version)
    return values


def actual_values(actual: ActualOutcome | None, today: date) -> dict[str, str]:
    if actual is None:
        return {"result": "", "observed_on": today.isoformat(), "observed_value": "", "learning": "", "version": ""}
    return {
        "result": actual.result,
        "observed_on": actual.observed_on.isoformat(),
        "observed_value": num_text(actual.observed_value),
        "learning": actual.learning or "",
        "version": str(actual.version),
    }


def _panel_data(session: Session, ctx: Ctx, ws: Workspace, item_id: int) -> dict[str, Any]:
    item = _outcome_item(session, ctx, ws, item_id)
    actual = outcomes.actual_outcome(session, ctx.actor, item.id)
    today = _today()
    ao = item.anticipated_outcome or None
    by = _date((ao or {}).get("by_date"))
    metrics = [m.key for m in catalog.list_metrics(session, ctx.actor, ws.id)]
    return {
        **_common(),
        "item": item,
        "ao": ao,
        "by_date": by,
        "actual": actual,
        "delivered": item.resolved is not None,
        "review_due": item.resolved is not None and by is not None and by < today and actual is None,
        "days_overdue": (today - by).days if by else 0,
        "can_write": forms.can_write(ctx, ws, item.team_id),
        "metric_keys": metrics,
        "ant_form": anticipated_values(item),
        "ant_errors": {},
        "ant_stale": None,
        "ant_open": ao is None,
        "act_form": actual_values(actual, today),
        "act_errors": {},
        "act_stale": None,
        "act_open": ao is not None and actual is None and by is not None and by <= today,
        "message": None,
    }


# ------------------------------------------------------------------ retrospectives


@dataclass
class RetroQuery:
    kind: str = ""
    team: str = ""

    def params(self) -> str:
        return urlencode({k: v for k, v in (("kind", self.kind), ("team", self.team)) if v})

    @property
    def active(self) -> bool:
        return bool(self.params())


RETRO_FORM_FIELDS = (
    "kind",
    "title",
    "held_on",
    "team_id",
    "what_happened",
    "impact",
    "contributing_factors",
    "learnings",
    "incident_id",
    "pilot_id",
)


def retro_values(retro: Retrospective) -> dict[str, str]:
    return {
        "kind": retro.kind,
        "title": retro.title,
        "held_on": retro.held_on.isoformat(),
        "team_id": str(retro.team_id or ""),
        "what_happened": retro.what_happened or "",
        "impact": retro.impact or "",
        "contributing_factors": "\n".join(retro.contributing_factors or []),
        "learnings": retro.learnings or "",
        "incident_id": str(retro.incident_id or ""),
        "pilot_id": str(retro.pilot_id or ""),
        "version": str(retro.version),
    }


def _check_retro_form(form: Mapping[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not form["title"].strip():
        errors["title"] = "give it a title, e.g. “Checkout outage on 4 May” or “Q2 retrospective”"
    if not form["held_on"].strip():
        errors["held_on"] = "say when it was held (a date)"
    elif _date(form["held_on"]) is None:
        errors["held_on"] = "enter a date (YYYY-MM-DD)"
    if form["kind"] == "postmortem":
        if not form["what_happened"].strip():
            errors["what_happened"] = "a postmortem says what happened: the timeline, as facts"
        if not form["impact"].strip():
            errors["impact"] = "a postmortem states the impact: on customers, on revenue, on the teams"
    return errors


def _retro_payload(form: Mapping[str, str]) -> dict[str, Any]:
    return {name: form[name] for name in RETRO_FORM_FIELDS}


def _retro_in_ws(session: Session, ctx: Ctx, ws: Workspace, retro_id: int) -> Retrospective:
    retro = retros.get_retro(session, ctx.actor, retro_id)
    if retro.workspace_id != ws.id:
        raise NotFoundError(f"retrospective {retro_id} is not in workspace {ws.name}; switch workspace first")
    return retro


def _action_counts(session: Session, retro_ids: list[int], today: date) -> dict[int, dict[str, int]]:
    counts = {rid: {"open": 0, "overdue": 0, "total": 0} for rid in retro_ids}
    if not retro_ids:
        return counts
    rows = session.execute(
        select(ActionItem.retrospective_id, ActionItem.status, ActionItem.due_on).where(
            ActionItem.retrospective_id.in_(retro_ids)
        )
    ).all()
    for rid, status, due_on in rows:
        c = counts[rid]
        c["total"] += 1
        if status == "open":
            c["open"] += 1
            if due_on is not None and due_on < today:
                c["overdue"] += 1
    return counts


def _incidents(session: Session, ws: Workspace, keep: int | None = None) -> list[Incident]:
    rows = list(
        session.scalars(
            select(Incident)
            .where(Incident.workspace_id == ws.id)
            .order_by(Incident.started_at.desc(), Incident.id.desc())
            .limit(INCIDENTS_OFFERED)
        )
    )
    if keep is not None and all(i.id != keep for i in rows):
        extra = session.get(Incident, keep)
        if extra is not None and extra.workspace_id == ws.id:
            rows.append(extra)
    return rows


def _retro_choices(session: Session, ctx: Ctx, ws: Workspace, retro: Retrospective | None = None) -> dict[str, Any]:
    """What the new/edit form offers: the teams the user may record for, incidents, pilots."""
    teams = tenancy.list_teams(session, ctx.actor, ws.id)
    ws_writer = forms.can_write(ctx, ws, None)
    writable = ctx.writable_team_ids(teams)
    keep_team = retro.team_id if retro is not None else None
    return {
        "form_teams": [(t, d) for t, d in team_tree(teams) if ws_writer or t.id in writable or t.id == keep_team],
        "allow_no_team": ws_writer or (retro is not None and retro.team_id is None),
        "incidents": _incidents(session, ws, retro.incident_id if retro is not None else None),
        "pilots": pilots.list_pilots(session, ctx.actor, ws.id),
        "kinds": retros.KINDS,
    }


def _retros_data(session: Session, ctx: Ctx, ws: Workspace, query: RetroQuery) -> dict[str, Any]:
    today = _today()
    teams = tenancy.list_teams(session, ctx.actor, ws.id)
    problems = []
    kind = query.kind if query.kind in retros.KINDS else None
    if query.kind and kind is None:
        problems.append(f"unknown kind {query.kind!r}; showing every kind")
        query.kind = ""
    team_id = _parse_id(query.team)
    if team_id is not None and all(t.id != team_id for t in teams):
        problems.append("that team does not exist; showing all teams")
        query.team, team_id = "", None
    rows = retros.list_retros(session, ctx.actor, ws.id, kind=kind, team_id=team_id)
    incident_ids = {r.incident_id for r in rows if r.incident_id}
    pilot_ids = {r.pilot_id for r in rows if r.pilot_id}
    incidents = (
        {i.id: i for i in session.scalars(select(Incident).where(Incident.id.in_(incident_ids)))}
        if incident_ids
        else {}
    )
    pilot_rows = {p.id: p for p in session.scalars(select(Pilot).where(Pilot.id.in_(pilot_ids)))} if pilot_ids else {}
    writable = ctx.writable_team_ids(teams)
    return {
        **_common(),
        "query": query,
        "problems": problems,
        "rows": rows,
        "counts": _action_counts(session, [r.id for r in rows], today),
        "team_names": {t.id: t.name for t in teams},
        "team_tree": team_tree(teams),
        "incident_of": incidents,
        "pilot_of": pilot_rows,
        "overdue": retros.overdue_actions(session, ctx.actor, ws.id, today),
        "can_create": forms.can_write(ctx, ws, None) or bool(writable),
    }


def _new_retro_defaults(today: date) -> dict[str, str]:
    values = dict.fromkeys(RETRO_FORM_FIELDS, "")
    values["kind"] = "retrospective"
    values["held_on"] = today.isoformat()
    return values


def _retros_page(session: Session, ctx: Ctx, ws: Workspace, query: RetroQuery) -> dict[str, Any]:
    data = _retros_data(session, ctx, ws, query)
    data.update(_retro_choices(session, ctx, ws) if data["can_create"] else {})
    data.update({"new_form": _new_retro_defaults(data["today"]), "new_errors": {}, "new_open": False})
    return data


def action_values() -> dict[str, str]:
    return {"title": "", "owner_person_id": "", "due_on": "", "playbook_url": ""}


def _retro_page_data(session: Session, ctx: Ctx, ws: Workspace, retro_id: int) -> dict[str, Any]:
    today = _today()
    retro = _retro_in_ws(session, ctx, ws, retro_id)
    actions = retros.actions_of(session, ctx.actor, retro.id)
    owners = retros.owner_names(session, [a.owner_person_id for a in actions])
    incident = session.get(Incident, retro.incident_id) if retro.incident_id else None
    pilot = session.get(Pilot, retro.pilot_id) if retro.pilot_id else None
    team = session.get(Team, retro.team_id) if retro.team_id else None
    can_write = forms.can_write(ctx, ws, retro.team_id)
    open_actions = [a for a in actions if a.status == "open"]
    data = {
        **_common(),
        "retro": retro,
        "actions": actions,
        "owners": owners,
        "open_count": len(open_actions),
        "overdue_count": sum(1 for a in open_actions if a.due_on is not None and a.due_on < today),
        "incident": incident,
        "restore_days": (
            (incident.resolved_at - incident.started_at).total_seconds() / 86400
            if incident is not None and incident.resolved_at is not None
            else None
        ),
        "pilot": pilot,
        "team": team,
        "can_write": can_write,
        "people": tenancy.list_people(session, ctx.actor, ws.id) if can_write else [],
        "action_form": action_values(),
        "action_errors": {},
        "action_stale": None,
        "action_message": None,
        "stale_action_id": None,
        "add_open": False,
        "edit_form": retro_values(retro),
        "edit_errors": {},
        "edit_open": False,
        "stale": None,
        "saved": False,
    }
    if can_write:
        data.update(_retro_choices(session, ctx, ws, retro))
    return data


# ------------------------------------------------------------------ routes


def install(app: FastAPI) -> None:
    # ---------------------------------------------------------------- /outcomes

    @app.get("/outcomes", response_class=HTMLResponse, include_in_schema=False)
    def outcomes_page(request: Request, period: str = "", since: str = "", until: str = "") -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            data = _outcomes_data(s, ctx, ws, {"period": period, "since": since, "until": until})
        extra: dict[str, Any] = {"due_form": {}, "due_errors": {}, "due_stale": None, "message": None, "notice": None}
        if _is_htmx(request) and request.headers.get("HX-Target") == OUTCOMES_TARGET:
            params = data["win"].params()
            push = f"/outcomes?{params}" if params else "/outcomes"
            return render(request, "_outcomes_results.html", ctx, headers={"HX-Push-Url": push}, **data, **extra)
        return render(request, "outcomes.html", ctx, nav="learning", view="outcomes", **data, **extra)

    # ---------------------------------------------------------------- the Outcome panel

    def panel_response(
        request: Request,
        ctx: Ctx,
        ws: Workspace,
        item_id: int,
        *,
        which: str | None = None,
        form: dict[str, str] | None = None,
        saving: forms.Saving | None = None,
        message: str | None = None,
    ) -> Response:
        failed = saving is not None and saving.failed
        if not failed and not _is_htmx(request) and which:
            return RedirectResponse(f"/work/{item_id}/outcome", status_code=303)
        with _db(request).read() as s:
            data = _panel_data(s, ctx, ws, item_id)
        if which and saving is not None and failed:
            data.update(
                {
                    f"{which}_form": form or {},
                    f"{which}_errors": saving.errors,
                    f"{which}_stale": saving.stale,
                    f"{which}_open": True,
                }
            )
        data["message"] = message
        return forms.redisplay(
            request, ctx, saving, fragment="_outcome_panel.html", page="work_outcome.html", nav="work", **data
        )

    @app.get("/work/{item_id}/outcome", response_class=HTMLResponse, include_in_schema=False)
    def outcome_panel(request: Request, item_id: int) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        return panel_response(request, ctx, ws, item_id)

    @app.post("/work/{item_id}/outcome/anticipated", response_class=HTMLResponse, include_in_schema=False)
    def anticipated_save(
        request: Request,
        item_id: int,
        problem: Annotated[str, Form()] = "",
        expected_result: Annotated[str, Form()] = "",
        measured_by: Annotated[str, Form()] = "",
        metric_key: Annotated[str, Form()] = "",
        target: Annotated[str, Form()] = "",
        by_date: Annotated[str, Form()] = "",
        how_we_learn: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        with db.read() as s:
            item = _outcome_item(s, ctx, ws, item_id)
        forms.require_write(
            ctx, ws, item.team_id, "stating the anticipated outcome needs the contributor role on the item's team"
        )
        form = {
            "problem": problem,
            "expected_result": expected_result,
            "measured_by": measured_by,
            "metric_key": metric_key,
            "target": target,
            "by_date": by_date,
            "how_we_learn": how_we_learn,
            "version": version,
        }
        errors = {name: message for name, message in ANTICIPATED_REQUIRED.items() if not form[name].strip()}
        if by_date.strip() and _date(by_date) is None:
            errors["by_date"] = "enter a date (YYYY-MM-DD)"
        target_value = _number(target, "target", errors)
        expected = forms.expected_version(version, errors)
        saving = forms.Saving(errors, rename=ITEM_ERRORS_ON_TOP)
        if not errors:
            with saving.catch(stale_message), db.write() as s:
                outcomes.set_anticipated_outcome(
                    s,
                    ctx.actor,
                    item.id,
                    problem=problem,
                    expected_result=expected_result,
                    measured_by=measured_by,
                    metric_key=metric_key,
                    target=target_value,
                    by_date=by_date,
                    how_we_learn=how_we_learn,
                    expected_version=expected,
                )
        return panel_response(
            request,
            ctx,
            ws,
            item_id,
            which="ant",
            form=form,
            saving=saving,
            message=None if saving.failed else "Anticipated outcome saved.",
        )

    @app.post("/work/{item_id}/outcome/actual", response_class=HTMLResponse, include_in_schema=False)
    def actual_save(
        request: Request,
        item_id: int,
        result: Annotated[str, Form()] = "",
        observed_on: Annotated[str, Form()] = "",
        observed_value: Annotated[str, Form()] = "",
        learning: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
        view: Annotated[str, Form()] = "panel",
        period: Annotated[str, Form()] = "",
        since: Annotated[str, Form()] = "",
        until: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        with db.read() as s:
            item = _outcome_item(s, ctx, ws, item_id)
        forms.require_write(
            ctx, ws, item.team_id, "recording an actual outcome needs the contributor role on the item's team"
        )
        form = {
            "item_id": str(item_id),
            "result": result,
            "observed_on": observed_on,
            "observed_value": observed_value,
            "learning": learning,
            "version": version,
        }
        errors: dict[str, str] = {}
        if result not in outcomes.RESULTS:
            errors["result"] = "choose achieved, partially achieved or not achieved"
        if not observed_on.strip():
            errors["observed_on"] = "say when you observed it (a date)"
        elif _date(observed_on) is None:
            errors["observed_on"] = "enter a date (YYYY-MM-DD)"
        value = _number(observed_value, "observed_value", errors)
        expected = forms.parse_version(version) if version.strip() else None
        if version.strip() and expected is None:
            errors["_form"] = "the form has a broken version; reload the page and try again"
        saving = forms.Saving(errors, rename=ITEM_ERRORS_ON_TOP)
        if not errors:
            with saving.catch(stale_message), db.write() as s:
                existing = outcomes.actual_outcome(s, ctx.actor, item.id)
                if existing is not None and expected is None:
                    # the form was opened before anyone recorded an outcome: do not overwrite theirs
                    raise StaleVersionError(
                        f"the actual outcome of {item.key or item.id} was recorded by someone else meanwhile "
                        f"(it is at version {existing.version}); reload it and apply your change again",
                        current_version=existing.version,
                    )
                outcomes.record_actual_outcome(
                    s,
                    ctx.actor,
                    item.id,
                    result=result,
                    observed_on=observed_on,
                    observed_value=value,
                    learning=learning,
                    expected_version=expected,
                )
        failed = saving.failed
        label = item.key or item.external_id
        message = None if failed else f"Outcome of {label} recorded: {RESULT_LABELS.get(result, result)}."
        if view != "due":
            return panel_response(
                request,
                ctx,
                ws,
                item_id,
                which="act",
                form=form,
                saving=saving,
                message=message,
            )
        raw = {"period": period, "since": since, "until": until}
        if not failed and not _is_htmx(request):
            params = urlencode({k: v for k, v in raw.items() if v})
            return RedirectResponse(f"/outcomes?{params}" if params else "/outcomes", status_code=303)
        with db.read() as s:
            data = _outcomes_data(s, ctx, ws, raw)
        extra: dict[str, Any] = {
            "due_form": form if failed else {},
            "due_errors": errors,
            "due_stale": saving.stale,
            "message": message,
            "notice": None,
        }
        if failed and all(r.item.id != item_id for r in data["due"]):
            # the item left the list meanwhile (someone recorded its outcome): say what happened at the top
            extra["notice"] = saving.stale or "; ".join(errors.values())
        return forms.redisplay(
            request,
            ctx,
            saving,
            fragment="_outcomes_results.html",
            page="outcomes.html",
            nav="learning",
            view="outcomes",
            **data,
            **extra,
        )

    # ---------------------------------------------------------------- /retros

    @app.get("/retros", response_class=HTMLResponse, include_in_schema=False)
    def retros_page(request: Request, kind: str = "", team: str = "") -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        query = RetroQuery(kind.strip(), team.strip())
        with _db(request).read() as s:
            data = _retros_page(s, ctx, ws, query)
        if _is_htmx(request) and request.headers.get("HX-Target") == RETROS_TARGET:
            params = query.params()
            push = f"/retros?{params}" if params else "/retros"
            return render(request, "_retros_results.html", ctx, headers={"HX-Push-Url": push}, **data)
        return render(request, "retros.html", ctx, nav="learning", view="retros", **data)

    @app.post("/retros", response_class=HTMLResponse, include_in_schema=False)
    def retro_create(
        request: Request,
        kind: Annotated[str, Form()] = "retrospective",
        title: Annotated[str, Form()] = "",
        held_on: Annotated[str, Form()] = "",
        team_id: Annotated[str, Form()] = "",
        what_happened: Annotated[str, Form()] = "",
        impact: Annotated[str, Form()] = "",
        contributing_factors: Annotated[str, Form()] = "",
        learnings: Annotated[str, Form()] = "",
        incident_id: Annotated[str, Form()] = "",
        pilot_id: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        with db.read() as s:
            teams = tenancy.list_teams(s, ctx.actor, ws.id)
        if not (forms.can_write(ctx, ws, None) or ctx.writable_team_ids(teams)):
            raise PermissionDeniedError("recording a retrospective or postmortem needs the contributor role")
        form = {
            "kind": kind,
            "title": title,
            "held_on": held_on,
            "team_id": team_id,
            "what_happened": what_happened,
            "impact": impact,
            "contributing_factors": contributing_factors,
            "learnings": learnings,
            "incident_id": incident_id,
            "pilot_id": pilot_id,
        }
        errors = _check_retro_form(form)
        saving = forms.Saving(errors, rename=ITEM_ERRORS_ON_TOP)
        new_id: int | None = None
        if not errors:
            with saving.catch(stale_message), db.write() as s:
                new_id = retros.create_retro(s, ctx.actor, ws.id, _retro_payload(form)).id
        if new_id is not None:
            if _is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": f"/retros/{new_id}"})
            return RedirectResponse(f"/retros/{new_id}", status_code=303)
        with db.read() as s:
            data = _retros_page(s, ctx, ws, RetroQuery())
        data.update({"new_form": form, "new_errors": errors, "new_open": True})
        return forms.redisplay(
            request,
            ctx,
            saving,
            fragment="_retro_new.html",
            page="retros.html",
            nav="learning",
            view="retros",
            **data,
        )

    @app.get("/retros/{retro_id}", response_class=HTMLResponse, include_in_schema=False)
    def retro_page(request: Request, retro_id: int) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            data = _retro_page_data(s, ctx, ws, retro_id)
        return render(request, "retro.html", ctx, nav="learning", view="retros", **data)

    @app.post("/retros/{retro_id}/edit", response_class=HTMLResponse, include_in_schema=False)
    def retro_edit(
        request: Request,
        retro_id: int,
        kind: Annotated[str, Form()] = "retrospective",
        title: Annotated[str, Form()] = "",
        held_on: Annotated[str, Form()] = "",
        team_id: Annotated[str, Form()] = "",
        what_happened: Annotated[str, Form()] = "",
        impact: Annotated[str, Form()] = "",
        contributing_factors: Annotated[str, Form()] = "",
        learnings: Annotated[str, Form()] = "",
        incident_id: Annotated[str, Form()] = "",
        pilot_id: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        with db.read() as s:
            retro = _retro_in_ws(s, ctx, ws, retro_id)
        forms.require_write(ctx, ws, retro.team_id, f"editing this {retro.kind} needs the contributor role on its team")
        form = {
            "kind": kind,
            "title": title,
            "held_on": held_on,
            "team_id": team_id,
            "what_happened": what_happened,
            "impact": impact,
            "contributing_factors": contributing_factors,
            "learnings": learnings,
            "incident_id": incident_id,
            "pilot_id": pilot_id,
            "version": version,
        }
        errors = _check_retro_form(form)
        expected = forms.expected_version(version, errors)
        saving = forms.Saving(errors, rename=ITEM_ERRORS_ON_TOP)
        if not errors:
            with saving.catch(stale_message), db.write() as s:
                retros.update_retro(s, ctx.actor, retro.id, _retro_payload(form), expected_version=expected)
        saved = not saving.failed
        if saved and not _is_htmx(request):
            return RedirectResponse(f"/retros/{retro.id}", status_code=303)
        with db.read() as s:
            data = _retro_page_data(s, ctx, ws, retro.id)
        if not saved:
            data.update({"edit_form": form, "edit_errors": errors, "edit_open": True, "stale": saving.stale})
        data["saved"] = saved
        return forms.redisplay(
            request,
            ctx,
            saving,
            fragment="_retro_page.html",
            page="retro.html",
            nav="learning",
            view="retros",
            **data,
        )

    def actions_response(
        request: Request, ctx: Ctx, ws: Workspace, retro_id: int, saving: forms.Saving | None = None, **extra: Any
    ) -> Response:
        failed = saving is not None and saving.failed
        if not failed and not _is_htmx(request):
            return RedirectResponse(f"/retros/{retro_id}", status_code=303)
        with _db(request).read() as s:
            data = _retro_page_data(s, ctx, ws, retro_id)
        if saving is not None:
            data.update({"action_errors": saving.errors, "action_stale": saving.stale})
        data.update(extra)
        return forms.redisplay(
            request,
            ctx,
            saving,
            fragment="_retro_actions.html",
            page="retro.html",
            nav="learning",
            view="retros",
            **data,
        )

    @app.post("/retros/{retro_id}/actions", response_class=HTMLResponse, include_in_schema=False)
    def action_add(
        request: Request,
        retro_id: int,
        title: Annotated[str, Form()] = "",
        owner_person_id: Annotated[str, Form()] = "",
        due_on: Annotated[str, Form()] = "",
        playbook_url: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        with db.read() as s:
            retro = _retro_in_ws(s, ctx, ws, retro_id)
        forms.require_write(ctx, ws, retro.team_id, "adding an action item needs the contributor role on the team")
        form = {"title": title, "owner_person_id": owner_person_id, "due_on": due_on, "playbook_url": playbook_url}
        errors: dict[str, str] = {}
        if not title.strip():
            errors["title"] = "say what will be done"
        if not owner_person_id.strip():
            errors["owner_person_id"] = "choose the person who owns it"
        if not due_on.strip():
            errors["due_on"] = "give it a due date"
        elif _date(due_on) is None:
            errors["due_on"] = "enter a date (YYYY-MM-DD)"
        saving = forms.Saving(errors, rename=ITEM_ERRORS_ON_TOP)
        if not errors:
            with saving.catch(stale_message), db.write() as s:
                retros.add_action(s, ctx.actor, retro.id, form)
        if saving.failed:
            return actions_response(request, ctx, ws, retro.id, saving, action_form=form, add_open=True)
        return actions_response(request, ctx, ws, retro.id, action_message=f"Action “{title.strip()}” added.")

    @app.post("/retros/{retro_id}/actions/{action_id}", response_class=HTMLResponse, include_in_schema=False)
    def action_status(
        request: Request,
        retro_id: int,
        action_id: int,
        status: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        with db.read() as s:
            retro = _retro_in_ws(s, ctx, ws, retro_id)
            action, owner_retro = retros.get_action(s, ctx.actor, action_id)
            if owner_retro.id != retro.id:
                raise NotFoundError(f"action item {action_id} does not belong to this {retro.kind}")
        forms.require_write(ctx, ws, retro.team_id, "changing an action item needs the contributor role on the team")
        saving = forms.Saving({}, rename=ITEM_ERRORS_ON_TOP)
        expected = forms.parse_version(version)
        if status not in retros.ACTION_STATUSES:
            saving.errors["_form"] = "choose done, dropped or open"
        elif expected is None:
            saving.errors["_form"] = forms.NO_VERSION
        else:
            with saving.catch(lambda exc: stale_message(exc, kept=False)), db.write() as s:
                retros.update_action(s, ctx.actor, action.id, {"status": status}, expected_version=expected)
        if saving.failed:
            return actions_response(request, ctx, ws, retro.id, saving, stale_action_id=action.id)
        verb = {"done": "marked done", "dropped": "dropped", "open": "reopened"}[status]
        return actions_response(request, ctx, ws, retro.id, action_message=f"“{action.title}” {verb}.")


__all__ = ["LEARNING_TABS", "install", "last_four_quarters", "quarter_start"]
