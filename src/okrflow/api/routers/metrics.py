"""The KPI catalog: metric definitions with versioned calculation rules, and metric values.

A definition is never edited in place: ``POST /metrics/{id}/versions`` writes version n+1 with author, time and
reason (``If-Match`` names the metric's ETag). Values are upserted by (metric, timestamp, dimensions) in batches
(JSON) or from CSV; either is all-or-nothing.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from okrflow.api import okr_views, tabular
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
from okrflow.api.schemas_okr import (
    IngestReportRead,
    MetricCreate,
    MetricRead,
    MetricRevise,
    MetricValueRead,
    MetricVersionRead,
    ValueBatch,
    VersionCompareRead,
    VersionDiff,
)
from okrflow.domain.errors import InvalidInputError, NotFoundError
from okrflow.services import catalog, tenancy
from okrflow.store.models_okr import MetricVersion

router = APIRouter(tags=["metrics"])

VersionNumber = Annotated[int, Query(ge=1, le=1_000_000)]


def _north_star(session: ReadSession, actor: CurrentActor, workspace_id: int) -> int | None:
    return tenancy.get_workspace(session, actor, workspace_id).north_star_metric_id


@router.get("/workspaces/{workspace_id}/metrics", response_model=list[MetricRead])
def list_metrics(
    workspace_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    page: Paging,
    response: Response,
    include_archived: bool = False,
) -> list[MetricRead]:
    metrics = catalog.list_metrics(session, actor, workspace_id, include_archived=include_archived)
    star, now = _north_star(session, actor, workspace_id), datetime.now(UTC)
    return [okr_views.metric(session, m, now, star) for m in page.apply(response, metrics)]


@router.post("/workspaces/{workspace_id}/metrics", response_model=MetricRead, status_code=201)
def define_metric(
    workspace_id: PathId,
    body: MetricCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> MetricRead:
    m = catalog.define_metric(session, actor, workspace_id, body.key, reason=body.reason, **body.fields())
    created(request, response, "get_metric", m, metric_id=m.id)
    return okr_views.metric(session, m, datetime.now(UTC), _north_star(session, actor, workspace_id))


@router.get(
    "/metrics/{metric_id}",
    response_model=MetricRead,
    summary="A metric: its current definition and status (latest value, threshold colour, freshness)",
)
def get_metric(metric_id: PathId, actor: CurrentActor, session: ReadSession, response: Response) -> MetricRead:
    m = catalog.get_metric(session, actor, metric_id)
    set_etag(response, m)
    return okr_views.metric(session, m, datetime.now(UTC), _north_star(session, actor, m.workspace_id))


@router.post(
    "/metrics/{metric_id}/versions",
    response_model=MetricVersionRead,
    status_code=201,
    summary="Revise the definition: writes version n+1 (a reason is required; If-Match: the metric's ETag)",
)
def revise_metric(
    metric_id: PathId,
    body: MetricRevise,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    request: Request,
    response: Response,
) -> MetricVersion:
    version = catalog.revise_metric(
        session, actor, metric_id, body.changes.fields(only_set=True), body.reason, expected_version=expected
    )
    set_location(request, response, "get_metric_version", metric_id=metric_id, number=version.number)
    set_etag(response, catalog.get_metric(session, actor, metric_id))
    return version


@router.get("/metrics/{metric_id}/versions", response_model=list[MetricVersionRead], summary="Oldest first")
def list_versions(
    metric_id: PathId, actor: CurrentActor, session: ReadSession, page: Paging, response: Response
) -> list[MetricVersion]:
    return page.apply(response, catalog.versions(session, actor, metric_id))


def _version(session: ReadSession, actor: CurrentActor, metric_id: int, number: int) -> MetricVersion:
    for v in catalog.versions(session, actor, metric_id):
        if v.number == number:
            return v
    raise NotFoundError(f"metric {metric_id} has no version {number}")


@router.get(
    "/metrics/{metric_id}/versions/compare",
    response_model=VersionCompareRead,
    summary="The fields that differ between two versions of a definition",
)
def compare_versions(
    metric_id: PathId, actor: CurrentActor, session: ReadSession, a: VersionNumber, b: VersionNumber
) -> VersionCompareRead:
    va, vb = _version(session, actor, metric_id, a), _version(session, actor, metric_id, b)
    diffs = catalog.compare_versions(va, vb)
    return VersionCompareRead(
        metric_id=metric_id, a=a, b=b, changes=[VersionDiff(field=f, a=x, b=y) for f, (x, y) in diffs.items()]
    )


@router.get("/metrics/{metric_id}/versions/{number}", response_model=MetricVersionRead)
def get_metric_version(metric_id: PathId, number: PathId, actor: CurrentActor, session: ReadSession) -> MetricVersion:
    return _version(session, actor, metric_id, number)


# ------------------------------------------------------------------ values


def _dimension_filter(request: Request) -> dict[str, str] | None:
    """``?dim.team=payments`` → ``{"team": "payments"}``; ``None`` when no ``dim.*`` parameter is given."""
    dims: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if not name.startswith("dim."):
            continue
        key = name[4:]
        if not key or len(key) > 63 or not key.replace("_", "").isalnum() or not value or len(value) > 200:
            raise InvalidInputError(f"{name}={value!r} is not a dimension filter like dim.team=payments", field=name)
        if key in dims:
            raise InvalidInputError(f"{name} is given twice", field=name)
        dims[key] = value
    return dims or None


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


@router.get(
    "/metrics/{metric_id}/values",
    response_model=list[MetricValueRead],
    summary="Stored values, oldest first; ?dim.<name>=<value> picks one series; CSV with Accept: text/csv",
    responses={200: {"content": {"text/csv": {}}}},
)
def list_values(
    metric_id: PathId,
    actor: CurrentActor,
    session: ReadSession,
    request: Request,
    response: Response,
    dims: Annotated[dict[str, str] | None, Depends(_dimension_filter)],
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    offset: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
    format: Literal["json", "csv"] | None = None,
) -> Any:
    m = catalog.get_metric(session, actor, metric_id)
    rows = catalog.list_values(session, actor, metric_id, dims, since=_aware(since), until=_aware(until))
    total = len(rows)
    rows = rows[offset : offset + limit]
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if not wants_csv:
        response.headers["X-Total-Count"] = str(total)
        return [
            MetricValueRead(
                metric=m.key,
                at=r.at,
                value=r.value,
                dimensions=r.dimensions or {},
                metric_version=r.metric_version,
                source=r.source,
                import_run=r.import_run,
            )
            for r in rows
        ]
    names = sorted({k for r in rows for k in (r.dimensions or {})})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "timestamp", "value", *(f"dim.{n}" for n in names), "source"])
    for r in rows:
        dims_of = r.dimensions or {}
        writer.writerow([m.key, r.at.isoformat(), repr(r.value), *(dims_of.get(n, "") for n in names), r.source])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "X-Total-Count": str(total),
            "Content-Disposition": f'attachment; filename="{m.key}.csv"',
        },
    )


@router.post(
    "/workspaces/{workspace_id}/metric-values",
    response_model=IngestReportRead,
    summary="Record a batch of values (upsert by metric, timestamp, dimensions; all-or-nothing)",
)
def record_values(
    workspace_id: PathId, body: ValueBatch, actor: CurrentActor, session: WriteSession
) -> IngestReportRead:
    points = [catalog.ValuePoint(v.metric, v.timestamp, v.value, dict(v.dimensions)) for v in body.values]  # type: ignore[arg-type]
    report = catalog.record_values(session, actor, workspace_id, points, source=body.source, import_run=body.import_run)
    return IngestReportRead(
        created=report.created, updated=report.updated, unchanged=report.unchanged, total=report.total
    )


@router.post(
    "/workspaces/{workspace_id}/metric-values/csv",
    response_model=IngestReportRead,
    summary="Import values from CSV (metric,timestamp,value[,dim.<name>...]); any bad line → 422, nothing written",
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
def import_values_csv(
    workspace_id: PathId,
    actor: CurrentActor,
    session: WriteSession,
    text: Annotated[str, Depends(tabular.csv_body)],
) -> IngestReportRead:
    tenancy.get_workspace(session, actor, workspace_id)
    try:
        report = catalog.import_values_csv(session, actor, workspace_id, text)
    except InvalidInputError as exc:
        lines = exc.details.get("errors")
        if not isinstance(lines, list):
            raise
        raise InvalidInputError(exc.message, errors=[tabular.line_error(e) for e in lines]) from None
    return IngestReportRead(
        created=report.created, updated=report.updated, unchanged=report.unchanged, total=report.total
    )
