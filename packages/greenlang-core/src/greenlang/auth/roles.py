"""Roles, which bundle permissions and inherit from parent roles, and who holds them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator, model_validator

from greenlang.auth.permissions import ScopeText
from greenlang.ids import ID_PATTERN, new_id
from greenlang.jsonvalue import JSONObject
from greenlang.model import Record
from greenlang.timeutil import UTCDateTime, utcnow

__all__ = ["Role", "RoleAssignment", "ROLE_NAME_PATTERN"]

ROLE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class Role(Record):
    """Mirrors the seed's ``roles`` table, plus ``parent_roles`` (role ids)."""

    role_id: str = Field(default_factory=lambda: new_id("role"), max_length=64, pattern=ID_PATTERN)
    role_name: str = Field(max_length=100, pattern=ROLE_NAME_PATTERN)
    description: str | None = Field(default=None, max_length=10_000)
    permissions: list[str] = Field(default_factory=list)
    parent_roles: list[str] = Field(default_factory=list)
    metadata: JSONObject = Field(default_factory=dict)
    is_system_role: bool = False
    priority: int = Field(default=0, ge=-(2**31), le=2**31 - 1)
    created_at: UTCDateTime = Field(default_factory=utcnow)
    updated_at: UTCDateTime | None = None
    created_by: str | None = Field(default=None, max_length=255)
    tenant_id: str | None = Field(default=None, max_length=64, pattern=ID_PATTERN)
    """The tenant this role belongs to; ``None`` shares it with every tenant."""

    @field_validator("permissions", "parent_roles")
    @classmethod
    def _unique_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item or len(item) > 64:
                raise ValueError("ids must be 1 to 64 characters")
        if len(set(value)) != len(value):
            raise ValueError("ids must not repeat")
        return value

    @model_validator(mode="after")
    def _not_own_parent(self) -> Role:
        if self.role_id in self.parent_roles:
            raise ValueError(f"role {self.role_name!r} cannot inherit from itself")
        return self


class RoleAssignment(Record):
    """Subject ``subject`` holds role ``role_id``, optionally only within ``scope`` and a time window."""

    assignment_id: str = Field(default_factory=lambda: new_id("asg"), max_length=64, pattern=ID_PATTERN)
    subject: str = Field(min_length=1, max_length=255, pattern=r"^\S+$")
    role_id: str = Field(min_length=1, max_length=64)
    scope: ScopeText | None = None
    valid_from: UTCDateTime | None = None
    expires_at: UTCDateTime | None = None
    metadata: JSONObject = Field(default_factory=dict)
    created_at: UTCDateTime = Field(default_factory=utcnow)
    created_by: str | None = Field(default=None, max_length=255)
    tenant_id: str | None = Field(default=None, max_length=64, pattern=ID_PATTERN)
    """The tenant this assignment belongs to; ``None`` shares it with every tenant."""

    @model_validator(mode="after")
    def _window(self) -> RoleAssignment:
        if self.valid_from and self.expires_at and self.expires_at <= self.valid_from:
            raise ValueError("expires_at must be later than valid_from")
        return self

    def active_at(self, now: datetime) -> bool:
        """Whether the assignment grants anything at ``now`` (``expires_at`` is exclusive)."""
        if self.valid_from is not None and now < self.valid_from:
            return False
        return self.expires_at is None or now < self.expires_at
