"""The KPI catalog: metric definitions with versioned calculation rules, metric values, freshness, thresholds.

A definition is never edited in place: :func:`revise_metric` writes version n+1 with author, time and reason,
and every stored value keeps the version it was computed with. Nothing is recomputed silently.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from okrflow.metrics.series import BUCKETS, aggregate, ratio
from okrflow.services import audit, records
from okrflow.services.tenancy import get_workspace
from okrflow.store.models import Person
from okrflow.store.models_okr import Metric, MetricValue, MetricVersion

# Progress of a long import: (phase, done, total), e.g. ("writing", 2000, 7300).
Progress = Callable[[str, int, int], None]

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
INDICATORS = ("leading", "lagging")
AGGREGATIONS = ("sum", "mean", "last", "ratio")
DIRECTIONS = ("increase", "decrease", "band")
# Fields of a definition; changing any of them makes a new version.
DEFINITION_FIELDS = (
    "name",
    "definition",
    "owner_person_id",
    "unit",
    "indicator",
    "direction",
    "aggregation",
    "numerator_key",
    "denominator_key",
    "dimensions",
    "source",
    "calculation",
    "freshness_warn_hours",
    "freshness_error_hours",
    "thresholds",
)


def _require_write(actor: Actor, workspace_id: int, what: str) -> None:
    if not actor.can(Permission.WRITE, workspace_id):
        if not actor.scope_allows(Permission.WRITE):
            raise PermissionDeniedError(f"this token's scopes do not allow {what}")
        raise PermissionDeniedError(f"{what} needs the contributor role for the whole workspace (or admin)")


def dimension_key(dimensions: Mapping[str, Any] | None) -> str:
    """Canonical text of a dimension set: ``team=payments;service=checkout`` sorted by name; '' for none."""
    if not dimensions:
        return ""
    return ";".join(f"{k}={dimensions[k]}" for k in sorted(dimensions))


def _validate_definition(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "name" in out:
        name = str(out["name"]).strip()
        if not name or len(name) > 200:
            raise InvalidInputError("a metric name has 1 to 200 characters", field="name")
        out["name"] = name
    if out.get("indicator") is not None and out["indicator"] not in INDICATORS:
        raise InvalidInputError("indicator is 'leading' or 'lagging'", field="indicator")
    if out.get("aggregation") is not None and out["aggregation"] not in AGGREGATIONS:
        raise InvalidInputError(f"aggregation is one of {', '.join(AGGREGATIONS)}", field="aggregation")
    if out.get("direction") is not None and out["direction"] not in DIRECTIONS:
        raise InvalidInputError(f"direction is one of {', '.join(DIRECTIONS)}", field="direction")
    if out.get("aggregation") == "ratio" and not (out.get("numerator_key") and out.get("denominator_key")):
        raise InvalidInputError("a ratio metric names numerator_key and denominator_key", field="aggregation")
    warn, err = out.get("freshness_warn_hours"), out.get("freshness_error_hours")
    for name, v in (("freshness_warn_hours", warn), ("freshness_error_hours", err)):
        if v is not None and (not isinstance(v, int | float) or v <= 0 or not math.isfinite(v)):
            raise InvalidInputError(f"{name} must be a positive number of hours", field=name)
    if warn is not None and err is not None and err < warn:
        raise InvalidInputError("freshness_error_hours must not be below freshness_warn_hours", field="freshness")
    if "dimensions" in out:
        dims = out["dimensions"] or []
        if not isinstance(dims, list) or not all(isinstance(d, str) and d for d in dims):
            raise InvalidInputError("dimensions is a list of names, e.g. ['team']", field="dimensions")
        out["dimensions"] = dims
    if "thresholds" in out:
        out["thresholds"] = _validate_thresholds(out["thresholds"] or {})
    return out


def _validate_thresholds(t: Any) -> dict[str, float]:
    """``{"green": 95, "red": 90}`` (which side is good follows the direction) or ``{"low": a, "high": b}``."""
    if not isinstance(t, dict):
        raise InvalidInputError("thresholds is an object like {'green': 95, 'red': 90}", field="thresholds")
    allowed = {"green", "red", "low", "high"}
    unknown = set(t) - allowed
    if unknown:
        raise InvalidInputError(
            f"unknown threshold {sorted(unknown)[0]!r}; use green/red or low/high", field="thresholds"
        )
    out = {}
    for k, v in t.items():
        if not isinstance(v, int | float) or not math.isfinite(v):
            raise InvalidInputError(f"threshold {k!r} must be a number", field="thresholds")
        out[k] = float(v)
    if ("green" in out) != ("red" in out) or ("low" in out) != ("high" in out):
        raise InvalidInputError("thresholds come in pairs: green and red, or low and high", field="thresholds")
    if "low" in out and out["low"] > out["high"]:
        raise InvalidInputError("threshold low must not exceed high", field="thresholds")
    return out


def _check_owner(session: Session, workspace_id: int, data: Mapping[str, Any]) -> None:
    """The owner must be a person of the metric's workspace (an unknown id is bad input, not a database error)."""
    person_id = data.get("owner_person_id")
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is None or person.workspace_id != workspace_id:
            raise InvalidInputError(f"person {person_id} does not exist in this workspace", field="owner_person_id")


def threshold_status(version: MetricVersion, value: float | None) -> str | None:
    """green / amber / red for a value under the version's thresholds; None when there are none."""
    t = version.thresholds or {}
    if value is None or not t:
        return None
    if "low" in t:
        return "green" if t["low"] <= value <= t["high"] else "red"
    green, red = t["green"], t["red"]
    better_high = version.direction != "decrease"
    if (value >= green) if better_high else (value <= green):
        return "green"
    if (value < red) if better_high else (value > red):
        return "red"
    return "amber"


def freshness_status(version: MetricVersion, last_at: datetime | None, now: datetime) -> str:
    """fresh / warn / error against the version's freshness SLA; 'no_data' without values; 'fresh' without SLA."""
    if last_at is None:
        return "no_data"
    age_h = (now - last_at).total_seconds() / 3600
    if version.freshness_error_hours is not None and age_h > version.freshness_error_hours:
        return "error"
    if version.freshness_warn_hours is not None and age_h > version.freshness_warn_hours:
        return "warn"
    return "fresh"


# ------------------------------------------------------------------ definitions


def list_metrics(session: Session, actor: Actor, workspace_id: int, include_archived: bool = False) -> list[Metric]:
    get_workspace(session, actor, workspace_id)
    q = select(Metric).where(Metric.workspace_id == workspace_id).order_by(Metric.key)
    if not include_archived:
        q = q.where(Metric.archived.is_(False))
    return list(session.scalars(q))


def get_metric(session: Session, actor: Actor, metric_id: int) -> Metric:
    m = session.get(Metric, metric_id)
    if m is None or not actor.is_member_of(m.workspace_id):
        raise NotFoundError(f"metric {metric_id} does not exist")
    if not actor.can(Permission.READ, m.workspace_id):
        raise PermissionDeniedError("this token's scopes do not allow reading metrics")
    return m


def metric_by_key(session: Session, actor: Actor, workspace_id: int, key: str) -> Metric:
    m = session.scalar(select(Metric).where(Metric.workspace_id == workspace_id, Metric.key == key))
    if m is None:
        raise NotFoundError(f"no metric with key {key!r} in this workspace")
    return get_metric(session, actor, m.id)


def current_version(session: Session, metric: Metric) -> MetricVersion:
    v = session.scalar(
        select(MetricVersion).where(
            MetricVersion.metric_id == metric.id, MetricVersion.number == metric.current_version
        )
    )
    assert v is not None, "every metric has its current version"
    return v


def versions(session: Session, actor: Actor, metric_id: int) -> list[MetricVersion]:
    get_metric(session, actor, metric_id)
    return list(
        session.scalars(
            select(MetricVersion).where(MetricVersion.metric_id == metric_id).order_by(MetricVersion.number)
        )
    )


def define_metric(
    session: Session, actor: Actor, workspace_id: int, key: str, *, name: str, reason: str = "", **fields: Any
) -> Metric:
    """Create a metric with version 1 of its definition."""
    get_workspace(session, actor, workspace_id)
    _require_write(actor, workspace_id, "defining a metric")
    key = key.strip()
    if not KEY_RE.match(key):
        raise InvalidInputError(
            f"{key!r} is not a valid metric key: lower-case letters, digits, '_', '.', '-' (max 100)", field="key"
        )
    unknown = set(fields) - set(DEFINITION_FIELDS)
    if unknown:
        raise InvalidInputError(f"unknown metric field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    if session.scalar(select(Metric.id).where(Metric.workspace_id == workspace_id, Metric.key == key)):
        raise ConflictError(
            f"a metric with key {key!r} exists already; revise it to change its definition", field="key"
        )
    data = _validate_definition({"name": name, **fields})
    _check_owner(session, workspace_id, data)
    metric = Metric(workspace_id=workspace_id, key=key, current_version=1, archived=False)
    session.add(metric)
    session.flush()
    version = MetricVersion(
        metric_id=metric.id, number=1, author=actor.label, reason=reason or "first definition", **data
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        actor,
        "create",
        "metric",
        metric.id,
        workspace_id=workspace_id,
        after={"metric": audit.snapshot(metric), "version": audit.snapshot(version)},
    )
    return metric


def revise_metric(
    session: Session,
    actor: Actor,
    metric_id: int,
    changes: dict[str, Any],
    reason: str,
    expected_version: int | None = None,
) -> MetricVersion:
    """Write version n+1 of the definition with ``changes``; the old versions stay as they were."""
    metric = get_metric(session, actor, metric_id)
    _require_write(actor, metric.workspace_id, "changing a metric definition")
    if not reason or not reason.strip():
        raise InvalidInputError(
            "say why the definition changes (reason): it is kept in the version history", field="reason"
        )
    unknown = set(changes) - set(DEFINITION_FIELDS)
    if unknown:
        raise InvalidInputError(f"unknown metric field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    records.check_version(metric, expected_version, "metric")
    current = current_version(session, metric)
    data = {f: getattr(current, f) for f in DEFINITION_FIELDS}
    data.update(_validate_definition(changes))
    _check_owner(session, metric.workspace_id, changes)
    if all(data[f] == getattr(current, f) for f in DEFINITION_FIELDS):
        raise InvalidInputError("nothing changes in this revision; a new version needs a different definition")
    new = MetricVersion(
        metric_id=metric.id, number=current.number + 1, author=actor.label, reason=reason.strip(), **data
    )
    session.add(new)
    before = audit.snapshot(metric)
    metric.current_version = new.number
    records.flush_versioned(session)
    audit.record(
        session,
        actor,
        "revise",
        "metric",
        metric.id,
        workspace_id=metric.workspace_id,
        before={"metric": before, "version": audit.snapshot(current)},
        after={"metric": audit.snapshot(metric), "version": audit.snapshot(new)},
    )
    return new


def compare_versions(a: MetricVersion, b: MetricVersion) -> dict[str, tuple[Any, Any]]:
    """Fields that differ between two versions: ``{field: (value in a, value in b)}``."""
    return {f: (getattr(a, f), getattr(b, f)) for f in DEFINITION_FIELDS if getattr(a, f) != getattr(b, f)}


# ------------------------------------------------------------------ values


@dataclass(frozen=True)
class ValuePoint:
    metric_key: str
    at: datetime
    value: float
    dimensions: dict[str, str] = field(default_factory=dict)
    source: str | None = None  # overrides the batch's source (the CSV ``source`` column)


@dataclass
class IngestReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def _as_utc(value: datetime | date | str, field_name: str = "at") -> datetime:
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed: datetime | date = (
                datetime.fromisoformat(text.replace("Z", "+00:00"))
                if "T" in text or " " in text
                else date.fromisoformat(text)
            )
        except ValueError:
            raise InvalidInputError(f"{value!r} is not an ISO date or timestamp", field=field_name) from None
        value = parsed
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def record_values(
    session: Session,
    actor: Actor,
    workspace_id: int,
    points: Sequence[ValuePoint],
    *,
    source: str = "api",
    import_run: str | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Upsert values by (metric, time, dimensions), computed with each metric's current version.

    A point equal to the stored one changes nothing (so a re-import is idempotent); a different value
    replaces it and takes the current version. One audit entry per call summarises the batch.
    ``progress("writing", done, total)`` is called every 1,000 points.
    """
    get_workspace(session, actor, workspace_id)
    _require_write(actor, workspace_id, "recording metric values")
    report = IngestReport()
    metrics: dict[str, tuple[Metric, MetricVersion]] = {}
    for key in {p.metric_key for p in points}:
        m = session.scalar(select(Metric).where(Metric.workspace_id == workspace_id, Metric.key == key))
        if m is None:
            raise InvalidInputError(
                f"no metric with key {key!r}; define it first (okrflow metrics define)", field="metric"
            )
        metrics[key] = (m, current_version(session, m))
    prepared: list[tuple[Metric, MetricVersion, datetime, str, ValuePoint]] = []
    for p in points:
        if not math.isfinite(p.value):
            raise InvalidInputError(f"value of {p.metric_key} at {p.at} is not a finite number", field="value")
        m, v = metrics[p.metric_key]
        allowed_dims = set(v.dimensions or [])
        extra = set(p.dimensions) - allowed_dims
        if extra:
            raise InvalidInputError(
                f"metric {m.key!r} has no dimension {sorted(extra)[0]!r} "
                f"(it has: {', '.join(sorted(allowed_dims)) or 'none'})",
                field="dimensions",
            )
        prepared.append((m, v, _as_utc(p.at), dimension_key(p.dimensions), p))
    # One query for the stored points in the batch's time range, instead of one per point.
    existing: dict[tuple[int, datetime, str], MetricValue] = {}
    if prepared:
        lo, hi = min(x[2] for x in prepared), max(x[2] for x in prepared)
        for row in session.scalars(
            select(MetricValue).where(
                MetricValue.metric_id.in_({m.id for m, *_ in prepared}), MetricValue.at >= lo, MetricValue.at <= hi
            )
        ):
            existing[(row.metric_id, row.at, row.dimension_key)] = row
    for done, (m, v, at, dkey, p) in enumerate(prepared, start=1):
        if progress is not None and (done % 1000 == 0 or done == len(prepared)):
            progress("writing", done, len(prepared))
        point_source = p.source or source
        row = existing.get((m.id, at, dkey))
        if row is None:
            row = MetricValue(
                metric_id=m.id,
                at=at,
                value=float(p.value),
                dimensions=dict(p.dimensions),
                dimension_key=dkey,
                metric_version=v.number,
                source=point_source,
                import_run=import_run,
            )
            session.add(row)
            existing[(m.id, at, dkey)] = row
            report.created += 1
        elif row.value == float(p.value):
            report.unchanged += 1
        else:
            row.value, row.metric_version, row.source = float(p.value), v.number, point_source
            row.import_run = import_run
            report.updated += 1
    session.flush()
    if report.created or report.updated:
        audit.record(
            session,
            actor,
            "record_values",
            "metric_values",
            next(iter(metrics)) if len(metrics) == 1 else f"{len(metrics)} metrics",
            workspace_id=workspace_id,
            after={
                "metrics": sorted(metrics),
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "source": source,
                "import_run": import_run,
            },
        )
    return report


CSV_COLUMNS = ("metric", "timestamp", "value")


def parse_values_csv_lines(text: str) -> tuple[list[tuple[int, ValuePoint]], list[str]]:
    """Rows ``metric,timestamp,value[,dim.<name>...][,source]`` → (line number, point) pairs, and one error
    per bad line (``line N: ...``). Checks the format only; :func:`import_values_csv` checks the catalog."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        return [], [
            f"line 1: missing column(s) {', '.join(missing)}; expected metric,timestamp,value[,dim.<name>...][,source]"
        ]
    unknown = [h for h in header if h not in CSV_COLUMNS and not h.startswith("dim.") and h != "source"]
    if unknown:
        return [], [f"line 1: unknown column {unknown[0]!r}; dimension columns are named dim.<name>"]
    points: list[tuple[int, ValuePoint]] = []
    errors: list[str] = []
    for row in reader:
        lineno = reader.line_num  # the physical line (blank lines are skipped, not renumbered)
        if None in row:
            errors.append(f"line {lineno}: {len(header) + len(row[None])} fields, the header has {len(header)}")
            continue
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        try:
            key = row["metric"]
            if not key:
                raise ValueError("metric is empty")
            try:
                at = _as_utc(row["timestamp"], "timestamp")
            except InvalidInputError as exc:
                raise ValueError(exc.message) from None
            try:
                value = float(row["value"])
            except ValueError:
                raise ValueError(f"value {row['value']!r} is not a number") from None
            if not math.isfinite(value):
                raise ValueError("value is not a finite number")
            dims = {k[4:]: v for k, v in row.items() if k.startswith("dim.") and v}
            points.append((lineno, ValuePoint(key, at, value, dims, row.get("source") or None)))
        except ValueError as exc:
            errors.append(f"line {lineno}: {exc}")
    return points, errors


def parse_values_csv(text: str) -> tuple[list[ValuePoint], list[str]]:
    """Rows ``metric,timestamp,value[,dim.<name>...]`` → points, and one error per bad line (with its number)."""
    points, errors = parse_values_csv_lines(text)
    return [p for _, p in points], errors


def import_values_csv(
    session: Session,
    actor: Actor,
    workspace_id: int,
    text: str,
    *,
    source: str = "csv",
    import_run: str | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """All-or-nothing: any bad line raises with every problem listed (``details["errors"]``, one
    ``line N: ...`` each), and nothing is written. Bad: the format, an unknown metric, a dimension the metric
    does not have, the same (metric, timestamp, dimensions) twice in the file."""
    get_workspace(session, actor, workspace_id)
    _require_write(actor, workspace_id, "importing metric values")
    lines, errors = parse_values_csv_lines(text)
    dims_of: dict[str, set[str]] = {
        m.key: set(current_version(session, m).dimensions or [])
        for m in session.scalars(select(Metric).where(Metric.workspace_id == workspace_id))
    }
    first_line: dict[tuple[str, datetime, str], int] = {}
    for done, (lineno, p) in enumerate(lines, start=1):
        if progress is not None and (done % 1000 == 0 or done == len(lines)):
            progress("checking", done, len(lines))
        if p.metric_key not in dims_of:
            errors.append(f"line {lineno}: unknown metric {p.metric_key!r}; define it first (okrflow metrics define)")
            continue
        extra = sorted(set(p.dimensions) - dims_of[p.metric_key])
        if extra:
            has = ", ".join(sorted(dims_of[p.metric_key])) or "none"
            errors.append(f"line {lineno}: metric {p.metric_key!r} has no dimension {extra[0]!r} (it has: {has})")
            continue
        point_key = (p.metric_key, p.at, dimension_key(p.dimensions))
        if point_key in first_line:
            errors.append(f"line {lineno}: the same metric, timestamp and dimensions as line {first_line[point_key]}")
            continue
        first_line[point_key] = lineno
    if errors:
        errors.sort(key=lambda e: int(e.split(":", 1)[0].removeprefix("line ")))
        raise InvalidInputError(
            f"{len(errors)} bad line(s); nothing was imported. "
            + "; ".join(errors[:20])
            + (f"; … and {len(errors) - 20} more" if len(errors) > 20 else ""),
            errors=errors,
        )
    if not lines:
        raise InvalidInputError("the file has no data rows")
    return record_values(
        session, actor, workspace_id, [p for _, p in lines], source=source, import_run=import_run, progress=progress
    )


def latest_value(
    session: Session, metric_id: int, dimensions: Mapping[str, Any] | None = None, at_or_before: datetime | None = None
) -> MetricValue | None:
    q = select(MetricValue).where(
        MetricValue.metric_id == metric_id, MetricValue.dimension_key == dimension_key(dimensions)
    )
    if at_or_before is not None:
        q = q.where(MetricValue.at <= at_or_before)
    return session.scalar(q.order_by(MetricValue.at.desc()).limit(1))


def series(
    session: Session,
    metric_id: int,
    dimensions: Mapping[str, Any] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[MetricValue]:
    q = select(MetricValue).where(
        MetricValue.metric_id == metric_id, MetricValue.dimension_key == dimension_key(dimensions)
    )
    if since is not None:
        q = q.where(MetricValue.at >= since)
    if until is not None:
        q = q.where(MetricValue.at <= until)
    return list(session.scalars(q.order_by(MetricValue.at)))


def list_values(
    session: Session,
    actor: Actor,
    metric_id: int,
    dimensions: Mapping[str, Any] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[MetricValue]:
    """Stored values of a metric, oldest first: one series when ``dimensions`` is given (``{}`` = the series
    without dimensions), every series when it is ``None``."""
    get_metric(session, actor, metric_id)
    if dimensions is not None:
        return series(session, metric_id, dimensions, since=since, until=until)
    q = select(MetricValue).where(MetricValue.metric_id == metric_id)
    if since is not None:
        q = q.where(MetricValue.at >= since)
    if until is not None:
        q = q.where(MetricValue.at <= until)
    return list(session.scalars(q.order_by(MetricValue.at, MetricValue.dimension_key)))


def value_count(session: Session, metric_id: int) -> int:
    return session.scalar(select(func.count()).select_from(MetricValue).where(MetricValue.metric_id == metric_id)) or 0


@dataclass(frozen=True)
class MetricStatus:
    metric: Metric
    version: MetricVersion
    latest_value: float | None
    latest_at: datetime | None
    threshold: str | None
    freshness: str


def status(
    session: Session, metric: Metric, now: datetime, dimensions: Mapping[str, Any] | None = None
) -> MetricStatus:
    v = current_version(session, metric)
    last = latest_value(session, metric.id, dimensions)
    value = last.value if last else None
    return MetricStatus(
        metric,
        v,
        value,
        last.at if last else None,
        threshold_status(v, value),
        freshness_status(v, last.at if last else None, now),
    )


def glossary(session: Session, actor: Actor, workspace_id: int, query: str = "") -> list[dict[str, Any]]:
    """Every metric definition and domain term, searchable (case-insensitive substring)."""
    from okrflow.domain.glossary import TERMS

    entries: list[dict[str, Any]] = []
    for m in list_metrics(session, actor, workspace_id):
        v = current_version(session, m)
        entries.append(
            {
                "term": v.name,
                "kind": "metric",
                "key": m.key,
                "definition": v.definition,
                "unit": v.unit,
                "version": v.number,
            }
        )
    entries.extend(
        {"term": t, "kind": "term", "key": None, "definition": d, "unit": "", "version": None} for t, d in TERMS.items()
    )
    q = query.strip().lower()
    if q:
        entries = [
            e
            for e in entries
            if q in e["term"].lower() or q in (e["definition"] or "").lower() or q in (e["key"] or "")
        ]
    return sorted(entries, key=lambda e: e["term"].lower())


def aggregated_series(
    session: Session,
    metric: Metric,
    bucket: str,
    dimensions: Mapping[str, Any] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[datetime], list[float]]:
    """The metric's values per day/week/month, combined by its aggregation (sum, mean, last, ratio)."""
    if bucket not in BUCKETS:
        raise InvalidInputError(f"bucket is one of {', '.join(BUCKETS)}", field="bucket")
    v = current_version(session, metric)
    rows = series(session, metric.id, dimensions, since, until)
    return aggregate([r.at for r in rows], [r.value for r in rows], v.aggregation, bucket)


def compute_ratio(
    session: Session,
    actor: Actor,
    metric_id: int,
    dimensions: Mapping[str, Any] | None = None,
    scale: float = 1.0,
    since: datetime | None = None,
) -> IngestReport:
    """Compute a ratio metric's values as ``scale · numerator / denominator`` at the times both have.

    The values are upserted with the ratio metric's current version and source ``computed``, so running it
    again changes nothing and a new calculation rule only affects values computed after the change.
    """
    metric = get_metric(session, actor, metric_id)
    v = current_version(session, metric)
    if v.aggregation != "ratio" or not v.numerator_key or not v.denominator_key:
        raise InvalidInputError(f"metric {metric.key!r} is not a ratio of two metrics", field="aggregation")
    num = metric_by_key(session, actor, metric.workspace_id, v.numerator_key)
    den = metric_by_key(session, actor, metric.workspace_id, v.denominator_key)
    n_rows = series(session, num.id, dimensions, since)
    d_rows = series(session, den.id, dimensions, since)
    times, values = ratio(
        [r.at for r in n_rows], [r.value for r in n_rows], [r.at for r in d_rows], [r.value for r in d_rows], scale
    )
    points = [ValuePoint(metric.key, t, val, dict(dimensions or {})) for t, val in zip(times, values, strict=True)]
    if not points:
        return IngestReport()
    return record_values(session, actor, metric.workspace_id, points, source="computed")


def headline_dimensions(session: Session, metric_id: int) -> dict[str, Any]:
    """The series an overview shows for a metric: the one without dimensions when it has values, else the
    dimension combination with the most values (e.g. ``{"service": "checkout"}`` for a DORA metric)."""
    rows = session.execute(
        select(MetricValue.dimension_key, func.count())
        .where(MetricValue.metric_id == metric_id)
        .group_by(MetricValue.dimension_key)
        .order_by(func.count().desc(), MetricValue.dimension_key)
    ).all()
    keys = [k for k, _n in rows]
    if not keys or "" in keys:
        return {}
    first = session.scalar(
        select(MetricValue.dimensions).where(MetricValue.metric_id == metric_id, MetricValue.dimension_key == keys[0])
    )
    return dict(first or {})
