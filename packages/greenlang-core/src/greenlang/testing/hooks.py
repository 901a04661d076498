"""What a backend author provides so the conformance suite can run: a store, a reopen, raw row access.

Every hook raises ``NotImplementedError`` until overridden, so a missing hook
fails its tests loudly instead of skipping them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from greenlang.audit.events import AuditEvent
from greenlang.auth.backends.base import AuthBackend

__all__ = ["ConformanceHooks"]


def _missing(hook: str, what: str) -> NotImplementedError:
    return NotImplementedError(
        f"the backend author must implement {hook} on their BackendConformance subclass: {what} "
        "(see docs/conformance.md)"
    )


class ConformanceHooks:
    """The hooks; ``BackendConformance`` inherits them."""

    @pytest.fixture
    def backend(self) -> Iterator[AuthBackend]:
        """An empty, open store; close it after the test (``SyncFacade`` wraps an async one)."""
        raise _missing("the 'backend' fixture", "yield an empty, open AuthBackend and close it afterwards")
        yield  # noqa: PT022

    def reopen(self, backend: AuthBackend) -> AuthBackend:
        """Close ``backend`` and return a new store object over the same stored data."""
        raise _missing("reopen(backend)", "close the store and return a new one over the same data")

    def tamper(self, backend: AuthBackend, sequence: int, field: str, value: Any) -> None:
        """Overwrite ``field`` of the stored event ``sequence`` with ``value``, bypassing every check.

        ``value`` is in the event's JSON form (``AuditEvent.model_dump(mode="json")``):
        timestamps are ISO-8601 text, ``details`` a dict. The chain head is left alone.
        """
        raise _missing("tamper(backend, sequence, field, value)", "overwrite one stored audit field directly")

    def delete_raw_event(self, backend: AuthBackend, sequence: int) -> None:
        """Remove the stored event ``sequence``; other rows and the chain head are left alone."""
        raise _missing("delete_raw_event(backend, sequence)", "delete one stored audit row directly")

    def swap_raw_events(self, backend: AuthBackend, first: int, second: int) -> None:
        """Exchange the places of two stored events: each takes the other's ``sequence``, all else stays."""
        raise _missing("swap_raw_events(backend, first, second)", "exchange the sequence numbers of two audit rows")

    def insert_raw_event(self, backend: AuthBackend, event: AuditEvent) -> None:
        """Store ``event`` as is at ``event.sequence``, first moving every stored event at or after it one later.

        The chain head is left alone.
        """
        raise _missing("insert_raw_event(backend, event)", "insert an audit row directly, renumbering later rows")

    def force_role_parents(self, backend: AuthBackend, role_id: str, parent_ids: Sequence[str]) -> None:
        """Set a stored role's parents without any check (to plant a cycle, case A3)."""
        raise _missing("force_role_parents(backend, role_id, parent_ids)", "write a role's parent ids directly")
