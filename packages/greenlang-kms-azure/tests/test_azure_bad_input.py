"""Bad input gets one clear sentence naming the problem and the fix, and nothing is signed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import create
from greenlang_kms_azure import AzureKeyVaultProvider
from greenlang_kms_azure.testing import LocalKeyVault
from greenlang_kms_azure.testing.wire import Reply

from greenlang.errors import AlgorithmMismatchError, InputError, KeyUnusableError, KMSError, KMSUnavailableError
from greenlang.security.keys import generate_private_key, save_private_key
from greenlang.security.kms import BreakerState, CircuitBreaker, RetryPolicy
from greenlang.security.kms.external import ExternalKMSSigner
from greenlang.security.signing import LocalSigner, SigningConfig

PAYLOAD = b"report"


def sign_attempts(vault: LocalKeyVault) -> int:
    return sum(1 for method, path, _, _ in vault.requests if method == "POST" and path.endswith("/sign"))


def test_a_key_whose_key_ops_lack_sign_is_refused_before_signing(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider]
) -> None:
    create(vault, "rsa-2048", "verify-only", key_ops=("verify",))
    with pytest.raises(KeyUnusableError, match=r"does not allow the sign operation \(key_ops: verify\)"):
        open_key("verify-only").sign(PAYLOAD)
    assert sign_attempts(vault) == 0


@pytest.mark.parametrize(
    ("key_type", "algorithm"),
    [("ecdsa-p256", "ES384"), ("ecdsa-p521", "ES256"), ("ecdsa-p256", "PS256"), ("rsa-2048", "ES256")],
)
def test_an_algorithm_that_does_not_fit_the_key_is_refused_before_signing(
    key_type: str,
    algorithm: str,
    vault: LocalKeyVault,
    typed_key: Callable[[str], str],
    open_key: Callable[..., AzureKeyVaultProvider],
) -> None:
    signer = open_key(typed_key(key_type), algorithm=algorithm)
    with pytest.raises(AlgorithmMismatchError, match="does not fit"):
        signer.sign(PAYLOAD)
    assert sign_attempts(vault) == 0


def test_another_providers_algorithm_name_is_refused_without_a_request(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider], key_name: str
) -> None:
    with pytest.raises(InputError, match="is aws's name, not azure's"):
        open_key(key_name, algorithm="ECDSA_SHA_256")
    assert vault.requests == []


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("azurekms://v.vault.azure.net/secrets/k", "does not have the form"),
        ("azurekms://v.vault.azure.net/keys", "does not have the form"),
        ("azurekms://v.vault.azure.net/keys/a/b/c", "does not have the form"),
        ("azurekms:///keys/k", "does not have the form"),
        ("azurekms://v.vault.azure.net/keys/bad_name", "key name 'bad_name' is invalid"),
        ("azurekms://v.vault.azure.net/keys/k/not-hex!", "version 'not-hex!' is invalid"),
        ("azurekms://v.vault.azure.net/keys/k?region=x", "has unknown option"),
        ("azurekms://v.vault.azure.net/keys/k#frag", "has a fragment"),
        ("azurekms://user:hunter2@v.vault.azure.net/keys/k", "must not carry credentials"),
        ("awskms://v.vault.azure.net/keys/k", "should start with azurekms://"),
    ],
)
def test_a_malformed_azurekms_uri_is_refused(uri: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as raised:
        AzureKeyVaultProvider(uri, credential=object())
    assert "hunter2" not in str(raised.value)


def test_a_vault_url_over_plain_http_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GL_KMS_PROVIDER", "azure")
    monkeypatch.setenv("AZURE_KEY_VAULT_URL", "http://greenlang.vault.azure.net")
    with pytest.raises(InputError, match="uses plain http; Key Vault answers only over https"):
        ExternalKMSSigner(SigningConfig(kms_key_id="signing"))
    with pytest.raises(InputError, match="uses plain http"):
        ExternalKMSSigner(SigningConfig(kms_key_id="http://greenlang.vault.azure.net/keys/signing"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"connection_verify": False}, "certificate checks cannot be switched off"),
        ({"connection_verify": "/nonexistent/ca.pem"}, "does not exist; give the path of a CA bundle"),
        ({"verify_challenge_resource": "no"}, "verify_challenge_resource must be True or False"),
        ({"credential": "hunter2-token"}, "credential must be an azure-identity credential"),
        ({"endpoint_url": "https://x"}, "endpoint_url applies to AWS keys"),
    ],
)
def test_bad_options_are_refused_by_name(options: dict[str, object], message: str) -> None:
    options.setdefault("credential", _Unused())
    with pytest.raises(InputError, match=message) as raised:
        AzureKeyVaultProvider("azurekms://v.vault.azure.net/keys/k", **options)
    assert "hunter2" not in str(raised.value)


def test_an_unknown_key_is_named_and_not_retried(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider]
) -> None:
    with pytest.raises(KeyUnusableError, match=r"keys/no-such-key was not found in its vault \(404 KeyNotFound\)"):
        open_key("no-such-key").sign(PAYLOAD)
    assert [status for _, path, authorized, status in vault.requests if authorized] == [404]


def test_a_disabled_key_is_refused_with_the_fix(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider]
) -> None:
    create(vault, "ecdsa-p256", "switched-off", enabled=False)
    with pytest.raises(KeyUnusableError, match="is disabled; enable it"):
        open_key("switched-off").sign(PAYLOAD)
    assert sign_attempts(vault) == 0


def test_a_key_disabled_after_resolution_is_refused_by_the_vault(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider]
) -> None:
    create(vault, "ecdsa-p256", "disabled-later")
    signer = open_key("disabled-later")
    signer.sign(PAYLOAD)
    vault.set_enabled("disabled-later", enabled=False)
    with pytest.raises(KeyUnusableError, match="is disabled"):
        signer.sign(PAYLOAD)


def test_access_denied_names_the_permissions_to_grant(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider]
) -> None:
    create(vault, "ecdsa-p256", "not-mine")
    vault.forbid("not-mine")
    with pytest.raises(KeyUnusableError, match="denied access .* grant the keys/get and keys/sign permissions"):
        open_key("not-mine").sign(PAYLOAD)
    assert [status for _, _, authorized, status in vault.requests if authorized] == [403]


def test_a_token_the_vault_rejects_is_not_echoed(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider], key_name: str
) -> None:
    secret = "eyJ-not-a-valid-token-hunter2"
    with pytest.raises(KeyUnusableError) as raised:
        open_key(key_name, credential=_FixedToken(secret)).sign(PAYLOAD)
    assert secret not in str(raised.value)
    assert "hunter2" not in repr(raised.value)


class _Unused:
    def get_token(self, *scopes: str, **kwargs: object) -> object:
        raise AssertionError("no token is needed to refuse bad options")


class _FixedToken:
    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: object) -> object:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, 4_102_444_800)


def test_an_untrusted_certificate_is_refused_at_once_never_retried_or_covered_by_fallback(
    vault: LocalKeyVault, key_name: str, tmp_path: Path
) -> None:
    key = generate_private_key("ecdsa-p256")
    save_private_key(key, tmp_path / "standby.pem")
    breaker = CircuitBreaker(failure_threshold=1)
    signer = AzureKeyVaultProvider(
        f"azurekms://{vault.host}/keys/{key_name}",
        credential=vault.credential(),
        verify_challenge_resource=False,
        fallback=LocalSigner.from_file(tmp_path / "standby.pem"),
        breaker=breaker,
        retry=RetryPolicy(max_attempts=4),
    )
    started = time.monotonic()
    with pytest.raises(KeyUnusableError, match="is not trusted, so nothing was sent; pass connection_verify="):
        signer.sign(PAYLOAD)
    assert time.monotonic() - started < 2.0  # no retries with backoff
    assert breaker.state is BreakerState.CLOSED
    assert vault.requests == []


def test_a_connection_verify_file_without_certificates_is_refused(tmp_path: Path) -> None:
    not_pem = tmp_path / "hostname"
    not_pem.write_text("greenlang-build-07\n")
    with pytest.raises(InputError, match="holds no PEM certificates"):
        AzureKeyVaultProvider(
            "azurekms://v.vault.azure.net/keys/k", credential=_Unused(), connection_verify=str(not_pem)
        )


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_retries", "3"), ("max_retries", 2.5), ("retry", "x"), ("breaker", "x"), ("check_signatures", "no")],
)
def test_options_of_the_wrong_type_are_refused_by_name(option: str, value: object) -> None:
    with pytest.raises(InputError, match=f"{option} must be"):
        AzureKeyVaultProvider("azurekms://v.vault.azure.net/keys/k", credential=_Unused(), **{option: value})


def test_an_unknown_option_is_refused_by_name() -> None:
    with pytest.raises(InputError, match="AzureKeyVaultProvider has no option 'logging_enable'"):
        AzureKeyVaultProvider("azurekms://v.vault.azure.net/keys/k", credential=_Unused(), logging_enable=True)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("azurekms://v.vault.azure.net:99999/keys/k", "port in 1-65535"),
        ("azurekms://v.vault.azure.net:0/keys/k", "port in 1-65535"),
        ("azurekms://[::1/keys/k", "is not a valid URL"),
        ("azurekms://" + "a." * 200 + "net/keys/k", "port in 1-65535"),
    ],
)
def test_hosts_are_checked_before_any_request(uri: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)) as raised:
        AzureKeyVaultProvider(uri, credential=_Unused())
    assert len(str(raised.value)) < 300


def test_a_long_name_is_not_echoed_in_full() -> None:
    with pytest.raises(InputError) as raised:
        AzureKeyVaultProvider("azurekms://v.vault.azure.net/keys/" + "x" * 100_000, credential=_Unused())
    assert len(str(raised.value)) < 300


def test_an_aws_alias_with_the_azure_provider_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GL_KMS_PROVIDER", "azure")
    monkeypatch.setenv("AZURE_KEY_VAULT_URL", "https://greenlang.vault.azure.net")
    with pytest.raises(InputError, match="is not a Key Vault key but the provider is azure"):
        ExternalKMSSigner(SigningConfig(kms_key_id="alias/reports"))


@pytest.mark.parametrize(
    "answer",
    [
        {"kid": "placeholder"},  # no "value"
        {"kid": "placeholder", "value": 5},
        "not an object",
    ],
)
def test_a_malformed_sign_answer_is_a_sentence_not_a_python_error(
    answer: object,
    vault: LocalKeyVault,
    open_key: Callable[..., AzureKeyVaultProvider],
    key_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signer = open_key(key_name)
    signer.resolved()
    respond = vault._api.respond  # the test server's own router, not the SDK

    def hostile(method: str, path: str, *args: Any) -> Reply:
        return Reply(200, answer) if path.endswith("/sign") else respond(method, path, *args)

    monkeypatch.setattr(vault._api, "respond", hostile)
    with pytest.raises(KMSError, match="nothing was signed|discarded") as raised:
        signer.sign(PAYLOAD)
    assert type(raised.value) is KMSError


def test_a_read_timeout_on_sign_is_retried(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider], key_name: str
) -> None:
    signer = open_key(key_name, retry=RetryPolicy(max_attempts=3, read_timeout=0.3, deadline_seconds=10))
    signer.resolved()
    vault.latency = 0.6
    with pytest.raises(KMSUnavailableError):
        signer.sign(PAYLOAD)
    settle = time.monotonic() + 3.0  # an attempt is logged once its held answer goes out, after the latency
    while vault.count("/sign", authorized=True) < 3 and time.monotonic() < settle:
        time.sleep(0.05)
    assert vault.count("/sign", authorized=True) == 3


def test_gl_kms_endpoint_with_an_azure_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GL_KMS_ENDPOINT", "https://127.0.0.1:8443")
    with pytest.raises(InputError, match="an Azure key's vault host is part of its key id, so unset GL_KMS_ENDPOINT"):
        ExternalKMSSigner(SigningConfig(kms_key_id="https://greenlang.vault.azure.net/keys/signing"))
