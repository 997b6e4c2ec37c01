"""Pilots: the one-page record (list, create, read, change under If-Match), its lifecycle, extensions, the 90-day
view; daily results (JSON or CSV, all-or-nothing), the statistics readout, and the exit-rule evaluation.

Exit rules, the hypothesis, guardrails, the split and the start are written before results are seen: editable in
draft only (409 afterwards). An extension is a decision: ``POST /pilots/{id}/extend`` records an extend decision
in the decision log. Contributors of the pilot's team (or of the whole workspace) write; members read. "Today" is
the server's clock (UTC).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from okrflow.api import tabular
from okrflow.api.deps import (
    CurrentActor,
    IfMatch,
    Paging,
    PathId,
    ReadSession,
    WriteSession,
    created,
    set_etag,
    set_location,
)
from okrflow.api.routers.decisions import decision_read, plain_json
from okrflow.api.schemas_okr import finite
from okrflow.api.schemas_pilots import (
    AwaitingDecisionRead,
    BayesianRead,
    ComparisonRead,
    DecisionRead,
    EffectRead,
    EvaluationRead,
    ExtendIn,
    MetricReadoutRead,
    NinetyDaysRead,
    PhaseRead,
    PilotCreate,
    PilotRead,
    PilotStatusName,
    PilotUpdate,
    PowerRead,
    ReadoutRead,
    ResultBatch,
    ResultRead,
    ResultsReportRead,
    SrmRead,
    SummaryRead,
    TransitionIn,
)
from okrflow.domain.errors import InvalidInputError
from okrflow.metrics import experiments as ex
from okrflow.services import decisions, pilots, records
from okrflow.store.models_pilots import Pilot, PilotEvaluation

router = APIRouter(tags=["pilots"])

RESULT_COLUMNS = ("day", "variant", "metric", "n", "conversions", "sum", "sum_squares")
REQUIRED_COLUMNS = ("day", "variant", "metric", "n")
Source = Annotated[str, Query(min_length=1, max_length=64, description="Where the numbers come from.")]


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ the record


def pilot_read(p: Pilot) -> PilotRead:
    effective = pilots.effective_end(p)
    values = {name: getattr(p, name) for name in PilotRead.model_fields if name != "timebox_effective_end"}
    return PilotRead.model_validate(values | {"timebox_effective_end": effective})


@router.get(
    "/workspaces/{workspace_id}/pilots",
    response_model=list[PilotRead],
    summary="Pilots of the workspace, oldest first; ?status= filters",
)
def list_pilots(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    page: Paging,
    response: Response,
    status: PilotStatusName | None = None,
) -> list[PilotRead]:
    found = pilots.list_pilots(session, actor, workspace_id, status=status)
    return [pilot_read(p) for p in page.apply(response, found)]


@router.get(
    "/workspaces/{workspace_id}/pilots/awaiting-decision",
    response_model=list[AwaitingDecisionRead],
    summary="Running pilots waiting for a decision: the latest stored evaluation recommends anything but continue, "
    "or the timebox (with extensions) is over; those whose timebox ends first first",
)
def pilots_awaiting_decision(
    workspace_id: PathId, actor: CurrentActor, session: ReadSession, page: Paging, response: Response
) -> list[AwaitingDecisionRead]:
    waiting = pilots.awaiting_decision(session, actor, workspace_id, _now())
    return [
        AwaitingDecisionRead(
            pilot=pilot_read(w.pilot),
            recommended=w.recommended,
            evaluated_at=w.evaluated_at,
            timebox_end=w.timebox_end,
            reason=w.reason,
        )
        for w in page.apply(response, waiting)
    ]


@router.post(
    "/workspaces/{workspace_id}/pilots",
    response_model=PilotRead,
    status_code=201,
    summary="A new pilot, in draft: problem, hypothesis, timebox, owner, scope, criteria, risks, guardrails, "
    "rollout, exit rules (checked by the domain; 422 names the field)",
)
def create_pilot(
    workspace_id: PathId,
    body: PilotCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> PilotRead:
    p = pilots.create_pilot(session, actor, workspace_id, **body.fields())
    return created(request, response, "get_pilot", pilot_read(p), pilot_id=p.id)


@router.get("/pilots/{pilot_id}", response_model=PilotRead, summary="A pilot's one-page record (ETag)")
def get_pilot(pilot_id: PathId, actor: CurrentActor, session: ReadSession, response: Response) -> PilotRead:
    p = pilots.get_pilot(session, actor, pilot_id)
    set_etag(response, p)
    return pilot_read(p)


@router.patch(
    "/pilots/{pilot_id}",
    response_model=PilotRead,
    summary="Change the record (If-Match); exit rules, hypothesis, guardrails, split and start only in draft",
)
def update_pilot(
    pilot_id: PathId,
    body: PilotUpdate,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> PilotRead:
    p = pilots.update_pilot(session, actor, pilot_id, body.changes(), expected_version=expected)
    set_etag(response, p)
    return pilot_read(p)


@router.post(
    "/pilots/{pilot_id}/transitions",
    response_model=PilotRead,
    summary="Move the pilot: draft → running → decided → closed (a draft may be closed); If-Match optional",
)
def transition_pilot(
    pilot_id: PathId,
    body: TransitionIn,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> PilotRead:
    p = pilots.transition(session, actor, pilot_id, body.to, expected_version=expected)
    set_etag(response, p)
    return pilot_read(p)


@router.post(
    "/pilots/{pilot_id}/extend",
    response_model=DecisionRead,
    status_code=201,
    summary="Extend the timebox: records an extend decision in the decision log (days default to what the latest "
    "evaluation recommended; a rationale is needed when it recommended something else); If-Match optional",
)
def extend_pilot(
    pilot_id: PathId,
    body: ExtendIn,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    request: Request,
    response: Response,
) -> DecisionRead:
    p = pilots.get_pilot(session, actor, pilot_id)
    records.check_version(p, expected, "pilot")
    how = f"by {body.days} days" if body.days else "as the latest evaluation recommends"
    try:
        d = decisions.record_decision(
            session,
            actor,
            p.workspace_id,
            title=body.title or f"Extend pilot {p.key}",
            decision=body.decision or f"Extend the timebox of pilot {p.key} {how}",
            decided_by=body.decided_by,
            now=_now(),
            context=body.context,
            rationale=body.rationale,
            review_on=body.review_on,
            pilot_id=p.id,
            action="extend",
            extend_days=body.days,
        )
    except InvalidInputError as exc:
        if exc.details.get("field") != "extend_days":
            raise
        raise InvalidInputError(exc.message.replace("(extend_days)", "(days)"), field="days") from None
    set_location(request, response, "get_decision", decision_id=d.id)
    return decision_read(d, None)


@router.get(
    "/pilots/{pilot_id}/ninety-days",
    response_model=NinetyDaysRead,
    summary="The 90-day view: define (month 1), pilot (month 2: the timebox starts), scale or retire (month 3)",
)
def ninety_days(pilot_id: PathId, actor: CurrentActor, session: ReadSession) -> NinetyDaysRead:
    windows = pilots.ninety_days(session, actor, pilot_id)
    today = _now().date()
    current = next((w.phase.value for w in windows if w.start <= today <= w.end), None)
    return NinetyDaysRead(
        pilot_id=pilot_id,
        phases=[PhaseRead(phase=w.phase.value, start=w.start, end=w.end) for w in windows],
        today=today,
        current_phase=current,
    )


# ------------------------------------------------------------------ results


def _report(report: pilots.ResultsReport) -> ResultsReportRead:
    total = report.created + report.updated + report.unchanged
    return ResultsReportRead(created=report.created, updated=report.updated, unchanged=report.unchanged, total=total)


def _row_error(message: str) -> dict[str, Any]:
    """``"line 3: unknown variant 'b'"`` of a JSON batch → ``{"row": 3, "field": "rows.2", "message", "type"}``."""
    item = tabular.line_error(message)
    if item["line"] is None:
        return item | {"row": None, "field": "rows"}
    row = item.pop("line")
    return item | {"row": row, "field": f"rows.{row - 1}", "type": "invalid_row"}


@router.post(
    "/pilots/{pilot_id}/results",
    response_model=ResultsReportRead,
    summary="Record daily results per variant and metric (upsert by day, variant, metric; all-or-nothing: any bad "
    "row → 422 listing every bad row, nothing written)",
)
def record_results(
    pilot_id: PathId, body: ResultBatch, actor: CurrentActor, session: WriteSession
) -> ResultsReportRead:
    rows = [r.model_dump() for r in body.rows]
    try:
        report = pilots.record_results(session, actor, pilot_id, rows, source=body.source)
    except InvalidInputError as exc:
        errors = exc.details.get("errors")
        if not isinstance(errors, list):
            raise
        raise InvalidInputError(exc.message, errors=[_row_error(e) for e in errors]) from None
    return _report(report)


def _whole(text: str) -> Any:
    """A count cell: an int when it is one (``12``, ``12.0``, ``1e3``), else the text or number as given so the
    service reports the line."""
    value = _number(text)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _number(text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_results_csv(text: str) -> tuple[list[dict[str, Any]], list[int]]:
    """Rows of a results file and their line numbers; the columns are named by the header (in any order):
    day, variant, metric, n, and conversions or sum and sum_squares. Values are checked by the service."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InvalidInputError("the file is empty; the first line names the columns", field="file") from None
    except csv.Error as exc:
        raise InvalidInputError(f"line 1: {exc}", field="file") from None
    unknown = [h for h in header if h not in RESULT_COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if unknown or missing or len(set(header)) != len(header):
        what = (
            f"unknown column {unknown[0]!r}"
            if unknown
            else f"missing column {missing[0]!r}"
            if missing
            else "a column appears twice"
        )
        raise InvalidInputError(f"{what}; the columns are {', '.join(RESULT_COLUMNS)}", field="file")
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    structural: list[str] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                structural.append(f"line {reader.line_num}: {len(cells)} cells, the header names {len(header)}")
                continue
            raw = dict(zip(header, cells, strict=True))
            row: dict[str, Any] = {c: None for c in RESULT_COLUMNS}
            row |= {"day": raw["day"].strip(), "variant": raw["variant"], "metric": raw["metric"]}
            row["n"] = _whole(raw["n"])
            for name in ("conversions", "sum", "sum_squares"):
                if name in raw:
                    row[name] = _number(raw[name])
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        structural.append(f"line {reader.line_num}: {exc}")
    if structural:
        raise InvalidInputError(
            f"{len(structural)} line(s) cannot be read, nothing stored: {'; '.join(structural[:5])}",
            errors=[tabular.line_error(e) for e in structural],
        )
    if not rows:
        raise InvalidInputError("the file has no result rows", field="file")
    return rows, lines


@router.post(
    "/pilots/{pilot_id}/results/csv",
    response_model=ResultsReportRead,
    summary="Record results from CSV (day,variant,metric,n,conversions,sum,sum_squares): a text/csv body or the "
    "'file' field of a multipart upload; any bad line → 422 listing every bad line, nothing written",
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            }
        }
    },
)
def record_results_csv(
    pilot_id: PathId,
    actor: CurrentActor,
    session: WriteSession,
    text: Annotated[str, Depends(tabular.csv_body)],
    source: Source = "csv",
) -> ResultsReportRead:
    p = pilots.get_pilot(session, actor, pilot_id)  # 404 and 403 before any complaint about the file
    pilots._write_check(actor, p.workspace_id, p.team_id, "recording pilot results")
    rows, lines = parse_results_csv(text)
    try:
        report = pilots.record_results(session, actor, pilot_id, rows, source=source, lines=lines)
    except InvalidInputError as exc:
        errors = exc.details.get("errors")
        if not isinstance(errors, list):
            raise
        raise InvalidInputError(exc.message, errors=[tabular.line_error(e) for e in errors]) from None
    return _report(report)


@router.get(
    "/pilots/{pilot_id}/results",
    response_model=list[ResultRead],
    responses=tabular.CSV_RESPONSE,
    summary="The stored daily results by day, metric, variant; CSV (the upload's columns, so it imports again) too",
)
def list_results(
    pilot_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    offset: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
    format: tabular.Format = None,
) -> Any:
    found = pilots.result_rows(session, actor, pilot_id)
    response.headers["X-Total-Count"] = str(len(found))
    rows = [
        ResultRead(
            day=r.day,
            variant=r.variant,
            metric=r.metric_key,
            n=r.n,
            conversions=r.conversions,
            sum=r.sum,
            sum_squares=r.sum_squares,
            source=r.source,
            recorded_at=r.recorded_at,
        )
        for r in found[offset : offset + limit]
    ]
    if tabular.wants_csv(request, format):
        records_ = [
            r.model_dump() | {"conversions": int(r.conversions) if r.conversions is not None else None} for r in rows
        ]
        out = tabular.dict_csv(records_, "pilot-results.csv", RESULT_COLUMNS)
        out.headers["X-Total-Count"] = str(len(found))
        return out
    return rows


# ------------------------------------------------------------------ readout


def _pair(values: tuple[float, float]) -> list[float | None]:
    return [finite(v) for v in values]


def _effect(e: ex.Effect) -> EffectRead:
    return EffectRead(
        scale=e.scale.value,
        method=e.method.value,
        estimate=finite(e.estimate),
        ci=_pair(e.ci),
        p_value=finite(e.p_value),
        significant=e.significant,
        std_error=finite(e.std_error),
        dof=finite(e.dof),
        improvement=finite(e.improvement),
        improvement_ci=_pair(e.improvement_ci),
    )


def _srm(srm: ex.SrmResult, variants: list[str]) -> SrmRead:
    return SrmRead(
        variants=variants,
        observed=list(srm.observed),
        expected=[finite(e) for e in srm.expected],
        chi_square=finite(srm.chi_square),
        dof=srm.dof,
        p_value=finite(srm.p_value),
        threshold=srm.threshold,
        mismatch=srm.mismatch,
    )


def _summary(s: ex.Summary) -> SummaryRead:
    if isinstance(s, ex.ProportionSummary):
        return SummaryRead(n=s.n, mean=finite(s.mean), variance=finite(s.variance), conversions=s.conversions)
    return SummaryRead(
        n=s.n, mean=finite(s.mean), variance=finite(s.variance), sum=finite(s.sum), sum_squares=finite(s.sum_squares)
    )


def _comparison(c: ex.Comparison, treatment: str) -> ComparisonRead:
    b = c.bayesian
    return ComparisonRead(
        absolute=_effect(c.absolute),
        relative=_effect(c.relative) if c.relative is not None else None,
        chance_to_win=finite(c.chance_to_win),
        risk=_pair(c.risk),
        bayesian=BayesianRead(
            scale=b.scale.value,
            mean=finite(b.mean),
            std=finite(b.std),
            chance_to_win=finite(b.chance_to_win),
            risk_control=finite(b.risk_control),
            risk_treatment=finite(b.risk_treatment),
            credible_interval=_pair(b.credible_interval),
        ),
        srm=_srm(c.srm, [pilots.CONTROL, treatment]),
        notes=list(c.notes),
    )


def _metric(m: pilots.MetricReadout) -> MetricReadoutRead:
    g = m.guardrail
    return MetricReadoutRead(
        metric=m.metric,
        role=m.role,
        kind=m.kind,
        lower_is_better=m.lower_is_better,
        accepted_regression=g.accepted_regression if g is not None else None,
        accepted_regression_kind=g.kind.value if g is not None else None,
        variants={v: _summary(s) for v, s in sorted(m.totals.items())},
        comparisons={t: _comparison(c, t) for t, c in sorted(m.comparisons.items())},
        problems=dict(m.problems),
    )


def readout_read(r: pilots.PilotReadout) -> ReadoutRead:
    variants = sorted(r.units, key=lambda v: (v != pilots.CONTROL, v))  # the order of the SRM test
    return ReadoutRead(
        pilot_id=r.pilot_id,
        alpha=r.alpha,
        method=r.method.value,
        sample_size=r.sample_size,
        planned_sample_size=r.planned_sample_size,
        units=dict(r.units),
        first_day=r.first_day,
        last_day=r.last_day,
        srm=_srm(r.srm, variants) if r.srm is not None else None,
        primary=_metric(r.primary),
        guardrails=[_metric(g) for g in r.guardrails],
        power=power_read(r.power),
        notes=list(r.notes),
    )


def power_read(p: pilots.PowerReadout) -> PowerRead:
    return PowerRead.model_validate(pilots.power_numbers(p))


@router.get(
    "/pilots/{pilot_id}/readout",
    response_model=ReadoutRead,
    summary="The statistics so far: per metric totals per variant and each treatment against the control "
    "(absolute and relative effect with CI and p-value, chance to win, risk, SRM); SRM of the primary's units",
)
def readout(pilot_id: PathId, actor: CurrentActor, session: ReadSession) -> ReadoutRead:
    return readout_read(pilots.results(session, actor, pilot_id))


# ------------------------------------------------------------------ evaluation


def evaluation_read(row: PilotEvaluation) -> EvaluationRead:
    evidence = dict(row.evidence or {})
    until = evidence.get("extend_until")
    return EvaluationRead(
        id=row.id,
        pilot_id=row.pilot_id,
        at=row.at,
        action=row.action,
        rule=row.rule,
        reason=str(evidence.get("reason", "")),
        numbers=plain_json(dict(evidence.get("numbers") or {})),
        also_fired=[str(x) for x in evidence.get("also_fired") or []],
        extend_until=date.fromisoformat(until) if isinstance(until, str) else None,
        actor=row.actor,
        readout=plain_json(dict(evidence.get("readout") or {})),
    )


@router.post(
    "/pilots/{pilot_id}/evaluate",
    response_model=EvaluationRead,
    summary="Apply the exit rules to the results now and store the recommendation: the action, the rule that "
    "fired, the reason and the numbers behind it (409 for a draft)",
)
def evaluate(pilot_id: PathId, actor: CurrentActor, session: WriteSession) -> EvaluationRead:
    return evaluation_read(pilots.evaluate(session, actor, pilot_id, _now()).evaluation)


@router.get(
    "/pilots/{pilot_id}/evaluations",
    response_model=list[EvaluationRead],
    summary="The stored evaluations, oldest first",
)
def list_evaluations(
    pilot_id: PathId, actor: CurrentActor, session: ReadSession, page: Paging, response: Response
) -> list[EvaluationRead]:
    return [evaluation_read(e) for e in page.apply(response, pilots.evaluations(session, actor, pilot_id))]
