"""Bad input gets one clear sentence naming the problem and the fix, and nothing is signed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import create
from greenlang_kms_azure import AzureKeyVaultProvider
from greenlang_kms_azure.testing import LocalKeyVault

from greenlang.errors import AlgorithmMismatchError, InputError, KeyUnusableError
from greenlang.security.kms.external import ExternalKMSSigner
from greenlang.security.signing import SigningConfig

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
