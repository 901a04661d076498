"""Key URIs: parsing, opening file keys through the plugin registry, and missing-scheme errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from greenlang.errors import InputError, MissingPluginError
from greenlang.plugins import registry
from greenlang.security.keyref import open_signer, parse_key_uri, signer_from_config
from greenlang.security.keys import generate_private_key, key_id, save_private_key
from greenlang.security.local import LocalKeyProvider
from greenlang.security.signing import LocalSigner, SigningConfig
from greenlang.security.verify import verify_signature


def test_file_uri_and_bare_path_mean_the_same_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    by_uri = parse_key_uri(f"file://{tmp_path}/k.pem")
    by_path = parse_key_uri("k.pem")
    by_localhost = parse_key_uri(f"file://localhost{tmp_path}/k.pem")
    assert by_uri == by_path == by_localhost
    assert (by_uri.scheme, by_uri.path, by_uri.uri) == ("file", f"{tmp_path}/k.pem", f"file://{tmp_path}/k.pem")


def test_percent_encoded_file_uri() -> None:
    ref = parse_key_uri("file:///keys/my%20key.pem")
    assert ref.path == "/keys/my key.pem"
    assert ref.uri == "file:///keys/my%20key.pem"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "key reference is empty"),
        ("   ", "key reference is empty"),
        ("file://server/k.pem", "names host 'server'; a file key must be local"),
        ("file:///k.pem?passphrase=x", "has a query string; file keys take no options"),
        ("file://", "has no path"),
    ],
)
def test_bad_file_uris(uri: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_key_uri(uri)


def test_cloud_uris_are_split_generically() -> None:
    ref = parse_key_uri("awskms:///alias/reports?region=eu-west-1")
    assert (ref.scheme, ref.host, ref.path, ref.query) == ("awskms", "", "/alias/reports", (("region", "eu-west-1"),))
    azure = parse_key_uri("azurekms://myvault.vault.azure.net/keys/signing/0123")
    assert (azure.scheme, azure.host, azure.path) == ("azurekms", "myvault.vault.azure.net", "/keys/signing/0123")
    assert azure.uri == "azurekms://myvault.vault.azure.net/keys/signing/0123"


def test_file_scheme_is_registered_to_the_local_provider() -> None:
    assert registry().kms_provider("file").value is LocalKeyProvider


def test_open_signer_for_a_file_key(tmp_path: Path) -> None:
    key = generate_private_key("ecdsa-p384")
    path = save_private_key(key, tmp_path / "k.pem")
    signer = open_signer(f"file://{path}")
    assert isinstance(signer, LocalSigner)
    assert signer.key_id == key_id(key)
    assert signer.key_ref == f"file://{path}"
    result = signer.sign(b"payload")
    assert verify_signature(key.public_key(), b"payload", result.signature)


def test_passphrase_from_option_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_private_key("ed25519")
    path = save_private_key(key, tmp_path / "k.pem", passphrase="from-env")
    with pytest.raises(InputError, match="is encrypted; pass its passphrase"):
        open_signer(str(path))
    monkeypatch.setenv("GREENLANG_KEY_PASSPHRASE", "from-env")
    assert open_signer(str(path)).key_id == key_id(key)
    with pytest.raises(InputError, match="the passphrase is wrong") as info:
        open_signer(str(path), passphrase="explicit-wins")
    assert "explicit-wins" not in str(info.value)


def test_signer_from_config(tmp_path: Path) -> None:
    key = generate_private_key("ecdsa-p521")
    path = save_private_key(key, tmp_path / "k.pem", passphrase="pw")
    config = SigningConfig(key_path=str(path), passphrase=SecretStr("pw"), algorithm="ecdsa")
    signer = signer_from_config(config)
    assert signer.algorithm.name == "ecdsa-p521-sha512"
    refused = SigningConfig(key_path=str(path), passphrase=SecretStr("pw"), algorithm="ECDSA_SHA_256")
    with pytest.raises(InputError, match="does not fit a ecdsa-p521 key"):
        signer_from_config(refused)


@pytest.mark.parametrize(
    ("uri", "extra"),
    [
        ("awskms:///alias/x", "aws"),
        ("azurekms://vault.example.net/keys/k", "azure"),
        ("gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "gcp"),
    ],
)
def test_cloud_scheme_without_its_plugin_names_the_install(uri: str, extra: str, only_builtin_plugins: None) -> None:
    with pytest.raises(MissingPluginError, match=rf"pip install 'greenlang-core\[{extra}\]'"):
        open_signer(uri)


def test_unknown_scheme_asks_for_a_plugin() -> None:
    with pytest.raises(MissingPluginError, match="key URI scheme 'vault'; install a plugin that registers it"):
        open_signer("vault://x/y")


def test_local_provider_refuses_other_schemes() -> None:
    with pytest.raises(InputError, match="is not a file key"):
        LocalKeyProvider.open("awskms:///alias/x")
