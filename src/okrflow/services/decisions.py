"""The decision log: immutable decisions with frozen evidence, RACI, review dates and supersede chains.

A recorded decision never changes: there is no update function, and the ORM refuses to flush a change to (or a
deletion of) a :class:`Decision` row. A change of mind is a new decision that *supersedes* the old one
(``supersedes_id``, UNIQUE: a decision is superseded at most once, so the chain never forks).

A decision on a pilot names its ``action`` (scale, rollback, stop, …). It freezes the pilot's latest
recommendation and the statistics readout as evidence (values, not links); an action other than the
recommended one overrides the recommendation and needs a rationale. Recording a concluding decision (anything
but continue, extend or pause) on a running pilot moves it to *decided*; an extend decision extends its timebox.

Permissions: contributors of the pilot's team, of a linked key result's or work item's team, or of the whole
workspace record decisions; everyone in the workspace reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import event, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from okrflow.domain import pilots as dp
from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from okrflow.services import audit, pilots, validate
from okrflow.services.tenancy import get_workspace
from okrflow.store.models import Person
from okrflow.store.models_delivery import Incident
from okrflow.store.models_okr import KeyResult, Objective
from okrflow.store.models_pilots import Decision, Pilot
from okrflow.store.models_work import WorkItem

RACI_ROLES = ("responsible", "accountable", "consulted", "informed")
LINK_TYPES = ("pilot", "key_result", "work_item", "incident")
# Actions that keep a running pilot running; every other action concludes it (→ decided).
NON_CONCLUDING = frozenset({dp.Action.CONTINUE, dp.Action.EXTEND, dp.Action.PAUSE})
IMMUTABLE_MESSAGE = "a recorded decision cannot be changed or deleted; record a new decision that supersedes it"


# ------------------------------------------------------------------ immutability at the ORM level


@event.listens_for(Decision, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: Decision) -> None:
    raise ConflictError(f"decision {target.id}: {IMMUTABLE_MESSAGE}")


@event.listens_for(Decision, "before_delete")
def _refuse_delete(_mapper: Any, _connection: Any, target: Decision) -> None:
    raise ConflictError(f"decision {target.id}: {IMMUTABLE_MESSAGE}")


# ------------------------------------------------------------------ reading


def get_decision(session: Session, actor: Actor, decision_id: int) -> Decision:
    d = session.get(Decision, decision_id)
    if d is None or not actor.is_member_of(d.workspace_id):
        raise NotFoundError(f"decision {decision_id} does not exist")
    if not actor.can(Permission.READ, d.workspace_id):
        raise PermissionDeniedError("this token's scopes do not allow reading decisions")
    return d


def superseded_by(session: Session, decision_id: int) -> Decision | None:
    """The decision that supersedes this one, if any."""
    return session.scalar(select(Decision).where(Decision.supersedes_id == decision_id))


def list_decisions(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    pilot_id: int | None = None,
    link_type: str | None = None,
    link_id: int | None = None,
    decided_by: str | None = None,
    since: date | None = None,
    until: date | None = None,
    query: str = "",
    current_only: bool = False,
    action: str | None = None,
) -> list[Decision]:
    """The log, newest first. Filters: a pilot, a link (type and id), who decided, a date range, a text in title,
    decision or rationale, the action taken on a pilot; ``current_only`` leaves out superseded decisions."""
    get_workspace(session, actor, workspace_id)
    q = select(Decision).where(Decision.workspace_id == workspace_id)
    if action:
        chosen = _action(action)
        q = q.where(Decision.action == (chosen.value if chosen else None))
    if pilot_id is not None:
        q = q.where(Decision.pilot_id == pilot_id)
    if decided_by:
        q = q.where(Decision.decided_by == decided_by.strip())
    if since is not None:
        q = q.where(Decision.decided_on >= since)
    if until is not None:
        q = q.where(Decision.decided_on <= until)
    if query.strip():
        like = f"%{query.strip().lower()}%"
        q = q.where(
            or_(
                func.lower(Decision.title).like(like),
                func.lower(Decision.decision).like(like),
                func.lower(Decision.rationale).like(like),
            )
        )
    rows = list(session.scalars(q.order_by(Decision.decided_on.desc(), Decision.id.desc())))
    if link_type is not None:
        if link_type not in LINK_TYPES:
            raise InvalidInputError(f"link type is one of {', '.join(LINK_TYPES)}", field="link_type")
        rows = [
            d
            for d in rows
            if any(lk.get("type") == link_type and (link_id is None or lk.get("id") == link_id) for lk in d.links or [])
        ]
    if current_only:
        superseded = set(
            session.scalars(
                select(Decision.supersedes_id).where(
                    Decision.workspace_id == workspace_id, Decision.supersedes_id.is_not(None)
                )
            )
        )
        rows = [d for d in rows if d.id not in superseded]
    return rows


def chain(session: Session, actor: Actor, decision_id: int) -> list[Decision]:
    """The whole supersede chain this decision belongs to, oldest first (walks back and forward)."""
    d = get_decision(session, actor, decision_id)
    back: list[Decision] = []
    seen = {d.id}
    cur = d
    while cur.supersedes_id is not None:
        prev = session.get(Decision, cur.supersedes_id)
        if prev is None or prev.id in seen:
            break
        back.append(prev)
        seen.add(prev.id)
        cur = prev
    forward: list[Decision] = []
    cur = d
    while (nxt := superseded_by(session, cur.id)) is not None and nxt.id not in seen:
        forward.append(nxt)
        seen.add(nxt.id)
        cur = nxt
    return [*reversed(back), d, *forward]


def decisions_due_for_review(session: Session, actor: Actor, workspace_id: int, now: date | datetime) -> list[Decision]:
    """Current (not superseded) decisions whose review date has come, oldest review first."""
    today = now.date() if isinstance(now, datetime) else now
    get_workspace(session, actor, workspace_id)
    superseded = select(Decision.supersedes_id).where(Decision.supersedes_id.is_not(None))
    return list(
        session.scalars(
            select(Decision)
            .where(
                Decision.workspace_id == workspace_id,
                Decision.review_on.is_not(None),
                Decision.review_on <= today,
                Decision.id.not_in(superseded),
            )
            .order_by(Decision.review_on, Decision.id)
        )
    )


# ------------------------------------------------------------------ validation


def _options(value: Any) -> list[Any]:
    """Options considered: texts, or objects with a ``title`` (and e.g. pros/cons)."""
    if value is None:
        return []
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        raise InvalidInputError("options is a list of the options considered", field="options")
    out: list[Any] = []
    for o in value:
        if isinstance(o, str) and o.strip():
            out.append(o.strip())
        elif isinstance(o, Mapping) and isinstance(o.get("title"), str) and o["title"].strip():
            out.append(audit.json_safe(dict(o)))
        else:
            raise InvalidInputError("each option is a text or an object with a title", field="options")
    return out


def _raci(session: Session, workspace_id: int, value: Any) -> dict[str, list[dict[str, Any]]]:
    """RACI as lists of people: names (text) or person ids of the workspace → ``{"name", "person_id"}``.
    Accountable is one person at most (RACI's single point of accountability)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            "raci is an object with responsible, accountable, consulted and informed lists", field="raci"
        )
    unknown = set(value) - set(RACI_ROLES)
    if unknown:
        raise InvalidInputError(f"unknown RACI role {sorted(unknown)[0]!r}; use {', '.join(RACI_ROLES)}", field="raci")
    out: dict[str, list[dict[str, Any]]] = {}
    for role in RACI_ROLES:
        people = value.get(role)
        if people is None:
            continue
        if isinstance(people, str | int):
            people = [people]
        if not isinstance(people, Sequence):
            raise InvalidInputError(f"raci.{role} is a list of names or person ids", field=f"raci.{role}")
        entries: list[dict[str, Any]] = []
        for p in people:
            if isinstance(p, bool):
                raise InvalidInputError(f"raci.{role}: {p!r} is not a name or a person id", field=f"raci.{role}")
            if isinstance(p, int):
                person = session.get(Person, p)
                if person is None or person.workspace_id != workspace_id:
                    raise InvalidInputError(
                        f"raci.{role}: person {p} does not exist in this workspace", field=f"raci.{role}"
                    )
                entries.append({"name": person.name, "person_id": person.id})
            elif isinstance(p, str) and p.strip():
                entries.append({"name": p.strip(), "person_id": None})
            elif isinstance(p, Mapping) and isinstance(p.get("name"), str) and p["name"].strip():
                entries.append({"name": p["name"].strip(), "person_id": p.get("person_id")})
            else:
                raise InvalidInputError(f"raci.{role}: {p!r} is not a name or a person id", field=f"raci.{role}")
        if len({e["name"] for e in entries}) != len(entries):
            raise InvalidInputError(f"raci.{role} names someone twice", field=f"raci.{role}")
        out[role] = entries
    if len(out.get("accountable", [])) > 1:
        raise InvalidInputError("exactly one person is accountable for a decision", field="raci.accountable")
    return out


def _link_team(session: Session, workspace_id: int, link: Mapping[str, Any]) -> int | None:
    """Check the link exists in the workspace; return the team it belongs to (None: workspace-level)."""
    kind, ident = link.get("type"), link.get("id")
    if kind not in LINK_TYPES:
        raise InvalidInputError(f"a link's type is one of {', '.join(LINK_TYPES)}, not {kind!r}", field="links")
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise InvalidInputError(f"a {kind} link needs a numeric id", field="links")
    team_id: int | None = None
    ws: int | None = None
    if kind == "pilot":
        p = session.get(Pilot, ident)
        ws, team_id = (p.workspace_id, p.team_id) if p else (None, None)
    elif kind == "key_result":
        kr = session.get(KeyResult, ident)
        obj = session.get(Objective, kr.objective_id) if kr else None
        ws, team_id = (obj.workspace_id, obj.team_id) if obj else (None, None)
    elif kind == "work_item":
        item = session.get(WorkItem, ident)
        ws, team_id = (item.workspace_id, item.team_id) if item else (None, None)
    else:
        inc = session.get(Incident, ident)
        ws, team_id = (inc.workspace_id, inc.team_id) if inc else (None, None)
    if ws != workspace_id:
        raise InvalidInputError(f"{kind.replace('_', ' ')} {ident} does not exist in this workspace", field="links")
    return team_id


def _links(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        raise InvalidInputError("links is a list of {type, id}", field="links")
    out: list[dict[str, Any]] = []
    for lk in value:
        if not isinstance(lk, Mapping) or set(lk) - {"type", "id"}:
            raise InvalidInputError("each link is an object {type, id}", field="links")
        entry = {"type": lk.get("type"), "id": lk.get("id")}
        if entry not in out:
            out.append(entry)
    return out


def _action(value: Any) -> dp.Action | None:
    if value is None:
        return None
    return validate.choice(dp.Action, value, "action", label="a decision's action")


# ------------------------------------------------------------------ recording


@dataclass(frozen=True)
class _Prepared:
    fields: dict[str, Any]
    pilot: Pilot | None
    action: dp.Action | None
    extend_days: int | None


def _evaluate_afresh(session: Session, actor: Actor, pilot: Pilot, now: date | datetime) -> None:
    """Apply the exit rules once more, so the recommendation frozen with the decision is the one of the readout
    frozen with it (results may have arrived since the last evaluation). Skipped when the actor may not
    evaluate (a contributor of a linked team only) or the rules cannot be evaluated; the stored latest
    evaluation, if any, is used then."""
    if not actor.can(Permission.WRITE, pilot.workspace_id, pilot.team_id):
        return
    try:
        with session.begin_nested():
            pilots.evaluate(session, actor, pilot.id, now)
    except (InvalidInputError, ConflictError):
        return


def _prepare(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    title: Any,
    decision: Any,
    decided_by: Any,
    decided_on: Any,
    context: Any,
    options: Any,
    rationale: Any,
    evidence: Any,
    raci: Any,
    review_on: Any,
    links: Any,
    pilot_id: Any,
    action: Any,
    extend_days: Any,
    now: date | datetime,
) -> _Prepared:
    today = now.date() if isinstance(now, datetime) else now
    fields: dict[str, Any] = {
        "workspace_id": workspace_id,
        "title": validate.text(title, "title", 300, label="the title"),
        "decision": validate.text(decision, "decision", 5000, label="the decision"),
        "decided_by": validate.text(decided_by, "decided_by", 200, label="the decided_by"),
        "context": validate.text(context, "context", 10000, required=False, label="the context"),
        "rationale": validate.text(rationale, "rationale", 10000, required=False, label="the rationale"),
        "options": _options(options),
        "raci": _raci(session, workspace_id, raci),
        "decided_on": today if decided_on is None else validate.day(decided_on, "decided_on"),
        "review_on": None if review_on is None else validate.day(review_on, "review_on"),
        "author": actor.label,
    }
    if fields["review_on"] is not None and fields["review_on"] < fields["decided_on"]:
        raise InvalidInputError("the review date cannot be before the decision date", field="review_on")
    if evidence is not None and not isinstance(evidence, Mapping):
        raise InvalidInputError("evidence is an object of frozen values", field="evidence")
    frozen: dict[str, Any] = audit.json_safe(dict(evidence or {}))
    link_list = _links(links)
    chosen = _action(action)
    pilot: Pilot | None = None
    if pilot_id is not None:
        pilot = pilots.get_pilot(session, actor, pilot_id)
        if pilot.workspace_id != workspace_id:
            raise InvalidInputError(f"pilot {pilot_id} does not exist in this workspace", field="pilot_id")
        if {"type": "pilot", "id": pilot.id} not in link_list:
            link_list.insert(0, {"type": "pilot", "id": pilot.id})
    teams = {_link_team(session, workspace_id, lk) for lk in link_list}
    if not any(actor.can(Permission.WRITE, workspace_id, t) for t in teams or {None}):
        raise validate.write_refused(
            actor,
            "recording decisions",
            "recording this decision needs the contributor role on the team of the pilot or of a linked item"
            if teams - {None}
            else "recording a decision needs the contributor role for the whole workspace",
        )
    recommended: str | None = None
    overrides = False
    if pilot is not None:
        if pilot.status == dp.PilotStatus.DRAFT.value:
            raise ConflictError(f"pilot {pilot.key} is a draft; decisions are recorded once it runs")
        if chosen is None:
            raise InvalidInputError(
                f"say which action this decision takes on pilot {pilot.key} ({', '.join(a.value for a in dp.Action)})",
                field="action",
            )
        _evaluate_afresh(session, actor, pilot, now)
        latest = pilots.latest_evaluation(session, actor, pilot.id)
        if latest is not None:
            recommended = latest.action
            frozen["recommendation"] = {
                "evaluation_id": latest.id,
                "evaluated_at": audit.json_safe(latest.at),
                "action": latest.action,
                "rule": latest.rule,
                **{k: v for k, v in (latest.evidence or {}).items() if k not in ("action", "rule")},
            }
            overrides = chosen.value != recommended
        try:
            frozen["readout"] = pilots.frozen_numbers(pilots.results(session, actor, pilot.id))
        except InvalidInputError as exc:  # e.g. a plan with no results yet
            frozen["readout"] = {"problem": exc.message}
        if overrides and not fields["rationale"]:
            raise InvalidInputError(
                f"this decision ({chosen.value}) overrides the recommendation ({recommended}) of pilot {pilot.key}; "
                "give a rationale",
                field="rationale",
            )
    days: int | None = None
    if chosen is dp.Action.EXTEND and pilot is not None and pilot.status != dp.PilotStatus.RUNNING.value:
        raise ConflictError(f"pilot {pilot.key} is {pilot.status}; only a running pilot's timebox can be extended")
    if chosen is dp.Action.EXTEND and pilot is not None:
        if extend_days is None:
            until = (frozen.get("recommendation") or {}).get("extend_until")
            spec = pilots.spec_of(session, pilot)
            if until is None:
                raise InvalidInputError("an extend decision says by how many days (extend_days)", field="extend_days")
            days = (date.fromisoformat(until) - spec.record.hypothesis.timebox.effective_end).days
        else:
            days = extend_days
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise InvalidInputError("extend_days is a whole number of days ≥ 1", field="extend_days")
        frozen["extend_days"] = days
    fields |= {
        "evidence": frozen,
        "links": link_list,
        "pilot_id": pilot.id if pilot else None,
        "action": chosen.value if chosen else None,
        "recommended_action": recommended,
        "overrides_recommendation": overrides,
    }
    return _Prepared(fields, pilot, chosen, days)


def _store(session: Session, actor: Actor, prep: _Prepared, *, audit_action: str) -> Decision:
    row = Decision(**prep.fields)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(
            f"decision {prep.fields['supersedes_id']} was superseded meanwhile; supersede the newest one instead",
            field="supersedes_id",
        ) from None
    audit.record(
        session, actor, audit_action, "decision", row.id, workspace_id=row.workspace_id, after=audit.snapshot(row)
    )
    pilot = prep.pilot
    if pilot is not None and prep.action is not None:
        if prep.action is dp.Action.EXTEND and prep.extend_days:
            pilots.extend_timebox(session, actor, pilot, prep.extend_days)
        if pilot.status == dp.PilotStatus.RUNNING.value and prep.action not in NON_CONCLUDING:
            pilots.move(session, actor, pilot, dp.PilotStatus.DECIDED)
    return row


def record_decision(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    title: str,
    decision: str,
    decided_by: str,
    now: date | datetime,
    decided_on: date | None = None,
    context: str = "",
    options: Sequence[Any] = (),
    rationale: str = "",
    evidence: Mapping[str, Any] | None = None,
    raci: Mapping[str, Any] | None = None,
    review_on: date | None = None,
    links: Sequence[Mapping[str, Any]] = (),
    pilot_id: int | None = None,
    action: str | None = None,
    extend_days: int | None = None,
) -> Decision:
    """Record a decision (immutable from now on). With ``pilot_id``: ``action`` is required, the pilot's latest
    recommendation and its readout are frozen into ``evidence``, an action other than the recommended one needs
    a ``rationale`` (``overrides_recommendation``), and a concluding action moves a running pilot to decided."""
    get_workspace(session, actor, workspace_id)
    prep = _prepare(
        session,
        actor,
        workspace_id,
        title=title,
        decision=decision,
        decided_by=decided_by,
        decided_on=decided_on,
        context=context,
        options=options,
        rationale=rationale,
        evidence=evidence,
        raci=raci,
        review_on=review_on,
        links=links,
        pilot_id=pilot_id,
        action=action,
        extend_days=extend_days,
        now=now,
    )
    return _store(session, actor, prep, audit_action="record")


SUPERSEDE_FIELDS = (
    "title",
    "decision",
    "decided_by",
    "decided_on",
    "context",
    "options",
    "rationale",
    "evidence",
    "raci",
    "review_on",
    "links",
    "pilot_id",
    "action",
    "extend_days",
)


def supersede(
    session: Session, actor: Actor, decision_id: int, changes: Mapping[str, Any], *, now: date | datetime
) -> Decision:
    """Record a new decision that supersedes ``decision_id``: fields not in ``changes`` are taken over from the
    old one (``decided_on`` defaults to today, and the evidence is frozen afresh for a pilot). A decision that
    is superseded already is refused, naming the newer one."""
    old = get_decision(session, actor, decision_id)
    newer = superseded_by(session, old.id)
    if newer is not None:
        raise ConflictError(
            f"decision {old.id} ({old.title!r}) is already superseded by decision {newer.id} ({newer.title!r}); "
            f"supersede decision {chain(session, actor, newer.id)[-1].id} instead",
            superseded_by=newer.id,
        )
    unknown = set(changes) - set(SUPERSEDE_FIELDS)
    if unknown:
        raise InvalidInputError(f"a decision has no field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    old_evidence = dict(old.evidence or {})
    base: dict[str, Any] = {
        "title": old.title,
        "decision": old.decision,
        "decided_by": old.decided_by,
        "decided_on": None,
        "context": old.context,
        "options": old.options,
        "rationale": old.rationale,
        # The pilot parts are frozen again from the current state; the caller's own evidence is kept.
        "evidence": {k: v for k, v in old_evidence.items() if k not in ("recommendation", "readout", "extend_days")},
        "raci": old.raci or None,
        "review_on": old.review_on,
        "links": old.links,
        "pilot_id": old.pilot_id,
        "action": old.action,
        "extend_days": None,
    }
    merged = base | dict(changes)
    if merged["review_on"] is not None and merged["decided_on"] is None:
        today = now.date() if isinstance(now, datetime) else now
        if merged["review_on"] < today and "review_on" not in changes:
            merged["review_on"] = None  # the old review date has passed: the new decision sets its own
    prep = _prepare(session, actor, old.workspace_id, now=now, **merged)
    prep.fields["supersedes_id"] = old.id
    prep.fields["evidence"]["supersedes"] = {"id": old.id, "title": old.title, "decision": old.decision}
    return _store(session, actor, prep, audit_action="supersede")
