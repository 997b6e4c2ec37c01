"""Configuration as code: ``okrflow.yaml``, validated by Pydantic, applied idempotently.

The file describes what a workspace should look like: the workspace and its team tree, its OKR settings and
north-star metric, the metric definitions of its KPI catalog, its work settings (the flow level), its
traceability settings (the label pattern) and its sources of work with their mappings. Credentials never go
in the file: a source names the environment variables that hold them (``credentials_env``).
``check`` finds every problem without a database (for CI), ``apply`` brings the database in line with the
file: it creates and updates, never deletes, and a second apply of the same file changes nothing and writes
no audit entry. A changed metric definition becomes a new version of the metric (nothing is edited in place).

Adding a section: add a field to :class:`OkrflowConfig` (its model with ``extra="forbid"``) and a function
``(session, actor, config, report)`` to ``_APPLIERS``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor
from okrflow.domain.errors import ConfigurationError
from okrflow.services import tenancy
from okrflow.store.db import Database
from okrflow.store.models import Person, Team, Workspace
from okrflow.store.models_okr import Metric

CONFIG_VERSION = 1
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
METRIC_KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
SOURCE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
SECRET_SETTING_WORDS = ("token", "password", "secret", "api_key", "apikey", "credential")
APPLY_REASON = "okrflow.yaml via config apply"
TeamKind = Literal["product", "platform", "enabling", "complicated-subsystem", "leadership", "other"]


# ------------------------------------------------------------------ the file's models


class _Section(BaseModel):
    """Every model of the file refuses unknown keys, so a typo is an error and not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WorkspaceConfig(_Section):
    slug: str = Field(pattern=SLUG_PATTERN, description="Stable identifier; lower-case letters, digits, dashes.")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""


class TeamConfig(_Section):
    slug: str = Field(pattern=SLUG_PATTERN, description="Stable identifier of the team within the workspace.")
    name: str = Field(min_length=1, max_length=200)
    kind: TeamKind = Field("product", description="Team Topologies kind (or leadership / other).")
    parent: str | None = Field(None, description="Slug of the parent team, defined in this file.")
    description: str = ""


class ConfidenceConfig(_Section):
    on_track: float = Field(7.0, ge=0, le=10, description="Confidence from which a key result is on track.")
    at_risk: float = Field(4.0, ge=0, le=10, description="Confidence from which it is at risk (below: off track).")


class OkrConfig(_Section):
    """The workspace's OKR settings (``workspaces.settings.okr``)."""

    checkin_due_days: int = Field(7, ge=1, le=90, description="A check-in is due after this many days.")
    confidence: ConfidenceConfig = Field(default_factory=lambda: ConfidenceConfig.model_validate({}))
    include_aligned_in_progress: bool = Field(
        True, description="Objective progress counts the aligned child objectives (with their alignment weight)."
    )

    @model_validator(mode="after")
    def _valid_settings(self) -> OkrConfig:
        from okrflow.domain.errors import InvalidInputError
        from okrflow.services.okr import validate_settings

        try:
            validate_settings(self.model_dump())
        except InvalidInputError as exc:
            raise ValueError(exc.message) from None
        return self


class FreshnessConfig(_Section):
    warn_after_hours: float | None = Field(None, gt=0, description="Stale (warning) after this many hours.")
    error_after_hours: float | None = Field(None, gt=0, description="Stale (error) after this many hours.")

    @model_validator(mode="after")
    def _ordered(self) -> FreshnessConfig:
        warn, error = self.warn_after_hours, self.error_after_hours
        if warn is not None and error is not None and error < warn:
            raise ValueError("error_after_hours must not be below warn_after_hours")
        return self


class ThresholdsConfig(_Section):
    """``green``/``red`` (which side is good follows the metric's direction) or a target band ``low``/``high``."""

    green: float | None = None
    red: float | None = None
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _pairs(self) -> ThresholdsConfig:
        colours, band = (self.green, self.red), (self.low, self.high)
        if (colours[0] is None) != (colours[1] is None) or (band[0] is None) != (band[1] is None):
            raise ValueError("thresholds come in pairs: green and red, or low and high")
        if colours[0] is not None and band[0] is not None:
            raise ValueError("use green/red or low/high, not both")
        if band[0] is not None and band[1] is not None and band[0] > band[1]:
            raise ValueError("low must not exceed high")
        return self


class MetricConfig(_Section):
    """A metric definition of the KPI catalog. A change makes version n+1 of the definition."""

    key: str = Field(pattern=METRIC_KEY_PATTERN, description="Stable key: lower-case letters, digits, _ . -")
    name: str = Field(min_length=1, max_length=200)
    definition: str = Field("", description="The business definition: the glossary text.")
    owner: str | None = Field(None, description="E-mail of the owning person of the workspace.")
    unit: str = Field("", max_length=32)
    indicator: Literal["leading", "lagging"] = "lagging"
    direction: Literal["increase", "decrease", "band"] = Field("increase", description="Which way is better.")
    aggregation: Literal["sum", "mean", "last", "ratio"] = "last"
    numerator: str | None = Field(None, pattern=METRIC_KEY_PATTERN, description="Ratio: key of the numerator.")
    denominator: str | None = Field(None, pattern=METRIC_KEY_PATTERN, description="Ratio: key of the denominator.")
    dimensions: list[str] = Field(default_factory=list, description="Dimension names, e.g. [team].")
    source: str = Field("manual", max_length=200)
    calculation: str = Field("", description="The calculation rule, as text or SQL.")
    freshness: FreshnessConfig | None = None
    thresholds: ThresholdsConfig | None = None
    reason: str | None = Field(
        None, description="Why the definition changed: recorded with the new version (default: config apply)."
    )

    @model_validator(mode="after")
    def _ratio_has_parts(self) -> MetricConfig:
        if self.aggregation == "ratio" and not (self.numerator and self.denominator):
            raise ValueError("a ratio metric names its numerator and denominator (metric keys)")
        if len(set(self.dimensions)) != len(self.dimensions) or not all(self.dimensions):
            raise ValueError("dimensions are distinct, non-empty names")
        return self

    def definition_fields(self, owner_person_id: int | None) -> dict[str, Any]:
        """The fields of ``catalog.DEFINITION_FIELDS`` this entry asks for."""
        fresh = self.freshness or FreshnessConfig.model_validate({})
        return {
            "name": self.name,
            "definition": self.definition,
            "owner_person_id": owner_person_id,
            "unit": self.unit,
            "indicator": self.indicator,
            "direction": self.direction,
            "aggregation": self.aggregation,
            "numerator_key": self.numerator,
            "denominator_key": self.denominator,
            "dimensions": list(self.dimensions),
            "source": self.source,
            "calculation": self.calculation,
            "freshness_warn_hours": fresh.warn_after_hours,
            "freshness_error_hours": fresh.error_after_hours,
            "thresholds": self.thresholds.model_dump(exclude_none=True) if self.thresholds else {},
        }


# ------------------------------------------------------------------ work, traceability, sources

LevelName = Literal["theme", "initiative", "epic", "feature", "story", "task", "none"]
FlowTypeName = Literal["feature", "defect", "risk", "debt"]
StepName = Literal["backlog", "planning", "development", "testing", "deployment", "verification", "done"]
StageName = Literal["discovery", "delivery", "operation", "support"]


class WorkSettingsConfig(_Section):
    """The workspace's work settings (``workspaces.settings.work``)."""

    flow_level: Literal["story", "feature"] = Field(
        "story", description="Which level of the work hierarchy counts as the flow item: story or feature."
    )


class TraceabilityConfig(_Section):
    """How work is linked to key results automatically (``workspaces.settings.traceability``)."""

    label_pattern: str = Field(
        r"^okr:(?:KR-)?(\d+)$",
        description="Regular expression for labels that name a key result; its first group is the key result id.",
    )

    @model_validator(mode="after")
    def _pattern_compiles(self) -> TraceabilityConfig:
        try:
            compiled = re.compile(self.label_pattern)
        except re.error as exc:
            raise ValueError(f"label_pattern is not a valid regular expression: {exc}") from None
        if compiled.groups < 1:
            raise ValueError("label_pattern needs a group, e.g. ^okr:(?:KR-)?(\\d+)$, that captures the key result id")
        return self


class TypeRuleConfig(_Section):
    level: LevelName = Field(description="Level in the work hierarchy; none: not a work item (e.g. a release).")
    flow_type: FlowTypeName = Field("feature", description="Flow Framework item type.")
    note: str = ""


class StatusRuleConfig(_Section):
    step: StepName = Field(description="Value-stream step.")
    stage: StageName = "delivery"
    active: bool = Field(False, description="Time in this status is active work (else waiting).")


class MappingConfig(_Section):
    """A source's rules over the defaults of its kind; names match case-insensitively, in any language."""

    types: dict[str, TypeRuleConfig] = Field(default_factory=dict, description="Source issue type → level.")
    statuses: dict[str, StatusRuleConfig] = Field(default_factory=dict, description="Source status → step.")
    status_categories: dict[str, StatusRuleConfig] = Field(
        default_factory=dict, description="Fallback by the source's status category (Jira: new, indeterminate, done)."
    )

    @model_validator(mode="after")
    def _valid_rules(self) -> MappingConfig:
        from okrflow.domain.errors import InvalidInputError
        from okrflow.domain.work import normalise
        from okrflow.services.sources import parse_mapping

        for section in ("types", "statuses", "status_categories"):
            seen: dict[str, str] = {}
            for name in getattr(self, section):
                key = normalise(name)
                if not key:
                    raise ValueError(f"{section}: a name is empty")
                if key in seen:
                    raise ValueError(f"{section}: {seen[key]!r} and {name!r} are the same name (case is ignored)")
                seen[key] = name
        try:
            parse_mapping(self.stored())
        except InvalidInputError as exc:
            raise ValueError(exc.message) from None
        return self

    def stored(self) -> dict[str, Any]:
        """The mapping as ``sources.mapping`` stores it (the shape ``sources.parse_mapping`` reads)."""
        out: dict[str, Any] = {}
        if self.types:
            out["types"] = {
                name: {"level": r.level, "flow_type": r.flow_type} | ({"note": r.note} if r.note else {})
                for name, r in self.types.items()
            }
        for section in ("statuses", "status_categories"):
            rules = getattr(self, section)
            if rules:
                out[section] = {name: r.model_dump() for name, r in rules.items()}
        return out


class SourceConfig(_Section):
    """A source of work. Matched by name; its kind cannot change. Credentials come from the environment."""

    name: str = Field(pattern=SOURCE_NAME_PATTERN, description="Stable name: lower-case letters, digits, _ . -")
    kind: Literal["jira", "github", "gitlab", "files"]
    base_url: str = Field("", description="e.g. https://acme.atlassian.net or https://api.github.com")
    team: str | None = Field(None, pattern=SLUG_PATTERN, description="Slug of the team the source's work is of.")
    settings: dict[str, Any] = Field(default_factory=dict, description="Connector settings (see docs/connectors).")
    mapping: MappingConfig | None = Field(None, description="Rules over the kind's defaults; absent: left as is.")
    credentials_env: dict[str, str] = Field(
        default_factory=dict,
        description="Credential → name of the environment variable holding it, e.g. {email: JIRA_EMAIL, "
        "token: JIRA_TOKEN}. Absent: stored credentials are left as they are.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_secrets_in_the_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and "credentials" in data:
            raise ValueError(
                "credentials never go in the file: name the environment variables that hold them in credentials_env"
            )
        return data

    @model_validator(mode="after")
    def _valid_credentials_env(self) -> SourceConfig:
        from okrflow.services.sources import CREDENTIAL_KEYS

        allowed = CREDENTIAL_KEYS[self.kind]
        for key, var in self.credentials_env.items():
            if key not in allowed:
                what = ", ".join(allowed) if allowed else "none (a files source has no credentials)"
                raise ValueError(f"credentials_env.{key}: a {self.kind} source's credentials are {what}")
            if not re.match(ENV_NAME_PATTERN, var):
                raise ValueError(f"credentials_env.{key}: {var!r} is not the name of an environment variable")
        if "api_token" in self.credentials_env and "token" in self.credentials_env:
            raise ValueError("credentials_env: give token or api_token, not both")
        if "email" in self.credentials_env and not ({"token", "api_token"} & set(self.credentials_env)):
            raise ValueError("credentials_env: an email needs a token (the Jira Cloud API token) too")
        for key in self.settings:
            if any(word in key.lower() for word in SECRET_SETTING_WORDS):
                raise ValueError(
                    f"settings.{key}: credentials never go in the file; name an environment variable in credentials_env"
                )
        return self


class OkrflowConfig(_Section):
    """The root of ``okrflow.yaml``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, title="okrflow configuration")

    version: Literal[1] = Field(description="Version of this file format.")
    workspace: WorkspaceConfig
    teams: list[TeamConfig] = Field(default_factory=list)
    okr: OkrConfig | None = Field(None, description="OKR settings of the workspace; absent: left as they are.")
    north_star: str | None = Field(
        None, pattern=METRIC_KEY_PATTERN, description="Key of the workspace's north-star metric."
    )
    metrics: list[MetricConfig] = Field(default_factory=list, description="Metric definitions of the KPI catalog.")
    work: WorkSettingsConfig | None = Field(None, description="Work settings of the workspace; absent: left as is.")
    traceability: TraceabilityConfig | None = Field(
        None, description="Traceability settings of the workspace; absent: left as they are."
    )
    sources: list[SourceConfig] = Field(default_factory=list, description="Sources of work and their mappings.")

    @model_validator(mode="after")
    def _source_names_are_unique(self) -> OkrflowConfig:
        seen: set[str] = set()
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for i, source in enumerate(self.sources):
            if source.name in seen:
                problems.append((("sources", i, "name"), f"source {source.name!r} is defined twice"))
            seen.add(source.name)
        if problems:
            raise _TreeError(problems)
        return self

    @model_validator(mode="after")
    def _metric_keys_are_unique(self) -> OkrflowConfig:
        seen: set[str] = set()
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for i, metric in enumerate(self.metrics):
            if metric.key in seen:
                problems.append((("metrics", i, "key"), f"metric {metric.key!r} is defined twice"))
            seen.add(metric.key)
        if problems:
            raise _TreeError(problems)
        return self

    @model_validator(mode="after")
    def _teams_form_a_tree(self) -> OkrflowConfig:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        by_slug: dict[str, TeamConfig] = {}
        for i, team in enumerate(self.teams):
            if team.slug in by_slug:
                problems.append((("teams", i, "slug"), f"team {team.slug!r} is defined twice"))
            by_slug.setdefault(team.slug, team)
        for i, team in enumerate(self.teams):
            if team.parent is not None and team.parent not in by_slug:
                problems.append((("teams", i, "parent"), f"parent {team.parent!r} is not a team defined in this file"))
        reported: set[str] = set()
        for i, team in enumerate(self.teams):
            seen = [team.slug]
            current = team.parent
            while current is not None and current in by_slug:
                if current in seen:
                    cycle = seen[seen.index(current) :]
                    if not reported & set(cycle):
                        reported.update(cycle)
                        text = " -> ".join([*cycle, current])
                        problems.append((("teams", i, "parent"), f"the team parents form a cycle: {text}"))
                    break
                seen.append(current)
                current = by_slug[current].parent
        if problems:
            raise _TreeError(problems)
        return self


class _TreeError(ValueError):
    """Problems found across several teams, each with its own location."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``okrflow.yaml`` (for editors and CI)."""
    schema = OkrflowConfig.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# ------------------------------------------------------------------ loading and checking


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (``teams[2].nmae``), what, and the line if known."""

    path: str
    message: str
    line: int | None = None

    def render(self, filename: str = "") -> str:
        where = f"{filename}:{self.line}" if self.line is not None else filename
        prefix = f"{where}: " if where else ""
        return f"{prefix}{self.path + ': ' if self.path else ''}{self.message}"


def format_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _node_at(node: yaml.Node | None, loc: tuple[str | int, ...]) -> yaml.Node | None:
    """The YAML node at ``loc``, or the deepest one found on the way. The last part of a path that names a
    mapping key gives the key's node, so an unknown key is reported on its own line."""
    current = node
    for depth, part in enumerate(loc):
        if isinstance(current, yaml.MappingNode) and isinstance(part, str):
            pair = next(((k, v) for k, v in current.value if getattr(k, "value", None) == part), None)
            if pair is None:
                return current
            if depth == len(loc) - 1:
                return pair[0]
            current = pair[1]
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(current.value):
            current = current.value[part]
        else:
            return current
    return current


def _line(root: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    node = _node_at(root, loc)
    return node.start_mark.line + 1 if node is not None else None


def _duplicate_keys(node: yaml.Node | None, loc: tuple[str | int, ...] = ()) -> list[Problem]:
    """PyYAML keeps the last of two equal keys silently; in a configuration file that is a mistake."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                problems.append(Problem(format_path((*loc, name)), "duplicate key", key.start_mark.line + 1))
            seen.add(name)
            problems += _duplicate_keys(value, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*loc, i))
    return problems


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error" and error["loc"] == ("version",):
        return f"unsupported version {error.get('input')!r}; this okrflow reads version {CONFIG_VERSION}"
    if kind == "literal_error":
        return f"{error.get('input')!r} is not allowed; use {(error.get('ctx') or {}).get('expected', '')}"
    if kind == "string_pattern_mismatch" and error["loc"][:1] == ("sources",) and error["loc"][-1] == "name":
        return f"{error.get('input')!r} is not a valid source name: use lower-case letters, digits, '_', '.', '-'"
    if kind == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") == METRIC_KEY_PATTERN:
        return f"{error.get('input')!r} is not a valid metric key: use lower-case letters, digits, '_', '.', '-'"
    if kind == "string_pattern_mismatch":
        return f"{error.get('input')!r} is not a valid slug: use 1-63 lower-case letters, digits and dashes"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


def parse(text: str) -> tuple[OkrflowConfig | None, list[Problem]]:
    """Validate the text of an ``okrflow.yaml``: the config, or ``None`` and every problem found."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = " ".join(str(getattr(exc, "problem", None) or exc).split())
        return None, [Problem("", f"invalid YAML: {reason}", mark.line + 1 if mark else None)]
    if data is None:
        return None, [Problem("", "the file is empty", None)]
    if not isinstance(data, dict):
        return None, [Problem("", "the top level must be a mapping (version, workspace, teams, ...)", 1)]
    problems = _duplicate_keys(root)
    try:
        config = OkrflowConfig.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            ctx = error.get("ctx") or {}
            if isinstance(ctx.get("error"), _TreeError):
                for loc, message in ctx["error"].problems:
                    problems.append(Problem(format_path(loc), message, _line(root, loc)))
                continue
            loc = tuple(error["loc"])
            problems.append(Problem(format_path(loc), _message(error), _line(root, loc)))
        return None, sorted(problems, key=lambda p: (p.line or 0, p.path))
    return (None, problems) if problems else (config, [])


def check(path: str | Path) -> list[Problem]:
    """Every problem of the file at ``path`` (an empty list when it is valid)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem("", f"cannot read the file: {getattr(exc, 'strerror', None) or exc}")]
    return parse(text)[1]


def load(path: str | Path) -> OkrflowConfig:
    """The validated configuration, or a ConfigurationError listing the problems."""
    text_path = Path(path)
    try:
        text = text_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    config, problems = parse(text)
    if config is None:
        first = problems[0].render(str(path))
        more = f" (and {len(problems) - 1} more; run `okrflow config check {path}`)" if len(problems) > 1 else ""
        raise ConfigurationError(f"{first}{more}", problems=[p.render(str(path)) for p in problems])
    return config


# ------------------------------------------------------------------ applying


@dataclass
class ApplyReport:
    """What ``apply`` did (or, with ``dry_run``, would do)."""

    workspace: str = ""
    created: list[str] = field(default_factory=list)  # "workspace acme", "team payments"
    updated: list[str] = field(default_factory=list)  # "team payments: name, parent"
    unchanged: list[str] = field(default_factory=list)
    unmanaged_teams: list[str] = field(default_factory=list)  # in the database, absent from the file
    unmanaged_metrics: list[str] = field(default_factory=list)  # only reported when the file has ``metrics:``
    unmanaged_sources: list[str] = field(default_factory=list)  # only reported when the file has ``sources:``
    notes: list[str] = field(default_factory=list)  # e.g. credentials left as they are
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def _apply_workspace(session: Session, actor: Actor, config: OkrflowConfig, report: ApplyReport) -> Workspace:
    wanted = config.workspace
    report.workspace = wanted.slug
    ws = tenancy.workspace_by_slug(session, wanted.slug)
    if ws is None:
        ws = tenancy.create_workspace(session, actor, wanted.slug, wanted.name, wanted.description)
        report.created.append(f"workspace {wanted.slug}")
        return ws
    changes = {k: v for k, v in {"name": wanted.name, "description": wanted.description}.items() if getattr(ws, k) != v}
    if changes:
        tenancy.update_workspace(session, actor, ws.id, changes)
        report.updated.append(f"workspace {ws.slug}: {', '.join(sorted(changes))}")
    else:
        report.unchanged.append(f"workspace {ws.slug}")
    return ws


def _parents_first(teams: list[TeamConfig]) -> list[TeamConfig]:
    """Teams ordered so that each comes after its parent (the file was checked to hold no cycle)."""
    by_slug = {t.slug: t for t in teams}
    ordered: list[TeamConfig] = []
    placed: set[str] = set()

    def place(team: TeamConfig) -> None:
        if team.slug in placed:
            return
        if team.parent is not None:
            place(by_slug[team.parent])
        placed.add(team.slug)
        ordered.append(team)

    for team in teams:
        place(team)
    return ordered


def _apply_teams(session: Session, actor: Actor, config: OkrflowConfig, report: ApplyReport) -> None:
    ws = tenancy.workspace_by_slug(session, config.workspace.slug)
    assert ws is not None
    existing = {t.slug: t for t in session.scalars(select(Team).where(Team.workspace_id == ws.id))}
    ids: dict[str, int] = {slug: t.id for slug, t in existing.items()}
    # Parents first: every parent exists (and sits where the file wants it) before a child points at it,
    # so moving teams around the tree never passes through a cycle.
    for wanted in _parents_first(config.teams):
        parent_id = ids[wanted.parent] if wanted.parent is not None else None
        team = existing.get(wanted.slug)
        if team is None:
            team = tenancy.create_team(
                session, actor, ws.id, wanted.slug, wanted.name, parent_id, wanted.kind, wanted.description
            )
            ids[wanted.slug] = team.id
            report.created.append(f"team {wanted.slug}")
            continue
        desired = {"name": wanted.name, "kind": wanted.kind, "description": wanted.description, "parent_id": parent_id}
        changes = {k: v for k, v in desired.items() if getattr(team, k) != v}
        if changes:
            tenancy.update_team(session, actor, team.id, changes)
            names = sorted("parent" if k == "parent_id" else k for k in changes)
            report.updated.append(f"team {wanted.slug}: {', '.join(names)}")
        else:
            report.unchanged.append(f"team {wanted.slug}")
    in_file = {t.slug for t in config.teams}
    report.unmanaged_teams = sorted(slug for slug in existing if slug not in in_file)


def _workspace_of(session: Session, config: OkrflowConfig) -> Workspace:
    ws = tenancy.workspace_by_slug(session, config.workspace.slug)
    assert ws is not None  # _apply_workspace ran first
    return ws


def _apply_okr_settings(session: Session, actor: Actor, config: OkrflowConfig, report: ApplyReport) -> None:
    if config.okr is None:
        return
    ws = _workspace_of(session, config)
    wanted = config.okr.model_dump()
    current = (ws.settings or {}).get("okr") or {}
    changed = sorted(k for k in wanted if current.get(k) != wanted[k])
    if not changed:
        report.unchanged.append("OKR settings")
        return
    tenancy.update_workspace(session, actor, ws.id, {"settings": {**(ws.settings or {}), "okr": wanted}})
    report.updated.append(f"OKR settings: {', '.join(changed)}")


def _owner_id(session: Session, ws: Workspace, email: str | None, index: int) -> int | None:
    if email is None:
        return None
    person = session.scalar(
        select(Person).where(Person.workspace_id == ws.id, func.lower(Person.email) == email.strip().lower())
    )
    if person is None:
        raise ConfigurationError(
            f"metrics[{index}].owner: no person with e-mail {email!r} in workspace {ws.slug}; "
            "add the person first or leave owner out"
        )
    return person.id


def _apply_metrics(session: Session, actor: Actor, config: OkrflowConfig, report: ApplyReport) -> None:
    from okrflow.services import catalog

    ws = _workspace_of(session, config)
    existing = {m.key: m for m in session.scalars(select(Metric).where(Metric.workspace_id == ws.id))}
    for i, wanted in enumerate(config.metrics):
        desired = wanted.definition_fields(_owner_id(session, ws, wanted.owner, i))
        reason = wanted.reason or APPLY_REASON
        metric = existing.get(wanted.key)
        if metric is None:
            catalog.define_metric(session, actor, ws.id, wanted.key, reason=reason, **desired)
            report.created.append(f"metric {wanted.key}")
            continue
        current = catalog.current_version(session, metric)
        changes = {k: v for k, v in desired.items() if getattr(current, k) != v}
        if not changes:
            report.unchanged.append(f"metric {wanted.key}")
            continue
        version = catalog.revise_metric(session, actor, metric.id, changes, reason=reason)
        fields = ", ".join(sorted(changes))
        report.updated.append(f"metric {wanted.key}: version {version.number} ({fields})")
    if "metrics" in config.model_fields_set:
        in_file = {m.key for m in config.metrics}
        report.unmanaged_metrics = sorted(k for k, m in existing.items() if k not in in_file and not m.archived)


def _apply_north_star(session: Session, actor: Actor, config: OkrflowConfig, report: ApplyReport) -> None:
    from okrflow.services import okr

    if config.north_star is None:
        return
    ws = _workspace_of(session, config)
    metric_id = session.scalar(select(Metric.id).where(Metric.workspace_id == ws.id, Metric.key == config.north_star))
    if metric_id is None:
        raise ConfigurationError(
            f"north_star: no metric {config.north_star!r} in workspace {ws.slug}; define it under metrics:"
        )
    if ws.north_star_metric_id == metric_id:
        report.unchanged.append(f"north star {config.north_star}")
        return
    okr.set_north_star(session, actor, ws.id, metric_id)
    report.updated.append(f"north star: {config.north_star}")


def _apply_workspace_section(
    session: Session, actor: Actor, config: OkrflowConfig, report: ApplyReport, key: str, label: str
) -> None:
    """Bring ``settings[key]`` in line with the file's section of the same name (other keys there are kept)."""
    section = getattr(config, key)
    if section is None:
        return
    ws = _workspace_of(session, config)
    wanted = section.model_dump()
    current = (ws.settings or {}).get(key) or {}
    changed = sorted(k for k in wanted if current.get(k) != wanted[k])
    if not changed:
        report.unchanged.append(label)
        return
    tenancy.update_workspace(session, actor, ws.id, {"settings": {**(ws.settings or {}), key: {**current, **wanted}}})
    report.updated.append(f"{label}: {', '.join(changed)}")


def _apply_work_settings(session: Session, actor: Actor, config: OkrflowConfig, report: ApplyReport) -> None:
    _apply_workspace_section(session, actor, config, report, "work", "work settings")


def _apply_traceability(session: Session, actor: Actor, config: OkrflowConfig, report: ApplyReport) -> None:
    _apply_workspace_section(session, actor, config, report, "traceability", "traceability settings")


def _credentials_from_env(wanted: SourceConfig, index: int, report: ApplyReport) -> dict[str, str] | None:
    """The credentials named by ``credentials_env``, read from the environment; None: leave them as they are."""
    from okrflow.services import sources

    if not wanted.credentials_env:
        return None
    values = {key: os.environ.get(var, "") for key, var in wanted.credentials_env.items()}
    missing = sorted(var for key, var in wanted.credentials_env.items() if not values[key].strip())
    if len(missing) == len(values):
        report.notes.append(
            f"source {wanted.name}: credentials left as they are ({', '.join(missing)} not set in the environment)"
        )
        return None
    if missing:
        raise ConfigurationError(
            f"sources[{index}].credentials_env: set {', '.join(missing)} too (or none of them to leave the "
            "stored credentials as they are)"
        )
    try:
        return sources.make_credentials(
            wanted.kind, email=values.get("email"), token=values.get("api_token") or values.get("token")
        )
    except Exception as exc:  # InvalidInputError: the file is wrong, so it is a configuration problem
        raise ConfigurationError(f"sources[{index}].credentials_env: {exc}") from None


def _apply_sources(session: Session, actor: Actor, config: OkrflowConfig, report: ApplyReport) -> None:
    from okrflow.services import sources
    from okrflow.store.models_work import Source

    ws = _workspace_of(session, config)
    existing = {s.name: s for s in session.scalars(select(Source).where(Source.workspace_id == ws.id))}
    for i, wanted in enumerate(config.sources):
        team_id = None
        if wanted.team is not None:
            team = tenancy.team_by_slug(session, ws.id, wanted.team)
            if team is None:
                raise ConfigurationError(f"sources[{i}].team: no team {wanted.team!r} in workspace {ws.slug}")
            team_id = team.id
        credentials = _credentials_from_env(wanted, i, report)
        desired: dict[str, Any] = {
            "base_url": wanted.base_url.rstrip("/"),
            "settings": wanted.settings,
            "team_id": team_id,
        }
        if wanted.mapping is not None:
            desired["mapping"] = wanted.mapping.stored()
        src = existing.get(wanted.name)
        if src is None:
            sources.create_source(
                session, actor, ws.id, wanted.name, wanted.kind, credentials=credentials or None, **desired
            )
            report.created.append(f"source {wanted.name}")
            continue
        if src.kind != wanted.kind:
            raise ConfigurationError(
                f"sources[{i}].kind: source {wanted.name!r} is a {src.kind} source in the database; "
                "a kind cannot change (give the new source another name)"
            )
        changes = {k: v for k, v in desired.items() if getattr(src, k) != v}
        if credentials is not None and sources.decrypt_credentials(src.credentials) != credentials:
            changes["credentials"] = credentials
        if not changes:
            report.unchanged.append(f"source {wanted.name}")
            continue
        sources.update_source(session, actor, src.id, changes)
        names = sorted("team" if k == "team_id" else k for k in changes)
        report.updated.append(f"source {wanted.name}: {', '.join(names)}")
    if "sources" in config.model_fields_set:
        in_file = {s.name for s in config.sources}
        report.unmanaged_sources = sorted(name for name in existing if name not in in_file)


# Order matters: metrics exist before the north star names one; teams before the sources that name them.
_APPLIERS = (
    _apply_workspace,
    _apply_teams,
    _apply_okr_settings,
    _apply_work_settings,
    _apply_traceability,
    _apply_metrics,
    _apply_north_star,
    _apply_sources,
)


class _DryRun(Exception):
    pass


def apply(db: Database, config: OkrflowConfig, actor: Actor, *, dry_run: bool = False) -> ApplyReport:
    """Bring the database in line with ``config`` in one transaction; never deletes anything.

    With ``dry_run`` everything is done and then rolled back, so the report says what would change.
    """
    report = ApplyReport(dry_run=dry_run)
    try:
        with db.write() as session:
            for applier in _APPLIERS:
                applier(session, actor, config, report)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return report


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"
