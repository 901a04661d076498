"""The pytest plugin behind the ``pytest11`` entry point: assertion rewriting and the suite's marker."""

from __future__ import annotations

import pytest

__all__ = ["pytest_configure"]

pytest.register_assert_rewrite(
    "greenlang.testing.hooks",
    "greenlang.testing.suite",
    "greenlang.testing.suite_audit",
    "greenlang.testing.suite_records",
    "greenlang.testing.suite_tenants",
    "greenlang.testing.sqlite",
    "greenlang.testing.suite_kms",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "greenlang_conformance: a check from one of greenlang.testing's conformance suites"
    )
