"""The local vault's keys: named keys with versions, their attributes, and their JSON as Key Vault returns it.

A key name holds versions in creation order; the newest is the current one, enabled or not, as in Azure. Each
version keeps its private key so the vault can sign and tests can use it as an oracle. Bundles render the
public key as a JWK with fixed-width EC coordinates and base64url without padding.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from greenlang_kms_azure.testing.signing import CURVES, PrivateKey
from greenlang_kms_azure.testing.wire import VaultError, b64url_encode

__all__ = ["KEY_OPERATIONS", "KEY_TYPES", "RSA_SIZES", "KeyStore", "KeyVersion", "check_name"]

KEY_TYPES = ("EC", "EC-HSM", "RSA", "RSA-HSM")
RSA_SIZES = (2048, 3072, 4096)
KEY_OPERATIONS = ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export")
_DEFAULT_OPERATIONS = {
    "EC": ("sign", "verify"),
    "RSA": ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"),
}
_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
_RECOVERY_LEVEL = "Recoverable+Purgeable"
_RECOVERABLE_DAYS = 90
_NOT_FOUND = (
    "A key with (name/id) {} was not found in this key vault. If you recently deleted this key you may be able "
    "to recover it using the correct recovery command. For help resolving this issue, please see "
    "https://go.microsoft.com/fwlink/?linkid=2125182"
)


def _unsigned(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


@dataclass
class KeyVersion:
    """One version of a key; ``private_key`` never appears in its repr."""

    name: str
    version: str
    kty: str
    crv: str | None
    size: int | None
    private_key: PrivateKey = field(repr=False)
    key_ops: tuple[str, ...]
    enabled: bool
    created: int
    updated: int
    tags: dict[str, str] = field(default_factory=dict)

    def kid(self, base_url: str) -> str:
        return f"{base_url}/keys/{self.name}/{self.version}"

    def jwk(self, base_url: str) -> dict[str, Any]:
        key: dict[str, Any] = {"kid": self.kid(base_url), "kty": self.kty, "key_ops": list(self.key_ops)}
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            numbers = self.private_key.public_key().public_numbers()
            key["n"] = b64url_encode(_unsigned(numbers.n))
            key["e"] = b64url_encode(_unsigned(numbers.e))
        else:
            point = self.private_key.public_key().public_numbers()
            width = (self.private_key.curve.key_size + 7) // 8
            key["crv"] = self.crv
            key["x"] = b64url_encode(point.x.to_bytes(width, "big"))
            key["y"] = b64url_encode(point.y.to_bytes(width, "big"))
        return key

    def bundle(self, base_url: str) -> dict[str, Any]:
        attributes = {
            "enabled": self.enabled,
            "created": self.created,
            "updated": self.updated,
            "recoveryLevel": _RECOVERY_LEVEL,
            "recoverableDays": _RECOVERABLE_DAYS,
        }
        bundle: dict[str, Any] = {"key": self.jwk(base_url), "attributes": attributes}
        if self.tags:
            bundle["tags"] = dict(self.tags)
        return bundle


def _generate(kty: str, crv: str | None, size: int | None) -> PrivateKey:
    if kty.startswith("EC"):
        return ec.generate_private_key(CURVES[crv or "P-256"])
    return rsa.generate_private_key(public_exponent=65537, key_size=size or 2048)


def _shape_of(key: PrivateKey, crv: object, size: object) -> tuple[object, object]:
    """(curve, size) of imported key material; an explicit curve or size must agree with it."""
    if isinstance(key, rsa.RSAPrivateKey):
        if size not in (None, key.key_size):
            raise VaultError.bad_parameter(f"The imported key has {key.key_size} bits, not {size}.")
        return crv, key.key_size
    names = {curve.name: name for name, curve in CURVES.items()}
    curve_name = names.get(key.curve.name)
    if curve_name is None or crv not in (None, curve_name):
        raise VaultError.bad_parameter(f"The imported key's curve {key.curve.name} does not match '{crv}'.")
    return curve_name, size


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise VaultError.bad_parameter(f"The request URI contains an invalid name: {name}")
    return name


def _check_spec(kty: object, crv: object, size: object) -> tuple[str, str | None, int | None]:
    """(kty, curve, RSA size) from request values, with the service's defaults: P-256 and 2048 bits."""
    if not isinstance(kty, str) or kty not in KEY_TYPES:
        raise VaultError.bad_parameter(f"Property 'kty' has invalid value '{kty}'. Use one of {', '.join(KEY_TYPES)}.")
    if kty.startswith("EC"):
        curve = "P-256" if crv is None else crv
        if not isinstance(curve, str) or curve not in CURVES:
            raise VaultError.bad_parameter(f"Property 'crv' has invalid value '{crv}'.")
        return kty, curve, None
    key_size = 2048 if size is None else size
    if not isinstance(key_size, int) or key_size not in RSA_SIZES:
        raise VaultError.bad_parameter(f"Property 'key_size' has invalid value '{size}'.")
    return kty, None, key_size


def check_operations(key_ops: object) -> tuple[str, ...]:
    if not isinstance(key_ops, list | tuple) or not all(isinstance(op, str) and op in KEY_OPERATIONS for op in key_ops):
        raise VaultError.bad_parameter(f"Property 'key_ops' has invalid value '{key_ops}'.")
    return tuple(str(op) for op in key_ops)


def check_tags(tags: object) -> dict[str, str]:
    if not isinstance(tags, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise VaultError.bad_parameter("Property 'tags' must map strings to strings.")
    return dict(tags)


class KeyStore:
    """Thread-safe keys by name; every lookup that misses raises the service's 404."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, list[KeyVersion]] = {}

    def create(
        self,
        name: str,
        kty: object = "EC",
        *,
        crv: object = None,
        size: object = None,
        key_ops: object = None,
        enabled: bool = True,
        tags: object = None,
        private_key: PrivateKey | None = None,
    ) -> KeyVersion:
        """A new version; ``private_key`` imports given material (curve or size then come from it)."""
        check_name(name)
        if private_key is not None:
            crv, size = _shape_of(private_key, crv, size)
        kty, crv, size = _check_spec(kty, crv, size)
        family = kty.removesuffix("-HSM")
        if private_key is not None and isinstance(private_key, rsa.RSAPrivateKey) != (family == "RSA"):
            raise VaultError.bad_parameter(f"The imported key does not match key type '{kty}'.")
        operations = check_operations(_DEFAULT_OPERATIONS[family] if key_ops is None else key_ops)
        if private_key is None:
            private_key = _generate(kty, crv, size)  # slow for RSA-4096: outside the lock
        now = int(time.time())
        version = KeyVersion(
            name, uuid.uuid4().hex, kty, crv, size, private_key, operations, enabled, now, now, check_tags(tags or {})
        )
        with self._lock:
            self._keys.setdefault(name, []).append(version)
        return version

    def rotate(self, name: str) -> KeyVersion:
        """A new current version: fresh key material of the same type, operations and tags."""
        current = self.get(name)
        return self.create(
            name,
            current.kty,
            crv=current.crv,
            size=current.size,
            key_ops=current.key_ops,
            enabled=True,
            tags=current.tags,
        )

    def get(self, name: str, version: str | None = None) -> KeyVersion:
        with self._lock:
            versions = self._keys.get(name, [])
            if not version:
                if versions:
                    return versions[-1]
                raise VaultError(404, "KeyNotFound", _NOT_FOUND.format(name))
            for candidate in versions:
                if candidate.version == version.lower():
                    return candidate
        raise VaultError(404, "KeyNotFound", _NOT_FOUND.format(f"{name}/{version}"))

    def update(
        self,
        name: str,
        version: str | None,
        *,
        enabled: bool | None = None,
        key_ops: object = None,
        tags: object = None,
    ) -> KeyVersion:
        target = self.get(name, version)
        operations = check_operations(key_ops) if key_ops is not None else None
        new_tags = check_tags(tags) if tags is not None else None
        with self._lock:
            if enabled is not None:
                target.enabled = enabled
            if operations is not None:
                target.key_ops = operations
            if new_tags is not None:
                target.tags = new_tags
            target.updated = int(time.time())
        return target

    def versions(self, name: str) -> list[KeyVersion]:
        with self._lock:
            return list(self._keys.get(name, []))
