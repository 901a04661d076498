"""JSON values that the audit chain can hash.

Metadata, details, conditions and rules are hashed as RFC 8785 canonical JSON,
so they are checked for that at the door: no NaN or infinity, string keys only,
and integers within the range every JSON reader agrees on.
"""

from __future__ import annotations

from typing import Annotated, Any

import rfc8785
from pydantic import AfterValidator

__all__ = ["JSONObject", "AuditDetails", "MAX_JSON_BYTES", "MAX_DETAILS_BYTES", "canonical_json", "ensure_json"]

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
