"""The CLI for work: secrets, sources, import and sync runs, mappings, links and traceability, on both engines."""

from __future__ import annotations

import base64
import copy
import csv
import re
import shutil
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from typer.testing import CliRunner

from okrflow import cli
from okrflow.services import sources
from okrflow.store.db import ENV_DATABASE_URL, Database
from okrflow.store.models import AuditEntry
from okrflow.store.models_work import Source, StatusChange, WorkItem
from tests.jira_fake import FakeJira, devlake_issues, devlake_statuses

PASSWORD = "correct-horse-battery"
FILES = Path(__file__).parent / "fixtures" / "files"
FIXTURE_FILES = [FILES / "items.csv", FILES / "status_changes.csv", FILES / "delivery.json"]
TOKEN = "s3cret-api-token"


@pytest.fixture
def run(monkeypatch):
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    monkeypatch.setenv(sources.SECRET_ENV, Fernet.generate_key().decode())
    runner = CliRunner()

    def invoke(*args: object, input: str | None = None):
        return runner.invoke(cli.app, [str(a) for a in args], input=input)

    return invoke


@pytest.fixture
def url(run, db_url):
    result = run(
        "--database-url", db_url, "init", "--admin-username", "admin", "--admin-password", PASSWORD,
        "--workspace-slug", "acme", "--workspace-name", "Acme", "--no-input",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return db_url


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def one_line_error(result, code: int, message: str) -> str:
    assert result.exit_code == code, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, result.stderr
    assert "Traceback" not in result.output
    return last


def count(db_url: str, model) -> int:
    db = Database(db_url)
    try:
        with db.read() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        db.dispose()


def test_secret_generate_prints_a_key_and_how_to_set_it(run):
    result = ok(run("secret", "generate"))
    key = result.stdout.strip()
    Fernet(key.encode())  # a valid key
    assert "export OKRFLOW_SECRET_KEY=" in result.stderr and key not in result.stderr


def test_source_add_list_show_never_print_credentials(run, url, monkeypatch):
    monkeypatch.delenv(sources.SECRET_ENV)
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    refused = run("--database-url", url, "source", "add", "pay", "--kind", "jira", "--token-env", "JIRA_TOKEN")
    one_line_error(refused, 10, "set OKRFLOW_SECRET_KEY")
    assert len(refused.stderr.strip().splitlines()) == 1
    monkeypatch.setenv(sources.SECRET_ENV, Fernet.generate_key().decode())

    add_pay = [
        "--database-url", url, "source", "add", "pay", "--kind", "jira", "--url", "https://acme.atlassian.net/",
        "--email", "bot@example.com", "--token", "--setting", "jql=project = PAY", "--setting", "page_size=50",
        "--setting", "tracked_fields=[issuetype, sprint]",
    ]  # fmt: skip
    added = ok(run(*add_pay, input=f"{TOKEN}\n"))
    assert "stored, encrypted" in added.stdout
    ok(run("--database-url", url, "source", "add", "gh", "--kind", "github", "--token-env", "JIRA_TOKEN",
           "--setting", "repository=acme/checkout"))  # fmt: skip
    ok(run("--database-url", url, "source", "add", "sheet", "--kind", "files"))
    listed = ok(run("--database-url", url, "source", "list"))
    shown = ok(run("--database-url", url, "source", "show", "pay"))
    for result in (added, listed, shown):
        assert TOKEN not in result.output
    assert re.search(r"pay\s+│\s+jira\s+│\s+https://acme.atlassian.net\s+│.*stored", listed.stdout)
    assert re.search(r"sheet\s+│\s+files.*none", listed.stdout)
    assert 'jql = "project = PAY"' in shown.stdout and "page_size = 50" in shown.stdout
    assert 'tracked_fields = ["issuetype", "sprint"]' in shown.stdout and "no runs yet" in shown.stdout
    db = Database(url)
    with db.read() as s:
        pay = s.scalar(select(Source).where(Source.name == "pay"))
        assert TOKEN not in (pay.credentials or "")
        assert sources.decrypt_credentials(pay.credentials) == {"email": "bot@example.com", "api_token": TOKEN}
        gh = s.scalar(select(Source).where(Source.name == "gh"))
        assert sources.decrypt_credentials(gh.credentials) == {"token": TOKEN}
    db.dispose()
    one_line_error(run("--database-url", url, "source", "add", "pay", "--kind", "jira"), 6, "exists already")
    one_line_error(run("--database-url", url, "source", "add", "x", "--kind", "files", "--token"), 2, "no credentials")
    one_line_error(run("--database-url", url, "source", "show", "nope"), 5, "no source named 'nope'")


def test_import_files_then_runs_then_a_bad_file_writes_nothing(run, url, tmp_path):
    ok(run("--database-url", url, "source", "add", "sheet", "--kind", "files"))
    first = ok(run("--database-url", url, "import", *FIXTURE_FILES, "--source", "sheet", "--timezone", "Europe/Berlin"))
    assert "Imported 3 files into sheet" in first.stdout and "7 created, 0 updated, 0 unchanged" in first.stdout
    assert "7 status changes" in first.stdout
    again = ok(run("--database-url", url, "import", *FIXTURE_FILES, "--source", "sheet", "--timezone", "Europe/Berlin"))
    assert "0 created, 0 updated, 7 unchanged" in again.stdout
    items_before, changes_before = count(url, WorkItem), count(url, StatusChange)
    assert (items_before, changes_before) == (4, 7)

    bad = tmp_path / "items.csv"
    bad.write_text((FILES / "items.csv").read_text().replace("2026-09-03,,E-1", "yesterday,,E-1"))
    shutil.copy(FILES / "status_changes.csv", tmp_path / "status_changes.csv")
    failed = run("--database-url", url, "import", bad, tmp_path / "status_changes.csv", "--source", "sheet")
    last = one_line_error(failed, 2, "1 problem; nothing was imported (run 5)")
    lines = failed.stderr.strip().splitlines()
    assert lines[:-1] == ["items.csv: line 4: created 'yesterday' is not an ISO 8601 date or timestamp"], lines
    assert last == lines[-1]
    assert (count(url, WorkItem), count(url, StatusChange)) == (items_before, changes_before)

    runs = ok(run("--database-url", url, "runs", "--source", "sheet"))
    rows = [line for line in runs.stdout.splitlines() if re.match(r"│ \d", line)]
    assert [int(r.split("│")[1]) for r in rows] == [5, 4, 3, 2, 1]
    assert "failed" in rows[0] and "line 4: created 'yesterday'" in rows[0]
    assert re.search(r"│ 1\s+│ sheet\s+│.*succeeded\s+│ 4\s+│ 0\s+│ 0\s+│ 0\s+│", runs.stdout)
    assert (
        len([r for r in ok(run("--database-url", url, "runs", "--limit", "2")).stdout.splitlines() if "│ sheet" in r])
        == 2
    )
    one_line_error(run("--database-url", url, "import", FILES / "items.csv", "--source", "nope"), 5, "'nope'")


CONFIG = """\
version: 1
workspace: {slug: acme, name: Acme}
work: {flow_level: story}
traceability: {label_pattern: '^okr:(?:KR-)?(\\d+)$'}
sources:
  - name: sheet
    kind: files
    mapping:
      types: {Spike: {level: story, flow_type: risk}}
      statuses: {Parked: {step: backlog, stage: discovery}}
"""


def test_mappings_check_fails_on_unmapped_names_until_config_maps_them(run, url, tmp_path):
    ok(run("--database-url", url, "source", "add", "sheet", "--kind", "files"))
    items = tmp_path / "items.csv"
    items.write_text(
        (FILES / "items.csv")
        .read_text()
        .replace("Crash on empty basket,Bug,Done", "Crash on empty basket,Spike,Parked")
    )
    imported = ok(run("--database-url", url, "import", items, "--source", "sheet"))
    assert "unmapped types     Spike" in imported.stdout and "unmapped statuses  Parked" in imported.stdout
    check = run("--database-url", url, "mappings", "check")
    one_line_error(check, 10, "unmapped types or statuses in 1 source (sheet)")
    assert "unmapped type    Spike" in check.stdout and "unmapped status  Parked" in check.stdout
    assert "unmapped status  Done" not in check.stdout

    config_file = tmp_path / "okrflow.yaml"
    config_file.write_text(CONFIG)
    applied = ok(run("--database-url", url, "config", "apply", config_file))
    assert "source sheet: mapping updated" in applied.stdout
    assert "work settings: flow_level updated" in applied.stdout
    entries = count(url, AuditEntry)
    again = ok(run("--database-url", url, "config", "apply", config_file))
    assert "Nothing to change" in again.stdout and count(url, AuditEntry) == entries
    passed = ok(run("--database-url", url, "mappings", "check", "--source", "sheet"))
    assert "every stored type and status is mapped" in passed.stdout
    shown = ok(run("--database-url", url, "mappings", "show", "--source", "sheet"))
    assert re.search(r"spike\s+│ story\s+│ risk\s+│ source", shown.stdout)
    assert re.search(r"parked\s+│ backlog\s+│ discovery\s+│ waiting\s+│ source", shown.stdout)
    assert re.search(r"epic\s+│ epic\s+│ feature\s+│ files default", shown.stdout)


def test_link_unlink_matrix_csv_and_unaligned_shares(run, url, tmp_path):
    ok(run("--database-url", url, "source", "add", "sheet", "--kind", "files"))
    ok(run("--database-url", url, "import", *FIXTURE_FILES[:2], "--source", "sheet"))
    ok(run("--database-url", url, "okr", "period", "create-year", "2026"))
    made = ok(run("--database-url", url, "okr", "objective", "add", "--period", "2026-Q3", "--title", "Wallets"))
    objective = re.search(r"#(\d+)", made.stdout).group(1)
    kr = ok(run("--database-url", url, "okr", "kr", "add", objective, "--title", "Wallet share", "--direction",
                "increase", "--target", "30"))  # fmt: skip
    kr_id = re.search(r"Created KR (\d+)", kr.stdout).group(1)

    linked = ok(run("--database-url", url, "link", "SHOP-4", kr_id))
    assert f"Linked SHOP-4 (Crash on empty basket) to KR {kr_id}" in linked.stdout
    one_line_error(run("--database-url", url, "link", "SHOP-4", kr_id), 6, "linked to this key result already")
    one_line_error(run("--database-url", url, "link", "NOPE-1", kr_id), 5, "no work item with key 'NOPE-1'")
    one_line_error(run("--database-url", url, "link"), 2, "ITEM_KEY and KR_ID, or --from-labels")
    out_csv = tmp_path / "matrix.csv"
    ok(run("--database-url", url, "trace", "matrix", "--period", "2026-Q3", "--csv", out_csv))
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert list(rows[0]) == [
        "objective_id", "objective", "key_result_id", "key_result", "metric", "item_key", "item_title", "item_level",
        "item_status", "via",
    ]  # fmt: skip
    assert [(r["key_result"], r["item_key"], r["item_title"], r["via"]) for r in rows] == [
        ("Wallet share", "SHOP-4", "Crash on empty basket", "")
    ]
    ok(run("--database-url", url, "unlink", "SHOP-4", kr_id))
    one_line_error(run("--database-url", url, "unlink", "SHOP-4", kr_id), 5, "is not linked")

    # E-1 (SHOP-1) carries the label okr:KR-<id> only when the KR's id is 1; relabel to the real id otherwise.
    from_labels = run("--database-url", url, "link", "--from-labels")
    assert from_labels.exit_code == 0, from_labels.output
    if kr_id == "1":
        assert "Made 1 link from labels" in from_labels.stdout
    else:
        ok(run("--database-url", url, "link", "SHOP-1", kr_id))
    table = ok(run("--database-url", url, "trace", "matrix"))
    assert "SHOP-3 Google Pay button" in table.stdout and "via SHOP-1" in table.stdout
    assert re.search(r"#\d+ Wallets\s+│ KR \d+ Wallet share", table.stdout)

    shares = ok(run("--database-url", url, "trace", "unaligned", "--period", "2026-Q3"))
    # Story-level work in progress in Q3: SHOP-2, SHOP-3 (covered through their epic) and SHOP-4 (a bug): 1 of 3.
    row = next(line for line in shares.stdout.splitlines() if "(no team)" in line)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[:4] == ["(no team)", "3", "1", "33.3%"], cells
    assert re.fullmatch(r"\d+\.\d%", cells[6]) and cells[6] != "33.3%"
    one_line_error(run("--database-url", url, "trace", "unaligned", "--period", "2031-Q9"), 5, "2031-Q9")


CN_MAPPING = """\
version: 1
workspace: {slug: acme, name: Acme}
sources:
  - name: merico
    kind: jira
    base_url: BASE_URL
    credentials_env: {email: JIRA_EMAIL, token: JIRA_TOKEN}
    settings: {jql: "project in (EE, K5)", story_points_field: customfield_10024, page_size: 50}
    mapping:
      types:
        故事: {level: story}
        任务: {level: task}
        子任务: {level: task}
        缺陷: {level: story, flow_type: defect}
      statuses:
        已完成: {step: done, stage: operation}
"""


def test_sync_a_jira_source_end_to_end_against_a_local_server(run, url, tmp_path, monkeypatch):
    basic = "Basic " + base64.b64encode(f"bot@example.com:{TOKEN}".encode()).decode()
    issues = devlake_issues()
    with FakeJira(issues=copy.deepcopy(issues), statuses=devlake_statuses(), authorization=basic) as fake:
        monkeypatch.setenv("JIRA_EMAIL", "bot@example.com")
        monkeypatch.setenv("JIRA_TOKEN", TOKEN)
        config_file = tmp_path / "okrflow.yaml"
        config_file.write_text(CN_MAPPING.replace("BASE_URL", fake.base_url), encoding="utf-8")
        assert "source merico created" in ok(run("--database-url", url, "config", "apply", config_file)).stdout
        synced = ok(run("--database-url", url, "sync", "merico"))
        assert f"Synced jira source merico: fetched {len(issues)}" in synced.stdout
        assert f"{len(issues)} created, 0 updated, 0 unchanged" in synced.stdout
        assert re.search(r"\d+ status changes · [\d.]+s \(run 1\)", synced.stdout)
        assert TOKEN not in synced.output
        again = ok(run("--database-url", url, "sync", "merico", "--full"))
        assert f"0 created, 0 updated, {len(issues)} unchanged" in again.stdout

        fake.authorization = "Basic something-else"
        refused = run("--database-url", url, "sync", "merico", "--full")
        last = one_line_error(refused, 3, "Jira refused the credentials")
        assert last.endswith("(run 3)") and TOKEN not in refused.output
    runs = ok(run("--database-url", url, "runs"))
    assert re.search(r"│ 3\s+│ merico\s+│.*failed.*HTTP 401", runs.stdout)
    assert re.search(r"│ 1\s+│ merico\s+│.*succeeded", runs.stdout)
    assert count(url, WorkItem) == len(issues)
