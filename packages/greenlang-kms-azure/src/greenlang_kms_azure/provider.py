"""``AzureKeyVaultProvider``: the ``azurekms`` key scheme, signing digests with Key Vault and Managed HSM keys."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from azure.keyvault.keys import KeyVaultKey
from azure.keyvault.keys.crypto import SignatureAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from greenlang.errors import GreenlangError, InputError, KeyUnusableError, KMSError, shown
from greenlang.security.algorithms import Algorithm, Family, key_type
from greenlang.security.encoding import raw_to_der
from greenlang.security.kms.provider import KMSProvider, RemoteKey, sdk_call
from greenlang.security.kms.uris import AzureKeyUri
from greenlang.timeutil import to_utc
from greenlang_kms_azure.client import SIGN_RETRY_METHODS, VaultClients, default_credential
from greenlang_kms_azure.errors import translate
from greenlang_kms_azure.jwk import public_key_of, spec_of

__all__ = ["AzureKeyVaultProvider"]

T = TypeVar("T")


class AzureKeyVaultProvider(KMSProvider):
    """Signs with the key named by ``azurekms://<vault host>/keys/<name>[/<version>]``.

    A reference without a version is resolved to the key's current version once
    per cache period and pinned: every signature is made with, and records, that
    exact version, so a rotation never mixes versions within one signature.

    ``credential`` defaults to ``DefaultAzureCredential``. ``connection_verify``
    is a CA bundle path for vaults behind a private CA. ``verify_challenge_resource``
    is the SDK's check that the vault's authentication challenge names a resource
    in the vault's own domain; turn it off only for a vault on an address that
    is not under a Key Vault domain (a local test vault).
    """

    provider = "azure"
    scheme = "azurekms"

    def __init__(
        self,
        uri: str,
        *,
        credential: Any = None,
        connection_verify: bool | str = True,
        verify_challenge_resource: bool = True,
        **options: Any,
    ) -> None:
        ref = AzureKeyUri.parse(uri)
        if "endpoint_url" in options:
            raise InputError(
                "endpoint_url applies to AWS keys; an Azure key's vault host is part of its azurekms:// URI."
            )
        _check_verify(connection_verify)
        if not isinstance(verify_challenge_resource, bool):
            raise InputError(
                f"verify_challenge_resource must be True or False, not {shown(verify_challenge_resource)}."
            )
        if credential is not None and not callable(getattr(credential, "get_token", None)):
            raise InputError(
                f"credential must be an azure-identity credential (an object with get_token), "
                f"not {type(credential).__name__}."
            )
        super().__init__(ref.uri(), **options)
        self.key = ref
        self.clients = VaultClients(
            ref.vault_url,
            credential if credential is not None else default_credential(),
            self.retry,
            connection_verify=connection_verify,
            verify_challenge_resource=verify_challenge_resource,
        )
        self._versions: dict[str, KeyVaultKey] = {}

    def _azure(self, key: str, call: Callable[[], T]) -> T:
        return sdk_call(translate, key, call)

    def _fetch_key(self, ref: str) -> RemoteKey:
        return _readable(ref, lambda: self._read_key(ref))

    def _read_key(self, ref: str) -> RemoteKey:
        asked = AzureKeyUri.parse(ref)
        if _host(asked.vault_host) != _host(self.key.vault_host):
            raise InputError(
                f"key {ref} is in vault {asked.vault_host}, but this provider is for {self.key.vault_host}; "
                "open a provider for that vault."
            )
        found = self._azure(ref, lambda: self.clients.keys.get_key(asked.name, asked.version))
        answered = _answered(found, asked)
        if found.properties.enabled is not True:
            state = "disabled" if found.properties.enabled is False else "not reported as enabled"
            raise KeyUnusableError(f"key {answered.uri()} is {state}; enable it in the vault or use another version.")
        public_key = public_key_of(found.key, answered.uri())
        self.check_algorithm_fits(key_type(public_key))
        listed = found.key_operations or []
        operations = [str(getattr(op, "value", op)) for op in ([listed] if isinstance(listed, str) else listed)]
        if "sign" not in operations:
            raise KeyUnusableError(
                f"key {answered.uri()} does not allow the sign operation (key_ops: {', '.join(operations) or 'none'}); "
                "add sign to its key_ops or use a signing key."
            )
        self._check_validity(found, answered)
        self._versions[answered.uri()] = found
        return RemoteKey(
            public_key=public_key,
            key_ref=answered.uri(),
            offered=None,
            spec=spec_of(found.key, public_key),
            enabled=True,
            rotation_enabled=False,  # a rotation policy needs its own permission to read; not assumed
        )

    def _check_validity(self, found: KeyVaultKey, answered: AzureKeyUri) -> None:
        now = to_utc(self._clock())
        not_before: datetime | None = found.properties.not_before
        expires: datetime | None = found.properties.expires_on
        if not_before is not None and now < to_utc(not_before):
            raise KeyUnusableError(f"key {answered.uri()} is not valid before {to_utc(not_before).isoformat()}.")
        if expires is not None and now >= to_utc(expires):
            raise KeyUnusableError(
                f"key {answered.uri()} expired at {to_utc(expires).isoformat()}; rotate it or use another version."
            )

    def _sign_digest(self, key: RemoteKey, algorithm: Algorithm, message: bytes) -> bytes:
        if algorithm.family is Family.ED25519:
            raise KeyUnusableError(f"key {key.key_ref} is Ed25519, which Key Vault does not sign with.")
        vault_key = self._versions[key.key_ref]
        name = SignatureAlgorithm(algorithm.provider_id(self.provider))
        crypto = self.clients.crypto(vault_key)
        result = self._azure(key.key_ref, lambda: crypto.sign(name, message, retry_on_methods=SIGN_RETRY_METHODS))
        signature = _readable(key.key_ref, lambda: bytes(result.signature))
        if not isinstance(key.public_key, ec.EllipticCurvePublicKey):
            return signature  # RSA signatures are stored as the service returns them
        try:
            return raw_to_der(signature, key.public_key.curve)
        except InputError as exc:
            raise KMSError(
                f"Key Vault returned a malformed ECDSA signature for {key.key_ref} ({exc}); discarded."
            ) from None


def _readable(key: str, read: Callable[[], T]) -> T:
    """Read a vault answer; one that is malformed is refused in a sentence, never as a raw Python error."""
    try:
        return read()
    except GreenlangError:
        raise
    except Exception as exc:
        raise KMSError(
            f"Key Vault's answer for {key} is malformed ({type(exc).__name__}); nothing was signed. "
            "Check that the vault host is a Key Vault or Managed HSM."
        ) from exc


def _host(host: str) -> str:
    return host.lower().removesuffix(":443")


def _answered(found: KeyVaultKey, asked: AzureKeyUri) -> AzureKeyUri:
    """The versioned reference the vault answered with; it must be the key, and version, that was asked for."""
    try:
        answer = AzureKeyUri.from_key_id_url(str(found.id))
    except InputError:
        raise KMSError(f"Key Vault answered for {asked.uri()} with key id {shown(found.id)}; not signing.") from None
    same = (
        _host(answer.vault_host) == _host(asked.vault_host)
        and answer.name.lower() == asked.name.lower()
        and answer.version is not None
        and (asked.version is None or answer.version.lower() == asked.version.lower())
    )
    if not same:
        raise KMSError(f"Key Vault answered for {answer.uri()} when asked for {asked.uri()}; not signing.")
    assert answer.version is not None
    return AzureKeyUri(asked.vault_host, asked.name, answer.version)


def _check_verify(connection_verify: object) -> None:
    if connection_verify is True:
        return
    if not isinstance(connection_verify, str) or not connection_verify.strip():
        raise InputError(
            "connection_verify must be True or the path of a CA bundle (PEM) to trust, "
            f"not {shown(connection_verify)}; certificate checks cannot be switched off."
        )
    if not os.path.exists(connection_verify):
        raise InputError(f"connection_verify {shown(connection_verify)} does not exist; give the path of a CA bundle.")
    try:
        if os.path.isdir(connection_verify):
            ssl.create_default_context(capath=connection_verify)
        else:
            ssl.create_default_context(cafile=connection_verify)
    except (ssl.SSLError, OSError, ValueError):
        raise InputError(
            f"connection_verify {shown(connection_verify)} holds no PEM certificates; give the CA bundle (PEM) "
            "that issued the vault's certificate."
        ) from None
