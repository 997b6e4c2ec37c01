"""The Mappings page (``/mappings``, a tab of the work pages): per source, the issue types and statuses stored for
it with what each maps to and where the rule comes from (the source's own mapping, the defaults of its kind, or
the fallback by status category), unmapped values first and highlighted, each with the YAML for okrflow.yaml;
admins map a value in place (``POST /mappings/{source_id}``, optimistically locked on the source's version).

The facts come from :mod:`okrflow.services.mapping_overview`, which takes what is unmapped from
``sources.mapping_report`` (the page says what ``okrflow mappings check`` says); the edit goes through
``sources.update_source`` (admin only, validated, audited, re-derives the levels of the source's items).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from okrflow.domain.errors import NotFoundError, OkrflowError, PermissionDeniedError, StaleVersionError
from okrflow.domain.work import FlowItemType, Level, Stage, Step
from okrflow.services import mapping_overview, sources
from okrflow.services.mapping_overview import SourceMappings, StatusRow, TypeRow, WorkspaceMappings
from okrflow.store.models import Workspace
from okrflow.store.models_work import Source
from okrflow.web import forms
from okrflow.web.routes import Ctx, _db, _error_status, _is_htmx, _require_workspace, current, render
from okrflow.web.work_routes import source_in_ws

LEVEL_CHOICES = [lv.value for lv in Level] + ["none"]
FLOW_TYPE_CHOICES = [t.value for t in FlowItemType]
STEP_CHOICES = [s.value for s in Step]
STAGE_CHOICES = [s.value for s in Stage]
TIME_CHOICES = ["active", "waiting"]
MAX_NAME = 200
KIND_SECTIONS = {"type": "types", "status": "statuses"}


@dataclass(frozen=True)
class ValueView:
    """One type or status row of a card, with what the page offers for it."""

    kind: str  # "type" | "status"
    row: TypeRow | StatusRow
    uid: str  # unique within the page, for element ids
    suggestion: dict[str, Any]  # preselected in the form and written in the YAML
    snippet: str  # the sources: entry with this one rule (unmapped and category-mapped values only)

    @property
    def needs_rule(self) -> bool:
        return self.row.rule is None or self.row.origin == "category"


@dataclass(frozen=True)
class Card:
    m: SourceMappings
    types: list[ValueView]
    statuses: list[ValueView]
    entry_yaml: str  # the source's whole okrflow.yaml entry, with suggested rules for every value needing one

    @property
    def source(self) -> Source:
        return self.m.source


def _card(m: SourceMappings) -> Card:
    src = m.source
    types, statuses = [], []
    extra: dict[str, dict[str, Any]] = {"types": {}, "statuses": {}}
    for i, t in enumerate(m.types):
        suggestion: dict[str, Any] = mapping_overview.suggest_type_rule(t.name) if t.unmapped else {}
        snippet = ""
        if t.unmapped:
            snippet = mapping_overview.rule_yaml(src, "types", t.name, suggestion)
            extra["types"][t.name] = suggestion
        types.append(ValueView("type", t, f"{src.id}-t{i}", suggestion, snippet))
    for i, st in enumerate(m.statuses):
        suggestion, snippet = {}, ""
        if st.state != "mapped":
            suggestion = mapping_overview.suggest_status_rule(st.name, st.rule)
            snippet = mapping_overview.rule_yaml(src, "statuses", st.name, suggestion)
            extra["statuses"][st.name] = suggestion
        statuses.append(ValueView("status", st, f"{src.id}-s{i}", suggestion, snippet))
    entry = mapping_overview.source_yaml(src, m.team_slug, extra) if (extra["types"] or extra["statuses"]) else ""
    return Card(m, types, statuses, entry)


def _card_order(m: SourceMappings) -> tuple[int, str]:
    """Sources with unmapped values first, then those with statuses mapped only by category, then the rest;
    sources with nothing imported yet last; by name within each group."""
    rank = 0 if m.unmapped else 1 if m.report.by_category else 2 if m.items else 3
    return (rank, m.source.name)


def _page_data(session: Session, ctx: Ctx, ws: Workspace) -> dict[str, Any]:
    overview: WorkspaceMappings = mapping_overview.workspace_mappings(session, ctx.actor, ws.id)
    return {
        "overview": overview,
        "cards": [_card(m) for m in sorted(overview.sources, key=_card_order)],
        "can_map": ctx.is_admin,
        "level_choices": LEVEL_CHOICES,
        "flow_type_choices": FLOW_TYPE_CHOICES,
        "step_choices": STEP_CHOICES,
        "stage_choices": STAGE_CHOICES,
    }


def parse_rule(
    kind: str, name: str, level: str, flow_type: str, step: str, stage: str, time: str
) -> tuple[str, str, dict[str, Any], dict[str, str]]:
    """The section, name and rule a map form asks for, and its mistakes by field (nothing is guessed)."""
    errors: dict[str, str] = {}
    name = " ".join(name.split())
    if not name:
        errors["_form"] = "the form names no type or status; reload the page and try again"
    elif len(name) > MAX_NAME:
        errors["_form"] = f"a type or status name is at most {MAX_NAME} characters"
    rule: dict[str, Any] = {}
    if kind == "type":
        if level not in LEVEL_CHOICES:
            errors["level"] = "choose a level: theme, initiative, epic, feature, story, task, or none (not a work item)"
        if flow_type not in FLOW_TYPE_CHOICES:
            errors["flow_type"] = "choose a flow-item type: feature, defect, risk or debt"
        rule = {"level": level, "flow_type": flow_type}
    elif kind == "status":
        if step not in STEP_CHOICES:
            errors["step"] = f"choose a value-stream step: {', '.join(STEP_CHOICES)}"
        if stage not in STAGE_CHOICES:
            errors["stage"] = f"choose a stage: {', '.join(STAGE_CHOICES)}"
        if time not in TIME_CHOICES:
            errors["time"] = "say whether time in this status is active work or waiting"
        rule = {"step": step, "stage": stage, "active": time == "active"}
    else:
        errors["_form"] = "the form maps neither a type nor a status; reload the page and try again"
    return KIND_SECTIONS.get(kind, ""), name, rule, errors


def _stale_message(exc: StaleVersionError) -> str:
    now = exc.details.get("current_version")
    at = f"; it is at version {now} now" if now else ""
    return (
        f"someone else changed this source since you opened the page (its mapping, settings or sync cursor{at}). "
        "Nothing was saved; the card now shows the current rules: map the value again if it is still unmapped"
    )


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def _done_message(kind: str, name: str, rule: dict[str, Any], m: SourceMappings | None) -> str:
    if kind == "type":
        level = rule["level"]
        what = "not a work item" if level == "none" else f"{level} · {rule['flow_type']}"
        n = next((t.items for t in (m.types if m else []) if t.name == name), 0)
        return f"Type “{name}” → {what}: {_items(n)} remapped."
    time = "active" if rule["active"] else "waiting"
    row = next((s for s in (m.statuses if m else []) if s.name == name), None)
    counts = f" ({_items(row.items_now)} in it now, {row.items_history} in history)" if row else ""
    return f"Status “{name}” → {rule['step']} · {rule['stage']} · {time}{counts}."


def install(app: FastAPI) -> None:
    @app.get("/mappings", response_class=HTMLResponse, include_in_schema=False)
    def mappings_page(request: Request) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            data = _page_data(s, ctx, ws)
        return render(request, "mappings.html", ctx, nav="work", outcomes={}, **data)

    @app.post("/mappings/{source_id}", response_class=HTMLResponse, include_in_schema=False)
    def mapping_save(
        request: Request,
        source_id: int,
        csrf_token: forms.CsrfToken = "",
        x_csrf_token: forms.CsrfHeader = None,
        kind: Annotated[str, Form()] = "",
        name: Annotated[str, Form()] = "",
        level: Annotated[str, Form()] = "",
        flow_type: Annotated[str, Form()] = "",
        step: Annotated[str, Form()] = "",
        stage: Annotated[str, Form()] = "",
        time: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        with db.read() as s:
            source_in_ws(s, ctx, ws, source_id)
        if not ctx.is_admin:
            raise PermissionDeniedError("mapping a type or status needs the admin role")
        section, name, rule, errors = parse_rule(kind, name, level, flow_type, step, stage, time)
        expected = forms.expected_version(version, errors)
        values = {"level": level, "flow_type": flow_type, "step": step, "stage": stage, "time": time}
        outcome: dict[str, Any] = {"kind": kind, "name": name, "values": values}
        status = 422
        if not errors:
            try:
                with db.write() as s:
                    src = sources.get_source(s, ctx.actor, source_id)
                    mapping = mapping_overview.with_rule(src.mapping, section, name, rule)
                    sources.update_source(s, ctx.actor, source_id, {"mapping": mapping}, expected_version=expected)
            except PermissionDeniedError:
                raise
            except StaleVersionError as exc:
                outcome["stale"] = _stale_message(exc)
                status = 412
            except OkrflowError as exc:
                errors["_form"] = exc.message
                status = exc.http_status
        if errors:
            outcome["errors"] = errors
        elif "stale" not in outcome:
            if not _is_htmx(request):
                return RedirectResponse(f"/mappings#mapping-source-{source_id}", status_code=303)
            outcome = {"mapped": (kind, name), "rule": rule}
        with db.read() as s:
            data = _page_data(s, ctx, ws)
        card = next((c for c in data["cards"] if c.source.id == source_id), None)
        if card is None:
            raise NotFoundError(f"source {source_id} does not exist")
        if "mapped" in outcome:
            outcome["message"] = _done_message(kind, name, rule, card.m)
            outcome["snippet"] = mapping_overview.rule_yaml(card.source, section, name, rule)
            code = 200
        else:
            code = 412 if "stale" in outcome else _error_status(request, status)
        if _is_htmx(request):
            return render(request, "_mapping_swap.html", ctx, status_code=code, card=card, outcome=outcome, **data)
        return render(
            request, "mappings.html", ctx, status_code=code, nav="work", outcomes={source_id: outcome}, **data
        )


__all__ = ["install", "parse_rule"]
