"""Records rebuilt from rows a store wrote itself, without running pydantic's validation again.

Every stored row was validated on its way in, so loading a whole policy state
need not validate it a second time: that would cost more than reading it. A
rebuilder turns a row into exactly the record validation would give (aware UTC
datetimes, enums, nested conditions and rules, tuples where the model has
them), checking only the types it relies on. Anything it does not expect
raises ``ValueError``, ``TypeError`` or ``LookupError``, and the store then
decodes that row the careful way, which returns the record or says what is
wrong with the row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from greenlang.auth.conditions import Condition, Operator
from greenlang.auth.permissions import Permission, PermissionEffect
from greenlang.auth.policies import Policy, PolicyRule, PolicyType, Weekday
from greenlang.auth.roles import Role, RoleAssignment

__all__ = ["CANONICAL_MOMENT", "REBUILT", "Decoders", "Rebuilder", "moment", "rebuilder", "trusted"]

B = TypeVar("B", bound=BaseModel)
Convert = Callable[[Any], Any]

_set = object.__setattr__
CANONICAL_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _plain(model: type[BaseModel]) -> bool:
    """Whether ``trusted`` can build ``model``: no private attributes, no post-init hook, no extra fields."""
    return (
        not model.__private_attributes__
        and not model.__pydantic_post_init__
        and not model.__pydantic_root_model__
        and model.model_config.get("extra") == "forbid"
    )


REBUILT: tuple[type[BaseModel], ...] = (Permission, Role, Policy, RoleAssignment, PolicyRule, Condition)
"""The models rebuilt here; a test proves each rebuilds equal to what validation gives."""

_TRUSTABLE = {model: _plain(model) for model in REBUILT}


def trusted(model: type[B], values: dict[str, Any], fields_set: set[str] | None = None) -> B:
    """``values`` (every field, each already of the type validation leaves) as a ``model``, unvalidated.

    What ``model_construct`` does, without its per-field bookkeeping, which
    alone costs more than the rest of loading a row.
    """
    if not _TRUSTABLE.get(model, False):
        return model.model_construct(fields_set, **values)
    record = model.__new__(model)
    _set(record, "__dict__", values)
    _set(record, "__pydantic_fields_set__", set(values) if fields_set is None else fields_set)
    _set(record, "__pydantic_extra__", None)
    _set(record, "__pydantic_private__", None)
    return record


def _members(enum: type[Enum]) -> Convert:
    return {member.value: member for member in enum}.__getitem__


_effect = _members(PermissionEffect)
_operator = _members(Operator)
_weekday = _members(Weekday)
_policy_type = _members(PolicyType)


def moment(text: Any) -> datetime:
    """A timestamp in the one text form records are dumped with (``2026-12-31T22:00:01.250000Z``), as aware UTC."""
    if type(text) is not str or not CANONICAL_MOMENT.fullmatch(text):
        raise ValueError(f"not a canonical UTC timestamp: {text!r}")
    return datetime.fromisoformat(text)


def _optional_moment(text: Any) -> datetime | None:
    return None if text is None else moment(text)


def _strings(value: Any) -> list[str]:
    if type(value) is not list:
        raise TypeError("expected a list of strings")
    for item in value:
        if type(item) is not str:
            raise TypeError("expected a list of strings")
    return value


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise TypeError("expected a JSON object")
    return value


def _integer(value: Any) -> int:
    if type(value) is not int:
        raise TypeError("expected an integer")
    return value


def _optional_text(value: Any) -> str | None:
    if value is not None and type(value) is not str:
        raise TypeError("expected a string")
    return value


_EMPTY_JSON: dict[str, Callable[[], Any]] = {"[]": list, "{}": dict}
"""Most conditions and metadata are empty: no parser needed."""

_CONDITION_FIELDS = frozenset(Condition.model_fields)
_RULE_FIELDS = frozenset(PolicyRule.model_fields)


def _condition(data: Any) -> Condition:
    if type(data) is not dict or not data.keys() <= _CONDITION_FIELDS or type(data["attribute"]) is not str:
        raise ValueError("not a stored condition")
    values = {"attribute": data["attribute"], "operator": _operator(data["operator"]), "value": data.get("value")}
    return trusted(Condition, values, set(data))


def _conditions(value: Any) -> list[Condition]:
    if type(value) is not list:
        raise TypeError("expected a list of conditions")
    return [_condition(item) for item in value]


def _hours(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if type(value) is not list or len(value) != 2 or type(value[0]) is not int or type(value[1]) is not int:
        raise ValueError("hours must be two integers")
    return (value[0], value[1])


def _rule(data: Any) -> PolicyRule:
    if type(data) is not dict or not data.keys() <= _RULE_FIELDS:
        raise ValueError("not a stored policy rule")
    get = data.get
    values = {
        "rule_id": _optional_text(get("rule_id")),
        "effect": _effect(data["effect"]),
        "actions": _strings(data["actions"]),
        "resources": _strings(data["resources"]),
        "subjects": _strings(get("subjects", [])),
        "roles": _strings(get("roles", [])),
        "scope": _optional_text(get("scope")),
        "conditions": _conditions(get("conditions", [])),
        "not_before": _optional_moment(get("not_before")),
        "not_after": _optional_moment(get("not_after")),
        "weekdays": [_weekday(day) for day in _strings(get("weekdays", []))],
        "hours": _hours(get("hours")),
    }
    return trusted(PolicyRule, values, set(data))


def _rules(value: Any) -> list[PolicyRule]:
    if type(value) is not list:
        raise TypeError("expected a list of policy rules")
    return [_rule(item) for item in value]


class Decoders:
    """How one store hands over timestamps, JSON and booleans; each decoder takes the raw column value."""

    def __init__(self, *, moment: Convert, json: Convert, flag: Convert) -> None:
        self.moment = moment
        self.json = json
        self.flag = flag

    def converters(self, model: type[B]) -> dict[str, Convert]:
        """A converter for every field of ``model`` that needs one; the rest are kept as stored."""
        json, moment = self.json, self.moment

        def of(shape: Convert) -> Convert:
            def convert(raw: Any) -> Any:
                empty = _EMPTY_JSON.get(raw) if type(raw) is str else None
                return shape(empty() if empty is not None else json(raw))

            return convert

        times = dict.fromkeys(("created_at", "updated_at", "valid_from", "expires_at"), moment)
        by_model: dict[type[BaseModel], dict[str, Convert]] = {
            Permission: {"effect": _effect, "conditions": of(_conditions), "metadata": of(_object)},
            Role: {
                "permissions": of(_strings),
                "parent_roles": of(_strings),
                "metadata": of(_object),
                "is_system_role": self.flag,
                "priority": _integer,
            },
            Policy: {
                "policy_type": _policy_type,
                "rules": of(_rules),
                "conditions": of(_conditions),
                "priority": _integer,
                "enabled": self.flag,
                "metadata": of(_object),
            },
            RoleAssignment: {"metadata": of(_object)},
        }
        fields = model.model_fields
        return {**{name: convert for name, convert in times.items() if name in fields}, **by_model[model]}


class Rebuilder(Generic[B]):
    """Rows of one table, in ``columns`` order, rebuilt as records of ``model``."""

    def __init__(self, model: type[B], columns: Sequence[str], converters: Mapping[str, Convert]) -> None:
        if set(columns) != set(model.model_fields) or len(columns) != len(model.model_fields):
            raise ValueError(f"a {model.__name__} row needs exactly the columns {sorted(model.model_fields)}")
        if not _TRUSTABLE.get(model, False):
            raise ValueError(f"{model.__name__} has private attributes or hooks that rebuilding would skip")
        self.model = model
        self.columns = tuple(columns)
        self.converters = tuple((name, converters[name]) for name in columns if name in converters)
        self.hashed = model is Permission

    def __call__(self, row: Sequence[Any]) -> B:
        if len(row) != len(self.columns):
            raise ValueError(f"a {self.model.__name__} row needs {len(self.columns)} columns")
        values = dict(zip(self.columns, row))  # noqa: B905 - lengths checked above, and this is the hot loop
        for name, convert in self.converters:
            values[name] = convert(values[name])
        record = self.model.__new__(self.model)
        _set(record, "__dict__", values)
        _set(record, "__pydantic_fields_set__", set(self.columns))
        _set(record, "__pydantic_extra__", None)
        _set(record, "__pydantic_private__", None)
        if self.hashed and values["provenance_hash"] is None:
            values["provenance_hash"] = record.content_hash()  # type: ignore[attr-defined]  # seed-era rows
        return record


def rebuilder(model: type[B], columns: Sequence[str], decoders: Decoders) -> Rebuilder[B]:
    """A function from a row of ``columns`` to the ``model`` record validation would make of it."""
    return Rebuilder(model, columns, decoders.converters(model))
