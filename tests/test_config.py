"""Configuration as code: validation with paths and lines, JSON Schema, idempotent apply on both engines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from okrflow.domain.access import cli_actor
from okrflow.domain.errors import ConfigurationError
from okrflow.services import audit, config, tenancy
from okrflow.store.models import Team

ACTOR = cli_actor("tester")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "okrflow.yaml"


def problems_of(text: str) -> list[str]:
    _, problems = config.parse(textwrap.dedent(text))
    return [p.render("okrflow.yaml") for p in problems]


def test_the_example_file_is_valid():
    assert config.check(EXAMPLE) == []
    loaded = config.load(EXAMPLE)
    assert loaded.workspace.slug == "acme" and len(loaded.teams) >= 3


def test_unknown_key_is_named_by_its_path_and_line():
    found = problems_of(
        """\
        version: 1
        workspace: {slug: acme, name: Acme}
        teams:
          - {slug: a, name: A}
          - {slug: b, name: B}
          - slug: c
            nmae: C
        """
    )
    assert "okrflow.yaml:7: teams[2].nmae: unknown key" in found
    assert "okrflow.yaml:6: teams[2].name: required key is missing" in found


def test_unknown_top_level_key_and_nested_key():
    found = problems_of("version: 1\nworkspace: {slug: acme, name: Acme, colour: red}\nmetricz: []\n")
    assert "okrflow.yaml:2: workspace.colour: unknown key" in found
    assert "okrflow.yaml:3: metricz: unknown key" in found


def test_yaml_syntax_error_has_a_line():
    found = problems_of("version: 1\nworkspace:\n  slug: acme\n  name: [unclosed\n")
    assert len(found) == 1 and found[0].startswith("okrflow.yaml:") and "invalid YAML" in found[0]
    line = int(found[0].split(":")[1])
    assert line >= 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("- just a list\n", "the top level must be a mapping"),
        ("version: 2\nworkspace: {slug: a, name: A}\n", "version: unsupported version 2"),
        ("workspace: {slug: a, name: A}\n", "version: required key is missing"),
        ("version: 1\nworkspace: {slug: Not A Slug, name: A}\n", "workspace.slug: 'Not A Slug' is not a valid slug"),
        ("version: 1\nworkspace: {slug: a, name: A}\nteams: [{slug: t, name: T, kind: squad}]\n", "teams[0].kind"),
        ("version: 1\nversion: 1\nworkspace: {slug: a, name: A}\n", "okrflow.yaml:2: version: duplicate key"),
    ],
)
def test_other_problems(text, expected):
    assert any(expected in p for p in problems_of(text)), problems_of(text)


def test_tree_rules_unknown_parent_duplicate_slug_and_cycle():
    found = problems_of(
        """\
        version: 1
        workspace: {slug: acme, name: Acme}
        teams:
          - {slug: a, name: A, parent: c}
          - {slug: b, name: B, parent: a}
          - {slug: c, name: C, parent: b}
          - {slug: d, name: D, parent: nobody}
          - {slug: d, name: D again}
        """
    )
    assert any("teams[0].parent: the team parents form a cycle: a -> c -> b -> a" in p for p in found), found
    assert "okrflow.yaml:7: teams[3].parent: parent 'nobody' is not a team defined in this file" in found
    assert "okrflow.yaml:8: teams[4].slug: team 'd' is defined twice" in found


def test_load_raises_configuration_error_naming_the_first_problem(tmp_path):
    path = tmp_path / "okrflow.yaml"
    path.write_text("version: 1\nworkspace: {slug: acme, name: Acme, x: 1}\nteams: [{slug: t}]\n")
    with pytest.raises(ConfigurationError, match=r"okrflow.yaml:2: workspace.x: unknown key \(and 1 more"):
        config.load(path)
    assert config.check(tmp_path / "missing.yaml")[0].message.startswith("cannot read the file")


def test_json_schema_forbids_unknown_keys_everywhere():
    schema = config.json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"version", "workspace"}
    for definition in schema["$defs"].values():
        assert definition["additionalProperties"] is False


CONFIG = """\
version: 1
workspace:
  slug: acme
  name: Acme Payments
  description: Payments for small merchants.
teams:
  - {slug: checkout, name: Checkout, parent: product}
  - {slug: sre, name: SRE, kind: enabling, parent: platform}
  - {slug: product, name: Product, kind: leadership}
  - {slug: platform, name: Platform, kind: platform, parent: product}
"""


def _parse(text: str) -> config.OkrflowConfig:
    loaded, problems = config.parse(text)
    assert loaded is not None, problems
    return loaded


def _tree(db) -> dict[str, tuple[str, str | None, str]]:
    with db.read() as s:
        teams = list(s.scalars(select(Team)))
        slugs = {t.id: t.slug for t in teams}
        return {t.slug: (t.name, slugs.get(t.parent_id), t.kind) for t in teams}


def _entries(db) -> int:
    with db.read() as s:
        return audit.count(s)


def test_apply_creates_then_changes_nothing(db):
    report = config.apply(db, _parse(CONFIG), ACTOR)
    assert report.created == [
        "workspace acme",
        "team product",
        "team checkout",
        "team platform",
        "team sre",
    ]
    assert _tree(db) == {
        "product": ("Product", None, "leadership"),
        "checkout": ("Checkout", "product", "product"),
        "platform": ("Platform", "product", "platform"),
        "sre": ("SRE", "platform", "enabling"),
    }
    entries = _entries(db)
    again = config.apply(db, _parse(CONFIG), ACTOR)
    assert not again.changed and again.created == [] and again.updated == []
    assert len(again.unchanged) == 5
    assert _entries(db) == entries
    with db.read() as s:
        assert audit.verify(s).ok
        actors = {e.actor for e in audit.history(s, ACTOR, limit=100)}
        assert actors == {"cli:tester"}


def test_apply_updates_moves_and_reports_unmanaged_teams(db):
    config.apply(db, _parse(CONFIG), ACTOR)
    with db.write() as s:
        ws = tenancy.workspace_by_slug(s, "acme")
        assert ws is not None
        tenancy.create_team(s, ACTOR, ws.id, "legacy", "Legacy")
    # Turn the tree upside down: platform becomes the root, product moves below sre.
    changed = CONFIG.replace(
        "{slug: product, name: Product, kind: leadership}",
        "{slug: product, name: Product Org, kind: leadership, parent: sre}",
    )
    changed = changed.replace(
        "{slug: platform, name: Platform, kind: platform, parent: product}",
        "{slug: platform, name: Platform, kind: platform}",
    )
    changed = changed.replace("name: Acme Payments", "name: Acme")
    dry = config.apply(db, _parse(changed), ACTOR, dry_run=True)
    assert dry.dry_run and dry.changed
    assert _tree(db)["platform"][1] == "product"  # the dry run changed nothing

    report = config.apply(db, _parse(changed), ACTOR)
    assert sorted(report.updated) == ["team platform: parent", "team product: name, parent", "workspace acme: name"]
    assert report.unmanaged_teams == ["legacy"]
    tree = _tree(db)
    assert tree["platform"] == ("Platform", None, "platform")
    assert tree["product"] == ("Product Org", "sre", "leadership")
    assert "legacy" in tree  # never deleted
    assert not config.apply(db, _parse(changed), ACTOR).changed
    with db.read() as s:
        assert audit.verify(s).ok
