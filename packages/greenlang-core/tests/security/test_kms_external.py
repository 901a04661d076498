"""The seed's KMS API (``ExternalKMSSigner``, ``KMSConfig``, ``create_kms_provider``) with no cloud plugin loaded.

Only the error paths live here. The success path needs a provider registered
for ``awskms``, and the registry takes providers only from installed entry
points (``greenlang.plugins.Registry._load``), so it is covered by the
greenlang-kms-aws tests against its test server instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from greenlang.errors import InputError, MissingPluginError, shown
from greenlang.security.keys import save_private_key
from greenlang.security.kms.external import ExternalKMSSigner, KMSConfig, KMSEnvironment, create_kms_provider
from greenlang.security.signing import SigningConfig

AWS_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
AZURE_URL = "https://scope3-vault.vault.azure.net/keys/signing"
GCP_NAME = "projects/ghg-prod/locations/europe-west1/keyRings/reports/cryptoKeys/signing"


@pytest.fixture(autouse=True)
def _no_kms_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GL_KMS_PROVIDER", "GL_KMS_KEY_ID", "GL_KMS_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def pem_key(tmp_path: Path) -> Path:
    """A real key file, so a refusal cannot be explained by a missing file."""
    return save_private_key(ec.generate_private_key(ec.SECP256R1()), tmp_path / "local.pem")


def test_no_key_anywhere_names_gl_kms_key_id(only_builtin_plugins: None) -> None:
    for make in (ExternalKMSSigner, lambda: ExternalKMSSigner(SigningConfig())):
        with pytest.raises(InputError, match="GL_KMS_KEY_ID"):
            make()


def test_aws_key_without_the_plugin_names_the_extra(
    only_builtin_plugins: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GL_KMS_PROVIDER", "aws")
    monkeypatch.setenv("GL_KMS_KEY_ID", AWS_ARN)
    with pytest.raises(MissingPluginError) as caught:
        ExternalKMSSigner()
    assert "pip install 'greenlang-core[aws]'" in str(caught.value)
    assert "'awskms'" in str(caught.value)


@pytest.mark.parametrize(("key_id", "extra"), [(AWS_ARN, "aws"), (AZURE_URL, "azure"), (GCP_NAME, "gcp")])
def test_provider_is_inferred_from_the_key_id(only_builtin_plugins: None, key_id: str, extra: str) -> None:
    with pytest.raises(MissingPluginError, match=rf"pip install 'greenlang-core\[{extra}\]'"):
        create_kms_provider(KMSConfig(key_id=key_id))
    with pytest.raises(MissingPluginError, match=rf"pip install 'greenlang-core\[{extra}\]'"):
        ExternalKMSSigner(SigningConfig(kms_key_id=key_id))


def test_config_key_id_wins_over_the_environment(only_builtin_plugins: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GL_KMS_KEY_ID", AZURE_URL)
    with pytest.raises(MissingPluginError, match=r"greenlang-core\[aws\]"):
        ExternalKMSSigner(SigningConfig(kms_key_id=AWS_ARN))


@pytest.mark.parametrize("provider", ["oracle", "aws-kms", "vault"])
def test_unknown_provider_is_refused(
    only_builtin_plugins: None, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    monkeypatch.setenv("GL_KMS_PROVIDER", provider)
    monkeypatch.setenv("GL_KMS_KEY_ID", AWS_ARN)
    with pytest.raises(InputError, match="GL_KMS_PROVIDER") as caught:
        ExternalKMSSigner()
    assert repr(provider) in str(caught.value)
    assert not isinstance(caught.value, MissingPluginError)


def test_region_that_contradicts_the_arn_is_refused(
    only_builtin_plugins: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GL_KMS_KEY_ID", AWS_ARN)
    monkeypatch.setenv("GL_KMS_REGION", "us-west-2")
    with pytest.raises(InputError, match="GL_KMS_REGION"):
        ExternalKMSSigner()


def test_region_for_a_non_aws_key_is_refused(only_builtin_plugins: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GL_KMS_KEY_ID", AZURE_URL)
    monkeypatch.setenv("GL_KMS_REGION", "eu-west-1")
    with pytest.raises(InputError, match="GL_KMS_REGION"):
        ExternalKMSSigner()


def test_file_key_is_not_opened_as_a_kms_key(only_builtin_plugins: None, pem_key: Path) -> None:
    """A file key is refused before any plugin is asked, with a pointer to the local signer."""
    uri = pem_key.as_uri()
    for config in (KMSConfig(key_id=uri), KMSConfig(key_id=uri, provider="aws"), KMSConfig(key_id=str(pem_key))):
        with pytest.raises(InputError, match="is a local key file, not a KMS key; sign with it through") as caught:
            create_kms_provider(config)
        assert shown(config.key_id) in str(caught.value)
    with pytest.raises(InputError, match="LocalSigner.from_file"):
        ExternalKMSSigner(SigningConfig(kms_key_id=uri))


def test_kms_environment_reads_the_three_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (KMSEnvironment().provider, KMSEnvironment().key_id, KMSEnvironment().region) == ("", "", "")
    monkeypatch.setenv("GL_KMS_PROVIDER", "aws")
    monkeypatch.setenv("GL_KMS_KEY_ID", AWS_ARN)
    monkeypatch.setenv("GL_KMS_REGION", "eu-west-1")
    env = KMSEnvironment()
    assert (env.provider, env.key_id, env.region) == ("aws", AWS_ARN, "eu-west-1")


def test_kms_config_refuses_unknown_fields_and_negative_numbers() -> None:
    with pytest.raises(ValidationError):
        KMSConfig(key_id=AWS_ARN, regoin="eu-west-1")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        KMSConfig(key_id=AWS_ARN, cache_ttl_seconds=-1)
    assert KMSConfig(key_id=AWS_ARN, region="eu-west-1").key_uri() == f"awskms:///{AWS_ARN}"


def test_seed_import_path_still_works() -> None:
    import greenlang.security.signing as signing
    from greenlang.security.kms import external
    from greenlang.security.signing import ExternalKMSSigner as FromSigning

    assert FromSigning is external.ExternalKMSSigner
    with pytest.raises(AttributeError, match="NoSuchSigner"):
        signing.NoSuchSigner  # noqa: B018
    with pytest.raises(ImportError):
        from greenlang.security.signing import NoSuchSigner  # noqa: F401


def test_the_seed_names_are_the_same_classes() -> None:
    from greenlang.security import kms
    from greenlang.security.signing import SignResult

    assert kms.BaseKMSProvider is kms.KMSProvider
    assert kms.KMSSignResult is SignResult
    assert {"ExternalKMSSigner", "KMSConfig", "create_kms_provider"} <= set(kms.__all__)
