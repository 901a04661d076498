"""The role inheritance graph: cycle checks on write, bounded walks on read.

Writes refuse cycles, but stored data may still hold one (written by another
tool, or by hand), so every walk keeps a visited set and always terminates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

__all__ = ["find_cycle", "ancestors"]


def find_cycle(parents_of: Mapping[str, Iterable[str]], start: str) -> list[str] | None:
    """A path ``start -> ... -> start`` through ``parents_of``, or ``None``."""
    stack: list[tuple[str, Iterator[str]]] = [(start, iter(parents_of.get(start, ())))]
    path = [start]
    on_path = {start}
    done: set[str] = set()
    while stack:
        node, children = stack[-1]
        for child in children:
            if child == start:
                return [*path, start]
            if child in on_path or child in done:
                continue
            stack.append((child, iter(parents_of.get(child, ()))))
            path.append(child)
            on_path.add(child)
            break
        else:
            stack.pop()
            path.pop()
            on_path.discard(node)
            done.add(node)
    return None


def ancestors(start: Iterable[str], parents_of: Callable[[str], Iterable[str]]) -> list[str]:
    """``start`` and every role they inherit from, each once, in breadth-first order."""
    seen: dict[str, None] = {}
    queue = list(start)
    while queue:
        node = queue.pop(0)
        if node in seen:
            continue
        seen[node] = None
        queue.extend(parent for parent in parents_of(node) if parent not in seen)
    return list(seen)
