"""Turn the OKR services' computed states into response bodies (no rules here: only shapes and ``None`` for
non-finite numbers)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.api import schemas_okr as S
from okrflow.domain.okr import ConfidenceThresholds, Direction, confidence_status, value_for_progress
from okrflow.metrics.okr_forecast import KrForecast, ScheduleGap
from okrflow.services import catalog, okr
from okrflow.store.models_okr import CheckIn, KeyResult, Metric, MetricVersion, Objective, Period


def progress(raw: float | None) -> S.ProgressRead:
    raw = S.finite(raw)
    return S.ProgressRead(raw=raw, display=min(1.0, max(0.0, raw or 0.0)))


def forecast(fc: KrForecast) -> S.ForecastRead:
    f = S.finite
    return S.ForecastRead(
        method=fc.method,  # type: ignore[arg-type]
        value_at_end=f(fc.value_at_end),
        progress_at_end=f(fc.progress_at_end),
        low=f(fc.low),
        high=f(fc.high),
        level=fc.level,
        probability_on_target=f(fc.probability_on_target),
        at_risk=fc.at_risk,
        slope_per_day=f(fc.slope_per_day),
        points=fc.points,
    )


def schedule(sg: ScheduleGap) -> S.ScheduleRead:
    return S.ScheduleRead(
        expected_progress=sg.expected_progress, actual_progress=S.finite(sg.actual_progress), gap=S.finite(sg.gap)
    )


def checkin_brief(c: CheckIn) -> S.CheckinBrief:
    return S.CheckinBrief(id=c.id, at=c.at, value=c.value, confidence=c.confidence, note=c.note, author=c.author)


def checkin(c: CheckIn, thresholds: ConfidenceThresholds) -> S.CheckinRead:
    read = S.CheckinRead.model_validate(c)
    read.status = confidence_status(c.confidence, thresholds).value
    return read


def kr_state(session: Session, st: okr.KrState, child_ids: Sequence[int]) -> S.KeyResultState:
    last = None
    if st.last_checkin_at is not None:
        last = session.scalar(
            select(CheckIn).where(CheckIn.key_result_id == st.kr.id).order_by(CheckIn.at.desc()).limit(1)
        )
    return S.KeyResultState(
        current_value=st.current_value,
        current_at=st.current_at,
        progress=progress(st.progress),
        status=st.status.value if st.status else None,
        confidence=st.confidence,
        last_checkin=checkin_brief(last) if last else None,
        last_checkin_at=st.last_checkin_at,
        days_since_checkin=st.days_since_checkin,
        forecast=forecast(st.forecast),
        schedule=schedule(st.schedule),
        history=[S.HistoryPoint(at=t, value=v) for t, v in st.history],
        metric_key=st.metric_key,
        aligned_objective_ids=list(child_ids),
    )


def objective_state(st: okr.ObjectiveState) -> S.ObjectiveState:
    o = st.objective
    return S.ObjectiveState(
        progress=progress(st.progress),
        grade=S.GradeRead(
            grade=st.grade.grade, band=st.grade.band.value, expected=st.grade.expected, success=st.grade.success
        ),
        warning=st.warning,
        team=S.Ref(id=o.team_id, name=st.team_name or "") if o.team_id else None,
        owner=S.Ref(id=o.owner_person_id, name=st.owner_name or "") if o.owner_person_id else None,
        period=S.Ref(id=st.period.id, name=st.period.name),
        at_risk_key_results=len(st.at_risk_krs),
    )


def kr_detail(session: Session, st: okr.KrState, child_ids: Sequence[int]) -> S.KeyResultDetail:
    base = S.KeyResultRead.model_validate(st.kr).model_dump()
    return S.KeyResultDetail(**base, state=kr_state(session, st, child_ids))


def objective_detail(
    session: Session, st: okr.ObjectiveState, ancestors: list[tuple[KeyResult, Objective]]
) -> S.ObjectiveDetail:
    base = S.ObjectiveRead.model_validate(st.objective).model_dump()
    return S.ObjectiveDetail(
        **base,
        state=objective_state(st),
        key_results=[
            kr_detail(session, k, [c.objective.id for c in st.children.get(k.kr.id, [])]) for k in st.key_results
        ],
        ancestors=[
            S.AncestorRead(
                key_result_id=kr.id, key_result_title=kr.title, objective_id=obj.id, objective_title=obj.title
            )
            for kr, obj in ancestors
        ],
    )


def tree_node(session: Session, st: okr.ObjectiveState) -> S.TreeObjective:
    base = S.ObjectiveRead.model_validate(st.objective).model_dump()
    krs = []
    for k in st.key_results:
        kids = st.children.get(k.kr.id, [])
        detail = kr_detail(session, k, [c.objective.id for c in kids]).model_dump()
        krs.append(S.TreeKeyResult(**detail, aligned_objectives=[tree_node(session, c) for c in kids]))
    return S.TreeObjective(**base, state=objective_state(st), key_results=krs)


def chart(session: Session, st: okr.KrState, period: Period, now: datetime) -> S.ChartRead:
    """The burn-up chart of a key result: measured points, target, linear expected line, forecast cone."""
    kr, target = st.kr, st.target
    start, end = okr.period_bounds(period)
    f = S.finite
    series: list[S.ChartSeries] = [
        S.ChartSeries(
            key="actual",
            label="Metric values" if kr.metric_id is not None else "Check-ins",
            kind="points",
            points=[S.ChartPoint(t=t, y=f(v)) for t, v in st.history],
        )
    ]
    if target.direction is Direction.BAND:
        for key, label, y in (("band_low", "Band low", target.band_low), ("band_high", "Band high", target.band_high)):
            series.append(
                S.ChartSeries(
                    key=key,  # type: ignore[arg-type]
                    label=label,
                    kind="line",
                    points=[S.ChartPoint(t=start, y=y), S.ChartPoint(t=end, y=y)],
                )
            )
    else:
        goal = float(target.milestone_count) if target.direction is Direction.MILESTONE else target.target
        series.append(
            S.ChartSeries(
                key="target",
                label="Target",
                kind="line",
                points=[S.ChartPoint(t=start, y=goal), S.ChartPoint(t=end, y=goal)],
            )
        )
    series.append(
        S.ChartSeries(
            key="expected",
            label="Expected (linear schedule)",
            kind="line",
            points=[
                S.ChartPoint(t=start, y=f(value_for_progress(target, 0.0))),
                S.ChartPoint(t=end, y=f(value_for_progress(target, 1.0))),
            ],
        )
    )
    fc = st.forecast
    in_period = [(t, v) for t, v in st.history if start <= t < end]
    if in_period:
        t0, y0 = in_period[-1]
    else:
        t0, y0 = max(start, min(now, end)), value_for_progress(target, 0.0)
    series.append(
        S.ChartSeries(
            key="forecast",
            label="Forecast (trend)" if fc.method == "trend" else "Forecast (expected pace)",
            kind="cone",
            points=[
                S.ChartPoint(t=t0, y=f(y0), low=f(y0), high=f(y0)),
                S.ChartPoint(
                    t=end,
                    y=f(fc.value_at_end),
                    low=f(fc.low if fc.low is not None else fc.value_at_end),
                    high=f(fc.high if fc.high is not None else fc.value_at_end),
                ),
            ],
        )
    )
    checkins = session.scalars(select(CheckIn).where(CheckIn.key_result_id == kr.id).order_by(CheckIn.at))
    return S.ChartRead(
        key_result_id=kr.id,
        title=kr.title,
        unit=kr.unit,
        direction=kr.direction,
        period=S.Ref(id=period.id, name=period.name),
        start=start,
        end=end,
        now=now,
        series=series,
        checkins=[checkin_brief(c) for c in checkins],
        forecast=forecast(fc),
        schedule=schedule(st.schedule),
    )


def metric(session: Session, m: Metric, now: datetime, north_star_id: int | None) -> S.MetricRead:
    st = catalog.status(session, m, now)
    base = {f: getattr(m, f) for f in ("id", "workspace_id", "key", "current_version", "archived", "version")}
    return S.MetricRead(
        **base,
        created_at=m.created_at,
        updated_at=m.updated_at,
        is_north_star=m.id == north_star_id,
        definition=S.MetricVersionRead.model_validate(st.version),
        status=S.MetricStatusRead(
            latest_value=st.latest_value,
            latest_at=st.latest_at,
            threshold=st.threshold,  # type: ignore[arg-type]
            freshness=st.freshness,  # type: ignore[arg-type]
        ),
    )


def version(v: MetricVersion) -> S.MetricVersionRead:
    return S.MetricVersionRead.model_validate(v)
