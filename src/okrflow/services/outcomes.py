"""Closing the loop: anticipated outcomes of initiatives and epics, actual outcomes, reviews due, realization rate.

The anticipated outcome answers four questions and lives on the work item (``work_items.anticipated_outcome``):

1. ``problem`` — which problem or behaviour;
2. ``expected_result`` and ``measured_by`` — which result is expected and how it is measured;
3. ``metric_key`` and ``target`` — which metric and target;
4. ``by_date`` and ``how_we_learn`` — by when, and how we will learn.

The actual outcome (:class:`ActualOutcome`, one per item) records the observed value, achieved | partially |
not_achieved, and a learning note. Writes need the contributor role on the item's team (or workspace-wide).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor
from okrflow.domain.errors import InvalidInputError
from okrflow.services import records, validate
from okrflow.services.tenancy import get_workspace
from okrflow.services.traceability import get_item
from okrflow.store.models_pilots import ActualOutcome
from okrflow.store.models_work import WorkItem

OUTCOME_LEVELS = ("initiative", "epic")
RESULTS = ("achieved", "partially", "not_achieved")


def _outcome_item(session: Session, actor: Actor, item_id: int) -> WorkItem:
    item = get_item(session, actor, item_id)
    if item.level not in OUTCOME_LEVELS:
        raise InvalidInputError(
            f"{item.key or item.id} is a {item.level or 'unmapped'} item; outcomes belong to initiatives and epics",
            field="work_item_id",
        )
    return item


def set_anticipated_outcome(
    session: Session,
    actor: Actor,
    item_id: int,
    *,
    problem: str,
    expected_result: str,
    measured_by: str,
    metric_key: str,
    target: float | None,
    by_date: date | str,
    how_we_learn: str,
    expected_version: int | None = None,
) -> WorkItem:
    """Answer the four questions for an initiative or epic (replaces the previous answer; audited)."""
    item = _outcome_item(session, actor, item_id)
    validate.check_write(
        actor, item.workspace_id, item.team_id, "setting an anticipated outcome", where="on the item's team"
    )
    outcome = {
        "problem": validate.text(problem, "problem", 2000),
        "expected_result": validate.text(expected_result, "expected_result", 2000),
        "measured_by": validate.text(measured_by, "measured_by", 2000),
        "metric_key": validate.text(metric_key, "metric_key", 100),
        "target": None if target is None else validate.number(target, "target", show_value=False),
        "by_date": validate.day(by_date, "by_date").isoformat(),
        "how_we_learn": validate.text(how_we_learn, "how_we_learn", 2000),
    }
    updated: WorkItem = records.update(
        session,
        actor,
        item,
        entity_type="work_item",
        changes={"anticipated_outcome": outcome},
        allowed=("anticipated_outcome",),
        expected_version=expected_version,
        workspace_id=item.workspace_id,
    )
    return updated


def actual_outcome(session: Session, actor: Actor, item_id: int) -> ActualOutcome | None:
    item = get_item(session, actor, item_id)
    return session.scalar(select(ActualOutcome).where(ActualOutcome.work_item_id == item.id))


def record_actual_outcome(
    session: Session,
    actor: Actor,
    item_id: int,
    *,
    result: str,
    observed_on: date | str,
    observed_value: float | None = None,
    learning: str = "",
    expected_version: int | None = None,
) -> ActualOutcome:
    """What the item achieved: achieved | partially | not_achieved, the observed value, a learning note.
    One per item; recording again updates it (optimistic locking with ``expected_version``)."""
    item = _outcome_item(session, actor, item_id)
    validate.check_write(
        actor, item.workspace_id, item.team_id, "recording an actual outcome", where="on the item's team"
    )
    if not item.anticipated_outcome:
        raise InvalidInputError(
            f"{item.key or item.id} has no anticipated outcome; state what you expected first", field="work_item_id"
        )
    if result not in RESULTS:
        raise InvalidInputError(f"result is one of {', '.join(RESULTS)}, not {result!r}", field="result")
    data = {
        "result": result,
        "observed_on": validate.day(observed_on, "observed_on"),
        "observed_value": (
            None if observed_value is None else validate.number(observed_value, "observed_value", show_value=False)
        ),
        "learning": validate.text(learning, "learning", 10000, required=False),
        "recorded_by": actor.label,
    }
    existing = session.scalar(select(ActualOutcome).where(ActualOutcome.work_item_id == item.id))
    if existing is None:
        row = ActualOutcome(work_item_id=item.id, **data)
        created: ActualOutcome = records.created(
            session, actor, row, entity_type="actual_outcome", workspace_id=item.workspace_id
        )
        return created
    changed: ActualOutcome = records.update(
        session,
        actor,
        existing,
        entity_type="actual_outcome",
        changes=data,
        allowed=tuple(data),
        expected_version=expected_version,
        workspace_id=item.workspace_id,
    )
    return changed


def _by_date(item: WorkItem) -> date | None:
    raw = (item.anticipated_outcome or {}).get("by_date")
    try:
        return date.fromisoformat(raw) if raw else None
    except (TypeError, ValueError):
        return None


def outcome_reviews_due(
    session: Session, actor: Actor, workspace_id: int, now: date | datetime, *, team_id: int | None = None
) -> list[WorkItem]:
    """Delivered (resolved) initiatives and epics whose anticipated by-date has passed without an actual
    outcome, the longest overdue first."""
    get_workspace(session, actor, workspace_id)
    today = now.date() if isinstance(now, datetime) else now
    recorded = select(ActualOutcome.work_item_id)
    q = select(WorkItem).where(
        WorkItem.workspace_id == workspace_id,
        WorkItem.level.in_(OUTCOME_LEVELS),
        WorkItem.resolved.is_not(None),
        WorkItem.anticipated_outcome.is_not(None),
        WorkItem.id.not_in(recorded),
    )
    if team_id is not None:
        q = q.where(WorkItem.team_id == team_id)
    due = [(d, i) for i in session.scalars(q) if (d := _by_date(i)) is not None and d < today]
    return [i for _d, i in sorted(due, key=lambda x: (x[0], x[1].id))]


@dataclass(frozen=True)
class RealizationRate:
    """Of the initiatives/epics delivered in the period with an anticipated outcome: how many achieved it.
    ``rate`` = achieved / delivered (None when nothing was delivered); ``pending`` have no actual outcome yet."""

    delivered: int
    achieved: int
    partially: int
    not_achieved: int
    pending: int
    rate: float | None
    item_ids: tuple[int, ...]


def realization_rate(
    session: Session,
    actor: Actor,
    workspace_id: int,
    *,
    start: date,
    end: date,
    team_id: int | None = None,
    levels: Sequence[str] = OUTCOME_LEVELS,
) -> RealizationRate:
    """The share of delivered initiatives (resolved in [start, end], with an anticipated outcome) whose outcome
    was achieved, for one team or the whole workspace."""
    get_workspace(session, actor, workspace_id)
    if end < start:
        raise InvalidInputError("the period ends before it starts", field="end")
    bad = set(levels) - set(OUTCOME_LEVELS)
    if bad:
        raise InvalidInputError(f"levels are {', '.join(OUTCOME_LEVELS)}", field="levels")
    lo = datetime.combine(start, time.min, tzinfo=UTC)
    hi = datetime.combine(end, time.min, tzinfo=UTC) + timedelta(days=1)
    q = select(WorkItem).where(
        WorkItem.workspace_id == workspace_id,
        WorkItem.level.in_(list(levels)),
        WorkItem.resolved >= lo,
        WorkItem.resolved < hi,
        WorkItem.anticipated_outcome.is_not(None),
    )
    if team_id is not None:
        q = q.where(WorkItem.team_id == team_id)
    items = [i for i in session.scalars(q.order_by(WorkItem.id)) if i.anticipated_outcome]
    outcomes = {
        o.work_item_id: o.result
        for o in session.scalars(select(ActualOutcome).where(ActualOutcome.work_item_id.in_([i.id for i in items])))
    }
    counts = {r: sum(1 for i in items if outcomes.get(i.id) == r) for r in RESULTS}
    delivered = len(items)
    return RealizationRate(
        delivered=delivered,
        achieved=counts["achieved"],
        partially=counts["partially"],
        not_achieved=counts["not_achieved"],
        pending=delivered - len([i for i in items if i.id in outcomes]),
        rate=counts["achieved"] / delivered if delivered else None,
        item_ids=tuple(i.id for i in items),
    )
