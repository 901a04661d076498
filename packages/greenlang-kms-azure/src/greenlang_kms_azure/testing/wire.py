"""What the local vault's answers look like on the wire: base64url fields and service-shaped error bodies.

Key Vault writes binary fields as base64url without padding and reads them with or without it. Its errors are
``{"error": {"code", "message", "innererror"?}}``; Entra ID's are flat OAuth 2 bodies. Both are built here so
every route answers in the same shape the real services use.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reply", "VaultError", "b64url_decode", "b64url_encode"]


def b64url_encode(data: bytes) -> str:
    """base64url without padding, as Key Vault writes every binary field."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; raise ``ValueError`` for anything else."""
    if not isinstance(text, str) or any(c in text for c in "+/ \n\r\t"):
        raise ValueError("not base64url")
    stripped = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, extra headers and a JSON body (``None`` for an empty body)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body, separators=(",", ":")).encode()


class VaultError(Exception):
    """A Key Vault error answer: HTTP status, top-level code, message and optional inner code."""

    def __init__(self, status: int, code: str, message: str, inner: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner

    def reply(self, headers: dict[str, str] | None = None) -> Reply:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner is not None:
            error["innererror"] = {"code": self.inner}
        return Reply(self.status, {"error": error}, dict(headers or {}))

    @classmethod
    def bad_parameter(cls, message: str) -> VaultError:
        return cls(400, "BadParameter", message)

    @classmethod
    def forbidden(cls, message: str, inner: str) -> VaultError:
        return cls(403, "Forbidden", message, inner)
