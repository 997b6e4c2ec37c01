"""Request and response bodies of the REST API (Pydantic v2).

Three shapes per resource: ``...Create`` (POST body), ``...Update`` (PATCH body: every field optional, only the
fields sent are changed) and ``...Read`` (responses, built from the ORM row). Every request body rejects unknown
fields, and lengths and patterns are checked here so a bad value is a 422 that names the field before any
service runs. Ids are bounded to the database's integer range so a huge number is a 422, never a 500.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from okrflow.services import auth

MAX_ID = 2_147_483_647  # PostgreSQL ``integer``
MAX_TEXT = 10_000

DbId = Annotated[int, Field(ge=1, le=MAX_ID, description="An id of a stored row.")]
Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$"),
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
    Field(description="1-63 lower-case letters, digits and dashes; starts with a letter or digit.", examples=["acme"]),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    Field(examples=["ada@example.com"]),
]
Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$"),
    Field(description="2-64 letters, digits or . _ @ -; starts with a letter or digit.", examples=["ada"]),
]
Password = Annotated[str, StringConstraints(min_length=auth.MIN_PASSWORD_LENGTH, max_length=1024)]
RoleName = Literal["viewer", "contributor", "admin"]
ScopeName = Literal["read", "write", "admin"]
TeamKind = Literal["product", "platform", "enabling", "complicated-subsystem", "leadership", "other"]


def _storable(value: Any, depth: int = 0) -> None:
    """Refuse what no database column can hold: NUL characters, lone surrogates, NaN/Infinity, deep nesting."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("is not valid Unicode text (lone surrogate)") from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
    elif isinstance(value, dict | list):
        if depth >= 32:
            raise ValueError("is nested too deeply (at most 32 levels)")
        for key in value if isinstance(value, dict) else ():
            _storable(key, depth + 1)
        for item in value.values() if isinstance(value, dict) else value:
            _storable(item, depth + 1)


class _Body(BaseModel):
    """A request body: unknown fields are an error, not silently dropped; every value must be storable."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_unstorable(cls, value: Any) -> Any:
        _storable(value)
        return value


class _Patch(_Body):
    """A PATCH body: every field is optional; fields named in ``not_null`` may be left out but not set to null."""

    not_null: ClassVar[tuple[str, ...]] = ()

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name in cls.not_null:
            raise ValueError("may be left out but not set to null")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, as a dict for the service."""
        return self.model_dump(exclude_unset=True)


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _VersionedRead(_Read):
    version: int = Field(description="Optimistic-locking version; also sent as the ETag.")
    created_at: datetime
    updated_at: datetime


# ------------------------------------------------------------------ workspaces


class WorkspaceCreate(_Body):
    slug: Slug
    name: Name
    description: Text = ""


class WorkspaceUpdate(_Patch):
    not_null = ("slug", "name", "description", "settings")

    slug: Slug | None = None
    name: Name | None = None
    description: Text | None = None
    settings: dict[str, Any] | None = None


class WorkspaceRead(_VersionedRead):
    id: int
    slug: str
    name: str
    description: str
    settings: dict[str, Any]
    north_star_metric_id: int | None = Field(None, description="The north-star metric (PUT .../north-star).")


# ------------------------------------------------------------------ teams


class TeamCreate(_Body):
    slug: Slug
    name: Name
    parent_id: DbId | None = None
    kind: TeamKind = "product"
    description: Text = ""


class TeamUpdate(_Patch):
    not_null = ("slug", "name", "kind", "description")

    slug: Slug | None = None
    name: Name | None = None
    parent_id: DbId | None = Field(None, description="null moves the team to the top level.")
    kind: TeamKind | None = None
    description: Text | None = None


class TeamRead(_VersionedRead):
    id: int
    workspace_id: int
    parent_id: int | None
    slug: str
    name: str
    kind: str
    description: str


# ------------------------------------------------------------------ people


class PersonCreate(_Body):
    name: Name
    email: Email | None = None
    title: ShortText = ""
    team_id: DbId | None = None


class PersonUpdate(_Patch):
    not_null = ("name", "title")

    name: Name | None = None
    email: Email | None = None
    title: ShortText | None = None
    team_id: DbId | None = None


class PersonRead(_VersionedRead):
    id: int
    workspace_id: int
    team_id: int | None
    name: str
    email: str | None
    title: str


# ------------------------------------------------------------------ users


class UserCreate(_Body):
    username: Username
    password: Password | None = Field(None, description="Leave out for an account that logs in only by token.")
    email: Email | None = None
    display_name: ShortText = ""
    is_superuser: bool = False
    person_id: DbId | None = None
    workspace_id: DbId | None = Field(None, description="With role: also grant a membership in this workspace.")
    team_id: DbId | None = Field(None, description="With workspace_id and role: the membership covers this team.")
    role: RoleName | None = None

    @field_validator("role")
    @classmethod
    def _role_needs_workspace(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("workspace_id") is None:
            raise ValueError("a role needs a workspace_id")
        return value


class UserUpdate(_Patch):
    not_null = ("display_name", "is_active", "is_superuser", "password")

    email: Email | None = None
    display_name: Name | None = None
    is_active: bool | None = None
    is_superuser: bool | None = None
    password: Password | None = None
    person_id: DbId | None = None


class UserRead(_VersionedRead):
    """An account. The password hash never leaves the server."""

    id: int
    username: str
    email: str | None
    display_name: str
    is_active: bool
    is_superuser: bool
    person_id: int | None


class GrantRead(BaseModel):
    workspace_id: int
    team_id: int | None
    role: str


class MeRead(BaseModel):
    user: UserRead
    memberships: list[GrantRead]
    scopes: list[str] | None = Field(description="The scopes of the token used for this request.")


# ------------------------------------------------------------------ memberships


class MembershipCreate(_Body):
    user_id: DbId
    role: RoleName
    team_id: DbId | None = Field(None, description="Leave out for a workspace-wide role.")


class MembershipUpdate(_Patch):
    not_null = ("role",)

    role: RoleName


class MembershipRead(_VersionedRead):
    id: int
    user_id: int
    workspace_id: int
    team_id: int | None
    role: str


# ------------------------------------------------------------------ API tokens


class TokenCreate(_Body):
    name: Name
    scopes: list[ScopeName] = Field(min_length=1, max_length=3, examples=[["read"]])
    expires_at: datetime | None = Field(None, description="ISO 8601; without a zone it is read as UTC.")

    @field_validator("expires_at")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of range") from None


class TokenRead(_Read):
    """A token as listed. The secret is never part of it."""

    id: int
    user_id: int
    name: str
    prefix: str
    scopes: list[str]
    status: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @field_validator("scopes", mode="before")
    @classmethod
    def _split_scopes(cls, value: Any) -> Any:
        return [s for s in value.split(",") if s] if isinstance(value, str) else value

    @classmethod
    def of(cls, token: Any) -> TokenRead:
        return cls.model_validate(
            {**{f: getattr(token, f) for f in cls.model_fields if f != "status"}, "status": auth.token_status(token)}
        )


class TokenCreated(TokenRead):
    token: str = Field(description="The secret. It is shown only in this response; store it now.")


# ------------------------------------------------------------------ audit


class AuditEntryRead(_Read):
    seq: int
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    workspace_id: int | None
    before: Any
    after: Any
    prev_hash: str
    hash: str
