"""Records kept as tuples of their field values, for snapshots that hold a hundred thousand of them.

A pydantic record costs about 1.2 KB (its ``__dict__``, its fields-set and
its empty defaults); the same values in a tuple cost a fifth of that. A
snapshot needs a record's fields at check time only through its compiled
form, so it keeps permissions and assignments packed and rebuilds a record,
equal to the one it was given, when someone asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

__all__ = ["Packed", "pack", "PackedView"]

R = TypeVar("R", bound=BaseModel)
V = TypeVar("V")
K = TypeVar("K")

_EMPTY_LIST = ("list",)
_EMPTY_DICT = ("dict",)
_FIELD_SETS: dict[frozenset[str], frozenset[str]] = {}


class Packed(Generic[R]):
    """One record's field values, in field order, and which fields were set explicitly."""

    __slots__ = ("kind", "values", "fields_set")

    def __init__(self, kind: type[R], values: tuple[Any, ...], fields_set: frozenset[str]) -> None:
        self.kind = kind
        self.values = values
        self.fields_set = fields_set

    def record(self) -> R:
        """A record equal to the one packed (``==``, ``model_dump`` and ``exclude_unset`` alike)."""
        values = {
            name: [] if value is _EMPTY_LIST else {} if value is _EMPTY_DICT else value
            for name, value in zip(self.kind.model_fields, self.values, strict=True)
        }
        return self.kind.model_construct(_fields_set=set(self.fields_set), **values)


def pack(record: R) -> Packed[R]:
    """Pack a record; empty lists and dicts become shared markers, and field sets are shared."""
    values = tuple(_marker(value) for value in record.__dict__.values())
    fields_set = frozenset(record.model_fields_set)
    return Packed(type(record), values, _FIELD_SETS.setdefault(fields_set, fields_set))


def _marker(value: Any) -> Any:
    kind = type(value)
    if kind is list and not value:
        return _EMPTY_LIST
    if kind is dict and not value:
        return _EMPTY_DICT
    return value


class PackedView(Mapping[K, V]):
    """A read-only mapping whose values are rebuilt on access from what it holds."""

    __slots__ = ("_items", "_unpack")

    def __init__(self, items: Mapping[K, Any], unpack: Callable[[Any], V]) -> None:
        self._items = items
        self._unpack = unpack

    def __getitem__(self, key: K) -> V:
        return self._unpack(self._items[key])

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"<{len(self._items)} packed records>"
