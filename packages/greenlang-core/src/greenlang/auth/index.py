"""Rule buckets: the rules of one holder and one action, found by resource without scanning them all.

A bucket holds the rules that one role (or subject, or everyone) has for one
action, as entries ``(literal, prefix, pattern, rule)``: a pattern with no
wildcard is matched by string equality with ``literal``, one whose only
wildcard is a final ``**`` by ``prefix``, and the rest segment by segment.
Most buckets hold a handful of entries and are scanned; a bucket of
``TRIE_THRESHOLD`` entries or more also files them in a segment trie whose
``*`` and ``**`` are branches of their own, so a holder of thousands of rules
costs a check only the entries whose pattern can match the resource. Either
way the caller still confirms each entry's match and runs the rule's verdict:
the index only narrows, it never decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, Protocol, TypeVar

__all__ = [
    "ANY_ACTION",
    "TRIE_THRESHOLD",
    "ActionMap",
    "Bucket",
    "Entry",
    "PatternLike",
    "ResourceTrie",
    "action_map",
    "bucket_of",
]

ANY_ACTION = "*"
TRIE_THRESHOLD = 16
"""From this many entries a trie walk beats a scan (measured with bench/authz.py)."""


class PatternLike(Protocol):
    """What ``snapshot.CompiledPattern`` offers the index."""

    @property
    def fixed(self) -> tuple[str, ...]: ...
    @property
    def open_ended(self) -> bool: ...
    @property
    def literal(self) -> str | None: ...
    @property
    def prefix(self) -> str | None: ...

    def matches(self, resource: list[str]) -> bool: ...


T = TypeVar("T")
P = TypeVar("P", bound=PatternLike)
Entry = tuple[str | None, str | None, P, T]
"""``(literal, prefix, pattern, rule)``: a rule under one of its patterns."""


class _Node(Generic[P, T]):
    """One trie level: literal children, the ``*`` child, and entries ending here exactly or with ``**``."""

    __slots__ = ("children", "star", "exact", "rest")

    def __init__(self) -> None:
        self.children: dict[str, _Node[P, T]] = {}
        self.star: _Node[P, T] | None = None
        self.exact: list[Entry[P, T]] = []
        self.rest: list[Entry[P, T]] = []


class ResourceTrie(Generic[P, T]):
    """Entries filed under the segments of their patterns; ``*`` and ``**`` are branches of their own."""

    __slots__ = ("_root",)

    def __init__(self, entries: Iterable[Entry[P, T]]) -> None:
        self._root: _Node[P, T] = _Node()
        for entry in entries:
            self._add(entry)

    def _add(self, entry: Entry[P, T]) -> None:
        pattern = entry[2]
        node = self._root
        for segment in pattern.fixed:
            if segment == "*":
                if node.star is None:
                    node.star = _Node()
                node = node.star
            else:
                child = node.children.get(segment)
                if child is None:
                    child = node.children[segment] = _Node()
                node = child
        (node.rest if pattern.open_ended else node.exact).append(entry)

    def entries(self, parts: Sequence[str]) -> list[Entry[P, T]]:
        """The entries whose pattern matches ``parts``."""
        found: list[Entry[P, T]] = []
        end = len(parts)
        stack: list[tuple[_Node[P, T], int]] = [(self._root, 0)]
        while stack:
            node, depth = stack.pop()
            if node.rest:
                found.extend(node.rest)
            if depth == end:
                if node.exact:
                    found.extend(node.exact)
                continue
            child = node.children.get(parts[depth])
            if child is not None:
                stack.append((child, depth + 1))
            if node.star is not None:
                stack.append((node.star, depth + 1))
        return found


class Bucket(Generic[P, T]):
    """The rules of one holder for one action: entries to scan, or a trie when there are many."""

    __slots__ = ("items", "scan", "trie")

    def __init__(self, items: tuple[T, ...], entries: tuple[Entry[P, T], ...]) -> None:
        self.items = items
        large = len(entries) >= TRIE_THRESHOLD
        self.scan: tuple[Entry[P, T], ...] | None = None if large else entries
        self.trie: ResourceTrie[P, T] | None = ResourceTrie(entries) if large else None

    def entries(self, parts: Sequence[str]) -> Sequence[Entry[P, T]]:
        """A superset of the entries that match ``parts``."""
        scan = self.scan
        if scan is not None:
            return scan
        assert self.trie is not None
        return self.trie.entries(parts)

    def matching(self, resource: str, parts: list[str]) -> Iterator[T]:
        """The rules whose pattern matches ``resource`` (split as ``parts``)."""
        for literal, prefix, pattern, item in self.entries(parts):
            if literal is not None:
                if literal != resource:
                    continue
            elif prefix is not None:
                if not resource.startswith(prefix) and resource != prefix[:-1]:
                    continue
            elif not pattern.matches(parts):
                continue
            yield item


ActionMap = dict[str, Bucket[P, T]]
"""One holder's buckets by action. A rule for ``*`` is in every action's bucket and alone under ``*``,
so a lookup is ``m.get(action) or m.get("*")``."""


def bucket_of(items: Iterable[T], patterns_of: Callable[[T], Iterable[P]]) -> Bucket[P, T]:
    """A bucket of ``items``; ``patterns_of`` gives each item's compiled patterns."""
    frozen = tuple(items)
    entries = tuple((p.literal, p.prefix, p, item) for item in frozen for p in patterns_of(item))
    return Bucket(frozen, entries)


def action_map(
    entries: Iterable[tuple[Iterable[str], T]], patterns_of: Callable[[T], Iterable[P]]
) -> dict[str, Bucket[P, T]]:
    """Index ``(actions, item)`` pairs by action, keeping their order within each bucket."""
    pairs = [(frozenset(actions), item) for actions, item in entries]
    named: dict[str, list[T]] = {name: [] for names, _ in pairs for name in names if name != ANY_ACTION}
    wildcard: list[T] = []
    for names, item in pairs:
        if ANY_ACTION in names:
            wildcard.append(item)
            for items in named.values():
                items.append(item)
        else:
            for name in names:
                named[name].append(item)
    if wildcard:
        named[ANY_ACTION] = wildcard
    return {name: bucket_of(items, patterns_of) for name, items in named.items()}
