"""Driver errors turned into the SDK's, the same way for psycopg and asyncpg (by SQLSTATE).

Messages name the server with its password masked, never the statement's
parameters, and say what to do next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from greenlang.errors import ConflictError, DuplicateError, GreenlangError, InputError, StoreError

__all__ = ["Fault", "OutcomeUnknown", "classify", "translate", "commit_outcome_unknown", "cannot_connect"]

_LOST_PREFIXES = ("08", "57P")
"""Connection exceptions and operator intervention (``pg_terminate_backend``, shutdown)."""


@dataclass(frozen=True)
class Fault:
    """What a driver reported, in driver-neutral terms."""

    sqlstate: str | None
    constraint: str | None
    detail: str | None
    message: str
    connection_lost: bool


def classify(exc: BaseException) -> Fault | None:
    """Read a psycopg or asyncpg exception; ``None`` for anything that is not a database error."""
    module = type(exc).__module__
    if module.startswith("psycopg"):
        import psycopg

        if not isinstance(exc, psycopg.Error):
            return None
        diag = exc.diag
        sqlstate = exc.sqlstate
        lost = isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and (
            sqlstate is None or sqlstate.startswith(_LOST_PREFIXES)
        )
        return Fault(sqlstate, diag.constraint_name, diag.message_detail, _first_line(exc), lost)
    if module.startswith("asyncpg"):
        import asyncpg

        sqlstate = getattr(exc, "sqlstate", None)
        lost = isinstance(exc, asyncpg.ConnectionDoesNotExistError | asyncpg.InterfaceError) or bool(
            sqlstate and sqlstate.startswith(_LOST_PREFIXES)
        )
        return Fault(
            sqlstate, getattr(exc, "constraint_name", None), getattr(exc, "detail", None), _first_line(exc), lost
        )
    return None


def translate(fault: Fault, server: str) -> GreenlangError:
    """The SDK error for ``fault``; nothing was committed whenever this is raised."""
    if fault.connection_lost:
        return StoreError(
            f"lost the connection to {server} ({fault.message}); the transaction was rolled back, so retry it"
        )
    state = fault.sqlstate or ""
    detail = f" ({fault.detail})" if fault.detail else ""
    if state == "23505":
        return _duplicate(fault)
    if state.startswith("23"):
        return ConflictError(f"the store refused the write because it breaks a rule{detail}; nothing was changed")
    if state.startswith("22"):
        return InputError(f"the store refused a value ({fault.message}); nothing was changed")
    if state in ("40001", "40P01"):
        return StoreError(f"the write collided with another one ({fault.message}); nothing was changed, so retry it")
    if state == "42P01" or state == "42703":
        return StoreError(
            f"the database at {server} lacks greenlang's tables ({fault.message}); run `greenlang db upgrade`"
        )
    return StoreError(f"the database at {server} could not complete the operation ({fault.message})")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class OutcomeUnknown(StoreError):
    """The connection dropped while a write was committing: the server may have stored it, or not."""


def commit_outcome_unknown(exc: BaseException, server: str, doing: str = "committing") -> OutcomeUnknown | None:
    """The error for a connection lost while a commit (or a self-committing statement) was in flight."""
    fault = classify(exc)
    if fault is None or not fault.connection_lost:
        return None
    return OutcomeUnknown(
        f"lost the connection to {server} while {doing} ({fault.message}); the change may or may not have "
        "been stored, so check before retrying it"
    )


def cannot_connect(exc: BaseException, server: str) -> GreenlangError:
    """The error for a failed connect, from the driver's first line (never the connection string)."""
    if isinstance(exc, GreenlangError):
        return exc
    text = str(getattr(exc, "orig", exc)).strip().splitlines()
    return StoreError(
        f"cannot connect to {server} ({text[0] if text else type(exc).__name__}); "
        "check GL_DB_HOST, GL_DB_PORT, the credentials and that the server is running"
    )


_UNIQUE = {
    "permissions_pkey": ("permission", "permission_id"),
    "roles_pkey": ("role", "role_id"),
    "roles_role_name_key": ("role", "role_name"),
    "policies_pkey": ("policy", "policy_id"),
    "policies_policy_name_key": ("policy", "policy_name"),
    "role_assignments_pkey": ("role assignment", "assignment_id"),
    "audit_logs_pkey": ("audit event", "log_id"),
}
_KEY_VALUE = re.compile(r"^Key \((?P<column>[^)]+)\)=\((?P<value>.*)\) already exists\.?$")


def _duplicate(fault: Fault) -> DuplicateError:
    """Name the record and the value, as the checks before the write would have."""
    what, column = _UNIQUE.get(fault.constraint or "", ("record", "key"))
    match = _KEY_VALUE.match(fault.detail or "")
    value = f" {match.group('value')!r}" if match else ""
    return DuplicateError(
        f"a {what} with {column}{value} already exists, or appears twice in one batch; "
        f"give each its own {column}, or update the existing {what}"
    )
