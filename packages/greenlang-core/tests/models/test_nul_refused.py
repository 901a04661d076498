"""No record holds a NUL character: PostgreSQL cannot store one, so SQLite must not accept one either."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

import greenlang.audit.events
import greenlang.auth.policies
import greenlang.auth.roles
import greenlang.security.artifacts  # noqa: F401 - imported so its records are among Record's subclasses
from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.auth.permissions import Permission
from greenlang.auth.policies import Policy
from greenlang.auth.roles import Role, RoleAssignment
from greenlang.errors import InputError
from greenlang.model import Record
from greenlang.validation import describe

NUL_MESSAGE = r"contains a NUL character \(U\+0000\), which stores cannot keep; remove it"
PERMISSION: dict[str, Any] = {"resource": "emissions:acme:**", "action": "read", "effect": "allow"}
RBAC_RULE: dict[str, Any] = {"effect": "allow", "actions": ["read"], "resources": ["emissions:**"], "roles": ["viewer"]}
EVENT: dict[str, Any] = {"event_type": "report.exported", "result": "success"}


def _policy(**changes: Any) -> Policy:
    return Policy(**{"policy_name": "p", "policy_type": "rbac", "rules": [RBAC_RULE], **changes})


CASES: list[tuple[str, Callable[[], BaseModel], str]] = [
    ("permission created_by", lambda: Permission(**PERMISSION, created_by="ops\x00"), "created_by"),
    ("permission metadata value", lambda: Permission(**PERMISSION, metadata={"note": "a\x00b"}), "metadata"),
    ("permission metadata key", lambda: Permission(**PERMISSION, metadata={"\x00": 1}), "metadata"),
    (
        "permission condition value",
        lambda: Permission(**PERMISSION, conditions=[{"attribute": "org", "operator": "eq", "value": "a\x00"}]),
        "conditions.0",
    ),
    ("role description", lambda: Role(role_name="viewer", description="reads\x00"), "description"),
    ("role permission id", lambda: Role(role_name="viewer", permissions=["perm_1", "perm\x00"]), "permissions"),
    ("role nested metadata", lambda: Role(role_name="viewer", metadata={"a": [{"b": ["\x00"]}]}), "metadata"),
    ("assignment subject", lambda: RoleAssignment(subject="al\x00ice", role_id="role_1"), "subject"),
    ("assignment role id", lambda: RoleAssignment(subject="alice", role_id="role\x00"), "role_id"),
    ("policy metadata", lambda: _policy(metadata={"owner": "\x00"}), "metadata"),
    ("policy rule subject", lambda: _policy(rules=[{**RBAC_RULE, "subjects": ["bob\x00"]}]), "rules.0.subjects"),
    (
        "policy condition value",
        lambda: Policy(
            policy_name="p",
            policy_type="abac",
            rules=[{**RBAC_RULE, "conditions": [{"attribute": "org", "operator": "in", "value": ["\x00"]}]}],
        ),
        "rules.0.conditions.0",
    ),
    ("event user agent", lambda: AuditEvent(**EVENT, user_agent="curl\x00"), "user_agent"),
    ("event resource", lambda: AuditEvent(**EVENT, resource="reports:\x00"), "resource"),
    ("event details", lambda: AuditEvent(**EVENT, details={"before": {"description": "x\x00"}}), "details"),
]


@pytest.mark.parametrize(("factory", "where"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_nul_is_refused_naming_the_field(factory: Callable[[], BaseModel], where: str) -> None:
    with pytest.raises(ValidationError, match=NUL_MESSAGE) as caught:
        factory()
    error = caught.value.errors()[0]
    assert ".".join(str(part) for part in error["loc"]) == where
    assert "U+0000" in describe(caught.value)


def test_the_message_names_a_plain_string_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Role(role_name="viewer", description="x\x00")
    assert describe(caught.value) == (
        "role.description: description contains a NUL character (U+0000), which stores cannot keep; remove it"
    )


def test_text_that_only_spells_an_escape_is_kept() -> None:
    role = Role(role_name="viewer", description="\\u0000 and \\x00", metadata={"\\u0000": "\\\\u0000"})
    assert role.description == "\\u0000 and \\x00"
    assert AuditEvent(**EVENT, details={"text": "\\u0000"}).details == {"text": "\\u0000"}


def test_replace_is_checked_too() -> None:
    role = Role(role_name="viewer")
    with pytest.raises(ValidationError, match=NUL_MESSAGE):
        role.replace(description="\x00")


def _records(cls: type[Record]) -> list[type[Record]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_records(sub)]
    return found


def test_every_dict_field_of_every_record_goes_through_the_json_door() -> None:
    """The record-wide check leaves dicts to ``ensure_json``; a dict field without it would let a NUL through."""
    checked = 0
    for record in _records(Record):
        for name, field in record.model_fields.items():
            origin = getattr(field.annotation, "__origin__", field.annotation)
            if origin is not dict:
                continue
            adapter: TypeAdapter[Any] = TypeAdapter(Annotated[field.annotation, *field.metadata])
            with pytest.raises(ValidationError, match=NUL_MESSAGE):
                adapter.validate_python({"k": "\x00"})
            checked += 1
            assert name in ("metadata", "details")
    assert checked >= 5  # Permission, Role, RoleAssignment and Policy metadata, AuditEvent details


def test_nothing_reaches_the_store() -> None:
    with SQLiteBackend(":memory:") as store:
        with pytest.raises(InputError, match=NUL_MESSAGE):
            store.create_role({"role_name": "viewer", "description": "x\x00"})
        with pytest.raises(InputError, match=NUL_MESSAGE):
            store.bulk_create_permissions([PERMISSION, {**PERMISSION, "metadata": {"k": "\x00"}}])
        with pytest.raises(InputError, match=NUL_MESSAGE):
            store.append_audit_event({**EVENT, "details": {"k": ["\x00"]}})
        with pytest.raises(InputError, match=NUL_MESSAGE):
            store.append_audit_events([EVENT, {**EVENT, "session_id": "s\x00"}])
        assert store.list_roles() == []
        assert store.list_permissions() == []
        assert store.read_audit_events() == []
        assert store.audit_head() is None
        store.create_role({"role_name": "viewer", "description": "\\u0000"})
        assert [role.description for role in store.list_roles()] == ["\\u0000"]
        assert store.verify_audit().ok
