"""JSON values that the audit chain can hash.

Metadata, details, conditions and rules are hashed as RFC 8785 canonical JSON,
so they are checked for that at the door: no NaN or infinity, string keys only,
and integers within the range every JSON reader agrees on.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import rfc8785
from pydantic import AfterValidator

__all__ = [
    "JSONObject",
    "AuditDetails",
    "MAX_JSON_BYTES",
    "MAX_DETAILS_BYTES",
    "canonical_json",
    "ensure_json",
    "loads_strict",
]

MAX_JSON_BYTES = 64 * 1024
"""Metadata, conditions and rules: generous for real policy data, small enough to keep stores lean."""

MAX_DETAILS_BYTES = 1024 * 1024
"""Audit details hold before/after copies of records, so they get more room."""


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of ``value``; raises ``ValueError`` if it has no JSON form."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValueError(f"value is not canonical JSON ({exc})") from exc


class _NonFinite:
    """Stands in for ``NaN``, ``Infinity`` or an overflowing number until the key holding it is known."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _non_finite_in(value: Any) -> _NonFinite | None:
    """The first stand-in in ``value``, looking through lists; objects were checked when they were built."""
    if isinstance(value, _NonFinite):
        return value
    if isinstance(value, list):
        for item in value:
            found = _non_finite_in(item)
            if found is not None:
                return found
    return None


def _not_a_number(found: _NonFinite, key: str | None) -> ValueError:
    where = f"key {key!r} holds {found.text}, which" if key is not None else f"{found.text}"
    return ValueError(f"{where} is not a finite JSON number; write a finite number or a string")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice in one JSON object; keep one")
        found = _non_finite_in(value)
        if found is not None:
            raise _not_a_number(found, key)
        result[key] = value
    return result


def _number(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def loads_strict(text: str | bytes) -> Any:
    """Parse JSON that means exactly one thing to every reader.

    Python keeps the last of two equal keys while other readers (SQLite's
    ``json_extract``, some JavaScript engines) may keep the first, so a
    duplicate key is refused, as are ``NaN``, ``Infinity`` and numbers too
    large for a float, which have no JSON meaning. Raises ``ValueError``
    (``json.JSONDecodeError`` for malformed text) naming the key.
    """
    value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_NonFinite, parse_float=_number)
    found = _non_finite_in(value)
    if found is not None:
        raise _not_a_number(found, None)
    return value


def ensure_json(value: Any, limit: int = MAX_JSON_BYTES) -> Any:
    """Return ``value`` unchanged if it has a canonical JSON form of at most ``limit`` bytes."""
    size = len(canonical_json(value))
    if size > limit:
        raise ValueError(
            f"value is {size:,} bytes of JSON; the limit is {limit:,} bytes, so store large data elsewhere"
        )
    return value


def _ensure_details(value: Any) -> Any:
    return ensure_json(value, MAX_DETAILS_BYTES)


JSONObject = Annotated[dict[str, Any], AfterValidator(ensure_json)]
AuditDetails = Annotated[dict[str, Any], AfterValidator(_ensure_details)]
