"""The async API reaches the same service as the sync one; Ed25519's data limit; one async client at a time."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest
from greenlang_kms_gcp import GcpKmsProvider
from greenlang_kms_gcp.provider import MAX_DATA_BYTES
from greenlang_kms_gcp.testing import LocalCloudKms

from greenlang.errors import InputError
from greenlang.security.keys import generate_private_key, save_private_key
from greenlang.security.signing import LocalSigner


def test_async_over_rest_uses_rest_not_a_grpc_client_of_its_own(
    cloud: LocalCloudKms,
    algorithm_key: Callable[[str], str],
    oracle_pem: Callable[[str], bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    key = algorithm_key("EC_SIGN_P256_SHA256")
    signer = GcpKmsProvider(f"gcpkms://{key}", transport="rest", api_endpoint=cloud.rest_endpoint)
    result = asyncio.run(signer.sign_async(b"report"))
    assert verifies(oracle_pem(f"{key}/cryptoKeyVersions/1"), result.algorithm, b"report", result.signature)
    assert cloud.count("AsymmetricSign", transport="rest") == 1
    assert cloud.count("AsymmetricSign", transport="grpc") == 0


def test_async_with_an_injected_client_uses_that_client(
    cloud: LocalCloudKms, algorithm_key: Callable[[str], str]
) -> None:
    client = cloud.rest_client()
    signer = GcpKmsProvider(f"gcpkms://{algorithm_key('EC_SIGN_P384_SHA384')}", client=client)
    items = asyncio.run(signer.sign_many_async([b"a", b"b", b"c"], max_workers=2))
    assert all(item.ok for item in items)
    assert cloud.count("AsymmetricSign", transport="rest") == 3


def test_one_async_client_is_held_and_old_event_loops_are_let_go(
    cloud: LocalCloudKms, algorithm_key: Callable[[str], str]
) -> None:
    signer = GcpKmsProvider(
        f"gcpkms://{algorithm_key('EC_SIGN_P256_SHA256')}", api_endpoint=f"http://{cloud.grpc_target}"
    )
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def sign() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        await signer.sign_async(b"report")

    for _ in range(5):
        asyncio.run(sign())
    gc.collect()
    assert sum(loop() is not None for loop in loops) <= 1
    assert cloud.count("AsymmetricSign", transport="grpc") == 5


def test_ed25519_data_above_the_limit_is_refused_up_front_and_never_falls_back(
    cloud: LocalCloudKms,
    algorithm_key: Callable[[str], str],
    open_key: Callable[..., GcpKmsProvider],
    oracle_pem: Callable[[str], bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
    tmp_path: Path,
) -> None:
    save_private_key(generate_private_key("ed25519"), tmp_path / "standby.pem")
    key = algorithm_key("EC_SIGN_ED25519")
    signer = open_key(key, fallback=LocalSigner.from_file(tmp_path / "standby.pem"))
    at_limit = b"\x01" * MAX_DATA_BYTES
    result = signer.sign(at_limit)
    assert verifies(oracle_pem(f"{key}/cryptoKeyVersions/1"), "ed25519", at_limit, result.signature)
    with pytest.raises(InputError, match="Ed25519, which signs the payload itself, and Cloud KMS takes at most 64 KiB"):
        signer.sign(at_limit + b"\x01")
    with pytest.raises(InputError, match="at most 64 KiB"):
        signer.sign(bytes(5 * 2**20))
    assert cloud.count("AsymmetricSign") == 1
