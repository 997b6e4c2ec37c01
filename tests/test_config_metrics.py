"""okrflow.yaml: the ``metrics:``, ``okr:`` and ``north_star:`` sections — validation, schema, idempotent apply."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from okrflow import cli
from okrflow.domain.access import cli_actor
from okrflow.domain.errors import ConfigurationError
from okrflow.services import audit, config, okr, tenancy
from okrflow.store.db import ENV_DATABASE_URL
from okrflow.store.models import Workspace
from okrflow.store.models_okr import Metric, MetricVersion

ACTOR = cli_actor("tester")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "okrflow.yaml"

BASE = """\
version: 1
workspace: {slug: acme, name: Acme}
teams:
  - {slug: payments, name: Payments}
okr:
  checkin_due_days: 10
  confidence: {on_track: 8, at_risk: 5}
  include_aligned_in_progress: false
north_star: conversion
metrics:
  - key: conversion
    name: Checkout conversion
    definition: Orders per basket session.
    unit: "%"
    indicator: leading
    aggregation: ratio
    numerator: orders
    denominator: sessions
    dimensions: [team]
    freshness: {warn_after_hours: 26, error_after_hours: 50}
    thresholds: {green: 3.2, red: 2.8}
  - key: orders
    name: Orders
    aggregation: sum
    dimensions: [team]
  - key: sessions
    name: Basket sessions
    aggregation: sum
    dimensions: [team]
  - key: error_rate
    name: API error rate
    direction: band
    thresholds: {low: 0.1, high: 0.5}
"""


def problems_of(text: str) -> list[str]:
    _, problems = config.parse(textwrap.dedent(text))
    return [p.render("okrflow.yaml") for p in problems]


def parsed(text: str) -> config.OkrflowConfig:
    loaded, problems = config.parse(text)
    assert loaded is not None, problems
    return loaded


def audit_entries(db) -> int:
    with db.read() as s:
        return audit.count(s)


def versions_of(db, key: str) -> list[MetricVersion]:
    with db.read() as s:
        metric_id = s.scalar(select(Metric.id).where(Metric.key == key))
        return list(
            s.scalars(select(MetricVersion).where(MetricVersion.metric_id == metric_id).order_by(MetricVersion.number))
        )


# ------------------------------------------------------------------ validation (no database)


def test_the_example_file_has_metrics_okr_settings_and_a_north_star():
    loaded = config.load(EXAMPLE)
    keys = [m.key for m in loaded.metrics]
    assert len(keys) >= 3 and loaded.north_star in keys
    assert loaded.okr is not None and loaded.okr.checkin_due_days == 7


def test_metric_problems_are_named_by_path_and_line():
    found = problems_of(
        """\
        version: 1
        workspace: {slug: acme, name: Acme}
        metrics:
          - {key: Bad Key, name: A}
          - {key: r, name: R, aggregation: ratio}
          - {key: t, name: T, thresholds: {green: 1}}
          - {key: f, name: F, freshness: {warn_after_hours: 5, error_after_hours: 1}}
          - {key: i, name: I, indicator: sideways}
          - {key: u, name: U, colour: red}
          - {key: b, name: B, thresholds: {green: 1, red: 0, low: 0, high: 1}}
        """
    )
    assert any(p.startswith("okrflow.yaml:4: metrics[0].key: 'Bad Key' is not a valid metric key") for p in found)
    assert "okrflow.yaml:5: metrics[1]: a ratio metric names its numerator and denominator (metric keys)" in found
    assert "okrflow.yaml:6: metrics[2].thresholds: thresholds come in pairs: green and red, or low and high" in found
    assert "okrflow.yaml:7: metrics[3].freshness: error_after_hours must not be below warn_after_hours" in found
    assert any(p.startswith("okrflow.yaml:8: metrics[4].indicator: 'sideways' is not allowed") for p in found)
    assert "okrflow.yaml:9: metrics[5].colour: unknown key" in found
    assert "okrflow.yaml:10: metrics[6].thresholds: use green/red or low/high, not both" in found


def test_duplicate_metric_keys_and_okr_settings_problems():
    dupes = problems_of(
        """\
        version: 1
        workspace: {slug: acme, name: Acme}
        metrics:
          - {key: a, name: A}
          - {key: a, name: A again}
        """
    )
    assert dupes == ["okrflow.yaml:5: metrics[1].key: metric 'a' is defined twice"]
    found = problems_of(
        """\
        version: 1
        workspace: {slug: acme, name: Acme}
        okr:
          checkin_due_days: 0
          confidnce: {on_track: 7}
        north_star: Not A Key
        """
    )
    assert any(p.startswith("okrflow.yaml:4: okr.checkin_due_days:") for p in found), found
    assert "okrflow.yaml:5: okr.confidnce: unknown key" in found
    assert any(p.startswith("okrflow.yaml:6: north_star: 'Not A Key' is not a valid metric key") for p in found)
    # The thresholds rule of services.okr.validate_settings: at_risk must not exceed on_track.
    inverted = problems_of("version: 1\nworkspace: {slug: a, name: A}\nokr: {confidence: {on_track: 3, at_risk: 5}}\n")
    assert inverted == ["okrflow.yaml:3: okr: confidence thresholds must satisfy 0 ≤ at_risk ≤ on_track ≤ 10"]


def test_json_schema_describes_the_new_sections_and_forbids_unknown_keys():
    schema = config.json_schema()
    assert {"metrics", "okr", "north_star"} <= set(schema["properties"])
    for name in ("MetricConfig", "OkrConfig", "ConfidenceConfig", "FreshnessConfig", "ThresholdsConfig"):
        assert schema["$defs"][name]["additionalProperties"] is False
    metric = schema["$defs"]["MetricConfig"]
    assert set(metric["required"]) == {"key", "name"}
    assert metric["properties"]["aggregation"]["enum"] == ["sum", "mean", "last", "ratio"]


# ------------------------------------------------------------------ apply (both engines)


def test_apply_defines_metrics_settings_and_north_star_then_changes_nothing(db):
    first = config.apply(db, parsed(BASE), ACTOR)
    assert {"metric conversion", "metric orders", "metric sessions", "metric error_rate"} <= set(first.created)
    assert "north star: conversion" in first.updated
    assert any(u.startswith("OKR settings:") for u in first.updated)
    with db.read() as s:
        ws = s.scalar(select(Workspace).where(Workspace.slug == "acme"))
        settings = okr.OkrSettings.of(ws)
        assert (settings.checkin_due_days, settings.confidence.on_track, settings.confidence.at_risk) == (10, 8, 5)
        assert settings.include_aligned_in_progress is False
        conversion = s.scalar(select(Metric).where(Metric.key == "conversion"))
        assert ws.north_star_metric_id == conversion.id
    (v1,) = versions_of(db, "conversion")
    assert (v1.numerator_key, v1.denominator_key, v1.dimensions, v1.unit) == ("orders", "sessions", ["team"], "%")
    assert v1.thresholds == {"green": 3.2, "red": 2.8} and v1.freshness_error_hours == 50
    assert v1.author == "cli:tester" and v1.reason == config.APPLY_REASON
    assert versions_of(db, "error_rate")[0].thresholds == {"low": 0.1, "high": 0.5}

    entries = audit_entries(db)
    again = config.apply(db, parsed(BASE), ACTOR)
    assert not again.changed and again.created == [] and again.updated == []
    assert {"OKR settings", "metric conversion", "north star conversion"} <= set(again.unchanged)
    assert audit_entries(db) == entries
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(MetricVersion)) == 4


def test_changed_definition_makes_exactly_one_new_version(db):
    config.apply(db, parsed(BASE), ACTOR)
    changed = BASE.replace("thresholds: {green: 3.2, red: 2.8}", "thresholds: {green: 3.4, red: 2.8}")
    changed = changed.replace("definition: Orders per basket session.", "definition: Orders per human session.")
    dry = config.apply(db, parsed(changed), ACTOR, dry_run=True)
    assert dry.updated == ["metric conversion: version 2 (definition, thresholds)"]
    assert len(versions_of(db, "conversion")) == 1  # the dry run wrote nothing

    entries = audit_entries(db)
    report = config.apply(db, parsed(changed), ACTOR)
    assert report.updated == ["metric conversion: version 2 (definition, thresholds)"]
    assert audit_entries(db) == entries + 1
    v1, v2 = versions_of(db, "conversion")
    assert v1.thresholds == {"green": 3.2, "red": 2.8} and v1.definition == "Orders per basket session."  # immutable
    assert v2.thresholds == {"green": 3.4, "red": 2.8} and v2.reason == config.APPLY_REASON
    assert not config.apply(db, parsed(changed), ACTOR).changed
    assert len(versions_of(db, "conversion")) == 2

    # A reason in the file is recorded with the version it causes.
    with_reason = changed.replace(
        "    name: Orders\n", "    name: Orders\n    unit: orders\n    reason: count refunds separately\n"
    )
    config.apply(db, parsed(with_reason), ACTOR)
    assert [(v.number, v.reason) for v in versions_of(db, "orders")][-1] == (2, "count refunds separately")
    with db.read() as s:
        assert audit.verify(s).ok


def test_owner_by_email_unmanaged_metrics_and_missing_north_star(db):
    config.apply(db, parsed(BASE), ACTOR)
    with_owner = BASE.replace("    name: Orders\n", "    name: Orders\n    owner: Ada@Example.com\n")
    with pytest.raises(ConfigurationError, match=r"metrics\[1\].owner: no person with e-mail 'Ada@Example.com'"):
        config.apply(db, parsed(with_owner), ACTOR)
    with db.write() as s:
        ws = tenancy.workspace_by_slug(s, "acme")
        assert ws is not None
        ada = tenancy.create_person(s, ACTOR, ws.id, "Ada Lovelace", "ada@example.com", "PM", None)
    report = config.apply(db, parsed(with_owner), ACTOR)
    assert report.updated == ["metric orders: version 2 (owner_person_id)"]
    assert versions_of(db, "orders")[-1].owner_person_id == ada.id

    fewer = BASE.replace("  - key: error_rate\n    name: API error rate\n    direction: band\n", "")
    fewer = fewer.replace("    thresholds: {low: 0.1, high: 0.5}\n", "")
    assert config.apply(db, parsed(fewer), ACTOR).unmanaged_metrics == ["error_rate"]
    # Without a metrics section, metrics are not looked at at all.
    plain = "version: 1\nworkspace: {slug: acme, name: Acme}\n"
    assert config.apply(db, parsed(plain), ACTOR).unmanaged_metrics == []
    with pytest.raises(ConfigurationError, match="north_star: no metric 'nope'"):
        config.apply(db, parsed(plain + "north_star: nope\n"), ACTOR)


def test_config_commands_with_metrics(db_url, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    runner = CliRunner()
    path = tmp_path / "okrflow.yaml"
    path.write_text(BASE)
    checked = runner.invoke(cli.app, ["config", "check", str(path)])
    assert checked.exit_code == 0 and "1 team(s), 4 metric(s)" in checked.stdout
    first = runner.invoke(cli.app, ["--database-url", db_url, "config", "apply", str(path)])
    assert first.exit_code == 0, first.output
    assert "+ metric conversion created" in first.stdout and "~ north star: conversion updated" in first.stdout
    second = runner.invoke(cli.app, ["--database-url", db_url, "config", "apply", str(path)])
    assert second.exit_code == 0 and "Nothing to change" in second.stdout
    path.write_text(BASE.replace("name: Basket sessions", "name: Sessions with a basket"))
    third = runner.invoke(cli.app, ["--database-url", db_url, "config", "apply", str(path)])
    assert "~ metric sessions: version 2 (name) updated" in third.stdout
    versions = runner.invoke(cli.app, ["--database-url", db_url, "metrics", "versions", "sessions"])
    assert "okrflow.yaml via config apply" in versions.stdout and "v2 (current)" in versions.stdout
