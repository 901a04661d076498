"""Argument checks every store makes the same way, before it touches its database."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from greenlang.audit.events import AuditEvent
from greenlang.errors import InputError
from greenlang.ids import ID_PATTERN
from greenlang.model import Record
from greenlang.validation import parse

__all__ = ["check_page", "check_list", "check_tenant", "given_filters", "incoming", "changed", "check_update"]

M = TypeVar("M", bound=Record)

_MAX_ROWS = 2**63 - 1
"""The largest count a database can take (a 64-bit integer); beyond it a store would fail with its own error."""

_MAX_TENANT = 64
"""As long as a ``tenant_id`` column may be."""


def check_page(limit: int | None, offset: int, offset_name: str = "offset") -> None:
    """Refuse negative or non-integer paging, which SQLite would read as 'no limit'."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= _MAX_ROWS):
        raise InputError(f"limit must be an integer from 0 to {_MAX_ROWS}, or None for no limit; got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= _MAX_ROWS:
        raise InputError(f"{offset_name} must be an integer from 0 to {_MAX_ROWS}; got {offset!r}")


def check_tenant(tenant: object, *, optional: bool = True) -> str | None:
    """A tenant to filter policy state on, or (if ``optional``) ``None`` for all of it; anything else no stored
    row could carry."""
    if tenant is None and optional:
        return None
    if isinstance(tenant, str) and len(tenant) <= _MAX_TENANT and re.fullmatch(ID_PATTERN, tenant):
        return str(tenant)
    shown = repr(tenant)
    if len(shown) > 80:
        shown = f"{shown[:80]}... ({len(tenant) if isinstance(tenant, str) else len(shown)} characters)"
    either = "None or " if optional else ""
    raise InputError(
        f"tenant must be {either}an id of 1 to {_MAX_TENANT} letters, digits, '_', '.' or '-' such as 'acme-eu'; "
        f"got {shown}"
    )


def check_list(items: object, call: str, what: str) -> None:
    """Refuse anything but a list of records (a string or a single mapping would iterate as nonsense)."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise InputError(f"{call} needs a list of {what}, not {type(items).__name__}")


def given_filters(**values: str | None) -> dict[str, str]:
    """The filters that were given; an empty string is refused rather than read as 'everything'."""
    given = {}
    for name, value in values.items():
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"filter {name} must be a non-empty string, or None to not filter on it; got {value!r}")
        if "\x00" in value:
            raise InputError(f"filter {name} contains a NUL character (U+0000), which no stored value holds; remove it")
        given[name] = value
    return given


def incoming(model: type[M], data: M | Mapping[str, Any], clock: Callable[[], datetime], what: str) -> M:
    """``data`` as a validated ``model``; a mapping without a creation time is stamped with ``clock``."""
    if isinstance(data, Mapping):
        stamp = "timestamp" if model is AuditEvent else "created_at"
        if stamp not in data:
            data = {**data, stamp: clock()}
    elif not isinstance(data, model):
        raise InputError(f"{what} must be a {model.__name__} or a mapping of its fields, not {type(data).__name__}")
    return parse(model, data, what)


def check_update(model: type[M], key: str, data: object, changes: object, what: str) -> None:
    """Refuse an update that is neither a whole record nor an id with a mapping of changes."""
    if isinstance(data, str):
        if not isinstance(changes, Mapping):
            raise InputError(
                f"updating {what} {data!r} by id needs the changes as a mapping of fields, got {type(changes).__name__}"
            )
        if key in changes and changes[key] != data:
            raise InputError(f"changes may not alter {what}.{key}; create a new {what} instead")
    elif changes is not None:
        raise InputError(f"give the whole {what}, or its {key} and the changes, not both")


def changed(model: type[M], old: M, changes: Mapping[str, Any], clock: Callable[[], datetime], what: str) -> M:
    """``old`` with ``changes`` applied, validated as a new record would be."""
    return incoming(model, {**old.model_dump(), **changes}, clock, what)
