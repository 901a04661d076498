"""How a bulk create is audited: one ``<kind>.bulk_created`` event per chunk of records, not one per record.

A bulk load of 10,000 permissions would otherwise write 10,000 audit rows and
cost as much as the load itself. Each chunk's event lists every record it
created, in order, as it was stored (``details.created``), so replaying the
trail still rebuilds every record. A chunk holds at most ``CHUNK_RECORDS``
records and stays well under the audit details limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from greenlang.jsonvalue import MAX_DETAILS_BYTES

__all__ = ["BULK_VERB", "CHUNK_RECORDS", "chunks", "details_json"]

BULK_VERB = "bulk_created"
CHUNK_RECORDS = 1000
_ESTIMATED_BUDGET = MAX_DETAILS_BYTES // 4
"""For sizes measured as ASCII-escaped JSON. That is never shorter than the UTF-8 canonical form, except for
whole floats from 1e16 up, which RFC 8785 writes out in full (``1e+16`` becomes 17 digits, at most 3.4 times
longer): a quarter of the limit keeps even a chunk made only of such numbers under it."""
_EXACT_BUDGET = MAX_DETAILS_BYTES - 1024
"""For exact canonical sizes; the rest covers ``{"created":[...]}`` and the commas."""


def chunks(dumps: Sequence[dict[str, Any]], sizes: Sequence[int] | None = None) -> Iterator[range]:
    """Consecutive index ranges of ``dumps`` (records' JSON forms), each small enough for one audit event.

    ``sizes``, when given, are the exact byte lengths of each record's canonical JSON.
    """
    budget = _ESTIMATED_BUDGET if sizes is None else _EXACT_BUDGET
    start = 0
    total = 0
    for index, dump in enumerate(dumps):
        length = len(json.dumps(dump, separators=(",", ":"))) if sizes is None else sizes[index]
        if index > start and (index - start >= CHUNK_RECORDS or total + length > budget):
            yield range(start, index)
            start, total = index, 0
        total += length
    if start < len(dumps):
        yield range(start, len(dumps))


def details_json(records: Sequence[bytes]) -> bytes:
    """The canonical JSON of ``{"created": [...]}`` from each record's own canonical JSON, in order."""
    return b'{"created":[' + b",".join(records) + b"]}"
