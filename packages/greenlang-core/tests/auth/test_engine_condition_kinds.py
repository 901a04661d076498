"""Membership operators never answer for a value of another kind: errors never grant."""

from __future__ import annotations

from typing import Any

import pytest

from greenlang.auth.conditions import Condition, evaluate
from greenlang.auth.engine import expand_context
from greenlang.errors import InputError


@pytest.mark.parametrize(
    ("attribute", "operator", "value", "context", "expected"),
    [
        ("org", "not_in", ["blocked"], {"org": True}, None),
        ("org", "in", ["blocked"], {"org": True}, None),
        ("cls", "in", ["secret"], {"cls": 3}, None),
        ("tags", "contains", "secret", {"tags": [1, 2]}, None),
        ("tags", "contains", "secret", {"tags": []}, False),
        ("tags", "contains", "secret", {"tags": [1, "public"]}, False),
        ("tags", "contains", "secret", {"tags": [1, "secret"]}, True),
        ("org", "in", ["a", 1], {"org": 1}, True),
        ("org", "not_in", ["a"], {"org": "b"}, True),
        ("org", "not_in", ["a"], {"org": ["a"]}, None),
        ("n", "in", [1, 2], {"n": 2.0}, True),
        ("x", "not_in", [], {"x": {}}, None),
        ("x", "not_in", [], {"x": []}, None),
        ("x", "not_in", [], {"x": "a"}, True),
        ("x", "in", [], {"x": "a"}, False),
    ],
)
def test_membership_is_three_valued(
    attribute: str, operator: str, value: Any, context: dict[str, Any], expected: bool | None
) -> None:
    assert evaluate(Condition(attribute=attribute, operator=operator, value=value), context) is expected


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_refused_anywhere_in_the_context(bad: float) -> None:
    with pytest.raises(InputError, match="finite number"):
        expand_context({"risk": bad})
    with pytest.raises(InputError, match="'report.scores'"):
        expand_context({"report": {"scores": [1.0, bad]}})


def test_integers_past_exact_json_are_refused() -> None:
    with pytest.raises(InputError, match="too large for exact JSON"):
        expand_context({"n": 2**53})
    assert expand_context({"n": 2**53 - 1, "flag": True}) == {"n": 2**53 - 1, "flag": True}
