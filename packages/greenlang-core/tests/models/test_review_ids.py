"""Record ids share one pattern, defined once in ``greenlang.ids``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel

from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy, PolicyRule
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import InputError
from greenlang.ids import ID_PATTERN, new_id
from greenlang.validation import parse

ID_FIELDS: list[tuple[type[BaseModel], str]] = [
    (Permission, "permission_id"),
    (Role, "role_id"),
    (RoleAssignment, "assignment_id"),
    (Policy, "policy_id"),
    (PolicyRule, "rule_id"),
]

VALID: dict[type[BaseModel], dict[str, Any]] = {
    Permission: {"resource": "reports:*", "action": "read", "effect": "allow"},
    Role: {"role_name": "viewer"},
    RoleAssignment: {"subject": "u1", "role_id": "role-1"},
    Policy: {
        "policy_name": "p",
        "policy_type": "rbac",
        "rules": [{"effect": "allow", "actions": ["read"], "resources": ["a:*"], "roles": ["r"]}],
    },
    PolicyRule: {"effect": "allow", "actions": ["read"], "resources": ["a:*"], "roles": ["r"]},
}


def _pattern(model: type[BaseModel], field: str) -> str | None:
    return next((m.pattern for m in model.model_fields[field].metadata if hasattr(m, "pattern")), None)


def test_pattern_accepts_generated_and_hand_picked_ids_only() -> None:
    for good in (new_id("perm"), "a", "A.b-c_9"):
        assert re.fullmatch(ID_PATTERN, good)
    for bad in ("", "a b", "a/b", "a:b", "ü", "a\n"):
        assert not re.fullmatch(ID_PATTERN, bad)


@pytest.mark.parametrize(("model", "field"), ID_FIELDS)
def test_every_id_field_uses_the_shared_pattern(model: type[BaseModel], field: str) -> None:
    assert _pattern(model, field) == ID_PATTERN


@pytest.mark.parametrize(("model", "field"), ID_FIELDS)
def test_every_id_field_refuses_an_id_outside_the_pattern(model: type[BaseModel], field: str) -> None:
    assert getattr(parse(model, {**VALID[model], field: "ok.id-1"}), field) == "ok.id-1"
    for bad in ("not ok/id", "trailing-newline\n"):
        with pytest.raises(InputError, match=field):
            parse(model, {**VALID[model], field: bad})
