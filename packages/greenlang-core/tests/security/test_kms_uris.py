"""KMS key URIs: every documented key form parses to its parts and back without loss."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenlang.errors import InputError
from greenlang.security.keyref import _seed_key_id_as_uri
from greenlang.security.kms.uris import AwsKeyUri, AzureKeyUri, GcpKeyUri, kms_key_uri, provider_for_key_id

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
MRK_ID = "mrk-1234abcd12ab34cd56ef1234567890ab"


@pytest.mark.parametrize(
    ("key", "kind", "partition", "account", "region"),
    [
        (KEY_ID, "key-id", None, None, None),
        (MRK_ID, "key-id", None, None, None),
        ("alias/reports", "alias", None, None, None),
        ("alias/team/emissions/2026", "alias", None, None, None),
        (f"arn:aws:kms:us-east-1:111122223333:key/{KEY_ID}", "key-arn", "aws", "111122223333", "us-east-1"),
        (f"arn:aws:kms:eu-west-1:111122223333:key/{MRK_ID}", "key-arn", "aws", "111122223333", "eu-west-1"),
        ("arn:aws:kms:us-east-1:111122223333:alias/team/a", "alias-arn", "aws", "111122223333", "us-east-1"),
        (f"arn:aws-cn:kms:cn-north-1:111122223333:key/{KEY_ID}", "key-arn", "aws-cn", "111122223333", "cn-north-1"),
        (
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/gov",
            "alias-arn",
            "aws-us-gov",
            "111122223333",
            "us-gov-west-1",
        ),
    ],
)
def test_every_aws_key_form_round_trips(
    key: str, kind: str, partition: str | None, account: str | None, region: str | None
) -> None:
    ref = AwsKeyUri.parse(f"awskms:///{key}")
    assert (ref.key, ref.kind, ref.partition, ref.account, ref.region) == (key, kind, partition, account, region)
    assert ref.is_alias == kind.startswith("alias")
    assert ref.uri() == f"awskms:///{key}"
    assert AwsKeyUri.parse(ref.uri()) == ref


def test_aws_query_options_are_kept() -> None:
    uri = f"awskms:///{KEY_ID}?region=ap-southeast-2&endpoint=http://127.0.0.1:4566"
    ref = AwsKeyUri.parse(uri)
    assert (ref.region, ref.endpoint) == ("ap-southeast-2", "http://127.0.0.1:4566")
    assert AwsKeyUri.parse(ref.uri()) == ref


def test_percent_encoded_aws_key_is_decoded() -> None:
    ref = AwsKeyUri.parse("awskms:///arn%3Aaws%3Akms%3Aus-east-1%3A111122223333%3Aalias%2Fa%2Fb")
    assert ref.key == "arn:aws:kms:us-east-1:111122223333:alias/a/b"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("awskms:///", "names no key"),
        ("awskms:///nonsense", "is not a key reference"),
        ("awskms:///alias/", "is not a key reference"),
        ("awskms:///alias/has space", "is not a key reference"),
        (f"awskms:///key/{KEY_ID}", "is not a key reference"),
        ("awskms:///arn:aws:kms:us-east-1:111122223333:key/not-a-uuid", "is not a key reference"),
        ("awskms:///arn:aws:s3:us-east-1:111122223333:alias/x", "is not a key reference"),
        ("awskms://localhost:4566/alias/x", "where awskms:/// has nothing"),
        ("awskms:///alias/x?regoin=us-east-1", "unknown option 'regoin'"),
        ("awskms:///alias/x?region=us-east-1&region=eu-west-1", "repeats an option"),
        ("awskms:///alias/x?region=", "empty option value"),
        ("awskms:///alias/x?region=Mars", "is not a region name"),
        ("awskms:///alias/x?endpoint=localhost:4566", "is not a URL"),
        ("awskms:///alias/x#frag", "has a fragment"),
        ("gcpkms:///alias/x", "should start with awskms://"),
        (
            f"awskms:///arn:aws:kms:us-east-1:111122223333:key/{KEY_ID}?region=eu-west-1",
            "conflicts with 'us-east-1'",
        ),
    ],
)
def test_bad_aws_uris_say_what_to_write(uri: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        AwsKeyUri.parse(uri)


@pytest.mark.parametrize(
    "host",
    ["myvault.vault.azure.net", "cnvault.vault.azure.cn", "gov.vault.usgovcloudapi.net", "hsm1.managedhsm.azure.net"],
)
def test_azure_hosts_are_kept_exactly(host: str) -> None:
    versioned = AzureKeyUri.parse(f"azurekms://{host}/keys/signing-key/0123456789abcdef0123456789abcdef")
    assert (versioned.vault_host, versioned.name, versioned.version) == (
        host,
        "signing-key",
        "0123456789abcdef0123456789abcdef",
    )
    assert versioned.vault_url == f"https://{host}"
    assert versioned.key_id_url == f"https://{host}/keys/signing-key/0123456789abcdef0123456789abcdef"
    assert AzureKeyUri.from_key_id_url(versioned.key_id_url) == versioned
    latest = AzureKeyUri.parse(f"azurekms://{host}/keys/signing-key")
    assert latest.version is None
    assert latest.uri() == f"azurekms://{host}/keys/signing-key"


def test_azure_key_id_with_trailing_slash_and_port() -> None:
    ref = AzureKeyUri.from_key_id_url("https://127.0.0.1:8443/keys/k1/")
    assert (ref.vault_host, ref.name, ref.version) == ("127.0.0.1:8443", "k1", None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("azurekms://v.vault.azure.net/secrets/k", "does not have the form"),
        ("azurekms://v.vault.azure.net/keys", "does not have the form"),
        ("azurekms:///keys/k", "does not have the form"),
        ("azurekms://v.vault.azure.net/keys/bad_name", "key name 'bad_name' is invalid"),
        ("azurekms://v.vault.azure.net/keys/k/v/extra", "does not have the form"),
        ("azurekms://v.vault.azure.net/keys/k?api-version=7.4", "unknown option 'api-version'"),
    ],
)
def test_bad_azure_uris(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        AzureKeyUri.parse(text)


def test_azure_key_id_must_be_https() -> None:
    with pytest.raises(InputError, match="uses plain http; Key Vault answers only over https"):
        AzureKeyUri.from_key_id_url("http://v.vault.azure.net/keys/k")
    with pytest.raises(InputError, match="must be https://"):
        AzureKeyUri.from_key_id_url("ftp://v.vault.azure.net/keys/k")


def test_azure_key_name_in_the_vault_of_azure_key_vault_url() -> None:
    assert (
        kms_key_uri("azure", "signing", vault_url="https://v.vault.azure.net")
        == "azurekms://v.vault.azure.net/keys/signing"
    )
    assert (
        kms_key_uri("azure", "signing/0123abcd", vault_url="https://v.vault.azure.net/")
        == "azurekms://v.vault.azure.net/keys/signing/0123abcd"
    )
    assert kms_key_uri("azure", "https://v.vault.azure.net/keys/k", vault_url="https://V.vault.azure.net") == (
        "azurekms://v.vault.azure.net/keys/k"
    )
    assert kms_key_uri("aws", "alias/x", region="eu-west-1", vault_url="https://v.vault.azure.net") == (
        "awskms:///alias/x?region=eu-west-1"
    )


@pytest.mark.parametrize(
    ("key_id", "vault_url", "message"),
    [
        ("signing", None, "has no vault; set AZURE_KEY_VAULT_URL"),
        ("signing", "http://v.vault.azure.net", "uses plain http"),
        ("signing", "https://v.vault.azure.net/keys", "must be https://<vault host>"),
        ("arn:aws:kms:us-west-2:123456789012:key/k", "https://v.vault.azure.net", "is not a Key Vault key"),
        ("https://a.vault.azure.net/keys/k", "https://b.vault.azure.net", "AZURE_KEY_VAULT_URL names"),
        ("a/b/c", "https://v.vault.azure.net", "does not have the form <name>"),
        ("bad name!", "https://v.vault.azure.net", "key name 'bad name!' is invalid"),
    ],
)
def test_azure_key_id_refusals_name_the_fix(key_id: str, vault_url: str | None, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        kms_key_uri("azure", key_id, vault_url=vault_url)


GCP_KEY = "projects/my-project/locations/global/keyRings/my-ring/cryptoKeys/my-key"


def test_gcp_key_and_version_round_trip() -> None:
    key = GcpKeyUri.parse(f"gcpkms://{GCP_KEY}")
    assert (key.project, key.location, key.key_ring, key.key, key.version) == (
        "my-project",
        "global",
        "my-ring",
        "my-key",
        None,
    )
    version = GcpKeyUri.parse(f"gcpkms://{GCP_KEY}/cryptoKeyVersions/12")
    assert version.version == "12"
    assert version.key_name == GCP_KEY
    assert version.resource_name == f"{GCP_KEY}/cryptoKeyVersions/12"
    assert version.uri() == f"gcpkms://{GCP_KEY}/cryptoKeyVersions/12"
    assert GcpKeyUri.parse(f"gcpkms:///{GCP_KEY}") == key
    assert GcpKeyUri.from_resource_name("projects/example.com:proj/locations/europe-west4/keyRings/r/cryptoKeys/k")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gcpkms://projects/p1234/locations/global/keyRings/r", "does not have the form"),
        ("gcpkms://projects/p1234/locations/global/keyRing/r/cryptoKeys/k", "does not have the form"),
        (f"gcpkms://{GCP_KEY}/cryptoKeyVersions/0", "versions are positive integers"),
        (f"gcpkms://{GCP_KEY}/cryptoKeyVersions/latest", "versions are positive integers"),
        (
            "gcpkms://projects/My_Project/locations/global/keyRings/r/cryptoKeys/k",
            "project 'My_Project' is invalid; pro",
        ),
        (f"gcpkms://{GCP_KEY}?x=1", "unknown option 'x'"),
        (f"awskms://{GCP_KEY}", "should start with gcpkms://"),
    ],
)
def test_bad_gcp_uris(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        GcpKeyUri.parse(text)


@pytest.mark.parametrize(
    ("key_id", "provider"),
    [
        ("arn:aws:kms:us-west-2:123456789012:key/12345678-1234-1234-1234-123456789012", "aws"),
        ("alias/reports", "aws"),
        (KEY_ID, "aws"),
        ("https://mykeyvault.vault.azure.net/keys/signing/abc", "azure"),
        (f"{GCP_KEY}/cryptoKeyVersions/1", "gcp"),
        ("awskms:///alias/x", "aws"),
        ("azurekms://v.vault.azure.net/keys/k", "azure"),
        (f"gcpkms://{GCP_KEY}", "gcp"),
    ],
)
def test_provider_from_key_id_shape(key_id: str, provider: str) -> None:
    assert provider_for_key_id(key_id) == provider


@pytest.mark.parametrize("key_id", ["my-key", "https://example.com/keys"])
def test_unrecognised_key_id_asks_for_gl_kms_provider(key_id: str) -> None:
    with pytest.raises(InputError, match="set GL_KMS_PROVIDER to aws, azure or gcp"):
        provider_for_key_id(key_id)


@pytest.mark.parametrize("key_id", ["file:///k.pem", "FILE:///k.pem", "keys/signing.pem"])
def test_local_key_files_are_pointed_at_the_local_signer(key_id: str) -> None:
    with pytest.raises(InputError, match="is a local key file, not a KMS key"):
        provider_for_key_id(key_id)
    with pytest.raises(InputError, match="LocalSigner.from_file"):
        kms_key_uri("aws", key_id)


def test_seed_key_ids_become_uris() -> None:
    arn = "arn:aws:kms:us-west-2:123456789012:key/12345678-1234-1234-1234-123456789012"
    assert kms_key_uri("aws", arn) == f"awskms:///{arn}"
    assert kms_key_uri("AWS", arn, region="us-west-2") == f"awskms:///{arn}"
    assert kms_key_uri("aws", "alias/x", region="eu-west-1") == "awskms:///alias/x?region=eu-west-1"
    assert kms_key_uri("awskms", "awskms:///alias/x") == "awskms:///alias/x"
    assert kms_key_uri("azure", "https://v.vault.azure.net/keys/k/1") == "azurekms://v.vault.azure.net/keys/k/1"
    assert kms_key_uri("gcp", GCP_KEY) == f"gcpkms://{GCP_KEY}"
    assert _seed_key_id_as_uri(arn) == f"awskms:///{arn}"
    assert _seed_key_id_as_uri("file:///k.pem") == "file:///k.pem"


@pytest.mark.parametrize(
    ("provider", "key_id", "region", "message"),
    [
        ("oracle", "x", None, "KMS provider 'oracle' is unknown"),
        ("aws", "  ", None, "KMS key id is empty"),
        ("aws", f"arn:aws:kms:us-east-1:111122223333:key/{KEY_ID}", "eu-west-1", "GL_KMS_REGION 'eu-west-1' conflicts"),
        ("gcp", GCP_KEY, "us-east-1", "a region applies to AWS keys only"),
        ("gcp", "awskms:///alias/x", None, "is a awskms:// URI but the provider is gcp"),
    ],
)
def test_bad_seed_settings(provider: str, key_id: str, region: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        kms_key_uri(provider, key_id, region=region)


alias_names = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-"), min_size=1, max_size=60
)


@given(alias_names, st.sampled_from(["aws", "aws-cn", "aws-us-gov", "aws-iso-b"]), st.booleans())
def test_any_alias_round_trips(name: str, partition: str, as_arn: bool) -> None:
    key = f"arn:{partition}:kms:us-east-2:111122223333:alias/{name}" if as_arn else f"alias/{name}"
    ref = AwsKeyUri.parse(f"awskms:///{key}")
    assert ref.key == key
    assert ref.is_alias
    assert AwsKeyUri.parse(ref.uri()) == ref


@pytest.mark.parametrize("key_id", ["", "   "])
def test_empty_key_id_says_where_to_set_it(key_id: str) -> None:
    with pytest.raises(InputError, match="KMS key id is empty; set GL_KMS_KEY_ID"):
        provider_for_key_id(key_id)


def test_endpoint_credentials_are_refused_without_echoing_them() -> None:
    with pytest.raises(InputError, match="must not carry credentials") as caught:
        AwsKeyUri.parse("awskms:///alias/x?endpoint=https://user:hunter2-secret@kms.example:443")
    assert "hunter2" not in str(caught.value)


def test_a_long_bad_key_is_echoed_cut_short() -> None:
    with pytest.raises(InputError) as caught:
        AwsKeyUri.parse("awskms:///" + "x" * 5000)
    assert len(str(caught.value)) < 400
    assert "xxx..." in str(caught.value)


@pytest.mark.parametrize(
    "suffix",
    ["&bogus=1", "#frag", "&region=us-east-1&region=eu-west-1", "&region="],
    ids=["option", "fragment", "repeat", "empty"],
)
def test_no_error_echoes_a_password_in_an_endpoint(suffix: str) -> None:
    with pytest.raises(InputError) as caught:
        AwsKeyUri.parse(f"awskms:///alias/x?endpoint=https://u:hunter2-secret@kms.example{suffix}")
    assert "hunter2" not in str(caught.value)
    assert "***@" in str(caught.value) or "must not carry credentials" in str(caught.value)
