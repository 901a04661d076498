"""``on_cycles``: which new roles lie on a parent cycle, in one pass, agreeing with ``find_cycle`` role by role."""

from __future__ import annotations

import random

import pytest

from greenlang.auth.graph import find_cycle, on_cycles


def test_a_chain_has_no_cycle() -> None:
    parents_of = {"c": ["b"], "b": ["a"], "a": []}
    assert on_cycles(parents_of, ["a", "b", "c"]) == set()


def test_every_role_of_a_cycle_is_named_and_only_those_asked_about() -> None:
    parents_of = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert on_cycles(parents_of, ["a", "b", "c", "d"]) == {"a", "b", "c"}
    assert on_cycles(parents_of, ["b", "d"]) == {"b"}


def test_a_cycle_a_role_only_reaches_is_not_its_own() -> None:
    parents_of = {"new": ["x"], "x": ["y"], "y": ["x"]}
    assert on_cycles(parents_of, ["new"]) == set()
    assert find_cycle(parents_of, "new") is None


def test_a_role_that_is_its_own_parent_is_on_a_cycle() -> None:
    assert on_cycles({"a": ["a"], "b": ["a"]}, ["a", "b"]) == {"a"}


def test_a_long_chain_closed_into_a_ring_is_found_without_recursion() -> None:
    size = 200_000
    parents_of = {f"r{i}": [f"r{i - 1}"] for i in range(1, size)}
    parents_of["r0"] = []
    starts = list(parents_of)
    assert on_cycles(parents_of, starts) == set()
    parents_of["r0"] = [f"r{size - 1}"]
    assert len(on_cycles(parents_of, starts)) == size


@pytest.mark.parametrize("seed", range(40))
def test_agrees_with_find_cycle_on_random_graphs(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [f"n{i}" for i in range(rng.randint(1, 25))]
    parents_of = {node: rng.sample(nodes, rng.randint(0, min(3, len(nodes)))) for node in nodes}
    starts = rng.sample(nodes, rng.randint(1, len(nodes)))
    assert on_cycles(parents_of, starts) == {node for node in starts if find_cycle(parents_of, node) is not None}
