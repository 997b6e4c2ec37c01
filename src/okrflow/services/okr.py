"""Periods, objectives, key results, cascading alignment, check-ins, and the computed OKR tree.

Permissions: an objective with a team is written by contributors of that team (and admins); a workspace-level
objective, periods and the north star need the contributor role for the whole workspace. Everyone in the
workspace reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from okrflow.domain.okr import (
    CheckinStatus,
    Commitment,
    ConfidenceThresholds,
    Direction,
    GradeVerdict,
    KeyResultKind,
    KeyResultTarget,
    ObjectiveStatus,
    Weighted,
    confidence_status,
    display_progress,
    grade_verdict,
    kr_count_warning,
    progress,
    roll_up,
)
from okrflow.metrics.okr_forecast import KrForecast, ScheduleGap, forecast, schedule_gap
from okrflow.services import catalog, records
from okrflow.services.tenancy import get_workspace
from okrflow.store.models import Person, Team, Workspace
from okrflow.store.models_okr import CheckIn, KeyResult, Metric, Objective, Period

PERIOD_KINDS = ("annual", "quarter", "custom")


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class OkrSettings:
    """Per-workspace OKR settings, kept in ``workspaces.settings["okr"]``."""

    checkin_due_days: int = 7
    confidence: ConfidenceThresholds = field(default_factory=ConfidenceThresholds)
    include_aligned_in_progress: bool = True  # objective progress counts aligned child objectives

    @classmethod
    def of(cls, ws: Workspace) -> OkrSettings:
        raw = (ws.settings or {}).get("okr", {}) or {}
        conf = raw.get("confidence", {}) or {}
        return cls(
            checkin_due_days=int(raw.get("checkin_due_days", 7)),
            confidence=ConfidenceThresholds(float(conf.get("on_track", 7)), float(conf.get("at_risk", 4))),
            include_aligned_in_progress=bool(raw.get("include_aligned_in_progress", True)),
        )


def validate_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """Check an ``okr`` settings object before it is stored (used by the workspace update)."""
    allowed = {"checkin_due_days", "confidence", "include_aligned_in_progress"}
    unknown = set(raw) - allowed
    if unknown:
        raise InvalidInputError(f"unknown OKR setting {sorted(unknown)[0]!r}", field="settings.okr")
    days = raw.get("checkin_due_days", 7)
    if not isinstance(days, int) or not 1 <= days <= 90:
        raise InvalidInputError("checkin_due_days is a whole number of days from 1 to 90", field="checkin_due_days")
    conf = raw.get("confidence", {}) or {}
    try:
        ConfidenceThresholds(float(conf.get("on_track", 7)), float(conf.get("at_risk", 4)))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(str(exc), field="confidence") from None
    return raw


def _write_check(actor: Actor, workspace_id: int, team_id: int | None, what: str) -> None:
    if actor.can(Permission.WRITE, workspace_id, team_id):
        return
    if not actor.scope_allows(Permission.WRITE):
        raise PermissionDeniedError(f"this token's scopes do not allow {what}")
    where = "on this objective's team" if team_id is not None else "for the whole workspace"
    raise PermissionDeniedError(f"{what} needs the contributor role {where}")


def _check_text(value: str, field_name: str, max_len: int = 300) -> str:
    value = (value or "").strip()
    if not value or len(value) > max_len:
        raise InvalidInputError(f"the {field_name} must have 1 to {max_len} characters", field=field_name)
    return value


def _check_person(session: Session, workspace_id: int, person_id: int | None, field_name: str) -> None:
    if person_id is None:
        return
    p = session.get(Person, person_id)
    if p is None or p.workspace_id != workspace_id:
        raise InvalidInputError(f"person {person_id} does not exist in this workspace", field=field_name)


def period_bounds(period: Period) -> tuple[datetime, datetime]:
    """[start, end) in UTC: from the first day's midnight to the midnight after the last day."""
    start = datetime.combine(period.start_date, time.min, tzinfo=UTC)
    end = datetime.combine(period.end_date, time.min, tzinfo=UTC) + timedelta(days=1)
    return start, end


# ------------------------------------------------------------------ periods


def list_periods(session: Session, actor: Actor, workspace_id: int) -> list[Period]:
    get_workspace(session, actor, workspace_id)
    return list(
        session.scalars(
            select(Period).where(Period.workspace_id == workspace_id).order_by(Period.start_date, Period.kind)
        )
    )


def get_period(session: Session, actor: Actor, period_id: int) -> Period:
    p = session.get(Period, period_id)
    if p is None or not actor.is_member_of(p.workspace_id):
        raise NotFoundError(f"period {period_id} does not exist")
    return p


def period_by_name(session: Session, workspace_id: int, name: str) -> Period | None:
    return session.scalar(select(Period).where(Period.workspace_id == workspace_id, Period.name == name))


def create_period(
    session: Session,
    actor: Actor,
    workspace_id: int,
    name: str,
    kind: str,
    start_date: date,
    end_date: date,
    parent_id: int | None = None,
) -> Period:
    get_workspace(session, actor, workspace_id)
    _write_check(actor, workspace_id, None, "creating a period")
    name = _check_text(name, "name", 100)
    if kind not in PERIOD_KINDS:
        raise InvalidInputError(f"period kind is one of {', '.join(PERIOD_KINDS)}", field="kind")
    if end_date < start_date:
        raise InvalidInputError("a period cannot end before it starts", field="end_date")
    if period_by_name(session, workspace_id, name):
        raise ConflictError(f"a period named {name!r} exists already", field="name")
    if parent_id is not None:
        parent = session.get(Period, parent_id)
        if parent is None or parent.workspace_id != workspace_id:
            raise InvalidInputError(f"period {parent_id} does not exist in this workspace", field="parent_id")
        if start_date < parent.start_date or end_date > parent.end_date:
            raise InvalidInputError(
                f"{name} ({start_date}–{end_date}) does not lie inside {parent.name} "
                f"({parent.start_date}–{parent.end_date})",
                field="parent_id",
            )
    period = Period(
        workspace_id=workspace_id, name=name, kind=kind, start_date=start_date, end_date=end_date, parent_id=parent_id
    )
    return records.created(session, actor, period, entity_type="period", workspace_id=workspace_id)


def update_period(
    session: Session, actor: Actor, period_id: int, changes: dict[str, Any], expected_version: int | None = None
) -> Period:
    """Rename a period or move its dates; it must stay inside its parent and keep its child periods inside."""
    period = get_period(session, actor, period_id)
    _write_check(actor, period.workspace_id, None, "changing a period")
    data = dict(changes)
    if "name" in data:
        data["name"] = _check_text(data["name"], "name", 100)
        other = period_by_name(session, period.workspace_id, data["name"])
        if other is not None and other.id != period.id:
            raise ConflictError(f"a period named {data['name']!r} exists already", field="name")
    start, end = data.get("start_date", period.start_date), data.get("end_date", period.end_date)
    if end < start:
        raise InvalidInputError("a period cannot end before it starts", field="end_date")
    parent = session.get(Period, period.parent_id) if period.parent_id is not None else None
    if parent is not None and (start < parent.start_date or end > parent.end_date):
        raise InvalidInputError(
            f"{period.name} ({start}–{end}) would not lie inside {parent.name} ({parent.start_date}–{parent.end_date})",
            field="start_date" if start < parent.start_date else "end_date",
        )
    for child in session.scalars(select(Period).where(Period.parent_id == period.id)):
        if child.start_date < start or child.end_date > end:
            raise InvalidInputError(
                f"{child.name} ({child.start_date}–{child.end_date}) would no longer lie inside {period.name}",
                field="start_date" if child.start_date < start else "end_date",
            )
    return records.update(
        session,
        actor,
        period,
        entity_type="period",
        changes=data,
        allowed=("name", "start_date", "end_date"),
        expected_version=expected_version,
        workspace_id=period.workspace_id,
    )


def create_year(session: Session, actor: Actor, workspace_id: int, year: int) -> list[Period]:
    """The annual period ``<year>`` and its quarters ``<year>-Q1`` … ``Q4`` (existing ones are kept)."""
    get_workspace(session, actor, workspace_id)
    _write_check(actor, workspace_id, None, "creating a period")
    out = []
    annual = period_by_name(session, workspace_id, str(year)) or create_period(
        session, actor, workspace_id, str(year), "annual", date(year, 1, 1), date(year, 12, 31)
    )
    out.append(annual)
    for q in range(4):
        name = f"{year}-Q{q + 1}"
        start = date(year, 3 * q + 1, 1)
        end = (date(year + 1, 1, 1) if q == 3 else date(year, 3 * q + 4, 1)) - timedelta(days=1)
        out.append(
            period_by_name(session, workspace_id, name)
            or create_period(session, actor, workspace_id, name, "quarter", start, end, annual.id)
        )
    return out


def current_period(session: Session, workspace_id: int, today: date, kind: str = "quarter") -> Period | None:
    return session.scalar(
        select(Period)
        .where(
            Period.workspace_id == workspace_id,
            Period.kind == kind,
            Period.start_date <= today,
            Period.end_date >= today,
        )
        .order_by(Period.start_date.desc())
        .limit(1)
    )


def _period_is_within(session: Session, child: Period, ancestor: Period) -> bool:
    node: Period | None = child
    seen: set[int] = set()
    while node is not None and node.id not in seen:
        if node.id == ancestor.id:
            return True
        seen.add(node.id)
        node = session.get(Period, node.parent_id) if node.parent_id is not None else None
    return False


# ------------------------------------------------------------------ objectives


def list_objectives(
    session: Session,
    actor: Actor,
    workspace_id: int,
    period_id: int | None = None,
    team_id: int | None = None,
) -> list[Objective]:
    get_workspace(session, actor, workspace_id)
    q = select(Objective).where(Objective.workspace_id == workspace_id).order_by(Objective.id)
    if period_id is not None:
        q = q.where(Objective.period_id == period_id)
    if team_id is not None:
        q = q.where(Objective.team_id == team_id)
    return list(session.scalars(q))


def get_objective(session: Session, actor: Actor, objective_id: int) -> Objective:
    o = session.get(Objective, objective_id)
    if o is None or not actor.is_member_of(o.workspace_id):
        raise NotFoundError(f"objective {objective_id} does not exist")
    if not actor.can(Permission.READ, o.workspace_id):
        raise PermissionDeniedError("this token's scopes do not allow reading objectives")
    return o


def _check_alignment(
    session: Session, objective_id: int | None, workspace_id: int, period_id: int, title: str, kr_id: int | None
) -> None:
    """The parent KR must exist in the workspace, lie in the same or an enclosing period, and not make a cycle."""
    if kr_id is None:
        return
    kr = session.get(KeyResult, kr_id)
    parent = session.get(Objective, kr.objective_id) if kr else None
    if kr is None or parent is None or parent.workspace_id != workspace_id:
        raise InvalidInputError(f"key result {kr_id} does not exist in this workspace", field="aligned_to_kr_id")
    # Walk up from the parent objective; meeting this objective means the alignment would close a loop.
    chain = [title]
    node: Objective | None = parent
    seen: set[int] = set()
    while node is not None and node.id not in seen:
        chain.append(node.title)
        if objective_id is not None and node.id == objective_id:
            raise InvalidInputError(
                "this alignment would make a cycle: " + " → ".join(repr(t) for t in chain), field="aligned_to_kr_id"
            )
        seen.add(node.id)
        up = session.get(KeyResult, node.aligned_to_kr_id) if node.aligned_to_kr_id else None
        node = session.get(Objective, up.objective_id) if up else None
    child_period = session.get(Period, period_id)
    parent_period = session.get(Period, parent.period_id)
    assert child_period is not None and parent_period is not None
    if not _period_is_within(session, child_period, parent_period):
        raise InvalidInputError(
            f"cannot align an objective of {child_period.name} to a key result of {parent_period.name}: "
            "the parent key result must belong to the same period or to one that contains it",
            field="aligned_to_kr_id",
        )


def _validate_objective_fields(session: Session, workspace_id: int, data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if "title" in out:
        out["title"] = _check_text(out["title"], "title")
    if "status" in out and out["status"] not in {s.value for s in ObjectiveStatus}:
        raise InvalidInputError("status is draft, active or closed", field="status")
    if "commitment" in out and out["commitment"] not in {c.value for c in Commitment}:
        raise InvalidInputError("commitment is committed or aspirational", field="commitment")
    if "alignment_weight" in out:
        w = out["alignment_weight"]
        if not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise InvalidInputError("alignment_weight is a number ≥ 0", field="alignment_weight")
    if out.get("team_id") is not None:
        t = session.get(Team, out["team_id"])
        if t is None or t.workspace_id != workspace_id:
            raise InvalidInputError(f"team {out['team_id']} does not exist in this workspace", field="team_id")
    if "owner_person_id" in out:
        _check_person(session, workspace_id, out["owner_person_id"], "owner_person_id")
    if "period_id" in out:
        p = session.get(Period, out["period_id"])
        if p is None or p.workspace_id != workspace_id:
            raise InvalidInputError(f"period {out['period_id']} does not exist in this workspace", field="period_id")
    return out


def create_objective(
    session: Session,
    actor: Actor,
    workspace_id: int,
    period_id: int,
    title: str,
    *,
    team_id: int | None = None,
    owner_person_id: int | None = None,
    description: str = "",
    status: str = ObjectiveStatus.ACTIVE.value,
    commitment: str = Commitment.COMMITTED.value,
    aligned_to_kr_id: int | None = None,
    alignment_weight: float = 1.0,
) -> Objective:
    get_workspace(session, actor, workspace_id)
    _write_check(actor, workspace_id, team_id, "creating an objective")
    data = _validate_objective_fields(
        session,
        workspace_id,
        {
            "period_id": period_id,
            "title": title,
            "team_id": team_id,
            "owner_person_id": owner_person_id,
            "status": status,
            "commitment": commitment,
            "alignment_weight": alignment_weight,
        },
    )
    _check_alignment(session, None, workspace_id, data["period_id"], data["title"], aligned_to_kr_id)
    obj = Objective(workspace_id=workspace_id, description=description or "", aligned_to_kr_id=aligned_to_kr_id, **data)
    return records.created(session, actor, obj, entity_type="objective", workspace_id=workspace_id)


def update_objective(
    session: Session, actor: Actor, objective_id: int, changes: dict[str, Any], expected_version: int | None = None
) -> Objective:
    obj = get_objective(session, actor, objective_id)
    _write_check(actor, obj.workspace_id, obj.team_id, "changing this objective")
    if "team_id" in changes:
        _write_check(actor, obj.workspace_id, changes["team_id"], "moving this objective to that team")
    data = _validate_objective_fields(session, obj.workspace_id, changes)
    if "aligned_to_kr_id" in data or "period_id" in data:
        _check_alignment(
            session,
            obj.id,
            obj.workspace_id,
            data.get("period_id", obj.period_id),
            obj.title,
            data.get("aligned_to_kr_id", obj.aligned_to_kr_id),
        )
    return records.update(
        session,
        actor,
        obj,
        entity_type="objective",
        changes=data,
        allowed=(
            "title",
            "description",
            "status",
            "commitment",
            "team_id",
            "owner_person_id",
            "period_id",
            "aligned_to_kr_id",
            "alignment_weight",
        ),
        expected_version=expected_version,
        workspace_id=obj.workspace_id,
    )


def delete_objective(session: Session, actor: Actor, objective_id: int, expected_version: int | None = None) -> None:
    obj = get_objective(session, actor, objective_id)
    _write_check(actor, obj.workspace_id, obj.team_id, "deleting this objective")
    for kr in session.scalars(select(KeyResult).where(KeyResult.objective_id == obj.id)):
        children = session.scalars(select(Objective).where(Objective.aligned_to_kr_id == kr.id)).all()
        if children:
            raise ConflictError(
                f"objective {children[0].title!r} is aligned to key result {kr.title!r}; re-align it first"
            )
    records.deleted(
        session, actor, obj, entity_type="objective", workspace_id=obj.workspace_id, expected_version=expected_version
    )


# ------------------------------------------------------------------ key results

KR_FIELDS = (
    "title",
    "owner_person_id",
    "unit",
    "direction",
    "baseline",
    "target",
    "band_low",
    "band_high",
    "milestones",
    "weight",
    "kind",
    "metric_id",
    "metric_dimensions",
    "position",
)


def kr_target(kr: KeyResult) -> KeyResultTarget:
    return KeyResultTarget(
        direction=Direction(kr.direction),
        baseline=kr.baseline,
        target=kr.target,
        band_low=kr.band_low,
        band_high=kr.band_high,
        milestones=tuple(kr.milestones or ()),
    )


def _validate_kr(session: Session, workspace_id: int, data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if "title" in out:
        out["title"] = _check_text(out["title"], "title")
    if "direction" in out and out["direction"] not in {d.value for d in Direction}:
        raise InvalidInputError("direction is increase, decrease, band or milestone", field="direction")
    if "kind" in out and out["kind"] not in {k.value for k in KeyResultKind}:
        raise InvalidInputError("kind is outcome, output or discovery", field="kind")
    if "weight" in out:
        w = out["weight"]
        if not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise InvalidInputError("weight is a number ≥ 0", field="weight")
    if "milestones" in out:
        ms = out["milestones"] or []
        if not isinstance(ms, list) or not all(isinstance(m, str) and m.strip() for m in ms):
            raise InvalidInputError("milestones is a list of names", field="milestones")
        out["milestones"] = [m.strip() for m in ms]
    if "owner_person_id" in out:
        _check_person(session, workspace_id, out["owner_person_id"], "owner_person_id")
    if out.get("metric_id") is not None:
        m = session.get(Metric, out["metric_id"])
        if m is None or m.workspace_id != workspace_id:
            raise InvalidInputError(f"metric {out['metric_id']} does not exist in this workspace", field="metric_id")
        dims = out.get("metric_dimensions") or {}
        if not isinstance(dims, dict):
            raise InvalidInputError(
                "metric_dimensions is an object like {'team': 'payments'}", field="metric_dimensions"
            )
        allowed = set(catalog.current_version(session, m).dimensions or [])
        extra = set(dims) - allowed
        if extra:
            raise InvalidInputError(
                f"metric {m.key!r} has no dimension {sorted(extra)[0]!r}", field="metric_dimensions"
            )
    return out


def _check_target(data: dict[str, Any]) -> None:
    try:
        KeyResultTarget(
            direction=Direction(data["direction"]),
            baseline=float(data.get("baseline") or 0.0),
            target=float(data.get("target") if data.get("target") is not None else 1.0),
            band_low=data.get("band_low"),
            band_high=data.get("band_high"),
            milestones=tuple(data.get("milestones") or ()),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(str(exc), field="target") from None


def list_key_results(session: Session, actor: Actor, objective_id: int) -> list[KeyResult]:
    get_objective(session, actor, objective_id)
    return list(
        session.scalars(
            select(KeyResult).where(KeyResult.objective_id == objective_id).order_by(KeyResult.position, KeyResult.id)
        )
    )


def get_key_result(session: Session, actor: Actor, kr_id: int) -> tuple[KeyResult, Objective]:
    kr = session.get(KeyResult, kr_id)
    obj = session.get(Objective, kr.objective_id) if kr else None
    if kr is None or obj is None or not actor.is_member_of(obj.workspace_id):
        raise NotFoundError(f"key result {kr_id} does not exist")
    if not actor.can(Permission.READ, obj.workspace_id):
        raise PermissionDeniedError("this token's scopes do not allow reading key results")
    return kr, obj


def create_key_result(
    session: Session,
    actor: Actor,
    objective_id: int,
    title: str,
    direction: str,
    *,
    baseline: float = 0.0,
    target: float = 1.0,
    band_low: float | None = None,
    band_high: float | None = None,
    milestones: Sequence[str] = (),
    unit: str = "",
    weight: float = 1.0,
    kind: str = KeyResultKind.OUTCOME.value,
    owner_person_id: int | None = None,
    metric_id: int | None = None,
    metric_dimensions: dict[str, str] | None = None,
) -> KeyResult:
    obj = get_objective(session, actor, objective_id)
    _write_check(actor, obj.workspace_id, obj.team_id, "adding a key result")
    if direction == Direction.MILESTONE.value:
        target = float(max(1, len(milestones)))
        baseline = 0.0
    data = _validate_kr(
        session,
        obj.workspace_id,
        {
            "title": title,
            "direction": direction,
            "baseline": baseline,
            "target": target,
            "band_low": band_low,
            "band_high": band_high,
            "milestones": list(milestones),
            "unit": unit or "",
            "weight": weight,
            "kind": kind,
            "owner_person_id": owner_person_id,
            "metric_id": metric_id,
            "metric_dimensions": dict(metric_dimensions or {}),
        },
    )
    _check_target(data)
    position = len(list_key_results(session, actor, objective_id))
    kr = KeyResult(objective_id=objective_id, position=position, **data)
    return records.created(session, actor, kr, entity_type="key_result", workspace_id=obj.workspace_id)


def update_key_result(
    session: Session, actor: Actor, kr_id: int, changes: dict[str, Any], expected_version: int | None = None
) -> KeyResult:
    kr, obj = get_key_result(session, actor, kr_id)
    _write_check(actor, obj.workspace_id, obj.team_id, "changing this key result")
    data = _validate_kr(session, obj.workspace_id, changes)
    merged = {f: getattr(kr, f) for f in KR_FIELDS} | data
    if merged["direction"] == Direction.MILESTONE.value:
        data["target"], data["baseline"] = float(max(1, len(merged["milestones"] or []))), 0.0
        merged |= {"target": data["target"], "baseline": 0.0}
    _check_target(merged)
    return records.update(
        session,
        actor,
        kr,
        entity_type="key_result",
        changes=data,
        allowed=KR_FIELDS,
        expected_version=expected_version,
        workspace_id=obj.workspace_id,
    )


def delete_key_result(session: Session, actor: Actor, kr_id: int, expected_version: int | None = None) -> None:
    kr, obj = get_key_result(session, actor, kr_id)
    _write_check(actor, obj.workspace_id, obj.team_id, "deleting this key result")
    child = session.scalar(select(Objective).where(Objective.aligned_to_kr_id == kr.id))
    if child is not None:
        raise ConflictError(f"objective {child.title!r} is aligned to this key result; re-align it first")
    records.deleted(
        session, actor, kr, entity_type="key_result", workspace_id=obj.workspace_id, expected_version=expected_version
    )


# ------------------------------------------------------------------ check-ins


def _check_confidence(confidence: float) -> float:
    if not isinstance(confidence, int | float) or not math.isfinite(confidence) or not 0 <= confidence <= 10:
        raise InvalidInputError("confidence is a number from 0 to 10", field="confidence")
    return float(confidence)


def create_checkin(
    session: Session,
    actor: Actor,
    kr_id: int,
    *,
    confidence: float,
    value: float | None = None,
    note: str = "",
    at: datetime | None = None,
) -> CheckIn:
    kr, obj = get_key_result(session, actor, kr_id)
    _write_check(actor, obj.workspace_id, obj.team_id, "checking in")
    if kr.metric_id is not None and value is not None:
        raise InvalidInputError(
            "this key result is bound to a metric: its value comes from the metric; send confidence and a note only",
            field="value",
        )
    if kr.metric_id is None and value is None:
        raise InvalidInputError("a check-in needs the key result's current value", field="value")
    if value is not None and (not isinstance(value, int | float) or not math.isfinite(value)):
        raise InvalidInputError("value must be a finite number", field="value")
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    checkin = CheckIn(
        key_result_id=kr.id,
        value=None if value is None else float(value),
        confidence=_check_confidence(confidence),
        note=(note or "").strip(),
        author=actor.label,
        author_user_id=actor.user_id,
        at=at or datetime.now(UTC),
    )
    return records.created(session, actor, checkin, entity_type="checkin", workspace_id=obj.workspace_id)


def get_checkin(session: Session, actor: Actor, checkin_id: int) -> tuple[CheckIn, KeyResult, Objective]:
    c = session.get(CheckIn, checkin_id)
    if c is None:
        raise NotFoundError(f"check-in {checkin_id} does not exist")
    kr, obj = get_key_result(session, actor, c.key_result_id)
    return c, kr, obj


def update_checkin(
    session: Session, actor: Actor, checkin_id: int, changes: dict[str, Any], expected_version: int | None = None
) -> CheckIn:
    c, kr, obj = get_checkin(session, actor, checkin_id)
    _write_check(actor, obj.workspace_id, obj.team_id, "editing a check-in")
    data = dict(changes)
    if "confidence" in data:
        data["confidence"] = _check_confidence(data["confidence"])
    if "value" in data:
        if kr.metric_id is not None and data["value"] is not None:
            raise InvalidInputError("this key result is bound to a metric: its check-ins carry no value", field="value")
        if kr.metric_id is None and (data["value"] is None or not math.isfinite(float(data["value"]))):
            raise InvalidInputError("value must be a finite number", field="value")
    if "note" in data:
        data["note"] = (data["note"] or "").strip()
    return records.update(
        session,
        actor,
        c,
        entity_type="checkin",
        changes=data,
        allowed=("value", "confidence", "note", "at"),
        expected_version=expected_version,
        workspace_id=obj.workspace_id,
    )


def delete_checkin(session: Session, actor: Actor, checkin_id: int, expected_version: int | None = None) -> None:
    c, _kr, obj = get_checkin(session, actor, checkin_id)
    _write_check(actor, obj.workspace_id, obj.team_id, "deleting a check-in")
    records.deleted(
        session, actor, c, entity_type="checkin", workspace_id=obj.workspace_id, expected_version=expected_version
    )


def list_checkins(session: Session, actor: Actor, kr_id: int) -> list[CheckIn]:
    get_key_result(session, actor, kr_id)
    return list(session.scalars(select(CheckIn).where(CheckIn.key_result_id == kr_id).order_by(CheckIn.at)))


# ------------------------------------------------------------------ north star


def set_north_star(session: Session, actor: Actor, workspace_id: int, metric_id: int | None) -> Workspace:
    ws = get_workspace(session, actor, workspace_id)
    if not actor.can(Permission.ADMIN, workspace_id):
        if not actor.scope_allows(Permission.ADMIN):
            raise PermissionDeniedError("this token's scopes do not allow naming the north-star metric")
        raise PermissionDeniedError("naming the north-star metric needs the admin role")
    if metric_id is not None:
        m = session.get(Metric, metric_id)
        if m is None or m.workspace_id != workspace_id:
            raise InvalidInputError(f"metric {metric_id} does not exist in this workspace", field="metric_id")
    return records.update(
        session,
        actor,
        ws,
        entity_type="workspace",
        changes={"north_star_metric_id": metric_id},
        allowed=("north_star_metric_id",),
        expected_version=None,
        workspace_id=ws.id,
    )


# ------------------------------------------------------------------ computed state


@dataclass
class KrState:
    kr: KeyResult
    target: KeyResultTarget
    current_value: float | None
    current_at: datetime | None
    progress: float | None  # raw
    confidence: float | None
    status: CheckinStatus | None
    last_checkin_at: datetime | None
    days_since_checkin: float | None
    history: list[tuple[datetime, float]]
    forecast: KrForecast
    schedule: ScheduleGap
    metric_key: str | None = None

    @property
    def display_progress(self) -> float:
        return display_progress(self.progress)


@dataclass
class ObjectiveState:
    objective: Objective
    period: Period
    progress: float | None
    grade: GradeVerdict
    key_results: list[KrState]
    children: dict[int, list[ObjectiveState]] = field(default_factory=dict)  # kr id -> aligned objectives
    warning: str | None = None
    team_name: str | None = None
    owner_name: str | None = None

    @property
    def display_progress(self) -> float:
        return display_progress(self.progress)

    @property
    def at_risk_krs(self) -> list[KrState]:
        return [k for k in self.key_results if k.forecast.at_risk]


def kr_state(session: Session, kr: KeyResult, period: Period, settings: OkrSettings, now: datetime) -> KrState:
    start, end = period_bounds(period)
    checkins = list(session.scalars(select(CheckIn).where(CheckIn.key_result_id == kr.id).order_by(CheckIn.at)))
    metric_key = None
    if kr.metric_id is not None:
        metric = session.get(Metric, kr.metric_id)
        metric_key = metric.key if metric else None
        points = catalog.series(session, kr.metric_id, kr.metric_dimensions or {}, since=start, until=min(now, end))
        history = [(p.at, p.value) for p in points]
        if not history:  # the last value before the period is the starting point
            last = catalog.latest_value(session, kr.metric_id, kr.metric_dimensions or {}, at_or_before=now)
            history = [(last.at, last.value)] if last else []
    else:
        history = [(c.at, c.value) for c in checkins if c.value is not None]
    target = kr_target(kr)
    current_at, current_value = history[-1] if history else (None, None)
    last = checkins[-1] if checkins else None
    in_period = [(t, v) for t, v in history if start <= t < end]
    fc = forecast(target, [t for t, _ in in_period], [v for _, v in in_period], start, end, now)
    return KrState(
        kr=kr,
        target=target,
        current_value=current_value,
        current_at=current_at,
        progress=progress(target, current_value),
        confidence=last.confidence if last else None,
        status=confidence_status(last.confidence, settings.confidence) if last else None,
        last_checkin_at=last.at if last else None,
        days_since_checkin=(now - last.at).total_seconds() / 86400 if last else None,
        history=history,
        forecast=fc,
        schedule=schedule_gap(target, current_value, start, end, now),
        metric_key=metric_key,
    )


def objective_state(
    session: Session, obj: Objective, settings: OkrSettings, now: datetime, _seen: frozenset[int] = frozenset()
) -> ObjectiveState:
    period = session.get(Period, obj.period_id)
    assert period is not None
    krs = list(
        session.scalars(
            select(KeyResult).where(KeyResult.objective_id == obj.id).order_by(KeyResult.position, KeyResult.id)
        )
    )
    states = [kr_state(session, kr, period, settings, now) for kr in krs]
    children: dict[int, list[ObjectiveState]] = {}
    parts = [Weighted(s.progress, s.kr.weight) for s in states]
    seen = _seen | {obj.id}
    for kr in krs:
        for child in session.scalars(
            select(Objective).where(Objective.aligned_to_kr_id == kr.id).order_by(Objective.id)
        ):
            if child.id in seen:
                continue  # cycles are refused on write; this only guards old data
            cs = objective_state(session, child, settings, now, seen)
            children.setdefault(kr.id, []).append(cs)
            if settings.include_aligned_in_progress:
                parts.append(Weighted(cs.progress, child.alignment_weight))
    value = roll_up(parts)
    team = session.get(Team, obj.team_id) if obj.team_id else None
    owner = session.get(Person, obj.owner_person_id) if obj.owner_person_id else None
    return ObjectiveState(
        objective=obj,
        period=period,
        progress=value,
        grade=grade_verdict(value, Commitment(obj.commitment)),
        key_results=states,
        children=children,
        warning=kr_count_warning(len(krs)),
        team_name=team.name if team else None,
        owner_name=owner.name if owner else None,
    )


def tree(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    period_id: int | None = None,
    team_id: int | None = None,
    now: datetime | None = None,
) -> list[ObjectiveState]:
    """Root objectives (not aligned to a KR among the shown ones) with their aligned children nested."""
    ws = get_workspace(session, actor, workspace_id)
    now = now or datetime.now(UTC)
    settings = OkrSettings.of(ws)
    objectives = list_objectives(session, actor, workspace_id, period_id=period_id, team_id=team_id)
    shown_krs = set(session.scalars(select(KeyResult.id).where(KeyResult.objective_id.in_([o.id for o in objectives]))))
    roots = [o for o in objectives if o.aligned_to_kr_id is None or o.aligned_to_kr_id not in shown_krs]
    return [objective_state(session, o, settings, now) for o in roots]


def walk(states: Sequence[ObjectiveState]) -> list[ObjectiveState]:
    """Every objective state of a tree, parents before children."""
    out: list[ObjectiveState] = []
    for s in states:
        out.append(s)
        for kids in s.children.values():
            out.extend(walk(kids))
    return out


def ancestors(session: Session, actor: Actor, objective_id: int) -> list[tuple[KeyResult, Objective]]:
    """Walk the tree upward: the key results (and their objectives) this objective contributes to."""
    obj = get_objective(session, actor, objective_id)
    out: list[tuple[KeyResult, Objective]] = []
    seen: set[int] = {obj.id}
    while obj.aligned_to_kr_id is not None:
        kr = session.get(KeyResult, obj.aligned_to_kr_id)
        parent = session.get(Objective, kr.objective_id) if kr else None
        if kr is None or parent is None or parent.id in seen:
            break
        out.append((kr, parent))
        seen.add(parent.id)
        obj = parent
    return out


@dataclass(frozen=True)
class DueCheckin:
    key_result: KeyResult
    objective: Objective
    last_checkin_at: datetime | None
    days_since: float | None


def checkins_due(
    session: Session, actor: Actor, workspace_id: int, now: datetime | None = None, days: int | None = None
) -> list[DueCheckin]:
    """Key results of active objectives in running periods with no check-in for more than N days."""
    ws = get_workspace(session, actor, workspace_id)
    now = now or datetime.now(UTC)
    limit = days if days is not None else OkrSettings.of(ws).checkin_due_days
    today = now.date()
    rows = session.execute(
        select(KeyResult, Objective)
        .join(Objective, KeyResult.objective_id == Objective.id)
        .join(Period, Objective.period_id == Period.id)
        .where(
            Objective.workspace_id == workspace_id,
            Objective.status == ObjectiveStatus.ACTIVE.value,
            Period.start_date <= today,
            Period.end_date >= today,
        )
        .order_by(Objective.id, KeyResult.position)
    ).all()
    due = []
    for kr, obj in rows:
        last = session.scalar(
            select(CheckIn.at).where(CheckIn.key_result_id == kr.id).order_by(CheckIn.at.desc()).limit(1)
        )
        age = (now - last).total_seconds() / 86400 if last else None
        if age is None or age > limit:
            due.append(DueCheckin(kr, obj, last, age))
    return due
