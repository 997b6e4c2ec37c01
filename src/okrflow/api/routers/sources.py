"""Sources of work, their mappings, sync runs and file imports.

Credentials are write-only: accepted on POST/PATCH, stored encrypted, never returned (``has_credentials``
says whether there are some). A sync runs synchronously and answers with its summary; a failed run answers with
a problem that names the run (``run_id``) and lists its ``errors`` — the run is kept and readable. A connection
test answers 200 whether the check passed or not (``ok``); it records nothing.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from okrflow.api.deps import (
    DB,
    CurrentActor,
    IfMatch,
    Paging,
    PathId,
    ReadSession,
    WriteSession,
    created,
    set_etag,
)
from okrflow.api.schemas_work import (
    ConnectionCheckRead,
    MappingRead,
    PublishedRead,
    RunRead,
    SourceCreate,
    SourceRead,
    SourceUpdate,
    StatusRuleRead,
    SyncSummaryRead,
    TypeRuleRead,
)
from okrflow.domain.access import Permission
from okrflow.domain.errors import InvalidInputError, PermissionDeniedError
from okrflow.services import file_import, imports, sources, sync
from okrflow.services.imports import ImportResult
from okrflow.store.models_work import Source, SyncRun

router = APIRouter(tags=["sources"])

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_FILES = 10
_FILE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def source_read(src: Source) -> SourceRead:
    return SourceRead(
        id=src.id,
        workspace_id=src.workspace_id,
        name=src.name,
        kind=src.kind,
        base_url=src.base_url,
        settings=src.settings or {},
        mapping=src.mapping or {},
        has_credentials=bool(src.credentials),
        cursor=src.cursor,
        team_id=src.team_id,
        version=src.version,
        created_at=src.created_at,
        updated_at=src.updated_at,
    )


@router.get("/workspaces/{workspace_id}/sources", response_model=list[SourceRead])
def list_sources(
    workspace_id: PathId, actor: CurrentActor, session: ReadSession, page: Paging, response: Response
) -> list[SourceRead]:
    return [source_read(s) for s in page.apply(response, sources.list_sources(session, actor, workspace_id))]


@router.post(
    "/workspaces/{workspace_id}/sources",
    response_model=SourceRead,
    status_code=201,
    summary="Add a source of work (admin); credentials are stored encrypted and never returned",
)
def create_source(
    workspace_id: PathId,
    body: SourceCreate,
    actor: CurrentActor,
    session: WriteSession,
    request: Request,
    response: Response,
) -> SourceRead:
    src = sources.create_source(
        session,
        actor,
        workspace_id,
        body.name,
        body.kind,
        base_url=body.base_url,
        settings=body.settings,
        mapping=body.mapping,
        credentials=body.credentials,
        team_id=body.team_id,
    )
    created(request, response, "get_source", src, source_id=src.id)
    return source_read(src)


@router.get("/sources/{source_id}", response_model=SourceRead)
def get_source(source_id: PathId, actor: CurrentActor, session: ReadSession, response: Response) -> SourceRead:
    src = sources.get_source(session, actor, source_id)
    set_etag(response, src)
    return source_read(src)


@router.patch(
    "/sources/{source_id}",
    response_model=SourceRead,
    summary="Change a source (admin; If-Match: its ETag). A new mapping re-derives levels of stored items",
)
def update_source(
    source_id: PathId,
    body: SourceUpdate,
    actor: CurrentActor,
    session: WriteSession,
    expected: IfMatch,
    response: Response,
) -> SourceRead:
    src = sources.update_source(session, actor, source_id, body.changes(), expected_version=expected)
    set_etag(response, src)
    return source_read(src)


@router.get(
    "/sources/{source_id}/mapping",
    response_model=MappingRead,
    summary="The effective mapping (kind defaults + the source's rules) and the types/statuses it leaves unmapped",
)
def get_mapping(source_id: PathId, actor: CurrentActor, session: ReadSession) -> MappingRead:
    src = sources.get_source(session, actor, source_id)
    report = sources.mapping_report(session, actor, source_id)
    mapping = sources.mapping_for(src)

    def status_rule(rule: Any) -> StatusRuleRead:
        return StatusRuleRead(step=rule.step.value, stage=rule.stage.value, active=rule.active)

    return MappingRead(
        source_id=src.id,
        types={
            name: TypeRuleRead(
                level=rule.level.value if rule.level else None,
                flow_type=rule.flow_type.value if rule.level else None,
                note=rule.note,
            )
            for name, rule in sorted(mapping.types.items())
        },
        statuses={name: status_rule(r) for name, r in sorted(mapping.statuses.items())},
        status_categories={name: status_rule(r) for name, r in sorted(mapping.status_categories.items())},
        unmapped_types=list(report.unmapped_types),
        unmapped_statuses=list(report.unmapped_statuses),
        statuses_mapped_by_category=list(report.by_category),
        complete=report.complete,
    )


# ------------------------------------------------------------------ runs


def _runs(db: DB, actor: CurrentActor, results: list[ImportResult | None]) -> list[SyncRun]:
    with db.read() as s:
        return _session_runs(s, actor, results)


@router.post(
    "/sources/{source_id}/sync",
    response_model=SyncSummaryRead,
    summary="Run the source's connector now (contributor); ?full=true ignores the cursor. Synchronous",
)
def sync_source(
    source_id: PathId, actor: CurrentActor, db: DB, full: bool = False, publish: bool = True
) -> SyncSummaryRead:
    """``publish`` (default true): afterwards publish the flow and DORA metrics into the KPI catalog, so key
    results bound to them stay current; a failure to publish is a warning, the sync stays committed."""
    summary = sync.run(db, actor, source_id, full=full, publish=publish)
    runs = _runs(db, actor, list(summary.runs))
    published = summary.published
    return SyncSummaryRead(
        source=summary.source,
        kind=summary.kind,
        runs=[RunRead.model_validate(r) for r in runs],
        fetched=summary.fetched,
        requests=summary.requests,
        created=summary.created,
        updated=summary.updated,
        unchanged=summary.unchanged,
        warnings=summary.warnings,
        duration_seconds=summary.duration_seconds,
        published=None
        if published is None
        else PublishedRead(
            defined=published.defined,
            revised=published.revised,
            created=published.created,
            updated=published.updated,
            unchanged=published.unchanged,
            first_day=published.first_day,
            last_day=published.last_day,
        ),
    )


@router.post(
    "/sources/{source_id}/test",
    response_model=ConnectionCheckRead,
    summary="Test the connection of a jira, github or gitlab source (contributor): reaches it with the connector's "
    "client and reads who the credentials are, the repository/project or the JQL; writes nothing",
)
def test_source_connection(source_id: PathId, actor: CurrentActor, db: DB) -> ConnectionCheckRead:
    """A failed check (401/403, 404, a host that cannot be reached, a JQL Jira refuses …) is a 200 with
    ``ok: false`` and the reason; a files source, which has nothing to connect to, is a 422 problem."""
    check = sources.test_connection(db, actor, source_id)
    return ConnectionCheckRead(
        ok=check.ok, kind=check.kind, message=check.message, details=check.details, duration_ms=check.duration_ms
    )


@router.get("/sources/{source_id}/runs", response_model=list[RunRead], summary="Newest first")
def list_runs(
    source_id: PathId, actor: CurrentActor, session: ReadSession, page: Paging, response: Response
) -> list[SyncRun]:
    return page.apply(response, imports.list_runs(session, actor, source_id, limit=page.offset + page.limit + 1000))


@router.get("/runs/{run_id}", response_model=RunRead)
def get_run(run_id: PathId, actor: CurrentActor, session: ReadSession) -> SyncRun:
    return imports.get_run(session, actor, run_id)


async def _uploads(request: Request) -> list[tuple[str, bytes]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        raise InvalidInputError("send the files as multipart/form-data fields named 'files'", field="files")
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES + 10)
    except Exception:  # a malformed multipart body, or too many files, is the client's error
        raise InvalidInputError(
            f"the multipart body cannot be read (at most {MAX_FILES} files)", field="files"
        ) from None
    out: list[tuple[str, bytes]] = []
    total = 0
    for field_name, value in form.multi_items():
        if isinstance(value, str):
            raise InvalidInputError(f"form field {field_name!r} is not a file", field=field_name)
        data = await value.read(MAX_UPLOAD_BYTES + 1)
        total += len(data)
        if total > MAX_UPLOAD_BYTES:
            raise InvalidInputError(f"the files are larger than {MAX_UPLOAD_BYTES // 2**20} MB", field="files")
        name = _FILE_NAME.sub("_", Path(value.filename or "upload").name)[:100] or "upload"
        if not name.lower().endswith((".csv", ".json")):
            raise InvalidInputError(f"{name}: only .csv and .json files can be imported", field="files")
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{name}: not UTF-8 text (byte {exc.start})", field="files") from None
        if b"\x00" in data:
            raise InvalidInputError(f"{name}: the file contains NUL characters", field="files")
        out.append((name, data))
    if not out:
        raise InvalidInputError("send at least one file (form field 'files')", field="files")
    return out


def _line_error(message: str) -> dict[str, Any]:
    """``"work.csv: line 3: status is empty"`` → ``{"file", "line", "field", "message", "type"}``."""
    m = re.match(r"^(?P<file>[^:]+): line (?P<line>\d+): (?P<msg>.*)$", message, re.S)
    if m:
        return {
            "file": m["file"],
            "line": int(m["line"]),
            "field": f"{m['file']} line {m['line']}",
            "message": m["msg"],
            "type": "invalid_line",
        }
    return {"file": None, "line": None, "field": "files", "message": message, "type": "invalid_record"}


@router.post(
    "/sources/{source_id}/import",
    response_model=list[RunRead],
    summary="Import CSV/JSON files into a files source (contributor): multipart 'files'; any bad line → 422, "
    "nothing written",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                        "required": ["files"],
                    }
                }
            }
        }
    },
)
async def import_files(source_id: PathId, actor: CurrentActor, db: DB, request: Request) -> list[RunRead]:
    with db.read() as s:
        src = sources.get_source(s, actor, source_id)
        if not actor.can(Permission.WRITE, src.workspace_id):  # before the body is read
            raise PermissionDeniedError("importing work needs the contributor role for the whole workspace")
        if src.kind != "files":
            raise InvalidInputError(
                f"source {src.name!r} is of kind {src.kind!r}; upload files to a source of kind 'files'",
                field="source",
            )
    uploads = await _uploads(request)
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_import_uploads, db, actor, source_id, uploads)


def _import_uploads(db: DB, actor: CurrentActor, source_id: int, uploads: list[tuple[str, bytes]]) -> list[RunRead]:
    with tempfile.TemporaryDirectory(prefix="okrflow-upload-") as tmp:
        paths = []
        for i, (name, data) in enumerate(uploads):
            path = Path(tmp) / (name if all(n != name for n, _ in uploads[:i]) else f"{i}-{name}")
            path.write_bytes(data)
            paths.append(path)
        try:
            result = file_import.import_files(db, actor, source_id, paths)
        except InvalidInputError as exc:
            lines = exc.details.get("errors")
            if not isinstance(lines, list):
                raise
            details = {k: v for k, v in exc.details.items() if k != "errors"}
            raise InvalidInputError(
                exc.message.replace(tmp + "/", ""),
                errors=[_line_error(str(e).replace(tmp + "/", "")) for e in lines],
                **details,
            ) from None
    with db.read() as s:
        return [RunRead.model_validate(r) for r in _session_runs(s, actor, [result.work, result.delivery])]


def _session_runs(s: Session, actor: CurrentActor, results: list[ImportResult | None]) -> list[SyncRun]:
    return [imports.get_run(s, actor, r.run_id) for r in results if r is not None]
