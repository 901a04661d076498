"""The suite as a third party meets it: loaded by the pytest11 plugin, loud about missing hooks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.testing import BackendConformance
from greenlang.testing.hooks import ConformanceHooks

THIRD_PARTY = """
import pytest
from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.testing import BackendConformance


class TestHalfDone(BackendConformance):
    @pytest.fixture
    def backend(self, tmp_path):
        store = SQLiteBackend(tmp_path / "x.db")
        yield store
        store.close()
"""


def _run_suite(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_third_party.py").write_text(THIRD_PARTY)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers", "-rf", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )


def test_missing_hooks_fail_loudly_instead_of_skipping(tmp_path: Path) -> None:
    result = _run_suite(tmp_path, "-m", "greenlang_conformance", "-k", "swapping or stored_cycle or reopen")
    assert result.returncode == 1, result.stdout
    assert "the backend author must implement swap_raw_events" in result.stdout
    assert "the backend author must implement force_role_parents" in result.stdout
    assert "the backend author must implement reopen" in result.stdout
    assert " skipped" not in result.stdout
    assert "5 failed" in result.stdout


def test_checks_that_need_no_hooks_pass_for_a_third_party_subclass(tmp_path: Path) -> None:
    result = _run_suite(tmp_path, "-q", "-k", "A4 or round_trips")
    assert result.returncode == 0, result.stdout
    assert " passed" in result.stdout


def test_every_hook_raises_until_implemented() -> None:
    hooks = ConformanceHooks()
    store = SQLiteBackend(":memory:")
    try:
        calls: list[Callable[[], object]] = [
            lambda: hooks.reopen(store),
            lambda: hooks.tamper(store, 1, "user_id", "x"),
            lambda: hooks.delete_raw_event(store, 1),
            lambda: hooks.swap_raw_events(store, 1, 2),
            lambda: hooks.insert_raw_event(store, None),  # type: ignore[arg-type]
            lambda: hooks.force_role_parents(store, "r", []),
        ]
        for call in calls:
            with pytest.raises(NotImplementedError, match="the backend author must implement"):
                call()
    finally:
        store.close()
    assert issubclass(BackendConformance, ConformanceHooks)
    assert not BackendConformance.__name__.startswith("Test")
