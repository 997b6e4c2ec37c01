"""Web pages of the work slice: work items (filterable, paged) and one work item (hierarchy, history timeline,
the key results it serves, link/unlink), sources with their sync runs ("Sync now", "Test connection", file
upload), and traceability (the Objective × KR × KPI × work item matrix, its CSV, "link from labels", and the
unaligned-work share per team: work that serves no objective).

Everything goes through the services (``work``, ``sources``, ``imports``, ``sync``, ``file_import``,
``traceability``); no inline script or style (strict CSP), bars are ``<progress>`` elements styled in CSS.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, File, Form, Header, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.domain.access import Permission
from okrflow.domain.errors import NotFoundError, OkrflowError, PermissionDeniedError
from okrflow.domain.work import FlowItemType, Level, Step
from okrflow.services import file_import, imports, okr, sources, sync, tenancy, traceability, work
from okrflow.services.source_check import ConnectionCheck
from okrflow.store.models import Workspace
from okrflow.store.models_okr import KeyResult, Objective, Period
from okrflow.store.models_work import Source, SyncRun, WorkItem
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

MATRIX_COLUMNS = (
    "objective_id", "objective", "key_result_id", "key_result", "metric", "item_key", "item_title", "item_level",
    "item_status", "via",
)  # fmt: skip
RUNS_SHOWN = 8
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_SUFFIXES = (".csv", ".json")
STEP_NAMES = [s.value for s in Step]


def _now() -> datetime:
    return datetime.now(UTC)


def fmt_days(days: float | None) -> str:
    """A duration in days for people: hours under a day, one decimal under ten days, whole days above."""
    if days is None:
        return "—"
    if days < 1:
        return f"{max(0, round(days * 24))} h"
    if days < 10:
        return f"{days:.1f} d"
    return f"{round(days)} d"


def fmt_duration(run: SyncRun) -> str:
    if run.finished_at is None or run.started_at is None:
        return "running" if run.status == "running" else "—"
    seconds = (run.finished_at - run.started_at).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def safe_url(url: str | None) -> str | None:
    """Only http(s) links to a source (an imported URL could carry ``javascript:``)."""
    if not url:
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


templates.env.filters["days"] = fmt_days
templates.env.filters["duration"] = fmt_duration
templates.env.filters["safe_url"] = safe_url
templates.env.globals["STEP_NAMES"] = STEP_NAMES


# ------------------------------------------------------------------ shared


def _can_write_ws(ctx: Ctx, ws: Workspace) -> bool:
    return ctx.actor.can(Permission.WRITE, ws.id)


def _item_in_ws(session: Session, ctx: Ctx, ws: Workspace, item_id: int) -> WorkItem:
    item = traceability.get_item(session, ctx.actor, item_id)
    if item.workspace_id != ws.id:
        raise NotFoundError(f"work item {item_id} is not in workspace {ws.name}; switch workspace first")
    return item


def _running_quarter(session: Session, ws: Workspace, today: date) -> Period | None:
    return okr.current_period(session, ws.id, today) or okr.current_period(session, ws.id, today, kind="year")


# ------------------------------------------------------------------ /work


@dataclass
class WorkQuery:
    team: str = ""
    source: str = ""
    level: str = ""
    type: str = ""
    status: str = ""
    step: str = ""
    unaligned: str = ""
    q: str = ""
    page: int = 1

    def as_filter(self) -> work.WorkFilter:
        return work.WorkFilter(
            team_id=_parse_id(self.team),
            source_id=_parse_id(self.source),
            level=self.level or None,
            flow_type=self.type or None,
            status=self.status or None,
            step=self.step or None,
            unaligned=self.unaligned in ("1", "on", "true"),
            q=self.q[:200],
        )

    def params(self, **override: Any) -> str:
        values = {
            "team": self.team,
            "source": self.source,
            "level": self.level,
            "type": self.type,
            "status": self.status,
            "step": self.step,
            "unaligned": "1" if self.as_filter().unaligned else "",
            "q": self.q,
            "page": str(self.page) if self.page > 1 else "",
        }
        values.update({k: str(v) for k, v in override.items()})
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def active(self) -> bool:
        return bool(self.params(page=""))


def _work_data(session: Session, ctx: Ctx, ws: Workspace, query: WorkQuery) -> dict[str, Any]:
    page = work.list_items(session, ctx.actor, ws.id, query.as_filter(), page=query.page, now=_now())
    teams = tenancy.list_teams(session, ctx.actor, ws.id)
    return {
        "query": query,
        "result": page,
        "team_tree": team_tree(teams),
        "sources": sources.list_sources(session, ctx.actor, ws.id),
        "levels": [lv.value for lv in Level],
        "flow_types": [t.value for t in FlowItemType],
        "choices": work.filter_choices(session, ctx.actor, ws.id),
    }


def _kr_options(session: Session, ctx: Ctx, ws: Workspace, item: WorkItem) -> list[tuple[Objective, list[KeyResult]]]:
    """Key results the user may link this item to, grouped by objective (running periods first)."""
    item_writable = ctx.actor.can(Permission.WRITE, ws.id, item.team_id)
    today = _now().date()
    periods = {p.id: p for p in okr.list_periods(session, ctx.actor, ws.id)}
    objectives = list(session.scalars(select(Objective).where(Objective.workspace_id == ws.id)))

    def rank(o: Objective) -> tuple[int, date, int]:
        p = periods.get(o.period_id)
        running = p is not None and p.start_date <= today <= p.end_date
        return (0 if running else 1, -(p.start_date.toordinal()) if p else 0, o.id)  # type: ignore[return-value]

    out = []
    for obj in sorted(objectives, key=rank):
        if not (item_writable or ctx.actor.can(Permission.WRITE, ws.id, obj.team_id)):
            continue
        krs = list(
            session.scalars(
                select(KeyResult).where(KeyResult.objective_id == obj.id).order_by(KeyResult.position, KeyResult.id)
            )
        )
        if krs:
            out.append((obj, krs))
    return out


def _item_data(session: Session, ctx: Ctx, ws: Workspace, item_id: int) -> dict[str, Any]:
    _item_in_ws(session, ctx, ws, item_id)
    detail = work.item_detail(session, ctx.actor, item_id, now=_now())
    options = _kr_options(session, ctx, ws, detail.item)
    item_writable = ctx.actor.can(Permission.WRITE, ws.id, detail.item.team_id)
    objectives = {o.id: o for o in session.scalars(select(Objective).where(Objective.workspace_id == ws.id))}
    periods = {p.id: p.name for p in okr.list_periods(session, ctx.actor, ws.id)}
    can_unlink = {
        sv.key_result.id
        for sv in detail.serves
        if sv.via is None
        and (item_writable or ctx.actor.can(Permission.WRITE, ws.id, objectives[sv.objective.id].team_id))
    }
    linked = {sv.key_result.id for sv in detail.serves if sv.via is None}
    return {
        "d": detail,
        "kr_options": options,
        "can_link": bool(options),
        "can_unlink": can_unlink,
        "linked_ids": linked,
        "period_names": periods,
    }


# ------------------------------------------------------------------ /sources


def _source_row(session: Session, ctx: Ctx, src: Source, team_names: dict[int, str]) -> dict[str, Any]:
    runs = imports.list_runs(session, ctx.actor, src.id, limit=RUNS_SHOWN)
    return {
        "source": src,
        "team": team_names.get(src.team_id) if src.team_id else None,
        "runs": runs,
        "last": runs[0] if runs else None,
        "settings_text": _settings_text(src),
    }


def _settings_text(src: Source) -> list[tuple[str, str]]:
    """The non-secret settings worth showing (JQL, repository, project …), as short strings."""
    out = []
    for key, value in sorted((src.settings or {}).items()):
        if key in sources.CONNECTOR_KEPT_SETTINGS or any(
            word in key.lower() for word in ("token", "secret", "password", "credential")
        ):
            continue
        text = value if isinstance(value, str) else str(value)
        out.append((key, text if len(text) <= 120 else text[:117] + "…"))
    return out[:6]


def _sources_data(session: Session, ctx: Ctx, ws: Workspace) -> dict[str, Any]:
    teams = {t.id: t.name for t in tenancy.list_teams(session, ctx.actor, ws.id)}
    rows = [_source_row(session, ctx, src, teams) for src in sources.list_sources(session, ctx.actor, ws.id)]
    data = {"rows": rows, "can_sync": ctx.is_admin, "can_upload": _can_write_ws(ctx, ws)}
    if ctx.is_admin:  # the add and configure forms
        from okrflow.web.source_edit_routes import form_context

        data |= form_context(session, ctx, ws) | {"can_configure": True}
    return data


def source_in_ws(s: Session, ctx: Ctx, ws: Workspace, source_id: int) -> Source:
    """The source, if it belongs to the workspace in view (else 404)."""
    src = sources.get_source(s, ctx.actor, source_id)
    if src.workspace_id != ws.id:
        raise NotFoundError(f"source {source_id} is not in workspace {ws.name}; switch workspace first")
    return src


def source_response(
    request: Request, ctx: Ctx, ws: Workspace, source_id: int, outcome: dict[str, Any], status: int | None = None
) -> Response:
    """A source's card with the outcome of an action on it (HTMX), or the whole /sources page with it. The status
    is ``status``, else 200, or the outcome's own (422) when it has an ``error``."""
    if status is None:
        status = _error_status(request, int(outcome.get("status", 422))) if outcome.get("error") else 200
    with _db(request).read() as s:
        data = _sources_data(s, ctx, ws)
    if _is_htmx(request):
        row = next((r for r in data["rows"] if r["source"].id == source_id), None)
        if row is None:
            raise NotFoundError(f"source {source_id} does not exist")
        return render(request, "_source_card.html", ctx, status_code=status, row=row, outcome=outcome, **data)
    return render(
        request, "sources.html", ctx, status_code=status, nav="sources", outcomes={source_id: outcome}, **data
    )


# ------------------------------------------------------------------ /trace


@dataclass
class KrGroup:
    kr_id: int | None
    title: str | None
    metric: str | None
    direct: list[traceability.MatrixRow]
    inherited: list[traceability.MatrixRow]

    @property
    def carriers(self) -> list[str]:
        seen: dict[str, int] = {}
        for r in self.inherited:
            seen[r.via or "?"] = seen.get(r.via or "?", 0) + 1
        return [f"{k} ({n})" for k, n in seen.items()]


@dataclass
class ObjectiveGroup:
    objective_id: int
    title: str
    krs: list[KrGroup]

    @property
    def items(self) -> int:
        return sum(len(k.direct) + len(k.inherited) for k in self.krs)


def group_matrix(rows: list[traceability.MatrixRow]) -> list[ObjectiveGroup]:
    groups: dict[int, ObjectiveGroup] = {}
    krs: dict[tuple[int, int | None], KrGroup] = {}
    for r in rows:
        g = groups.setdefault(r.objective_id, ObjectiveGroup(r.objective_id, r.objective, []))
        key = (r.objective_id, r.key_result_id)
        if key not in krs:
            krs[key] = KrGroup(r.key_result_id, r.key_result, r.metric_key, [], [])
            g.krs.append(krs[key])
        if r.item_id is not None:
            (krs[key].inherited if r.via else krs[key].direct).append(r)
    return list(groups.values())


def _period_choice(session: Session, ctx: Ctx, ws: Workspace, raw: str | None) -> tuple[list[Period], Period | None]:
    periods = okr.list_periods(session, ctx.actor, ws.id)
    chosen = next((p for p in periods if str(p.id) == (raw or "")), None)
    if chosen is None and raw != "all":
        chosen = _running_quarter(session, ws, _now().date())
    return periods, chosen


def _unaligned(session: Session, ctx: Ctx, ws: Workspace, period: Period | None) -> dict[str, Any]:
    shares = traceability.unaligned_share(session, ctx.actor, ws.id, period.id, now=_now()) if period else []
    items = sum(s.items for s in shares)
    unaligned_items = sum(s.unaligned_items for s in shares)
    flow = sum(s.flow_days for s in shares)
    unaligned_flow = sum(s.unaligned_flow_days for s in shares)
    return {
        "shares": sorted(shares, key=lambda s: -(s.share_by_flow_time or 0)),
        "total_items": items,
        "total_unaligned_items": unaligned_items,
        "total_flow_days": flow,
        "total_unaligned_flow_days": unaligned_flow,
        "share_by_count": unaligned_items / items if items else None,
        "share_by_flow": unaligned_flow / flow if flow else None,
        "flow_level": traceability.flow_level(session, ws.id),
    }


def _trace_data(session: Session, ctx: Ctx, ws: Workspace, period_raw: str | None) -> dict[str, Any]:
    periods, period = _period_choice(session, ctx, ws, period_raw)
    rows = traceability.matrix(session, ctx.actor, ws.id, period.id if period else None)
    groups = group_matrix(rows)
    return {
        "periods": periods,
        "period": period,
        "period_param": str(period.id) if period else "all",
        "groups": groups,
        "linked_items": len({r.item_id for r in rows if r.item_id is not None}),
        "unaligned": _unaligned(session, ctx, ws, period),
        "can_autolink": _can_write_ws(ctx, ws),
    }


def matrix_csv(rows: list[traceability.MatrixRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MATRIX_COLUMNS)
    attributes = [{"metric": "metric_key"}.get(c, c) for c in MATRIX_COLUMNS]
    for r in rows:
        writer.writerow(["" if getattr(r, a) is None else getattr(r, a) for a in attributes])
    return buffer.getvalue()


# ------------------------------------------------------------------ home


def home_work_summary(session: Session, ctx: Ctx, ws: Workspace) -> dict[str, Any]:
    """The home cards: the unaligned share of flow time in the running quarter, and the last sync run."""
    period = _running_quarter(session, ws, _now().date())
    unaligned = _unaligned(session, ctx, ws, period)
    last = work.last_run(session, ctx.actor, ws.id)
    has_work = session.scalar(select(WorkItem.id).where(WorkItem.workspace_id == ws.id).limit(1)) is not None
    return {"period": period, "unaligned": unaligned, "last": last, "has_work": has_work}


# ------------------------------------------------------------------ routes


def _upload_name(name: str | None, index: int) -> str:
    """A safe file name for the temporary copy (the reader names files in its messages)."""
    base = Path(name or "").name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or f"upload-{index}.csv"
    return base[:100]


def install(app: FastAPI) -> None:
    # ---------------------------------------------------------------- work items

    @app.get("/work", response_class=HTMLResponse, include_in_schema=False)
    def work_page(
        request: Request,
        team: str = "",
        source: str = "",
        level: str = "",
        type: str = "",
        status: str = "",
        step: str = "",
        unaligned: str = "",
        q: str = "",
        page: int = 1,
    ) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        query = WorkQuery(team, source, level, type, status, step, unaligned, q, max(1, page))
        with _db(request).read() as s:
            data = _work_data(s, ctx, ws, query)
        if _is_htmx(request) and request.headers.get("HX-Target") == "work-results":
            clean = query.params()  # the bookmarkable URL, without the empty fields htmx sends
            push = f"/work?{clean}" if clean else "/work"
            return render(request, "_work_results.html", ctx, headers={"HX-Push-Url": push}, **data)
        return render(request, "work.html", ctx, nav="work", **data)

    @app.get("/work/{item_id}", response_class=HTMLResponse, include_in_schema=False)
    def work_item_page(request: Request, item_id: int) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            data = _item_data(s, ctx, ws, item_id)
        return render(request, "work_item.html", ctx, nav="work", message=None, error=None, **data)

    def _links_response(request: Request, ctx: Ctx, ws: Workspace, item_id: int, **extra: Any) -> Response:
        error = extra.get("error")
        if not _is_htmx(request) and not error:
            return RedirectResponse(f"/work/{item_id}", status_code=303)
        with _db(request).read() as s:
            data = _item_data(s, ctx, ws, item_id)
        template = "_work_links.html" if _is_htmx(request) else "work_item.html"
        status = _error_status(request, extra.pop("status", 422)) if error else 200
        extra.setdefault("message", None)
        extra.setdefault("error", None)
        return render(request, template, ctx, status_code=status, nav="work", **data, **extra)

    @app.post("/work/{item_id}/links", response_class=HTMLResponse, include_in_schema=False)
    def work_link(
        request: Request,
        item_id: int,
        kr_id: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        kr = _parse_id(kr_id)
        if kr is None:
            return _links_response(request, ctx, ws, item_id, error="choose a key result to link")
        try:
            with _db(request).write() as s:
                _item_in_ws(s, ctx, ws, item_id)
                traceability.link(s, ctx.actor, item_id, kr)
        except PermissionDeniedError:
            raise
        except OkrflowError as exc:
            if isinstance(exc, NotFoundError) and "work item" in exc.message:
                raise
            return _links_response(request, ctx, ws, item_id, error=exc.message, status=exc.http_status)
        return _links_response(request, ctx, ws, item_id, message=f"Linked to KR-{kr}.")

    @app.post("/work/{item_id}/links/{kr_id}/delete", response_class=HTMLResponse, include_in_schema=False)
    def work_unlink(
        request: Request,
        item_id: int,
        kr_id: int,
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        try:
            with _db(request).write() as s:
                _item_in_ws(s, ctx, ws, item_id)
                traceability.unlink(s, ctx.actor, item_id, kr_id)
        except PermissionDeniedError:
            raise
        except OkrflowError as exc:
            if isinstance(exc, NotFoundError) and "work item" in exc.message and "linked" not in exc.message:
                raise
            return _links_response(request, ctx, ws, item_id, error=exc.message, status=exc.http_status)
        return _links_response(request, ctx, ws, item_id, message=f"Unlinked from KR-{kr_id}.")

    # ---------------------------------------------------------------- sources and sync runs

    @app.get("/sources", response_class=HTMLResponse, include_in_schema=False)
    def sources_page(request: Request) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            data = _sources_data(s, ctx, ws)
        return render(request, "sources.html", ctx, nav="sources", outcomes={}, **data)

    @app.post("/sources/{source_id}/sync", response_class=HTMLResponse, include_in_schema=False)
    def source_sync(
        request: Request,
        source_id: int,
        full: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        with db.read() as s:
            source_in_ws(s, ctx, ws, source_id)
        if not ctx.is_admin:
            raise PermissionDeniedError("running a sync from the web needs the admin role")
        try:
            summary = sync.run(db, ctx.actor, source_id, full=full in ("1", "on", "true"), publish=True)
        except PermissionDeniedError:
            raise
        except OkrflowError as exc:
            errors = [str(e) for e in exc.details.get("errors", [])][:50]
            outcome = {"kind": "sync", "error": exc.message, "errors": errors, "status": exc.http_status}
            return source_response(request, ctx, ws, source_id, outcome)
        outcome = {
            "kind": "sync",
            "message": (
                f"Sync finished: {summary.created} created, {summary.updated} updated, "
                f"{summary.unchanged} unchanged ({summary.fetched} read in {summary.duration_seconds:.1f} s)."
                + (
                    f" Flow and DORA metrics published to the KPI catalog ({summary.published.created:,} new, "
                    f"{summary.published.updated:,} changed values)."
                    if summary.published
                    else ""
                )
            ),
            "warnings": summary.warnings[:20],
        }
        if not _is_htmx(request):
            return RedirectResponse("/sources", status_code=303)
        return source_response(request, ctx, ws, source_id, outcome)

    @app.post("/sources/{source_id}/test", response_class=HTMLResponse, include_in_schema=False)
    def source_test(
        request: Request,
        source_id: int,
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        """The "Test connection" button: HTMX swaps in the result (green or red, with the reason); a plain POST
        gets the whole page with the result on the source's card. A failed check is a result (200), not an error;
        a files source is a 422."""
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        with db.read() as s:
            kind = source_in_ws(s, ctx, ws, source_id).kind
        if not ctx.is_admin:
            raise PermissionDeniedError("testing a connection from the web needs the admin role")
        status = 200
        try:
            check = sources.test_connection(db, ctx.actor, source_id)
        except PermissionDeniedError:
            raise
        except OkrflowError as exc:  # a files source: nothing to connect to
            check = ConnectionCheck(ok=False, kind=kind, message=exc.message)
            status = exc.http_status
        if not _is_htmx(request):  # the whole page, the result on the source's card
            return source_response(request, ctx, ws, source_id, {"kind": "test", "connection": check}, status)
        code = 200 if status == 200 else _error_status(request, status)
        return render(request, "_connection_result.html", ctx, status_code=code, check=check)

    @app.post("/sources/{source_id}/upload", response_class=HTMLResponse, include_in_schema=False)
    async def source_upload(
        request: Request,
        source_id: int,
        files: Annotated[list[UploadFile] | None, File()] = None,
        timezone: Annotated[str, Form()] = "UTC",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        from starlette.concurrency import run_in_threadpool

        ctx = await run_in_threadpool(current, request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)

        def check() -> Source:
            with db.read() as s:
                return source_in_ws(s, ctx, ws, source_id)

        src = await run_in_threadpool(check)
        if not _can_write_ws(ctx, ws):
            raise PermissionDeniedError("importing files needs the contributor role for the whole workspace")
        chosen = [f for f in (files or []) if f.filename]
        error: str | None = None
        if src.kind != "files":
            error = f"source {src.name!r} is of kind {src.kind!r}; upload files to a files source"
        elif not chosen:
            error = "choose one or more CSV or JSON files"
        elif any(not (f.filename or "").lower().endswith(UPLOAD_SUFFIXES) for f in chosen):
            error = "only .csv and .json files can be imported"
        if error:
            outcome = {"kind": "upload", "error": error, "errors": []}
            return await run_in_threadpool(source_response, request, ctx, ws, source_id, outcome)
        with tempfile.TemporaryDirectory(prefix="okrflow-upload-") as tmp:
            paths: list[Path] = []
            total = 0
            for i, f in enumerate(chosen):
                data = await f.read(MAX_UPLOAD_BYTES + 1)
                total += len(data)
                if total > MAX_UPLOAD_BYTES:
                    outcome = {"kind": "upload", "error": "the files are larger than 20 MB together", "errors": []}
                    return await run_in_threadpool(source_response, request, ctx, ws, source_id, outcome)
                name = _upload_name(f.filename, i)
                while any(p.name == name for p in paths):
                    name = f"{i}-{name}"
                path = Path(tmp) / name
                path.write_bytes(data)
                paths.append(path)

            def run_import() -> dict[str, Any]:
                try:
                    res = file_import.import_files(db, ctx.actor, source_id, paths, timezone=timezone or "UTC")
                except PermissionDeniedError:
                    raise
                except OkrflowError as exc:
                    errs = [str(e) for e in exc.details.get("errors", [])]
                    n = len(errs)
                    them = "them" if n != 1 else "it"
                    head = f"{n} problem{'s' if n != 1 else ''} in the files; fix {them} and upload again"
                    return {
                        "kind": "upload",
                        "error": head if errs else exc.message,
                        "errors": errs[:200],
                        "more": max(0, len(errs) - 200),
                        "status": exc.http_status,
                    }
                parts = []
                if res.work:
                    w = res.work
                    parts.append(
                        f"work items: {w.created} created, {w.updated} updated, {w.unchanged} unchanged, "
                        f"{w.status_changes} status changes"
                    )
                if res.delivery:
                    d = res.delivery
                    parts.append(f"delivery records: {d.created} created, {d.updated} updated, {d.unchanged} unchanged")
                return {"kind": "upload", "message": "Imported " + "; ".join(parts) + "."}

            outcome = await run_in_threadpool(run_import)
        if not outcome.get("error") and not _is_htmx(request):
            return RedirectResponse("/sources", status_code=303)
        return await run_in_threadpool(source_response, request, ctx, ws, source_id, outcome)

    # ---------------------------------------------------------------- traceability

    @app.get("/trace", response_class=HTMLResponse, include_in_schema=False)
    def trace_page(request: Request, period: str | None = None) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            data = _trace_data(s, ctx, ws, period)
        return render(request, "trace.html", ctx, nav="trace", autolink=None, **data)

    @app.get("/trace/matrix.csv", include_in_schema=False)
    def trace_csv(request: Request, period: str | None = None) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        with _db(request).read() as s:
            _periods, chosen = _period_choice(s, ctx, ws, period)
            rows = traceability.matrix(s, ctx.actor, ws.id, chosen.id if chosen else None)
        name = f"okrflow-trace-{ws.slug}-{chosen.name if chosen else 'all'}.csv"
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", name)
        return Response(
            matrix_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    @app.post("/trace/auto-link", response_class=HTMLResponse, include_in_schema=False)
    def trace_autolink(
        request: Request,
        period: Annotated[str, Form()] = "",
        csrf_token: Annotated[str, Form()] = "",
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        ctx = current(request)
        check_csrf(ctx, csrf_token, x_csrf_token)
        ws = _require_workspace(ctx)
        db = _db(request)
        with db.write() as s:
            made, problems = traceability.auto_link(s, ctx.actor, ws.id)
        result = {"made": made, "problems": problems[:100], "more": max(0, len(problems) - 100)}
        if _is_htmx(request):
            return render(request, "_trace_autolink.html", ctx, autolink=result, can_autolink=True, period_param=period)
        with db.read() as s:
            data = _trace_data(s, ctx, ws, period or None)
        return render(request, "trace.html", ctx, nav="trace", autolink=result, **data)


__all__ = ["fmt_days", "group_matrix", "home_work_summary", "install", "matrix_csv"]
