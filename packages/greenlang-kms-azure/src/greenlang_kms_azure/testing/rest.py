"""The Key Vault keys REST API (``/keys/...``) over the local key store, for authenticated callers.

Covers what a signing provider and its tests use: get (current, versioned, list versions), create, rotate,
update (enabled, key_ops, tags), sign and verify. The order of checks follows the service: malformed
parameters (400), access denial (403 ``AccessDenied``), missing key (404 ``KeyNotFound``), disabled key (403
``KeyDisabled``), an operation outside the key's ``key_ops`` (403 ``KeyOperationForbidden``), then an algorithm
or digest that does not fit the key (400 ``BadParameter``).
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from greenlang_kms_azure.testing.aad import Grant
from greenlang_kms_azure.testing.keystore import KeyStore, KeyVersion, check_name
from greenlang_kms_azure.testing.signing import check_signing, sign_digest, verify_digest
from greenlang_kms_azure.testing.wire import Reply, VaultError, b64url_decode, b64url_encode

__all__ = ["KeysApi"]

_VERSION_ACTIONS = {"sign", "verify"}


def _parameters(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        parameters = json.loads(body)
    except ValueError:
        raise VaultError.bad_parameter("The request body is not valid JSON.") from None
    if not isinstance(parameters, dict):
        raise VaultError.bad_parameter("The request body must be a JSON object.")
    return parameters


def _binary(parameters: dict[str, Any], name: str) -> bytes:
    value = parameters.get(name)
    if value is None:
        raise VaultError.bad_parameter(f"Property '{name}' is required.")
    try:
        return b64url_decode(value)
    except ValueError:
        raise VaultError.bad_parameter(f"Property '{name}' has invalid value: it must be base64url.") from None


def _enabled(attributes: object, default: bool | None) -> bool | None:
    if attributes is None:
        return default
    if not isinstance(attributes, dict):
        raise VaultError.bad_parameter("Property 'attributes' must be an object.")
    enabled = attributes.get("enabled", default)
    if enabled is not None and not isinstance(enabled, bool):
        raise VaultError.bad_parameter(f"Property 'enabled' has invalid value '{enabled}'.")
    return enabled


def _usable(key: KeyVersion, operation: str) -> None:
    if not key.enabled:
        raise VaultError.forbidden(f"Operation {operation} is not allowed on a disabled key.", "KeyDisabled")
    if operation not in key.key_ops:
        raise VaultError.forbidden(f"Operation {operation} is not permitted on this key.", "KeyOperationForbidden")


class KeysApi:
    """Routes ``/keys`` requests; ``forbid`` makes a key name answer 403 as an access-policy denial would."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self.leading_zero: str | None = None
        self.signed: list[tuple[str, int]] = []
        """``(alg, length of the value)`` of every signature made, so tests can see that only digests arrive."""
        self._lock = threading.Lock()
        self._forbidden: set[str] = set()

    def forbid(self, name: str, forbidden: bool = True) -> None:
        with self._lock:
            (self._forbidden.add if forbidden else self._forbidden.discard)(name)

    def clear_forbidden(self) -> None:
        with self._lock:
            self._forbidden.clear()

    def respond(self, method: str, path: str, body: bytes, base_url: str, caller: Grant, vault_name: str) -> Reply:
        segments = path.split("/")[1:]
        try:
            return self._route(method, segments, body, base_url, caller, vault_name)
        except VaultError as error:
            return error.reply()

    def _route(
        self, method: str, segments: list[str], body: bytes, base_url: str, caller: Grant, vault_name: str
    ) -> Reply:
        if len(segments) < 2 or segments[0] != "keys" or len(segments) > 4:
            raise VaultError(404, "NotFound", "The requested URI does not name a keys operation of this vault.")
        name = check_name(segments[1])
        rest = segments[2:]
        parameters = _parameters(body) if method in ("POST", "PATCH", "PUT") else {}

        def allow(permission: str) -> None:
            self._check_access(name, permission, caller, vault_name)

        if len(rest) == 1 and rest[0] in ("create", "rotate") and method == "POST":
            allow(rest[0])
            key = self._create(name, parameters) if rest[0] == "create" else self.store.rotate(name)
            return Reply(200, key.bundle(base_url))
        if len(rest) == 1 and rest[0] == "versions" and method == "GET":
            allow("list")
            items = [self._item(key, base_url) for key in self.store.versions(name)]
            if not items:
                self.store.get(name)  # the service's 404
            return Reply(200, {"value": items, "nextLink": None})
        if len(rest) <= 1 and method == "GET":
            allow("get")
            return Reply(200, self.store.get(name, rest[0] if rest else None).bundle(base_url))
        if len(rest) == 1 and method == "PATCH":
            allow("update")
            return Reply(200, self._update(name, rest[0], parameters).bundle(base_url))
        if len(rest) == 2 and rest[1] in _VERSION_ACTIONS and method == "POST":
            return self._crypto(rest[1], name, rest[0], parameters, base_url, allow)
        raise VaultError(405, "MethodNotAllowed", f"The {method} method is not supported for this keys URI.")

    def _check_access(self, name: str, permission: str, caller: Grant, vault_name: str) -> None:
        with self._lock:
            denied = name in self._forbidden
        if denied:
            oid = uuid.uuid5(uuid.NAMESPACE_URL, f"{caller.tenant}/{caller.client_id}")
            who = f"appid={caller.client_id};oid={oid};iss={caller.issuer}"
            raise VaultError.forbidden(
                f"The user, group or application '{who}' does not have keys {permission} permission on key vault "
                f"'{vault_name};location=local'. For help resolving this issue, please see "
                "https://go.microsoft.com/fwlink/?linkid=2125287",
                "AccessDenied",
            )

    def _crypto(
        self, action: str, name: str, version: str, parameters: dict[str, Any], base_url: str, allow: Any
    ) -> Reply:
        digest = _binary(parameters, "value" if action == "sign" else "digest")
        signature = _binary(parameters, "value") if action == "verify" else b""
        allow(action)
        key = self.store.get(name, version or None)
        _usable(key, action)
        kid = key.kid(base_url)
        scheme = check_signing(kid, key.kty, key.crv, parameters.get("alg"), digest, "value")
        if action == "sign":
            raw = sign_digest(key.private_key, scheme, digest, leading_zero=self.leading_zero)
            with self._lock:
                self.signed.append((str(parameters.get("alg")), len(digest)))
            return Reply(200, {"kid": kid, "value": b64url_encode(raw)})
        return Reply(200, {"value": verify_digest(key.private_key.public_key(), scheme, digest, signature)})

    def _create(self, name: str, parameters: dict[str, Any]) -> KeyVersion:
        exponent = parameters.get("public_exponent")
        if exponent not in (None, 65537):
            raise VaultError.bad_parameter(f"Property 'public_exponent' has invalid value '{exponent}'.")
        enabled = _enabled(parameters.get("attributes"), True)
        return self.store.create(
            name,
            parameters.get("kty"),
            crv=parameters.get("crv"),
            size=parameters.get("key_size"),
            key_ops=parameters.get("key_ops"),
            enabled=enabled is not False,
            tags=parameters.get("tags"),
        )

    def _update(self, name: str, version: str, parameters: dict[str, Any]) -> KeyVersion:
        return self.store.update(
            name,
            version or None,
            enabled=_enabled(parameters.get("attributes"), None),
            key_ops=parameters.get("key_ops"),
            tags=parameters.get("tags"),
        )

    @staticmethod
    def _item(key: KeyVersion, base_url: str) -> dict[str, Any]:
        bundle = key.bundle(base_url)
        item: dict[str, Any] = {"kid": bundle["key"]["kid"], "attributes": bundle["attributes"]}
        if "tags" in bundle:
            item["tags"] = bundle["tags"]
        return item
