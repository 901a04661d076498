"""The exceptions users see.

Every message is one sentence that names what was wrong and what to do next,
so the CLI can print it as is and exit 2 (input) or 1 (a failed check).
"""

from __future__ import annotations

import re

__all__ = [
    "GreenlangError",
    "InputError",
    "NotFoundError",
    "ConflictError",
    "DuplicateError",
    "MissingPluginError",
    "VerificationError",
    "StoreError",
    "KMSError",
    "KeyUnusableError",
    "AlgorithmMismatchError",
    "shown",
    "KMSUnavailableError",
    "CircuitOpenError",
]


class GreenlangError(Exception):
    """Base class of every error this SDK raises on purpose."""


class InputError(GreenlangError, ValueError):
    """Bad input: a field, a file or an argument. Nothing was stored or signed."""


class NotFoundError(GreenlangError, LookupError):
    """The named object does not exist in the store."""


class ConflictError(InputError):
    """The write would break a uniqueness or graph rule (duplicate name, role cycle)."""


class DuplicateError(ConflictError):
    """A record with the same unique name (``role_name``, ``policy_name``) or id already exists."""


class MissingPluginError(GreenlangError, LookupError):
    """No installed plugin provides the requested backend or key scheme."""


class VerificationError(GreenlangError):
    """A signature, envelope or audit chain did not verify."""


class StoreError(GreenlangError):
    """The store could not complete an operation; nothing was changed."""


class KMSError(GreenlangError):
    """A key-management service could not sign, or answered with something that does not check out."""


class KeyUnusableError(KMSError, InputError):
    """The key cannot sign as configured (not found, disabled, access denied, wrong usage); retrying will not help."""


class KMSUnavailableError(KMSError):
    """The service stayed unavailable (throttling, timeouts, 5xx) through every allowed attempt; nothing was signed."""


class CircuitOpenError(KMSUnavailableError):
    """Failing fast: recent calls to this key all failed, so no request is sent until the breaker's probe succeeds."""


class AlgorithmMismatchError(InputError):
    """The requested algorithm does not fit the key's type; nothing was signed."""


def shown(value: object, limit: int = 80) -> str:
    """``value`` quoted for an error message, cut short so a pasted blob cannot flood a terminal or a log."""
    text = _USERINFO.sub(r"\1***@", value if isinstance(value, str) else str(value))  # never echo a password
    return repr(text if len(text) <= limit else text[:limit] + "...")


_USERINFO = re.compile(r"(://)[^/@\s]*@")
