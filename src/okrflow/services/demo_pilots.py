"""Demo pilots, decisions, outcomes and retrospectives: where measurement turns into decisions.

Everything goes through the services (pilots, decisions, outcomes, retros), so the demo is audited and
validated like real use:

* three pilots — *One-page checkout* (finished: a clear win → scale), *Instant bank transfer* (finished: the
  refund-rate guardrail breached → rollback) and *Semantic search ranking* (running, two weeks in);
  per-day results are drawn from planted effects with a fixed seed;
* ten decisions, two of them on the finished pilots (their recommendation and readout frozen as evidence),
  one superseded by a later one, one past its review date;
* anticipated outcomes on delivered epics of the three product teams — some achieved, some partially, some
  not, some due for review, some not yet due;
* two blameless postmortems on real demo incidents and a retrospective of the rolled-back pilot, with open,
  overdue and done action items (one linked to a runbook page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from okrflow.domain.access import Actor
from okrflow.domain.pilots import PilotStatus
from okrflow.services import decisions, outcomes, pilots, retros
from okrflow.store.db import Database
from okrflow.store.models_delivery import Incident
from okrflow.store.models_okr import KeyResult
from okrflow.store.models_pilots import Pilot
from okrflow.store.models_work import WorkItem

RULES: list[dict[str, Any]] = [
    {"pause_when": {"srm_p_below": 0.001}},
    {"rollback_when": {"any_guardrail_worse_than_accepted": True}},
    {"scale_when": {"primary_lift_at_least": 0.05, "p_below": 0.05}},
    {"stop_when": {}},
]


@dataclass(frozen=True)
class MetricPlan:
    """A planted metric: conversion (``sd`` None) or mean, control value and the treatment's relative effect."""

    key: str
    control: float
    effect: float
    sd: float | None = None


@dataclass(frozen=True)
class PilotPlan:
    key: str
    title: str
    team: str
    owner: str
    problem: str
    statement: str
    primary: MetricPlan
    direction: str
    expected_effect: float
    guardrails: tuple[tuple[MetricPlan, str, float], ...]  # metric, direction, accepted regression
    start_days_ago: int
    weeks: int
    units_per_day: int
    planned_units: int  # over both variants, from the plan's power analysis (80 % power, always-valid intervals)
    kr_title_starts: str
    epic: str
    risks: tuple[tuple[str, int, int, str], ...]
    scope: str
    entry: tuple[str, ...]
    exit: tuple[str, ...]


PLANS = (
    PilotPlan(
        key="P-1",
        title="One-page checkout",
        team="checkout",
        owner="Hannah Schmidt",
        problem="Seven in ten carts are abandoned; most drop-off happens between the address and the payment step.",
        statement="Cut step drop-off by 15 % in four weeks by merging address, delivery and payment on one page",
        primary=MetricPlan("checkout_conversion", 0.112, 0.13),
        direction="increase",
        expected_effect=0.15,
        guardrails=((MetricPlan("page_load_ms", 820.0, 0.012, 240.0), "decrease", 0.05),),
        start_days_ago=130,
        weeks=4,
        units_per_day=4800,
        planned_units=120_000,
        kr_title_starts="Cut cart abandonment",
        epic="CHK-E20",
        risks=(
            ("Payment provider times out on the combined form", 2, 5, "Fallback to the old flow per session"),
            ("Accessibility regressions on long forms", 3, 3, "Axe checks in CI, screen-reader test"),
        ),
        scope="Web checkout in the EU, logged-in and guest buyers; not the mobile apps.",
        entry=("Old and new flow instrumented with the same events", "Rollback switch tested in staging"),
        exit=("Four weeks or 60,000 buyers per variant", "Any guardrail breach ends the pilot early"),
    ),
    PilotPlan(
        key="P-2",
        title="Instant bank transfer at checkout",
        team="payments",
        owner="Priya Raman",
        problem="Card declines cost us 3.5 % of payments; many buyers would pay by bank transfer if it were instant.",
        statement="Raise payment success by 2 % in four weeks by offering instant bank transfer",
        primary=MetricPlan("payment_success", 0.965, 0.004),
        direction="increase",
        expected_effect=0.02,
        guardrails=(
            (MetricPlan("refund_rate", 0.021, 0.38), "decrease", 0.10),
            (MetricPlan("payment_latency_ms", 1350.0, 0.01, 400.0), "decrease", 0.05),
        ),
        start_days_ago=80,
        weeks=4,
        units_per_day=3600,
        planned_units=100_000,
        kr_title_starts="Raise payment success",
        epic="PAY-E22",
        risks=(
            ("Fraud through account takeover", 3, 5, "Velocity limits per account, manual review above €500"),
            ("Bank API outages", 2, 3, "Hide the option when the provider's health check fails"),
        ),
        scope="Germany and the Netherlands, baskets up to €1,000.",
        entry=("Provider contract signed", "Refund flow for bank transfers tested end to end"),
        exit=("Four weeks", "Refund rate more than 10 % worse than cards ends it"),
    ),
    PilotPlan(
        key="P-3",
        title="Semantic search ranking",
        team="discovery",
        owner="Lucas Silva",
        problem="A third of searches end without a click; buyers rephrase queries the keyword index cannot match.",
        statement="Lift search click-through by 8 % in four weeks with embedding-based ranking",
        primary=MetricPlan("search_click_through", 0.205, 0.04),
        direction="increase",
        expected_effect=0.08,
        guardrails=((MetricPlan("search_latency_ms", 180.0, 0.03, 60.0), "decrease", 0.10),),
        start_days_ago=14,
        weeks=4,
        units_per_day=2600,
        planned_units=60_000,
        kr_title_starts="Raise search click-through",
        epic="DSC-E23",
        risks=(("Latency of the embedding service under peak load", 3, 4, "Cache the top 10k queries"),),
        scope="Web search on desktop and mobile web, all markets.",
        entry=("Offline NDCG at least as good as today's ranking",),
        exit=("Four weeks or a clear signal at the planned sample size",),
    ),
)


def _draws(rng: np.random.Generator, plan: PilotPlan, start: date, days: int) -> list[dict[str, Any]]:
    """Per-day, per-variant summaries of the primary metric and the guardrails (equal split)."""
    rows: list[dict[str, Any]] = []
    metrics = [plan.primary, *(g for g, _d, _a in plan.guardrails)]
    for d in range(days):
        day = start + timedelta(days=d)
        total = int(rng.poisson(plan.units_per_day))
        n_control = int(rng.binomial(total, 0.5))
        for variant, n in (("control", n_control), ("treatment", total - n_control)):
            for m in metrics:
                value = m.control * (1 + m.effect) if variant == "treatment" else m.control
                if m.sd is None:
                    rows.append(
                        {
                            "day": day,
                            "variant": variant,
                            "metric": m.key,
                            "n": n,
                            "conversions": int(rng.binomial(n, value)),
                        }
                    )
                else:
                    x = rng.normal(value, m.sd, n)
                    rows.append(
                        {
                            "day": day,
                            "variant": variant,
                            "metric": m.key,
                            "n": n,
                            "sum": float(x.sum()),
                            "sum_squares": float((x * x).sum()),
                        }
                    )
    return rows


def _pilot(
    db: Database,
    plan: PilotPlan,
    workspace_id: int,
    team_ids: dict[str, int],
    person_ids: dict[str, int],
    *,
    actor: Actor,
    today: date,
    rng: np.random.Generator,
) -> Pilot:
    start = today - timedelta(days=plan.start_days_ago)
    end = start + timedelta(days=7 * plan.weeks - 1)
    with db.write() as s:
        kr = s.scalar(
            select(KeyResult.id).where(KeyResult.title.startswith(plan.kr_title_starts)).order_by(KeyResult.id)
        )
        epic = s.scalar(select(WorkItem.id).where(WorkItem.workspace_id == workspace_id, WorkItem.key == plan.epic))
        pilot = pilots.create_pilot(
            s,
            actor,
            workspace_id,
            key=plan.key,
            title=plan.title,
            problem=plan.problem,
            hypothesis={
                "primary_metric": plan.primary.key,
                "direction": plan.direction,
                "expected_effect": plan.expected_effect,
                "effect_kind": "relative",
                "statement": plan.statement,
                "planned_sample_size": plan.planned_units,
                "baseline": {"rate": round(plan.primary.control, 3)},
            },
            timebox_start=start,
            timebox_end=end,
            owner_person_id=person_ids[plan.owner],
            team_id=team_ids[plan.team],
            scope=plan.scope,
            entry_criteria=list(plan.entry),
            exit_criteria=list(plan.exit),
            risks=[{"description": d, "likelihood": lk, "impact": im, "mitigation": m} for d, lk, im, m in plan.risks],
            guardrails=[
                {"metric": g.key, "direction": direction, "accepted_regression": accepted}
                for g, direction, accepted in plan.guardrails
            ],
            rollout=[
                {"cohort": "staff and friends", "exposure_percent": 5, "start": start.isoformat(), "split": [50, 50]},
                {
                    "cohort": "10 % of buyers",
                    "exposure_percent": 10,
                    "start": (start + timedelta(days=7)).isoformat(),
                    "split": [50, 50],
                },
                {
                    "cohort": "25 % of buyers",
                    "exposure_percent": 25,
                    "start": (start + timedelta(days=14)).isoformat(),
                    "split": [50, 50],
                },
            ],
            exit_rules=RULES,
            key_result_id=kr,
            work_item_id=epic,
        )
        pilots.transition(s, actor, pilot.id, "running")
        days = min(7 * plan.weeks, (today - start).days)
        pilots.record_results(s, actor, pilot.id, _draws(rng, plan, start, days), source="demo")
        evaluated_on = min(today, end + timedelta(days=1))
        pilots.evaluate(
            s, actor, pilot.id, datetime(evaluated_on.year, evaluated_on.month, evaluated_on.day, 9, tzinfo=UTC)
        )
    return pilot


def _decisions(
    db: Database,
    workspace_id: int,
    person_ids: dict[str, int],
    pilot_ids: dict[str, int],
    *,
    actor: Actor,
    today: date,
) -> int:
    """Ten decisions: two on the finished pilots, one superseded, one past its review date."""

    def raci(responsible: str, accountable: str, consulted: list[str], informed: list[str]) -> dict[str, Any]:
        return {
            "responsible": [person_ids[responsible]],
            "accountable": [person_ids[accountable]],
            "consulted": consulted,
            "informed": informed,
        }

    with db.read() as s:
        incident = s.scalar(
            select(Incident.id)
            .where(Incident.workspace_id == workspace_id, Incident.service == "backoffice")
            .order_by(Incident.started_at.desc())
        )
        flow_kr = s.scalar(select(KeyResult.id).where(KeyResult.title.startswith("Bring checkout flow time")))

    def ago(days: int) -> date:
        return today - timedelta(days=days)

    count = 0
    with db.write() as s:
        p1 = s.get(Pilot, pilot_ids["P-1"])
        p2 = s.get(Pilot, pilot_ids["P-2"])
        assert p1 is not None and p2 is not None
        decisions.record_decision(
            s,
            actor,
            workspace_id,
            title="Roll out the one-page checkout to all EU buyers",
            context="P-1 ran four weeks at 25 % exposure with an equal split.",
            options=["Scale to 100 %", "Extend to the mobile apps first", "Keep the old flow"],
            decision="Scale to 100 % of EU web buyers over two weeks; mobile apps follow next quarter.",
            rationale="Conversion up clearly, page load within its guardrail; the recommendation was scale.",
            decided_by="Hannah Schmidt",
            raci=raci("Yusuf Demir", "Hannah Schmidt", ["Payments team"], ["Customer support", "Marketing"]),
            decided_on=p1.timebox_end + timedelta(days=2) if p1.timebox_end else ago(90),
            review_on=ago(10),
            pilot_id=p1.id,
            action="scale",
            now=ago(90),
        )
        decisions.record_decision(
            s,
            actor,
            workspace_id,
            title="Switch off instant bank transfer",
            context="P-2: payment success rose slightly, but refunds rose far more than the 10 % we accepted.",
            options=["Roll back", "Continue with stricter fraud limits", "Extend two weeks"],
            decision="Roll back now; revisit with the provider's fraud scoring in Q3.",
            rationale="The refund-rate guardrail is breached; the recommendation was rollback.",
            decided_by="Priya Raman",
            raci=raci("Mateo García", "Priya Raman", ["Finance", "Risk"], ["Customer support"]),
            decided_on=p2.timebox_end + timedelta(days=1) if p2.timebox_end else ago(50),
            review_on=today + timedelta(days=40),
            pilot_id=p2.id,
            action="rollback",
            now=ago(50),
        )
        general = [
            (
                "Adopt trunk-based development in checkout",
                "Long-lived branches cause painful merges and hide work in progress.",
                "Merge to main at least daily behind feature flags; branches live under two days.",
                "Yusuf Demir",
                raci("Yusuf Demir", "Jonas Weber", ["Platform"], ["All engineers"]),
                300,
                None,
                [],
            ),
            (
                "Pair testers with developers from the start of a story",
                "Testing is the bottleneck of checkout's value stream: items wait days for QA.",
                "Testers join refinement and pair on acceptance tests; QA handoffs are tracked in the flow metrics.",
                "Jonas Weber",
                raci("Yusuf Demir", "Jonas Weber", ["Sofia Rossi"], ["Checkout team"]),
                20,
                60,
                [{"type": "key_result", "id": flow_kr}] if flow_kr else [],
            ),
            (
                "Retire the legacy search index by the end of Q3",
                "Two indexes double the on-call load and the cost.",
                "Freeze features on the legacy index now; switch off after the semantic ranking pilot decides.",
                "Lucas Silva",
                raci("Oliver Brown", "Lucas Silva", ["Platform"], ["Customer support"]),
                45,
                75,
                [],
            ),
            (
                "No backoffice deploys on Friday afternoons",
                "Three backoffice incidents in a quarter started after Friday deploys.",
                "Backoffice deploys stop at 12:00 on Fridays until its change failure rate is below 20 %.",
                "Erik Johansson",
                raci("Nadia Petrova", "Erik Johansson", ["Backoffice users"], ["Engineering"]),
                60,
                30,
                [{"type": "incident", "id": incident}] if incident else [],
            ),
            (
                "Move card tokenization to the new provider",
                "The current provider's tokenization adds 300 ms and a second outage domain.",
                "Migrate tokenization in three waves, starting with new cards.",
                "Mateo García",
                raci("Lena Fischer", "Mateo García", ["Security"], ["Finance"]),
                120,
                None,
                [],
            ),
            (
                "Teams grade their own OKRs at quarter end",
                "Grading by leadership took weeks and felt like a performance review.",
                "Teams grade their KRs in the last week; leadership reviews the grades with them.",
                "Amara Okafor",
                raci("Jonas Weber", "Amara Okafor", ["Product managers"], ["Everyone"]),
                150,
                -30,  # the review date has passed: due for review
                [],
            ),
        ]
        for title, context, text, by, roles, days_ago, review_in, links in general:
            decided_on = ago(days_ago)
            decisions.record_decision(
                s,
                actor,
                workspace_id,
                title=title,
                context=context,
                decision=text,
                decided_by=by,
                raci=roles,
                decided_on=decided_on,
                review_on=decided_on + timedelta(days=days_ago + review_in) if review_in is not None else None,
                links=links,
                now=decided_on,
            )
            count += 1
        buy = decisions.record_decision(
            s,
            actor,
            workspace_id,
            title="Buy a feature-flag service",
            context="Trunk-based development needs feature flags; building our own would take a quarter.",
            options=["Buy a SaaS", "Build on an open-source server", "Build from scratch"],
            decision="Buy the SaaS offering with the EU region.",
            rationale="Fastest to adopt; the cost fits this year's budget.",
            decided_by="Erik Johansson",
            raci=raci("Tomás Novak", "Erik Johansson", ["Security", "Finance"], ["All engineers"]),
            decided_on=ago(280),
            now=ago(280),
        )
        decisions.supersede(
            s,
            actor,
            buy.id,
            {
                "title": "Run feature flags on an open-source server we host",
                "decision": "Host the open-source flag server on our platform; drop the SaaS contract.",
                "rationale": "The SaaS's EU region failed our data-residency review; self-hosting passed it.",
                "decided_on": ago(250),
            },
            now=ago(250),
        )
        count += 4  # the two pilot decisions, the superseded one and its successor
    return count


def _outcomes(db: Database, workspace_id: int, *, actor: Actor, today: date) -> dict[str, int]:
    """Anticipated outcomes on delivered epics; actual outcomes for most of those past their by-date."""
    texts = {
        "PAY": ("Buyers abandon payment after a card decline", "payment_success", 0.99),
        "CHK": ("Buyers give up on long checkout forms", "cart_abandonment", 0.65),
        "DSC": ("Buyers don't find products with their own words", "search_click_through", 0.24),
    }
    results: tuple[tuple[str, float, str], ...] = (
        ("achieved", 1.0, "The effect held after the full rollout."),
        ("partially", 0.6, "Half of the expected effect; the rest depends on the mobile apps."),
        ("not_achieved", 0.1, "No measurable change; the problem was elsewhere in the funnel."),
        ("achieved", 1.05, "Slightly above target; support tickets fell too."),
    )
    counts = {"anticipated": 0, "actual": 0}
    with db.write() as s:
        epics = list(
            s.scalars(
                select(WorkItem)
                .where(WorkItem.workspace_id == workspace_id, WorkItem.level == "epic", WorkItem.resolved.is_not(None))
                .order_by(WorkItem.resolved.desc(), WorkItem.id)
            )
        )
        by_project: dict[str, list[WorkItem]] = {}
        for e in epics:
            by_project.setdefault((e.key or "").split("-")[0], []).append(e)
        for j, (project, items) in enumerate(sorted(by_project.items())):
            problem, metric, target = texts.get(project, ("A problem worth solving", "conversion", 1.0))
            for k, item in enumerate(items[:7]):  # the seven most recently delivered epics of each team
                assert item.resolved is not None
                by = item.resolved.date() + timedelta(days=45)
                outcomes.set_anticipated_outcome(
                    s,
                    actor,
                    item.id,
                    problem=problem,
                    expected_result=f"{item.title} moves {metric} towards {target:g}",
                    measured_by=f"{metric} in the KPI catalog, weekly",
                    metric_key=metric,
                    target=target,
                    by_date=by,
                    how_we_learn="Compare the KPI's trend before and after the release in the monthly review",
                )
                counts["anticipated"] += 1
                # the two most recent are not due yet or due for review; the older ones mostly have an outcome
                # teams differ: checkout learns fastest, payments has one review overdue, discovery several
                unreviewed = {"CHK": set(), "PAY": {4}, "DSC": {3, 5}}.get(project, {4})
                if by < today and k >= 2 and k not in unreviewed:
                    result, share, learning = results[(k + j) % len(results)]
                    outcomes.record_actual_outcome(
                        s,
                        actor,
                        item.id,
                        observed_value=round(target * share, 3),
                        result=result,
                        learning=learning,
                        observed_on=by + timedelta(days=3),
                    )
                    counts["actual"] += 1
    return counts


def _retros(
    db: Database,
    workspace_id: int,
    team_ids: dict[str, int],
    person_ids: dict[str, int],
    pilot_ids: dict[str, int],
    *,
    actor: Actor,
    today: date,
) -> int:
    """Two postmortems on real demo incidents and a retrospective of the rolled-back pilot, with actions."""
    with db.read() as s:

        def latest(service: str) -> Incident | None:
            return s.scalar(
                select(Incident)
                .where(
                    Incident.workspace_id == workspace_id,
                    Incident.service == service,
                    Incident.started_at < _dt(today - timedelta(days=20)),
                )
                .order_by(Incident.started_at.desc())
            )

        payments = latest("payments")
        backoffice = latest("backoffice")

    def ago(days: int) -> date:
        return today - timedelta(days=days)

    made = 0
    with db.write() as s:
        entries: list[tuple[dict[str, Any], list[tuple[str, str, int, str, str]]]] = [
            (
                {
                    "kind": "postmortem",
                    "title": "Card payments failing after a provider certificate rotation",
                    "held_on": (payments.started_at.date() + timedelta(days=3)) if payments else ago(30),
                    "team_id": team_ids["payments"],
                    "what_happened": "The provider rotated its TLS certificate; our pinned chain rejected it and "
                    "card payments failed until the pin was updated.",
                    "impact": "About 8 % of card payments failed for the length of the incident; no data was lost.",
                    "contributing_factors": [
                        "Certificate pinning without an expiry alert",
                        "The provider's rotation notice went to a retired mailbox",
                        "No synthetic payment check in production",
                    ],
                    "learnings": "Pinning needs an owner and an alert; external notices need a team alias.",
                    "incident_id": payments.id if payments else None,
                },
                [
                    ("Alert 30 days before pinned certificates expire", "Nadia Petrova", -12, "open", ""),
                    ("Synthetic card payment every 5 minutes", "Lena Fischer", 10, "open", ""),
                    ("Route provider notices to payments-oncall@", "Mateo García", -20, "done", ""),
                ],
            ),
            (
                {
                    "kind": "postmortem",
                    "title": "Backoffice order export stuck after a Friday deploy",
                    "held_on": (backoffice.started_at.date() + timedelta(days=2)) if backoffice else ago(25),
                    "team_id": team_ids["platform"],
                    "what_happened": "A schema migration locked the orders table; the nightly export queued behind it.",
                    "impact": "Warehouse picking started four hours late; 1,200 orders shipped a day later.",
                    "contributing_factors": [
                        "Migration not checked for long locks",
                        "Deploy on Friday afternoon with a thin on-call rota",
                    ],
                    "learnings": "Lock-heavy migrations run in a maintenance window with a rollback step.",
                    "incident_id": backoffice.id if backoffice else None,
                },
                [
                    ("Lint migrations for table locks in CI", "Tomás Novak", -5, "open", "/docs/runbooks/migrations"),
                    ("Write the rollback runbook for the order export", "Grace Liu", -2, "open", ""),
                    ("Decide on a deploy window for backoffice", "Erik Johansson", -30, "done", ""),
                ],
            ),
            (
                {
                    "kind": "retrospective",
                    "title": "Retrospective: instant bank transfer pilot",
                    "held_on": ago(45),
                    "team_id": team_ids["payments"],
                    "what_happened": "We rolled back P-2 after the refund-rate guardrail was breached.",
                    "impact": "Four weeks of a 25 % cohort; refunds rose by about a third in the treatment.",
                    "contributing_factors": [
                        "Fraud scoring for bank transfers was not part of the entry criteria",
                        "The refund guardrail was only read weekly",
                    ],
                    "learnings": "Guardrails are read daily; fraud review is an entry criterion for payment pilots.",
                    "pilot_id": pilot_ids["P-2"],
                },
                [
                    ("Add fraud review to the payment pilot template", "Priya Raman", 14, "open", ""),
                    ("Daily guardrail alert for running pilots", "Mei Chen", -3, "open", ""),
                ],
            ),
        ]
        for data, actions in entries:
            retro = retros.create_retro(s, actor, workspace_id, data)
            made += 1
            for title, owner, due_in, status, playbook in actions:
                action = retros.add_action(
                    s,
                    actor,
                    retro.id,
                    {
                        "title": title,
                        "owner_person_id": person_ids[owner],
                        "due_on": today + timedelta(days=due_in),
                        "playbook_url": playbook,
                    },
                )
                if status != "open":
                    retros.update_action(s, actor, action.id, {"status": status})
    return made


def _dt(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def build(
    db: Database,
    workspace_id: int,
    team_ids: dict[str, int],
    person_ids: dict[str, int],
    *,
    actor: Actor,
    now: datetime,
    seed: int = 23,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    today = now.date()
    pilot_ids: dict[str, int] = {}
    for plan in PLANS:
        pilot = _pilot(db, plan, workspace_id, team_ids, person_ids, actor=actor, today=today, rng=rng)
        pilot_ids[plan.key] = pilot.id
    n_decisions = _decisions(db, workspace_id, person_ids, pilot_ids, actor=actor, today=today)
    with db.write() as s:  # the finished pilots were rolled out or rolled back: closed
        for key in ("P-1", "P-2"):
            finished = s.get(Pilot, pilot_ids[key])
            assert finished is not None
            pilots.move(s, actor, finished, PilotStatus.CLOSED)
    counted = _outcomes(db, workspace_id, actor=actor, today=today)
    n_retros = _retros(db, workspace_id, team_ids, person_ids, pilot_ids, actor=actor, today=today)
    return {
        "pilots": len(PLANS),
        "decisions": n_decisions,
        "anticipated_outcomes": counted["anticipated"],
        "actual_outcomes": counted["actual"],
        "retrospectives": n_retros,
    }
