"""Conditions over the request context, and their three-valued evaluation.

A condition reads one attribute by dot-path (``report.status``) and compares it
with a value. Evaluation answers ``True``, ``False`` or ``None`` (cannot be
evaluated: the attribute is missing or has the wrong type). The engine treats
``None`` as "does not apply" for an allow and "applies" for a deny, so an error
never grants access.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from greenlang.jsonvalue import ensure_json

__all__ = ["Operator", "Condition", "MISSING", "lookup", "evaluate", "evaluate_all"]

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*")


class Operator(StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    CONTAINS = "contains"
    MATCHES = "matches"
    BETWEEN = "between"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Condition(BaseModel):
    """``attribute operator value``, e.g. ``report.status eq "published"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: str = Field(min_length=1, max_length=255)
    operator: Operator
    value: Any = None

    @model_validator(mode="after")
    def _check_shape(self) -> Condition:
        if not _PATH.fullmatch(self.attribute):
            raise ValueError(f"condition attribute {self.attribute!r} is not a dot-path such as 'report.status'")
        ensure_json(self.value)
        op, value = self.operator, self.value
        if op in (Operator.IN, Operator.NOT_IN) and not isinstance(value, list):
            raise ValueError(f'operator \'{op}\' needs a list value, e.g. ["a", "b"]')
        if op is Operator.MATCHES and not isinstance(value, str):
            raise ValueError("operator 'matches' needs a glob string value, e.g. \"org-*\"")
        if op is Operator.BETWEEN:
            if not (isinstance(value, list) and len(value) == 2 and _comparable(value[0], value[1])):
                raise ValueError("operator 'between' needs a list of two comparable bounds, e.g. [1, 10]")
            if value[0] > value[1]:
                raise ValueError("operator 'between' needs its lower bound first")
        if op in (Operator.GT, Operator.GTE, Operator.LT, Operator.LTE) and _kind(value) not in ("number", "string"):
            raise ValueError(f"operator '{op}' needs a number or string value")
        return self


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "list"
    return "object"


def _comparable(left: Any, right: Any) -> bool:
    return _kind(left) == _kind(right) and _kind(left) in ("number", "string")


def lookup(context: Mapping[str, Any], path: str) -> Any:
    """Follow a dot-path through nested mappings; ``MISSING`` if any step is absent."""
    if type(context) is dict and "." not in path:
        return context.get(path, MISSING)
    node: Any = context
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return MISSING
        node = node[key]
    return node


def _same(left: Any, right: Any) -> bool | None:
    if _kind(left) != _kind(right):
        return None
    return bool(left == right)


def _member(value: Any, items: list[Any]) -> bool | None:
    """Whether ``value`` is among ``items``; ``None`` when no item is even of its kind.

    ``org not_in ["blocked"]`` must not hold for ``org = true``: a value of
    another kind cannot be compared, and an error never grants.
    """
    kind = _kind(value)
    if kind in ("list", "object"):
        return None
    if not items:
        return False
    if all(_kind(item) != kind for item in items):
        return None
    return any(_same(value, item) for item in items)


def evaluate(condition: Condition, context: Mapping[str, Any]) -> bool | None:
    """``True``/``False``, or ``None`` when the condition cannot be evaluated."""
    actual = lookup(context, condition.attribute)
    if actual is MISSING:
        return None
    op, want = condition.operator, condition.value
    if op is Operator.EQ:
        return _same(actual, want)
    if op is Operator.NE:
        same = _same(actual, want)
        return None if same is None else not same
    if op in (Operator.IN, Operator.NOT_IN):
        found = _member(actual, want)
        return found if found is None or op is Operator.IN else not found
    if op in (Operator.GT, Operator.GTE, Operator.LT, Operator.LTE):
        if not _comparable(actual, want):
            return None
        if op is Operator.GT:
            return bool(actual > want)
        if op is Operator.GTE:
            return bool(actual >= want)
        if op is Operator.LT:
            return bool(actual < want)
        return bool(actual <= want)
    if op is Operator.BETWEEN:
        low, high = want
        if not _comparable(actual, low):
            return None
        return bool(low <= actual <= high)
    if op is Operator.CONTAINS:
        if isinstance(actual, str):
            return want in actual if isinstance(want, str) else None
        if isinstance(actual, list):
            return _member(want, actual)
        return None
    if isinstance(actual, str):  # Operator.MATCHES
        return fnmatch.fnmatchcase(actual, want)
    return None


def evaluate_all(conditions: list[Condition] | tuple[Condition, ...], context: Mapping[str, Any]) -> bool | None:
    """All-of: ``False`` if any is false, else ``None`` if any is unknown, else ``True``."""
    unknown = False
    for condition in conditions:
        result = evaluate(condition, context)
        if result is False:
            return False
        if result is None:
            unknown = True
    return None if unknown else True
