"""The backend conformance suite: the behaviour every ``AuthBackend`` must show.

Subclass ``BackendConformance`` in a test module whose class name starts with
``Test``, provide the ``backend`` fixture and the raw-row hooks, and pytest runs
every check against your store. See ``docs/conformance.md``.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from greenlang.testing.suite_audit import AuditChecks
from greenlang.testing.suite_records import RecordChecks
from greenlang.testing.suite_tenants import TenantChecks

__all__ = ["BackendConformance"]


class BackendConformance(RecordChecks, TenantChecks, AuditChecks):
    """Every check of the storage contract in ``greenlang.auth.backends.base``.

    Provide: the ``backend`` fixture (an empty, open store), ``reopen``,
    ``tamper``, ``delete_raw_event``, ``swap_raw_events``, ``insert_raw_event``
    and ``force_role_parents``. An async store runs through ``SyncFacade``.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.greenlang_conformance]
