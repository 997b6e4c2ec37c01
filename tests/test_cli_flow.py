"""The CLI for flow and delivery: `flow report`, `flow publish`, `dora report`, `forecast`, and `sync` publishing.

Numbers are compared with what the services return for the same options (the CLI only formats them); the demo
workspace (built once, on SQLite, at a pinned "now") gives realistic shapes. One test runs on both engines.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from okrflow import cli, cli_flow
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import dora, flow, sync
from okrflow.store.db import ENV_DATABASE_URL, Database
from okrflow.store.models import Team
from okrflow.store.models_okr import Metric

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)
SINCE, UNTIL = date(2026, 8, 25), date(2026, 11, 22)
PASSWORD = "demo-password-1"


@pytest.fixture(scope="module")
def demo_url(demo_copy):
    return demo_copy("sqlite", password=PASSWORD, now=NOW)  # as demo.build(db, password=PASSWORD, now=NOW) leaves it


@pytest.fixture
def run(monkeypatch):
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    monkeypatch.setattr(cli_flow, "_now", lambda: NOW)
    runner = CliRunner()

    def invoke(url: str, *args: object):
        return runner.invoke(cli.app, ["--database-url", url, *[str(a) for a in args]])

    return invoke


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def one_line_error(result, code: int, message: str) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def service(url: str, fn, *args, **kwargs):
    db = Database(url)
    try:
        with db.read() as s:
            return fn(s, SYSTEM_ACTOR, 1, *args, **kwargs)
    finally:
        db.dispose()


def team_id(url: str, slug: str) -> int:
    db = Database(url)
    try:
        with db.read() as s:
            return int(s.scalar(select(Team.id).where(Team.slug == slug)))
    finally:
        db.dispose()


def row(text: str, first_cell: str) -> str:
    """The table row whose first cell starts with ``first_cell``."""
    for line in text.splitlines():
        if re.match(rf"[│┃]\s*{re.escape(first_cell)}", line):
            return line
    raise AssertionError(f"no row {first_cell!r} in:\n{text}")


def pct(value: float | None) -> str:
    return f"{value * 100:.1f}%"


# ------------------------------------------------------------------ flow report


def test_flow_report_shows_the_five_metrics_trends_aging_and_the_bottleneck(run, demo_url):
    result = ok(run(demo_url, "flow", "report", "--since", SINCE, "--until", UNTIL))
    text = result.stdout
    window = dict(since=SINCE, until=UNTIL, now=NOW)
    r = service(demo_url, flow.report, **window)
    ag = service(demo_url, flow.aging, **window)
    vsm = service(demo_url, flow.value_stream, **window).map

    assert "Flow · Northwind Commerce · 2026-08-25 → 2026-11-22 (90 days, UTC)" in text
    assert f"scope: all teams · all sources · all types · story level · {r.context.items:,} items in scope" in text
    ft = r.flow_time
    assert f"{r.velocity} items done · {r.velocity_per_week:.1f} items/week" in row(text, "Flow velocity")
    assert (
        f"p50 {ft.p50_days:.1f} days · p85 {ft.p85_days:.1f} days · p95 {ft.p95_days:.1f} days · "
        f"mean {ft.mean_days:.1f} days"
    ) in row(text, "Flow time")  # one line even when piped
    assert pct(r.efficiency) in row(text, "Flow efficiency")
    assert f"{r.load_now} items in progress now · mean {r.load_mean:.1f} items" in row(text, "Flow load")
    assert "done: feature" in row(text, "Flow distribution")
    assert f"{pct(r.predictability)} ({r.delivered} of {r.committed} committed items delivered)" in text
    assert "SAFe" in row(text, "Flow predictability")

    # The weekly trend: one row per ISO week with its numbers, and sparklines.
    for w in r.weekly.to_dicts():
        line = row(text, w["week_start"].isoformat())
        assert f"{w['items_done']} items" in line and f"{w['flow_time_p85_days']:.1f} days" in line
        assert pct(w["efficiency"]) in line and f"{w['load_mean']:.1f} items" in line
    assert re.search(r"trend\s+│\s+│ [▁▂▃▄▅▆▇█]{13} │", text)

    # Distribution as bars.
    done = r.distribution.filter(scope="done", flow_type="feature").row(0, named=True)
    assert re.search(rf"feature\s+│ {done['items']} items\s+│ {re.escape(pct(done['share']))}\s+│ █+░*", text)

    # Aging work: the > 90 days line is the waste signal.
    assert ag.waste >= 10
    assert re.search(rf">90 days  ⚠ waste │ {ag.waste} items", text)
    assert f"⚠ {ag.waste} items in progress for more than 90 days" in text

    # The value-stream map names the bottleneck: testing.
    assert vsm.bottleneck == "testing"
    testing = vsm.steps.filter(step="testing").row(0, named=True)
    line = row(text, "testing  ◀ bottleneck")
    assert f"{testing['items_now']} items" in line and f"{testing['median_days']:.1f} days" in line
    assert f"{testing['p85_days']:.1f} days" in line and "▮" in line and "▯" in line
    assert f"bottleneck: testing — {pct(testing['waiting_share'])} of all waiting time" in text
    development = vsm.steps.filter(step="development").row(0, named=True)
    assert f"{development['rework_in']} moves back in" in row(text, "development")


def test_flow_report_filters_and_periods(run, demo_url):
    text = ok(run(demo_url, "flow", "report", "--team", "payments", "--type", "defect", "--period", "2026-Q4")).stdout
    r = service(
        demo_url, flow.report, teams=[team_id(demo_url, "payments")], flow_types=["defect"],
        since=date(2026, 10, 1), until=NOW.date(), now=NOW,
    )  # fmt: skip
    assert "2026-10-01 → 2026-11-22 (53 days, UTC) · period 2026-Q4" in text
    assert "scope: teams payments · all sources · types defect · story level" in text
    assert f"{r.velocity} items done · {r.velocity_per_week:.1f} items/week" in text

    berlin = ok(run(demo_url, "flow", "report", "--since", SINCE, "--until", UNTIL, "--tz", "Europe/Berlin")).stdout
    rb = service(demo_url, flow.report, since=SINCE, until=UNTIL, now=NOW, tz="Europe/Berlin")
    assert "(90 days, Europe/Berlin)" in berlin
    assert f"{rb.velocity} items done" in berlin

    source = ok(run(demo_url, "flow", "report", "--source", "jira-checkout")).stdout
    assert "sources jira-checkout" in source


def test_flow_report_errors_are_one_line(run, demo_url):
    one_line_error(run(demo_url, "flow", "report", "--team", "nope"), 5, "team 'nope' does not exist")
    one_line_error(run(demo_url, "flow", "report", "--since", "yesterday"), 2, "--since: 'yesterday' is not a date")
    one_line_error(run(demo_url, "flow", "report", "--since", "2026-09-01", "--until", "2026-08-01"), 2, "before")
    one_line_error(run(demo_url, "flow", "report", "--period", "2026-Q4", "--since", "2026-09-01"), 2, "not both")
    one_line_error(run(demo_url, "flow", "report", "--period", "1999-Q9"), 5, "period '1999-Q9' does not exist")
    one_line_error(run(demo_url, "flow", "report", "--type", "epic"), 2, "flow type is one of")
    one_line_error(run(demo_url, "flow", "report", "--tz", "Mars/Olympus"), 2, "unknown time zone")
    one_line_error(run(demo_url, "flow", "report", "--source", "nope"), 5, "no source named 'nope'")


# ------------------------------------------------------------------ dora report


def test_dora_report_levels_per_service_and_weekly_deployment_days(run, demo_url):
    text = ok(run(demo_url, "dora", "report", "--since", SINCE, "--until", UNTIL)).stdout
    r = service(demo_url, dora.report, since=SINCE, until=UNTIL, now=NOW)
    assert "DORA · Northwind Commerce · 2026-08-25 → 2026-11-22 (90 days, UTC)" in text
    levels = {}
    for svc in r.services.to_dicts():
        line = row(text, svc["service"])
        shown = re.findall(r"│\s+(elite|high|medium|low)\s+│", line)
        expected = [svc[f"{m}_level"] for m in dora.METRICS]
        assert shown == expected, line
        levels[svc["service"]] = tuple(expected)
        assert f"{svc['median_days_per_week']:.1f} deployment days/week (median)" in line
        assert f"{svc['deployments']} deployments" in line
        assert f"{pct(svc['change_failure_rate'])} ({svc['failed_deployments']} of {svc['deployments']} failed)" in line
    assert len(set(levels.values())) > 1  # services perform at different levels
    assert levels["checkout"][1] == "elite" and levels["backoffice"][0] == "low"

    trend_part = text[text.index("Deployment days per week") :]
    weekly = r.weekly.filter(service="checkout").sort("week_start")
    days = " │ ".join(f"{d:<5}" for d in weekly["deployment_days"].to_list())
    assert re.search(rf"checkout\s+│ [▁▂▃▄▅▆▇█]+\s+│ {re.escape(days)}", trend_part)


def test_dora_report_filters_and_errors(run, demo_url):
    text = ok(run(demo_url, "dora", "report", "--service", "checkout", "--period", "2026-Q4")).stdout
    assert "2026-10-01 → 2026-11-22 (53 days, UTC) · period 2026-Q4" in text
    assert row(text, "checkout") and "payments" not in text.split("DORA metrics per service")[1]
    one_line_error(run(demo_url, "dora", "report", "--service", "nope"), 5, "service 'nope' has no deployments")
    one_line_error(run(demo_url, "dora", "report", "--team", "nope"), 5, "team 'nope' does not exist")
    one_line_error(run(demo_url, "dora", "report", "--until", "2026-13-01"), 2, "--until: '2026-13-01' is not a date")


# ------------------------------------------------------------------ forecast


def test_forecast_when_is_reproducible_with_a_seed(run, demo_url):
    first = ok(run(demo_url, "forecast", "--items", 30, "--seed", 7)).stdout
    again = ok(run(demo_url, "forecast", "--items", 30, "--seed", 7)).stdout
    assert first == again
    fc = service(demo_url, flow.forecast_when, 30, seed=7, now=NOW)
    for p in (50, 85, 95):
        day = fc.forecast.dates[p]
        assert re.search(rf"{p}%\s+│ {day.isoformat()} \({day:%a}\) · {fc.forecast.answers[p]} days", first)
    assert f"{fc.history_items} items done · {fc.mean_per_day:.2f} items/day" in first
    assert "10,000 trials · seed 7" in first and "Histogram of 10,000 trials" in first
    assert "◀ p85" in first and "done within" in first


def test_forecast_how_many_says_the_85_answer_is_the_15th_percentile(run, demo_url):
    text = ok(run(demo_url, "forecast", "--by", "2026-12-31", "--seed", 3, "--team", "payments")).stdout
    fc = service(
        demo_url, flow.forecast_how_many, date(2026, 12, 31), teams=[team_id(demo_url, "payments")], seed=3, now=NOW
    )
    for p in (50, 85, 95):
        assert re.search(rf"{p}%\s+│ {fc.forecast.answers[p]} items", text)
    assert "(the 15th percentile)" in row(text, "85%")
    assert "the 85% answer is the 15th percentile" in text
    assert "reach at least" in text and "teams payments" in text


def test_forecast_errors_are_one_line(run, demo_url):
    one_line_error(run(demo_url, "forecast"), 2, "give --items N")
    one_line_error(run(demo_url, "forecast", "--items", 3, "--by", "2026-12-31"), 2, "give --items N")
    one_line_error(run(demo_url, "forecast", "--by", "soon"), 2, "--by: 'soon' is not a date")
    one_line_error(run(demo_url, "forecast", "--by", "2020-01-01"), 2, "in the past")
    one_line_error(run(demo_url, "forecast", "--items", 5, "--team", "nope"), 5, "team 'nope' does not exist")


# ------------------------------------------------------------------ publish, on both engines


@pytest.mark.demo(password=PASSWORD, now=NOW)  # the demo publishes once, as of NOW
def test_flow_publish_and_reports_on_both_engines(run, db, db_url):
    url = db_url
    again = ok(run(url, "flow", "publish")).stdout
    assert "Published flow and DORA metrics for 2026-08-24 … 2026-11-21: defined 0, revised 0; values: 0 created" in (
        again
    )
    assert re.search(r"values: 0 created, 0 updated, [1-9][\d,]* unchanged in \d+ series", again)
    assert re.search(r"^  flow\.time\.p85  5 series$", again, re.M)  # the workspace and its four teams
    assert re.search(r"^  dora\.lead_time  \d+ series$", again, re.M)
    later = ok(run(url, "flow", "publish", "--days", 1, "--no-dora")).stdout
    assert "Published flow metrics for 2026-11-21 … 2026-11-21" in later and "dora." not in later
    report = ok(run(url, "flow", "report")).stdout
    assert "testing  ◀ bottleneck" in report
    text = ok(run(url, "dora", "report")).stdout
    assert re.search(r"checkout\s+│.*│\s+elite\s+│", text)


def test_sync_publishes_the_catalog_metrics_unless_told_not_to(run, db_url, monkeypatch):
    init = [
        "init", "--admin-username", "admin", "--admin-password", "correct-horse-battery", "--workspace-slug", "acme",
        "--workspace-name", "Acme", "--no-input",
    ]  # fmt: skip
    ok(run(db_url, *init))
    ok(run(db_url, "source", "add", "pay", "--kind", "jira", "--url", "https://acme.atlassian.net"))

    def fake_run(db, actor, source_id, **_):
        return sync.SyncSummary("pay", "jira", [], 0, 1, [], 0.1)

    monkeypatch.setattr(sync, "_run", fake_run)  # the connector part; publishing is sync.run's own
    skipped = ok(run(db_url, "sync", "pay", "--no-publish")).stdout
    assert "Synced jira source pay" in skipped and "Published" not in skipped
    database = Database(db_url)
    try:
        with database.read() as s:
            assert s.scalar(select(func.count()).select_from(Metric)) == 0
        synced = ok(run(db_url, "sync", "pay")).stdout
        assert "Published flow and DORA metrics" in synced
        with database.read() as s:
            assert s.scalar(select(func.count()).select_from(Metric)) > 0
    finally:
        database.dispose()
