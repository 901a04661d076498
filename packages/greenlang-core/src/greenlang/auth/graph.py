"""The role inheritance graph: cycle checks on write, bounded walks on read.

Writes refuse cycles, but stored data may still hold one (written by another
tool, or by hand), so every walk keeps a visited set and always terminates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

__all__ = ["find_cycle", "ancestors", "check_parents", "check_parents_exist", "refuse_cycle", "on_cycles"]


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


def check_parents(
    role_id: str, role_name: str, parents: Iterable[str], names: Mapping[str, str], parents_of: dict[str, list[str]]
) -> None:
    """Refuse parents that do not exist and parent links that would lead back to the role.

    ``names`` and ``parents_of`` describe every stored role; ``parents_of`` is
    updated in place with the role's new parents.
    """
    parents = list(parents)
    check_parents_exist(role_id, role_name, parents, names)
    parents_of[role_id] = parents
    refuse_cycle(role_id, role_name, names, parents_of)


def check_parents_exist(role_id: str, role_name: str, parents: Iterable[str], names: Mapping[str, str]) -> None:
    """Refuse a parent that is not among ``names`` (every stored role), or is the role itself."""
    from greenlang.errors import NotFoundError

    for parent in parents:
        if parent not in names or parent == role_id:
            raise NotFoundError(
                f"role {role_name!r} names parent role {parent!r}, which does not exist; create the parent first"
            )


def refuse_cycle(
    role_id: str, role_name: str, names: Mapping[str, str], parents_of: Mapping[str, Iterable[str]]
) -> None:
    """Refuse the role if its parent links lead back to it, naming the cycle by role names."""
    from greenlang.errors import ConflictError

    cycle = find_cycle(parents_of, role_id)
    if cycle:
        path = " -> ".join(repr(role_name if node == role_id else names.get(node, node)) for node in cycle)
        raise ConflictError(
            f"role {role_name!r} would inherit from itself through {path}; remove one of these parent links"
        )


def on_cycles(parents_of: Mapping[str, Iterable[str]], starts: Iterable[str]) -> set[str]:
    """Those of ``starts`` that lie on a cycle, found in one pass over what they reach (Tarjan's components).

    Time grows with the roles and links reached, not with their square, so a
    batch of new roles is checked once rather than once per role.
    """
    wanted = set(starts)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cyclic: set[str] = set()
    for root in wanted:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, Iterator[str]]] = [(root, iter(parents_of.get(root, ())))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(parents_of.get(child, ()))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
                    if child == node:
                        cyclic.add(node)
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cyclic.update(component)
    return cyclic & wanted
