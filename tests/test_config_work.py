"""okrflow.yaml: the ``sources:``, ``work:`` and ``traceability:`` sections — validation, schema, idempotent apply;
and the service functions the work CLI uses (credentials, mapping report, items by key)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from okrflow.domain.access import cli_actor
from okrflow.domain.errors import ConfigurationError, InvalidInputError, NotFoundError
from okrflow.domain.work import StatusChangeRecord, WorkRecord
from okrflow.services import audit, config, imports, sources, traceability
from okrflow.store.models import Workspace
from okrflow.store.models_work import Source

ACTOR = cli_actor("tester")
TOKEN = "s3cret-api-token"


def problems_of(text: str) -> list[str]:
    _, problems = config.parse(textwrap.dedent(text))
    return [p.render("f") for p in problems]


def parsed(text: str) -> config.OkrflowConfig:
    loaded, problems = config.parse(textwrap.dedent(text))
    assert loaded is not None, problems
    return loaded


HEAD = "version: 1\nworkspace: {slug: acme, name: Acme}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources: [{name: a, kind: jira, credentials: {token: x}}]", "sources[0]: credentials never go in the file"),
        ("sources: [{name: a, kind: jira, settings: {api_token: x}}]", "settings.api_token: credentials never go"),
        ("sources: [{name: a, kind: github, credentials_env: {email: E, token: T}}]", "credentials are token"),
        ("sources: [{name: a, kind: files, credentials_env: {token: T}}]", "a files source has no credentials"),
        ("sources: [{name: a, kind: jira, credentials_env: {token: 'not a var'}}]", "not the name of an environment"),
        ("sources: [{name: a, kind: jira, credentials_env: {email: E}}]", "an email needs a token"),
        ("sources: [{name: A B, kind: jira}]", "sources[0].name: 'A B' is not a valid source name"),
        ("sources: [{name: a, kind: rally}]", "sources[0].kind: 'rally' is not allowed"),
        ("sources: [{name: a, kind: jira}, {name: a, kind: files}]", "sources[1].name: source 'a' is defined twice"),
        ("sources: [{name: a, kind: jira, mapping: {types: {Spike: {level: huge}}}}]", "types.Spike.level"),
        ("sources: [{name: a, kind: jira, mapping: {statuses: {QA: {step: testing, colour: red}}}}]", "colour"),
        ("sources: [{name: a, kind: jira, mapping: {types: {Spike: {level: task}, spike: {level: story}}}}]",
         "'Spike' and 'spike' are the same name"),
        ("work: {flow_level: task}", "work.flow_level: 'task' is not allowed"),
        ("traceability: {label_pattern: 'okr:.*'}", "label_pattern needs a group"),
        ("traceability: {label_pattern: 'okr:(unclosed'}", "label_pattern is not a valid regular expression"),
    ],
)  # fmt: skip
def test_problems_of_the_new_sections(text, expected):
    found = problems_of(HEAD + text + "\n")
    assert any(expected in p for p in found), found


def test_json_schema_describes_sources_work_and_traceability():
    schema = config.json_schema()
    assert {"sources", "work", "traceability"} <= set(schema["properties"])
    for name in ("SourceConfig", "MappingConfig", "TypeRuleConfig", "StatusRuleConfig", "WorkSettingsConfig",
                 "TraceabilityConfig"):  # fmt: skip
        assert schema["$defs"][name]["additionalProperties"] is False
    source = schema["$defs"]["SourceConfig"]
    assert set(source["required"]) == {"name", "kind"} and "credentials" not in source["properties"]
    assert source["properties"]["kind"]["enum"] == ["jira", "github", "gitlab", "files"]
    assert schema["$defs"]["WorkSettingsConfig"]["properties"]["flow_level"]["enum"] == ["story", "feature"]


FILE = """\
version: 1
workspace: {slug: acme, name: Acme}
teams: [{slug: payments, name: Payments}]
work: {flow_level: feature}
traceability: {label_pattern: '^goal:(\\d+)$'}
sources:
  - name: pay
    kind: jira
    base_url: https://acme.atlassian.net/
    team: payments
    credentials_env: {email: T_JIRA_EMAIL, token: T_JIRA_TOKEN}
    settings: {jql: project = PAY}
    mapping:
      types: {Spike: {level: task, flow_type: risk}}
      statuses: {Parked: {step: backlog, stage: discovery}}
  - name: sheet
    kind: files
"""


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv(sources.SECRET_ENV, Fernet.generate_key().decode())
    monkeypatch.setenv("T_JIRA_EMAIL", "bot@example.com")
    monkeypatch.setenv("T_JIRA_TOKEN", TOKEN)
    return monkeypatch


def _source(db, name: str) -> Source:
    with db.read() as s:
        src = s.scalar(select(Source).where(Source.name == name))
        s.expunge(src)
        return src


def _count(db) -> int:
    with db.read() as s:
        return audit.count(s)


def test_apply_creates_sources_and_settings_then_changes_nothing(db, secret):
    first = config.apply(db, parsed(FILE), ACTOR)
    assert {"source pay", "source sheet", "team payments"} <= set(first.created)
    assert "work settings: flow_level" in first.updated and "traceability settings: label_pattern" in first.updated
    pay = _source(db, "pay")
    assert (pay.kind, pay.base_url, pay.settings) == ("jira", "https://acme.atlassian.net", {"jql": "project = PAY"})
    assert pay.mapping == {
        "types": {"Spike": {"level": "task", "flow_type": "risk"}},
        "statuses": {"Parked": {"step": "backlog", "stage": "discovery", "active": False}},
    }
    assert TOKEN not in pay.credentials
    assert sources.decrypt_credentials(pay.credentials) == {"email": "bot@example.com", "api_token": TOKEN}
    with db.read() as s:
        ws = s.scalar(select(Workspace).where(Workspace.slug == "acme"))
        assert ws.settings["work"] == {"flow_level": "feature"}
        assert ws.settings["traceability"] == {"label_pattern": r"^goal:(\d+)$"}
        assert traceability.flow_level(s, ws.id) == "feature"
        assert pay.team_id is not None
    entries = _count(db)
    again = config.apply(db, parsed(FILE), ACTOR)
    assert not again.changed and "source pay" in again.unchanged and _count(db) == entries

    secret.setenv("T_JIRA_TOKEN", "another-token")
    rotated = config.apply(db, parsed(FILE), ACTOR)
    assert rotated.updated == ["source pay: credentials"]
    assert sources.decrypt_credentials(_source(db, "pay").credentials)["api_token"] == "another-token"


def test_credentials_env_unset_partly_set_and_kind_or_team_changes(db, secret):
    config.apply(db, parsed(FILE), ACTOR)
    secret.delenv("T_JIRA_EMAIL")
    secret.delenv("T_JIRA_TOKEN")
    report = config.apply(db, parsed(FILE), ACTOR)
    assert not report.changed
    assert report.notes == ["source pay: credentials left as they are (T_JIRA_EMAIL, T_JIRA_TOKEN not set in the "
                            "environment)"]  # fmt: skip
    secret.setenv("T_JIRA_TOKEN", TOKEN)
    with pytest.raises(ConfigurationError, match=r"sources\[0\].credentials_env: set T_JIRA_EMAIL too"):
        config.apply(db, parsed(FILE), ACTOR)
    secret.delenv("T_JIRA_TOKEN")
    with pytest.raises(ConfigurationError, match="a kind cannot change"):
        config.apply(db, parsed(FILE.replace("kind: files", "kind: github")), ACTOR)
    with pytest.raises(ConfigurationError, match=r"sources\[0\].team: no team 'nobody'"):
        config.apply(db, parsed(FILE.replace("team: payments", "team: nobody")), ACTOR)
    moved = config.apply(db, parsed(FILE.replace("    team: payments\n", "").replace("project = PAY", "x")), ACTOR)
    assert moved.updated == ["source pay: settings, team"]
    dropped = config.apply(db, parsed(FILE.split("  - name: sheet")[0]), ACTOR)
    assert dropped.unmanaged_sources == ["sheet"]


def test_make_credentials():
    assert sources.make_credentials("jira", email="a@b.c", token="t") == {"email": "a@b.c", "api_token": "t"}
    assert sources.make_credentials("jira", token="pat") == {"token": "pat"}
    assert sources.make_credentials("github", token="t") == {"token": "t"}
    assert sources.make_credentials("gitlab") == {}
    with pytest.raises(InvalidInputError, match="files source has no credentials"):
        sources.make_credentials("files", token="t")
    with pytest.raises(InvalidInputError, match="token only"):
        sources.make_credentials("github", email="a@b.c", token="t")
    with pytest.raises(InvalidInputError, match="needs a token"):
        sources.make_credentials("jira", email="a@b.c")


def _record(ext: str, key: str, issue_type: str, status: str, history: tuple[tuple[str, str], ...] = (), **kw):
    at = datetime(2026, 9, 1, tzinfo=UTC)
    changes = tuple(StatusChangeRecord(at, to, frm) for frm, to in history)
    return WorkRecord(ext, issue_type, status, at, key=key, history=changes, **kw)


def test_mapping_report_and_item_by_key(db, admin_setup, admin_actor):
    with db.write() as s:
        jira = sources.create_source(s, admin_actor, admin_setup.workspace_id, "j", "jira").id
        other = sources.create_source(s, admin_actor, admin_setup.workspace_id, "f", "files").id
    records = [
        _record("1", "PAY-1", "Story", "Done", (("Parked", "In Progress"), ("In Progress", "Done"))),
        _record("2", "PAY-2", "Spike", "Waiting for Godot", status_category="indeterminate"),
        _record("3", "PAY-3", "Bug", "Limbo"),
    ]
    imports.import_records(db, admin_actor, jira, records)
    imports.import_records(db, admin_actor, other, [_record("9", "PAY-1", "Story", "Done")])
    with db.read() as s:
        report = sources.mapping_report(s, admin_actor, jira)
        assert report.unmapped_types == ("Spike",)
        assert report.unmapped_statuses == ("Limbo", "Parked")
        assert report.by_category == ("Waiting for Godot",)
        assert sources.mapping_report(s, admin_actor, other).complete
        ws = admin_setup.workspace_id
        assert traceability.item_by_key(s, admin_actor, ws, "PAY-2").external_id == "2"
        assert traceability.item_by_key(s, admin_actor, ws, " PAY-1 ", source_id=other).external_id == "9"
        with pytest.raises(InvalidInputError, match="several sources have a work item 'PAY-1'"):
            traceability.item_by_key(s, admin_actor, ws, "PAY-1")
        with pytest.raises(NotFoundError, match="no work item with key 'PAY-9'"):
            traceability.item_by_key(s, admin_actor, ws, "PAY-9")
        assert traceability.flow_level(s, ws) == "story"


def test_the_example_file_has_a_jira_source_with_credentials_from_the_environment():
    example = config.load(Path(__file__).resolve().parents[1] / "examples" / "okrflow.yaml")
    jira = next(s for s in example.sources if s.kind == "jira")
    assert jira.credentials_env == {"email": "JIRA_EMAIL", "token": "JIRA_TOKEN"}
    assert example.work is not None and example.traceability is not None
