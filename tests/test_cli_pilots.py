"""The CLI for pilots, decisions, outcomes and retrospectives (CliRunner), on SQLite and PostgreSQL.

The pilot is created from ``examples/pilot.yaml`` (so the example is proven to work), fed a results CSV, read,
evaluated and decided on; numbers shown are compared with what the services return (the CLI only formats them).
"Now" is pinned inside the pilot's timebox.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from okrflow import cli, cli_pilots
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.domain.work import WorkRecord
from okrflow.services import imports, pilots, sources, tenancy
from okrflow.store.db import ENV_DATABASE_URL, Database
from okrflow.store.models_delivery import Incident
from okrflow.store.models_pilots import Decision, PilotResult

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pilot.yaml"
NOW = datetime(2026, 3, 16, 12, tzinfo=UTC)  # day 15 of the example's timebox (2026-03-02 … 2026-03-29)
START = date(2026, 3, 2)
T0 = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture
def world(db):
    """Workspace acme: team checkout, Hannah Schmidt and Ben Builder, epics CHK-E20 (in progress), CHK-E21 and
    CHK-E22 (delivered in February), story CHK-101, incident INC-7. Built without accounts (no password hashing)."""
    with db.write() as s:
        ws = tenancy.create_workspace(s, SYSTEM_ACTOR, "acme", "Acme")
        team = tenancy.create_team(s, SYSTEM_ACTOR, ws.id, "checkout", "Checkout")
        hannah = ("Hannah Schmidt", "hannah.schmidt@northwind.example", "PM", team.id)
        tenancy.create_person(s, SYSTEM_ACTOR, ws.id, *hannah)
        tenancy.create_person(s, SYSTEM_ACTOR, ws.id, "Ben Builder", "ben@example.com", "Engineer", team.id)
        src = sources.create_source(s, SYSTEM_ACTOR, ws.id, "files", "files", team_id=team.id)
        ws_id, team_id, src_id = ws.id, team.id, src.id
    done = {"21": datetime(2026, 2, 10, tzinfo=UTC), "22": datetime(2026, 2, 20, tzinfo=UTC)}
    records = [
        WorkRecord("20", "Epic", "In Progress", T0, key="CHK-E20", title="Express checkout"),
        *(
            WorkRecord(n, "Epic", "Done", T0, key=f"CHK-E{n}", title=f"Epic {n}", resolved=when)
            for n, when in done.items()
        ),
        WorkRecord("101", "Story", "In Progress", T0, key="CHK-101", title="A story", parent_external_id="20"),
    ]
    imports.import_records(db, SYSTEM_ACTOR, src_id, records)
    with db.write() as s:
        s.add(
            Incident(
                workspace_id=ws_id,
                source_id=src_id,
                external_id="INC-7",
                service="checkout",
                title="Payments down",
                started_at=datetime(2026, 3, 1, 10, tzinfo=UTC),
                resolved_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
                team_id=team_id,
            )
        )
    return {"ws": ws_id, "team": team_id}


@pytest.fixture
def clock():
    return {"now": NOW}


@pytest.fixture
def run(monkeypatch, db_url, clock):
    """``run(*args)``: the okrflow command on this test's database, at the pinned "now"."""
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    monkeypatch.setattr(cli_pilots, "_now", lambda: clock["now"])
    runner = CliRunner()

    def invoke(*args: object):
        return runner.invoke(cli.app, ["--database-url", db_url, *(str(a) for a in args)])

    return invoke


def ok(result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    return result.stdout


def one_line_error(result, code: int, text: str) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and text in last, result.stderr
    assert "Traceback" not in result.output
    return last


def row(text: str, first_cell: str) -> str:
    """The table row whose first cell starts with ``first_cell``."""
    for line in text.splitlines():
        if re.match(rf"[│┃]\s*{re.escape(first_cell)}", line):
            return line
    raise AssertionError(f"no row {first_cell!r} in:\n{text}")


def mean_line(day: date, variant: str, n: int, mean: float, sd: float) -> str:
    total = n * mean
    return f"{day},{variant},page_load_ms,{n},,{total},{sd**2 * (n - 1) + total**2 / n}"


def results_csv(tmp_path: Path, name: str = "results.csv") -> Path:
    """Two days, equal halves: conversion 10 % → 13 % (a clear win), page load 1 % slower and refunds 2 % up
    (both within their accepted regressions)."""
    lines = ["day,variant,metric,n,conversions,sum,sum_squares"]
    for day in (START, START + timedelta(days=1)):
        lines += [
            f"{day},control,checkout_conversion,5000,500,,",
            f"{day},treatment,checkout_conversion,5000,650,,",
            mean_line(day, "control", 5000, 800.0, 200.0),
            mean_line(day, "treatment", 5000, 808.0, 200.0),
            f"{day},control,refund_rate,5000,100,,",
            f"{day},treatment,refund_rate,5000,102,,",
        ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def count(db_url: str, model) -> int:
    db = Database(db_url)
    try:
        with db.read() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        db.dispose()


def readout(db_url: str, key: str):
    db = Database(db_url)
    try:
        with db.read() as s:
            p = pilots.pilot_by_key(s, SYSTEM_ACTOR, 1, key)
            return pilots.results(s, SYSTEM_ACTOR, p.id)
    finally:
        db.dispose()


# ------------------------------------------------------------------ the whole chain


def test_pilot_from_the_example_through_results_evaluation_and_decisions(run, world, db_url, tmp_path, clock):
    created = ok(run("pilot", "create", "--file", EXAMPLE))
    assert "Created pilot P-4 Express checkout for returning buyers (draft) in acme" in created
    assert "checkout_conversion increase by 10.0% (relative)" in created
    assert "page_load_ms (may get 5.0% worse), refund_rate (may get 10.0% worse)" in created
    assert "scale_when: primary_lift_at_least=0.05, p_below=0.05" in created
    one_line_error(run("pilot", "results", "P-4", "--file", results_csv(tmp_path)), 6, "start it first")
    started = ok(run("pilot", "start", "P-4"))
    assert "Pilot P-4 moved draft → running" in started

    recorded = ok(run("pilot", "results", "P-4", "--file", results_csv(tmp_path)))
    assert "Recorded results.csv for pilot P-4: 12 created, 0 updated, 0 unchanged" in recorded
    assert "(12 rows, 2026-03-02 … 2026-03-03)" in recorded
    again = ok(run("pilot", "results", "P-4", "--file", results_csv(tmp_path)))
    assert "0 created, 0 updated, 12 unchanged" in again

    listed = ok(run("pilot", "list"))
    assert re.search(r"P-4\s+│ Express checkout.*│ running\s+│ Hannah Schmidt\s+│ checkout\s+│ "
                     r"2026-03-02 → 2026-03-29\s+│ 14 days left\s+│ not evaluated", listed)  # fmt: skip

    # status: the numbers are the service's readout, formatted
    status = ok(run("pilot", "status", "P-4"))
    r = readout(db_url, "P-4")
    primary = r.primary.comparisons["treatment"].relative
    assert "timebox     2026-03-02 → 2026-03-29 (28 days) · day 15 of 28 · 14 days left" in status
    assert "define 2026-02-02 → 2026-03-01 · ▶ pilot 2026-03-02 → 2026-04-01 · scale or retire" in status
    assert "hypothesis  checkout_conversion should increase by 10.0% (relative): Lift checkout conversion" in status
    line = row(status, "checkout_conversion (relative, higher is better)")
    low, high = primary.ci
    assert f"{primary.estimate * 100:+.1f}%" in line and f"[{low * 100:+.1f}%, {high * 100:+.1f}%]" in line
    assert "10.00% of 10,000" in line and "treatment 13.00% of 10,000" in line
    assert "< 0.0001" in line and f"{r.primary.comparisons['treatment'].chance_to_win * 100:.1f}%" in line
    assert line.rstrip("│ ").endswith("better")
    load = row(status, "page_load_ms (relative, lower is better)")
    assert "800 (n 10,000)" in load and "treatment 808 (n 10,000)" in load and "+1.0%" in load
    assert "✓ pass (may get 5.0% worse)" in load
    assert "✓ pass (may get 10.0% worse)" in row(status, "refund_rate")
    assert f"SRM       ✓ no mismatch (p = {r.srm.p_value:.3g}): units control 10,000 · treatment 10,000" in status
    assert "sample    20,000 units of 64,000 planned (31%) · data 2026-03-02 → 2026-03-03" in status
    # the power analysis, on the control so far (10 %): 63,669 units give 80 % power against +10 % (sequential)
    assert (
        "power     63,669 units needed for 80% power against +10.0% (sequential, α = 0.05; the control so far 10.00%)"
        in status
    )
    assert "20,000 so far (31%), power now 21%" in status and "detectable with the planned 64,000: +10.0%" in status
    assert "latest recommendation: none yet" in status and "decisions: none yet" in status
    as_json = json.loads(ok(run("pilot", "status", "P-4", "--json")))
    assert as_json["timebox"]["days_left"] == 14 and as_json["srm"]["mismatch"] is False
    assert as_json["readout"]["primary"]["variants"]["treatment"]["mean"] == pytest.approx(0.13)
    assert [g["breached"] for g in as_json["guardrails"]] == [False, False]
    power = as_json["readout"]["power"]
    assert power["basis"] == "observed" and power["required_units"] == 63669 and power["underpowered"] is False

    # evaluate: the action, the rule that fired and the numbers
    dry = json.loads(ok(run("pilot", "evaluate", "P-4", "--dry-run", "--json")))
    assert dry["action"] == "scale" and dry["evaluation_id"] is None
    evaluated = ok(run("pilot", "evaluate", "P-4"))
    assert "Evaluated pilot P-4 at 2026-03-16 12:00 UTC (evaluation 1)" in evaluated
    assert "recommendation  SCALE" in evaluated
    assert "rule            scale_when: primary_lift_at_least=0.05, p_below=0.05, no_guardrail_breach=true" in evaluated
    assert "reason          checkout_conversion improved by 0.3 ≥ 0.05 (relative)" in evaluated
    assert re.search(r"primary_improvement\s+│ 0\.3\s", evaluated)
    assert "okrflow decision record --pilot P-4 --action scale" in evaluated
    assert "latest recommendation: SCALE (2026-03-16 12:00)" in ok(run("pilot", "status", "P-4"))
    waiting = ok(run("pilot", "list", "--awaiting-decision"))
    assert "P-4" in waiting and "needs a decision: the exit rules recommend scale" in waiting
    (w,) = json.loads(ok(run("pilot", "list", "--awaiting-decision", "--json")))
    assert w["key"] == "P-4" and w["awaiting_decision"] == "the exit rules recommend scale"

    # decisions: an override needs a rationale; a concluding action moves the pilot
    refused = run("decision", "record", "--pilot", "P-4", "--action", "rollback", "--title", "Stop it",
                  "--decision", "Roll back", "--decided-by", "Hannah Schmidt")  # fmt: skip
    one_line_error(refused, 2, "overrides the recommendation (scale) of pilot P-4; give a rationale")
    no_pilot = run("decision", "record", "--action", "scale", "--title", "t", "--decision", "d", "--decided-by", "x")
    one_line_error(no_pilot, 2, "--action is what the decision does with a pilot; give --pilot KEY too")
    bad_link = run("decision", "record", "--title", "t", "--decision", "d", "--decided-by", "x", "--link", "wiki:1")
    one_line_error(bad_link, 2, "--link 'wiki:1': write TYPE:REF")
    assert count(db_url, Decision) == 0
    decided = ok(run("decision", "record", "--pilot", "P-4", "--action", "scale", "--title",
            "Roll out express checkout",
            "--decision", "Scale to all EU returning buyers", "--decided-by", "hannah.schmidt@northwind.example",
            "--accountable", "Hannah Schmidt", "--responsible", "ben@example.com", "--informed", "Customer support",
            "--option", "Scale", "--option", "Keep the old flow", "--review-on", "2026-06-01",
            "--link", "work_item:CHK-E20"))  # fmt: skip
    assert "Recorded decision #1 Roll out express checkout (2026-03-16, decided by Hannah Schmidt)" in decided
    assert "pilot       P-4: SCALE — follows the recommendation (scale)" in decided
    assert "pilot P-4 moved running → decided" in decided and "review on   2026-06-01" in decided
    assert json.loads(ok(run("pilot", "list", "--awaiting-decision", "--json"))) == []
    assert "no pilot waits for a decision" in run("pilot", "list", "--awaiting-decision").stderr
    superseded = ok(run("decision", "supersede", 1, "--decision", "Scale to all EU buyers, returning or not",
            "--rationale", "Guests converted too", "--informed", "Marketing"))  # fmt: skip
    assert "Recorded decision #2 Roll out express checkout (2026-03-16), superseding #1" in superseded
    assert "chain       #1 → #2" in superseded
    one_line_error(run("decision", "supersede", 1, "--title", "Again"), 6, "already superseded by decision 2")

    log = ok(run("decision", "list"))
    newest, older = row(log, "#2"), row(log, "#1")
    assert "#2 ⟵ supersedes #1" in newest and "current" in newest and "P-4 SCALE" in newest
    assert "superseded by #2" in older and "Scale to all EU returning buyers" in older
    assert log.index("#2 ⟵ supersedes #1") < log.index("│ #1 ")
    current = ok(run("decision", "list", "--current", "--pilot", "P-4", "--action", "scale"))
    assert "#2 ⟵ supersedes #1" in current and "superseded by" not in current
    assert "no decisions match" in run("decision", "list", "--action", "rollback").stderr
    as_list = json.loads(ok(run("decision", "list", "--json")))
    assert [(d["id"], d["supersedes_id"], d["superseded_by"]) for d in as_list] == [(2, 1, None), (1, None, 2)]
    assert as_list[1]["raci"]["accountable"] == [{"name": "Hannah Schmidt", "person_id": 1}]
    assert as_list[1]["raci"]["informed"] == [{"name": "Customer support", "person_id": None}]

    shown = ok(run("decision", "show", 2))
    assert "chain       #1 Roll out express checkout → #2 ◀ this" in shown
    assert "informed    Marketing" in shown and "accountable Hannah Schmidt" in shown
    assert "link        epic CHK-E20 Express checkout" in shown and "link        pilot P-4" in shown
    # the supersede evaluated the exit rules afresh before freezing them: a newer evaluation, the same verdict
    assert re.search(r"Frozen recommendation \(evaluation [2-9]\d*, 2026-03-16T[\d:]+\+00:00\): SCALE", shown)
    assert f"+{primary.estimate * 100:.1f}%" in row(shown, "checkout_conversion")
    assert "evidence supersedes:" in shown

    status = ok(run("pilot", "status", "P-4"))
    assert "status      decided" in status
    assert "decisions: #2 scale on 2026-03-16, #1 scale on 2026-03-16 (superseded)" in status
    one_line_error(run("pilot", "move", "P-4", "--to", "running"), 2, "cannot go from decided to running")
    ok(run("pilot", "move", "P-4", "--to", "closed"))
    assert "closed" in row(ok(run("pilot", "list")), "P-4")


def test_pilot_results_csv_is_all_or_nothing_with_line_numbers(run, world, db_url, tmp_path):
    ok(run("pilot", "create", "--file", EXAMPLE))
    ok(run("pilot", "start", "P-4"))
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "day,variant,metric,n,conversions,sum,sum_squares\n"
        "2026-03-02,control,checkout_conversion,5000,500,,\n"  # fine, but the batch fails
        "2026-03-02,variant_b,checkout_conversion,5000,500,,\n"
        "\n"
        "2026-03-02,treatment,checkout_conversion,lots,500,,\n"
        "2026-03-02,treatment,checkout_conversion,10,11,,\n"
        "2026-03-02,treatment,revenue,10,1,,\n"
        "yesterday,treatment,refund_rate,10,1,,\n",
        encoding="utf-8",
    )
    failed = run("pilot", "results", "P-4", "--file", bad)
    one_line_error(failed, 2, "bad.csv: 5 bad lines; nothing was recorded")
    problems = failed.stderr.strip().splitlines()[:-1]
    assert [p.split(":")[1].strip() for p in problems] == ["line 3", "line 5", "line 6", "line 7", "line 8"]
    assert problems[0].startswith("bad.csv: line 3: unknown variant 'variant_b'")
    assert problems[1] == "bad.csv: line 5: n 'lots' is not a number"
    assert "cannot exceed n" in problems[2] and "neither the primary metric nor a guardrail" in problems[3]
    assert "day must be a date" in problems[4]
    assert count(db_url, PilotResult) == 0

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("day,variant,metric,units\n2026-03-02,control,checkout_conversion,5\n", encoding="utf-8")
    one_line_error(run("pilot", "results", "P-4", "--file", wrong), 2, "wrong.csv: unknown column 'units'")
    one_line_error(run("pilot", "results", "P-4", "--file", tmp_path / "none.csv"), 2, "cannot read")
    one_line_error(run("pilot", "results", "NOPE", "--file", results_csv(tmp_path)), 5, "no pilot with key 'NOPE'")


def test_pilot_create_errors_name_the_field_and_flags_work_without_a_file(run, world, tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")

    def attempt(name: str, content: str, code: int, message: str) -> None:
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        error = one_line_error(run("pilot", "create", "--file", path), code, message)
        assert len(run("pilot", "create", "--file", path).stderr.strip().splitlines()) == 1, error

    attempt("typo.yaml", text.replace("timebox:", "timebx:"), 2, "typo.yaml: unknown field 'timebx'")
    attempt("dir.yaml", text.replace("direction: increase", "direction: up"), 2, "hypothesis.direction is one of")
    attempt("owner.yaml", text.replace("hannah.schmidt@", "nobody@"), 5, "owner.yaml: owner: no person named")
    attempt("broken.yaml", text.replace("title: Express", "title: [Express"), 2, "broken.yaml: not valid YAML: line")
    attempt("risk.yaml", text.replace("likelihood: 2", "likelihood: 7"), 2, "likelihood")
    attempt("list.yaml", text.replace("  - Four weeks or 32,000 buyers per variant\n", "").replace(
        "exit_criteria:\n  - Any", "exit_criteria: Any"), 2, "list.yaml: exit_criteria is a list")  # fmt: skip
    attempt("story.yaml", text.replace("CHK-E20", "CHK-101"), 2, "a pilot serves an initiative or epic")
    attempt("list.json", "[1, 2]", 2, "list.json: a pilot record is a mapping of fields")

    ok(run("pilot", "create", "--file", EXAMPLE))
    one_line_error(run("pilot", "create", "--file", EXAMPLE), 6, "a pilot with key 'P-4' exists already")
    made = ok(run("pilot", "create", "--key", "P-5", "--title", "Bigger buy button", "--problem", "Nobody sees it",
            "--metric", "add_to_cart", "--direction", "increase", "--expected-effect", "0.05", "--start",
            "2026-04-01", "--end", "2026-04-28", "--owner", "Ben Builder", "--team", "checkout"))  # fmt: skip
    assert "Created pilot P-5 Bigger buy button (draft)" in made and "guardrails  none" in made
    assert "exit rule   pause_when: srm=true" in made and "stop_when: timebox_over=true" in made
    status = ok(run("pilot", "status", "P-5"))
    assert "starts in 16 days" in status and "▶ define 2026-03-01 → 2026-03-31" in status
    ok(run("pilot", "move", "P-5", "--to", "closed"))  # withdrawn before it ran
    one_line_error(run("pilot", "move", "P-5", "--to", "finished"), 2, "pilot status is one of")
    one_line_error(
        run("pilot", "create", "--key", "P-6", "--title", "x", "--problem", "y", "--owner", "Ben Builder"),
        2,
        "pilot: the timebox needs a start date (timebox.start, or --start)",
    )
    no_hypothesis = ["pilot", "create", "--key", "P-6", "--title", "x", "--problem", "y", "--owner", "Ben Builder",
                     "--start", "2026-04-01", "--end", "2026-04-28"]  # fmt: skip
    one_line_error(run(*no_hypothesis), 2, "pilot: hypothesis is a mapping")
    listed = json.loads(ok(run("pilot", "list", "--json", "--status", "closed")))
    assert [p["key"] for p in listed] == ["P-5"]


# ------------------------------------------------------------------ outcomes


def test_outcome_anticipate_record_due_and_rate(run, world, clock):
    for key, by in (("CHK-E21", "2026-03-01"), ("CHK-E22", "2026-03-10"), ("CHK-E20", "2026-03-01")):
        done = ok(run("outcome", "anticipate", key, "--problem", "buyers abandon at payment", "--expected-result",
                "more completed checkouts", "--measured-by", "weekly conversion from the warehouse", "--metric",
                "checkout_conversion", "--target", "0.12", "--by", by, "--how-we-learn",
                "the monthly review"))  # fmt: skip
        assert f"Anticipated outcome of epic {key}" in done and "metric      checkout_conversion → target 0.12" in done
    recorded = ok(run("outcome", "record", "CHK-E21", "--result", "achieved", "--observed", "0.125", "--learning",
            "guests convert like members"))  # fmt: skip
    assert "Recorded the outcome of epic CHK-E21: achieved on 2026-03-16" in recorded
    assert "observed    checkout_conversion = 0.125 (target 0.12)" in recorded
    shown = ok(run("outcome", "show", "CHK-E21"))
    assert "actual       achieved on 2026-03-16 · observed 0.125" in shown and "guests convert" in shown

    due = ok(run("outcome", "due"))
    assert re.search(r"CHK-E22\s+│ Epic 22\s+│ epic\s+│ checkout\s+│ 2026-02-20\s+│ 2026-03-10\s+│ 6 days", due)
    assert "CHK-E21" not in due and "CHK-E20" not in due  # recorded; not delivered
    assert json.loads(ok(run("outcome", "due", "--json")))[0]["days_overdue"] == 6

    rate = ok(run("outcome", "rate", "--since", "2026-02-01", "--until", "2026-02-28"))
    assert re.search(r"checkout\s+│ 2\s+│ 1\s+│ 0\s+│ 0\s+│ 1\s+│ 50% \(1 of 2\)", rate)
    assert re.search(r"all teams\s+│ 2\s+│ 1\s+│", rate)
    as_json = json.loads(ok(run("outcome", "rate", "--since", "2026-02-01", "--until", "2026-02-28", "--team",
                                "checkout", "--json")))  # fmt: skip
    assert as_json == [
        {"team": "checkout", "delivered": 2, "achieved": 1, "partially": 0, "not_achieved": 0, "pending": 1,
         "rate": 0.5, "since": "2026-02-01", "until": "2026-02-28"}
    ]  # fmt: skip

    one_line_error(run("outcome", "record", "CHK-101", "--result", "achieved", "--learning", "x"), 2,
                   "outcomes belong to initiatives and epics")  # fmt: skip
    one_line_error(run("outcome", "record", "CHK-E22", "--result", "great", "--learning", "x"), 2,
                   "result is one of achieved, partially, not_achieved")  # fmt: skip
    one_line_error(run("outcome", "show", "NOPE-1"), 5, "no work item with key 'NOPE-1'")
    one_line_error(run("outcome", "rate", "--since", "2026-03-01", "--until", "2026-02-01"), 2, "is before --since")
    one_line_error(run("outcome", "due", "--team", "nope"), 5, "team 'nope' does not exist")


# ------------------------------------------------------------------ retrospectives


def test_retro_create_actions_and_the_overdue_list(run, world, clock):
    made = ok(run("retro", "create", "--kind", "postmortem", "--title", "Payments outage on 1 March", "--held-on",
            "2026-03-03", "--team", "checkout", "--incident", "INC-7", "--what-happened",
            "A config push disabled the card provider", "--impact", "12% of checkouts failed", "--factor",
            "no canary for config pushes", "--factor", "alert routed to an old channel", "--learnings",
            "config is code"))  # fmt: skip
    assert "Recorded postmortem #1 Payments outage on 1 March (2026-03-03)" in made
    first = ok(run("retro", "action", "add", 1, "--title", "Canary config pushes", "--owner", "Ben Builder",
                   "--due", "2026-03-10", "--playbook", "/docs/runbooks/config"))  # fmt: skip
    assert "Added action 1 to postmortem #1: Canary config pushes · owner Ben Builder · due 2026-03-10" in first
    ok(run("retro", "action", "add", 1, "--title", "Fix alert routing", "--owner", "hannah.schmidt@northwind.example",
           "--due", "2026-04-01"))  # fmt: skip

    listed = ok(run("retro", "list"))
    assert re.search(r"1\s+│ postmortem\s+│ 2026-03-03\s+│ Payments outage.*│ incident INC-7\s+│ "
                     r"2 open of 2 · 1 overdue", listed)  # fmt: skip
    overdue = ok(run("retro", "actions", "--overdue"))
    line = row(overdue, "1 ")
    assert "Canary config pushes" in line and "Ben Builder" in line and "2026-03-10 (6 days overdue)" in line
    assert "/docs/runbooks/config" in line and "postmortem #1 Payments outage" in line
    assert "Fix alert routing" not in overdue
    assert "Fix alert routing" in ok(run("retro", "actions"))

    shown = ok(run("retro", "show", 1))
    assert "incident    INC-7 Payments down" in shown and "factor      no canary for config pushes" in shown
    assert "2026-03-10 (6 days overdue)" in row(shown, "1 ")
    as_json = json.loads(ok(run("retro", "show", 1, "--json")))
    assert [a["status"] for a in as_json["actions"]] == ["open", "open"]

    assert "open → done" in ok(run("retro", "action", "done", 1))
    assert "no overdue action items" in run("retro", "actions", "--overdue").stderr
    assert "done" in row(ok(run("retro", "actions", "--all")), "1 ")

    ok(run("pilot", "create", "--file", EXAMPLE))
    retro = ok(run("retro", "create", "--title", "Express checkout pilot", "--pilot", "P-4"))
    assert "Recorded retrospective #2 Express checkout pilot (2026-03-16)" in retro
    assert [r["id"] for r in json.loads(ok(run("retro", "list", "--pilot", "P-4", "--json")))] == [2]

    one_line_error(run("retro", "create", "--kind", "postmortem", "--title", "x"), 2, "a postmortem says what happened")
    one_line_error(run("retro", "create", "--kind", "party", "--title", "x"), 2, "kind is one of")
    one_line_error(run("retro", "create", "--title", "x", "--incident", "INC-99"), 5, "no incident 'INC-99'")
    one_line_error(run("retro", "action", "add", 1, "--title", "x", "--owner", "Nobody", "--due", "2026-04-01"), 5,
                   "--owner: no person named 'Nobody'")  # fmt: skip
    one_line_error(run("retro", "action", "add", 1, "--title", "x", "--owner", "Ben Builder", "--due", "soon"), 2,
                   "--due: 'soon' is not a date")  # fmt: skip
    one_line_error(run("retro", "action", "add", 1, "--title", "x", "--owner", "Ben Builder", "--due", "2026-04-01",
                       "--playbook", "ftp://x"), 2, "playbook_url must be an http(s) address")  # fmt: skip
    one_line_error(run("retro", "action", "done", 99), 5, "action item 99 does not exist")
    one_line_error(run("retro", "show", 99), 5, "retrospective 99 does not exist")
