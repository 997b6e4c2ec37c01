"""Checks shared by the services that validate their input by hand (decisions, outcomes, retrospectives, pilots):
texts, calendar days, numbers, enumeration values, and the write permission.

Every input check raises :class:`~okrflow.domain.errors.InvalidInputError` with ``field=`` set, so the API, CLI and
web show the message next to the right input. The exact wording of a message belongs to the service that uses the
check (API, CLI and web tests assert it), so where the services word things differently that is a parameter here:

- ``label`` — what a message calls the field, when not by its name: the decision log and pilots say
  ``"the title must have 1 to 300 characters"``, outcomes say ``"problem must have 1 to 2000 characters"``;
- :func:`text`'s ``separate_messages`` — retrospectives say ``"title is required"`` and
  ``"title must have at most 300 characters"`` instead of one message with the allowed range;
- :func:`day`'s ``report_missing`` — ``"held_on is required (YYYY-MM-DD)"`` for a missing day instead of
  ``"… must be a date (YYYY-MM-DD), not None"``;
- :func:`number`'s ``show_value`` — whether the refused value is quoted in the message;
- :func:`check_write`'s ``where`` — the scope of the contributor role the message asks for.

Optional inputs stay with the caller (``None if value is None else validate.day(value, "review_on")``): what
counts as "not given" differs between the services.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from okrflow.domain.access import Actor, Permission
from okrflow.domain.errors import InvalidInputError, PermissionDeniedError

E = TypeVar("E", bound=Enum)


def text(
    value: Any,
    field_name: str,
    max_len: int,
    *,
    required: bool = True,
    label: str | None = None,
    separate_messages: bool = False,
) -> str:
    """The text stripped of surrounding blanks (``None`` is the empty text).

    Refused: a value that is not text (``"<label> must be text"``), an empty text when ``required``, a text longer
    than ``max_len`` characters. One message states the allowed range (``"<label> must have 1 to <max_len>
    characters"``, 0 to … when not required); with ``separate_messages`` an empty text is ``"<label> is required"``
    and a long one ``"<label> must have at most <max_len> characters"``. ``label`` defaults to ``field_name``.
    """
    name = field_name if label is None else label
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"{name} must be text", field=field_name)
    stripped = (value or "").strip()
    missing = required and not stripped
    too_long = len(stripped) > max_len
    if separate_messages:
        if missing:
            raise InvalidInputError(f"{name} is required", field=field_name)
        if too_long:
            raise InvalidInputError(f"{name} must have at most {max_len} characters", field=field_name)
    elif missing or too_long:
        raise InvalidInputError(f"{name} must have {1 if required else 0} to {max_len} characters", field=field_name)
    return stripped


def day(value: Any, field_name: str, *, report_missing: bool = False) -> date:
    """A calendar day from a :class:`date`, a :class:`datetime` (its date) or an ISO text ``YYYY-MM-DD``
    (surrounding blanks ignored).

    Anything else is refused with ``"<field_name> must be a date (YYYY-MM-DD), not <value!r>"`` — ``None``
    included, unless ``report_missing``: then ``None`` and ``""`` are ``"<field_name> is required (YYYY-MM-DD)"``.
    """
    if report_missing and (value is None or value == ""):
        raise InvalidInputError(f"{field_name} is required (YYYY-MM-DD)", field=field_name)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInputError(f"{field_name} must be a date (YYYY-MM-DD), not {value!r}", field=field_name)


def number(value: Any, field_name: str, *, show_value: bool = True) -> float:
    """A finite ``int`` or ``float`` (a bool is not a number here), as a float.

    Refused with ``"<field_name> must be a finite number, not <value!r>"`` (without ``, not …`` when
    ``show_value`` is false).
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        shown = f", not {value!r}" if show_value else ""
        raise InvalidInputError(f"{field_name} must be a finite number{shown}", field=field_name)
    return float(value)


def choice(
    enum_type: type[E], value: Any, field_name: str, *, only: Sequence[E] | None = None, label: str | None = None
) -> E:
    """The member of ``enum_type`` whose value is ``value``, one of ``only`` when given (default: every member).

    Refused with ``"<label> is one of <the allowed values>, not <value!r>"``; ``label`` defaults to ``field_name``.
    """
    allowed = list(enum_type) if only is None else list(only)
    try:
        chosen: E | None = enum_type(value)
    except ValueError:
        chosen = None
    if chosen is None or chosen not in allowed:
        name = field_name if label is None else label
        values = ", ".join(str(e.value) for e in allowed)
        raise InvalidInputError(f"{name} is one of {values}, not {value!r}", field=field_name)
    return chosen


def write_refused(actor: Actor, what: str, role_message: str) -> PermissionDeniedError:
    """The error for a write the actor may not make: its token's scopes when they exclude writing
    (``"this token's scopes do not allow <what>"``), else the missing role (``role_message``)."""
    if not actor.scope_allows(Permission.WRITE):
        return PermissionDeniedError(f"this token's scopes do not allow {what}")
    return PermissionDeniedError(role_message)


def check_write(actor: Actor, workspace_id: int, team_id: int | None, what: str, *, where: str) -> None:
    """Let the actor write to the team ``team_id`` of the workspace (``None``: workspace-level), or refuse with
    :func:`write_refused` — the role message being ``"<what> needs the contributor role <where>"``, e.g. ``what``
    ``"adding an action item"`` and ``where`` ``"on the team"``."""
    if not actor.can(Permission.WRITE, workspace_id, team_id):
        raise write_refused(actor, what, f"{what} needs the contributor role {where}")
