"""Every hook is documented in docs/plugins.md and has a ``test_hook_<name>`` test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from greenlang import hookspecs

REPO = Path(__file__).resolve().parents[4]
TESTS = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name, value in vars(hookspecs).items() if callable(value) and hasattr(value, "greenlang_spec"))


def test_there_are_hooks_to_check() -> None:
    assert HOOKS == ["register_auth_backends", "register_commands", "register_kms_providers"]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    text = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert f"### `{hook}(" in text, f"docs/plugins.md needs a '### `{hook}(...)`' section"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook: str) -> None:
    names = set()
    for path in TESTS.rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert f"test_hook_{hook}" in names
