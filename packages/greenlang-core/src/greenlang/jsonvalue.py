"""JSON values that the audit chain can hash.

Metadata, details, conditions and rules are hashed as RFC 8785 canonical JSON,
so they are checked for that at the door: no NaN or infinity, string keys only,
integers within the range every JSON reader agrees on, and no NUL character,
which PostgreSQL cannot keep in text or jsonb.
"""

from __future__ import annotations

import json
import math
import re
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
    "has_nul",
    "loads_strict",
]

MAX_JSON_BYTES = 64 * 1024
"""Metadata, conditions and rules: generous for real policy data, small enough to keep stores lean."""

MAX_DETAILS_BYTES = 1024 * 1024
"""Audit details hold before/after copies of records, so they get more room."""


_SAFE_INT = 2**53 - 1
"""``rfc8785`` accepts integers in ``[-(2**53 - 1), 2**53 - 1]`` and refuses the rest."""

_FAST_DEPTH = 100
"""Deeper values (or cyclic ones) go to ``rfc8785``, so they fail or succeed exactly as they always did."""

_ENCODER = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False
)


def _json_agrees(value: Any, depth: int = 0) -> bool:
    """Whether the C ``json`` encoder writes ``value`` exactly as RFC 8785 does.

    Both escape the same characters the same way (``"``, ``\\`` and U+0000 to
    U+001F, with the short forms and lowercase hex), so they differ only where
    this says no: non-finite floats or floats Python would print with an
    exponent or a trailing ``.0`` (RFC 8785 prints ECMAScript numbers, e.g.
    ``1e+21``, ``1e-7``, ``5``), keys above U+FFFF (RFC 8785 sorts by UTF-16
    code units, Python by code points), integers ``rfc8785`` refuses, and any
    type other than exact dict, list, str, int, float, bool and None.
    """
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        number: int = value
        return -_SAFE_INT <= number <= _SAFE_INT
    if kind is float:
        # Fixed notation with a fraction: Python's repr and ECMAScript's Number::toString agree.
        return 1e-4 <= abs(value) < 1e16 and not value.is_integer()
    if depth >= _FAST_DEPTH:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) <= "\uffff"):
                return False
            kind = type(item)
            if not (kind is str or item is None or kind is bool or _json_agrees(item, depth + 1)):
                return False
        return True
    if kind is list:
        for item in value:
            kind = type(item)
            if not (kind is str or item is None or kind is bool or _json_agrees(item, depth + 1)):
                return False
        return True
    return False


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of ``value``; raises ``ValueError`` if it has no JSON form.

    The C ``json`` encoder writes the same bytes as the pure-Python ``rfc8785``
    package several times faster whenever ``_json_agrees``; anything else
    (and a lone surrogate, which cannot be UTF-8) is left to ``rfc8785``.
    """
    if _json_agrees(value):
        try:
            return _ENCODER.encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValueError(f"value is not canonical JSON ({exc})") from exc
    except RecursionError:
        raise ValueError("value is nested too deeply to store; flatten it to a few hundred levels at most") from None


_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
"""``\\u0000`` after an even run of backslashes: a real NUL, not the text ``\\u0000`` (escaped as ``\\\\u0000``)."""


def has_nul(canonical: bytes) -> bool:
    """Whether canonical JSON bytes hold a NUL character in any key or string."""
    return b"\\u0000" in canonical and _NUL_ESCAPE.search(canonical) is not None


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
    """Return ``value`` unchanged if it has a canonical JSON form of at most ``limit`` bytes and no NUL."""
    canonical = canonical_json(value)
    if len(canonical) > limit:
        raise ValueError(
            f"value is {len(canonical):,} bytes of JSON; the limit is {limit:,} bytes, so store large data elsewhere"
        )
    if has_nul(canonical):
        raise ValueError("value contains a NUL character (U+0000), which stores cannot keep; remove it")
    return value


def _ensure_details(value: Any) -> Any:
    return ensure_json(value, MAX_DETAILS_BYTES)


JSONObject = Annotated[dict[str, Any], AfterValidator(ensure_json)]
AuditDetails = Annotated[dict[str, Any], AfterValidator(_ensure_details)]
