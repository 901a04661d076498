"""Identifiers that never collide.

Random 128-bit UUIDs: no clock, counter or process state is involved, so ids
made in a tight loop, in several processes or on several machines stay distinct.
"""

from __future__ import annotations

import uuid

__all__ = ["ID_PATTERN", "new_id", "new_uuid"]

ID_PATTERN = r"^[A-Za-z0-9_.\-]+$"
"""What a record id may hold: letters, digits, ``_``, ``.`` and ``-`` (generated ids and hand-picked ones)."""


def new_id(prefix: str) -> str:
    """Return ``<prefix>_<32 hex digits>``, which fits the schema's VARCHAR(64)."""
    return f"{prefix}_{uuid.uuid4().hex}"


def new_uuid() -> str:
    """Return a canonical UUID string, as PostgreSQL's ``gen_random_uuid()`` does."""
    return str(uuid.uuid4())
