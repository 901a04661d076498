"""greenlang's KMS provider conformance suite, run against the local Cloud KMS for every key type it offers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from greenlang_kms_gcp import GcpKmsProvider
from greenlang_kms_gcp.provider import MAX_DATA_BYTES

from greenlang.testing import KMSProviderConformance

ALGORITHM_FOR_KEY_TYPE = {
    "ecdsa-p256": "EC_SIGN_P256_SHA256",
    "ecdsa-p384": "EC_SIGN_P384_SHA384",
    "ecdsa-secp256k1": "EC_SIGN_SECP256K1_SHA256",
    "rsa-2048": "RSA_SIGN_PSS_2048_SHA256",
    "rsa-3072": "RSA_SIGN_PKCS1_3072_SHA256",
    "rsa-4096": "RSA_SIGN_PSS_4096_SHA512",
    "ed25519": "EC_SIGN_ED25519",
}


class TestGcpKmsProvider(KMSProviderConformance):
    key_types = tuple(ALGORITHM_FOR_KEY_TYPE)
    max_payload_bytes = {"ed25519": MAX_DATA_BYTES}

    @pytest.fixture
    def open_kms_key(
        self, algorithm_key: Callable[[str], str], open_key: Callable[..., GcpKmsProvider]
    ) -> Callable[[str], Any]:
        return lambda key_type: open_key(algorithm_key(ALGORITHM_FOR_KEY_TYPE[key_type]))
