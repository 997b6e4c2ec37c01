"""The work part of the demo: nine months of Jira-shaped work per product team and delivery data per service.

Shapes a leader should see at once:
- **testing is the bottleneck**: stories wait longest in "Ready for QA", most of all at Checkout;
- **aging work in progress**: some stories started more than 90 days ago and are still open;
- **poor flow efficiency at Search & Discovery**: long waits in code review and "Blocked";
- **rework**: a share of stories goes back from QA to development;
- **unaligned work**: epics carry `okr:KR-<id>` labels for the key results they serve, but not all of them;
- **DORA levels differ by service**: checkout ships several times a day, payments daily, search weekly, and
  the legacy back office monthly with many failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from okrflow.domain.access import Actor
from okrflow.domain.delivery import ChangeRecord, DeploymentRecord, IncidentRecord
from okrflow.domain.work import StatusChangeRecord, WorkRecord
from okrflow.services import catalog, delivery, flow_publish, imports, okr, sources, traceability
from okrflow.store.db import Database
from okrflow.store.models_okr import KeyResult, Metric, Objective, Period

# status, mean hours spent there (exponential), before moving on
FLOW = [
    ("To Do", 0.0),
    ("Selected for Development", 60.0),
    ("In Progress", 40.0),
    ("Code Review", 16.0),
    ("Ready for QA", 170.0),
    ("In QA", 14.0),
    ("Ready for Release", 20.0),
    ("Done", 0.0),
]


@dataclass(frozen=True)
class TeamShape:
    slug: str
    project: str
    stories: int
    wait_scale: dict[str, float]  # status → factor on the mean wait
    rework: float  # chance to go back from QA to In Progress
    blocked: float  # chance of a "Blocked" stop during development


TEAMS = (
    TeamShape("payments", "PAY", 1650, {}, 0.12, 0.05),
    TeamShape("checkout", "CHK", 1750, {"Ready for QA": 2.0, "In QA": 1.3}, 0.2, 0.05),
    TeamShape("discovery", "DSC", 1450, {"Selected for Development": 4.0, "Code Review": 4.0}, 0.1, 0.5),
)

DAYS = 730  # two years of work
EPICS = 24

# service, team, deploys per week, change failure chance, recovery hours
SERVICES = (
    ("checkout", "checkout", 14.0, 0.04, 0.6),
    ("payments", "payments", 5.0, 0.09, 6.0),
    ("search", "discovery", 1.0, 0.14, 30.0),
    ("backoffice", "platform", 0.25, 0.35, 120.0),
)


def _story(
    rng: np.random.Generator, shape: TeamShape, n: int, created: datetime, now: datetime, epic: str | None
) -> WorkRecord:
    at = created
    history: list[StatusChangeRecord] = []
    current = "To Do"
    # Start: most stories are picked up within weeks, some never.
    at += timedelta(hours=float(rng.exponential(24 * 12)))
    i = 1
    while i < len(FLOW) and at < now:
        status, mean = FLOW[i]
        history.append(StatusChangeRecord(at, status, current, "dev"))
        current = status
        if status == "Done":
            break
        wait = float(rng.exponential(mean * shape.wait_scale.get(status, 1.0)))
        if status == "In Progress" and rng.random() < shape.blocked:
            block_at = at + timedelta(hours=wait / 2)
            if block_at < now:
                history.append(StatusChangeRecord(block_at, "Blocked", current, "dev"))
                back = block_at + timedelta(hours=float(rng.exponential(120)))
                if back < now:
                    history.append(StatusChangeRecord(back, "In Progress", "Blocked", "dev"))
                    current = "In Progress"
                    at = back
                else:
                    current = "Blocked"
                    at = now
                    break
        at += timedelta(hours=wait)
        if status == "In QA" and rng.random() < shape.rework and at < now:
            history.append(StatusChangeRecord(at, "In Progress", current, "qa"))
            current = "In Progress"
            at += timedelta(hours=float(rng.exponential(30)))
            i = FLOW.index(("Code Review", 16.0))
            continue
        i += 1
    history = [h for h in history if h.at <= now]
    status = history[-1].to_status if history else "To Do"
    bug = rng.random() < 0.22
    return WorkRecord(
        external_id=f"{shape.project}-{n}",
        key=f"{shape.project}-{n}",
        issue_type="Bug" if bug else "Story",
        status=status,
        created=created,
        title=f"{'Fix' if bug else 'Build'} {shape.slug} item {n}",
        resolved=history[-1].at if status == "Done" else None,
        updated=history[-1].at if history else created,
        parent_external_id=epic,
        story_points=float(rng.choice([1, 2, 3, 5, 8])),
        assignee="dev",
        history=tuple(history),
    )


def build(
    db: Database,
    workspace_id: int,
    team_ids: dict[str, int],
    *,
    actor: Actor,
    now: datetime,
    seed: int = 11,
    scale: float = 1.0,
) -> dict[str, Any]:
    """``scale`` shrinks the number of stories (the test suite builds the demo many times)."""
    rng = np.random.default_rng(seed)
    start = now - timedelta(days=DAYS)
    with db.read() as s:
        krs = {
            kr.title: kr.id
            for kr in s.scalars(
                select(KeyResult)
                .join(Objective, Objective.id == KeyResult.objective_id)
                .where(Objective.workspace_id == workspace_id)
            )
        }
    kr_for_team = {
        "payments": [k for t, k in krs.items() if "payment" in t.lower() or "wallet" in t.lower()],
        "checkout": [k for t, k in krs.items() if "abandonment" in t.lower() or "p95" in t.lower()],
        "discovery": [k for t, k in krs.items() if "search" in t.lower() or "recommendation" in t.lower()],
    }
    items = 0
    changes = 0
    with db.write() as s:
        srcs = {
            shape.slug: sources.create_source(
                s,
                actor,
                workspace_id,
                f"jira-{shape.slug}",
                "jira",
                base_url="https://northwind.atlassian.net",
                settings={"jql": f"project = {shape.project}"},
                team_id=team_ids[shape.slug],
            ).id
            for shape in TEAMS
        }
        git = sources.create_source(
            s,
            actor,
            workspace_id,
            "github-northwind",
            "github",
            base_url="https://api.github.com",
            settings={"repository": "northwind/shop"},
            team_id=team_ids["platform"],
        ).id
    for shape in TEAMS:
        records: list[WorkRecord] = []
        epics = []
        for e in range(EPICS):
            ext = f"{shape.project}-E{e + 1}"
            linked = kr_for_team[shape.slug]
            # about two in three epics serve a key result; the rest is "parallel universe" work
            labels = (f"okr:KR-{linked[e % len(linked)]}",) if linked and e % 3 != 2 else ()
            created = start + timedelta(days=e * DAYS / EPICS)
            history = [StatusChangeRecord(created + timedelta(days=3), "In Progress", "To Do", "pm")]
            # An epic is delivered about three weeks after its slot ends; the last ones are still in progress.
            delivered = created + timedelta(days=DAYS / EPICS + 21)
            if delivered < now - timedelta(days=7):
                history.append(StatusChangeRecord(delivered, "Done", "In Progress", "pm"))
            records.append(
                WorkRecord(
                    ext,
                    "Epic",
                    history[-1].to_status,
                    created,
                    key=ext,
                    title=f"{shape.slug.title()} epic {e + 1}",
                    labels=labels,
                    resolved=delivered if history[-1].to_status == "Done" else None,
                    updated=history[-1].at,
                    history=tuple(history),
                )
            )
            epics.append(ext)
        stories = max(60, int(shape.stories * scale))
        for n in range(1, stories + 1):
            created = start + timedelta(hours=float(rng.uniform(0, DAYS * 24)))
            slot = int((created - start).days / (DAYS / EPICS))
            epic = epics[min(len(epics) - 1, slot)] if rng.random() < 0.85 else None
            records.append(_story(rng, shape, n, created, now, epic))
        for n in range(stories + 1, stories + 6):  # aging work: started months ago, never finished
            created = now - timedelta(days=float(rng.uniform(100, 220)))
            began = created + timedelta(days=float(rng.uniform(1, 8)))
            stuck = "Blocked" if n % 2 else "In Progress"
            hist = [StatusChangeRecord(began, "In Progress", "To Do", "dev")]
            if stuck == "Blocked":
                hist.append(StatusChangeRecord(began + timedelta(days=4), "Blocked", "In Progress", "dev"))
            records.append(
                WorkRecord(
                    f"{shape.project}-{n}",
                    "Story",
                    stuck,
                    created,
                    key=f"{shape.project}-{n}",
                    title=f"Long-running {shape.slug} item {n}",
                    parent_external_id=epics[-1],
                    updated=hist[-1].at,
                    history=tuple(hist),
                )
            )
        # Through the Jira connector's code path: the records become Jira REST search pages (JSON text, as an
        # export or the API would deliver them), which the connector's parser reads back.
        parsed = _via_jira_pages(records)
        result = imports.import_records(db, actor, srcs[shape.slug], parsed)
        items += result.created
        changes += result.status_changes
    deployments, chg, incidents = _delivery(rng, start, now)
    delivery.import_delivery(db, actor, git, deployments=deployments, changes=chg, incidents=incidents)
    with db.write() as s:
        links_made, _problems = traceability.auto_link(s, actor, workspace_id)
    # flow and DORA metrics into the catalog, and a key result bound to one of them
    flow_publish.publish(db, actor, workspace_id, now)
    _flow_key_result(db, workspace_id, actor=actor, now=now)
    return {"work_items": items, "status_changes": changes, "deployments": len(deployments), "links": links_made}


FLOW_KR_OBJECTIVE = "Remove friction from checkout"


def _flow_key_result(db: Database, workspace_id: int, *, actor: Actor, now: datetime) -> None:
    """Checkout's objective gets a key result on "flow time p85 of team checkout" (published metric): from its
    value at the start of the quarter to 30 % less."""
    with db.write() as s:
        obj = s.scalar(
            select(Objective).where(Objective.workspace_id == workspace_id, Objective.title == FLOW_KR_OBJECTIVE)
        )
        metric = s.scalar(select(Metric).where(Metric.workspace_id == workspace_id, Metric.key == "flow.time.p85"))
        if obj is None or metric is None:
            return
        period = s.get(Period, obj.period_id)
        assert period is not None
        start, _end = okr.period_bounds(period)
        dims = {"team": "checkout"}
        first = catalog.latest_value(s, metric.id, dims, at_or_before=start) or next(
            iter(catalog.series(s, metric.id, dims, since=start)), None
        )
        if first is None:
            return
        baseline = round(first.value, 1)
        target = round(baseline * 0.7, 1)
        kr = okr.create_key_result(
            s,
            actor,
            obj.id,
            f"Bring checkout flow time p85 from {baseline:g} to {target:g} days",
            "decrease",
            baseline=baseline,
            target=target,
            unit="days",
            metric_id=metric.id,
            metric_dimensions=dims,
        )
        okr.create_checkin(
            s,
            actor,
            kr.id,
            confidence=5.0,
            note="QA waits are still long; pairing testers with developers from next sprint.",
            at=now - timedelta(days=2),
        )


def _delivery(
    rng: np.random.Generator, start: datetime, now: datetime
) -> tuple[list[DeploymentRecord], list[ChangeRecord], list[IncidentRecord]]:
    deployments: list[DeploymentRecord] = []
    changes: list[ChangeRecord] = []
    incidents: list[IncidentRecord] = []
    for service, _team, per_week, cfr, recovery_h in SERVICES:
        t = start
        k = 0
        while True:
            t += timedelta(hours=float(rng.exponential(24 * 7 / per_week)))
            if t >= now:
                break
            # skip nights and weekends for realism
            if t.weekday() >= 5:
                continue
            k += 1
            sha = f"{service[:3]}{k:05d}"
            failed = rng.random() < 0.03
            deployments.append(
                DeploymentRecord(
                    f"{service}-{k}",
                    service,
                    "production",
                    "failure" if failed else "success",
                    t + timedelta(minutes=12),
                    t,
                    commit_sha=sha,
                    commit_shas=(sha,),
                )
            )
            lead_h = float(rng.lognormal(np.log(24 * 7 / max(per_week, 0.5)), 0.6))
            first_commit = t - timedelta(hours=lead_h)
            changes.append(
                ChangeRecord(
                    f"{service}-pr-{k}",
                    "pull_request",
                    service,
                    first_commit + timedelta(hours=lead_h / 3),
                    title=f"{service} change {k}",
                    first_commit_at=first_commit,
                    merged_at=t - timedelta(hours=lead_h / 5),
                    merge_commit_sha=sha,
                )
            )
            if not failed and rng.random() < cfr:
                began = t + timedelta(hours=float(rng.uniform(0.5, 6)))
                if began < now:
                    incidents.append(
                        IncidentRecord(
                            f"INC-{service}-{k}",
                            service,
                            began,
                            title=f"{service} degraded",
                            resolved_at=min(now, began + timedelta(hours=float(rng.exponential(recovery_h)))),
                            severity="sev2",
                        )
                    )
    return deployments, changes, incidents


_JIRA_CATEGORY = {"To Do": "new", "Done": "done"}


def _jira_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _via_jira_pages(records: list[WorkRecord], page_size: int = 100) -> list[WorkRecord]:
    """Records → Jira REST v3 search pages as JSON text → the Jira connector's parser → records."""
    import json

    from okrflow.connectors.jira.parser import parse_issue

    ids = {r.external_id: str(10_000 + i) for i, r in enumerate(records)}
    keys = {r.external_id: r.key for r in records}
    pages: list[str] = []
    for start in range(0, len(records), page_size):
        issues = []
        for r in records[start : start + page_size]:
            fields: dict[str, Any] = {
                "summary": r.title,
                "issuetype": {"name": r.issue_type},
                "status": {"name": r.status, "statusCategory": {"key": _JIRA_CATEGORY.get(r.status, "indeterminate")}},
                "created": _jira_time(r.created),
                "updated": _jira_time(r.updated),
                "resolutiondate": _jira_time(r.resolved),
                "labels": list(r.labels),
                "customfield_10016": r.story_points,
                "assignee": {"displayName": r.assignee} if r.assignee else None,
            }
            if r.parent_external_id:
                fields["parent"] = {"id": ids[r.parent_external_id], "key": keys[r.parent_external_id]}
            histories = [
                {
                    "id": str(k),
                    "author": {"displayName": h.author},
                    "created": _jira_time(h.at),
                    "items": [
                        {"field": "status", "fieldtype": "jira", "fromString": h.from_status, "toString": h.to_status}
                    ],
                }
                for k, h in enumerate(r.history)
            ]
            issues.append(
                {
                    "id": ids[r.external_id],
                    "key": r.key,
                    "fields": fields,
                    "changelog": {
                        "startAt": 0,
                        "maxResults": len(histories),
                        "total": len(histories),
                        "histories": histories,
                    },
                }
            )
        pages.append(json.dumps({"issues": issues, "isLast": start + page_size >= len(records)}))
    out: list[WorkRecord] = []
    for text in pages:
        for issue in json.loads(text)["issues"]:
            out.append(parse_issue(issue, base_url="https://northwind.atlassian.net"))
    return out
