"""Pilots: the one-page record, its lifecycle, daily results, the statistics readout and the exit-rule evaluation.

The record is validated by ``okrflow.domain.pilots`` (hypothesis, timebox, risks, guardrails, rollout, exit rules)
and stored as JSON on :class:`okrflow.store.models_pilots.Pilot`. The hypothesis JSON holds ``primary_metric``,
``direction``, ``expected_effect``, ``effect_kind``, ``statement`` and the analysis settings ``alpha`` (0.05),
``method`` (``sequential`` by default: pilots are read at every look, see docs/experiments.md),
``planned_sample_size`` (total units over variants, optional), ``extended_days`` (granted by extend decisions),
and for the power analysis ``power`` (0.8) and an optional planning ``baseline`` of the primary metric before any
result is in: ``{"rate": 0.12}`` for a conversion metric, ``{"mean": 41.5, "std": 12}`` for a mean metric.

The planned split is a mapping variant → share with a ``control`` variant, e.g. ``{"control": 0.5, "treatment":
0.5}`` (JSONB does not keep key order, so the control is found by name).

Permissions: contributors of the pilot's team (or workspace-wide) write; everyone in the workspace reads.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.domain import pilots as dp
from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from okrflow.domain.okr import Direction
from okrflow.metrics import experiments as ex
from okrflow.services import audit, records, validate
from okrflow.services.tenancy import get_workspace
from okrflow.store.models import Person, Team
from okrflow.store.models_okr import KeyResult, Objective
from okrflow.store.models_pilots import Pilot, PilotEvaluation, PilotResult
from okrflow.store.models_work import WorkItem

CONTROL = "control"
METHODS = ("fixed", "sequential")
DEFAULT_METHOD = "sequential"
DEFAULT_POWER = 0.8
MIN_OBSERVED_UNITS = 100  # control units before the observed variance replaces the planning baseline
OUTCOME_LEVELS = ("initiative", "epic")
EDITABLE_FIELDS = (
    "title",
    "problem",
    "hypothesis",
    "timebox_start",
    "timebox_end",
    "scope",
    "entry_criteria",
    "exit_criteria",
    "risks",
    "guardrails",
    "rollout",
    "planned_split",
    "exit_rules",
    "owner_person_id",
    "team_id",
    "key_result_id",
    "work_item_id",
)
# Fields that define what the results are judged against: fixed once the pilot runs.
DRAFT_ONLY_FIELDS = frozenset({"exit_rules", "hypothesis", "guardrails", "planned_split", "timebox_start"})
MAX_UNITS = 2_147_483_647  # ``pilot_results.n`` is an integer column
MAX_RESULT_VALUE = 1e30  # conversions, sum, sum of squares: far beyond real data, far from float overflow


# ------------------------------------------------------------------ access


def _write_check(actor: Actor, workspace_id: int, team_id: int | None, what: str) -> None:
    where = "on the pilot's team" if team_id is not None else "for the whole workspace"
    validate.check_write(actor, workspace_id, team_id, what, where=where)


def get_pilot(session: Session, actor: Actor, pilot_id: int) -> Pilot:
    pilot = session.get(Pilot, pilot_id)
    if pilot is None or not actor.is_member_of(pilot.workspace_id):
        raise NotFoundError(f"pilot {pilot_id} does not exist")
    if not actor.can(Permission.READ, pilot.workspace_id):
        raise PermissionDeniedError("this token's scopes do not allow reading pilots")
    return pilot


def pilot_by_key(session: Session, actor: Actor, workspace_id: int, key: str) -> Pilot:
    get_workspace(session, actor, workspace_id)
    pilot = session.scalar(select(Pilot).where(Pilot.workspace_id == workspace_id, Pilot.key == key.strip()))
    if pilot is None:
        raise NotFoundError(f"no pilot with key {key.strip()!r}")
    return pilot


def list_pilots(session: Session, actor: Actor, workspace_id: int, *, status: str | None = None) -> list[Pilot]:
    get_workspace(session, actor, workspace_id)
    q = select(Pilot).where(Pilot.workspace_id == workspace_id)
    if status is not None:
        q = q.where(Pilot.status == _status(status))
    return list(session.scalars(q.order_by(Pilot.id)))


# ------------------------------------------------------------------ validation


def _status(value: str) -> dp.PilotStatus:
    try:
        return dp.PilotStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in dp.PilotStatus)
        raise InvalidInputError(f"pilot status is one of {allowed}, not {value!r}", field="status") from None


def _text(value: Any, field_name: str, max_len: int = 300, *, required: bool = True) -> str:
    return validate.text(value, field_name, max_len, required=required, label=f"the {field_name}")


def _texts(value: Any, field_name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInputError(f"{field_name} is a list of texts", field=field_name)
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise InvalidInputError(f"{field_name} is a list of non-empty texts", field=field_name)
        out.append(item.strip())
    return out


# A pilot's metrics move up or down; bands and milestones are key-result kinds, not experiment metrics.
METRIC_DIRECTIONS = (Direction.INCREASE, Direction.DECREASE)


def _mapping(value: Any, field_name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{field_name} must be an object", field=field_name)
    return value


def _hypothesis_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The analysis settings kept with the hypothesis, checked."""
    out: dict[str, Any] = {}
    alpha = validate.number(raw.get("alpha", ex.DEFAULT_ALPHA), "hypothesis.alpha")
    if not 0 < alpha < 1:
        raise InvalidInputError("hypothesis.alpha lies strictly between 0 and 1", field="hypothesis.alpha")
    out["alpha"] = alpha
    method = raw.get("method", DEFAULT_METHOD)
    if method not in METHODS:
        raise InvalidInputError(f"hypothesis.method is one of {', '.join(METHODS)}", field="hypothesis.method")
    out["method"] = method
    planned = raw.get("planned_sample_size")
    if planned is not None and (isinstance(planned, bool) or not isinstance(planned, int) or planned < 2):
        raise InvalidInputError(
            "hypothesis.planned_sample_size is a whole number ≥ 2 (units over all variants)",
            field="hypothesis.planned_sample_size",
        )
    out["planned_sample_size"] = planned
    extended = raw.get("extended_days", 0)
    if isinstance(extended, bool) or not isinstance(extended, int) or extended < 0:
        raise InvalidInputError("hypothesis.extended_days is a whole number ≥ 0", field="hypothesis.extended_days")
    out["extended_days"] = extended
    power = validate.number(raw.get("power", DEFAULT_POWER), "hypothesis.power")
    if not 0 < power < 1:
        raise InvalidInputError("hypothesis.power lies strictly between 0 and 1", field="hypothesis.power")
    out["power"] = power
    out["baseline"] = _baseline(raw.get("baseline"))
    return out


def _baseline(raw: Any) -> dict[str, float] | None:
    """The planning baseline of the primary metric: ``{"rate": p}`` (a conversion rate, 0 < p < 1) or
    ``{"mean": m, "std": s}`` (a mean metric, s > 0)."""
    if raw is None:
        return None
    field_name = "hypothesis.baseline"
    hint = 'hypothesis.baseline is {"rate": 0.12} for a conversion metric or {"mean": 41.5, "std": 12} for a mean'
    if not isinstance(raw, Mapping) or set(raw) not in ({"rate"}, {"mean", "std"}):
        raise InvalidInputError(hint, field=field_name)
    if "rate" in raw:
        rate = validate.number(raw["rate"], "hypothesis.baseline.rate")
        if not 0 < rate < 1:
            raise InvalidInputError("hypothesis.baseline.rate lies strictly between 0 and 1", field=field_name)
        return {"rate": rate}
    mean = validate.number(raw["mean"], "hypothesis.baseline.mean")
    std = validate.number(raw["std"], "hypothesis.baseline.std")
    if not std > 0:
        raise InvalidInputError("hypothesis.baseline.std must be above 0", field=field_name)
    return {"mean": mean, "std": std}


@contextmanager
def _about(field_name: str) -> Iterator[None]:
    """Name the field of a domain error that does not say which field it is about (the API reports it)."""
    try:
        yield
    except InvalidInputError as exc:
        if "field" in exc.details:
            raise
        raise InvalidInputError(exc.message, field=field_name, **exc.details) from None


def _domain_hypothesis(raw: Mapping[str, Any], start: date, end: date) -> dp.Hypothesis:
    raw = _mapping(raw, "hypothesis")
    known = {
        "primary_metric",
        "direction",
        "expected_effect",
        "effect_kind",
        "statement",
        "alpha",
        "method",
        "planned_sample_size",
        "extended_days",
        "power",
        "baseline",
    }
    unknown = set(raw) - known
    if unknown:
        raise InvalidInputError(f"unknown hypothesis field {sorted(unknown)[0]!r}", field="hypothesis")
    settings = _hypothesis_settings(raw)
    with _about("timebox_end"):
        timebox = dp.Timebox(start, end, settings["extended_days"])
    with _about("hypothesis"):
        return dp.Hypothesis(
            primary_metric=_text(raw.get("primary_metric"), "hypothesis.primary_metric", 100),
            direction=validate.choice(Direction, raw.get("direction"), "hypothesis.direction", only=METRIC_DIRECTIONS),
            expected_effect=validate.number(raw.get("expected_effect"), "hypothesis.expected_effect"),
            effect_kind=validate.choice(dp.EffectKind, raw.get("effect_kind", "relative"), "hypothesis.effect_kind"),
            timebox=timebox,
            statement=_text(raw.get("statement", ""), "hypothesis.statement", 2000, required=False),
        )


def _risk(raw: Any) -> dp.Risk:
    raw = _mapping(raw, "risks[]")
    return dp.Risk(
        description=_text(raw.get("description"), "risk description", 1000),
        likelihood=raw.get("likelihood"),  # the domain checks 1–5
        impact=raw.get("impact"),
        mitigation=_text(raw.get("mitigation", ""), "risk mitigation", 2000, required=False),
    )


def _guardrail(raw: Any) -> dp.Guardrail:
    raw = _mapping(raw, "guardrails[]")
    return dp.Guardrail(
        metric=_text(raw.get("metric"), "guardrail metric", 100),
        direction=validate.choice(Direction, raw.get("direction"), "guardrail direction", only=METRIC_DIRECTIONS),
        accepted_regression=validate.number(raw.get("accepted_regression", 0.0), "guardrail accepted_regression"),
        kind=validate.choice(dp.EffectKind, raw.get("kind", "relative"), "guardrail kind"),
    )


def _stage(raw: Any) -> dp.RolloutStage:
    raw = _mapping(raw, "rollout[]")
    split = raw.get("split", (50.0, 50.0))
    if isinstance(split, str) or not isinstance(split, Sequence):
        raise InvalidInputError("a rollout stage's split is a list of weights (control first)", field="rollout")
    return dp.RolloutStage(
        cohort=_text(raw.get("cohort"), "cohort name", 100),
        exposure_percent=validate.number(raw.get("exposure_percent"), "rollout exposure_percent"),
        start=validate.day(raw.get("start"), "rollout start"),
        split=tuple(validate.number(w, "rollout split") for w in split),
    )


def _planned_split(raw: Any, rollout: Sequence[dp.RolloutStage]) -> dict[str, float]:
    """Variant → share (summing to 1). Defaults to the rollout's split (control, treatment, treatment_2 …)."""
    if raw is None or raw == {}:
        staged = rollout[0].split_shares if rollout else (0.5, 0.5)
        names = [CONTROL] + (["treatment"] if len(staged) == 2 else [f"treatment_{i}" for i in range(1, len(staged))])
        return dict(zip(names, staged, strict=True))
    raw = _mapping(raw, "planned_split")
    if CONTROL not in raw:
        raise InvalidInputError("the planned split names a 'control' variant", field="planned_split")
    if len(raw) < 2:
        raise InvalidInputError("the planned split has the control and at least one treatment", field="planned_split")
    weights: dict[str, float] = {}
    for name, w in raw.items():
        name = _text(name, "variant name", 64)
        w = validate.number(w, f"planned_split.{name}")
        if w <= 0:
            raise InvalidInputError(f"the share of {name!r} must be positive", field="planned_split")
        weights[name] = w
    total = sum(weights.values())
    shares = {k: v / total for k, v in weights.items()}
    if rollout:
        planned = [shares[CONTROL], *sorted(v for k, v in shares.items() if k != CONTROL)]
        staged_sorted = [rollout[0].split_shares[0], *sorted(rollout[0].split_shares[1:])]
        if len(planned) != len(staged_sorted) or any(
            abs(a - b) > 1e-9 for a, b in zip(planned, staged_sorted, strict=True)
        ):
            raise InvalidInputError(
                "the planned split differs from the rollout's split; keep one split for the whole pilot",
                field="planned_split",
            )
    return shares


@dataclass(frozen=True)
class PilotSpec:
    """A pilot row read back into the domain: the record plus the analysis settings."""

    record: dp.Pilot
    split: dict[str, float]
    alpha: float
    method: ex.Method
    planned_sample_size: int | None
    power: float = DEFAULT_POWER
    baseline: dict[str, float] | None = None

    @property
    def primary_scale(self) -> dp.EffectKind:
        """The scale the primary is judged on: the scale-rule's lift kind, else the hypothesis' effect kind."""
        kinds = {r.lift_kind for r in self.record.exit_rules if isinstance(r, dp.ScaleWhen)}
        return next(iter(kinds)) if kinds else self.record.hypothesis.effect_kind

    @property
    def treatments(self) -> list[str]:
        return sorted(k for k in self.split if k != CONTROL)


def _build(data: Mapping[str, Any], owner: str) -> PilotSpec:
    """Validate the stored form of a pilot through the domain; errors name the field."""
    start = validate.day(data.get("timebox_start"), "timebox_start")
    end = validate.day(data.get("timebox_end"), "timebox_end")
    hyp_raw = _mapping(data.get("hypothesis") or {}, "hypothesis")
    hypothesis = _domain_hypothesis(hyp_raw, start, end)
    settings = _hypothesis_settings(hyp_raw)
    for name in ("risks", "guardrails", "rollout", "exit_rules"):
        value = data.get(name)
        if value is not None and (isinstance(value, str | Mapping) or not isinstance(value, Sequence)):
            raise InvalidInputError(f"{name} is a list", field=name)
    with _about("rollout"):
        rollout = tuple(_stage(s) for s in data.get("rollout") or ())
        dp.validate_rollout(rollout)
    rules_cfg = data.get("exit_rules")
    with _about("exit_rules"):
        rules = dp.DEFAULT_RULES if rules_cfg is None else dp.parse_rules(rules_cfg)
    lift_kinds = {r.lift_kind for r in rules if isinstance(r, dp.ScaleWhen)}
    if len(lift_kinds) > 1:
        raise InvalidInputError("all scale rules must read the lift on the same scale", field="exit_rules")
    title = _text(data.get("title"), "title")
    problem = _text(data.get("problem"), "problem statement", 5000)
    with _about("risks"):
        risks = tuple(_risk(r) for r in data.get("risks") or ())
    with _about("guardrails"):
        guardrails = tuple(_guardrail(g) for g in data.get("guardrails") or ())
        record = dp.Pilot(  # what is left to check here is about the guardrails (each once, not the primary)
            title=title,
            problem=problem,
            hypothesis=hypothesis,
            owner=owner,
            scope=_text(data.get("scope", ""), "scope", 5000, required=False),
            entry_criteria=tuple(_texts(data.get("entry_criteria"), "entry_criteria")),
            exit_criteria=tuple(_texts(data.get("exit_criteria"), "exit_criteria")),
            risks=risks,
            guardrails=guardrails,
            rollout=rollout,
            exit_rules=rules,
            key_result_id=data.get("key_result_id"),
            initiative_id=data.get("work_item_id"),
            status=_status(data.get("status", "draft")),
        )
    if rollout and rollout[0].start < start:
        raise InvalidInputError(f"the first rollout stage starts before the timebox ({start})", field="rollout")
    split = _planned_split(data.get("planned_split"), rollout)
    return PilotSpec(
        record,
        split,
        settings["alpha"],
        ex.Method(settings["method"]),
        settings["planned_sample_size"],
        settings["power"],
        settings["baseline"],
    )


def _stored_form(spec: PilotSpec) -> dict[str, Any]:
    """The normalised JSON columns of a validated pilot."""
    rec = spec.record
    h = rec.hypothesis
    return {
        "title": rec.title,
        "problem": rec.problem,
        "hypothesis": {
            "primary_metric": h.primary_metric,
            "direction": h.direction.value,
            "expected_effect": h.expected_effect,
            "effect_kind": h.effect_kind.value,
            "statement": h.statement,
            "alpha": spec.alpha,
            "method": spec.method.value,
            "planned_sample_size": spec.planned_sample_size,
            "extended_days": h.timebox.extended_days,
            "power": spec.power,
            "baseline": spec.baseline,
        },
        "timebox_start": h.timebox.start,
        "timebox_end": h.timebox.end,
        "scope": rec.scope,
        "entry_criteria": list(rec.entry_criteria),
        "exit_criteria": list(rec.exit_criteria),
        "risks": [
            {"description": r.description, "likelihood": r.likelihood, "impact": r.impact, "mitigation": r.mitigation}
            for r in rec.risks
        ],
        "guardrails": [
            {
                "metric": g.metric,
                "direction": g.direction.value,
                "accepted_regression": g.accepted_regression,
                "kind": g.kind.value,
            }
            for g in rec.guardrails
        ],
        "rollout": [
            {
                "cohort": s.cohort,
                "exposure_percent": s.exposure_percent,
                "start": s.start.isoformat(),
                "split": list(s.split),
            }
            for s in rec.rollout
        ],
        "planned_split": spec.split,
        "exit_rules": dp.rules_to_config(rec.exit_rules),
    }


def _owner_name(session: Session, workspace_id: int, person_id: Any) -> str:
    if person_id is None:
        raise InvalidInputError("a pilot needs an owner (owner_person_id)", field="owner_person_id")
    person = session.get(Person, person_id) if isinstance(person_id, int) else None
    if person is None or person.workspace_id != workspace_id:
        raise InvalidInputError(f"person {person_id} does not exist in this workspace", field="owner_person_id")
    return person.name


def _check_links(session: Session, workspace_id: int, data: Mapping[str, Any]) -> None:
    team_id = data.get("team_id")
    if team_id is not None:
        team = session.get(Team, team_id)
        if team is None or team.workspace_id != workspace_id:
            raise InvalidInputError(f"team {team_id} does not exist in this workspace", field="team_id")
    kr_id = data.get("key_result_id")
    if kr_id is not None:
        kr = session.get(KeyResult, kr_id)
        obj = session.get(Objective, kr.objective_id) if kr else None
        if obj is None or obj.workspace_id != workspace_id:
            raise InvalidInputError(f"key result {kr_id} does not exist in this workspace", field="key_result_id")
    item_id = data.get("work_item_id")
    if item_id is not None:
        item = session.get(WorkItem, item_id)
        if item is None or item.workspace_id != workspace_id:
            raise InvalidInputError(f"work item {item_id} does not exist in this workspace", field="work_item_id")
        if item.level not in OUTCOME_LEVELS:
            raise InvalidInputError(
                f"{item.key or item.id} is a {item.level or 'unmapped'} item; a pilot serves an initiative or epic",
                field="work_item_id",
            )


def spec_of(session: Session, pilot: Pilot) -> PilotSpec:
    """The stored pilot as the domain sees it."""
    owner = session.get(Person, pilot.owner_person_id) if pilot.owner_person_id else None
    data = {c: getattr(pilot, c) for c in (*EDITABLE_FIELDS, "status")}
    return _build(data, owner.name if owner else "(no owner)")


# ------------------------------------------------------------------ create / update / transition


def create_pilot(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    key: str,
    title: str,
    problem: str,
    hypothesis: Mapping[str, Any],
    timebox_start: date | str,
    timebox_end: date | str,
    owner_person_id: int | None,
    team_id: int | None = None,
    scope: str = "",
    entry_criteria: Sequence[str] = (),
    exit_criteria: Sequence[str] = (),
    risks: Sequence[Mapping[str, Any]] = (),
    guardrails: Sequence[Mapping[str, Any]] = (),
    rollout: Sequence[Mapping[str, Any]] = (),
    exit_rules: Sequence[Mapping[str, Any]] | None = None,
    planned_split: Mapping[str, float] | None = None,
    key_result_id: int | None = None,
    work_item_id: int | None = None,
) -> Pilot:
    """A new pilot in draft. ``exit_rules`` is the rule configuration (None: pause on SRM, roll back on a
    guardrail breach, stop when the timebox is over)."""
    get_workspace(session, actor, workspace_id)
    _write_check(actor, workspace_id, team_id, "creating a pilot")
    key = _text(key, "key", 64)
    if session.scalar(select(Pilot.id).where(Pilot.workspace_id == workspace_id, Pilot.key == key)) is not None:
        raise ConflictError(f"a pilot with key {key!r} exists already", field="key")
    data: dict[str, Any] = {
        "title": title,
        "problem": problem,
        "hypothesis": dict(hypothesis),
        "timebox_start": timebox_start,
        "timebox_end": timebox_end,
        "scope": scope,
        "entry_criteria": entry_criteria
        if isinstance(entry_criteria, str)
        else list(entry_criteria),  # a text is refused below
        "exit_criteria": exit_criteria
        if isinstance(exit_criteria, str)
        else list(exit_criteria),  # a text is refused below
        "risks": list(risks),
        "guardrails": list(guardrails),
        "rollout": list(rollout),
        "exit_rules": None if exit_rules is None else list(exit_rules),
        "planned_split": planned_split,
        "key_result_id": key_result_id,
        "work_item_id": work_item_id,
        "team_id": team_id,
    }
    _check_links(session, workspace_id, data)
    spec = _build(data, _owner_name(session, workspace_id, owner_person_id))
    pilot = Pilot(
        workspace_id=workspace_id,
        key=key,
        status=dp.PilotStatus.DRAFT.value,
        owner_person_id=owner_person_id,
        team_id=team_id,
        key_result_id=key_result_id,
        work_item_id=work_item_id,
        **_stored_form(spec),
    )
    created: Pilot = records.created(session, actor, pilot, entity_type="pilot", workspace_id=workspace_id)
    return created


def update_pilot(
    session: Session, actor: Actor, pilot_id: int, changes: Mapping[str, Any], expected_version: int | None = None
) -> Pilot:
    """Edit the record under optimistic locking. Exit rules, hypothesis, guardrails, split and start are written
    before results are seen: editable in draft only. A closed pilot is read-only."""
    pilot = get_pilot(session, actor, pilot_id)
    _write_check(actor, pilot.workspace_id, pilot.team_id, "changing this pilot")
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInputError(f"cannot change {', '.join(sorted(unknown))} of a pilot", field=sorted(unknown)[0])
    status = dp.PilotStatus(pilot.status)
    if status is dp.PilotStatus.CLOSED:
        raise ConflictError(f"pilot {pilot.key} is closed; a closed pilot cannot be changed")
    if "team_id" in changes and changes["team_id"] != pilot.team_id:
        _write_check(actor, pilot.workspace_id, changes["team_id"], "moving this pilot to that team")
    current = {c: getattr(pilot, c) for c in (*EDITABLE_FIELDS, "status")}
    merged = current | dict(changes)
    _check_links(session, pilot.workspace_id, dict(changes))
    spec = _build(merged, _owner_name(session, pilot.workspace_id, merged["owner_person_id"]))
    normal = _stored_form(spec) | {
        k: merged[k] for k in ("owner_person_id", "team_id", "key_result_id", "work_item_id")
    }
    data = {k: normal[k] for k in changes}
    frozen = sorted(
        f for f in data if f in DRAFT_ONLY_FIELDS and audit.json_safe(data[f]) != audit.json_safe(current[f])
    )
    if frozen and not dp.can_edit_exit_rules(status):
        raise ConflictError(
            f"{', '.join(frozen)} of pilot {pilot.key} can only change in draft (it is {status}): exit rules and "
            "the hypothesis are written before results are seen",
            field=frozen[0],
        )
    updated: Pilot = records.update(
        session,
        actor,
        pilot,
        entity_type="pilot",
        changes=data,
        allowed=EDITABLE_FIELDS,
        expected_version=expected_version,
        workspace_id=pilot.workspace_id,
    )
    return updated


def transition(
    session: Session, actor: Actor, pilot_id: int, target: str, expected_version: int | None = None
) -> Pilot:
    """draft → running → decided → closed (a draft may be closed: withdrawn); audited with before and after."""
    pilot = get_pilot(session, actor, pilot_id)
    _write_check(actor, pilot.workspace_id, pilot.team_id, "moving this pilot")
    return move(session, actor, pilot, _status(target), expected_version)


def move(
    session: Session, actor: Actor, pilot: Pilot, target: dp.PilotStatus, expected_version: int | None = None
) -> Pilot:
    """The audited status change itself (the caller checked permissions): used by decisions too."""
    current = dp.PilotStatus(pilot.status)
    try:
        dp.check_transition(current, target)
    except InvalidInputError as exc:
        raise InvalidInputError(f"pilot {pilot.key}: {exc.message}", field="status", **exc.details) from None
    records.check_version(pilot, expected_version, "pilot")
    before = audit.snapshot(pilot)
    pilot.status = target.value
    records.flush_versioned(session)
    audit.record(
        session,
        actor,
        "transition",
        "pilot",
        pilot.id,
        workspace_id=pilot.workspace_id,
        before=before,
        after=audit.snapshot(pilot),
    )
    return pilot


def extend_timebox(session: Session, actor: Actor, pilot: Pilot, days: int) -> Pilot:
    """Grant an extension (an extend decision): the hypothesis' ``extended_days`` grows by ``days``."""
    if days < 1:
        raise InvalidInputError("an extension is at least one day", field="extend_days")
    hypothesis = dict(pilot.hypothesis or {})
    hypothesis["extended_days"] = int(hypothesis.get("extended_days", 0)) + days
    before = audit.snapshot(pilot)
    pilot.hypothesis = hypothesis
    records.flush_versioned(session)
    audit.record(
        session,
        actor,
        "extend",
        "pilot",
        pilot.id,
        workspace_id=pilot.workspace_id,
        before=before,
        after=audit.snapshot(pilot),
    )
    return pilot


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class ResultRow:
    """One day of one metric for one variant: ``n`` and ``conversions`` (proportion), or ``n``, ``sum`` and
    ``sum_squares`` (mean)."""

    day: date | str
    variant: str
    metric: str
    n: int
    conversions: float | None = None
    sum: float | None = None
    sum_squares: float | None = None


@dataclass
class ResultsReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _check_numbers(row: ResultRow) -> None:
    """Numbers of an incoming row: of the right type and within what the database stores and the statistics
    compute without overflow (a text or a huge number is a rejected row, never a crash)."""
    for name in ("variant", "metric"):
        text = getattr(row, name)
        if text is not None and not isinstance(text, str):
            raise InvalidInputError(f"{name} must be text, not {text!r}")
    n = row.n
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 0 <= n <= MAX_UNITS:
        raise InvalidInputError(f"n must be a whole number from 0 to {MAX_UNITS}, not {n!r}")
    for name in ("conversions", "sum", "sum_squares"):
        value = getattr(row, name)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
            or abs(value) > MAX_RESULT_VALUE
        ):
            raise InvalidInputError(f"{name} must be a finite number of at most {MAX_RESULT_VALUE:g}, not {value!r}")


def _summary(row: ResultRow | PilotResult) -> ex.Summary:
    conversions = row.conversions
    s, ss = row.sum, row.sum_squares
    if conversions is not None and (s is not None or ss is not None):
        raise InvalidInputError("give conversions (proportion) or sum and sum_squares (mean), not both")
    if conversions is not None:
        c = float(conversions)
        if not c.is_integer():
            raise InvalidInputError(f"conversions must be a whole number, not {conversions}")
        return ex.ProportionSummary(row.n, int(c))
    if s is None or ss is None:
        raise InvalidInputError("give conversions (proportion) or both sum and sum_squares (mean)")
    return ex.MeanSummary(row.n, s, ss)


def _kind(summary: ex.Summary) -> str:
    return "proportion" if isinstance(summary, ex.ProportionSummary) else "mean"


def _stored_kinds(session: Session, pilot_id: int) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for metric, conversions in session.execute(
        select(PilotResult.metric_key, PilotResult.conversions).where(PilotResult.pilot_id == pilot_id).distinct()
    ):
        kinds.setdefault(metric, "proportion" if conversions is not None else "mean")
    return kinds


def record_results(
    session: Session,
    actor: Actor,
    pilot_id: int,
    rows: Sequence[ResultRow | Mapping[str, Any]],
    *,
    source: str = "api",
    lines: Sequence[int] | None = None,
) -> ResultsReport:
    """Upsert daily summaries by (pilot, day, variant, metric): all or nothing. Every bad row is reported (``line
    N: …``, 1-based, or the row's number in ``lines`` — e.g. its line in a CSV file) in one error whose
    ``details["errors"]`` lists them; an equal row changes nothing, so sending the same batch twice is idempotent.
    Results are taken while the pilot runs (late data also once decided)."""
    if lines is not None and len(lines) != len(rows):
        raise ValueError("give one line number per row")
    pilot = get_pilot(session, actor, pilot_id)
    _write_check(actor, pilot.workspace_id, pilot.team_id, "recording pilot results")
    status = dp.PilotStatus(pilot.status)
    if status not in (dp.PilotStatus.RUNNING, dp.PilotStatus.DECIDED):
        raise ConflictError(f"pilot {pilot.key} is {status}; results are recorded while it runs (start it first)")
    spec = spec_of(session, pilot)
    metrics = {spec.record.hypothesis.primary_metric} | {g.metric for g in spec.record.guardrails}
    kinds = _stored_kinds(session, pilot.id)
    errors: list[str] = []
    prepared: dict[tuple[date, str, str], tuple[ResultRow, ex.Summary]] = {}
    line_numbers = range(1, len(rows) + 1) if lines is None else lines
    for line, raw in zip(line_numbers, rows, strict=True):
        try:
            row = raw if isinstance(raw, ResultRow) else ResultRow(**dict(raw))
        except TypeError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        try:
            _check_numbers(row)
            day = validate.day(row.day, "day")
            variant, metric = (row.variant or "").strip(), (row.metric or "").strip()
            if variant not in spec.split:
                raise InvalidInputError(f"unknown variant {variant!r}; the plan has {', '.join(sorted(spec.split))}")
            if metric not in metrics:
                raise InvalidInputError(
                    f"metric {metric!r} is neither the primary metric nor a guardrail ({', '.join(sorted(metrics))})"
                )
            summary = _summary(row)
            kind = _kind(summary)
            if kinds.setdefault(metric, kind) != kind:
                raise InvalidInputError(f"metric {metric!r} is a {kinds[metric]} metric; this row gives a {kind}")
            point = (day, variant, metric)
            if point in prepared:
                raise InvalidInputError(f"{metric} / {variant} on {day} appears twice in this batch")
            prepared[point] = (row, summary)
        except InvalidInputError as exc:
            errors.append(f"line {line}: {exc.message}")
    if errors:
        shown = "; ".join(errors[:5]) + (f"; … and {len(errors) - 5} more" if len(errors) > 5 else "")
        raise InvalidInputError(f"{len(errors)} result row(s) rejected, nothing stored: {shown}", errors=errors)
    existing = {
        (r.day, r.variant, r.metric_key): r
        for r in session.scalars(select(PilotResult).where(PilotResult.pilot_id == pilot.id))
    }
    report = ResultsReport()
    for (day, variant, metric), (_row, summary) in prepared.items():
        values = {
            "n": summary.n,
            "conversions": float(summary.conversions) if isinstance(summary, ex.ProportionSummary) else None,
            "sum": summary.sum if isinstance(summary, ex.MeanSummary) else None,
            "sum_squares": summary.sum_squares if isinstance(summary, ex.MeanSummary) else None,
        }
        stored = existing.get((day, variant, metric))
        if stored is None:
            session.add(
                PilotResult(pilot_id=pilot.id, day=day, variant=variant, metric_key=metric, source=source, **values)
            )
            report.created += 1
        elif all(getattr(stored, k) == v for k, v in values.items()):
            report.unchanged += 1
        else:
            for k, v in values.items():
                setattr(stored, k, v)
            stored.source, stored.recorded_at = source, datetime.now(UTC)
            report.updated += 1
    session.flush()
    if report.created or report.updated:
        audit.record(
            session,
            actor,
            "record_results",
            "pilot",
            pilot.id,
            workspace_id=pilot.workspace_id,
            after={
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "source": source,
            },
        )
    return report


def result_rows(session: Session, actor: Actor, pilot_id: int) -> list[PilotResult]:
    pilot = get_pilot(session, actor, pilot_id)
    return list(
        session.scalars(
            select(PilotResult)
            .where(PilotResult.pilot_id == pilot.id)
            .order_by(PilotResult.day, PilotResult.metric_key, PilotResult.variant)
        )
    )


# ------------------------------------------------------------------ readout


@dataclass(frozen=True)
class MetricReadout:
    """One metric: totals per variant and each treatment compared with the control (or why it cannot be)."""

    metric: str
    role: str  # primary | guardrail
    kind: str | None  # proportion | mean; None: no data yet
    lower_is_better: bool
    totals: dict[str, ex.Summary]
    comparisons: dict[str, ex.Comparison]
    problems: dict[str, str]  # treatment → why there is no comparison
    guardrail: dp.Guardrail | None = None


@dataclass(frozen=True)
class PowerReadout:
    """The power analysis of the plan for the primary metric against the hypothesis' expected effect.

    ``basis`` says where the control's mean and spread come from: ``observed`` (the control's results, once it
    has :data:`MIN_OBSERVED_UNITS` units) or ``baseline`` (``hypothesis.baseline``, written with the plan).
    Unit counts are over all variants with the planned split; with several treatments the one with the smallest
    share sets the figure. ``problem`` explains a missing figure instead of failing the readout."""

    basis: str | None  # observed | baseline | None: nothing to plan with
    kind: str | None  # proportion | mean
    baseline_mean: float | None
    baseline_std: float | None
    alpha: float
    power: float
    method: ex.Method
    expected_effect: float  # signed: negative when the metric should decrease
    effect_kind: str  # relative | absolute
    required_units: int | None
    planned_units: int | None
    planned_power: float | None  # power of the planned sample against the expected effect
    units: int  # collected so far
    power_now: float | None  # power of the units collected so far, were the pilot to stop now
    detectable_effect: ex.MinimumDetectableEffect | None  # the MDE with ``detectable_at`` units
    detectable_at: int | None  # the planned units, else the units so far
    problem: str | None = None

    @property
    def progress(self) -> float | None:
        """Share of the required units collected (may pass 1)."""
        return self.units / self.required_units if self.required_units else None

    @property
    def underpowered(self) -> bool:
        return self.planned_power is not None and self.planned_power < self.power


@dataclass(frozen=True)
class PilotReadout:
    pilot_id: int
    primary: MetricReadout
    guardrails: tuple[MetricReadout, ...]
    srm: ex.SrmResult | None  # units of the primary metric per variant vs the planned split
    units: dict[str, int]
    sample_size: int
    planned_sample_size: int | None
    first_day: date | None
    last_day: date | None
    alpha: float
    method: ex.Method
    notes: tuple[str, ...] = field(default_factory=tuple)
    power: PowerReadout | None = None


def _readout(session: Session, pilot: Pilot, spec: PilotSpec) -> PilotReadout:
    rows = list(session.scalars(select(PilotResult).where(PilotResult.pilot_id == pilot.id).order_by(PilotResult.day)))
    totals: dict[str, dict[str, ex.Summary]] = {}
    for r in rows:
        s = _summary(r)
        per = totals.setdefault(r.metric_key, {})
        per[r.variant] = per[r.variant] + s if r.variant in per else s  # type: ignore[operator]
    notes: list[str] = []
    hyp = spec.record.hypothesis

    def metric(name: str, role: str, direction: Direction, guardrail: dp.Guardrail | None) -> MetricReadout:
        per = totals.get(name, {})
        lower = direction is Direction.DECREASE
        comparisons: dict[str, ex.Comparison] = {}
        problems: dict[str, str] = {}
        for t in spec.treatments:
            if CONTROL not in per or t not in per:
                missing = CONTROL if CONTROL not in per else t
                problems[t] = f"no {name} results for {missing} yet"
                continue
            try:
                comparisons[t] = ex.compare(
                    per[CONTROL],
                    per[t],
                    alpha=spec.alpha,
                    lower_is_better=lower,
                    method=spec.method,
                    split=(spec.split[CONTROL], spec.split[t]),
                )
            except InvalidInputError as exc:
                problems[t] = f"{name}: {exc.message}"
        kind = _kind(next(iter(per.values()))) if per else None
        return MetricReadout(name, role, kind, lower, dict(per), comparisons, problems, guardrail)

    primary = metric(hyp.primary_metric, "primary", hyp.direction, None)
    guardrails = tuple(metric(g.metric, "guardrail", g.direction, g) for g in spec.record.guardrails)
    units = {v: primary.totals[v].n if v in primary.totals else 0 for v in spec.split}
    names = sorted(spec.split, key=lambda v: (v != CONTROL, v))
    srm = ex.srm_test([units[v] for v in names], [spec.split[v] for v in names]) if sum(units.values()) else None
    if srm is not None and srm.mismatch:
        notes.append(f"sample ratio mismatch (p = {srm.p_value:.2g}): the split differs from the plan")
    power = power_analysis(spec, primary.totals.get(CONTROL), sum(units.values()))
    if power.underpowered:
        assert power.planned_power is not None and power.planned_units is not None
        notes.append(
            f"the plan is underpowered: {power.planned_units:,} units give {power.planned_power:.0%} power against "
            f"the expected effect; {power.required_units:,} are needed for {power.power:.0%}"
        )
    return PilotReadout(
        pilot_id=pilot.id,
        primary=primary,
        guardrails=guardrails,
        srm=srm,
        units=units,
        sample_size=sum(units.values()),
        planned_sample_size=spec.planned_sample_size,
        first_day=rows[0].day if rows else None,
        last_day=rows[-1].day if rows else None,
        alpha=spec.alpha,
        method=spec.method,
        notes=tuple(notes),
        power=power,
    )


def power_analysis(spec: PilotSpec, control: ex.Summary | None = None, units: int = 0) -> PowerReadout:
    """Required units, power of the planned and of the collected sample, and the minimum detectable effect for
    the pilot's primary metric, with the pilot's α, power, method and planned split (``experiments.required_units``
    and friends; docs/experiments.md). ``control``: the control's results so far, if any."""
    hyp = spec.record.hypothesis
    lower = hyp.direction is Direction.DECREASE
    effect = -hyp.expected_effect if lower else hyp.expected_effect
    relative = hyp.effect_kind is dp.EffectKind.RELATIVE
    plan: ex.PowerPlan | None = None
    basis = kind = problem = None
    required = planned_power = power_now = detectable_at = None
    detectable: ex.MinimumDetectableEffect | None = None
    try:
        if control is not None and control.n >= MIN_OBSERVED_UNITS:
            basis, kind = "observed", _kind(control)
            mean, std = control.mean, math.sqrt(control.variance)
        elif spec.baseline is not None:
            basis = "baseline"
            kind = "proportion" if "rate" in spec.baseline else "mean"
            mean, std = spec.baseline.get("rate", 0.0), spec.baseline.get("std", 0.0)
            mean = spec.baseline.get("mean", mean)
        else:
            problem = f"no power analysis yet: give hypothesis.baseline or record {MIN_OBSERVED_UNITS} control units"
        if basis is not None:
            if kind == "proportion":
                plan = ex.PowerPlan.for_proportion(mean, alpha=spec.alpha, power=spec.power)
            else:
                plan = ex.PowerPlan.for_mean(mean, std, alpha=spec.alpha, power=spec.power)
            # the limiting pair: the treatment with the smallest share (the control's share is the same in each)
            smallest = min(spec.treatments, key=lambda t: spec.split[t])
            shares = (spec.split[CONTROL], spec.split[smallest])
            required = ex.required_units(plan, effect, relative=relative, shares=shares, method=spec.method)
            if spec.planned_sample_size:
                planned_power = ex.power_with_units(
                    plan, effect, spec.planned_sample_size, relative=relative, shares=shares, method=spec.method
                )
            if units:
                power_now = ex.power_with_units(
                    plan, effect, units, relative=relative, shares=shares, method=spec.method
                )
            detectable_at = spec.planned_sample_size or (units if units >= 2 else None)
            if detectable_at:
                detectable = ex.detectable_effect_with_units(
                    plan, detectable_at, shares=shares, lower_is_better=lower, method=spec.method
                )
    except InvalidInputError as exc:
        problem = f"power analysis: {exc.message}"
    return PowerReadout(
        basis=basis,
        kind=kind,
        baseline_mean=plan.baseline_mean if plan else None,
        baseline_std=math.sqrt(plan.baseline_variance) if plan else None,
        alpha=spec.alpha,
        power=spec.power,
        method=spec.method,
        expected_effect=effect,
        effect_kind=hyp.effect_kind.value,
        required_units=required,
        planned_units=spec.planned_sample_size,
        planned_power=planned_power,
        units=units,
        power_now=power_now,
        detectable_effect=detectable,
        detectable_at=detectable_at,
        problem=problem,
    )


def results(session: Session, actor: Actor, pilot_id: int) -> PilotReadout:
    """The statistics so far: daily summaries aggregated per variant, ``experiments.compare`` for the primary
    metric and each guardrail (each treatment against the control), and the SRM test against the planned split."""
    pilot = get_pilot(session, actor, pilot_id)
    return _readout(session, pilot, spec_of(session, pilot))


def _metric_result(readout: MetricReadout, treatment: str, kind: dp.EffectKind) -> dp.MetricResult:
    if treatment not in readout.comparisons:
        raise ex.NotEnoughDataError(readout.problems.get(treatment, f"no {readout.metric} results yet"))
    comparison = readout.comparisons[treatment]
    effect = comparison.absolute if kind is dp.EffectKind.ABSOLUTE else comparison.relative
    if effect is None:
        raise ex.NotEnoughDataError(
            f"{readout.metric}: the relative effect is undefined (control mean 0 or no variance in the lift)"
        )
    return dp.MetricResult(
        metric=readout.metric,
        kind=kind,
        improvement=effect.improvement,
        improvement_ci=effect.improvement_ci,
        p_value=effect.p_value,
        chance_to_win=comparison.chance_to_win,
    )


def frozen_numbers(readout: PilotReadout) -> dict[str, Any]:
    """The readout as plain JSON numbers (what a decision freezes as evidence)."""

    def summary(s: ex.Summary) -> dict[str, Any]:
        return {"n": s.n, "mean": s.mean, "variance": s.variance}

    def effect(e: ex.Effect | None) -> dict[str, Any] | None:
        if e is None:
            return None
        return {"estimate": e.estimate, "ci": list(e.ci), "p_value": e.p_value, "improvement": e.improvement}

    def metric(m: MetricReadout) -> dict[str, Any]:
        return {
            "metric": m.metric,
            "role": m.role,
            "kind": m.kind,
            "lower_is_better": m.lower_is_better,
            "variants": {v: summary(s) for v, s in sorted(m.totals.items())},
            "comparisons": {
                t: {
                    "absolute": effect(c.absolute),
                    "relative": effect(c.relative),
                    "chance_to_win": c.chance_to_win,
                    "risk": list(c.risk),
                }
                for t, c in sorted(m.comparisons.items())
            },
            "problems": dict(m.problems),
        }

    return {
        "primary": metric(readout.primary),
        "guardrails": [metric(g) for g in readout.guardrails],
        "srm_p_value": readout.srm.p_value if readout.srm else None,
        "units": dict(readout.units),
        "sample_size": readout.sample_size,
        "planned_sample_size": readout.planned_sample_size,
        "first_day": readout.first_day.isoformat() if readout.first_day else None,
        "last_day": readout.last_day.isoformat() if readout.last_day else None,
        "alpha": readout.alpha,
        "method": readout.method.value,
        "power": power_numbers(readout.power) if readout.power else None,
    }


def power_numbers(p: PowerReadout) -> dict[str, Any]:
    """The power analysis as plain JSON numbers."""
    mde = p.detectable_effect
    return {
        "basis": p.basis,
        "kind": p.kind,
        "baseline_mean": p.baseline_mean,
        "baseline_std": p.baseline_std,
        "alpha": p.alpha,
        "power": p.power,
        "method": p.method.value,
        "expected_effect": p.expected_effect,
        "effect_kind": p.effect_kind,
        "required_units": p.required_units,
        "planned_units": p.planned_units,
        "planned_power": p.planned_power,
        "units": p.units,
        "progress": p.progress,
        "power_now": p.power_now,
        "detectable_effect": {"absolute": mde.absolute, "relative": mde.relative} if mde else None,
        "detectable_at": p.detectable_at,
        "underpowered": p.underpowered,
        "problem": p.problem,
    }


def recommend(session: Session, actor: Actor, pilot_id: int, now: date | datetime) -> dp.Recommendation:
    """The exit rules applied to the results so far, without storing anything (a read)."""
    pilot = get_pilot(session, actor, pilot_id)
    spec = spec_of(session, pilot)
    return _recommend(spec, _readout(session, pilot, spec), now)


def _recommend(spec: PilotSpec, readout: PilotReadout, now: date | datetime) -> dp.Recommendation:
    if len(spec.treatments) != 1:
        raise InvalidInputError("exit rules are evaluated for one treatment against the control; this plan has several")
    (treatment,) = spec.treatments
    srm_p = readout.srm.p_value if readout.srm else None
    try:
        primary = _metric_result(readout.primary, treatment, spec.primary_scale)
    except ex.NotEnoughDataError as exc:
        # Without a primary readout only the SRM check can speak; anything else waits for data.
        pause = [r for r in spec.record.exit_rules if isinstance(r, dp.PauseWhen)]
        if srm_p is not None and pause and srm_p < pause[0].srm_p_below:
            return dp.Recommendation(
                dp.Action.PAUSE,
                dp.describe_rule(pause[0]),
                f"sample ratio mismatch (p = {srm_p:.3g} < {pause[0].srm_p_below}): the data is untrustworthy",
                {"srm_p_value": srm_p, "srm_p_below": pause[0].srm_p_below, "sample_size": readout.sample_size},
            )
        return dp.Recommendation(
            dp.Action.CONTINUE,
            "NotEnoughData()",
            f"not enough data to judge the primary metric yet: {exc.message}",
            {"srm_p_value": srm_p, "sample_size": readout.sample_size},
        )
    guardrails: list[dp.GuardrailResult] = []
    missing: list[str] = []
    for g in readout.guardrails:
        assert g.guardrail is not None
        try:
            guardrails.append(dp.GuardrailResult(g.guardrail, _metric_result(g, treatment, g.guardrail.kind)))
        except ex.NotEnoughDataError:
            missing.append(g.metric)
    results_ = dp.PilotResults(
        primary=primary,
        timebox=spec.record.hypothesis.timebox,
        guardrails=tuple(guardrails),
        srm_p_value=srm_p,
        sample_size=readout.sample_size,
        planned_sample_size=spec.planned_sample_size,
    )
    rec = dp.evaluate(spec.record.exit_rules, results_, now)
    if missing:
        evidence = dict(rec.evidence) | {"guardrails_without_data": ", ".join(missing)}
        rec = dp.Recommendation(rec.action, rec.rule, rec.reason, evidence, rec.extend_until, rec.also_fired)
    return rec


@dataclass(frozen=True)
class Evaluated:
    recommendation: dp.Recommendation
    evaluation: PilotEvaluation


def evaluate(session: Session, actor: Actor, pilot_id: int, now: date | datetime) -> Evaluated:
    """Apply the exit rules to the results and store the recommendation (a :class:`PilotEvaluation` whose
    evidence holds the reason, the numbers behind it, the lower rules that fired and the whole readout)."""
    pilot = get_pilot(session, actor, pilot_id)
    _write_check(actor, pilot.workspace_id, pilot.team_id, "evaluating this pilot")
    if pilot.status == dp.PilotStatus.DRAFT.value:
        raise ConflictError(f"pilot {pilot.key} is a draft; start it before evaluating its results")
    spec = spec_of(session, pilot)
    readout = _readout(session, pilot, spec)
    rec = _recommend(spec, readout, now)
    at = now if isinstance(now, datetime) else datetime.now(UTC)
    row = PilotEvaluation(
        pilot_id=pilot.id,
        at=at if at.tzinfo else at.replace(tzinfo=UTC),
        action=rec.action.value,
        rule=rec.rule,
        evidence=evidence_of(rec) | {"readout": frozen_numbers(readout)},
        actor=actor.label,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "evaluate",
        "pilot",
        pilot.id,
        workspace_id=pilot.workspace_id,
        after={"evaluation_id": row.id, "action": rec.action.value, "rule": rec.rule},
    )
    return Evaluated(rec, row)


def evidence_of(rec: dp.Recommendation) -> dict[str, Any]:
    return {
        "action": rec.action.value,
        "rule": rec.rule,
        "reason": rec.reason,
        "numbers": audit.json_safe(dict(rec.evidence)),
        "also_fired": list(rec.also_fired),
        "extend_until": rec.extend_until.isoformat() if rec.extend_until else None,
    }


def latest_evaluation(session: Session, actor: Actor, pilot_id: int) -> PilotEvaluation | None:
    pilot = get_pilot(session, actor, pilot_id)
    return session.scalar(
        select(PilotEvaluation)
        .where(PilotEvaluation.pilot_id == pilot.id)
        .order_by(PilotEvaluation.at.desc(), PilotEvaluation.id.desc())
        .limit(1)
    )


def effective_end(pilot: Pilot) -> date | None:
    """The pilot's last day with the extensions granted so far (``hypothesis.extended_days``); ``None`` without an
    end or past the calendar."""
    extended = (pilot.hypothesis or {}).get("extended_days") or 0
    try:
        return pilot.timebox_end + timedelta(days=int(extended)) if pilot.timebox_end else None
    except OverflowError:
        return None


@dataclass(frozen=True)
class AwaitingDecision:
    """A running pilot that waits for a person to decide: its exit rules recommend something other than
    continuing, or its timebox (with the extensions granted) is over."""

    pilot: Pilot
    recommended: str | None  # the latest stored evaluation's action, None if never evaluated
    evaluated_at: datetime | None
    timebox_end: date | None  # with the extensions granted
    reason: str


def awaiting_decision(
    session: Session, actor: Actor, workspace_id: int, now: date | datetime
) -> list[AwaitingDecision]:
    """Running pilots that need a decision, by the latest stored evaluation (not evaluated afresh: cheap enough for
    a home page), those whose timebox ended first."""
    today = now.date() if isinstance(now, datetime) else now
    running = list_pilots(session, actor, workspace_id, status=dp.PilotStatus.RUNNING.value)
    latest: dict[int, PilotEvaluation] = {}
    if running:
        for ev in session.scalars(
            select(PilotEvaluation)
            .where(PilotEvaluation.pilot_id.in_([p.id for p in running]))
            .order_by(PilotEvaluation.at, PilotEvaluation.id)
        ):
            latest[ev.pilot_id] = ev  # the last one wins
    out: list[AwaitingDecision] = []
    for p in running:
        ev = latest.get(p.id)
        end = effective_end(p)
        if ev is not None and ev.action != dp.Action.CONTINUE.value:
            reason = f"the exit rules recommend {ev.action}"
        elif end is not None and today > end:
            reason = f"the timebox ended on {end.isoformat()}; evaluate it and decide"
        else:
            continue
        out.append(AwaitingDecision(p, ev.action if ev else None, ev.at if ev else None, end, reason))
    return sorted(out, key=lambda a: (a.timebox_end or date.max, a.pilot.id))


def evaluations(session: Session, actor: Actor, pilot_id: int) -> list[PilotEvaluation]:
    pilot = get_pilot(session, actor, pilot_id)
    return list(
        session.scalars(
            select(PilotEvaluation)
            .where(PilotEvaluation.pilot_id == pilot.id)
            .order_by(PilotEvaluation.at, PilotEvaluation.id)
        )
    )


def ninety_days(session: Session, actor: Actor, pilot_id: int) -> tuple[dp.PhaseWindow, dp.PhaseWindow, dp.PhaseWindow]:
    """Define (month 1), pilot (month 2: the timebox starts), scale or retire (month 3)."""
    pilot = get_pilot(session, actor, pilot_id)
    return spec_of(session, pilot).record.ninety_days
