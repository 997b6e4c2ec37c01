"""What a leader looks at first, by exception: a few sentences computed from every part of the workspace.

Used by ``okrflow demo`` after building the demo (and usable by any report): key results forecast to miss,
key results off track, check-ins due, the flow bottleneck, aging work, work serving no objective, and the
DORA level of each service.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from okrflow.domain.access import Actor
from okrflow.domain.okr import CheckinStatus
from okrflow.services import dora, flow, okr, traceability


def headlines(session: Session, actor: Actor, workspace_id: int, now: datetime | None = None) -> list[str]:
    now = now or datetime.now(UTC)
    out: list[str] = []
    states = okr.walk(okr.tree(session, actor, workspace_id, now=now))
    krs = [k for s in states for k in s.key_results]
    at_risk = [k for k in krs if k.forecast.at_risk]
    off = [k for k in krs if k.status is CheckinStatus.OFF_TRACK]
    if krs:
        out.append(f"{len(at_risk)} of {len(krs)} key results are forecast to miss their target")
    if off:
        out.append("off track: " + "; ".join(k.kr.title for k in off[:3]))
    due = okr.checkins_due(session, actor, workspace_id, now=now)
    if due:
        out.append(f"{_count(len(due), 'key result')} without a check-in for more than a week")
    vsm = flow.value_stream(session, actor, workspace_id, now=now).map
    if vsm.bottleneck:
        out.append(f"flow bottleneck (largest share of waiting time, last 90 days): {vsm.bottleneck}")
    aging = flow.aging(session, actor, workspace_id, now=now)
    if aging.waste:
        out.append(f"{_count(aging.waste, 'item')} in progress for more than 90 days")
    quarter = okr.current_period(session, workspace_id, now.date())
    if quarter is not None:
        shares = traceability.unaligned_share(session, actor, workspace_id, quarter.id, now=now)
        total = sum(s.flow_days for s in shares)
        if total:
            unaligned = sum(s.unaligned_flow_days for s in shares) / total
            out.append(f"{unaligned:.0%} of this quarter's flow time went to work that serves no objective")
    report = dora.report(session, actor, workspace_id, now=now)
    levels = [
        f"{row['service']} {row['deployment_frequency_level'] or '—'}"
        for row in report.services.select("service", "deployment_frequency_level").iter_rows(named=True)
    ]
    if levels:
        out.append("DORA deployment frequency: " + ", ".join(levels))
    return out


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
