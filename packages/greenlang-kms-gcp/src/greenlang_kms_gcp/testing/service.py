"""Cloud KMS semantics on the client library's own request and response types, shared by gRPC and REST.

Behaviour follows Google's API reference and data integrity guidelines: a CRC32C the caller sends is checked
(INVALID_ARGUMENT on mismatch) and acknowledged by a ``verified_*`` flag; every signature and PEM carries its
CRC32C; a version must be ENABLED and its key's purpose ASYMMETRIC_SIGN to sign or give its public key
(FAILED_PRECONDITION otherwise, in Google's wording); the digest must be the algorithm's hash and length.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import google_crc32c
from google.cloud.kms_v1.types import resources, service

from greenlang_kms_gcp.testing.algorithms import public_der, public_pem, sign_data, sign_digest
from greenlang_kms_gcp.testing.keystore import DESTROY_SCHEDULED_DURATION, CryptoKey, KeyStore, KeyVersion
from greenlang_kms_gcp.testing.status import ServiceError

__all__ = ["RPCS", "KeyManagementService", "Rpc"]

_DEFAULT_PAGE_SIZE = 100
_MAX_PAGE_SIZE = 1000
_STATE_FILTER = re.compile(r"\s*state\s*[=:]\s*([A-Z_]+)\s*")
_PAGE_TOKEN = re.compile(r"offset-(\d+)")


@dataclass(frozen=True)
class Rpc:
    """One implemented method: its proto-plus types and the request field that names its resource."""

    name: str
    request: type[Any]
    response: type[Any]
    resource: str

    def resource_of(self, request: Any) -> str:
        value: Any = request
        for part in self.resource.split("."):
            value = getattr(value, part)
        return str(value)


RPCS: dict[str, Rpc] = {
    rpc.name: rpc
    for rpc in (
        Rpc("GetCryptoKey", service.GetCryptoKeyRequest, resources.CryptoKey, "name"),
        Rpc("GetCryptoKeyVersion", service.GetCryptoKeyVersionRequest, resources.CryptoKeyVersion, "name"),
        Rpc(
            "ListCryptoKeyVersions",
            service.ListCryptoKeyVersionsRequest,
            service.ListCryptoKeyVersionsResponse,
            "parent",
        ),
        Rpc("GetPublicKey", service.GetPublicKeyRequest, resources.PublicKey, "name"),
        Rpc("AsymmetricSign", service.AsymmetricSignRequest, service.AsymmetricSignResponse, "name"),
        Rpc("CreateCryptoKey", service.CreateCryptoKeyRequest, resources.CryptoKey, "parent"),
        Rpc("CreateCryptoKeyVersion", service.CreateCryptoKeyVersionRequest, resources.CryptoKeyVersion, "parent"),
        Rpc(
            "UpdateCryptoKeyVersion",
            service.UpdateCryptoKeyVersionRequest,
            resources.CryptoKeyVersion,
            "crypto_key_version.name",
        ),
        Rpc("DestroyCryptoKeyVersion", service.DestroyCryptoKeyVersionRequest, resources.CryptoKeyVersion, "name"),
        Rpc("RestoreCryptoKeyVersion", service.RestoreCryptoKeyVersionRequest, resources.CryptoKeyVersion, "name"),
    )
}


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


def _invalid(message: str) -> ServiceError:
    return ServiceError("INVALID_ARGUMENT", message)


class KeyManagementService:
    """The implemented KeyManagementService methods, by RPC name, over a `KeyStore`."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self.handlers: dict[str, Callable[[Any], Any]] = {
            "GetCryptoKey": self.get_crypto_key,
            "GetCryptoKeyVersion": self.get_crypto_key_version,
            "ListCryptoKeyVersions": self.list_crypto_key_versions,
            "GetPublicKey": self.get_public_key,
            "AsymmetricSign": self.asymmetric_sign,
            "CreateCryptoKey": self.create_crypto_key,
            "CreateCryptoKeyVersion": self.create_crypto_key_version,
            "UpdateCryptoKeyVersion": self.update_crypto_key_version,
            "DestroyCryptoKeyVersion": self.destroy_crypto_key_version,
            "RestoreCryptoKeyVersion": self.restore_crypto_key_version,
        }

    def get_crypto_key(self, request: service.GetCryptoKeyRequest) -> resources.CryptoKey:
        with self.store.lock:
            return _key_message(self.store.key(request.name))

    def get_crypto_key_version(self, request: service.GetCryptoKeyVersionRequest) -> resources.CryptoKeyVersion:
        with self.store.lock:
            return _version_message(self.store.version(request.name))

    def list_crypto_key_versions(
        self, request: service.ListCryptoKeyVersionsRequest
    ) -> service.ListCryptoKeyVersionsResponse:
        if request.page_size < 0:
            raise _invalid(f"page_size must be zero or more, not {request.page_size}.")
        if request.order_by:
            raise _invalid("order_by is not supported by the local Cloud KMS; leave it empty.")
        wanted_state = None
        if request.filter:
            match = _STATE_FILTER.fullmatch(request.filter)
            if match is None:
                raise _invalid(f"Invalid filter {request.filter!r}; the local Cloud KMS supports 'state=<STATE>'.")
            wanted_state = match.group(1)
        start = 0
        if request.page_token:
            token = _PAGE_TOKEN.fullmatch(request.page_token)
            if token is None:
                raise _invalid(f"Invalid page_token {request.page_token!r}.")
            start = int(token.group(1))
        size = min(request.page_size or _DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE)
        with self.store.lock:
            versions = [
                version
                for version in self.store.key(request.parent).versions.values()
                if wanted_state is None or version.state == wanted_state
            ]
            page = [_version_message(version) for version in versions[start : start + size]]
        response = service.ListCryptoKeyVersionsResponse(crypto_key_versions=page)
        if start + size < len(versions):
            response.next_page_token = f"offset-{start + size}"
        if wanted_state is None:  # Google leaves total_size unset when a filter applies
            response.total_size = len(versions)
        return response

    def get_public_key(self, request: service.GetPublicKeyRequest) -> resources.PublicKey:
        version = self._usable_signing_version(request.name)
        private_key = version.private_key
        assert private_key is not None  # every ASYMMETRIC_SIGN version has material
        pem = public_pem(private_key)
        response = resources.PublicKey(
            pem=pem,
            pem_crc32c=crc32c(pem.encode("ascii")),
            algorithm=version.algorithm.name,
            name=version.name,
            protection_level=version.protection_level,
        )
        requested = resources.PublicKey.PublicKeyFormat(request.public_key_format).name
        if requested in ("PEM", "DER"):
            data = pem.encode("ascii") if requested == "PEM" else public_der(private_key)
            response.public_key_format = requested
            response.public_key = resources.ChecksummedData(data=data, crc32c_checksum=crc32c(data))
        elif requested != "PUBLIC_KEY_FORMAT_UNSPECIFIED":
            raise _invalid(
                f"Public key format {requested} is only for post-quantum keys, not {version.algorithm.name}."
            )
        return response

    def asymmetric_sign(self, request: service.AsymmetricSignRequest) -> service.AsymmetricSignResponse:
        version = self._usable_signing_version(request.name)
        algorithm, private_key = version.algorithm, version.private_key
        assert private_key is not None
        has_digest = "digest" in request
        digest_field = service.Digest.pb(request.digest).WhichOneof("digest") if has_digest else None
        digest: bytes = getattr(request.digest, digest_field) if digest_field else b""
        if has_digest and request.data:
            raise _invalid("Only one of digest and data may be set.")
        _check_crc(request, "digest", digest)
        _check_crc(request, "data", request.data)
        if algorithm.digest is None:
            if has_digest:
                raise _invalid(f"Algorithm {algorithm.name} signs data, not a digest; set the data field.")
            signature = sign_data(algorithm, private_key, request.data)
        elif has_digest:
            if digest_field is None:
                raise _invalid("The digest must have one of sha256, sha384 or sha512 set.")
            if digest_field != algorithm.digest:
                raise _invalid(
                    f"Digest type {digest_field} does not match algorithm {algorithm.name}; "
                    f"send a {algorithm.digest} digest."
                )
            if len(digest) != algorithm.hash.digest_size:
                raise _invalid(
                    f"The {digest_field} digest must be {algorithm.hash.digest_size} bytes long, not {len(digest)}."
                )
            signature = sign_digest(algorithm, private_key, digest)
        elif request.data:
            signature = sign_data(algorithm, private_key, request.data)
        else:
            raise _invalid("One of digest or data must be set.")
        return service.AsymmetricSignResponse(
            signature=signature,
            signature_crc32c=crc32c(signature),
            verified_digest_crc32c="digest_crc32c" in request,
            verified_data_crc32c="data_crc32c" in request,
            name=version.name,
            protection_level=version.protection_level,
        )

    def create_crypto_key(self, request: service.CreateCryptoKeyRequest) -> resources.CryptoKey:
        template = request.crypto_key.version_template
        purpose = request.crypto_key.purpose.name
        algorithm = template.algorithm.name
        if purpose == "CRYPTO_KEY_PURPOSE_UNSPECIFIED":
            raise _invalid("crypto_key.purpose must be set.")
        if algorithm == "CRYPTO_KEY_VERSION_ALGORITHM_UNSPECIFIED":
            if purpose != "ENCRYPT_DECRYPT":
                raise _invalid(f"crypto_key.version_template.algorithm must be set for purpose {purpose}.")
            algorithm = "GOOGLE_SYMMETRIC_ENCRYPTION"
        protection_level = template.protection_level.name
        if protection_level == "PROTECTION_LEVEL_UNSPECIFIED":
            protection_level = "SOFTWARE"
        with self.store.lock:
            key = self.store.create_key(
                request.parent,
                request.crypto_key_id,
                algorithm,
                purpose=purpose,
                protection_level=protection_level,
                versions=0 if request.skip_initial_version_creation else 1,
            )
            return _key_message(key)

    def create_crypto_key_version(self, request: service.CreateCryptoKeyVersionRequest) -> resources.CryptoKeyVersion:
        with self.store.lock:
            return _version_message(self.store.add_version(request.parent))

    def update_crypto_key_version(self, request: service.UpdateCryptoKeyVersionRequest) -> resources.CryptoKeyVersion:
        paths = list(request.update_mask.paths)
        if not paths:
            raise _invalid("update_mask must list the fields to update.")
        if paths != ["state"]:
            raise _invalid(f"Only the state field can be updated here, not {', '.join(paths)}.")
        wanted = request.crypto_key_version.state.name
        if wanted not in ("ENABLED", "DISABLED"):
            raise _invalid(f"A version's state can only be set to ENABLED or DISABLED, not {wanted}.")
        with self.store.lock:
            version = self.store.version(request.crypto_key_version.name)
            if version.state not in ("ENABLED", "DISABLED"):
                raise ServiceError(
                    "FAILED_PRECONDITION",
                    f"{version.name} is not enabled or disabled, current state is: {version.state}.",
                )
            return _version_message(self.store.set_state(version.name, wanted))

    def destroy_crypto_key_version(self, request: service.DestroyCryptoKeyVersionRequest) -> resources.CryptoKeyVersion:
        with self.store.lock:
            version = self.store.version(request.name)
            if version.state not in ("ENABLED", "DISABLED"):
                raise ServiceError(
                    "FAILED_PRECONDITION", f"{version.name} cannot be destroyed, current state is: {version.state}."
                )
            return _version_message(self.store.set_state(version.name, "DESTROY_SCHEDULED"))

    def restore_crypto_key_version(self, request: service.RestoreCryptoKeyVersionRequest) -> resources.CryptoKeyVersion:
        with self.store.lock:
            version = self.store.version(request.name)
            if version.state != "DESTROY_SCHEDULED":
                raise ServiceError(
                    "FAILED_PRECONDITION",
                    f"{version.name} is not scheduled for destruction, current state is: {version.state}.",
                )
            return _version_message(self.store.set_state(version.name, "DISABLED"))

    def _usable_signing_version(self, name: str) -> KeyVersion:
        with self.store.lock:
            version = self.store.version(name)
            key = self.store.key(version.key_name)
            if key.purpose != "ASYMMETRIC_SIGN":
                raise ServiceError(
                    "FAILED_PRECONDITION",
                    f"Operation requested for Key {version.name} has incorrect key purpose: {key.purpose}",
                )
            if version.state != "ENABLED":
                raise ServiceError(
                    "FAILED_PRECONDITION", f"{version.name} is not enabled, current state is: {version.state}."
                )
            return version


def _check_crc(request: service.AsymmetricSignRequest, field: str, value: bytes) -> None:
    checksum_field = f"{field}_crc32c"
    if checksum_field in request and getattr(request, checksum_field) != crc32c(value):
        raise _invalid(f"The checksum in field {checksum_field} did not match the data in field {field}.")


def _version_message(version: KeyVersion) -> resources.CryptoKeyVersion:
    message = resources.CryptoKeyVersion(
        name=version.name,
        state=version.state,
        protection_level=version.protection_level,
        algorithm=version.algorithm.name,
        create_time=version.created,
    )
    if version.state != "PENDING_GENERATION":
        message.generate_time = version.created
    if version.destroy_time is not None:
        message.destroy_time = version.destroy_time
    if version.state == "DESTROYED":
        message.destroy_event_time = version.destroy_time or datetime.now(UTC)
    return message


def _key_message(key: CryptoKey) -> resources.CryptoKey:
    message = resources.CryptoKey(
        name=key.name,
        purpose=key.purpose,
        create_time=key.created,
        version_template=resources.CryptoKeyVersionTemplate(
            algorithm=key.algorithm.name, protection_level=key.protection_level
        ),
        destroy_scheduled_duration=DESTROY_SCHEDULED_DURATION,
    )
    primary = key.primary
    if primary is not None:
        message.primary = _version_message(primary)
    return message
