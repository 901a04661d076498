"""greenlang's KMS provider conformance suite, run against the local Key Vault for every key type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import KEY_TYPES
from greenlang_kms_azure import AzureKeyVaultProvider

from greenlang.testing import KMSProviderConformance


class TestAzureKeyVaultProvider(KMSProviderConformance):
    key_types = tuple(KEY_TYPES)

    @pytest.fixture
    def open_kms_key(
        self, typed_key: Callable[[str], str], open_key: Callable[..., AzureKeyVaultProvider]
    ) -> Callable[[str], Any]:
        return lambda key_type: open_key(typed_key(key_type))
