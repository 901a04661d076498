"""Which roles a subject holds for a request: worked out per subject when the snapshot is built.

Most subjects hold roles through assignments with no time window, scoped (if
at all) on one context attribute, such as ``org:acme``. For them the roles in
force depend only on that attribute's value, so the snapshot files the ranked
role list under each value and a check makes one lookup. Any other subject
(a time window, or scopes on several attributes) is worked out assignment by
assignment at check time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from greenlang.auth.conditions import MISSING, lookup
from greenlang.auth.permissions import Scope

__all__ = ["Holding", "Holdings", "scope_holds"]

Holding = tuple[datetime | None, datetime | None, tuple[str, ...], Scope | None]
"""One assignment as a check sees it: valid from, expires at, the ranked roles it confers, its scope."""


def scope_holds(scope: Scope, context: Mapping[str, Any]) -> bool:
    """``decision.scope_problem(...) is None``, without building the reason."""
    actual = lookup(context, scope.attribute)
    if actual is MISSING or actual is None:
        return False
    if scope.value == "*":
        return True
    if isinstance(actual, bool) or not isinstance(actual, str | int):
        return False
    return str(actual) == scope.value


class Holdings:
    """One subject's assignments, each with its role's ranked inheritance closure."""

    __slots__ = ("_assignments", "_rank", "_attribute", "_always", "_any_value", "_by_value")

    def __init__(
        self,
        assignments: Sequence[Holding],
        rank: Callable[[Iterable[str]], list[str]],
    ) -> None:
        self._assignments = tuple(assignments)
        self._rank = rank
        self._attribute: str | None = None
        self._always: tuple[str, ...] = ()
        self._any_value: tuple[str, ...] = ()
        self._by_value: dict[str, tuple[str, ...]] | None = None
        attributes = {scope.attribute for _, _, _, scope in assignments if scope is not None}
        timeless = all(start is None and end is None for start, end, _, _ in assignments)
        if timeless and len(attributes) <= 1:
            self._precompute(attributes.pop() if attributes else None)

    def _precompute(self, attribute: str | None) -> None:
        always: set[str] = set()
        any_value: set[str] = set()
        by_value: dict[str, set[str]] = {}
        for _, _, roles, scope in self._assignments:
            if scope is None:
                always.update(roles)
            elif scope.value == "*":
                any_value.update(roles)
            else:
                by_value.setdefault(scope.value, set()).update(roles)
        rank = self._rank
        self._attribute = attribute
        self._always = tuple(rank(always))
        self._any_value = tuple(rank(always | any_value))
        self._by_value = {value: tuple(rank(always | any_value | roles)) for value, roles in by_value.items()}

    def held(self, context: Mapping[str, Any], now: datetime) -> Sequence[str]:
        """Role ids in force at ``now`` in ``context``, in rank order."""
        by_value = self._by_value
        if by_value is None:
            return self._walk(context, now)
        attribute = self._attribute
        if attribute is None:
            return self._always
        actual = lookup(context, attribute) if "." in attribute else context.get(attribute, MISSING)
        if type(actual) is str:
            return by_value.get(actual, self._any_value)
        if actual is MISSING or actual is None:
            return self._always
        if isinstance(actual, bool) or not isinstance(actual, str | int):
            return self._any_value
        return by_value.get(str(actual), self._any_value)

    def _walk(self, context: Mapping[str, Any], now: datetime) -> Sequence[str]:
        held: set[str] = set()
        for start, end, roles, scope in self._assignments:
            if not roles or (start is not None and now < start) or (end is not None and now >= end):
                continue
            if scope is not None and not scope_holds(scope, context):
                continue
            held.update(roles)
        return self._rank(held)
