"""The OKR part of the demo: a company objective with a north-star metric, three team objectives cascaded
from its key results (every KR direction), a quarter of weekly check-ins with realistic noise (on track, at
risk, one off track, one with missing check-ins), ten KPIs with two years of daily values, and one KPI whose
calculation rule changed in the middle of the quarter."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np

from okrflow.domain.access import Actor
from okrflow.services import catalog, okr
from okrflow.store.db import Database


@dataclass(frozen=True)
class KpiSpec:
    key: str
    name: str
    unit: str
    indicator: str
    direction: str
    aggregation: str
    definition: str
    start: float  # value two years ago
    end: float  # value today
    noise: float  # relative day-to-day noise
    weekly: float = 0.0  # relative weekly seasonality
    thresholds: dict[str, float] | None = None
    owner: str | None = None
    wobble: float = 0.012  # relative slow wave, so charts are not ruler lines


KPIS: tuple[KpiSpec, ...] = (
    KpiSpec(
        "weekly_active_buyers",
        "Weekly active buyers",
        "buyers",
        "lagging",
        "increase",
        "last",
        "Distinct customers with at least one completed order in the trailing 7 days. North-star metric.",
        96_000,
        136_000,
        0.01,
        0.02,
        {"green": 140_000, "red": 120_000},
        "Amara Okafor",
        wobble=0.004,
    ),
    KpiSpec(
        "checkout_conversion",
        "Checkout conversion",
        "%",
        "leading",
        "increase",
        "ratio",
        "Completed orders ÷ sessions that reached the basket, per day.",
        2.45,
        2.95,
        0.03,
        0.05,
        {"green": 3.2, "red": 2.8},
        "Hannah Schmidt",
    ),
    KpiSpec(
        "payment_success_rate",
        "Payment success rate",
        "%",
        "leading",
        "increase",
        "ratio",
        "Authorised payments ÷ payment attempts, all methods.",
        95.6,
        98.3,
        0.001,
        0.0,
        {"green": 98.5, "red": 97.0},
        "Priya Raman",
        wobble=0.0005,
    ),
    KpiSpec(
        "cart_abandonment",
        "Cart abandonment",
        "%",
        "leading",
        "decrease",
        "ratio",
        "Baskets with items and no order within 24 hours ÷ all baskets with items.",
        74.0,
        71.0,
        0.01,
        0.01,
        {"green": 66.0, "red": 72.0},
        "Hannah Schmidt",
    ),
    KpiSpec(
        "search_ctr",
        "Search click-through rate",
        "%",
        "leading",
        "increase",
        "ratio",
        "Searches followed by a product click ÷ searches.",
        16.0,
        19.5,
        0.03,
        0.03,
        {"green": 22.0, "red": 18.0},
        "Lucas Silva",
    ),
    KpiSpec(
        "api_p95_latency",
        "Checkout API latency p95",
        "ms",
        "leading",
        "decrease",
        "last",
        "95th percentile server time of checkout API calls, per day.",
        980,
        720,
        0.05,
        0.0,
        {"green": 400, "red": 800},
        "Yusuf Demir",
    ),
    KpiSpec(
        "payment_error_rate",
        "Payment API error rate",
        "%",
        "leading",
        "band",
        "ratio",
        "5xx answers ÷ all answers of the payment API. Healthy inside 0.1–0.5 %.",
        0.9,
        0.6,
        0.08,
        0.0,
        {"low": 0.1, "high": 0.5},
        "Mateo García",
    ),
    KpiSpec(
        "nps",
        "Net promoter score",
        "score",
        "lagging",
        "increase",
        "mean",
        "% promoters − % detractors of the post-purchase survey, trailing 30 days.",
        31,
        38,
        0.04,
        0.0,
        {"green": 40, "red": 30},
        "Amara Okafor",
    ),
    KpiSpec(
        "cost_per_order",
        "Cost per order",
        "€",
        "lagging",
        "decrease",
        "ratio",
        "Fulfilment, payment and infrastructure cost ÷ orders.",
        4.45,
        3.95,
        0.015,
        0.02,
        {"green": 3.6, "red": 4.2},
        "Jonas Weber",
    ),
    KpiSpec(
        "recommendation_revenue_share",
        "Recommendation revenue share",
        "%",
        "lagging",
        "increase",
        "ratio",
        "Revenue from orders with a recommended item ÷ all revenue.",
        5.0,
        7.2,
        0.03,
        0.02,
        {"green": 10.0, "red": 6.0},
        "Mei Chen",
    ),
)
CHANGED_KPI = "checkout_conversion"  # its rule changes mid-quarter: bots are excluded from sessions


def _series(spec: KpiSpec, days: list[datetime], rng: np.random.Generator, shift_from: datetime | None) -> list[float]:
    n = len(days)
    trend = np.linspace(spec.start, spec.end, n)
    # a slow wobble so the chart is not a ruler line
    wobble = 1 + spec.wobble * np.sin(np.linspace(0, 9 * math.pi, n))
    weekly = 1 + spec.weekly * np.array([math.sin(2 * math.pi * d.weekday() / 7) for d in days])
    noise = 1 + rng.normal(0, spec.noise, n)
    values = trend * wobble * weekly * noise
    if shift_from is not None:  # fewer bot sessions in the denominator lifts the ratio
        values = np.where(np.array([d >= shift_from for d in days]), values * 1.08, values)
    digits = 0 if spec.start > 500 else 2
    return [round(float(v), digits) for v in values]


# title, direction, kwargs, pace (share of the plan achieved by now), confidence, kind, metric key, owner
KrPlan = tuple[str, str, dict[str, Any], float, float, str, str | None, str]


def build(
    db: Database,
    workspace_id: int,
    team_ids: dict[str, int],
    person_ids: dict[str, int],
    *,
    actor: Actor,
    now: datetime,
    seed: int = 7,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    today = now.date()
    counts = {"objectives": 0, "key_results": 0, "checkins": 0, "metrics": 0, "metric_values": 0}
    headlines: list[str] = []
    with db.write() as s:
        periods = okr.create_year(s, actor, workspace_id, today.year)
        annual = periods[0]
        quarter = okr.current_period(s, workspace_id, today) or periods[4]
        q_start, q_end = okr.period_bounds(quarter)
        midpoint = q_start + (min(now, q_end) - q_start) / 2

        # ---- KPI catalog with two years of daily values
        first_day = datetime.combine(today - timedelta(days=730), time(0), tzinfo=UTC)
        days = [first_day + timedelta(days=i) for i in range(731)]
        metric_ids: dict[str, int] = {}
        for spec in KPIS:
            m = catalog.define_metric(
                s,
                actor,
                workspace_id,
                spec.key,
                name=spec.name,
                definition=spec.definition,
                unit=spec.unit,
                indicator=spec.indicator,
                direction=spec.direction,
                aggregation=spec.aggregation if spec.aggregation != "ratio" else "mean",
                source="data warehouse (demo)",
                calculation=f"daily {spec.name.lower()} from the warehouse model mart.{spec.key}",
                freshness_warn_hours=30,
                freshness_error_hours=72,
                thresholds=spec.thresholds or {},
                owner_person_id=person_ids.get(spec.owner or ""),
            )
            metric_ids[spec.key] = m.id
            shift = midpoint if spec.key == CHANGED_KPI else None
            values = _series(spec, days, rng, shift)
            if shift is None:
                points = [catalog.ValuePoint(spec.key, d, v) for d, v in zip(days, values, strict=True)]
                counts["metric_values"] += catalog.record_values(s, actor, workspace_id, points, source="demo").created
            else:
                before = [catalog.ValuePoint(spec.key, d, v) for d, v in zip(days, values, strict=True) if d < shift]
                after = [catalog.ValuePoint(spec.key, d, v) for d, v in zip(days, values, strict=True) if d >= shift]
                counts["metric_values"] += catalog.record_values(s, actor, workspace_id, before, source="demo").created
                catalog.revise_metric(
                    s,
                    actor,
                    m.id,
                    {"calculation": "completed orders ÷ basket sessions, excluding sessions flagged as bots"},
                    reason="bot traffic inflated sessions by ~8 %; values from this date on exclude it",
                )
                counts["metric_values"] += catalog.record_values(s, actor, workspace_id, after, source="demo").created
            counts["metrics"] += 1
        okr.set_north_star(s, actor, workspace_id, metric_ids["weekly_active_buyers"])

        # ---- company objective (annual), KRs bound to metrics or checked in
        company = okr.create_objective(
            s,
            actor,
            workspace_id,
            annual.id,
            "Become the easiest place to buy online",
            owner_person_id=person_ids["Amara Okafor"],
            description="Customers find what they want, pay in seconds and come back.",
        )
        kr_buyers = okr.create_key_result(
            s,
            actor,
            company.id,
            "Grow weekly active buyers from 120k to 150k",
            "increase",
            baseline=120_000,
            target=150_000,
            unit="buyers",
            metric_id=metric_ids["weekly_active_buyers"],
            owner_person_id=person_ids["Amara Okafor"],
        )
        kr_conv = okr.create_key_result(
            s,
            actor,
            company.id,
            "Lift checkout conversion from 2.8 % to 3.4 %",
            "increase",
            baseline=2.8,
            target=3.4,
            unit="%",
            metric_id=metric_ids["checkout_conversion"],
            owner_person_id=person_ids["Hannah Schmidt"],
        )
        kr_cost = okr.create_key_result(
            s,
            actor,
            company.id,
            "Cut cost per order from €4.10 to €3.50",
            "decrease",
            baseline=4.10,
            target=3.50,
            unit="€",
            metric_id=metric_ids["cost_per_order"],
            owner_person_id=person_ids["Jonas Weber"],
        )
        counts["objectives"] += 1
        counts["key_results"] += 3

        team_plans: list[tuple[str, str, str, int, str, list[KrPlan]]] = [
            (
                "payments",
                "Make paying effortless",
                "committed",
                kr_conv.id,
                "Priya Raman",
                [
                    (
                        "Raise payment success rate from 96.5 % to 99 %",
                        "increase",
                        {"baseline": 96.5, "target": 99.0, "unit": "%"},
                        0.0,
                        8,
                        "outcome",
                        "payment_success_rate",
                        "Mateo García",
                    ),
                    (
                        "Ship wallet payments",
                        "milestone",
                        {"milestones": ["Private beta", "General availability", "50 % of traffic"]},
                        0.0,
                        7,
                        "output",
                        None,
                        "Lena Fischer",
                    ),
                    (
                        "Keep payment API errors within 0.1–0.5 %",
                        "band",
                        {"baseline": 0.9, "band_low": 0.1, "band_high": 0.5, "unit": "%"},
                        0.85,
                        6,
                        "outcome",
                        None,
                        "Kwame Mensah",
                    ),
                ],
            ),
            (
                "checkout",
                "Remove friction from checkout",
                "committed",
                kr_conv.id,
                "Hannah Schmidt",
                [
                    (
                        "Cut cart abandonment from 72 % to 65 %",
                        "decrease",
                        {"baseline": 72.0, "target": 65.0, "unit": "%"},
                        0.2,
                        3,
                        "outcome",
                        None,
                        "Hannah Schmidt",
                    ),
                    (
                        "Bring checkout API p95 from 900 ms to 400 ms",
                        "decrease",
                        {"baseline": 900.0, "target": 400.0, "unit": "ms"},
                        0.75,
                        5,
                        "outcome",
                        None,
                        "Yusuf Demir",
                    ),
                    (
                        "Run 4 checkout experiments to a decision",
                        "increase",
                        {"baseline": 0, "target": 4, "unit": "experiments"},
                        1.0,
                        8,
                        "output",
                        None,
                        "Aisha Bello",
                    ),
                ],
            ),
            (
                "discovery",
                "Help buyers find what they love",
                "aspirational",
                kr_buyers.id,
                "Lucas Silva",
                [
                    (
                        "Raise search click-through from 18 % to 24 %",
                        "increase",
                        {"baseline": 18.0, "target": 24.0, "unit": "%"},
                        0.6,
                        6,
                        "outcome",
                        None,
                        "Oliver Brown",
                    ),
                    (
                        "Grow recommendation revenue share from 6 % to 10 %",
                        "increase",
                        {"baseline": 6.0, "target": 10.0, "unit": "%"},
                        0.9,
                        7,
                        "outcome",
                        None,
                        "Mei Chen",
                    ),
                    (
                        "Validate 3 personalisation hypotheses",
                        "increase",
                        {"baseline": 0, "target": 3, "unit": "hypotheses"},
                        0.9,
                        7,
                        "discovery",
                        None,
                        "Fatima Zahra",
                    ),
                ],
            ),
        ]
        # Weekly check-ins, the latest two days ago whatever the weekday: only the stale KR below is due (a
        # check-in is due after a week), on any day the demo is built.
        latest = now - timedelta(days=2)
        weeks = [latest - timedelta(days=7 * k) for k in range(13, -1, -1)]
        weeks = [w for w in weeks if q_start <= w]
        for team_slug, title, commitment, parent_kr, owner, plans in team_plans:
            obj = okr.create_objective(
                s,
                actor,
                workspace_id,
                quarter.id,
                title,
                team_id=team_ids[team_slug],
                commitment=commitment,
                owner_person_id=person_ids[owner],
                aligned_to_kr_id=parent_kr,
            )
            counts["objectives"] += 1
            for kr_title, direction, kwargs, pace, confidence, kind, metric_key, kr_owner in plans:
                kr = okr.create_key_result(
                    s,
                    actor,
                    obj.id,
                    kr_title,
                    direction,
                    kind=kind,
                    owner_person_id=person_ids[kr_owner],
                    metric_id=metric_ids.get(metric_key or ""),
                    **kwargs,
                )
                counts["key_results"] += 1
                # The search KR stopped getting check-ins three weeks ago: it shows up as due.
                stale = kr_title.startswith("Raise search")
                for i, week in enumerate(weeks):
                    if stale and week > now - timedelta(days=21):
                        break
                    share = (week - q_start) / (q_end - q_start)
                    value = _checkin_value(direction, kwargs, pace * share, rng, i, len(weeks))
                    conf = float(min(10, max(0, round(confidence + rng.normal(0, 0.8)))))
                    okr.create_checkin(
                        s,
                        actor,
                        kr.id,
                        confidence=conf,
                        value=None if metric_key else value,
                        note=_note(conf, i),
                        at=week,
                    )
                    counts["checkins"] += 1
        for company_kr, conf in ((kr_buyers, 7), (kr_conv, 6), (kr_cost, 5)):
            for i, week in enumerate(weeks[(len(weeks) - 1) % 2 :: 2]):  # every other week, up to the latest
                okr.create_checkin(s, actor, company_kr.id, confidence=conf, note=_note(conf, i), at=week)
                counts["checkins"] += 1
        headlines.append(
            f"Quarter {quarter.name}: {counts['objectives']} objectives, {counts['key_results']} key results"
        )
    return counts | {"headlines": headlines}


def _checkin_value(
    direction: str, kw: dict[str, Any], share: float, rng: np.random.Generator, i: int, n: int
) -> float | None:
    if direction == "milestone":
        return float(min(len(kw["milestones"]), int(i >= n * 0.35) + int(i >= n * 0.8)))
    if direction == "band":
        # from the baseline toward the band; lands inside it only late in the quarter
        low, high, base = kw["band_low"], kw["band_high"], kw["baseline"]
        v = base + (high - base) * min(1.2, share * 1.6) + rng.normal(0, 0.03)
        return round(max(low * 0.5, v), 2)
    base, target = float(kw["baseline"]), float(kw["target"])
    v = base + (target - base) * share + rng.normal(0, abs(target - base) * 0.04)
    if kw.get("unit") in ("experiments", "hypotheses"):
        return float(max(0, round(v)))
    return round(v, 2)


_NOTES = {
    "good": ["Ahead of plan after the release.", "Steady progress; no blockers.", "Experiment shipped, numbers hold."],
    "mid": ["Slower than planned: waiting on a dependency.", "Mixed signal this week.", "Need a decision on scope."],
    "bad": ["Blocked by the PSP migration.", "Last change did not move the metric.", "Team is at half capacity."],
}


def _note(confidence: float, i: int) -> str:
    kind = "good" if confidence >= 7 else "mid" if confidence >= 4 else "bad"
    return _NOTES[kind][i % 3]
