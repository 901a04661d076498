"""The KMS provider conformance suite, run here against the in-process provider so core's CI exercises it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from inprocess_kms import InProcessProvider

from greenlang.security.keys import generate_private_key
from greenlang.security.kms.provider import KMSProvider
from greenlang.testing import KMSProviderConformance

KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ecdsa-secp256k1", "rsa-pss-2048", "ed25519")


class TestInProcessProvider(KMSProviderConformance):
    key_types = tuple(kind.replace("rsa-pss-", "rsa-") for kind in KEY_TYPES)

    @pytest.fixture
    def open_kms_key(self) -> Callable[[str], KMSProvider]:
        keys = {kind.replace("rsa-pss-", "rsa-"): generate_private_key(kind) for kind in KEY_TYPES}
        return lambda key_type: InProcessProvider(keys[key_type])
