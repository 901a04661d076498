"""JSON values that the audit chain can hash.

Metadata, details, conditions and rules are hashed as RFC 8785 canonical JSON,
so they are checked for that at the door: no NaN or infinity, string keys only,
and integers within the range every JSON reader agrees on.
"""

from __future__ import annotations

from typing import Annotated, Any

import rfc8785
from pydantic import AfterValidator

__all__ = ["JSONObject", "canonical_json", "ensure_json"]


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of ``value``; raises ``ValueError`` if it has no JSON form."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValueError(f"value is not canonical JSON ({exc})") from exc


def ensure_json(value: Any) -> Any:
    """Return ``value`` unchanged if it has a canonical JSON form."""
    canonical_json(value)
    return value


JSONObject = Annotated[dict[str, Any], AfterValidator(ensure_json)]
