"""Permissions: one effect on one action over the resources a pattern names."""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from greenlang.auth.conditions import Condition
from greenlang.auth.patterns import ResourcePattern
from greenlang.ids import ID_PATTERN, new_id
from greenlang.jsonvalue import JSONObject, canonical_json
from greenlang.model import Record
from greenlang.timeutil import UTCDateTime, utcnow

__all__ = [
    "ACTION_PATTERN",
    "Action",
    "Permission",
    "PermissionEffect",
    "Scope",
    "ScopeText",
    "validate_action",
    "validate_scope",
]

ACTION_PATTERN = re.compile(r"\*|[A-Za-z0-9][A-Za-z0-9_.\-]*")
_SCOPE = re.compile(r"(?P<attr>[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*):(?P<value>[^\s:][^\s]*)")


class PermissionEffect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


def validate_action(value: str) -> str:
    if not ACTION_PATTERN.fullmatch(value):
        raise ValueError(f"action {value!r} must be '*' or a name of letters, digits and _.- such as 'read'")
    return value


def validate_scope(value: str | None) -> str | None:
    if value is None:
        return None
    if not _SCOPE.fullmatch(value):
        raise ValueError(f"scope {value!r} must look like 'type:value', e.g. 'org:acme' or 'org:*'")
    return value


Action = Annotated[str, Field(max_length=100), AfterValidator(validate_action)]
"""An action name such as ``read``, or ``*`` for any action."""

ScopeText = Annotated[str, Field(max_length=255), AfterValidator(validate_scope)]
"""A scope such as ``org:acme`` (or ``org:*``): an attribute the request context must carry."""


class Scope:
    """A parsed ``type:value`` scope; ``type`` is a dot-path into the context."""

    __slots__ = ("attribute", "value")

    def __init__(self, text: str) -> None:
        attribute, _, value = text.partition(":")
        self.attribute = attribute
        self.value = value


class Permission(Record):
    """Mirrors the seed's ``permissions`` table."""

    permission_id: str = Field(default_factory=lambda: new_id("perm"), max_length=64, pattern=ID_PATTERN)
    resource: ResourcePattern
    action: Action
    effect: PermissionEffect
    scope: ScopeText | None = None
    conditions: list[Condition] = Field(default_factory=list)
    metadata: JSONObject = Field(default_factory=dict)
    created_at: UTCDateTime = Field(default_factory=utcnow)
    updated_at: UTCDateTime | None = None
    created_by: str | None = Field(default=None, max_length=255)
    provenance_hash: str | None = Field(default=None, max_length=64)
    tenant_id: str | None = Field(default=None, max_length=64, pattern=ID_PATTERN)
    """The tenant this permission belongs to; ``None`` shares it with every tenant. Not part of the content hash."""

    @model_validator(mode="after")
    def _derive_hash(self) -> Permission:
        object.__setattr__(self, "provenance_hash", self.content_hash())
        return self

    def content_hash(self) -> str:
        """SHA-256 of what the permission grants or denies; equal content, equal hash."""
        return hashlib.sha256(canonical_json(self.content())).hexdigest()

    def content(self) -> dict[str, Any]:
        """The fields that decide what this permission means."""
        return {
            "resource": self.resource,
            "action": self.action,
            "effect": self.effect.value,
            "scope": self.scope,
            "conditions": [c.model_dump(mode="json") for c in self.conditions],
        }
