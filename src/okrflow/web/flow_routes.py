"""Web pages of the flow slice: the flow dashboard (the five Flow Framework metrics and predictability with
weekly trends), the cumulative flow diagram, the cycle-time scatter, aging work in progress, the Monte Carlo
forecast, the value-stream map (bottleneck highlighted, optional period comparison) and the DORA tiles.

Everything is read through ``okrflow.services.flow`` and ``okrflow.services.dora``; charts get their data as
JSON in ``data-chart`` attributes and are drawn by ``static/okrflow-charts.js`` (strict CSP: no inline script).
The filter form swaps ``#flow-results`` with HTMX and pushes a clean URL (``HX-Push-Url``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import polars as pl
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from okrflow.domain.errors import OkrflowError
from okrflow.services import dora, flow, okr, tenancy
from okrflow.store.models import Workspace
from okrflow.web.routes import Ctx, _db, _is_htmx, _parse_id, _require_workspace, current, render, team_tree

RESULTS_TARGET = "flow-results"
FLOW_VIEWS = (
    ("flow", "/flow", "Dashboard"),
    ("cfd", "/flow/cfd", "Cumulative flow"),
    ("scatter", "/flow/scatter", "Cycle time"),
    ("aging", "/flow/aging", "Aging WIP"),
    ("forecast", "/flow/forecast", "Forecast"),
    ("vsm", "/flow/value-stream", "Value stream"),
    ("dora", "/dora", "DORA"),
)
AGE_BUCKETS = ("0-30", "30-60", "60-90", ">90")
DORA_LEVELS = ("elite", "high", "medium", "low")
FORECAST_WINDOWS = (30, 60, 90, 180)
MAX_FORECAST_ITEMS = 10_000


def _ms(value: date | datetime) -> int:
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        dt = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _f(value: Any) -> float | None:
    """A float for JSON (``None`` for null/NaN/inf)."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _date(raw: str | None) -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# ------------------------------------------------------------------ filters


@dataclass
class Filters:
    """The filter form's values (as typed) and what they mean for the services."""

    query: dict[str, str]
    team_id: int | None = None
    flow_type: str | None = None
    period_id: int | None = None
    since: date | None = None
    until: date | None = None
    problems: list[str] = field(default_factory=list)

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "teams": [self.team_id] if self.team_id is not None else [],
            "flow_types": [self.flow_type] if self.flow_type else [],
        }
        if self.since or self.until:
            kw["since"], kw["until"] = self.since, self.until
        elif self.period_id is not None:
            kw["period_id"] = self.period_id
        return kw

    def url(self, path: str, **extra: str) -> str:
        params = {k: v for k, v in {**self.query, **extra}.items() if v}
        return f"{path}?{urlencode(params)}" if params else path


def _filters(request: Request, session: Session, ctx: Ctx, ws: Workspace) -> tuple[Filters, dict[str, Any]]:
    q = request.query_params
    query = {k: (q.get(k) or "").strip() for k in ("team", "type", "period", "since", "until")}
    teams = tenancy.list_teams(session, ctx.actor, ws.id)
    periods = okr.list_periods(session, ctx.actor, ws.id)
    f = Filters(query)
    tid = _parse_id(query["team"])
    if tid is not None:
        if any(t.id == tid for t in teams):
            f.team_id = tid
        else:
            f.problems.append("that team does not exist; showing all teams")
            query["team"] = ""
    if query["type"]:
        if query["type"] in flow.FLOW_TYPES:
            f.flow_type = query["type"]
        else:
            f.problems.append(f"unknown flow-item type {query['type']!r}; showing every type")
            query["type"] = ""
    pid = _parse_id(query["period"])
    if pid is not None:
        if any(p.id == pid for p in periods):
            f.period_id = pid
        else:
            query["period"] = ""
    for key in ("since", "until"):
        if query[key] and _date(query[key]) is None:
            f.problems.append(f"{key} is not a date (YYYY-MM-DD)")
            query[key] = ""
    f.since, f.until = _date(query["since"]), _date(query["until"])
    if f.since and f.until and f.until < f.since:
        f.problems.append("until is before since; showing the default window")
        f.since = f.until = None
        query["since"] = query["until"] = ""
    choices = {
        "team_tree": team_tree(teams),
        "periods": periods,
        "flow_types": flow.FLOW_TYPES,
        "team_names": {t.id: t.name for t in teams},
    }
    return f, choices


def _respond(request: Request, ctx: Ctx, page: str, fragment: str, f: Filters, **data: Any) -> HTMLResponse:
    if _is_htmx(request) and request.headers.get("HX-Target") == RESULTS_TARGET:
        return render(request, fragment, ctx, headers={"HX-Push-Url": f.url(data["path"])}, f=f, **data)
    return render(request, page, ctx, nav="flow", f=f, views=FLOW_VIEWS, **data)


def _weekly_points(frame: pl.DataFrame, column: str, scale: float = 1.0) -> list[list[Any]]:
    out = []
    for week, value in zip(frame["week_start"].to_list(), frame[column].to_list(), strict=True):
        v = _f(value)
        out.append([_ms(week), None if v is None else v * scale])
    return out


# ------------------------------------------------------------------ dashboard


def _dashboard(session: Session, ctx: Ctx, ws: Workspace, f: Filters) -> dict[str, Any]:
    r = flow.report(session, ctx.actor, ws.id, **f.kwargs())
    w = r.weekly
    dist = r.distribution
    done = [d for d in dist.to_dicts() if d["scope"] == "done"]
    wip = [d for d in dist.to_dicts() if d["scope"] == "wip"]
    feature_share = (
        r.weekly_distribution.filter(pl.col("flow_type") == "feature")
        .select("week_start", "share")
        .join(w.select("week_start"), on="week_start", how="right")
        .sort("week_start")
    )
    sparks = {
        "velocity": _weekly_points(w, "items_done"),
        "flow_time": _weekly_points(w, "flow_time_p85_days"),
        "efficiency": _weekly_points(w, "efficiency", 100.0),
        "load": _weekly_points(w, "load_mean"),
        "distribution": _weekly_points(feature_share, "share", 100.0),
        "predictability": _weekly_points(w, "predictability", 100.0),
    }
    return {"report": r, "ctx_flow": r.context, "done_dist": done, "wip_dist": wip, "sparks": sparks}


# ------------------------------------------------------------------ charts


def _cfd(session: Session, ctx: Ctx, ws: Workspace, f: Filters) -> dict[str, Any]:
    res = flow.cfd(session, ctx.actor, ws.id, **f.kwargs())
    frame = res.frame.filter(pl.col("step_order") >= 0)
    steps = frame.select("step", "step_order").unique().sort("step_order", descending=True)
    series = []
    for step in steps["step"].to_list():
        rows = frame.filter(pl.col("step") == step).sort("date")
        points = [[_ms(day), int(n)] for day, n in zip(rows["date"], rows["items"], strict=True)]
        series.append({"step": step, "points": points})
    last_day = frame["date"].max() if frame.height else None
    latest = frame.filter(pl.col("date") == last_day).sort("step_order").to_dicts() if last_day else []
    chart = {"series": series, "start": _ms(res.context.since), "end": _ms(res.context.until)}
    return {"ctx_flow": res.context, "chart": chart, "latest": latest}


def _scatter(session: Session, ctx: Ctx, ws: Workspace, f: Filters) -> dict[str, Any]:
    res = flow.scatter(session, ctx.actor, ws.id, **f.kwargs())
    pts = res.points
    points = [
        [_ms(at), round(float(days), 3), key or "", ftype or ""]
        for at, days, key, ftype in zip(pts["done_at"], pts["flow_days"], pts["key"], pts["flow_type"], strict=True)
    ]
    chart = {
        "points": points,
        "percentiles": {str(k): _f(v) for k, v in res.percentiles.items()},
        "start": _ms(res.context.since),
        "end": _ms(res.context.until + timedelta(days=1)),
    }
    slowest = pts.sort("flow_days", descending=True).head(10).to_dicts()
    return {"ctx_flow": res.context, "chart": chart, "res": res, "slowest": slowest}


def _aging(session: Session, ctx: Ctx, ws: Workspace, f: Filters) -> dict[str, Any]:
    res = flow.aging(session, ctx.actor, ws.id, **f.kwargs())
    vsm = flow.value_stream(session, ctx.actor, ws.id, **f.kwargs()).map.steps
    order = [s for s, o in zip(vsm["step"], vsm["step_order"], strict=True) if o >= 0 and s not in ("backlog", "done")]
    steps = [s for s in order if s in set(res.items["current_step"].to_list())]
    steps += sorted(set(res.items["current_step"].to_list()) - set(steps))
    table: dict[str, dict[str, int]] = {s: dict.fromkeys(AGE_BUCKETS, 0) for s in steps}
    oldest: dict[str, float] = {}
    for row in res.by_step.to_dicts():
        table[row["current_step"]][str(row["bucket"])] = int(row["items"])
        oldest[row["current_step"]] = max(oldest.get(row["current_step"], 0.0), float(row["oldest_days"]))
    items = res.items.sort("age_days", descending=True)
    points = []
    for i, row in enumerate(items.to_dicts()):
        x = steps.index(row["current_step"])
        jitter = ((i * 37) % 61) / 61 * 0.6 - 0.3  # a stable spread so dots of one step do not hide each other
        points.append([round(x + jitter, 3), round(float(row["age_days"]), 2), row["key"] or "", str(row["bucket"])])
    chart = {"steps": steps, "points": points, "percentiles": {str(k): _f(v) for k, v in res.percentiles.items()}}
    by_age = {str(r["bucket"]): r for r in res.by_age.to_dicts()}
    return {
        "ctx_flow": res.context,
        "chart": chart,
        "res": res,
        "table": table,
        "oldest": oldest,
        "by_age": by_age,
        "buckets": AGE_BUCKETS,
        "waste_items": items.filter(pl.col("waste")).to_dicts(),
    }


@dataclass
class ForecastForm:
    mode: str = "when"  # when (N items) | how_many (by a date)
    items: str = "20"
    by: str = ""
    window: str = "90"
    seed: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _forecast(request: Request, session: Session, ctx: Ctx, ws: Workspace, f: Filters) -> dict[str, Any]:
    q = request.query_params
    today = datetime.now(UTC).date()
    form = ForecastForm(
        mode="how_many" if q.get("mode") == "how_many" else "when",
        items=(q.get("items") or "20").strip(),
        by=(q.get("by") or (today + timedelta(days=30)).isoformat()).strip(),
        window=(q.get("window") or "90").strip(),
        seed=(q.get("seed") or "").strip(),
    )
    for key in ("mode", "items", "by", "window", "seed"):
        f.query[key] = getattr(form, key)
    window = _parse_id(form.window)
    if window is None or not 7 <= window <= 730:
        form.errors["window"] = "the history window is 7 to 730 days"
    seed = _parse_id(form.seed) if form.seed else None
    if seed is not None and seed < 0:
        form.errors["seed"] = "the seed is a whole number ≥ 0"
    kw = f.kwargs()
    kw.pop("period_id", None)  # the forecast's history is its own window (since/until, else the last N days)
    res = None
    if form.mode == "when":
        n = _parse_id(form.items)
        if n is None or not 1 <= n <= MAX_FORECAST_ITEMS:
            form.errors["items"] = f"forecast 1 to {MAX_FORECAST_ITEMS:,} items"
        if not form.errors:
            assert n is not None and window is not None
            try:
                res = flow.forecast_when(session, ctx.actor, ws.id, n, window_days=window, seed=seed, **kw)
            except OkrflowError as exc:
                form.errors[str(exc.details.get("field") or "items")] = exc.message
    else:
        by = _date(form.by)
        if by is None:
            form.errors["by"] = "enter a date (YYYY-MM-DD)"
        if not form.errors:
            assert by is not None and window is not None
            try:
                res = flow.forecast_how_many(session, ctx.actor, ws.id, by, window_days=window, seed=seed, **kw)
            except OkrflowError as exc:
                form.errors[str(exc.details.get("field") or "by")] = exc.message
    chart = None
    if res is not None:
        h = res.forecast.histogram
        chart = {
            "kind": res.forecast.kind,
            "bars": [[int(v), int(t)] for v, t in zip(h["value"], h["trials"], strict=True)],
            "markers": {str(p): a for p, a in res.forecast.answers.items()},
            "trials": res.forecast.trials,
        }
    return {"ctx_flow": res.context if res else None, "form": form, "fc": res, "chart": chart}


def _value_stream(request: Request, session: Session, ctx: Ctx, ws: Workspace, f: Filters) -> dict[str, Any]:
    res = flow.value_stream(session, ctx.actor, ws.id, **f.kwargs())
    m = res.map
    rows = [r for r in m.steps.to_dicts() if r["step_order"] >= 0 and r["items_visited"] > 0]
    scale = max([r["active_days"] + r["waiting_days"] for r in rows] or [0.0]) or 1.0
    ends = [r for r in m.steps.to_dicts() if r["step"] in ("backlog", "done")]
    # a second period to compare: b_since … b_until (local days)
    q = request.query_params
    b_since, b_until = _date(q.get("b_since")), _date(q.get("b_until"))
    f.query["b_since"] = b_since.isoformat() if b_since else ""
    f.query["b_until"] = b_until.isoformat() if b_until else ""
    compare = None
    compare_error = None
    if b_since and b_until:
        ctx_f = res.context
        try:
            cmp = flow.compare_periods(
                session,
                ctx.actor,
                ws.id,
                (ctx_f.since, ctx_f.until),
                (b_since, b_until),
                teams=f.kwargs()["teams"],
                flow_types=f.kwargs()["flow_types"],
            )
            compare = {
                "rows": {r["step"]: r for r in cmp.comparison.steps.to_dicts()},
                "a": (ctx_f.since, ctx_f.until),
                "b": (b_since, b_until),
                "bottleneck_a": cmp.comparison.bottleneck_a,
                "bottleneck_b": cmp.comparison.bottleneck_b,
            }
        except OkrflowError as exc:
            compare_error = exc.message
    elif b_since or b_until:
        compare_error = "give both dates of the period to compare"
    bottleneck = next((r for r in rows if r["step"] == m.bottleneck), None)
    return {
        "ctx_flow": res.context,
        "vsm": m,
        "steps": rows,
        "ends": {r["step"]: r for r in ends},
        "scale": scale,
        "bottleneck": bottleneck,
        "compare": compare,
        "compare_error": compare_error,
    }


# ------------------------------------------------------------------ DORA

DORA_TILES = (
    # key, title, value column, unit, level column, spark column, spark scale
    ("deployment_frequency", "Deployment frequency", "deployments_per_week", "/ week", "deployment_frequency_level"),
    ("lead_time", "Lead time for changes", "median_lead_time_hours", "h", "lead_time_level"),
    ("change_failure_rate", "Change failure rate", "change_failure_rate", "%", "change_failure_rate_level"),
    ("recovery_time", "Failed deployment recovery", "median_recovery_time_hours", "h", "recovery_time_level"),
)


def _dora(session: Session, ctx: Ctx, ws: Workspace, f: Filters) -> dict[str, Any]:
    rep = dora.report(session, ctx.actor, ws.id, team_id=f.team_id, since=f.since, until=f.until)
    services = []
    for row in rep.services.to_dicts():
        weekly = rep.weekly.filter(pl.col("service") == row["service"]).sort("week_start")
        tiles = []
        for key, title, col, unit, level_col in DORA_TILES:
            scale = 100.0 if unit == "%" else 1.0
            value = _f(row[col])
            tiles.append(
                {
                    "key": key,
                    "title": title,
                    "value": None if value is None else value * scale,
                    "unit": unit,
                    "level": row[level_col],
                    "spark": {"points": _weekly_points(weekly, col, scale), "status": _level_colour(row[level_col])},
                    "row": row,
                }
            )
        services.append({"name": row["service"], "row": row, "tiles": tiles})
    counts = {lv: sum(1 for s in services for t in s["tiles"] if t["level"] == lv) for lv in DORA_LEVELS}
    return {"rep": rep, "services": services, "level_counts": counts}


def _level_colour(level: str | None) -> str:
    return {"elite": "green", "high": "green", "medium": "amber", "low": "red"}.get(level or "", "")


# ------------------------------------------------------------------ routes


def install(app: FastAPI) -> None:
    def page(request: Request, name: str, build: Any, *, uses_request: bool = False) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        path = request.url.path
        with _db(request).read() as s:
            f, choices = _filters(request, s, ctx, ws)
            error = None
            try:
                data = build(request, s, ctx, ws, f) if uses_request else build(s, ctx, ws, f)
            except OkrflowError as exc:
                data, error = {}, exc.message
        return _respond(
            request,
            ctx,
            f"flow_{name}.html",
            f"_flow_{name}.html",
            f,
            view=name,
            error=error,
            path=path,
            **choices,
            **data,
        )

    @app.get("/flow", response_class=HTMLResponse, include_in_schema=False)
    def flow_dashboard(request: Request) -> Response:
        return page(request, "dashboard", _dashboard)

    @app.get("/flow/cfd", response_class=HTMLResponse, include_in_schema=False)
    def flow_cfd(request: Request) -> Response:
        return page(request, "cfd", _cfd)

    @app.get("/flow/scatter", response_class=HTMLResponse, include_in_schema=False)
    def flow_scatter(request: Request) -> Response:
        return page(request, "scatter", _scatter)

    @app.get("/flow/aging", response_class=HTMLResponse, include_in_schema=False)
    def flow_aging(request: Request) -> Response:
        return page(request, "aging", _aging)

    @app.get("/flow/forecast", response_class=HTMLResponse, include_in_schema=False)
    def flow_forecast(request: Request) -> Response:
        return page(request, "forecast", _forecast, uses_request=True)

    @app.get("/flow/value-stream", response_class=HTMLResponse, include_in_schema=False)
    def flow_value_stream(request: Request) -> Response:
        return page(request, "vsm", _value_stream, uses_request=True)

    @app.get("/dora", response_class=HTMLResponse, include_in_schema=False)
    def dora_page(request: Request) -> Response:
        return page(request, "dora", _dora)


__all__ = ["AGE_BUCKETS", "DORA_TILES", "FLOW_VIEWS", "install"]
