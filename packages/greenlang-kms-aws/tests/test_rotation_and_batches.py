"""Alias rotation, batches, the async API, and the seed's ExternalKMSSigner with its cache statistics."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from greenlang_kms_aws import AwsKmsProvider
from greenlang_kms_aws.testing import AwsKmsTestServer

from greenlang.errors import InputError, KeyUnusableError
from greenlang.security.kms import ExternalKMSSigner
from greenlang.security.kms.provider import BatchItem
from greenlang.security.signing import SigningConfig

PAYLOADS = [f"facility {i:02d}: {i * 17.25:.2f} tCO2e".encode() for i in range(50)]


def key_id_of(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def pem_of(der: bytes) -> bytes:
    key = serialization.load_der_public_key(der)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def assert_one_outcome(items: list[BatchItem], count: int) -> None:
    """Input order, and each item a result or an error, never both, never an empty signature."""
    assert [item.index for item in items] == list(range(count))
    for item in items:
        assert (item.result is None) != (item.error is None)
        assert item.ok == (item.error is None)
        if item.result is not None:
            assert item.result.signature


# -- rotation ------------------------------------------------------------------------------------------------------


def test_refresh_after_the_alias_moves_signs_with_the_new_key_and_old_signatures_still_verify(
    server: AwsKmsTestServer,
    kms: Any,
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
) -> None:
    key_a = server.create_key("ECC_NIST_P256")
    key_b = server.create_key("ECC_NIST_P256")
    kms.create_alias(AliasName="alias/reports", TargetKeyId=key_id_of(key_a))
    provider = open_key("alias/reports")
    old_payload, new_payload = b"Q3 report, signed before rotation", b"Q4 report, signed after rotation"

    old = provider.sign(old_payload)
    kms.update_alias(AliasName="alias/reports", TargetKeyId=key_id_of(key_b))
    cached = provider.sign(old_payload)  # within the TTL the alias is not looked up again
    provider.refresh()
    new = provider.sign(new_payload)

    der_a, der_b = public_der(key_a), public_der(key_b)
    assert old.key_ref == cached.key_ref == f"awskms:///{key_a}"
    assert new.key_ref == f"awskms:///{key_b}"
    assert (old.key_id, new.key_id) == (hashlib.sha256(der_a).hexdigest(), hashlib.sha256(der_b).hexdigest())
    assert verifies(der_b, new.algorithm, new_payload, new.signature)
    assert not verifies(der_a, new.algorithm, new_payload, new.signature)
    assert provider.verify(old_payload, old.signature, key_ref=old.key_ref)
    assert verifies(der_a, old.algorithm, old_payload, old.signature)
    assert not verifies(der_b, old.algorithm, old_payload, old.signature)
    assert not provider.verify(old_payload, old.signature)  # the alias's current key is B
    info = provider.key_info()
    assert info.key_ref.startswith("awskms:///alias/reports")
    assert info.resolved_ref == f"awskms:///{key_b}"
    assert info.public_key_pem.encode() == pem_of(der_b)


# -- batches -------------------------------------------------------------------------------------------------------


def test_sign_many_returns_every_item_in_input_order(
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    arn = spec_key("ECC_NIST_P256")
    provider = open_key(arn)
    seen = watch(provider)

    items = provider.sign_many(PAYLOADS)

    assert_one_outcome(items, len(PAYLOADS))
    der = public_der(arn)
    for item, payload, neighbour in zip(items, PAYLOADS, [*PAYLOADS[1:], PAYLOADS[0]], strict=True):
        assert item.ok
        assert item.result is not None
        assert verifies(der, item.result.algorithm, payload, item.result.signature)
        assert not verifies(der, item.result.algorithm, neighbour, item.result.signature)
    assert seen.calls["Sign"] == len(PAYLOADS)
    assert seen.calls["DescribeKey"] == 1  # one key lookup for the whole batch


def test_key_disabled_mid_batch_fails_the_rest_and_only_the_rest(
    server: AwsKmsTestServer,
    kms: Any,
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
) -> None:
    arn = server.create_key("ECC_NIST_P256")
    der = public_der(arn)
    provider = open_key(arn)
    sent = [0]

    def disable_at_the_21st_sign(**_: Any) -> None:
        sent[0] += 1
        if sent[0] == 21:
            kms.disable_key(KeyId=key_id_of(arn))

    provider.client.meta.events.register("before-call.kms.Sign", disable_at_the_21st_sign)

    items = provider.sign_many(PAYLOADS, max_workers=1)  # one worker: items are signed in input order

    assert_one_outcome(items, len(PAYLOADS))
    for item, payload in zip(items[:20], PAYLOADS[:20], strict=True):
        assert item.result is not None
        assert verifies(der, item.result.algorithm, payload, item.result.signature)
    for item in items[20:]:
        assert isinstance(item.error, KeyUnusableError)
        assert "disabled" in str(item.error)


def test_key_disabled_during_a_concurrent_batch_never_yields_a_bad_signature(
    server: AwsKmsTestServer,
    kms: Any,
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
) -> None:
    arn = server.create_key("ECC_NIST_P256")
    der = public_der(arn)
    provider = open_key(arn)
    sent = [0]

    def disable_at_the_25th_sign(**_: Any) -> None:
        sent[0] += 1
        if sent[0] == 25:
            kms.disable_key(KeyId=key_id_of(arn))

    provider.client.meta.events.register("before-call.kms.Sign", disable_at_the_25th_sign)

    items = provider.sign_many(PAYLOADS, max_workers=8)

    assert_one_outcome(items, len(PAYLOADS))
    signed = [item for item in items if item.result is not None]
    failed = [item for item in items if item.error is not None]
    assert signed
    assert failed
    for item in signed:
        assert item.result is not None
        assert verifies(der, item.result.algorithm, PAYLOADS[item.index], item.result.signature)
    for item in failed:
        assert isinstance(item.error, KeyUnusableError)
        assert "disabled" in str(item.error)


def test_a_payload_that_is_not_bytes_fails_only_its_own_item(
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    arn = spec_key("ECC_NIST_P384")
    provider = open_key(arn)
    seen = watch(provider)
    payloads: list[Any] = list(PAYLOADS)
    payloads[7] = PAYLOADS[7].decode()
    payloads[30] = None

    items = provider.sign_many(payloads)

    assert_one_outcome(items, len(payloads))
    der = public_der(arn)
    for item in items:
        if item.index in (7, 30):
            assert isinstance(item.error, InputError)
            assert "payload must be bytes" in str(item.error)
        else:
            assert item.result is not None
            assert verifies(der, item.result.algorithm, PAYLOADS[item.index], item.result.signature)
    assert seen.calls["Sign"] == len(payloads) - 2


@pytest.mark.parametrize("workers", [0, -1])
def test_max_workers_below_one_is_refused_before_any_call(
    workers: int,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    provider = open_key(spec_key("ECC_NIST_P256"))
    seen = watch(provider)

    with pytest.raises(InputError, match="max_workers must be a whole number of at least 1"):
        provider.sign_many(PAYLOADS[:3], max_workers=workers)
    assert sum(seen.calls.values()) == 0
    assert provider.sign_many([]) == []


# -- async -------------------------------------------------------------------------------------------------------


def test_async_methods_give_the_same_results_as_the_sync_ones(
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
) -> None:
    """PKCS#1 v1.5 is deterministic, so sync and async signatures must be byte-identical."""
    arn = spec_key("RSA_2048")
    provider = open_key(arn, algorithm="rsa-pkcs1v15-2048-sha256")
    payload, batch = PAYLOADS[0], PAYLOADS[:10]

    async def run() -> tuple[Any, ...]:
        signed, *gathered = await asyncio.gather(*(provider.sign_async(p) for p in (payload, *batch[:3])))
        return (
            signed,
            gathered,
            await provider.verify_async(payload, signed.signature),
            await provider.verify_async(payload + b"!", signed.signature),
            await provider.verify_async(payload, signed.signature, key_ref=signed.key_ref),
            await provider.get_public_key_async(),
            await provider.key_info_async(),
            await provider.sign_many_async(batch, max_workers=4),
        )

    signed, gathered, good, tampered, by_ref, pem, info, items = asyncio.run(run())

    der = public_der(arn)
    sync = provider.sign(payload)
    assert signed.signature == sync.signature
    assert (signed.algorithm, signed.key_id, signed.key_ref, signed.provider) == (
        sync.algorithm,
        sync.key_id,
        sync.key_ref,
        sync.provider,
    )
    assert verifies(der, signed.algorithm, payload, signed.signature)
    assert [g.signature for g in gathered] == [provider.sign(p).signature for p in batch[:3]]
    assert (good, tampered, by_ref) == (True, False, True)
    assert pem == provider.get_public_key() == pem_of(der)
    assert info == provider.key_info()
    assert_one_outcome(items, len(batch))
    sync_items = provider.sign_many(batch)
    assert [item.result.signature for item in items if item.result] == [
        item.result.signature for item in sync_items if item.result
    ]
    for item, p in zip(items, batch, strict=True):
        assert item.result is not None
        assert verifies(der, item.result.algorithm, p, item.result.signature)


# -- the seed's ExternalKMSSigner and the key cache --------------------------------------------------------------


def test_external_signer_reports_its_key_and_cache_statistics(
    server: AwsKmsTestServer,
    spec_key: Callable[[str], str],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
) -> None:
    arn = spec_key("ECC_NIST_P256")
    signer = ExternalKMSSigner(SigningConfig(kms_key_id=arn, algorithm="ecdsa"), endpoint_url=server.endpoint_url)

    first_info = signer.get_signer_info()  # key_info resolves the key: the first lookup, a miss
    results = [signer.sign(PAYLOADS[0]), signer.sign(PAYLOADS[1])]  # two hits
    info = signer.get_signer_info()  # key_info again: a third hit

    der = public_der(arn)
    assert info["type"] == "kms"
    assert info["provider"] == "aws"
    assert info["key_id"] == arn
    assert info["key_ref"] == f"awskms:///{arn}"
    assert info["public_key_id"] == hashlib.sha256(der).hexdigest()
    assert info["algorithm"] == "ecdsa-p256-sha256"
    assert info["enabled"] is True
    assert info["rotation_enabled"] is False
    assert first_info["cache_stats"] == {"hits": 0, "misses": 1, "hit_rate": 0.0}
    assert info["cache_stats"] == {"hits": 3, "misses": 1, "hit_rate": 0.75}
    for result, payload in zip(results, PAYLOADS, strict=False):
        assert result.provider == "aws"
        assert verifies(der, result.algorithm, payload, result.signature)
        assert signer.verify(payload, result.signature)

    before = signer.kms_provider.cache_stats
    signer.kms_provider.refresh()
    signer.sign(PAYLOADS[2])
    after = signer.kms_provider.cache_stats
    assert (after.hits, after.misses) == (before.hits, before.misses + 1)  # refresh: the next lookup asks AWS


def test_external_signer_from_the_seed_environment_variables(
    server: AwsKmsTestServer,
    spec_key: Callable[[str], str],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arn = spec_key("ECC_NIST_P384")
    monkeypatch.setenv("GL_KMS_PROVIDER", "aws")
    monkeypatch.setenv("GL_KMS_KEY_ID", key_id_of(arn))
    monkeypatch.setenv("GL_KMS_REGION", server.region)

    signer = ExternalKMSSigner(endpoint_url=server.endpoint_url)
    result = signer.sign(PAYLOADS[0])

    info = signer.get_signer_info()
    assert info["key_id"] == key_id_of(arn)  # as configured, the bare id
    assert info["key_ref"] == result.key_ref == f"awskms:///{arn}"
    assert info["algorithm"] == result.algorithm == "ecdsa-p384-sha384"
    assert verifies(public_der(arn), result.algorithm, PAYLOADS[0], result.signature)


def test_external_signer_reports_a_disabled_key_instead_of_failing(
    server: AwsKmsTestServer, kms: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = server.create_key("ECC_NIST_P256")
    kms.disable_key(KeyId=key_id_of(arn))
    monkeypatch.setenv("GL_KMS_REGION", server.region)
    signer = ExternalKMSSigner(SigningConfig(kms_key_id=arn), endpoint_url=server.endpoint_url)
    info = signer.get_signer_info()
    assert (info["enabled"], info["algorithm"], info["key_id"]) == (False, None, arn)
    assert "is disabled; enable it" in info["error"]
    with pytest.raises(KeyUnusableError, match="is disabled"):
        signer.sign(PAYLOADS[0])
