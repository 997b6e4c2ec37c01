"""Objectives and key results: directions, progress, roll-up, grading and check-in status (pure rules).

Formulas (docs/okr-progress.md has worked examples). ``progress`` is *raw*: above 1.0 means the target was
over-achieved, below 0.0 that the value moved away from the target. Only :func:`display_progress` clamps.

- increase:  (value − baseline) / (target − baseline)
- decrease:  (baseline − value) / (baseline − target)
- baseline = target (both directions): 1.0 once the value is at or past the target, else 0.0
- band [low, high]: 1.0 inside the band (edges included). Outside it: if the baseline lay outside on the
  same side, the share of the way from the baseline to the nearest edge (may be negative); otherwise 0.0
  (a "stay within" KR that leaves its band has failed, however near it is).
- milestone: milestones reached / milestones planned (a binary milestone is a list of one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Direction(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"
    BAND = "band"  # stay within [low, high]
    MILESTONE = "milestone"


class KeyResultKind(StrEnum):
    """ "The goal has to fit the risk": outcome KRs for known problems, output for delivery, discovery to learn."""

    OUTCOME = "outcome"
    OUTPUT = "output"
    DISCOVERY = "discovery"


class ObjectiveStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    CLOSED = "closed"


class Commitment(StrEnum):
    COMMITTED = "committed"  # expected to reach 1.0
    ASPIRATIONAL = "aspirational"  # ~0.7 counts as success


class CheckinStatus(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"


class GradeBand(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


@dataclass(frozen=True)
class ConfidenceThresholds:
    """Confidence 0–10 → status: on track ≥ ``on_track``, at risk ≥ ``at_risk``, else off track."""

    on_track: float = 7.0
    at_risk: float = 4.0

    def __post_init__(self) -> None:
        if not 0 <= self.at_risk <= self.on_track <= 10:
            raise ValueError("confidence thresholds must satisfy 0 ≤ at_risk ≤ on_track ≤ 10")


def confidence_status(confidence: float, thresholds: ConfidenceThresholds = ConfidenceThresholds()) -> CheckinStatus:
    if not 0 <= confidence <= 10:
        raise ValueError("confidence must lie between 0 and 10")
    if confidence >= thresholds.on_track:
        return CheckinStatus.ON_TRACK
    if confidence >= thresholds.at_risk:
        return CheckinStatus.AT_RISK
    return CheckinStatus.OFF_TRACK


@dataclass(frozen=True)
class KeyResultTarget:
    """What a key result aims at. ``band_low``/``band_high`` for BAND, ``milestones`` for MILESTONE."""

    direction: Direction
    baseline: float = 0.0
    target: float = 1.0
    band_low: float | None = None
    band_high: float | None = None
    milestones: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("baseline", "target", "band_low", "band_high"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number")
        if self.direction is Direction.BAND:
            if self.band_low is None or self.band_high is None:
                raise ValueError("a band key result needs band_low and band_high")
            if self.band_low > self.band_high:
                raise ValueError("band_low must not exceed band_high")
        if self.direction is Direction.INCREASE and self.target < self.baseline:
            raise ValueError("an increasing key result needs target ≥ baseline (use direction 'decrease')")
        if self.direction is Direction.DECREASE and self.target > self.baseline:
            raise ValueError("a decreasing key result needs target ≤ baseline (use direction 'increase')")

    @property
    def milestone_count(self) -> int:
        return max(1, len(self.milestones))


def progress(kr: KeyResultTarget, value: float | None) -> float | None:
    """Raw progress of ``value`` toward the target (see module docstring); ``None`` without a value."""
    if value is None:
        return None
    if not math.isfinite(value):
        raise ValueError("value must be a finite number")
    d = kr.direction
    if d is Direction.INCREASE:
        if kr.target == kr.baseline:
            return 1.0 if value >= kr.target else 0.0
        return (value - kr.baseline) / (kr.target - kr.baseline)
    if d is Direction.DECREASE:
        if kr.target == kr.baseline:
            return 1.0 if value <= kr.target else 0.0
        return (kr.baseline - value) / (kr.baseline - kr.target)
    if d is Direction.BAND:
        low, high = kr.band_low, kr.band_high
        assert low is not None and high is not None
        if low <= value <= high:
            return 1.0
        if value < low:
            return (value - kr.baseline) / (low - kr.baseline) if kr.baseline < low else 0.0
        return (kr.baseline - value) / (kr.baseline - high) if kr.baseline > high else 0.0
    # milestone: value = number of milestones reached
    return max(0.0, value) / kr.milestone_count


def display_progress(raw: float | None) -> float:
    """Progress clamped to [0, 1] for bars and colours; the raw value is kept everywhere else."""
    if raw is None:
        return 0.0
    return min(1.0, max(0.0, raw))


def value_for_progress(kr: KeyResultTarget, p: float) -> float:
    """The value at which an increase/decrease/milestone KR reaches progress ``p`` (for expected lines)."""
    if kr.direction is Direction.MILESTONE:
        return p * kr.milestone_count
    if kr.direction is Direction.BAND:
        assert kr.band_low is not None and kr.band_high is not None
        edge = kr.band_low if kr.baseline < kr.band_low else kr.band_high if kr.baseline > kr.band_high else kr.baseline
        return kr.baseline + p * (edge - kr.baseline)
    return kr.baseline + p * (kr.target - kr.baseline)


@dataclass(frozen=True)
class Weighted:
    """A child's contribution to a roll-up: its progress (None = no data yet) and weight."""

    progress: float | None
    weight: float = 1.0


def roll_up(children: Sequence[Weighted], *, clamp: bool = True) -> float | None:
    """Weighted mean of the children's progress (children without data count as 0).

    With ``clamp`` (the default) each child is first clamped to [0, 1], so one over-achieved key result cannot
    hide another that failed. ``None`` when there are no children or all weights are zero.
    """
    total_w = sum(max(0.0, c.weight) for c in children)
    if not children or total_w <= 0:
        return None
    acc = 0.0
    for c in children:
        p = 0.0 if c.progress is None else c.progress
        if clamp:
            p = display_progress(p)
        acc += max(0.0, c.weight) * p
    return acc / total_w


def grade(progress_value: float | None) -> float:
    """Period-end grade 0.0–1.0, rounded to one decimal as in the classic OKR grading scale."""
    return round(display_progress(progress_value), 1)


def grade_band(g: float) -> GradeBand:
    """Green ≥ 0.7, yellow 0.4–0.69, red < 0.4."""
    if g >= 0.7:
        return GradeBand.GREEN
    if g >= 0.4:
        return GradeBand.YELLOW
    return GradeBand.RED


@dataclass(frozen=True)
class GradeVerdict:
    grade: float
    band: GradeBand
    expected: float  # what counts as success for this kind of objective
    success: bool


def grade_verdict(progress_value: float | None, commitment: Commitment) -> GradeVerdict:
    """A committed objective expects 1.0; an aspirational one treats ~0.7 as success. Both are shown."""
    g = grade(progress_value)
    expected = 1.0 if commitment is Commitment.COMMITTED else 0.7
    return GradeVerdict(g, grade_band(g), expected, g >= expected)


def kr_count_warning(count: int) -> str | None:
    """Fewer than 3 or more than 5 key results is a warning, not an error."""
    if count < 3:
        return f"this objective has {count} key result{'s' if count != 1 else ''}; 3 to 5 make it measurable"
    if count > 5:
        return f"this objective has {count} key results; more than 5 dilute focus"
    return None


def elapsed_fraction(start: datetime, end: datetime, now: datetime) -> float:
    """Share of the period gone at ``now``, in [0, 1]."""
    total = (end - start).total_seconds()
    if total <= 0:
        return 1.0
    return min(1.0, max(0.0, (now - start).total_seconds() / total))


def find_cycle(edges: dict[int, int | None], start: int) -> list[int] | None:
    """Follow ``child -> parent`` links from ``start``; the list of nodes if they loop back, else None."""
    path: list[int] = []
    seen: set[int] = set()
    node: int | None = start
    while node is not None:
        if node in seen:
            return [*path[path.index(node) :], node]
        seen.add(node)
        path.append(node)
        node = edges.get(node)
    return None
