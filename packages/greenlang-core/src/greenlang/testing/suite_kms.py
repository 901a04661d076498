"""The KMS provider conformance suite: what every ``KMSProvider`` plugin must do, checked against its service.

Subclass ``KMSProviderConformance`` in a test class whose name starts with
``Test``, set ``key_types`` to the key types your service can create (names from
``greenlang.security.algorithms``, e.g. ``"ecdsa-p256"``, ``"rsa-3072"``), and
provide the ``open_kms_key`` fixture: a callable that creates (or finds) a key
of that type on the service and returns an opened provider for it.

Signatures are checked here with ``cryptography`` directly, from the PEM the
provider hands out and the algorithm name it records, never with the
provider's own ``verify`` alone and never with the service's.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import ClassVar

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from greenlang.errors import InputError
from greenlang.security.kms.provider import KMSProvider
from greenlang.security.signing import SignResult

__all__ = ["KMSProviderConformance", "verify_independently", "OpenKMSKey"]

OpenKMSKey = Callable[[str], KMSProvider]
"""``open_kms_key(key_type)``: an opened provider for a key of that type."""

PAYLOADS = {
    "empty": b"",
    "4096 bytes": b"\x5a" * 4096,
    "4097 bytes": b"\xa5" * 4097,
    "1 MiB": bytes(range(256)) * 4096,
}
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def verify_independently(public_key_pem: bytes, algorithm: str, payload: bytes, signature: bytes) -> bool:
    """Check a signature with ``cryptography`` alone, reading the scheme from the algorithm's stable name."""
    public_key = serialization.load_pem_public_key(public_key_pem)
    try:
        if algorithm == "ed25519":
            assert isinstance(public_key, ed25519.Ed25519PublicKey)
            public_key.verify(signature, payload)
            return True
        hash_algorithm = _HASHES[algorithm.rsplit("-", 1)[1]]
        if algorithm.startswith("ecdsa-"):
            assert isinstance(public_key, ec.EllipticCurvePublicKey)
            public_key.verify(signature, payload, ec.ECDSA(hash_algorithm))
        elif algorithm.startswith("rsa-pss-"):
            assert isinstance(public_key, rsa.RSAPublicKey)
            pss = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
            public_key.verify(signature, payload, pss, hash_algorithm)
        elif algorithm.startswith("rsa-pkcs1v15-"):
            assert isinstance(public_key, rsa.RSAPublicKey)
            public_key.verify(signature, payload, padding.PKCS1v15(), hash_algorithm)
        else:
            raise AssertionError(f"the suite does not know algorithm {algorithm!r}")
    except InvalidSignature:
        return False
    return True


class KMSProviderConformance:
    """Every check of the ``KMSProvider`` contract; see the module docstring for what to provide."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.greenlang_conformance]
    key_types: ClassVar[tuple[str, ...]] = ()
    max_payload_bytes: ClassVar[dict[str, int]] = {}
    """Key types whose service signs the payload itself (Ed25519) and caps its size: larger ones must be refused."""

    @pytest.fixture
    def open_kms_key(self) -> OpenKMSKey:
        raise NotImplementedError("provide the open_kms_key fixture: key type -> opened KMSProvider")

    def _each(self, open_kms_key: OpenKMSKey) -> list[tuple[str, KMSProvider]]:
        assert self.key_types, "set key_types to the key types your service can create"
        return [(kind, open_kms_key(kind)) for kind in self.key_types]

    def _check(self, provider: KMSProvider, payload: bytes, result: SignResult, what: str) -> None:
        pem = provider.get_public_key()
        assert result.signature, f"{what}: empty signature"
        assert verify_independently(pem, result.algorithm, payload, result.signature), f"{what}: does not verify"
        assert not verify_independently(pem, result.algorithm, payload + b"!", result.signature), f"{what}: too lax"

    def test_every_key_type_signs_payloads_of_any_length(self, open_kms_key: OpenKMSKey) -> None:
        for kind, provider in self._each(open_kms_key):
            limit = self.max_payload_bytes.get(kind)
            for label, payload in PAYLOADS.items():
                if limit is not None and len(payload) > limit:
                    with pytest.raises(InputError):  # refused up front, never sent and never a bad signature
                        provider.sign(payload)
                    continue
                result = provider.sign(payload)
                self._check(provider, payload, result, f"{kind}, {label}")

    def test_result_names_the_exact_key_and_its_fingerprint(self, open_kms_key: OpenKMSKey) -> None:
        for kind, provider in self._each(open_kms_key):
            result = provider.sign(b"scope 2 market-based: 812.4 tCO2e")
            info = provider.key_info()
            der = serialization.load_pem_public_key(provider.get_public_key()).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            assert result.key_id == hashlib.sha256(der).hexdigest(), kind
            assert result.key_ref == info.resolved_ref, kind
            assert result.provider == provider.provider == info.provider, kind
            assert info.key_type == kind
            assert result.algorithm == info.algorithm, kind
            assert result.timestamp.utcoffset() is not None, kind

    def test_algorithm_is_fixed_by_the_key(self, open_kms_key: OpenKMSKey) -> None:
        for kind, provider in self._each(open_kms_key):
            names = {provider.sign(bytes([n])).algorithm for n in range(3)}
            assert names == {provider.algorithm.name}, kind
            assert provider.algorithm.key_type == kind

    def test_encodings(self, open_kms_key: OpenKMSKey) -> None:
        for kind, provider in self._each(open_kms_key):
            signature = provider.sign(b"encoding check").signature
            public_key = serialization.load_pem_public_key(provider.get_public_key())
            if isinstance(public_key, rsa.RSAPublicKey):
                assert len(signature) == (public_key.key_size + 7) // 8, f"{kind}: RSA signatures are never converted"
            elif isinstance(public_key, ec.EllipticCurvePublicKey):
                r, s = decode_dss_signature(signature)
                assert encode_dss_signature(r, s) == signature, f"{kind}: ECDSA must be canonical DER"

    def test_verify_is_local_and_strict(self, open_kms_key: OpenKMSKey) -> None:
        for kind, provider in self._each(open_kms_key):
            payload = b"verified without the service"
            signature = provider.sign(payload).signature
            assert provider.verify(payload, signature), kind
            assert not provider.verify(payload + b"x", signature), kind
            flipped = bytearray(signature)
            flipped[len(flipped) // 2] ^= 0x01
            assert not provider.verify(payload, bytes(flipped)), kind

    def test_bad_payload_is_refused(self, open_kms_key: OpenKMSKey) -> None:
        provider = open_kms_key(self.key_types[0])
        with pytest.raises(InputError, match="payload must be bytes"):
            provider.sign("text")  # type: ignore[arg-type]

    def test_sign_many_keeps_order_and_checks_each(self, open_kms_key: OpenKMSKey) -> None:
        for kind, provider in self._each(open_kms_key):
            payloads = [f"facility {n}: {n * 17.5} tCO2e".encode() for n in range(12)]
            items = provider.sign_many(payloads, max_workers=4)
            assert [item.index for item in items] == list(range(12)), kind
            for item, payload in zip(items, payloads, strict=True):
                assert item.ok, f"{kind}: {item.error}"
                assert item.result is not None
                self._check(provider, payload, item.result, f"{kind}, batch item {item.index}")

    def test_async_counterparts(self, open_kms_key: OpenKMSKey) -> None:
        for kind, provider in self._each(open_kms_key):

            async def run(provider: KMSProvider = provider) -> tuple[SignResult, bool, bytes]:
                result = await provider.sign_async(b"async")
                ok = await provider.verify_async(b"async", result.signature)
                return result, ok, await provider.get_public_key_async()

            result, ok, pem = asyncio.run(run())
            assert ok, kind
            assert pem == provider.get_public_key(), kind
            self._check(provider, b"async", result, f"{kind}, async")
