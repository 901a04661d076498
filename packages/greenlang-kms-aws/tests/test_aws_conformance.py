"""greenlang's KMS provider conformance suite, run against AWS KMS's API for every signing key spec."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from greenlang_kms_aws import AwsKmsProvider
from greenlang_kms_aws.specs import SIGNING_KEY_SPECS

from greenlang.testing import KMSProviderConformance

SPEC_FOR_KEY_TYPE = {key_type: spec for spec, key_type in SIGNING_KEY_SPECS.items()}


class TestAwsKmsProvider(KMSProviderConformance):
    key_types = tuple(SPEC_FOR_KEY_TYPE)

    @pytest.fixture
    def open_kms_key(
        self, spec_key: Callable[[str], str], open_key: Callable[..., AwsKmsProvider]
    ) -> Callable[[str], Any]:
        return lambda key_type: open_key(spec_key(SPEC_FOR_KEY_TYPE[key_type]))
