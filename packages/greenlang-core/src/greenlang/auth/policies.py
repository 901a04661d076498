"""Policies: named, prioritised sets of rules evaluated beside role permissions.

Every policy type shares one rule shape; the type says which parts a rule must
use, so a policy cannot claim to be one thing and behave as another:

* ``rbac``: each rule names ``roles`` or ``subjects`` and carries no conditions;
* ``abac``: each rule is guarded by conditions (its own or the policy's);
* ``temporal``: each rule has a time window (``not_before``, ``not_after``,
  ``weekdays`` and/or ``hours``, all in UTC).
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from greenlang.auth.conditions import Condition
from greenlang.auth.patterns import ResourcePattern
from greenlang.auth.permissions import Action, PermissionEffect, ScopeText
from greenlang.auth.roles import ROLE_NAME_PATTERN
from greenlang.ids import ID_PATTERN, new_id
from greenlang.jsonvalue import JSONObject
from greenlang.model import Record
from greenlang.timeutil import UTCDateTime, utcnow

__all__ = ["Policy", "PolicyRule", "PolicyType", "Weekday"]


class PolicyType(StrEnum):
    RBAC = "rbac"
    ABAC = "abac"
    TEMPORAL = "temporal"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class PolicyRule(Record):
    """One rule: ``effect`` on ``actions`` over ``resources``, for whom and when."""

    rule_id: str | None = Field(default=None, max_length=64, pattern=ID_PATTERN)
    effect: PermissionEffect
    actions: list[Action] = Field(min_length=1)
    resources: list[ResourcePattern] = Field(min_length=1)
    subjects: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    scope: ScopeText | None = None
    conditions: list[Condition] = Field(default_factory=list)
    not_before: UTCDateTime | None = None
    not_after: UTCDateTime | None = None
    weekdays: list[Weekday] = Field(default_factory=list)
    hours: tuple[int, int] | None = None

    @field_validator("roles")
    @classmethod
    def _check_roles(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(ROLE_NAME_PATTERN, name) or len(name) > 100:
                raise ValueError(f"role name {name!r} is not a valid role name")
        return value

    @field_validator("subjects")
    @classmethod
    def _check_subjects(cls, value: list[str]) -> list[str]:
        for subject in value:
            if not subject.strip() or len(subject) > 255:
                raise ValueError("subjects must be non-empty names of at most 255 characters")
        return value

    @field_validator("hours")
    @classmethod
    def _check_hours(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not (0 <= value[0] < value[1] <= 24):
            raise ValueError("hours must be [start, end) with 0 <= start < end <= 24, in UTC")
        return value

    @model_validator(mode="after")
    def _check_window(self) -> PolicyRule:
        if self.not_before and self.not_after and self.not_after <= self.not_before:
            raise ValueError("not_after must be later than not_before")
        return self

    def has_time_window(self) -> bool:
        return bool(self.not_before or self.not_after or self.weekdays or self.hours)

    def in_window(self, now: datetime) -> bool:
        """Whether ``now`` (UTC) falls inside the rule's time window; ``not_after`` is exclusive."""
        if self.not_before is not None and now < self.not_before:
            return False
        if self.not_after is not None and now >= self.not_after:
            return False
        if self.weekdays and list(Weekday)[now.weekday()] not in self.weekdays:
            return False
        return not (self.hours and not (self.hours[0] <= now.hour < self.hours[1]))


class Policy(Record):
    """Mirrors the seed's ``policies`` table, plus ``valid_from``."""

    policy_id: str = Field(default_factory=lambda: new_id("pol"), max_length=64, pattern=ID_PATTERN)
    policy_name: str = Field(max_length=100, pattern=ROLE_NAME_PATTERN)
    policy_type: PolicyType
    rules: list[PolicyRule] = Field(min_length=1)
    conditions: list[Condition] = Field(default_factory=list)
    priority: int = Field(default=0, ge=-(2**31), le=2**31 - 1)
    enabled: bool = True
    metadata: JSONObject = Field(default_factory=dict)
    created_at: UTCDateTime = Field(default_factory=utcnow)
    updated_at: UTCDateTime | None = None
    created_by: str | None = Field(default=None, max_length=255)
    valid_from: UTCDateTime | None = None
    expires_at: UTCDateTime | None = None
    tenant_id: str | None = Field(default=None, max_length=64, pattern=ID_PATTERN)
    """The tenant this policy belongs to; ``None`` shares it with every tenant."""

    @model_validator(mode="after")
    def _check_type(self) -> Policy:
        if self.valid_from and self.expires_at and self.expires_at <= self.valid_from:
            raise ValueError("expires_at must be later than valid_from")
        for index, rule in enumerate(self.rules):
            where = f"rule {index} of {self.policy_type.value} policy {self.policy_name!r}"
            if self.policy_type is PolicyType.RBAC:
                if not (rule.roles or rule.subjects):
                    raise ValueError(f"{where} must name 'roles' or 'subjects'")
                if rule.conditions or self.conditions:
                    raise ValueError(f"{where} must not carry conditions; use an abac policy")
            elif self.policy_type is PolicyType.ABAC:
                if not (rule.conditions or self.conditions):
                    raise ValueError(f"{where} needs at least one condition")
            elif not rule.has_time_window():
                raise ValueError(f"{where} needs a time window: not_before, not_after, weekdays or hours")
        return self

    def rule_ref(self, index: int) -> str:
        """The id a decision cites for rule ``index``: ``<policy_id>#<rule_id or index>``."""
        rule = self.rules[index]
        return f"{self.policy_id}#{rule.rule_id or index}"

    def active_at(self, now: datetime) -> bool:
        """Enabled, started and not expired at ``now`` (``expires_at`` is exclusive)."""
        if not self.enabled:
            return False
        if self.valid_from is not None and now < self.valid_from:
            return False
        return self.expires_at is None or now < self.expires_at
