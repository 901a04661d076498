"""Bad keys, references, algorithms and payloads: each gives one specific error, or a signature that verifies.

No error text and no provider repr may carry the AWS secret key or session token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from greenlang_kms_aws import AwsKmsProvider
from greenlang_kms_aws.testing import AwsKmsTestServer

from greenlang.errors import InputError, KeyUnusableError, KMSError
from greenlang.security.keyref import open_signer

PAYLOAD = b"supplier survey 2026: 412 responses"
MISSING_KEY_ID = "0badc0de-0000-4000-8000-000000000000"


@pytest.fixture
def no_secrets(aws_env: dict[str, str]) -> Callable[..., None]:
    """``no_secrets(exc_or_provider, ...)``: neither the secret key nor the session token shows in str or repr."""
    secrets = (aws_env["AWS_SECRET_ACCESS_KEY"], aws_env["AWS_SESSION_TOKEN"])

    def check(*objects: object) -> None:
        for obj in objects:
            for text in (str(obj), repr(obj)):
                for secret in secrets:
                    assert secret not in text

    return check


def test_unknown_key_is_unusable(
    server: AwsKmsTestServer,
    open_key: Callable[..., AwsKmsProvider],
    watch: Callable[[AwsKmsProvider], Any],
    no_secrets: Callable[..., None],
) -> None:
    arn = f"arn:aws:kms:{server.region}:123456789012:key/{MISSING_KEY_ID}"
    provider = open_key(arn)
    seen = watch(provider)

    with pytest.raises(KeyUnusableError) as info:
        provider.sign(PAYLOAD)

    assert "not found" in str(info.value)
    assert MISSING_KEY_ID in str(info.value)
    assert seen.calls["Sign"] == 0
    no_secrets(info.value, provider)


def test_disabled_key_is_unusable_and_signs_again_once_enabled(
    server: AwsKmsTestServer,
    kms: Any,
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
    no_secrets: Callable[..., None],
) -> None:
    arn = server.create_key("ECC_NIST_P256")
    der = public_der(arn)
    kms.disable_key(KeyId=arn.rsplit("/", 1)[1])  # moto wants the bare id; AWS takes either
    provider = open_key(arn)

    with pytest.raises(KeyUnusableError) as info:
        provider.sign(PAYLOAD)
    assert "disabled" in str(info.value)
    assert arn in str(info.value)
    no_secrets(info.value, provider)

    kms.enable_key(KeyId=arn.rsplit("/", 1)[1])
    result = provider.sign(PAYLOAD)
    assert verifies(der, result.algorithm, PAYLOAD, result.signature)


def test_key_disabled_after_it_was_cached_is_unusable(
    server: AwsKmsTestServer,
    kms: Any,
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
) -> None:
    arn = server.create_key("ECC_NIST_P256")
    provider = open_key(arn)
    first = provider.sign(PAYLOAD)
    assert verifies(public_der(arn), first.algorithm, PAYLOAD, first.signature)
    kms.disable_key(KeyId=arn.rsplit("/", 1)[1])  # moto wants the bare id; AWS takes either

    with pytest.raises(KeyUnusableError, match="disabled"):
        provider.sign(PAYLOAD)
    with pytest.raises(KeyUnusableError, match="disabled"):  # not served from a stale cache entry either
        provider.key_info()


@pytest.mark.parametrize("spec", ["SYMMETRIC_DEFAULT", "RSA_2048"])
def test_encryption_key_is_not_a_signing_key(
    spec: str,
    server: AwsKmsTestServer,
    open_key: Callable[..., AwsKmsProvider],
    watch: Callable[[AwsKmsProvider], Any],
    no_secrets: Callable[..., None],
) -> None:
    arn = server.create_key(spec, usage="ENCRYPT_DECRYPT")
    provider = open_key(arn)
    seen = watch(provider)

    with pytest.raises(KeyUnusableError) as info:
        provider.sign(PAYLOAD)

    assert "SIGN_VERIFY" in str(info.value)
    assert "ENCRYPT_DECRYPT" in str(info.value)
    assert seen.calls["Sign"] == 0
    no_secrets(info.value)


def test_key_id_looked_up_in_the_wrong_region_names_key_and_region(
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    no_secrets: Callable[..., None],
) -> None:
    arn = spec_key("ECC_NIST_P256")  # created in us-east-1
    key_id = arn.rsplit("/", 1)[1]
    provider = open_key(key_id, region="eu-west-1")

    with pytest.raises(KeyUnusableError) as info:
        provider.sign(PAYLOAD)

    message = str(info.value)
    assert key_id in message
    assert "eu-west-1" in message
    assert "region" in message
    no_secrets(info.value, provider)


def test_arn_with_a_conflicting_region_is_refused_before_any_call(
    server: AwsKmsTestServer, spec_key: Callable[[str], str]
) -> None:
    arn = spec_key("ECC_NIST_P256")
    client = server.client()
    calls: list[str] = []
    client.meta.events.register("before-call.kms", lambda event_name, **_: calls.append(event_name))

    with pytest.raises(InputError) as as_option:
        AwsKmsProvider(f"awskms:///{arn}", region="eu-west-1", client=client)
    with pytest.raises(InputError) as in_uri:
        AwsKmsProvider(f"awskms:///{arn}?region=eu-west-1", client=client)
    with pytest.raises(InputError) as opened:
        open_signer(f"awskms:///{arn}?region=eu-west-1&endpoint={server.endpoint_url}")

    for info in (as_option, in_uri, opened):
        message = str(info.value)
        assert "conflicts" in message
        assert "eu-west-1" in message
        assert server.region in message
    assert calls == []


@pytest.mark.parametrize(
    ("spec", "requested", "words"),
    [
        ("ECC_NIST_P256", "rsa-pss-2048-sha256", ("does not fit", "ecdsa-p256", "ecdsa-p256-sha256")),
        ("ECC_NIST_P256", "RSASSA_PSS_SHA_256", ("does not fit", "ecdsa-p256", "ecdsa-p256-sha256")),
        ("ECC_NIST_P256", "rsa-pkcs1v15", ("does not fit", "ecdsa-p256", "ecdsa-p256-sha256")),
        ("RSA_2048", "ecdsa-p256-sha256", ("does not fit", "rsa-2048", "rsa-pss-2048-sha256")),
        ("RSA_2048", "rsa-pss-3072-sha256", ("does not fit", "rsa-2048", "rsa-pss-2048-sha256")),
    ],
)
def test_algorithm_for_another_key_type_is_refused_without_signing(
    spec: str,
    requested: str,
    words: tuple[str, ...],
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    provider = open_key(spec_key(spec), algorithm=requested)
    seen = watch(provider)

    with pytest.raises(InputError) as info:
        provider.sign(PAYLOAD)

    for word in words:
        assert word in str(info.value)
    assert seen.calls["Sign"] == 0


@pytest.mark.parametrize(
    ("requested", "words"),
    [("ES256", ("azure", "not aws")), ("sha1-with-rsa", ("unknown", "ecdsa-p256-sha256"))],
)
def test_algorithm_name_no_provider_row_has_for_aws_is_refused_when_opened(
    requested: str, words: tuple[str, ...], spec_key: Callable[[str], str], open_key: Callable[..., AwsKmsProvider]
) -> None:
    with pytest.raises(InputError) as info:
        open_key(spec_key("ECC_NIST_P256"), algorithm=requested)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(("name", "payload"), [("empty", b""), ("10 MB", b"\x00" * (10 * 1024 * 1024))])
def test_empty_and_large_payloads_give_valid_signatures(
    name: str,
    payload: bytes,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
) -> None:
    arn = spec_key("ECC_NIST_P256")
    result = open_key(arn).sign(payload)
    assert result.signature
    assert verifies(public_der(arn), result.algorithm, payload, result.signature)


@pytest.mark.parametrize("payload", [bytearray(PAYLOAD), memoryview(PAYLOAD)])
def test_bytes_like_payloads_sign_their_bytes(
    payload: Any,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    public_der: Callable[[str], bytes],
    verifies: Callable[..., bool],
) -> None:
    arn = spec_key("ECC_NIST_P256")
    result = open_key(arn).sign(payload)
    assert verifies(public_der(arn), result.algorithm, PAYLOAD, result.signature)


@pytest.mark.parametrize(("payload", "type_name"), [(PAYLOAD.decode(), "str"), (1234, "int"), (None, "NoneType")])
def test_payload_that_is_not_bytes_is_refused_without_signing(
    payload: Any,
    type_name: str,
    spec_key: Callable[[str], str],
    open_key: Callable[..., AwsKmsProvider],
    watch: Callable[[AwsKmsProvider], Any],
) -> None:
    provider = open_key(spec_key("ECC_NIST_P256"))
    seen = watch(provider)

    with pytest.raises(InputError) as info:
        provider.sign(payload)

    assert "payload must be bytes" in str(info.value)
    assert type_name in str(info.value)
    assert seen.calls["Sign"] == 0


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("awskms:///nonsense", ("'nonsense'", "not a key reference", "alias/")),
        ("awskms://host/alias/x", ("'host'", "awskms:///")),
        ("awskms:///alias/x?colour=blue", ("unknown option 'colour'", "endpoint", "region")),
        ("awskms:///alias/x?region=", ("empty option value",)),
        ("awskms:///", ("names no key",)),
        ("awskms:///alias/x?region=Mars", ("'Mars'", "not a region")),
        ("awskms:///alias/x?endpoint=ftp://host", ("not a URL",)),
    ],
)
def test_malformed_uri_is_refused(
    uri: str, words: tuple[str, ...], server: AwsKmsTestServer, no_secrets: Callable[..., None]
) -> None:
    with pytest.raises(InputError) as direct:
        AwsKmsProvider(uri, endpoint_url=server.endpoint_url, region=server.region)
    with pytest.raises(InputError) as opened:
        open_signer(uri)

    for info in (direct, opened):
        for word in words:
            assert word in str(info.value)
        no_secrets(info.value)


def test_an_answer_for_a_key_in_another_account_is_not_used(
    server: AwsKmsTestServer, open_key: Callable[..., AwsKmsProvider], spec_key: Callable[[str], str]
) -> None:
    """moto looks keys up by id alone, as a confused or hostile endpoint might; the ARN it answers with must match."""
    arn = spec_key("ECC_NIST_P256")
    elsewhere = arn.replace(":123456789012:", ":999999999999:")
    provider = open_key(elsewhere)
    with pytest.raises(KMSError, match="answered for key .*123456789012.* when asked for .*999999999999"):
        provider.sign(PAYLOAD)


def test_an_endpoint_given_twice_must_agree(server: AwsKmsTestServer, spec_key: Callable[[str], str]) -> None:
    arn = spec_key("ECC_NIST_P256")
    with pytest.raises(InputError, match="endpoint_url .* conflicts with \\?endpoint="):
        AwsKmsProvider(f"awskms:///{arn}?endpoint=http://127.0.0.1:1", endpoint_url=server.endpoint_url)


def test_incomplete_credentials_and_unknown_profiles_name_the_setting(
    server: AwsKmsTestServer, spec_key: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = spec_key("ECC_NIST_P256")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    with pytest.raises(KeyUnusableError, match="credentials are incomplete .*AWS_SECRET_ACCESS_KEY"):
        AwsKmsProvider(f"awskms:///{arn}", endpoint_url=server.endpoint_url).sign(PAYLOAD)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(InputError, match="AWS profile 'no-such-profile' is not in the AWS config files"):
        AwsKmsProvider(f"awskms:///{arn}", endpoint_url=server.endpoint_url)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda provider: provider.sign_many("abc"), "payloads must be a list of byte strings"),
        (lambda provider: provider.sign_many([b"a"], max_workers="8"), "max_workers must be a whole number"),
        (lambda provider: provider.verify(PAYLOAD, "abc"), "signature must be bytes"),
    ],
    ids=["payloads-as-one-string", "max-workers-as-text", "signature-as-text"],
)
def test_wrongly_typed_arguments_are_input_errors(
    open_key: Callable[..., AwsKmsProvider], spec_key: Callable[[str], str], call: Callable[..., Any], words: str
) -> None:
    with pytest.raises(InputError, match=words):
        call(open_key(spec_key("ECC_NIST_P256")))


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"algorithm": 5}, "algorithm must be a name"),
        ({"cache_ttl_seconds": "60"}, "cache_ttl_seconds must be a number"),
    ],
)
def test_wrongly_typed_options_are_refused_before_any_call(
    open_key: Callable[..., AwsKmsProvider], spec_key: Callable[[str], str], options: dict[str, Any], words: str
) -> None:
    with pytest.raises(InputError, match=words):
        open_key(spec_key("ECC_NIST_P256"), **options)


def test_an_endpoint_url_with_a_password_is_refused_without_echoing_it(spec_key: Callable[[str], str]) -> None:
    with pytest.raises(InputError, match="must not carry credentials") as caught:
        AwsKmsProvider(f"awskms:///{spec_key('ECC_NIST_P256')}", endpoint_url="http://u:hunter2-secret@h.example")
    assert "hunter2" not in str(caught.value)
