"""Web pages of pilots and the decision log.

- ``/pilots``: every pilot with its status, owner, timebox (days left), primary metric and latest stored
  recommendation; the *New pilot* form (the basics as fields, the rest — risks, guardrails, rollout, exit rules,
  analysis settings — as a YAML/JSON text validated by the service, errors next to the field);
- ``/pilots/{key}``: the one-page pilot — problem, hypothesis as a sentence, scope, owner, entry/exit criteria, the
  risk matrix, guardrails with pass/fail, the rollout plan, links, lifecycle buttons, the 90-day view, results per
  metric (table and confidence-interval chart), the SRM badge, the recommended decision (*Evaluate now*) and the
  *Record decision* form;
- ``/decisions``: the decision log, filtered with HTMX (bookmarkable query string); ``/decisions/{id}``: one
  decision with its frozen evidence (recommendation, readout, chart), the supersede chain and the *Supersede* form.

A decision is never edited or deleted here (nor anywhere): a change of mind is a new decision that supersedes it.
Recording a decision on a pilot first evaluates the exit rules again (the decisions service does, when the
user may), so it freezes the recommendation and the readout as they are at that moment. Everything goes
through the services (``pilots``, ``decisions``); charts are drawn by ``static/okrflow-charts.js`` from
``data-chart`` (strict CSP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import yaml
from fastapi import FastAPI, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.domain import pilots as dp
from okrflow.domain.access import Permission
from okrflow.domain.errors import InvalidInputError, NotFoundError, OkrflowError, PermissionDeniedError
from okrflow.domain.okr import Direction
from okrflow.services import decisions, outcomes, pilots, retros, tenancy
from okrflow.store.models import Person, Team, Workspace
from okrflow.store.models_okr import KeyResult, Objective
from okrflow.store.models_pilots import Decision, Pilot
from okrflow.store.models_work import WorkItem
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

STATUSES = tuple(s.value for s in dp.PilotStatus)
ACTIONS = tuple(a.value for a in dp.Action)
RESULTS_TARGET = "decision-results"
# The lifecycle buttons: (from, to) → label and button style. Running → decided happens by recording a decision.
LIFECYCLE = {
    ("draft", "running"): ("Start pilot", "btn-primary"),
    ("draft", "closed"): ("Withdraw", "btn-danger-ghost"),
    ("decided", "closed"): ("Close pilot", "btn"),
}
ACTION_HINTS = {
    "continue": "keep collecting data",
    "pause": "stop exposure until the data can be trusted",
    "rollback": "switch the change off",
    "scale": "roll the change out beyond the pilot",
    "extend": "give the pilot more time",
    "stop": "end the pilot without rolling out",
}
ADVANCED_KEYS = (
    "scope",
    "entry_criteria",
    "exit_criteria",
    "risks",
    "guardrails",
    "rollout",
    "exit_rules",
    "planned_split",
    "alpha",
    "method",
    "planned_sample_size",
    "power",
    "baseline",
)
HYPOTHESIS_SETTINGS = ("alpha", "method", "planned_sample_size", "power", "baseline")
# Service error fields → the field of the New pilot form that shows the message.
CREATE_FIELDS = {
    "key": "key",
    "title": "title",
    "problem statement": "problem",
    "problem": "problem",
    "hypothesis.primary_metric": "primary_metric",
    "hypothesis.direction": "direction",
    "hypothesis.expected_effect": "expected_effect",
    "hypothesis.effect_kind": "effect_kind",
    "hypothesis.statement": "statement",
    "timebox_start": "timebox_start",
    "timebox_end": "timebox_end",
    "owner_person_id": "owner_person_id",
    "team_id": "team_id",
    "key_result_id": "key_result_id",
    "work_item_id": "work_item_id",
}
DECISION_FIELDS = ("title", "decision", "decided_by", "rationale", "action", "review_on", "extend_days", "context")
RACI_ROLES = decisions.RACI_ROLES
NUMBER_WORDS = (
    *("zero", "one", "two", "three", "four", "five", "six"),
    *("seven", "eight", "nine", "ten", "eleven", "twelve"),
)
EVIDENCE_LABELS = {
    "primary_metric": "primary metric",
    "primary_kind": "scale",
    "primary_improvement": "improvement",
    "primary_p_value": "p-value",
    "primary_chance_to_win": "chance to win",
    "primary_lift_at_least": "scale when lift ≥",
    "p_below": "evidence: p below",
    "chance_to_win_at_least": "evidence: chance to win ≥",
    "guardrails_checked": "guardrails checked",
    "srm_p_value": "SRM p-value",
    "srm_p_below": "pause when SRM p below",
    "sample_size": "units so far",
    "planned_sample_size": "planned units",
    "breached_guardrails": "breached guardrails",
    "breach_test": "breach test",
    "timebox_end": "timebox ends",
    "extended_days": "days extended so far",
    "by_days": "extend by (days)",
    "signal_p_below": "clear signal when p below",
    "timebox_over": "timebox over",
    "guardrails_without_data": "guardrails without data",
    "primary_worse_p_below": "roll back when worse with p below",
    "today": "evaluated for",
}


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ formatting


def fmt_share(value: float | None, digits: int = 1) -> str:
    """0.1234 → ``12.3%``."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value * 100:.{digits}f}%"


def fmt_p(value: float | None) -> str:
    """A p-value for people: ``< 0.0001``, four decimals under 0.01, else three."""
    if value is None or not math.isfinite(value):
        return "—"
    if value < 0.0001:
        return "< 0.0001"
    return f"{value:.4f}" if value < 0.01 else f"{value:.3f}"


def _num(value: float, digits: int = 4) -> str:
    text = f"{value:.{digits}g}"
    if "e" in text:
        text = f"{value:,.2f}"
    return "0" if text in ("-0", "0.0") else text


def _signed(text: str, value: float) -> str:
    return text if value < 0 or text.startswith(("-", "−")) else f"+{text}"


def _unit(scale: str, kind: str | None) -> tuple[float, str]:
    """Factor and unit an effect is shown in: relative → %, absolute on a rate → percentage points."""
    if scale == "relative":
        return 100.0, "%"
    if kind == "proportion":
        return 100.0, " pp"
    return 1.0, ""


def fmt_effect(value: float | None, scale: str, kind: str | None, *, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    factor, unit = _unit(scale, kind)
    v = value * factor
    text = f"{v:.1f}" if unit == "%" else (f"{v:.2f}" if unit else _num(v))
    text = text.replace("-", "−")
    return (_signed(text, v) if signed else text) + unit


def fmt_mean(value: float | None, kind: str | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return fmt_share(value, 2) if kind == "proportion" else _num(value, 6)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _duration(days: int) -> str:
    if days % 7 == 0:
        weeks = days // 7
        word = NUMBER_WORDS[weeks] if weeks < len(NUMBER_WORDS) else str(weeks)
        return f"{word} week{'' if weeks == 1 else 's'}"
    return _plural(days, "day")


def expected_text(h: dp.Hypothesis, kind: str | None = None) -> str:
    size = h.expected_effect
    if h.effect_kind is dp.EffectKind.RELATIVE:
        return f"{round(size * 100, 4):g}%"
    if kind == "proportion":
        return f"{round(size * 100, 4):g} pp"
    return f"{size:g}"


def _pct(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def power_view(power: pilots.PowerReadout | None) -> dict[str, Any] | None:
    """The plan's power analysis for the Sample tile and the results card: units needed, progress, power now,
    the detectable effect; ``problem`` when there is nothing to plan with."""
    if power is None:
        return None
    if power.required_units is None:
        return {"problem": power.problem}
    kind = power.kind
    if kind == "proportion":
        base = f"{power.baseline_mean * 100:.2f}%"  # type: ignore[operator]
    else:
        base = f"{power.baseline_mean:,.4g} ± {power.baseline_std:,.3g}"
    mde = power.detectable_effect
    if mde is None:
        mde_text = None
    elif mde.relative is not None:
        mde_text = f"{mde.relative * 100:+.1f}%"
    else:
        mde_text = f"{mde.absolute * 100:+.2f} pp" if kind == "proportion" else f"{mde.absolute:+,.4g}"
    progress = power.progress
    return {
        "problem": power.problem,
        "required": f"{power.required_units:,}",
        "units": f"{power.units:,}",
        "progress": min(1.0, progress or 0.0),
        "progress_text": _pct(progress),
        "power": _pct(power.power),
        "power_now": _pct(power.power_now) if power.power_now is not None else None,
        "planned": f"{power.planned_units:,}" if power.planned_units else None,
        "planned_power": _pct(power.planned_power) if power.planned_power is not None else None,
        "underpowered": power.underpowered,
        "basis": "the control so far" if power.basis == "observed" else "the planned baseline",
        "baseline": base,
        "alpha": f"{power.alpha:g}",
        "method": power.method.value,
        "mde": mde_text,
        "mde_at": f"{power.detectable_at:,}" if power.detectable_at else None,
    }


def hypothesis_sentence(h: dp.Hypothesis, kind: str | None = None) -> str:
    """The hypothesis as data, as a sentence: *Raise checkout conversion by 15% in four weeks*."""
    verb = "Raise" if h.direction is Direction.INCREASE else "Cut"
    days = (h.timebox.end - h.timebox.start).days + 1
    metric = h.primary_metric.replace("_", " ")
    return f"{verb} {metric} by {expected_text(h, kind)} in {_duration(days)}"


def risk_level(score: int) -> str:
    if score >= 20:
        return "critical"
    if score >= 10:
        return "high"
    if score >= 5:
        return "medium"
    return "low"


def evidence_value(key: str, value: Any, kind: str | None = None) -> str:
    """One number behind a recommendation, formatted by what it is."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if key.endswith("p_value") or key.endswith("p_below"):
            return fmt_p(float(value))
        if "chance_to_win" in key:
            return fmt_share(float(value))
        if key.startswith("primary_") and key != "primary_worse_p_below" and kind is not None:
            return fmt_effect(float(value), kind, None)
        if isinstance(value, int):
            return f"{value:,}"
        return _num(float(value))
    return str(value)


templates.env.filters["p_value"] = fmt_p
templates.env.filters["share"] = fmt_share
templates.env.globals["ACTION_HINTS"] = ACTION_HINTS


# ------------------------------------------------------------------ shared lookups


def _pilot_in_ws(session: Session, ctx: Ctx, ws: Workspace, key: str) -> Pilot:
    return pilots.pilot_by_key(session, ctx.actor, ws.id, key)


def _decision_in_ws(session: Session, ctx: Ctx, ws: Workspace, decision_id: int) -> Decision:
    d = decisions.get_decision(session, ctx.actor, decision_id)
    if d.workspace_id != ws.id:
        raise NotFoundError(f"decision {decision_id} is not in workspace {ws.name}; switch workspace first")
    return d


def pilot_url(pilot: Pilot | str) -> str:
    key = pilot if isinstance(pilot, str) else pilot.key
    return "/pilots/" + quote(key, safe="")


templates.env.globals["pilot_url"] = pilot_url


def _can_write(ctx: Ctx, ws: Workspace, team_id: int | None) -> bool:
    return ctx.actor.can(Permission.WRITE, ws.id, team_id)


def _link_teams(session: Session, pilot: Pilot) -> set[int | None]:
    teams: set[int | None] = {pilot.team_id}
    if pilot.key_result_id is not None:
        kr = session.get(KeyResult, pilot.key_result_id)
        obj = session.get(Objective, kr.objective_id) if kr else None
        if obj is not None:
            teams.add(obj.team_id)
    if pilot.work_item_id is not None:
        item = session.get(WorkItem, pilot.work_item_id)
        if item is not None:
            teams.add(item.team_id)
    return teams


def _user_name(ctx: Ctx) -> str:
    return ctx.user.display_name or ctx.user.username


# ------------------------------------------------------------------ the readout as tables and charts


def _rules_of(spec: pilots.PilotSpec | None) -> tuple[dp.Rule, ...]:
    return spec.record.exit_rules if spec is not None else ()


def _breach_test(rules: tuple[dp.Rule, ...]) -> dp.BreachTest:
    rollback = [r for r in rules if isinstance(r, dp.RollbackWhen)]
    return rollback[0].breach if rollback else dp.BreachTest.ESTIMATE


def _improvement_ci(effect: dict[str, Any], lower: bool) -> tuple[float, float]:
    low, high = effect["ci"]
    return (-high, -low) if lower else (low, high)


def _tone(effect: dict[str, Any] | None, lower: bool) -> str:
    if not effect:
        return ""
    low, high = _improvement_ci(effect, lower)
    return "good" if low > 0 else "bad" if high < 0 else "flat"


def metric_view(
    m: dict[str, Any],
    *,
    judged: str,
    chart_scale: str,
    refs: list[tuple[str, float, str]],
    guardrail: dp.Guardrail | None = None,
    breach: dp.BreachTest = dp.BreachTest.ESTIMATE,
) -> dict[str, Any]:
    """One metric of a readout (the plain numbers of :func:`pilots.frozen_numbers`, live or frozen in a decision):
    rows per variant for the table, the CI chart's data and, for a guardrail, pass/fail."""
    kind = m.get("kind")
    lower = bool(m.get("lower_is_better"))
    variants = m.get("variants") or {}
    comparisons = m.get("comparisons") or {}
    problems = m.get("problems") or {}
    rows: list[dict[str, Any]] = []
    for name in sorted(set(variants) | set(problems), key=lambda v: (v != pilots.CONTROL, v)):
        s = variants.get(name)
        row: dict[str, Any] = {
            "variant": name,
            "control": name == pilots.CONTROL,
            "n": f"{s['n']:,}" if s else "0",
            "mean": fmt_mean(s["mean"], kind) if s else "—",
            "problem": problems.get(name),
        }
        c = comparisons.get(name)
        if c:
            judged_effect = c.get(judged) or c.get("absolute")
            bayes_relative = c.get("relative") is not None
            risk_scale = "relative" if bayes_relative else "absolute"
            row |= {
                "abs": _effect_cell(c.get("absolute"), "absolute", kind, lower),
                "rel": _effect_cell(c.get("relative"), "relative", kind, lower),
                "p": fmt_p(judged_effect["p_value"]) if judged_effect else "—",
                "chance": fmt_share(c.get("chance_to_win")),
                "risk": [fmt_effect(r, risk_scale, kind, signed=False) for r in c.get("risk") or ()],
            }
        rows.append(row)
    factor, unit = _unit(chart_scale, kind)
    points = []
    for name, c in sorted(comparisons.items()):
        effect = c.get(chart_scale)
        if not effect:
            continue
        low, high = _improvement_ci(effect, lower)
        points.append(
            {
                "label": name,
                "estimate": effect["improvement"] * factor,
                "low": low * factor,
                "high": high * factor,
            }
        )
    chart = None
    if points:
        chart = {
            "unit": unit.strip(),
            "rows": points,
            "refs": [{"label": label, "x": x * factor, "tone": tone} for label, x, tone in refs],
            "axis": f"improvement, {chart_scale}{f' ({unit.strip()})' if unit.strip() else ''}: positive is better",
        }
    view: dict[str, Any] = {
        "metric": m.get("metric"),
        "role": m.get("role"),
        "kind": kind,
        "lower_is_better": lower,
        "judged": judged,
        "chart_scale": chart_scale,
        "rows": rows,
        "chart": chart,
        "has_data": bool(variants),
    }
    if guardrail is not None:
        view |= _guardrail_status(guardrail, comparisons, kind, lower, breach)
    return view


def _effect_cell(effect: dict[str, Any] | None, scale: str, kind: str | None, lower: bool) -> dict[str, str] | None:
    if not effect:
        return None
    low, high = effect["ci"]
    unit = _unit(scale, kind)[1]
    return {
        "value": fmt_effect(effect["estimate"], scale, kind),
        "ci": f"{fmt_effect(low, scale, kind).removesuffix(unit) if unit == ' pp' else fmt_effect(low, scale, kind)}"
        f" … {fmt_effect(high, scale, kind)}",
        "tone": _tone(effect, lower),
    }


def _accepted_text(g: dp.Guardrail, kind: str | None) -> str:
    if g.accepted_regression == 0:
        return "no regression accepted"
    size = fmt_effect(g.accepted_regression, g.kind.value, kind, signed=False)
    return f"may get {size} worse"


def _guardrail_status(
    g: dp.Guardrail, comparisons: dict[str, Any], kind: str | None, lower: bool, breach: dp.BreachTest
) -> dict[str, Any]:
    verdicts = []
    for _name, c in sorted(comparisons.items()):
        effect = c.get(g.kind.value)
        if not effect:
            continue
        improvement = effect["improvement"]
        value = improvement if breach is dp.BreachTest.ESTIMATE else _improvement_ci(effect, lower)[1]
        verdicts.append(value < -g.accepted_regression)
    status = "no data" if not verdicts else "fail" if any(verdicts) else "pass"
    return {
        "guardrail": g,
        "accepted": _accepted_text(g, kind),
        "status": status,
        "breach_test": breach.value,
    }


def readout_views(spec: pilots.PilotSpec | None, numbers: dict[str, Any]) -> list[dict[str, Any]]:
    """The primary metric and each guardrail of a readout, ready for the table and the chart."""
    if not numbers or "primary" not in numbers:
        return []
    rules = _rules_of(spec)
    primary = numbers["primary"]
    kind = primary.get("kind")
    if spec is None:
        judged = chart_scale = "relative" if _has_scale(primary, "relative") else "absolute"
        refs: list[tuple[str, float, str]] = [("0", 0.0, "zero")]
    else:
        h = spec.record.hypothesis
        judged = spec.primary_scale.value
        chart_scale = h.effect_kind.value
        refs = [("0", 0.0, "zero"), (f"expected +{expected_text(h, kind)}", h.expected_effect, "expected")]
        for rule in rules:
            if (
                isinstance(rule, dp.ScaleWhen)
                and rule.lift_kind is h.effect_kind
                and rule.primary_lift_at_least > 0
                and not math.isclose(rule.primary_lift_at_least, h.expected_effect)
            ):
                lift = fmt_effect(rule.primary_lift_at_least, chart_scale, kind)
                refs.append((f"scale at {lift}", rule.primary_lift_at_least, "threshold"))
                break
    views = [metric_view(primary, judged=judged, chart_scale=chart_scale, refs=refs)]
    guardrails = {g.metric: g for g in spec.record.guardrails} if spec else {}
    breach = _breach_test(rules)
    for gm in numbers.get("guardrails") or []:
        g = guardrails.get(gm.get("metric"))
        if g is None:
            scale = "relative" if _has_scale(gm, "relative") else "absolute"
            views.append(metric_view(gm, judged=scale, chart_scale=scale, refs=[("0", 0.0, "zero")]))
            continue
        accepted = fmt_effect(-g.accepted_regression, g.kind.value, gm.get("kind"))
        g_refs = [("0", 0.0, "zero")]
        if g.accepted_regression > 0:
            g_refs.append((f"accepted {accepted}", -g.accepted_regression, "limit"))
        views.append(
            metric_view(gm, judged=g.kind.value, chart_scale=g.kind.value, refs=g_refs, guardrail=g, breach=breach)
        )
    return views


def _has_scale(m: dict[str, Any], scale: str) -> bool:
    return any(c.get(scale) for c in (m.get("comparisons") or {}).values())


def srm_view(spec: pilots.PilotSpec | None, p_value: float | None) -> dict[str, Any]:
    pause = [r for r in _rules_of(spec) if isinstance(r, dp.PauseWhen)]
    threshold = pause[0].srm_p_below if pause else 0.001
    if p_value is None:
        return {"status": "none", "p": None, "threshold": threshold}
    return {"status": "mismatch" if p_value < threshold else "ok", "p": fmt_p(p_value), "threshold": threshold}


def recommendation_view(
    action: str, rule: str, reason: str, numbers: dict[str, Any], also_fired: list[str], extend_until: str | None
) -> dict[str, Any]:
    kind = numbers.get("primary_kind")
    shown: list[tuple[str, str]] = []
    low, high = numbers.get("primary_ci_low"), numbers.get("primary_ci_high")
    for key, value in numbers.items():
        if key in ("primary_ci_low", "primary_ci_high") or value is None:
            continue
        label = EVIDENCE_LABELS.get(key, key.replace("_", " "))
        shown.append((label, evidence_value(key, value, kind)))
        if key == "primary_improvement" and low is not None and high is not None:
            ci = f"{evidence_value(key, low, kind)} … {evidence_value(key, high, kind)}"
            shown.append(("confidence interval", ci))
    return {
        "action": action,
        "hint": ACTION_HINTS.get(action, ""),
        "rule": rule,
        "reason": reason,
        "numbers": shown,
        "also_fired": list(also_fired or []),
        "extend_until": extend_until,
    }


def _live_recommendation(rec: dp.Recommendation) -> dict[str, Any]:
    numbers = pilots.evidence_of(rec)
    return recommendation_view(
        rec.action.value, rec.rule, rec.reason, numbers["numbers"], numbers["also_fired"], numbers["extend_until"]
    )


def _stored_recommendation(evidence: dict[str, Any], action: str, rule: str) -> dict[str, Any]:
    return recommendation_view(
        action,
        rule,
        str(evidence.get("reason") or ""),
        dict(evidence.get("numbers") or {}),
        list(evidence.get("also_fired") or []),
        evidence.get("extend_until"),
    )


# ------------------------------------------------------------------ the 90-day view


def ninety_day_view(spec: pilots.PilotSpec, today: date) -> dict[str, Any]:
    """Bands, the timebox and today as percentages of the 90 days (SVG coordinates, no inline style)."""
    windows = spec.record.ninety_days
    start, end = windows[0].start, windows[-1].end
    total = (end - start).days + 1

    def x(day: date) -> float:
        return round(max(0.0, min(100.0, (day - start).days / total * 100)), 2)

    names = {"define": "Define", "pilot": "Pilot", "scale_or_retire": "Scale or retire"}
    bands = []
    for w in windows:
        bands.append(
            {
                "phase": w.phase.value,
                "name": names[w.phase.value],
                "start": w.start,
                "end": w.end,
                "x": x(w.start),
                "width": round(x(w.end) - x(w.start) + 100 / total, 2),
                "current": w.start <= today <= w.end,
            }
        )
    tb = spec.record.hypothesis.timebox
    inside = start <= today <= end
    today_x = x(today) + (50 / total if inside else 0)
    return {
        "bands": bands,
        "timebox_x": x(tb.start),
        "timebox_width": round(x(tb.effective_end) - x(tb.start) + 100 / total, 2),
        "extended_x": x(tb.end) + round(100 / total, 2) if tb.extended_days else None,
        "extended_width": round(x(tb.effective_end) - x(tb.end), 2) if tb.extended_days else None,
        "today_x": round(today_x, 2),
        "today_anchor": "end" if today_x > 88 else "start",
        "today_inside": inside,
        "today_before": today < start,
        "phase": dp.phase_on(start, today),
        "start": start,
        "end": end,
    }


# ------------------------------------------------------------------ /pilots


def _pilot_rows(session: Session, ctx: Ctx, ws: Workspace, status: str | None) -> list[dict[str, Any]]:
    today = _now().date()
    people = {p.id: p.name for p in tenancy.list_people(session, ctx.actor, ws.id)}
    teams = {t.id: t.name for t in tenancy.list_teams(session, ctx.actor, ws.id)}
    waiting = {w.pilot.id: w.reason for w in pilots.awaiting_decision(session, ctx.actor, ws.id, today)}
    rows = []
    for p in pilots.list_pilots(session, ctx.actor, ws.id, status=status):
        spec = pilots.spec_of(session, p)
        h = spec.record.hypothesis
        latest = pilots.latest_evaluation(session, ctx.actor, p.id)
        text, tone = h.timebox.status(today, started=p.status != "draft")
        rows.append(
            {
                "pilot": p,
                "owner": people.get(p.owner_person_id or 0),
                "team": teams.get(p.team_id or 0),
                "timebox": h.timebox,
                "days_text": text,
                "days_tone": tone,
                "metric": h.primary_metric,
                "direction": h.direction.value,
                "expected": expected_text(h),
                "effect_kind": h.effect_kind.value,
                "latest": latest,
                "awaiting_decision": waiting.get(p.id),
            }
        )
    return rows


def _form_choices(session: Session, ctx: Ctx, ws: Workspace) -> dict[str, Any]:
    teams = tenancy.list_teams(session, ctx.actor, ws.id)
    krs = session.execute(
        select(KeyResult.id, KeyResult.title, Objective.title)
        .join(Objective, Objective.id == KeyResult.objective_id)
        .where(Objective.workspace_id == ws.id)
        .order_by(Objective.id.desc(), KeyResult.position, KeyResult.id)
        .limit(500)
    ).all()
    items = session.execute(
        select(WorkItem.id, WorkItem.key, WorkItem.external_id, WorkItem.title, WorkItem.level)
        .where(WorkItem.workspace_id == ws.id, WorkItem.level.in_(pilots.OUTCOME_LEVELS))
        .order_by(WorkItem.level.desc(), WorkItem.key)
        .limit(500)
    ).all()
    writable = ctx.writable_team_ids(teams)
    return {
        "form_people": tenancy.list_people(session, ctx.actor, ws.id),
        "form_teams": [(t, d) for t, d in team_tree(teams) if t.id in writable or _can_write(ctx, ws, None)],
        "can_write_workspace": _can_write(ctx, ws, None),
        "form_krs": krs,
        "form_items": items,
    }


def _list_data(session: Session, ctx: Ctx, ws: Workspace, status: str | None) -> dict[str, Any]:
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for p in pilots.list_pilots(session, ctx.actor, ws.id):
        counts[p.status] = counts.get(p.status, 0) + 1
    teams = tenancy.list_teams(session, ctx.actor, ws.id)
    can_create = _can_write(ctx, ws, None) or bool(ctx.writable_team_ids(teams))
    return {
        "rows": _pilot_rows(session, ctx, ws, status),
        "status": status,
        "counts": counts,
        "total": sum(counts.values()),
        "can_create": can_create,
        "today": _now().date(),
    }


def _parse_effect(raw: str) -> float | None:
    text = (raw or "").strip().replace(",", ".").replace(" ", "")
    percent = text.endswith("%")
    text = text.rstrip("%").lstrip("+")
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return value / 100 if percent else value


def _parse_split(raw: str) -> dict[str, float] | None:
    """``50/50`` (control first) → ``{"control": 50, "treatment": 50}``; three or more → treatment_1, …"""
    parts = [p.strip().rstrip("%") for p in (raw or "").replace(":", "/").split("/") if p.strip()]
    try:
        weights = [float(p.replace(",", ".")) for p in parts]
    except ValueError:
        return None
    if len(weights) < 2 or any(not math.isfinite(w) or w <= 0 for w in weights):
        return None
    names = [pilots.CONTROL] + (
        ["treatment"] if len(weights) == 2 else [f"treatment_{i}" for i in range(1, len(weights))]
    )
    return dict(zip(names, weights, strict=True))


def _parse_date(raw: str) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


def _parse_advanced(text: str) -> tuple[dict[str, Any], str | None]:
    """The advanced fields: a YAML (or JSON, which is YAML) mapping of :data:`ADVANCED_KEYS`."""
    if not text.strip():
        return {}, None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "it is not valid YAML or JSON"
        return {}, f"the advanced fields cannot be read{where}: {problem}"
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        return {}, "the advanced fields are a mapping (risks:, guardrails:, rollout:, exit_rules: …), not a list"
    unknown = sorted(str(k) for k in data if k not in ADVANCED_KEYS)
    if unknown:
        return {}, f"unknown advanced field {unknown[0]!r}; use {', '.join(ADVANCED_KEYS)}"
    return data, None


# ------------------------------------------------------------------ /pilots/{key}


def _pilot_page_data(session: Session, ctx: Ctx, ws: Workspace, pilot: Pilot) -> dict[str, Any]:
    today = _now().date()
    spec = pilots.spec_of(session, pilot)
    rec = spec.record
    h = rec.hypothesis
    owner = session.get(Person, pilot.owner_person_id) if pilot.owner_person_id else None
    team = session.get(Team, pilot.team_id) if pilot.team_id else None
    kr = session.get(KeyResult, pilot.key_result_id) if pilot.key_result_id else None
    item = session.get(WorkItem, pilot.work_item_id) if pilot.work_item_id else None
    readout: pilots.PilotReadout | None = None
    readout_error: str | None = None
    try:
        readout = pilots.results(session, ctx.actor, pilot.id)
    except InvalidInputError as exc:
        readout_error = exc.message
    numbers = pilots.frozen_numbers(readout) if readout is not None else {}
    primary_kind = numbers.get("primary", {}).get("kind") if numbers else None
    views = readout_views(spec, numbers)
    # risks on the 5 × 5 matrix: likelihood rows (5 at the top) × impact columns
    cells: dict[tuple[int, int], list[int]] = {}
    for i, r in enumerate(rec.risks, start=1):
        cells.setdefault((r.likelihood, r.impact), []).append(i)
    matrix = [
        [{"l": lk, "i": im, "level": risk_level(lk * im), "risks": cells.get((lk, im), [])} for im in range(1, 6)]
        for lk in range(5, 0, -1)
    ]
    stages = []
    current_stage = None
    for i, s in enumerate(rec.rollout):
        if s.start <= today and pilot.status == "running":
            current_stage = i
        stages.append(s)
    guardrail_views = {v["metric"]: v for v in views if v["role"] == "guardrail"}
    text, tone = h.timebox.status(today, started=pilot.status != "draft")
    transitions = [
        (target, *LIFECYCLE[(pilot.status, target)])
        for target in STATUSES
        if (pilot.status, target) in LIFECYCLE
        and dp.can_transition(dp.PilotStatus(pilot.status), dp.PilotStatus(target))
    ]
    return {
        "p": pilot,
        "spec": spec,
        "rec": rec,
        "h": h,
        "sentence": hypothesis_sentence(h, primary_kind),
        "expected": expected_text(h, primary_kind),
        "owner": owner,
        "team": team,
        "kr": kr,
        "item": item,
        "readout": readout,
        "readout_error": readout_error,
        "numbers": numbers,
        "views": views,
        "guardrail_views": guardrail_views,
        "srm": srm_view(spec, numbers.get("srm_p_value") if numbers else None),
        "power": power_view(readout.power if readout is not None else None),
        "matrix": matrix,
        "risks": [(i, r, risk_level(r.score)) for i, r in enumerate(rec.risks, start=1)],
        "stages": stages,
        "current_stage": current_stage,
        "rules": [(type(r).__name__.removesuffix("When").lower(), dp.describe_rule(r)) for r in rec.exit_rules],
        "ninety": ninety_day_view(spec, today),
        "timebox_text": text,
        "timebox_tone": tone,
        "today": today,
        "can_write": _can_write(ctx, ws, pilot.team_id),
        "transitions": transitions,
        "decisions": decisions.list_decisions(session, ctx.actor, ws.id, pilot_id=pilot.id),
    }


def _decide_data(
    session: Session, ctx: Ctx, ws: Workspace, pilot: Pilot, *, form: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The recommendation card and the Record decision form (one HTMX fragment, ``#pilot-decide``)."""
    now = _now()
    live: dict[str, Any] | None = None
    live_action: str | None = None
    live_error: str | None = None
    if pilot.status != "draft":  # a draft has no results to judge yet
        try:
            r = pilots.recommend(session, ctx.actor, pilot.id, now)
            live, live_action = _live_recommendation(r), r.action.value
        except InvalidInputError as exc:
            live_error = exc.message
    latest = pilots.latest_evaluation(session, ctx.actor, pilot.id)
    stored = _stored_recommendation(latest.evidence or {}, latest.action, latest.rule) if latest else None
    # a draft has nothing to decide on yet; a closed pilot is over (its decisions can still be superseded)
    open_ = pilot.status in ("running", "decided")
    can_evaluate = open_ and _can_write(ctx, ws, pilot.team_id)
    can_decide = open_ and any(_can_write(ctx, ws, t) for t in _link_teams(session, pilot))
    recommended = live_action or (latest.action if latest else None)
    default_action = recommended or "continue"
    if form is None:
        title_action = (recommended or "decide").capitalize()
        form = {
            "title": f"{title_action}: {pilot.title}"[:300],
            "action": default_action,
            "decided_by": _user_name(ctx),
            "link_kr": "1",
            "link_item": "1",
        }
    return {
        "live": live,
        "live_error": live_error,
        "latest": latest,
        "stored": stored,
        "recommended": recommended,
        "can_evaluate": can_evaluate,
        "can_decide": can_decide,
        "actions": ACTIONS,
        "dform": form,
        "derrors": {},
        "evaluated": None,
        "evaluate_error": None,
    }


def _form_status(request: Request, status: int) -> int:
    """Inline errors answer 422 under HTMX, except a stale version: 412 (HTMX swaps both, see base.html)."""
    return 412 if status == 412 else _error_status(request, status)


def _names(text: str) -> list[str]:
    return [n.strip() for n in (text or "").replace(";", ",").split(",") if n.strip()]


def _error_field(exc: OkrflowError, known: tuple[str, ...]) -> str:
    field = str(exc.details.get("field") or "")
    if field.startswith("raci."):
        return "raci_" + field.split(".", 1)[1]
    return field if field in known else "_form"


# ------------------------------------------------------------------ /decisions


@dataclass
class DecisionQuery:
    pilot: str = ""
    action: str = ""
    by: str = ""
    since: str = ""
    until: str = ""
    q: str = ""
    current: str = ""
    due: str = ""

    def params(self) -> str:
        values = {
            "pilot": self.pilot,
            "action": self.action,
            "by": self.by,
            "since": self.since,
            "until": self.until,
            "q": self.q,
            "current": "1" if self.current_only else "",
            "due": "1" if self.due_only else "",
        }
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def current_only(self) -> bool:
        return self.current in ("1", "on", "true")

    @property
    def due_only(self) -> bool:
        """Only the current decisions whose review date has come (``decisions_due_for_review``)."""
        return self.due in ("1", "on", "true")

    @property
    def active(self) -> bool:
        return bool(self.params())


def _decisions_data(session: Session, ctx: Ctx, ws: Workspace, query: DecisionQuery) -> dict[str, Any]:
    today = _now().date()
    problems: list[str] = []
    pilot_rows = pilots.list_pilots(session, ctx.actor, ws.id)
    pilot_id = _parse_id(query.pilot)
    if pilot_id is not None and not any(p.id == pilot_id for p in pilot_rows):
        problems.append("that pilot does not exist; showing every pilot")
        query.pilot, pilot_id = "", None
    if query.action and query.action not in ACTIONS:
        problems.append(f"unknown action {query.action!r}; showing every action")
        query.action = ""
    dates: dict[str, date | None] = {}
    for name in ("since", "until"):
        raw = getattr(query, name)
        dates[name] = _parse_date(raw) if raw else None
        if raw and dates[name] is None:
            problems.append(f"{name} is not a date (YYYY-MM-DD)")
            setattr(query, name, "")
    rows = decisions.list_decisions(
        session,
        ctx.actor,
        ws.id,
        pilot_id=pilot_id,
        decided_by=query.by or None,
        since=dates["since"],
        until=dates["until"],
        query=query.q[:200],
        current_only=query.current_only,
        action=query.action or None,
    )
    if query.due_only:
        due_ids = {d.id for d in decisions.decisions_due_for_review(session, ctx.actor, ws.id, today)}
        rows = [d for d in rows if d.id in due_ids]
    successors = dict(
        session.execute(
            select(Decision.supersedes_id, Decision.id).where(
                Decision.workspace_id == ws.id, Decision.supersedes_id.is_not(None)
            )
        ).all()
    )
    deciders = sorted(
        set(session.scalars(select(Decision.decided_by).where(Decision.workspace_id == ws.id).distinct())),
        key=str.lower,
    )
    total = len(decisions.list_decisions(session, ctx.actor, ws.id))
    return {
        "query": query,
        "rows": rows,
        "successors": successors,
        "pilot_keys": {p.id: p.key for p in pilot_rows},
        "pilot_choices": pilot_rows,
        "deciders": deciders,
        "actions": ACTIONS,
        "problems": problems,
        "today": today,
        "total": total,
    }


def _frozen_parts(d: Decision) -> dict[str, Any]:
    evidence = dict(d.evidence or {})
    rec = evidence.get("recommendation")
    readout = evidence.get("readout")
    other = {k: v for k, v in evidence.items() if k not in ("recommendation", "readout", "supersedes", "extend_days")}
    return {"rec": rec, "readout": readout, "other": other, "extend_days": evidence.get("extend_days")}


def _decision_page_data(session: Session, ctx: Ctx, ws: Workspace, d: Decision) -> dict[str, Any]:
    today = _now().date()
    pilot = session.get(Pilot, d.pilot_id) if d.pilot_id else None
    spec = pilots.spec_of(session, pilot) if pilot else None
    frozen = _frozen_parts(d)
    readout = frozen["readout"] if isinstance(frozen["readout"], dict) else None
    views = readout_views(spec, readout) if readout and "primary" in readout else []
    rec = frozen["rec"]
    rec_view = None
    if isinstance(rec, dict):
        rec_view = _stored_recommendation(rec, rec.get("action", ""), rec.get("rule", ""))
    chain = decisions.chain(session, ctx.actor, d.id)
    newer = decisions.superseded_by(session, d.id)
    links = []
    for lk in d.links or []:
        kind, ident = lk.get("type"), lk.get("id")
        label, href = f"{str(kind).replace('_', ' ')} {ident}", None
        if kind == "pilot":
            lp = session.get(Pilot, ident)
            if lp is not None:
                label, href = f"Pilot {lp.key} · {lp.title}", pilot_url(lp)
        elif kind == "key_result":
            kr = session.get(KeyResult, ident)
            if kr is not None:
                label, href = f"KR-{kr.id} · {kr.title}", f"/okr/kr/{kr.id}"
        elif kind == "work_item":
            item = session.get(WorkItem, ident)
            if item is not None:
                label, href = f"{item.key or item.external_id} · {item.title}", f"/work/{item.id}"
        links.append({"type": kind, "label": label, "href": href})
    can_supersede = newer is None and _can_supersede(session, ctx, ws, d)
    return {
        "d": d,
        "pilot": pilot,
        "frozen": frozen,
        "rec_view": rec_view,
        "views": views,
        "srm": srm_view(spec, readout.get("srm_p_value")) if readout and "primary" in readout else None,
        "readout": readout,
        "chain": chain,
        "newer": newer,
        "newest": chain[-1],
        "links": links,
        "today": today,
        "review_due": d.review_on is not None and d.review_on <= today and newer is None,
        "can_supersede": can_supersede,
        "actions": ACTIONS,
        "sform": {
            "title": d.title,
            "decision": d.decision,
            "action": d.action or "",
            "decided_by": _user_name(ctx),
            "review_on": d.review_on.isoformat() if d.review_on and d.review_on >= today else "",
        },
        "serrors": {},
    }


def _can_supersede(session: Session, ctx: Ctx, ws: Workspace, d: Decision) -> bool:
    teams: set[int | None] = set()
    for lk in d.links or []:
        kind, ident = lk.get("type"), lk.get("id")
        if kind == "pilot" and (p := session.get(Pilot, ident)) is not None:
            teams |= _link_teams(session, p)
        elif kind == "key_result" and (kr := session.get(KeyResult, ident)) is not None:
            obj = session.get(Objective, kr.objective_id)
            teams.add(obj.team_id if obj else None)
        elif kind == "work_item" and (item := session.get(WorkItem, ident)) is not None:
            teams.add(item.team_id)
    return any(_can_write(ctx, ws, t) for t in teams or {None})


def home_attention(session: Session, ctx: Ctx, ws: Workspace) -> dict[str, Any]:
    """The home page's "needs a decision or a review" card: running pilots waiting for a decision, decisions
    whose review date has come, delivered work whose outcome review is due, and overdue action items."""
    now = _now()
    waiting = pilots.awaiting_decision(session, ctx.actor, ws.id, now)
    reviews = decisions.decisions_due_for_review(session, ctx.actor, ws.id, now)
    outcomes_due = outcomes.outcome_reviews_due(session, ctx.actor, ws.id, now)
    overdue = retros.overdue_actions(session, ctx.actor, ws.id, now)
    return {
        "pilots": waiting,
        "reviews": reviews,
        "outcomes_due": outcomes_due,
        "overdue": overdue,
        "total": len(waiting) + len(reviews) + len(outcomes_due) + len(overdue),
        "today": now.date(),
    }


# ------------------------------------------------------------------ routes


def install(app: FastAPI) -> None:
    # ---------------------------------------------------------------- pilots

    @app.get("/pilots", response_class=HTMLResponse, include_in_schema=False)
    def pilots_page(request: Request, status: str = "") -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        chosen = status if status in STATUSES else None
        with _db(request).read() as s:
            data = _list_data(s, ctx, ws, chosen)
            choices = _form_choices(s, ctx, ws) if data["can_create"] else {}
        form = {"direction": "increase", "effect_kind": "relative", "split": "50/50"}
        return render(request, "pilots.html", ctx, nav="pilots", form=form, errors={}, **data, **choices)

    @app.post("/pilots", response_class=HTMLResponse, include_in_schema=False)
    def pilot_create(
        request: Request,
        key: Annotated[str, Form()] = "",
        title: Annotated[str, Form()] = "",
        problem: Annotated[str, Form()] = "",
        primary_metric: Annotated[str, Form()] = "",
        direction: Annotated[str, Form()] = "increase",
        expected_effect: Annotated[str, Form()] = "",
        effect_kind: Annotated[str, Form()] = "relative",
        statement: Annotated[str, Form()] = "",
        timebox_start: Annotated[str, Form()] = "",
        timebox_end: Annotated[str, Form()] = "",
        split: Annotated[str, Form()] = "50/50",
        owner_person_id: Annotated[str, Form()] = "",
        team_id: Annotated[str, Form()] = "",
        key_result_id: Annotated[str, Form()] = "",
        work_item_id: Annotated[str, Form()] = "",
        advanced: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        form = {
            "key": key,
            "title": title,
            "problem": problem,
            "primary_metric": primary_metric,
            "direction": direction,
            "expected_effect": expected_effect,
            "effect_kind": effect_kind,
            "statement": statement,
            "timebox_start": timebox_start,
            "timebox_end": timebox_end,
            "split": split,
            "owner_person_id": owner_person_id,
            "team_id": team_id,
            "key_result_id": key_result_id,
            "work_item_id": work_item_id,
            "advanced": advanced,
        }
        team = _parse_id(team_id)
        if not _can_write(ctx, ws, team):
            where = "on that team" if team is not None else "for the whole workspace"
            raise PermissionDeniedError(f"creating a pilot needs the contributor role {where}")
        errors: dict[str, str] = {}
        status = 422
        effect = _parse_effect(expected_effect)
        if effect is None:
            errors["expected_effect"] = "enter the expected effect as a number, e.g. 15% or 0.15"
        elif effect <= 0:
            errors["expected_effect"] = "the expected effect is a positive size; its direction is chosen separately"
        start, end = _parse_date(timebox_start), _parse_date(timebox_end)
        if start is None:
            errors["timebox_start"] = "choose the first day of the timebox"
        if end is None:
            errors["timebox_end"] = "choose the last day of the timebox"
        planned = _parse_split(split)
        if planned is None:
            errors["split"] = "give positive shares, control first, e.g. 50/50 or 34/33/33"
        extra, problem_text = _parse_advanced(advanced)
        if problem_text:
            errors["advanced"] = problem_text
        if _parse_id(owner_person_id) is None:
            errors["owner_person_id"] = "choose the owner of the pilot"
        created: str | None = None
        if not errors:
            hypothesis: dict[str, Any] = {
                "primary_metric": primary_metric,
                "direction": direction,
                "expected_effect": effect,
                "effect_kind": effect_kind,
                "statement": statement,
            } | {k: extra.pop(k) for k in HYPOTHESIS_SETTINGS if k in extra}
            kwargs = {k: extra[k] for k in extra} | {"planned_split": extra.get("planned_split") or planned}
            try:
                with db.write() as s:
                    pilot = pilots.create_pilot(
                        s,
                        ctx.actor,
                        ws.id,
                        key=key,
                        title=title,
                        problem=problem,
                        hypothesis=hypothesis,
                        timebox_start=start or "",
                        timebox_end=end or "",
                        owner_person_id=_parse_id(owner_person_id),
                        team_id=team,
                        key_result_id=_parse_id(key_result_id),
                        work_item_id=_parse_id(work_item_id),
                        **kwargs,
                    )
                    created = pilot.key
            except PermissionDeniedError:
                raise
            except OkrflowError as exc:
                field = str(exc.details.get("field") or "")
                if field in CREATE_FIELDS:
                    target = CREATE_FIELDS[field]
                elif field == "planned_split" and "planned_split" not in extra:
                    target = "split"
                elif field and field != "hypothesis":
                    target = "advanced"
                else:
                    target = "advanced" if advanced.strip() else "_form"
                errors[target] = exc.message
                status = exc.http_status
            except (TypeError, ValueError) as exc:  # e.g. an advanced field of the wrong shape
                errors["advanced"] = f"the advanced fields do not fit: {exc}"
        if created is not None:
            target_url = f"{pilot_url(created)}?created=1"
            if _is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": target_url})
            return RedirectResponse(target_url, status_code=303)
        with db.read() as s:
            choices = _form_choices(s, ctx, ws)
            if _is_htmx(request):
                return render(
                    request,
                    "_pilot_form.html",
                    ctx,
                    status_code=_form_status(request, status),
                    form=form,
                    errors=errors,
                    **choices,
                )
            data = _list_data(s, ctx, ws, None)
        return render(
            request, "pilots.html", ctx, status_code=status, nav="pilots", form=form, errors=errors, **data, **choices
        )

    @app.get("/pilots/{key:path}", response_class=HTMLResponse, include_in_schema=False)
    def pilot_page(request: Request, key: str, created: str | None = None, decision: str | None = None) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            pilot = _pilot_in_ws(s, ctx, ws, key)
            data = _pilot_page_data(s, ctx, ws, pilot)
            decide = _decide_data(s, ctx, ws, pilot)
            recorded = None
            did = _parse_id(decision)
            if did is not None:
                recorded = next((d for d in data["decisions"] if d.id == did), None)
        return render(
            request,
            "pilot.html",
            ctx,
            nav="pilots",
            created=created,
            recorded=recorded,
            lifecycle_error=None,
            **data,
            **decide,
        )

    @app.post("/pilots/{key:path}/transition", response_class=HTMLResponse, include_in_schema=False)
    def pilot_transition(
        request: Request,
        key: str,
        target: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        error: str | None = None
        status = 422
        try:
            with db.write() as s:
                pilot = _pilot_in_ws(s, ctx, ws, key)
                pilots.transition(s, ctx.actor, pilot.id, target, expected_version=_parse_id(version))
        except (PermissionDeniedError, NotFoundError):
            raise
        except OkrflowError as exc:
            error, status = exc.message, exc.http_status
        if error is None:
            if _is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": pilot_url(key)})
            return RedirectResponse(pilot_url(key), status_code=303)
        with db.read() as s:
            pilot = _pilot_in_ws(s, ctx, ws, key)
            data = _pilot_page_data(s, ctx, ws, pilot)
            if _is_htmx(request):
                return render(
                    request,
                    "_pilot_lifecycle.html",
                    ctx,
                    status_code=_form_status(request, status),
                    lifecycle_error=error,
                    **data,
                )
            decide = _decide_data(s, ctx, ws, pilot)
        return render(
            request,
            "pilot.html",
            ctx,
            status_code=status,
            nav="pilots",
            created=None,
            recorded=None,
            lifecycle_error=error,
            **data,
            **decide,
        )

    @app.post("/pilots/{key:path}/evaluate", response_class=HTMLResponse, include_in_schema=False)
    def pilot_evaluate(
        request: Request,
        key: str,
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        error: str | None = None
        status = 422
        evaluated: str | None = None
        try:
            with db.write() as s:
                pilot = _pilot_in_ws(s, ctx, ws, key)
                done = pilots.evaluate(s, ctx.actor, pilot.id, _now())
                evaluated = done.recommendation.action.value
        except (PermissionDeniedError, NotFoundError):
            raise
        except OkrflowError as exc:
            error, status = exc.message, exc.http_status
        if not _is_htmx(request) and error is None:
            return RedirectResponse(pilot_url(key), status_code=303)
        with db.read() as s:
            pilot = _pilot_in_ws(s, ctx, ws, key)
            decide = _decide_data(s, ctx, ws, pilot)
            decide["evaluated"] = evaluated
            decide["evaluate_error"] = error
            if _is_htmx(request):
                return render(
                    request,
                    "_pilot_decide.html",
                    ctx,
                    status_code=_form_status(request, status) if error else 200,
                    p=pilot,
                    **decide,
                )
            data = _pilot_page_data(s, ctx, ws, pilot)
        return render(
            request,
            "pilot.html",
            ctx,
            status_code=status,
            nav="pilots",
            created=None,
            recorded=None,
            lifecycle_error=None,
            **data,
            **decide,
        )

    @app.post("/pilots/{key:path}/decisions", response_class=HTMLResponse, include_in_schema=False)
    def pilot_decide(
        request: Request,
        key: str,
        title: Annotated[str, Form()] = "",
        decision: Annotated[str, Form()] = "",
        action: Annotated[str, Form()] = "",
        rationale: Annotated[str, Form()] = "",
        decided_by: Annotated[str, Form()] = "",
        review_on: Annotated[str, Form()] = "",
        extend_days: Annotated[str, Form()] = "",
        context: Annotated[str, Form()] = "",
        options: Annotated[str, Form()] = "",
        raci_responsible: Annotated[str, Form()] = "",
        raci_accountable: Annotated[str, Form()] = "",
        raci_consulted: Annotated[str, Form()] = "",
        raci_informed: Annotated[str, Form()] = "",
        link_kr: Annotated[str, Form()] = "",
        link_item: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        raci_text = {
            "responsible": raci_responsible,
            "accountable": raci_accountable,
            "consulted": raci_consulted,
            "informed": raci_informed,
        }
        form = {
            "title": title,
            "decision": decision,
            "action": action,
            "rationale": rationale,
            "decided_by": decided_by,
            "review_on": review_on,
            "extend_days": extend_days,
            "context": context,
            "options": options,
            "link_kr": link_kr,
            "link_item": link_item,
        } | {f"raci_{role}": text for role, text in raci_text.items()}
        with db.read() as s:
            pilot = _pilot_in_ws(s, ctx, ws, key)
            if not any(_can_write(ctx, ws, t) for t in _link_teams(s, pilot)):
                raise PermissionDeniedError(
                    "recording a decision on this pilot needs the contributor role on the team of the pilot or of "
                    "its key result or initiative"
                )
        errors: dict[str, str] = {}
        status = 422
        if pilot.status == "closed":
            errors["_form"] = f"pilot {pilot.key} is closed; to change its decision, supersede it in the decision log"
            status = 409
        review = _parse_date(review_on) if review_on.strip() else None
        if review_on.strip() and review is None:
            errors["review_on"] = "the review date is a date (YYYY-MM-DD)"
        days: int | None = None
        if extend_days.strip():
            try:
                days = int(extend_days.strip())
            except ValueError:
                errors["extend_days"] = "extend by a whole number of days"
        made: int | None = None
        if not errors:
            now = _now()
            links = []
            if link_kr and pilot.key_result_id is not None:
                links.append({"type": "key_result", "id": pilot.key_result_id})
            if link_item and pilot.work_item_id is not None:
                links.append({"type": "work_item", "id": pilot.work_item_id})
            try:
                with db.write() as s:
                    fresh = _pilot_in_ws(s, ctx, ws, key)  # still there and in this workspace
                    row = decisions.record_decision(
                        s,
                        ctx.actor,
                        ws.id,
                        title=title,
                        decision=decision,
                        decided_by=decided_by,
                        now=now,
                        context=context,
                        options=[line.strip() for line in options.splitlines() if line.strip()],
                        rationale=rationale,
                        raci={role: _names(text) for role, text in raci_text.items() if _names(text)} or None,
                        review_on=review,
                        links=links,
                        pilot_id=fresh.id,
                        action=action or None,
                        extend_days=days,
                    )
                    made = row.id
            except PermissionDeniedError:
                raise
            except OkrflowError as exc:
                errors[_error_field(exc, DECISION_FIELDS)] = exc.message
                status = exc.http_status
        if made is not None:
            target = f"{pilot_url(key)}?decision={made}#decided"
            if _is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        with db.read() as s:
            pilot = _pilot_in_ws(s, ctx, ws, key)
            decide = _decide_data(s, ctx, ws, pilot, form=form)
            decide["derrors"] = errors
            if _is_htmx(request):
                return render(
                    request,
                    "_pilot_decide.html",
                    ctx,
                    status_code=_form_status(request, status),
                    p=pilot,
                    **decide,
                )
            data = _pilot_page_data(s, ctx, ws, pilot)
        return render(
            request,
            "pilot.html",
            ctx,
            status_code=status,
            nav="pilots",
            created=None,
            recorded=None,
            lifecycle_error=None,
            **data,
            **decide,
        )

    # ---------------------------------------------------------------- decisions

    @app.get("/decisions", response_class=HTMLResponse, include_in_schema=False)
    def decisions_page(
        request: Request,
        pilot: str = "",
        action: str = "",
        by: str = "",
        since: str = "",
        until: str = "",
        q: str = "",
        current: str = "",
        due: str = "",
    ) -> Response:
        ctx = _current(request)
        ws = _require_workspace(ctx)
        query = DecisionQuery(
            pilot.strip(), action.strip(), by.strip(), since.strip(), until.strip(), q.strip(), current, due
        )
        with _db(request).read() as s:
            data = _decisions_data(s, ctx, ws, query)
        if _is_htmx(request) and request.headers.get("HX-Target") == RESULTS_TARGET:
            clean = query.params()
            push = f"/decisions?{clean}" if clean else "/decisions"
            return render(request, "_decision_results.html", ctx, headers={"HX-Push-Url": push}, **data)
        return render(request, "decisions.html", ctx, nav="decisions", **data)

    @app.get("/decisions/{decision_id}", response_class=HTMLResponse, include_in_schema=False)
    def decision_page(request: Request, decision_id: int, superseded: str | None = None) -> Response:
        ctx = _current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            d = _decision_in_ws(s, ctx, ws, decision_id)
            data = _decision_page_data(s, ctx, ws, d)
        return render(request, "decision.html", ctx, nav="decisions", just_superseded=superseded, **data)

    @app.post("/decisions/{decision_id}/supersede", response_class=HTMLResponse, include_in_schema=False)
    def decision_supersede(
        request: Request,
        decision_id: int,
        title: Annotated[str, Form()] = "",
        decision: Annotated[str, Form()] = "",
        action: Annotated[str, Form()] = "",
        rationale: Annotated[str, Form()] = "",
        decided_by: Annotated[str, Form()] = "",
        review_on: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = _current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        form = {
            "title": title,
            "decision": decision,
            "action": action,
            "rationale": rationale,
            "decided_by": decided_by,
            "review_on": review_on,
        }
        with db.read() as s:
            old = _decision_in_ws(s, ctx, ws, decision_id)
            if not _can_supersede(s, ctx, ws, old):
                raise PermissionDeniedError(
                    "superseding this decision needs the contributor role on the team of a linked item"
                )
        errors: dict[str, str] = {}
        status = 422
        review = _parse_date(review_on) if review_on.strip() else None
        if review_on.strip() and review is None:
            errors["review_on"] = "the review date is a date (YYYY-MM-DD)"
        made: int | None = None
        if not errors:
            changes: dict[str, Any] = {
                "title": title,
                "decision": decision,
                "rationale": rationale,
                "decided_by": decided_by,
                "review_on": review,
            }
            if old.pilot_id is not None:
                changes["action"] = action or None
            now = _now()
            try:
                with db.write() as s:
                    made = decisions.supersede(s, ctx.actor, decision_id, changes, now=now).id
            except PermissionDeniedError:
                raise
            except OkrflowError as exc:
                errors[_error_field(exc, DECISION_FIELDS)] = exc.message
                status = exc.http_status
        if made is not None:
            target = f"/decisions/{made}?superseded={decision_id}"
            if _is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        with db.read() as s:
            old = _decision_in_ws(s, ctx, ws, decision_id)
            data = _decision_page_data(s, ctx, ws, old)
            data["sform"], data["serrors"] = form, errors
        template = "_decision_supersede.html" if _is_htmx(request) else "decision.html"
        return render(
            request,
            template,
            ctx,
            status_code=_form_status(request, status),
            nav="decisions",
            just_superseded=None,
            **data,
        )


_current = current  # the /decisions route has a ``current`` query parameter


__all__ = [
    "DecisionQuery",
    "fmt_effect",
    "fmt_p",
    "hypothesis_sentence",
    "install",
    "metric_view",
    "readout_views",
]
