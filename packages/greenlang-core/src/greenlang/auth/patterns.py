"""Resource names and the patterns that match them.

A resource is a list of colon-separated segments, e.g.
``emissions:org-1:site-9:report-2026``. In a pattern, ``*`` stands for exactly
one segment and ``**``, allowed only as the last segment, for zero or more
trailing segments. Matching is anchored at both ends and runs in time linear
in the number of segments, whatever the input.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

__all__ = [
    "SEPARATOR",
    "MAX_LENGTH",
    "ResourcePattern",
    "ResourceName",
    "validate_pattern",
    "validate_resource",
    "parse_pattern",
    "matches",
]

SEPARATOR = ":"
MAX_LENGTH = 255
_SEGMENT = re.compile(r"[A-Za-z0-9_.@/+=\-]+")


def _segments(value: str, what: str) -> list[str]:
    if not isinstance(value, str):
        raise ValueError(f"a {what} must be a string")
    if not value.strip():
        raise ValueError(f"a {what} must not be empty or whitespace; give segments like 'emissions:org-1'")
    if len(value) > MAX_LENGTH:
        raise ValueError(f"a {what} must be at most {MAX_LENGTH} characters, got {len(value)}")
    return value.split(SEPARATOR)


def validate_pattern(value: str) -> str:
    """Return ``value`` if it is a well-formed pattern, else raise ``ValueError``."""
    parts = _segments(value, "resource pattern")
    for index, part in enumerate(parts):
        if part == "**":
            if index != len(parts) - 1:
                raise ValueError(
                    f"'**' may only be the last segment of a resource pattern, as in 'reports:**'; got {value!r}"
                )
        elif part == "*":
            continue
        elif not part:
            raise ValueError(f"resource pattern {value!r} has an empty segment; remove the doubled or trailing ':'")
        elif "*" in part:
            raise ValueError(
                f"resource pattern {value!r} mixes '*' with text in segment {part!r}; "
                "a wildcard must be a whole segment"
            )
        elif not _SEGMENT.fullmatch(part):
            raise ValueError(
                f"resource pattern {value!r} has segment {part!r} with characters outside letters, digits and _.@/+=-"
            )
    return value


def validate_resource(value: str) -> str:
    """Return ``value`` if it is a concrete resource name (no wildcards), else raise."""
    parts = _segments(value, "resource")
    for part in parts:
        if not part:
            raise ValueError(f"resource {value!r} has an empty segment; remove the doubled or trailing ':'")
        if not _SEGMENT.fullmatch(part):
            raise ValueError(
                f"resource {value!r} has segment {part!r}; "
                "a resource uses letters, digits and _.@/+=- only, and no wildcards"
            )
    return value


ResourcePattern = Annotated[str, AfterValidator(validate_pattern)]
"""A stored pattern: checked when stored, so no malformed pattern reaches a check."""

ResourceName = Annotated[str, AfterValidator(validate_resource)]
"""A concrete resource named in a request."""


def parse_pattern(pattern: str) -> tuple[tuple[str, ...], bool]:
    """Split a valid pattern into its fixed segments and whether it ends in ``**``."""
    parts = pattern.split(SEPARATOR)
    if parts[-1] == "**":
        return tuple(parts[:-1]), True
    return tuple(parts), False


def matches(pattern: str, resource: str) -> bool:
    """Whether ``pattern`` matches all of ``resource``."""
    fixed, open_ended = parse_pattern(pattern)
    return segments_match(fixed, open_ended, resource.split(SEPARATOR))


def segments_match(fixed: tuple[str, ...], open_ended: bool, resource: list[str]) -> bool:
    """Match pre-split segments; ``open_ended`` means the pattern ended in ``**``."""
    if open_ended:
        if len(resource) < len(fixed):
            return False
    elif len(resource) != len(fixed):
        return False
    for want, got in zip(fixed, resource, strict=False):  # noqa: SIM110 - a loop, not all(), in the hot path
        if want != got and want != "*":
            return False
    return True
