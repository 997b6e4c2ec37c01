"""Sources of work (Jira, GitHub, GitLab, files): settings, mappings over the defaults, encrypted credentials.

Credentials are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key from ``OKRFLOW_SECRET_KEY``;
they are never returned by the API, printed or logged. Without the key, storing credentials is refused.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from okrflow.domain.work import (
    DEFAULT_MAPPINGS,
    FlowItemType,
    Level,
    MappingReport,
    Stage,
    StatusRule,
    Step,
    TypeRule,
    WorkMapping,
    check_mapping,
)
from okrflow.services import records
from okrflow.services.tenancy import _check_team_in_ws, get_workspace
from okrflow.store.models_work import Source, StatusChange, WorkItem

if TYPE_CHECKING:
    import httpx

    from okrflow.services.source_check import ConnectionCheck
    from okrflow.store.db import Database

KINDS = ("jira", "github", "gitlab", "files")
SECRET_ENV = "OKRFLOW_SECRET_KEY"  # noqa: S105 - the name of the variable, not a secret
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


def _fernet() -> Fernet:
    key = os.environ.get(SECRET_ENV)
    if not key:
        raise ConfigurationError(
            f"set {SECRET_ENV} to store connector credentials (generate one with `okrflow secret generate`)"
        )
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError):
        raise ConfigurationError(f"{SECRET_ENV} is not a valid key (32 url-safe base64-encoded bytes)") from None


def generate_secret_key() -> str:
    return Fernet.generate_key().decode()


def encrypt_credentials(credentials: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()


def decrypt_credentials(token: str | None) -> dict[str, str]:
    if not token:
        return {}
    try:
        return dict(json.loads(_fernet().decrypt(token.encode())))
    except InvalidToken:
        raise ConfigurationError(f"the stored credentials cannot be decrypted with this {SECRET_ENV}") from None


def parse_mapping(raw: dict[str, Any] | None) -> WorkMapping:
    """``{"types": {"Spike": {"level": "task", "flow_type": "risk"}}, "statuses": {"QA": {"step": "testing",
    "stage": "delivery", "active": true}}}`` → rules (validated, with the field named on error)."""
    raw = raw or {}
    unknown = set(raw) - {"types", "statuses", "status_categories"}
    if unknown:
        raise InvalidInputError(f"unknown mapping section {sorted(unknown)[0]!r}", field="mapping")
    types: dict[str, TypeRule] = {}
    for name, rule in (raw.get("types") or {}).items():
        try:
            level = None if rule.get("level") in (None, "none") else Level(rule["level"])
            types[name] = TypeRule(level, FlowItemType(rule.get("flow_type", "feature")), rule.get("note", ""))
        except (ValueError, KeyError, AttributeError):
            raise InvalidInputError(
                f"mapping for type {name!r} needs level (theme…task or none) "
                "and flow_type (feature, defect, risk, debt)",
                field=f"mapping.types.{name}",
            ) from None
    statuses: dict[str, StatusRule] = {}
    categories: dict[str, StatusRule] = {}
    for section, target in (("statuses", statuses), ("status_categories", categories)):
        for name, rule in (raw.get(section) or {}).items():
            try:
                target[name] = StatusRule(
                    Step(rule["step"]), Stage(rule.get("stage", "delivery")), bool(rule.get("active", False))
                )
            except (ValueError, KeyError, AttributeError):
                raise InvalidInputError(
                    f"mapping for status {name!r} needs step (backlog…done), stage and active",
                    field=f"mapping.{section}.{name}",
                ) from None
    return WorkMapping(types=types, statuses=statuses, status_categories=categories)


def mapping_for(source: Source) -> WorkMapping:
    """The kind's default mapping with the source's own rules on top."""
    base = DEFAULT_MAPPINGS.get(source.kind, WorkMapping())
    return base.merged(parse_mapping(source.mapping))


def list_sources(session: Session, actor: Actor, workspace_id: int) -> list[Source]:
    get_workspace(session, actor, workspace_id)
    return list(session.scalars(select(Source).where(Source.workspace_id == workspace_id).order_by(Source.name)))


def get_source(session: Session, actor: Actor, source_id: int) -> Source:
    src = session.get(Source, source_id)
    if src is None or not actor.is_member_of(src.workspace_id):
        raise NotFoundError(f"source {source_id} does not exist")
    return src


def source_by_name(session: Session, actor: Actor, workspace_id: int, name: str) -> Source:
    src = session.scalar(select(Source).where(Source.workspace_id == workspace_id, Source.name == name))
    if src is None:
        raise NotFoundError(f"no source named {name!r} in this workspace")
    return get_source(session, actor, src.id)


def create_source(
    session: Session,
    actor: Actor,
    workspace_id: int,
    name: str,
    kind: str,
    *,
    base_url: str = "",
    settings: dict[str, Any] | None = None,
    mapping: dict[str, Any] | None = None,
    credentials: dict[str, str] | None = None,
    team_id: int | None = None,
) -> Source:
    get_workspace(session, actor, workspace_id)
    if not actor.can(Permission.ADMIN, workspace_id):
        raise PermissionDeniedError("adding a source of work needs the admin role")
    if kind not in KINDS:
        raise InvalidInputError(f"source kind is one of {', '.join(KINDS)}", field="kind")
    if not NAME_RE.match(name):
        raise InvalidInputError("a source name is lower-case letters, digits, '_', '.', '-'", field="name")
    if session.scalar(select(Source.id).where(Source.workspace_id == workspace_id, Source.name == name)):
        raise ConflictError(f"a source named {name!r} exists already", field="name")
    parse_mapping(mapping)
    _check_team_in_ws(session, workspace_id, team_id)
    src = Source(
        workspace_id=workspace_id,
        name=name,
        kind=kind,
        base_url=base_url.rstrip("/"),
        settings=settings or {},
        mapping=mapping or {},
        credentials=encrypt_credentials(credentials) if credentials else None,
        team_id=team_id,
    )
    return records.created(session, actor, src, entity_type="source", workspace_id=workspace_id)


def update_source(
    session: Session, actor: Actor, source_id: int, changes: dict[str, Any], expected_version: int | None = None
) -> Source:
    src = get_source(session, actor, source_id)
    if not actor.can(Permission.ADMIN, src.workspace_id):
        raise PermissionDeniedError("changing a source of work needs the admin role")
    changes = dict(changes)
    if "mapping" in changes:
        parse_mapping(changes["mapping"])
    if "team_id" in changes:
        _check_team_in_ws(session, src.workspace_id, changes["team_id"])
    if "credentials" in changes:
        creds = changes.pop("credentials")
        changes["credentials"] = encrypt_credentials(creds) if creds else None
    old_mapping = src.mapping
    updated = records.update(
        session,
        actor,
        src,
        entity_type="source",
        changes=changes,
        allowed=("base_url", "settings", "mapping", "credentials", "team_id", "cursor"),
        expected_version=expected_version,
        workspace_id=src.workspace_id,
    )
    if "mapping" in changes and changes["mapping"] != old_mapping:
        remap_types(session, updated)
    return updated


def remap_types(session: Session, source: Source) -> int:
    """Re-derive level and flow-item type of the source's items from its current mapping (one UPDATE per
    distinct issue type), so a new rule applies to items imported before it. Statuses need no remap: steps are
    looked up when metrics are computed. Returns the number of items whose level or flow type changed."""
    from sqlalchemy import func, update

    from okrflow.store.models_work import WorkItem

    mapping = mapping_for(source)
    changed = 0
    for issue_type, _n in session.execute(
        select(WorkItem.issue_type, func.count()).where(WorkItem.source_id == source.id).group_by(WorkItem.issue_type)
    ).all():
        rule = mapping.type_rule(issue_type)
        level = rule.level.value if rule and rule.level else None
        flow_type = rule.flow_type.value if rule and rule.level else None
        result = session.execute(
            update(WorkItem)
            .where(
                WorkItem.source_id == source.id,
                WorkItem.issue_type == issue_type,
                (WorkItem.level.is_distinct_from(level)) | (WorkItem.flow_type.is_distinct_from(flow_type)),
            )
            .values(level=level, flow_type=flow_type)
            .execution_options(synchronize_session=False)
        )
        changed += result.rowcount or 0
    return changed


CREDENTIAL_KEYS: dict[str, tuple[str, ...]] = {
    "jira": ("email", "api_token", "token"),
    "github": ("token",),
    "gitlab": ("token",),
    "files": (),
}


def make_credentials(kind: str, *, email: str | None = None, token: str | None = None) -> dict[str, str]:
    """The credentials a connector of ``kind`` reads, from an e-mail and a token (CLI and okrflow.yaml).

    Jira: e-mail + token → ``{"email", "api_token"}`` (Cloud, basic auth); a token alone → ``{"token"}``
    (Server / Data Center personal access token, bearer). GitHub / GitLab: ``{"token"}``. Files: none."""
    email, token = (email or "").strip() or None, (token or "").strip() or None
    if kind == "files" and (email or token):
        raise InvalidInputError("a files source has no credentials", field="credentials")
    if email and kind != "jira":
        raise InvalidInputError(f"a {kind} source authenticates with a token only, not an e-mail", field="email")
    if email and not token:
        raise InvalidInputError("an e-mail needs a token too (a Jira Cloud API token)", field="token")
    if kind == "jira" and email:
        return {"email": email, "api_token": str(token)}
    return {"token": token} if token else {}


def mapping_report(session: Session, actor: Actor, source_id: int) -> MappingReport:
    """What the source's effective mapping does not cover among the issue types and statuses stored for it.

    Statuses are those items are in and those of their history (both sides of each change); a status's
    category is the one stored with items currently in it (history statuses no item is in have none)."""
    src = get_source(session, actor, source_id)
    types = set(session.scalars(select(WorkItem.issue_type).where(WorkItem.source_id == src.id).distinct()))
    categories: dict[str, str | None] = {}
    for status, category in session.execute(
        select(WorkItem.status, WorkItem.status_category).where(WorkItem.source_id == src.id).distinct()
    ):
        categories[status] = categories.get(status) or category
    history = session.execute(
        select(StatusChange.from_status, StatusChange.to_status)
        .join(WorkItem, WorkItem.id == StatusChange.work_item_id)
        .where(WorkItem.source_id == src.id)
        .distinct()
    ).all()
    names = set(categories) | {n for pair in history for n in pair if n}
    return check_mapping(mapping_for(src), types, [(n, categories.get(n)) for n in names])


# ------------------------------------------------------------------ settings

CONNECTOR_KEPT_SETTINGS = ("etag_cache",)  # written by the connectors themselves (GitHub/GitLab ETags), not by people


def check_settings(kind: str, settings: dict[str, Any]) -> None:
    """Refuse settings the connector of ``kind`` could not sync with (a ``ConfigurationError``, 422, naming the
    setting): Jira's ``api``, page size and field ids; a GitHub ``repository`` as owner/name; a GitLab
    ``project``. The web's source forms check with it before saving; a files source takes its own CSV options."""
    if kind == "jira":
        from okrflow.connectors.jira.connector import JiraSettings

        JiraSettings.from_settings(settings)
    elif kind == "github":
        from okrflow.connectors import github

        github.settings_from(settings)
    elif kind == "gitlab":
        from okrflow.connectors import gitlab

        gitlab.settings_from(settings)


# ------------------------------------------------------------------ test connection


def test_connection(
    db: Database,
    actor: Actor,
    source_id: int,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ConnectionCheck:
    """Test the connection of a jira, github or gitlab source with its connector's own client: who the
    credentials are, the repository/project, the JQL (see :mod:`okrflow.services.source_check`). Same role as a
    sync; a failed check is a result with ``ok=False``, not an exception; a files source is an
    :class:`InvalidInputError`."""
    from okrflow.services import source_check

    return source_check.test_connection(db, actor, source_id, transport=transport, sleep=sleep)


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when a test module imports it
