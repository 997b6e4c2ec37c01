"""The OKR and KPI-catalog commands of the CLI (CliRunner), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from okrflow import cli
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import audit, tenancy
from okrflow.store.db import ENV_DATABASE_URL
from okrflow.store.models_okr import KeyResult, MetricValue, MetricVersion
from tests.conftest import ADMIN_PASSWORD


@pytest.fixture
def run(monkeypatch, db_url):
    """``run(*args)``: the okrflow command on this test's database."""
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    runner = CliRunner()

    def invoke(*args: object):
        return runner.invoke(cli.app, ["--database-url", db_url, *(str(a) for a in args)])

    return invoke


@pytest.fixture
def acme(db):
    """An empty workspace ``acme`` (no accounts, so no password hashing)."""
    with db.write() as s:
        ws = tenancy.create_workspace(s, SYSTEM_ACTOR, "acme", "Acme")
        tenancy.create_team(s, SYSTEM_ACTOR, ws.id, "payments", "Payments")
        tenancy.create_person(s, SYSTEM_ACTOR, ws.id, "Ada Lovelace", "ada@example.com", "PM", None)
        return ws.id


def ok(result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def one_line_error(result, code: int, text: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and text in last, result.stderr
    assert "Traceback" not in result.output


def line_of(text: str, needle: str) -> tuple[int, int]:
    """(line number, indentation) of the first line containing ``needle``."""
    for i, line in enumerate(text.splitlines()):
        if needle in line:
            return i, line.index(needle)
    raise AssertionError(f"{needle!r} not in:\n{text}")


@pytest.mark.demo(password=ADMIN_PASSWORD)  # db holds what demo.build(db, password=…) leaves
def test_tree_show_checkin_and_due_on_the_demo(db, run):
    year = datetime.now(UTC).year

    tree = ok(run("okr", "tree"))
    assert "Northwind Commerce OKRs · all periods" in tree
    assert "north star: Weekly active buyers" in tree
    company, company_indent = line_of(tree, "Become the easiest place to buy online")
    kr_conv, kr_indent = line_of(tree, "Lift checkout conversion from 2.8 % to 3.4 %")
    payments, payments_indent = line_of(tree, "Make paying effortless")
    # The team objective hangs under the company key result it serves.
    assert company < kr_conv < payments and company_indent < kr_indent < payments_indent
    assert "Payments · owner Priya Raman" in tree and "committed" in tree and "aspirational" in tree
    assert "grade 0." in tree and "forecast" in tree and "%" in tree
    assert "▲ at risk" in tree and "on track" in tree and "off track" in tree
    assert "of 3 milestones" in tree  # the milestone KR

    team_tree = ok(run("okr", "tree", "--period", f"{year}-Q4", "--team", "payments"))
    assert "Make paying effortless" in team_tree and "Become the easiest place" not in team_tree
    one_line_error(run("okr", "tree", "--period", "1999-Q9"), 5, "period '1999-Q9' does not exist")

    with db.read() as s:
        band_kr = s.scalar(select(KeyResult.id).where(KeyResult.direction == "band"))
        missing_kr = s.scalar(select(KeyResult.id).where(KeyResult.title.like("Raise search click-through%")))
    before = ok(run("okr", "show", band_kr))
    assert "stay within 0.1 % – 0.5 %" in before and "check-ins" in before and "forecast" in before
    assert "schedule    expected" in before and "history" in before

    checked = ok(run("checkin", band_kr, "--value", "0.3", "--confidence", "2", "--note", "rollback failed"))
    assert "status    off track (confidence 2)" in checked and "100%" in checked
    after = ok(run("okr", "show", band_kr))
    assert "current     0.3 %" in after and "100%" in after and "off track (confidence 2" in after
    assert "rollback failed" in after

    due = ok(run("okr", "due"))
    assert "Raise search click-through" in due and f"{missing_kr}" in due
    assert "Keep payment API errors" not in due  # just checked in
    one_line_error(run("okr", "show", 9999), 5, "key result 9999 does not exist")


def test_authoring_periods_objectives_key_results_and_north_star(db, run, acme):
    created = ok(run("okr", "period", "create-year", "2026"))
    assert "2026-Q1" in created and "2026-10-01 – 2026-12-31" in created
    assert "(exists)" in ok(run("okr", "period", "create-year", "2026"))
    assert "2026-Q3" in ok(run("okr", "period", "list"))

    company = ok(
        run("okr", "objective", "add", "--period", "2026", "--title", "Grow revenue", "--owner", "ada@example.com")
    )
    assert "Created objective #1 Grow revenue (committed, 2026)" in company
    added = run(
        "okr", "kr", "add", 1, "--title", "Revenue", "--direction", "increase", "--baseline", 10, "--target", 20
    )
    assert "increase from 10 to 20" in ok(added) and "1 key result; 3 to 5" in added.stderr
    ok(
        run(
            "okr",
            "kr",
            "add",
            1,
            "--title",
            "Cost",
            "--direction",
            "decrease",
            "--baseline",
            5,
            "--target",
            3,
            "--unit",
            "€",
        )
    )
    team = run(
        "okr", "objective", "add", "--period", "2026-Q4", "--title", "Faster payments", "--team", "payments",
        "--aspirational", "--align-to", 1,
    )  # fmt: skip
    assert "aspirational, 2026-Q4), aligned to KR 1" in ok(team)
    ok(
        run(
            "okr",
            "kr",
            "add",
            2,
            "--title",
            "Wallets",
            "--direction",
            "milestone",
            "--milestone",
            "Beta",
            "--milestone",
            "GA",
        )
    )
    ok(
        run(
            "okr",
            "kr",
            "add",
            2,
            "--title",
            "Errors",
            "--direction",
            "band",
            "--baseline",
            2,
            "--low",
            0,
            "--high",
            0.5,
        )
    )

    assert "off track" in ok(run("checkin", 3, "--value", 1, "--confidence", 3))
    assert "on track" in ok(run("checkin", 1, "--value", 25, "--confidence", 9, "--note", "great quarter"))
    tree = ok(run("okr", "tree"))
    kr_line, kr_indent = line_of(tree, "KR 1 Revenue")
    team_line, team_indent = line_of(tree, "#2 Faster payments")
    assert kr_line < team_line and kr_indent < team_indent
    assert "150%" in tree  # raw over-achievement shown, the bar is clamped
    assert "1 of 2 milestones" in tree
    assert "⚠ this objective has 2 key results" in tree

    # Errors: one line, the exit code of their kind.
    one_line_error(run("okr", "kr", "add", 1, "--title", "x", "--direction", "increase"), 2, "--target is needed")
    one_line_error(run("okr", "kr", "add", 1, "--title", "x", "--direction", "sideways", "--target", 1), 2, "direction")
    one_line_error(
        run("okr", "objective", "add", "--period", "2031", "--title", "x"), 5, "period '2031' does not exist"
    )
    one_line_error(
        run("okr", "objective", "add", "--period", "2026", "--title", "x", "--team", "nope"), 5, "team 'nope'"
    )
    cycle = run("okr", "objective", "add", "--period", "2026-Q1", "--title", "x", "--align-to", 3)
    one_line_error(cycle, 2, "same period or to one that contains it")
    one_line_error(run("checkin", 1, "--confidence", 5), 2, "needs the key result's current value")
    one_line_error(run("okr", "north-star", "nope"), 5, "no metric with key 'nope'")

    ok(run("metrics", "define", "revenue", "--name", "Revenue", "--unit", "M€"))
    assert "North star of acme: Revenue (revenue)" in ok(run("okr", "north-star", "revenue"))
    assert "revenue ★" in ok(run("metrics", "list"))

    with db.write() as s:
        tenancy.create_workspace(s, SYSTEM_ACTOR, "other", "Other")
    one_line_error(run("okr", "tree"), 2, "choose one with --workspace")
    assert "Grow revenue" in ok(run("okr", "tree", "--workspace", "acme"))
    assert "No check-ins due" in ok(run("okr", "due", "--workspace", "other"))


def test_metric_bound_key_result_checks_in_without_a_value(db, run, acme, tmp_path):
    ok(run("okr", "period", "create-year", "2026"))
    ok(run("okr", "objective", "add", "--period", "2026", "--title", "Fast APIs"))
    ok(
        run(
            "metrics",
            "define",
            "p95",
            "--name",
            "p95 latency",
            "--unit",
            "ms",
            "--direction",
            "decrease",
            "--dimension",
            "team",
        )
    )
    bound = ok(run(
        "okr", "kr", "add", 1, "--title", "p95 below 300 ms", "--direction", "decrease", "--baseline", 800,
        "--target", 300, "--unit", "ms", "--metric", "p95", "--dim", "team=payments",
    ))  # fmt: skip
    assert "Created KR 1" in bound
    today = datetime.now(UTC).date()
    csv = "".join(f"p95,{today - timedelta(days=d)},{550 + d},payments\n" for d in range(3))
    path = tmp_path / "p95.csv"
    path.write_text("metric,timestamp,value,dim.team\n" + csv)
    ok(run("metrics", "import", path))
    checked = ok(run("checkin", 1, "--confidence", 8, "--note", "trend holds"))
    assert "550 ms (from metric p95)" in checked and "50%" in checked
    one_line_error(run("checkin", 1, "--value", 500, "--confidence", 8), 2, "bound to a metric")
    one_line_error(
        run("okr", "kr", "add", 1, "--title", "x", "--direction", "increase", "--target", 1, "--dim", "a=b"),
        2,
        "--dim needs --metric",
    )
    shown = ok(run("okr", "show", 1))
    assert "value from metric p95 (team=payments)" in shown and "(metric)" in shown


def test_metrics_define_revise_versions_and_diff(db, run, acme):
    defined = run(
        "metrics", "define", "conversion", "--name", "Checkout conversion", "--unit", "%", "--indicator", "leading",
        "--aggregation", "ratio", "--numerator", "orders", "--denominator", "sessions", "--dimension", "team",
        "--green", 3.2, "--red", 2.8, "--warn-after", 26, "--error-after", 50, "--owner", "ada@example.com",
        "--definition", "Orders per basket session",
    )  # fmt: skip
    assert "Defined metric conversion" in ok(defined) and "version 1" in defined.stdout
    one_line_error(run("metrics", "define", "conversion", "--name", "Again"), 6, "exists already")
    one_line_error(run("metrics", "define", "Bad Key", "--name", "x"), 2, "not a valid metric key")
    one_line_error(run("metrics", "define", "t", "--name", "T", "--green", 1), 2, "pairs")
    one_line_error(run("metrics", "define", "t", "--name", "T", "--green", 1, "--red", 0, "--low", 1), 2, "not both")
    one_line_error(run("metrics", "revise", "conversion", "--calculation", "x"), 2, "reason")
    one_line_error(run("metrics", "revise", "conversion", "--reason", "why"), 2, "say what changes")

    revised = run(
        "metrics", "revise", "conversion", "--reason", "exclude bot sessions",
        "--calculation", "orders / human sessions", "--green", 3.4,
    )  # fmt: skip
    assert "version 2 (calculation, thresholds)" in ok(revised)
    one_line_error(run("metrics", "revise", "conversion", "--reason", "again", "--green", 3.4), 2, "nothing changes")

    versions = ok(run("metrics", "versions", "conversion"))
    assert "v1 " in versions and "v2 (current)" in versions
    assert "first definition" in versions and "exclude bot sessions" in versions and "cli:" in versions
    diff = ok(run("metrics", "versions", "conversion", "--diff", 1, 2))
    field_line = next(line for line in diff.splitlines() if "thresholds" in line and "green 3.2" in line)
    assert "green 3.4, red 2.8" in field_line
    assert "orders / human sessions" in diff and "unit" not in diff.split("v1 → v2")[1]
    one_line_error(run("metrics", "versions", "conversion", "--diff", 1, 7), 5, "has no version 7")
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(MetricVersion)) == 2

    listed = ok(run("metrics", "list"))
    row = next(line for line in listed.splitlines() if "conversion" in line)
    assert "Checkout conversion" in row and "v2" in row and "no_data" in row and "Ada Lovelace" in row


def test_metrics_import_is_all_or_nothing_then_idempotent(db, run, acme, tmp_path):
    ok(run("metrics", "define", "nps", "--name", "NPS", "--dimension", "team", "--green", 40, "--red", 20))
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "metric,timestamp,value,dim.team\n"
        "nps,2026-10-01,31,payments\n"  # line 2: good
        "nps,yesterday,32,payments\n"  # line 3: bad timestamp
        "nps,2026-10-03,abc,payments\n"  # line 4: bad value
        "unknown,2026-10-04,1,\n"  # line 5: unknown metric
        "nps,2026-10-05,1,payments,extra\n"  # line 6: too many fields
        "nps,2026-10-01,35,payments\n"  # line 7: same point as line 2
    )
    with db.read() as s:
        audit_before = audit.count(s)
    result = run("metrics", "import", bad)
    one_line_error(result, 2, "5 bad lines; nothing was imported")
    reported = result.stderr.strip().splitlines()[:-1]
    assert [line.split(": ")[1] for line in reported] == [f"line {n}" for n in (3, 4, 5, 6, 7)]
    assert "line 7: the same metric, timestamp and dimensions as line 2" in result.stderr
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(MetricValue)) == 0
        assert audit.count(s) == audit_before

    good = tmp_path / "good.csv"
    good.write_text(
        "\ufeffmetric,timestamp,value,dim.team,source\n"  # a spreadsheet's byte-order mark is fine
        "nps,2026-10-01,31,payments,survey\n"
        "nps,2026-10-02T12:00:00Z,33,payments,\n"
        "nps,2026-10-03,45,,\n"
    )
    first = ok(run("metrics", "import", good))
    assert "3 created, 0 updated, 0 unchanged" in first and "import run" in first
    with db.read() as s:
        audit_after_first = audit.count(s)
        sources = sorted(s.scalars(select(MetricValue.source)))
    assert sources == ["csv", "csv", "survey"]
    second = ok(run("metrics", "import", good))
    assert "0 created, 0 updated, 3 unchanged" in second
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(MetricValue)) == 3
        assert audit.count(s) == audit_after_first  # nothing written, not even an audit entry
    listed = ok(run("metrics", "list"))
    assert "45" in listed and "green" in listed
    one_line_error(run("metrics", "import", tmp_path / "missing.csv"), 2, "cannot read")


def test_formatting_helpers():
    assert cli.sparkline([]) == ""
    assert cli.sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert cli.sparkline([5, 5, 5]) == "▄▄▄"
    long = cli.sparkline(list(range(100)), width=10)
    assert len(long) == 10 and long[-1] == "█"
    assert [cli._num(v) for v in (None, 136000.0, 98.3456, 0.0012, -3.0, 1234.5)] == [
        "-",
        "136,000",
        "98.35",
        "0.0012",
        "-3",
        "1,234",
    ]
    now = datetime(2026, 11, 15, 12, tzinfo=UTC)
    assert [cli._age(now - d, now) for d in (timedelta(seconds=5), timedelta(minutes=5), timedelta(hours=5))] == [
        "just now",
        "5m ago",
        "5h ago",
    ]
    assert cli._age(now - timedelta(days=3, hours=2), now) == "3d ago" and cli._age(None, now) == "never"
    assert cli._bar(1.7, "green", 4) == "[green]████[/green][dim][/dim]"


def test_catalog_import_checks_dimensions_per_line_and_reports_progress(db, acme):
    """The service behind `metrics import`: every bad line at once, a per-row source, progress callbacks."""
    from okrflow.domain.errors import InvalidInputError
    from okrflow.services import catalog

    with db.write() as s:
        catalog.define_metric(s, SYSTEM_ACTOR, acme, "nps", name="NPS", dimensions=["team"])
    bad = "metric,timestamp,value,dim.region\nnps,2026-10-01,31,emea\n\nnps,2026-10-02,x,emea\n"
    with pytest.raises(InvalidInputError) as exc, db.write() as s:
        catalog.import_values_csv(s, SYSTEM_ACTOR, acme, bad)
    assert exc.value.details["errors"] == [
        "line 2: metric 'nps' has no dimension 'region' (it has: team)",
        "line 4: value 'x' is not a number",  # the blank line 3 keeps the numbering true to the file
    ]
    calls: list[tuple[str, int, int]] = []
    rows = "".join(f"nps,2026-10-{d:02d},{30 + d},payments,{'survey' if d == 1 else ''}\n" for d in range(1, 31))
    with db.write() as s:
        report = catalog.import_values_csv(
            s,
            SYSTEM_ACTOR,
            acme,
            "metric,timestamp,value,dim.team,source\n" + rows,
            progress=lambda *a: calls.append(a),
        )
    assert report.created == 30
    assert calls[-1] == ("writing", 30, 30) and ("checking", 30, 30) in calls
    with db.read() as s:
        assert sorted(set(s.scalars(select(MetricValue.source)))) == ["csv", "survey"]
