"""Shared fixtures: every test gets its own store path and a fresh plugin registry."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenlang.plugins import reset_registry


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GREENLANG_DB", str(tmp_path / "greenlang.db"))
    monkeypatch.delenv("GREENLANG_PLUGINS", raising=False)
    monkeypatch.delenv("GREENLANG_BACKEND", raising=False)
    monkeypatch.delenv("GREENLANG_KEY_PASSPHRASE", raising=False)
    reset_registry()
    yield
    reset_registry()


def _require(condition: bool, what: str, install: str) -> None:
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required in CI; {install}")
    pytest.skip(f"{what} is not available; {install}")


@pytest.fixture
def require() -> object:
    """``require(condition, what, install)``: skip outside CI naming the fix, fail inside CI."""
    return _require


@pytest.fixture
def only_builtin_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load no installed plugin, so "missing backend" messages show whatever else this machine has installed."""
    monkeypatch.setenv("GREENLANG_PLUGINS", "")
    reset_registry()
