"""Domain terms shown in the glossary next to the metric definitions (one word per concept, everywhere)."""

from __future__ import annotations

TERMS: dict[str, str] = {
    "Objective": "A qualitative, time-bound goal for a period, owned by a person and a team (or the whole "
    "workspace). Committed objectives are expected to reach 1.0; aspirational ones count ~0.7 as success.",
    "Key result": "A measurable result that shows an objective is reached: baseline, target, unit and "
    "direction (increase, decrease, stay within a band, or milestones). Kinds: outcome, output, discovery.",
    "Check-in": "A weekly update of a key result: current value (unless bound to a metric), confidence 0–10 "
    "and a note. Confidence ≥ 7 is on track, 4–6 at risk, ≤ 3 off track (configurable).",
    "Cascading": "Aligning a team objective to a key result of a parent objective; progress rolls up by "
    "weights along the alignments.",
    "Progress": "How far a key result has moved from its baseline toward its target (raw; above 1.0 is "
    "over-achievement). An objective's progress is the weighted mean of its key results and aligned objectives.",
    "Grade": "Period-end score 0.0–1.0: green ≥ 0.7, yellow 0.4–0.69, red < 0.4.",
    "Forecast": "Where a key result lands at period end from its history: a trend line with an uncertainty "
    "band, or the expected-progress line when there are fewer than three points.",
    "North-star metric": "The one metric that best captures the value the workspace delivers to customers.",
    "Metric": "A KPI of the catalog with a business definition, owner, unit, leading/lagging, aggregation, "
    "source, freshness SLA, thresholds and a versioned calculation rule.",
    "Metric version": "An immutable edition of a metric's definition and calculation rule; each stored value "
    "keeps the version it was computed with.",
    "Freshness SLA": "How old the latest value of a metric may be before it warns (warn after) or fails (error after).",
    "Leading indicator": "A metric that moves before the outcome does and can be influenced now.",
    "Lagging indicator": "A metric that confirms an outcome after the fact.",
    "Flow item": "A unit of work that delivers value: feature, defect, risk or debt (Flow Framework).",
}
