"""Fixtures for the signing tests: keys made once per session, and the openssl CLI."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fake_clock import FakeClock
from signing_crosscheck import find_openssl

from greenlang.security.algorithms import PrivateKey
from greenlang.security.keys import generate_private_key


@pytest.fixture(scope="session")
def key_cache() -> dict[str, PrivateKey]:
    return {}


@pytest.fixture
def private_key(key_cache: dict[str, PrivateKey]) -> Callable[[str], PrivateKey]:
    """``private_key(kind)``: one key per kind for the whole session (RSA-4096 is slow to make)."""

    def get(kind: str) -> PrivateKey:
        if kind not in key_cache:
            key_cache[kind] = generate_private_key(kind)
        return key_cache[kind]

    return get


@pytest.fixture
def openssl(require: Callable[[bool, str, str], None]) -> str:
    path = find_openssl()
    require(path is not None, "the openssl command-line tool", "install openssl (apt-get install openssl)")
    assert path is not None
    return path


@pytest.fixture
def clock() -> FakeClock:
    """A fake monotonic clock starting at 1000 s."""
    return FakeClock()
