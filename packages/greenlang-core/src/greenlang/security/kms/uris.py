"""KMS key references: ``awskms``, ``azurekms`` and ``gcpkms`` URIs, parsed without losing anything.

Each cloud names keys in several documented forms (AWS alone has key ids,
multi-region ``mrk-`` ids, alias names with slashes, key and alias ARNs in
three partitions). Each parser keeps the form it was given, so ``parse(u).uri()``
gives back an equivalent reference and an alias is never silently turned
into a key or the other way round. The seed passed bare provider key ids;
``provider_for_key_id`` and ``kms_key_uri`` turn those into URIs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlencode, urlsplit

from greenlang.errors import InputError, shown

__all__ = ["AwsKeyUri", "AzureKeyUri", "GcpKeyUri", "provider_for_key_id", "kms_key_uri", "PROVIDER_SCHEMES"]

PROVIDER_SCHEMES = {"aws": "awskms", "azure": "azurekms", "gcp": "gcpkms"}
"""Provider name (``GL_KMS_PROVIDER``) to key URI scheme."""

_AWS_FORMS = (
    "a key id (1234abcd-12ab-34cd-56ef-1234567890ab or mrk-...), alias/<name>, "
    "arn:aws:kms:<region>:<account>:key/<id> or arn:aws:kms:<region>:<account>:alias/<name>"
)
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_KEY_ID = re.compile(rf"(?:{_UUID}|mrk-[0-9a-fA-F]{{32}})")
_ALIAS = re.compile(r"alias/[A-Za-z0-9/_-]{1,250}")
_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):kms:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):(?P<account>\d{12}):(?P<resource>.+)"
)
_AWS_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?/?")

AwsKeyKind = Literal["key-id", "alias", "key-arn", "alias-arn"]


@dataclass(frozen=True)
class AwsKeyUri:
    """``awskms:///<key id | alias/name | key ARN | alias ARN>[?region=..&endpoint=..]``.

    ``region`` is the query's region or, failing that, the ARN's; the two must
    agree. ``endpoint`` is for private endpoints and test servers.
    """

    key: str
    region: str | None = None
    endpoint: str | None = None

    def __post_init__(self) -> None:
        kind = _aws_kind(self.key)
        if kind is None:
            raise InputError(f"AWS KMS key {shown(self.key)} is not a key reference; use {_AWS_FORMS}.")
        if self.region is not None and not _AWS_REGION.fullmatch(self.region):
            raise InputError(f"AWS region {shown(self.region)} is not a region name; use one such as us-east-1.")
        arn = _ARN.fullmatch(self.key)
        if arn is not None:
            if self.region is not None and self.region != arn["region"]:
                raise InputError(
                    f"region {self.region!r} conflicts with {arn['region']!r} in key {self.key}; "
                    "drop ?region= or make it match the ARN."
                )
            object.__setattr__(self, "region", arn["region"])
        if self.endpoint is not None and "@" in self.endpoint:
            raise InputError("endpoint must not carry credentials (user:password@); AWS credentials come from boto3.")
        if self.endpoint is not None and not _ENDPOINT.fullmatch(self.endpoint):
            raise InputError(
                f"endpoint {shown(self.endpoint)} is not a URL; use ?endpoint=https://host[:port], with no path."
            )

    @classmethod
    def parse(cls, uri: str) -> AwsKeyUri:
        parts = _split(uri, "awskms")
        if parts.netloc:
            raise InputError(
                f"key URI {shown(uri)} has {shown(parts.netloc)} where awskms:/// has nothing; "
                "write awskms:///<key> and pass an endpoint as ?endpoint=https://host."
            )
        query = _query(uri, parts.query, {"region", "endpoint"})
        key = unquote(parts.path).removeprefix("/")
        if not key:
            raise InputError(f"key URI {shown(uri)} names no key; use awskms:///<key>, where <key> is {_AWS_FORMS}.")
        return cls(key, query.get("region"), query.get("endpoint"))

    @property
    def kind(self) -> AwsKeyKind:
        kind = _aws_kind(self.key)
        assert kind is not None  # checked in __post_init__
        return kind

    @property
    def is_alias(self) -> bool:
        return self.kind in ("alias", "alias-arn")

    @property
    def partition(self) -> str | None:
        arn = _ARN.fullmatch(self.key)
        return arn["partition"] if arn else None

    @property
    def account(self) -> str | None:
        arn = _ARN.fullmatch(self.key)
        return arn["account"] if arn else None

    def uri(self) -> str:
        query: dict[str, str] = {}
        if self.region is not None and _ARN.fullmatch(self.key) is None:
            query["region"] = self.region
        if self.endpoint is not None:
            query["endpoint"] = self.endpoint
        suffix = f"?{urlencode(query, safe=':/')}" if query else ""
        return f"awskms:///{quote(self.key, safe=':/-_')}{suffix}"


def _aws_kind(key: str) -> AwsKeyKind | None:
    if _KEY_ID.fullmatch(key):
        return "key-id"
    if _ALIAS.fullmatch(key):
        return "alias"
    arn = _ARN.fullmatch(key)
    if arn is None:
        return None
    resource = arn["resource"]
    if resource.startswith("key/") and _KEY_ID.fullmatch(resource.removeprefix("key/")):
        return "key-arn"
    if _ALIAS.fullmatch(resource):
        return "alias-arn"
    return None


_VAULT_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]+(?::\d{1,5})?")
_AZURE_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
_AZURE_VERSION = re.compile(r"[0-9A-Za-z]{1,64}")
_AZURE_FORM = "azurekms://<vault host>/keys/<name>[/<version>]"


@dataclass(frozen=True)
class AzureKeyUri:
    """``azurekms://<vault host>/keys/<name>[/<version>]``; the host is used exactly as given.

    That keeps sovereign clouds (``*.vault.azure.cn``, ``*.vault.usgovcloudapi.net``)
    and Managed HSM (``*.managedhsm.azure.net``) working with no table of clouds.
    """

    vault_host: str
    name: str
    version: str | None = None

    def __post_init__(self) -> None:
        host, _, port = self.vault_host.partition(":")
        bad_port = bool(port) and not (port.isdigit() and 0 < int(port) < 65536)
        if len(host) > 253 or bad_port:
            raise InputError(
                f"vault host {shown(self.vault_host)} is not a host name with a port in 1-65535; "
                "use e.g. myvault.vault.azure.net."
            )
        if not _VAULT_HOST.fullmatch(self.vault_host):
            raise InputError(
                f"vault host {shown(self.vault_host)} is not a host name; use e.g. myvault.vault.azure.net."
            )
        if not _AZURE_NAME.fullmatch(self.name):
            raise InputError(
                f"Key Vault key name {shown(self.name)} is invalid; names are 1-127 letters, digits and '-'."
            )
        if self.version is not None and not _AZURE_VERSION.fullmatch(self.version):
            raise InputError(
                f"Key Vault key version {shown(self.version)} is invalid; versions are letters and digits."
            )

    @classmethod
    def parse(cls, uri: str) -> AzureKeyUri:
        parts = _split(uri, "azurekms")
        _query(uri, parts.query, set())
        return cls._from(uri, parts.netloc, parts.path, _AZURE_FORM)

    @classmethod
    def from_key_id_url(cls, url: str) -> AzureKeyUri:
        """A Key Vault key identifier (``kid``): ``https://<vault host>/keys/<name>[/<version>]``."""
        text = url.strip() if isinstance(url, str) else ""
        parts = _urlsplit(text, url)
        _refuse_plain_http(parts.scheme, url)
        if parts.scheme.lower() != "https" or parts.query or parts.fragment:
            raise InputError(f"Key Vault key id {shown(url)} must be https://<vault host>/keys/<name>[/<version>].")
        return cls._from(url, parts.netloc, parts.path, "https://<vault host>/keys/<name>[/<version>]")

    @classmethod
    def _from(cls, text: str, host: str, path: str, form: str) -> AzureKeyUri:
        if "@" in host:
            raise InputError("a Key Vault key reference must not carry credentials (user:password@); remove them.")
        segments = unquote(path).strip("/").split("/")
        if not host or len(segments) not in (2, 3) or segments[0] != "keys":
            raise InputError(f"Key Vault key {shown(text)} does not have the form {form}.")
        version = segments[2] if len(segments) == 3 else None
        return cls(host, segments[1], version)

    @classmethod
    def in_vault(cls, vault_url: str, key: str) -> AzureKeyUri:
        """Key ``<name>[/<version>]`` in the vault at ``vault_url`` (the seed's ``AZURE_KEY_VAULT_URL``)."""
        text = vault_url.strip() if isinstance(vault_url, str) else ""
        parts = _urlsplit(text, vault_url)
        _refuse_plain_http(parts.scheme, vault_url)
        if parts.scheme.lower() != "https" or parts.path.strip("/") or parts.query or parts.fragment:
            raise InputError(
                f"vault URL {shown(vault_url)} must be https://<vault host>, e.g. https://myvault.vault.azure.net."
            )
        return cls._from(key, parts.netloc, f"keys/{key.strip().strip('/')}", "<name>[/<version>]")

    @property
    def vault_url(self) -> str:
        return f"https://{self.vault_host}"

    @property
    def key_id_url(self) -> str:
        return f"{self.vault_url}/keys/{self.name}" + (f"/{self.version}" if self.version else "")

    def uri(self) -> str:
        return f"azurekms://{self.vault_host}/keys/{self.name}" + (f"/{self.version}" if self.version else "")


_GCP_ID = re.compile(r"[A-Za-z0-9_-]{1,63}")
_GCP_PROJECT = re.compile(r"(?:[a-z0-9.-]+:)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_GCP_LOCATION = re.compile(r"[a-z0-9-]{1,63}")
_GCP_VERSION = re.compile(r"[1-9][0-9]{0,18}")
_GCP_FORM = "projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>[/cryptoKeyVersions/<n>]"


@dataclass(frozen=True)
class GcpKeyUri:
    """``gcpkms://projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>[/cryptoKeyVersions/<n>]``."""

    project: str
    location: str
    key_ring: str
    key: str
    version: str | None = None

    def __post_init__(self) -> None:
        for field_name, value, pattern, rule in (
            ("project", self.project, _GCP_PROJECT, "project ids are lowercase letters, digits and hyphens"),
            ("location", self.location, _GCP_LOCATION, "locations look like global or europe-west4"),
            ("key ring", self.key_ring, _GCP_ID, "ids are 1-63 letters, digits, '_' and '-'"),
            ("crypto key", self.key, _GCP_ID, "ids are 1-63 letters, digits, '_' and '-'"),
        ):
            if not pattern.fullmatch(value):
                raise InputError(f"Cloud KMS {field_name} {shown(value)} is invalid; {rule}.")
        if self.version is not None and not _GCP_VERSION.fullmatch(self.version):
            raise InputError(f"Cloud KMS key version {shown(self.version)} is invalid; versions are positive integers.")

    @classmethod
    def parse(cls, uri: str) -> GcpKeyUri:
        text = uri.strip() if isinstance(uri, str) else ""
        scheme, sep, rest = text.partition("://")
        if not sep or scheme.lower() != "gcpkms":
            raise InputError(f"key URI {shown(uri)} should start with gcpkms://; use gcpkms://{_GCP_FORM}.")
        rest, _, query = rest.partition("?")
        _query(uri, query, set())
        return cls.from_resource_name(rest.lstrip("/"))

    @classmethod
    def from_resource_name(cls, name: str) -> GcpKeyUri:
        """A Cloud KMS resource name, as the seed's ``GL_KMS_KEY_ID`` holds it."""
        segments = unquote(name.strip() if isinstance(name, str) else "").strip("/").split("/")
        labels = ("projects", "locations", "keyRings", "cryptoKeys", "cryptoKeyVersions")
        if len(segments) not in (8, 10) or tuple(segments[0::2]) != labels[: len(segments) // 2]:
            raise InputError(f"Cloud KMS key {shown(name)} does not have the form {_GCP_FORM}.")
        values = segments[1::2]
        return cls(values[0], values[1], values[2], values[3], values[4] if len(values) == 5 else None)

    @property
    def key_name(self) -> str:
        """The crypto key's resource name, without a version."""
        return f"projects/{self.project}/locations/{self.location}/keyRings/{self.key_ring}/cryptoKeys/{self.key}"

    @property
    def resource_name(self) -> str:
        """The resource name as given: the key version's when there is one."""
        return self.key_name + (f"/cryptoKeyVersions/{self.version}" if self.version else "")

    def uri(self) -> str:
        return f"gcpkms://{self.resource_name}"


def provider_for_key_id(key_id: str) -> str:
    """``aws``, ``azure`` or ``gcp`` from the shape of a seed key id or a key URI."""
    text = key_id.strip() if isinstance(key_id, str) else ""
    if not text:
        raise InputError("KMS key id is empty; set GL_KMS_KEY_ID or SigningConfig(kms_key_id=...).")
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    for provider, provider_scheme in PROVIDER_SCHEMES.items():
        if scheme == provider_scheme:
            return provider
    _refuse_local_key(text)
    if text.startswith("arn:") or _KEY_ID.fullmatch(text) or _ALIAS.fullmatch(text):
        return "aws"
    if scheme == "https" and "/keys/" in text:
        return "azure"
    if text.startswith("projects/") and "/cryptoKeys/" in text:
        return "gcp"
    raise InputError(
        f"cannot tell which KMS holds key {shown(key_id)}; set GL_KMS_PROVIDER to aws, azure or gcp, "
        "or use an AWS key ARN, a Key Vault key URL (https://<vault>/keys/<name>) or a Cloud KMS key name."
    )


def kms_key_uri(provider: str, key_id: str, *, region: str | None = None, vault_url: str | None = None) -> str:
    """The key URI for a seed-style ``(provider, key id, region)``, validated; a URI passes through.

    ``vault_url`` (``AZURE_KEY_VAULT_URL``) lets an Azure key id be a bare ``<name>[/<version>]``.
    """
    name = (provider or "").strip().lower()
    scheme = PROVIDER_SCHEMES.get(name) or (name if name in PROVIDER_SCHEMES.values() else None)
    if scheme is None:
        raise InputError(f"KMS provider {shown(provider)} is unknown; set GL_KMS_PROVIDER to aws, azure or gcp.")
    text = key_id.strip() if isinstance(key_id, str) else ""
    if not text:
        raise InputError("KMS key id is empty; set GL_KMS_KEY_ID or SigningConfig(kms_key_id=...).")
    _refuse_local_key(text)
    given = text.partition("://")[0].lower() if "://" in text else ""
    if given not in PROVIDER_SCHEMES.values():
        given = ""
    elif given != scheme:
        raise InputError(f"key {shown(text)} is a {given}:// URI but the provider is {name}; make them match.")
    if scheme == "awskms":
        ref = AwsKeyUri.parse(text) if given else AwsKeyUri(text)
        if region:
            ref = AwsKeyUri(ref.key, _merged_region(ref, region), ref.endpoint)
        return ref.uri()
    if region:
        raise InputError(f"a region applies to AWS keys only; unset GL_KMS_REGION for {name} key {shown(text)}.")
    if scheme == "azurekms":
        return _azure_key(text, given, vault_url).uri()
    return (GcpKeyUri.parse(text) if given else GcpKeyUri.from_resource_name(text)).uri()


def _azure_key(text: str, given: str, vault_url: str | None) -> AzureKeyUri:
    if given:
        ref = AzureKeyUri.parse(text)
    elif "://" in text:
        ref = AzureKeyUri.from_key_id_url(text)
    elif text.startswith(("arn:", "projects/", "alias/")):
        raise InputError(
            f"key {shown(text)} is not a Key Vault key but the provider is azure; set the key id "
            "(GL_KMS_KEY_ID or SigningConfig.kms_key_id) to a key name with AZURE_KEY_VAULT_URL, or a key URL."
        )
    elif not vault_url:
        raise InputError(
            f"Key Vault key {shown(text)} has no vault; set AZURE_KEY_VAULT_URL to https://<vault host> "
            "or give the key URL https://<vault host>/keys/<name>."
        )
    else:
        return AzureKeyUri.in_vault(vault_url, text)
    if vault_url:
        vault = AzureKeyUri.in_vault(vault_url, ref.name)
        if vault.vault_host.lower().removesuffix(":443") != ref.vault_host.lower().removesuffix(":443"):
            raise InputError(
                f"key {shown(text)} is in vault {ref.vault_host} but AZURE_KEY_VAULT_URL names "
                f"{vault.vault_host}; make them agree or unset AZURE_KEY_VAULT_URL."
            )
    return ref


def _refuse_plain_http(scheme: str, url: object) -> None:
    if scheme.lower() == "http":
        raise InputError(
            f"{shown(url)} uses plain http; Key Vault answers only over https, so use https://<vault host>."
        )


def _refuse_local_key(text: str) -> None:
    if text.lower().startswith("file:") or text.endswith(".pem"):
        raise InputError(
            f"key {shown(text)} is a local key file, not a KMS key; sign with it through "
            "LocalSigner.from_file(path) or open_signer(uri) instead of ExternalKMSSigner."
        )


def _merged_region(ref: AwsKeyUri, region: str) -> str:
    if ref.region is not None and ref.region != region:
        raise InputError(
            f"GL_KMS_REGION {region!r} conflicts with region {ref.region!r} of key {ref.key}; make them agree."
        )
    return region


def _urlsplit(text: str, given: object) -> SplitResult:
    try:
        return urlsplit(text)
    except ValueError:
        raise InputError(f"{shown(given)} is not a valid URL (check brackets and the port).") from None


def _split(uri: str, scheme: str) -> SplitResult:
    text = uri.strip() if isinstance(uri, str) else ""
    parts = _urlsplit(text, uri)
    if parts.scheme.lower() != scheme:
        raise InputError(f"key URI {shown(uri)} should start with {scheme}://.")
    if parts.fragment:
        raise InputError(f"key URI {shown(uri)} has a fragment (#...); remove it.")
    return parts


def _query(uri: str, text: str, allowed: set[str]) -> dict[str, str]:
    pairs = parse_qsl(text, keep_blank_values=True)
    names = [name for name, _ in pairs]
    unknown = sorted(set(names) - allowed)
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "no options"
        raise InputError(f"key URI {shown(uri)} has unknown option {shown(unknown[0])}; it accepts {accepted}.")
    if len(names) != len(set(names)):
        raise InputError(f"key URI {shown(uri)} repeats an option; give each of {', '.join(sorted(allowed))} once.")
    if any(not value for _, value in pairs):
        raise InputError(f"key URI {shown(uri)} has an empty option value; remove it or give it a value.")
    return dict(pairs)
