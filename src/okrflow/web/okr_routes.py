"""Web pages of the OKR slice: the OKR tree, objective and key-result pages (with the HTMX check-in form and
the burn-up chart), the KPI catalog, metric pages with their version history, and the glossary.

Everything is read through the services (``okrflow.services.okr`` and ``okrflow.services.catalog``); charts get
their data as JSON in ``data-chart`` attributes and are drawn by ``static/okrflow-charts.js`` (strict CSP: no
inline script).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from okrflow.domain.access import Permission
from okrflow.domain.errors import NotFoundError, OkrflowError, PermissionDeniedError
from okrflow.domain.okr import (
    Commitment,
    Direction,
    KeyResultKind,
    ObjectiveStatus,
    grade_verdict,
    value_for_progress,
)
from okrflow.services import catalog, okr, tenancy
from okrflow.store.models import Workspace
from okrflow.store.models_okr import Metric, MetricVersion, Objective, Period
from okrflow.web.routes import (
    Ctx,
    _db,
    _error_status,
    _is_htmx,
    _parse_id,
    _require_workspace,
    check_csrf,
    current,
    render,
    team_tree,
    templates,
)

STATUS_LABELS = {"on_track": "on track", "at_risk": "at risk", "off_track": "off track"}
THRESHOLD_LABELS = {"green": "healthy", "amber": "watch", "red": "breached"}
FRESHNESS_LABELS = {"fresh": "fresh", "warn": "late", "error": "stale", "no_data": "no data"}
CHART_DAYS = (90, 180, 365, 730)
FIELD_LABELS = {
    "owner_person_id": "owner",
    "definition": "business definition",
    "calculation": "calculation rule",
    "direction": "better when",
    "freshness_warn_hours": "freshness: warn after",
    "freshness_error_hours": "freshness: error after",
}


# ------------------------------------------------------------------ formatting (Jinja filters)


def fmt_num(value: float | None, unit: str = "", empty: str = "—") -> str:
    """A value for people: thousands separators, at most 2 decimals, the unit attached (``%``) or after."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return empty
    v = float(value)
    if abs(v) >= 1000:
        text = f"{v:,.0f}"
    elif abs(v) >= 100:
        text = f"{v:,.1f}".rstrip("0").rstrip(".")
    else:
        text = f"{v:.2f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    if not unit:
        return text
    if unit in ("%", "€", "$", "£"):
        return f"{unit}{text}" if unit != "%" else f"{text}%"
    return f"{text} {unit}"


def fmt_pct(value: float | None, empty: str = "—") -> str:
    if value is None:
        return empty
    return f"{round(value * 100):.0f}%"


def fmt_age(days: float | None) -> str:
    if days is None:
        return "never"
    if days < 1:
        return "today"
    d = int(days)
    if d < 14:
        return f"{d} day{'s' if d != 1 else ''} ago"
    if d < 60:
        return f"{d // 7} weeks ago"
    return f"{d // 30} months ago"


def fmt_day(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%-d %b %Y")


templates.env.filters["num"] = fmt_num
templates.env.filters["pct"] = fmt_pct
templates.env.filters["age"] = fmt_age
templates.env.filters["day"] = fmt_day
templates.env.filters["who"] = lambda label: str(label or "").removeprefix("user:")
templates.env.globals["STATUS_LABELS"] = STATUS_LABELS
templates.env.globals["THRESHOLD_LABELS"] = THRESHOLD_LABELS
templates.env.globals["FRESHNESS_LABELS"] = FRESHNESS_LABELS


def highlight(text: str | None, query: str) -> Markup:
    """``text`` escaped, with every case-insensitive occurrence of ``query`` wrapped in ``<mark>``."""
    text = text or ""
    q = (query or "").strip()
    if not q:
        return Markup.escape(text)
    out = []
    for i, part in enumerate(re.split(f"({re.escape(q)})", text, flags=re.IGNORECASE)):
        out.append(Markup("<mark>{}</mark>").format(part) if i % 2 else Markup.escape(part))
    return Markup("").join(out)


def period_elapsed(period: Period) -> float:
    """Share of the period gone now (the linear schedule)."""
    start, end = okr.period_bounds(period)
    return min(1.0, max(0.0, (_now() - start) / (end - start)))


def behind_schedule(state: okr.ObjectiveState) -> bool:
    """An objective is *at risk* on the summary cards when its progress is behind the linear schedule."""
    return state.display_progress < period_elapsed(state.period)


templates.env.filters["highlight"] = highlight
templates.env.globals["behind_schedule"] = behind_schedule


def _ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ shared lookups


@dataclass
class Names:
    people: dict[int, str]
    teams: dict[int, str]


def _names(session: Session, ctx: Ctx, ws: Workspace) -> Names:
    people = {p.id: p.name for p in tenancy.list_people(session, ctx.actor, ws.id)}
    teams = {t.id: t.name for t in tenancy.list_teams(session, ctx.actor, ws.id)}
    return Names(people, teams)


def _can_write(ctx: Ctx, ws: Workspace, team_id: int | None) -> bool:
    return ctx.actor.can(Permission.WRITE, ws.id, team_id)


def _objective_in_ws(session: Session, ctx: Ctx, ws: Workspace, objective_id: int) -> Objective:
    obj = okr.get_objective(session, ctx.actor, objective_id)
    if obj.workspace_id != ws.id:  # another workspace of the user: show it in its own workspace
        raise NotFoundError(f"objective {objective_id} is not in workspace {ws.name}; switch workspace first")
    return obj


def _due(ks: okr.KrState, settings: okr.OkrSettings, period: Period, today: date) -> bool:
    running = period.start_date <= today <= period.end_date
    if not running:
        return False
    return ks.days_since_checkin is None or ks.days_since_checkin > settings.checkin_due_days


# ------------------------------------------------------------------ number parsing for forms


def _float(raw: str, field: str, errors: dict[str, str], *, required: bool, label: str) -> float | None:
    text = (raw or "").strip().replace(",", ".")
    if not text:
        if required:
            errors[field] = f"enter the {label}"
        return None
    try:
        v = float(text)
    except ValueError:
        errors[field] = f"the {label} must be a number"
        return None
    if not math.isfinite(v):
        errors[field] = f"the {label} must be a finite number"
        return None
    return v


def kr_target_fields(form: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    """Baseline, target, band, milestones and weight of a key-result form, parsed for the chosen direction."""
    kw: dict[str, Any] = {}
    direction = form.get("direction", "")
    ms = [line.strip() for line in form.get("milestones", "").splitlines() if line.strip()]
    if direction == Direction.MILESTONE.value:
        if not ms:
            errors["milestones"] = "list the milestones, one per line"
        kw["milestones"] = ms
    elif direction == Direction.BAND.value:
        kw["baseline"] = _float(form.get("baseline", ""), "baseline", errors, required=True, label="baseline")
        kw["band_low"] = _float(
            form.get("band_low", ""), "band_low", errors, required=True, label="lower edge of the band"
        )
        kw["band_high"] = _float(
            form.get("band_high", ""), "band_high", errors, required=True, label="upper edge of the band"
        )
        kw["target"] = kw["band_high"] if kw["band_high"] is not None else 1.0
    else:
        kw["baseline"] = _float(form.get("baseline", ""), "baseline", errors, required=True, label="baseline")
        kw["target"] = _float(form.get("target", ""), "target", errors, required=True, label="target")
    w = _float(form.get("weight", ""), "weight", errors, required=False, label="weight")
    kw["weight"] = 1.0 if w is None else w
    return kw


# ------------------------------------------------------------------ OKR tree


def _period_choice(periods: list[Period], raw: str | None, today: date) -> tuple[str, int | None]:
    """'current' (periods running today, the default), 'all', or a period id."""
    if raw in (None, "", "current"):
        return "current", None
    if raw == "all":
        return "all", None
    pid = _parse_id(raw)
    if pid is not None and any(p.id == pid for p in periods):
        return str(pid), pid
    return "current", None


def _tree_data(
    session: Session, ctx: Ctx, ws: Workspace, period_raw: str | None, team_raw: str | None
) -> dict[str, Any]:
    now = _now()
    today = now.date()
    periods = okr.list_periods(session, ctx.actor, ws.id)
    choice, period_id = _period_choice(periods, period_raw, today)
    teams = tenancy.list_teams(session, ctx.actor, ws.id)
    team_id = _parse_id(team_raw)
    if team_id is not None and not any(t.id == team_id for t in teams):
        team_id = None
    roots = okr.tree(session, ctx.actor, ws.id, period_id=period_id, team_id=team_id, now=now)
    if choice == "current":
        roots = [r for r in roots if r.period.start_date <= today <= r.period.end_date]
    settings = okr.OkrSettings.of(ws)
    states = okr.walk(roots)
    krs = [k for s in states for k in s.key_results]
    due_ids = {k.kr.id for s in states for k in s.key_results if _due(k, settings, s.period, today)}
    counts = {
        "objectives": len(states),
        "key_results": len(krs),
        "at_risk": sum(1 for k in krs if k.forecast.at_risk),
        "behind": sum(1 for s in states if behind_schedule(s)),
        "off_track": sum(1 for k in krs if k.status is not None and k.status.value == "off_track"),
        "due": len(due_ids),
    }
    avg = sum(s.display_progress for s in roots) / len(roots) if roots else None
    return {
        "roots": roots,
        "periods": periods,
        "period_choice": choice,
        "team_id": team_id,
        "team_tree": team_tree(teams),
        "names": _names(session, ctx, ws),
        "due_ids": due_ids,
        "due": okr.checkins_due(session, ctx.actor, ws.id, now=now),
        "settings": settings,
        "counts": counts,
        "average": avg,
    }


def _objective_form_data(session: Session, ctx: Ctx, ws: Workspace) -> dict[str, Any]:
    """Choices for the new-objective form: periods, writable teams, people and key results to align to."""
    teams = tenancy.list_teams(session, ctx.actor, ws.id)
    writable = ctx.writable_team_ids(teams)
    can_ws = _can_write(ctx, ws, None)
    periods = okr.list_periods(session, ctx.actor, ws.id)
    today = _now().date()
    current = okr.current_period(session, ws.id, today)
    krs = []
    for o in okr.list_objectives(session, ctx.actor, ws.id):
        for kr in okr.list_key_results(session, ctx.actor, o.id):
            krs.append((o, kr))
    return {
        "form_periods": periods,
        "default_period_id": current.id if current else (periods[-1].id if periods else None),
        "form_teams": [(t, d) for t, d in team_tree(teams) if t.id in writable],
        "can_write_workspace": can_ws,
        "can_create_objective": can_ws or bool(writable),
        "form_people": tenancy.list_people(session, ctx.actor, ws.id),
        "align_krs": krs,
    }


# ------------------------------------------------------------------ objective page


def _objective_page_data(session: Session, ctx: Ctx, ws: Workspace, objective_id: int) -> dict[str, Any]:
    obj = _objective_in_ws(session, ctx, ws, objective_id)
    settings = okr.OkrSettings.of(ws)
    now = _now()
    state = okr.objective_state(session, obj, settings, now)
    chain = list(reversed(okr.ancestors(session, ctx.actor, obj.id)))
    today = now.date()
    due_ids = {k.kr.id for k in state.key_results if _due(k, settings, state.period, today)}
    readings = [
        ("Committed", grade_verdict(state.progress, Commitment.COMMITTED)),
        ("Aspirational", grade_verdict(state.progress, Commitment.ASPIRATIONAL)),
    ]
    metrics = catalog.list_metrics(session, ctx.actor, ws.id)
    own_krs = {k.kr.id for k in state.key_results}
    align_krs = [
        (o, kr)
        for o in okr.list_objectives(session, ctx.actor, ws.id)
        if o.id != obj.id
        for kr in okr.list_key_results(session, ctx.actor, o.id)
        if kr.id not in own_krs
    ]
    from okrflow.web.okr_edit_routes import objective_edit_values

    data = {
        "state": state,
        "obj": obj,
        "chain": chain,
        "names": _names(session, ctx, ws),
        "due_ids": due_ids,
        "readings": readings,
        "elapsed": period_elapsed(state.period),
        "can_write": _can_write(ctx, ws, obj.team_id),
        "people": tenancy.list_people(session, ctx.actor, ws.id),
        "metrics": [(m, catalog.current_version(session, m)) for m in metrics],
        "directions": [d.value for d in Direction],
        "kinds": [k.value for k in KeyResultKind],
        "align_krs": align_krs,
        "statuses": [st.value for st in ObjectiveStatus],
        "edit_errors": {},
        "edit_open": False,
        "stale": None,
        "saved": None,
    }
    data["edit_form"] = objective_edit_values(data)
    return data


# ------------------------------------------------------------------ KR page


def _kr_chart(ks: okr.KrState, period: Period, now: datetime) -> dict[str, Any]:
    """The burn-up chart's data: actual points, target, linear expected line, forecast with its cone."""
    start, end = okr.period_bounds(period)
    t = ks.target
    points = [(at, v) for at, v in ks.history if start <= (at if at.tzinfo else at.replace(tzinfo=UTC)) < end]
    if not points and ks.history:  # a bound metric with no value yet this period starts from its last one
        points = [ks.history[-1]]
    actual = [[_ms(at), v] for at, v in points]
    goal = value_for_progress(t, 1.0)
    if t.direction is Direction.BAND:
        target: dict[str, Any] = {"low": t.band_low, "high": t.band_high}
    else:
        target = {"value": t.target if t.direction is not Direction.MILESTONE else float(t.milestone_count)}
    fc = ks.forecast
    end_ms = _ms(end)
    forecast: dict[str, Any] = {"method": fc.method, "value": fc.value_at_end}
    if fc.method == "trend" and fc.slope_per_day is not None and actual:
        days_to_end = lambda ms: (end_ms - ms) / 86_400_000  # noqa: E731
        first_ms = actual[0][0]
        anchor_ms = max(actual[-1][0], min(_ms(now), end_ms))
        forecast["line"] = [
            [first_ms, fc.value_at_end - fc.slope_per_day * days_to_end(first_ms)],
            [end_ms, fc.value_at_end],
        ]
        anchor_v = fc.value_at_end - fc.slope_per_day * days_to_end(anchor_ms)
        if fc.low is not None and fc.high is not None:
            forecast["low"] = [[anchor_ms, anchor_v], [end_ms, fc.low]]
            forecast["high"] = [[anchor_ms, anchor_v], [end_ms, fc.high]]
    else:
        anchor = actual[-1] if actual else [_ms(start), t.baseline]
        forecast["line"] = [anchor, [end_ms, fc.value_at_end]]
    return {
        "start": _ms(start),
        "end": end_ms,
        "now": min(_ms(now), end_ms),
        "unit": ks.kr.unit or "",
        "actual": actual,
        "expected": [[_ms(start), t.baseline], [end_ms, goal]],
        "target": target,
        "forecast": forecast,
    }


def _kr_page_data(session: Session, ctx: Ctx, ws: Workspace, kr_id: int) -> dict[str, Any]:
    kr, obj = okr.get_key_result(session, ctx.actor, kr_id)
    if obj.workspace_id != ws.id:
        raise NotFoundError(f"key result {kr_id} is not in workspace {ws.name}; switch workspace first")
    settings = okr.OkrSettings.of(ws)
    now = _now()
    period = session.get(Period, obj.period_id)
    assert period is not None
    ks = okr.kr_state(session, kr, period, settings, now)
    checkins = list(reversed(okr.list_checkins(session, ctx.actor, kr.id)))
    chain = list(reversed(okr.ancestors(session, ctx.actor, obj.id)))
    metric = session.get(Metric, kr.metric_id) if kr.metric_id else None
    from okrflow.web.okr_edit_routes import kr_edit_values

    children = okr.list_objectives(session, ctx.actor, ws.id)
    return {
        "ks": ks,
        "kr": kr,
        "obj": obj,
        "period": period,
        "chain": chain,
        "metric": metric,
        "checkins": checkins,
        "chart": _kr_chart(ks, period, now),
        "names": _names(session, ctx, ws),
        "due": _due(ks, settings, period, now.date()),
        "settings": settings,
        "can_write": _can_write(ctx, ws, obj.team_id),
        "aligned": [o for o in children if o.aligned_to_kr_id == kr.id],
        "people": tenancy.list_people(session, ctx.actor, ws.id),
        "metrics": [(m, catalog.current_version(session, m)) for m in catalog.list_metrics(session, ctx.actor, ws.id)],
        "directions": [d.value for d in Direction],
        "kinds": [k.value for k in KeyResultKind],
        "edit_form": kr_edit_values(kr),
        "edit_errors": {},
        "edit_open": False,
        "stale": None,
        "saved": None,
        "editing_checkin": None,
        "ci_form": {},
        "ci_errors": {},
        "ci_stale": None,
        "ci_notice": None,
    }


# ------------------------------------------------------------------ KPI catalog


def _metric_rows(session: Session, ctx: Ctx, ws: Workspace) -> list[dict[str, Any]]:
    now = _now()
    since = now - timedelta(days=90)
    names = _names(session, ctx, ws)
    rows = []
    for m in catalog.list_metrics(session, ctx.actor, ws.id):
        dims = catalog.headline_dimensions(session, m.id)  # e.g. one service of a DORA metric
        st = catalog.status(session, m, now, dims)
        spark = [[_ms(p.at), p.value] for p in catalog.series(session, m.id, dims, since=since)]
        rows.append(
            {
                "metric": m,
                "status": st,
                "v": st.version,
                "owner": names.people.get(st.version.owner_person_id or 0),
                "spark": {"points": spark, "direction": st.version.direction, "status": st.threshold or ""},
                "north_star": ws.north_star_metric_id == m.id,
                "series": catalog.dimension_key(dims),
            }
        )
    rows.sort(key=lambda r: (not r["north_star"], r["v"].name.lower()))
    return rows


def _threshold_text(v: MetricVersion) -> list[tuple[str, str]]:
    t = v.thresholds or {}
    unit = v.unit or ""
    if "low" in t:
        return [("green", f"inside {fmt_num(t['low'], unit)} – {fmt_num(t['high'], unit)}"), ("red", "outside")]
    if "green" in t:
        better = "≤" if v.direction == "decrease" else "≥"
        worse = ">" if v.direction == "decrease" else "<"
        return [
            ("green", f"{better} {fmt_num(t['green'], unit)}"),
            ("amber", f"between {fmt_num(t['red'], unit)} and {fmt_num(t['green'], unit)}"),
            ("red", f"{worse} {fmt_num(t['red'], unit)}"),
        ]
    return []


def _fmt_field(name: str, value: Any, names: Names) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if name == "owner_person_id":
        return names.people.get(value, f"person {value}")
    if name == "thresholds":
        return ", ".join(f"{k} {fmt_num(v)}" for k, v in value.items())
    if name == "dimensions":
        return ", ".join(value)
    if name.startswith("freshness"):
        return f"{fmt_num(value)} h"
    return str(value)


def _metric_page_data(
    session: Session, ctx: Ctx, ws: Workspace, key: str, days: int, a: int | None, b: int | None
) -> dict[str, Any]:
    m = catalog.metric_by_key(session, ctx.actor, ws.id, key)
    now = _now()
    st = catalog.status(session, m, now)
    vs = catalog.versions(session, ctx.actor, m.id)
    names = _names(session, ctx, ws)
    series = catalog.series(session, m.id, since=now - timedelta(days=days))
    by_version: dict[int, list[list[float]]] = {}
    for p in series:
        by_version.setdefault(p.metric_version, []).append([_ms(p.at), p.value])
    chart = {
        "unit": st.version.unit or "",
        "series": [{"version": n, "points": pts} for n, pts in sorted(by_version.items())],
        "thresholds": st.version.thresholds or {},
        "direction": st.version.direction,
    }
    compare = _compare(vs, a, b, names)
    okr_links = []
    for o in okr.list_objectives(session, ctx.actor, ws.id):
        for kr in okr.list_key_results(session, ctx.actor, o.id):
            if kr.metric_id == m.id:
                okr_links.append((o, kr))
    return {
        "m": m,
        "st": st,
        "v": st.version,
        "versions": vs,
        "names": names,
        "chart": chart,
        "days": days,
        "chart_days": CHART_DAYS,
        "points": len(series),
        "thresholds": _threshold_text(st.version),
        "compare": compare,
        "north_star": ws.north_star_metric_id == m.id,
        "okr_links": okr_links,
        "owner": names.people.get(st.version.owner_person_id or 0),
    }


def _compare(vs: list[MetricVersion], a: int | None, b: int | None, names: Names) -> dict[str, Any] | None:
    if len(vs) < 2:
        return None
    numbers = [v.number for v in vs]
    a = a if a in numbers else numbers[-2]
    b = b if b in numbers else numbers[-1]
    va = next(v for v in vs if v.number == a)
    vb = next(v for v in vs if v.number == b)
    diff = catalog.compare_versions(va, vb)
    rows = []
    for f in catalog.DEFINITION_FIELDS:
        rows.append(
            {
                "field": FIELD_LABELS.get(f, f.replace("_", " ")),
                "a": _fmt_field(f, getattr(va, f), names),
                "b": _fmt_field(f, getattr(vb, f), names),
                "changed": f in diff,
            }
        )
    return {"a": va, "b": vb, "rows": rows, "changed": len(diff), "numbers": numbers}


# ------------------------------------------------------------------ home cards


def home_okr_summary(session: Session, ctx: Ctx, ws: Workspace) -> dict[str, Any]:
    """Counts for the home page: objectives on track / at risk, check-ins due, KPIs breaking thresholds."""
    now = _now()
    today = now.date()
    roots = [
        r for r in okr.tree(session, ctx.actor, ws.id, now=now) if r.period.start_date <= today <= r.period.end_date
    ]
    states = okr.walk(roots)
    at_risk = [s for s in states if behind_schedule(s)]
    metrics = catalog.list_metrics(session, ctx.actor, ws.id)
    statuses = [catalog.status(session, m, now) for m in metrics]
    return {
        "objectives": len(states),
        "on_track": len(states) - len(at_risk),
        "at_risk": len(at_risk),
        "at_risk_titles": [s.objective.title for s in at_risk][:3],
        "due": len(okr.checkins_due(session, ctx.actor, ws.id, now=now)),
        "metrics": len(metrics),
        "breached": [s for s in statuses if s.threshold == "red"],
        "watch": sum(1 for s in statuses if s.threshold == "amber"),
        "stale": sum(1 for s in statuses if s.freshness in ("warn", "error")),
    }


# ------------------------------------------------------------------ routes


def install(app: FastAPI) -> None:
    from okrflow.web import okr_edit_routes

    num_text = okr_edit_routes.num_text
    okr_edit_routes.install(app)

    @app.get("/okr", response_class=HTMLResponse, include_in_schema=False)
    def okr_tree(
        request: Request, period: str | None = None, team: str | None = None, deleted: str | None = None
    ) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            data = _tree_data(s, ctx, ws, period, team)
            if _is_htmx(request) and request.headers.get("HX-Target") == "okr-board":
                writable = _can_write(ctx, ws, None) or bool(ctx.writable_team_ids([t for t, _ in data["team_tree"]]))
                return render(request, "_okr_board.html", ctx, can_create_objective=writable, **data)
            form_data = _objective_form_data(s, ctx, ws)
        return render(
            request, "okr_tree.html", ctx, nav="okr", form={}, errors={}, deleted=deleted, **data, **form_data
        )

    @app.post("/okr/objectives", response_class=HTMLResponse, include_in_schema=False)
    def objective_create(
        request: Request,
        title: Annotated[str, Form()] = "",
        period_id: Annotated[str, Form()] = "",
        team_id: Annotated[str, Form()] = "",
        owner_person_id: Annotated[str, Form()] = "",
        commitment: Annotated[str, Form()] = "committed",
        aligned_to_kr_id: Annotated[str, Form()] = "",
        description: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        form = {
            "title": title,
            "period_id": period_id,
            "team_id": team_id,
            "owner_person_id": owner_person_id,
            "commitment": commitment,
            "aligned_to_kr_id": aligned_to_kr_id,
            "description": description,
        }
        errors: dict[str, str] = {}
        status = 422
        team = _parse_id(team_id)
        if not _can_write(ctx, ws, team):
            where = "on that team" if team is not None else "for the whole workspace"
            raise PermissionDeniedError(f"creating an objective needs the contributor role {where}")
        if not title.strip():
            errors["title"] = "give the objective a title"
        if _parse_id(period_id) is None:
            errors["period_id"] = "choose a period"
        new_id: int | None = None
        if not errors:
            try:
                with db.write() as s:
                    obj = okr.create_objective(
                        s,
                        ctx.actor,
                        ws.id,
                        _parse_id(period_id) or -1,
                        title,
                        team_id=team,
                        owner_person_id=_parse_id(owner_person_id),
                        commitment=commitment,
                        aligned_to_kr_id=_parse_id(aligned_to_kr_id),
                        description=description.strip(),
                    )
                    new_id = obj.id
            except PermissionDeniedError:
                raise
            except OkrflowError as exc:
                errors[str(exc.details.get("field") or "_form")] = exc.message
                status = exc.http_status
        if new_id is not None:
            target = f"/okr/objective/{new_id}?created=1"
            if _is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        with db.read() as s:
            form_data = _objective_form_data(s, ctx, ws)
            if _is_htmx(request):
                return render(
                    request,
                    "_objective_form.html",
                    ctx,
                    status_code=_error_status(request, status),
                    form=form,
                    errors=errors,
                    **form_data,
                )
            data = _tree_data(s, ctx, ws, None, None)
        return render(
            request, "okr_tree.html", ctx, status_code=status, nav="okr", form=form, errors=errors, **data, **form_data
        )

    @app.get("/okr/objective/{objective_id}", response_class=HTMLResponse, include_in_schema=False)
    def objective_page(
        request: Request,
        objective_id: int,
        created: str | None = None,
        saved: str | None = None,
        deleted: str | None = None,
    ) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            data = _objective_page_data(s, ctx, ws, objective_id)
        data["saved"] = "objective" if saved else None
        return render(
            request,
            "objective.html",
            ctx,
            nav="okr",
            form={},
            errors={},
            created=created,
            kr_created=None,
            kr_deleted=deleted == "kr",
            **data,
        )

    @app.post("/okr/objective/{objective_id}/krs", response_class=HTMLResponse, include_in_schema=False)
    def kr_create(
        request: Request,
        objective_id: int,
        title: Annotated[str, Form()] = "",
        direction: Annotated[str, Form()] = "increase",
        baseline: Annotated[str, Form()] = "",
        target: Annotated[str, Form()] = "",
        band_low: Annotated[str, Form()] = "",
        band_high: Annotated[str, Form()] = "",
        milestones: Annotated[str, Form()] = "",
        unit: Annotated[str, Form()] = "",
        weight: Annotated[str, Form()] = "1",
        kind: Annotated[str, Form()] = "outcome",
        owner_person_id: Annotated[str, Form()] = "",
        metric_id: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        with db.read() as s:
            obj = _objective_in_ws(s, ctx, ws, objective_id)
        if not _can_write(ctx, ws, obj.team_id):
            raise PermissionDeniedError("adding a key result needs the contributor role on this objective's team")
        form = {
            "title": title,
            "direction": direction,
            "baseline": baseline,
            "target": target,
            "band_low": band_low,
            "band_high": band_high,
            "milestones": milestones,
            "unit": unit,
            "weight": weight,
            "kind": kind,
            "owner_person_id": owner_person_id,
            "metric_id": metric_id,
        }
        errors: dict[str, str] = {}
        status = 422
        if not title.strip():
            errors["title"] = "give the key result a title"
        kw = kr_target_fields(form, errors)
        kr_created: str | None = None
        if not errors:
            try:
                with db.write() as s:
                    kr = okr.create_key_result(
                        s,
                        ctx.actor,
                        obj.id,
                        title,
                        direction,
                        unit=unit.strip(),
                        kind=kind,
                        owner_person_id=_parse_id(owner_person_id),
                        metric_id=_parse_id(metric_id),
                        **kw,
                    )
                    kr_created = kr.title
            except PermissionDeniedError:
                raise
            except OkrflowError as exc:
                errors[str(exc.details.get("field") or "_form")] = exc.message
                status = exc.http_status
        if kr_created and not _is_htmx(request):
            return RedirectResponse(f"/okr/objective/{obj.id}", status_code=303)
        with db.read() as s:
            data = _objective_page_data(s, ctx, ws, obj.id)
        template = "_objective_live.html" if _is_htmx(request) else "objective.html"
        return render(
            request,
            template,
            ctx,
            status_code=_error_status(request, status) if errors else 200,
            nav="okr",
            form={} if kr_created else form,
            errors=errors,
            created=None,
            kr_created=kr_created,
            **data,
        )

    @app.get("/okr/kr/{kr_id}", response_class=HTMLResponse, include_in_schema=False)
    def kr_page(request: Request, kr_id: int, edit_checkin: int | None = None, saved: str | None = None) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            data = _kr_page_data(s, ctx, ws, kr_id)
        data["saved"] = "key result" if saved else None
        if edit_checkin is not None and data["can_write"]:
            c = next((c for c in data["checkins"] if c.id == edit_checkin), None)
            if c is not None:
                data["editing_checkin"] = c.id
                data["ci_form"] = {
                    "value": num_text(c.value),
                    "confidence": num_text(c.confidence),
                    "note": c.note or "",
                    "version": str(c.version),
                }
        template = "kr.html"
        if _is_htmx(request) and request.headers.get("HX-Target") == "kr-live":
            template = "_kr_live.html"
        return render(request, template, ctx, nav="okr", form={}, errors={}, checked_in=False, **data)

    @app.post("/okr/kr/{kr_id}/checkins", response_class=HTMLResponse, include_in_schema=False)
    def checkin_create(
        request: Request,
        kr_id: int,
        value: Annotated[str, Form()] = "",
        confidence: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        with db.read() as s:
            kr, obj = okr.get_key_result(s, ctx.actor, kr_id)
        if obj.workspace_id != ws.id:
            raise NotFoundError(f"key result {kr_id} is not in workspace {ws.name}; switch workspace first")
        if not _can_write(ctx, ws, obj.team_id):
            raise PermissionDeniedError("checking in needs the contributor role on this objective's team")
        form = {"value": value, "confidence": confidence, "note": note}
        errors: dict[str, str] = {}
        status = 422
        val = None
        if kr.metric_id is None:
            val = _float(value, "value", errors, required=True, label="current value")
        conf = _float(confidence, "confidence", errors, required=True, label="confidence")
        if conf is not None and not 0 <= conf <= 10:
            errors["confidence"] = "confidence is a number from 0 to 10"
        if len(note) > 2000:
            errors["note"] = "keep the note under 2000 characters"
        done = False
        if not errors:
            try:
                with db.write() as s:
                    okr.create_checkin(s, ctx.actor, kr.id, confidence=conf or 0.0, value=val, note=note)
                    done = True
            except PermissionDeniedError:
                raise
            except OkrflowError as exc:
                errors[str(exc.details.get("field") or "_form")] = exc.message
                status = exc.http_status
        if done and not _is_htmx(request):
            return RedirectResponse(f"/okr/kr/{kr.id}", status_code=303)
        with db.read() as s:
            data = _kr_page_data(s, ctx, ws, kr.id)
        template = "_kr_live.html" if _is_htmx(request) else "kr.html"
        return render(
            request,
            template,
            ctx,
            status_code=_error_status(request, status) if errors else 200,
            nav="okr",
            form={} if done else form,
            errors=errors,
            checked_in=done,
            **data,
        )

    # ---------------------------------------------------------------- KPI catalog

    @app.get("/metrics", response_class=HTMLResponse, include_in_schema=False)
    def metrics_page(request: Request) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            rows = _metric_rows(s, ctx, ws)
        counts = {
            "red": sum(1 for r in rows if r["status"].threshold == "red"),
            "amber": sum(1 for r in rows if r["status"].threshold == "amber"),
            "green": sum(1 for r in rows if r["status"].threshold == "green"),
            "late": sum(1 for r in rows if r["status"].freshness in ("warn", "error", "no_data")),
        }
        return render(request, "metrics.html", ctx, nav="metrics", rows=rows, counts=counts)

    @app.get("/metrics/{key}", response_class=HTMLResponse, include_in_schema=False)
    def metric_page(
        request: Request, key: str, days: int = 180, a: int | None = None, b: int | None = None
    ) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        days = days if days in CHART_DAYS else 180
        with _db(request).read() as s:
            data = _metric_page_data(s, ctx, ws, key, days, a, b)
        if _is_htmx(request) and request.headers.get("HX-Target") == "version-compare":
            return render(request, "_metric_compare.html", ctx, **data)
        return render(request, "metric.html", ctx, nav="metrics", **data)

    # ---------------------------------------------------------------- glossary

    @app.get("/glossary", response_class=HTMLResponse, include_in_schema=False)
    def glossary_page(request: Request, q: str = "") -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        q = q[:200]
        with _db(request).read() as s:
            entries = catalog.glossary(s, ctx.actor, ws.id, q)
            total = len(catalog.glossary(s, ctx.actor, ws.id))
        context = {"entries": entries, "q": q, "total": total}
        if _is_htmx(request) and request.headers.get("HX-Target") == "glossary-results":
            return render(request, "_glossary_results.html", ctx, **context)
        return render(request, "glossary.html", ctx, nav="glossary", **context)


__all__ = ["fmt_age", "fmt_num", "home_okr_summary", "install"]
