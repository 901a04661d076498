"""Packed records: a tuple of field values that rebuilds a record equal to the one packed."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import timedelta
from typing import Any

import pytest
from engine_world import NOW, cond, grant, perm, policy, role
from pydantic import BaseModel

from greenlang.auth.conditions import Condition
from greenlang.auth.packed import Packed, PackedView, pack
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.roles import RoleAssignment
from greenlang.auth.snapshot import PolicySnapshot


def assert_same(rebuilt: BaseModel, original: BaseModel) -> None:
    assert type(rebuilt) is type(original)
    assert rebuilt == original
    assert rebuilt.model_fields_set == original.model_fields_set
    assert rebuilt.model_dump() == original.model_dump()
    assert rebuilt.model_dump(mode="json") == original.model_dump(mode="json")
    assert rebuilt.model_dump(exclude_unset=True) == original.model_dump(exclude_unset=True)
    assert repr(rebuilt) == repr(original)


RECORDS: list[BaseModel] = [
    perm("plain", "docs:*", "read"),
    perm(
        "full",
        "docs:**",
        "write",
        effect="deny",
        scope="org:acme",
        conditions=[cond("level", "gt", 2)],
        metadata={"why": ["audit"], "n": 1},
        tenant_id="acme",
        created_by="ops",
    ),
    grant("alice", "viewer"),
    grant("bob", "editor", scope="org:acme", valid_from=NOW, expires_at=NOW + timedelta(days=1), metadata={"t": 1}),
    role("r", "p1", "p2", parents=["base"], priority=3),
    role("bare"),
    policy(
        "pol",
        "abac",
        [{"effect": "allow", "actions": ["read"], "resources": ["x"], "conditions": [cond("a", "eq", 1)]}],
    ),
    Permission.model_construct(permission_id="raw", resource="a", action="read", effect=PermissionEffect.ALLOW),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_a_packed_record_rebuilds_equal_to_the_original(record: BaseModel) -> None:
    packed = pack(record)
    assert packed.kind is type(record)
    assert len(packed.values) == len(type(record).model_fields)
    assert_same(packed.record(), record)


def test_empty_lists_and_dicts_come_back_as_fresh_empty_values() -> None:
    original = perm("plain", "docs:*", "read")
    assert original.conditions == []
    assert original.metadata == {}
    packed = pack(original)
    assert [] not in packed.values
    assert {} not in packed.values
    first, second = packed.record(), packed.record()
    assert first.conditions == []
    assert type(first.conditions) is list
    assert first.metadata == {}
    assert type(first.metadata) is dict
    assert first.conditions is not second.conditions
    assert first.metadata is not second.metadata
    assert first.conditions is not original.conditions


def test_non_empty_values_are_kept_as_given() -> None:
    original = perm("full", "docs:*", "read", conditions=[cond("a", "eq", 1)], metadata={"k": [1, 2]})
    rebuilt = pack(original).record()
    assert rebuilt.conditions == [Condition(attribute="a", operator="eq", value=1)]
    assert rebuilt.metadata == {"k": [1, 2]}


def test_fields_set_is_kept_and_shared_between_records_that_set_the_same_fields() -> None:
    a = pack(perm("a", "docs:*", "read"))
    b = pack(perm("b", "other:*", "write"))
    c = pack(perm("c", "docs:*", "read", scope="org:x"))
    assert a.fields_set == {"permission_id", "resource", "action", "effect"}
    assert a.fields_set is b.fields_set
    assert c.fields_set == a.fields_set | {"scope"}
    assert c.record().model_dump(exclude_unset=True) == {
        "permission_id": "c",
        "resource": "docs:*",
        "action": "read",
        "effect": "allow",
        "scope": "org:x",
    }


def test_a_rebuilt_record_is_as_frozen_as_the_original() -> None:
    rebuilt = pack(grant("alice", "viewer")).record()
    assert isinstance(rebuilt, RoleAssignment)
    with pytest.raises(ValueError, match="frozen"):
        rebuilt.subject = "mallory"  # type: ignore[misc]


def test_packed_is_constructible_directly() -> None:
    original = perm("p", "docs:*", "read")
    again = Packed(Permission, pack(original).values, frozenset(original.model_fields_set))
    assert_same(again.record(), original)


# -- PackedView ------------------------------------------------------------------------------------------------------


def make_view() -> tuple[PackedView[str, Permission], dict[str, Any], list[str]]:
    records = {"a": perm("a", "docs:*", "read"), "b": perm("b", "docs:**", "write", scope="org:acme")}
    items = {key: pack(value) for key, value in records.items()}
    unpacked: list[str] = []

    def unpack(p: Packed[Permission]) -> Permission:
        record = p.record()
        unpacked.append(record.permission_id)
        return record

    return PackedView(items, unpack), records, unpacked


def test_packed_view_is_a_read_only_mapping_that_rebuilds_on_access() -> None:
    view, records, unpacked = make_view()
    assert isinstance(view, Mapping)
    assert not isinstance(view, MutableMapping)
    assert len(view) == 2
    assert list(view) == ["a", "b"]
    assert "a" in view
    assert "zzz" not in view
    assert unpacked == []  # neither len, iteration nor membership rebuilds a record
    assert view["b"] == records["b"]
    assert view["b"] is not view["b"]
    assert unpacked == ["b", "b", "b"]
    assert view.get("zzz") is None
    with pytest.raises(KeyError):
        view["zzz"]
    assert dict(view.items()) == records
    assert view == records
    assert repr(view) == "<2 packed records>"


def test_packed_view_refuses_changes() -> None:
    view, _, _ = make_view()
    with pytest.raises(TypeError):
        view["c"] = perm("c", "x", "read")  # type: ignore[index]
    with pytest.raises(TypeError):
        del view["a"]  # type: ignore[attr-defined]
    for name in ("pop", "update", "clear", "setdefault"):
        assert not hasattr(view, name)
    with pytest.raises(AttributeError):
        view.extra = 1  # type: ignore[attr-defined]


def test_a_snapshot_serves_packed_records_equal_to_those_it_was_given() -> None:
    permissions = [perm("p", "docs:*", "read"), perm("q", "docs:**", "*", conditions=[cond("x", "eq", True)])]
    assignments = [grant("alice", "r", aid="g1"), grant("alice", "r", aid="g2", scope="org:acme"), grant("bob", "r")]
    snapshot = PolicySnapshot.from_records(
        permissions=permissions, roles=[role("r", "p", "q")], assignments=assignments
    )
    assert isinstance(snapshot.permissions, PackedView)
    for original in permissions:
        assert_same(snapshot.permissions[original.permission_id], original)
    assert snapshot.assignments["alice"] == tuple(assignments[:2])
    for rebuilt, original in zip(snapshot.assignments["alice"], assignments[:2], strict=True):
        assert_same(rebuilt, original)
    assert snapshot.assignments_of("bob") == (assignments[2],)
