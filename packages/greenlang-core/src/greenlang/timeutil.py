"""Timezone-aware UTC everywhere.

A naive datetime is treated as UTC: the seed schema's ``TIMESTAMP`` columns
return naive values, so refusing them would make stored data unreadable.
Values with an offset are converted to UTC, so ``+01:00`` is honoured.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

__all__ = ["UTCDateTime", "Clock", "utcnow", "to_utc", "isoformat"]

Clock = Callable[[], datetime]


def to_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def isoformat(value: datetime) -> str:
    """The one text form of a timestamp: UTC, microseconds, ``Z`` suffix."""
    return to_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


UTCDateTime = Annotated[
    datetime,
    AfterValidator(to_utc),
    PlainSerializer(isoformat, return_type=str, when_used="json"),
]
"""A datetime field that is always timezone-aware UTC after validation."""
