"""The seed's KMS API: ``ExternalKMSSigner(SigningConfig)``, ``KMSConfig`` and ``create_kms_provider``.

Code written against the seed keeps working: the provider comes from
``GL_KMS_PROVIDER`` or, when that is unset, from the shape of the key id
(``arn:aws:kms:...``, ``https://<vault>/keys/...``, ``projects/.../cryptoKeys/...``),
and the key id and region from ``GL_KMS_KEY_ID`` and ``GL_KMS_REGION``. An Azure
key id may be a bare key name in the vault that ``AZURE_KEY_VAULT_URL`` names. Underneath,
each is a key URI opened through the plugin registered for its scheme.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from greenlang.errors import InputError, KMSError, KMSUnavailableError
from greenlang.security.algorithms import Algorithm, PublicKey
from greenlang.security.kms.provider import DEFAULT_BATCH_WORKERS, BatchItem, KeyInfo, KMSProvider
from greenlang.security.kms.uris import kms_key_uri, provider_for_key_id
from greenlang.security.signing import Signer, SigningConfig, SignResult

__all__ = ["KMSEnvironment", "AzureEnvironment", "KMSConfig", "create_kms_provider", "ExternalKMSSigner"]


class KMSEnvironment(BaseSettings):
    """``GL_KMS_PROVIDER``, ``GL_KMS_KEY_ID`` and ``GL_KMS_REGION``, as the seed reads them, and ``GL_KMS_ENDPOINT``.

    ``GL_KMS_ENDPOINT`` points AWS and Google Cloud keys at another endpoint (a VPC
    endpoint, or a local test server: ``http://127.0.0.1:<port>`` for Cloud KMS).
    """

    model_config = SettingsConfigDict(env_prefix="GL_KMS_", extra="ignore")

    provider: str = ""
    key_id: str = ""
    region: str = ""
    endpoint: str = ""


class AzureEnvironment(BaseSettings):
    """``AZURE_KEY_VAULT_URL``: the vault that a bare Azure key name (``GL_KMS_KEY_ID=<name>``) lives in."""

    model_config = SettingsConfigDict(env_prefix="AZURE_", extra="ignore")

    key_vault_url: str = ""


class KMSConfig(BaseModel):
    """One KMS key and how to reach it; ``provider`` may be empty to infer it from ``key_id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str
    provider: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    vault_url: str | None = None
    """The Key Vault URL for a bare Azure key name; ``AZURE_KEY_VAULT_URL`` for ``ExternalKMSSigner``."""
    cache_ttl_seconds: int = Field(default=3600, ge=0)
    max_retries: int = Field(default=3, ge=0)

    def key_uri(self) -> str:
        provider = self.provider.strip().lower() or provider_for_key_id(self.key_id)
        return kms_key_uri(provider, self.key_id, region=self.region or None, vault_url=self.vault_url or None)


_ENDPOINT_OPTIONS = {"awskms": "endpoint_url", "gcpkms": "api_endpoint"}


def create_kms_provider(config: KMSConfig, **options: Any) -> KMSProvider:
    """Open the KMS key ``config`` names through its plugin; ``options`` go to the provider."""
    from greenlang.security.keyref import open_signer

    uri = config.key_uri()
    if config.endpoint_url:
        option = _ENDPOINT_OPTIONS.get(uri.partition("://")[0])
        if option is None:
            raise InputError(
                "an endpoint applies to AWS and Google Cloud keys; an Azure key's vault host is part of its key id, "
                "so unset GL_KMS_ENDPOINT (KMSConfig.endpoint_url)."
            )
        options.setdefault(option, config.endpoint_url)
    options.setdefault("cache_ttl_seconds", config.cache_ttl_seconds)
    if "retry" not in options:
        options.setdefault("max_retries", config.max_retries)
    signer = open_signer(uri, **options)
    if not isinstance(signer, KMSProvider):
        raise InputError(f"key {config.key_id} is not a KMS key; open local keys with LocalSigner.from_file.")
    return signer


class ExternalKMSSigner(Signer):
    """A signer for the KMS key in ``config.kms_key_id`` or ``GL_KMS_KEY_ID``; see the module docstring.

    ``fallback`` (a ``LocalSigner``) signs only when the service is unavailable,
    and such results name the fallback key. Other ``options`` go to the provider.
    """

    def __init__(self, config: SigningConfig | None = None, *, fallback: Signer | None = None, **options: Any) -> None:
        settings = config or SigningConfig()
        env = KMSEnvironment()
        key_id = (settings.kms_key_id or "").strip() or env.key_id.strip()
        if not key_id:
            raise InputError(
                "no KMS key is configured; set SigningConfig(kms_key_id=...) or GL_KMS_KEY_ID to a key ARN, "
                "Key Vault key URL, Cloud KMS key name or key URI."
            )
        kms_config = KMSConfig(
            key_id=key_id,
            provider=env.provider,
            region=env.region or None,
            endpoint_url=env.endpoint.strip() or None,
            vault_url=AzureEnvironment().key_vault_url.strip() or None,
            cache_ttl_seconds=settings.cache_ttl_seconds,
            max_retries=settings.max_retries,
        )
        options.setdefault("algorithm", settings.algorithm)
        self.kms_provider = create_kms_provider(kms_config, fallback=fallback, **options)
        self.provider = self.kms_provider.provider
        self.configured_key_id = key_id
        super().__init__(key_ref=self.kms_provider.uri, algorithm=options["algorithm"])

    @property
    def algorithm(self) -> Algorithm:
        return self.kms_provider.algorithm

    @property
    def key_id(self) -> str:
        return self.kms_provider.key_id

    @property
    def key_ref(self) -> str:
        return self.kms_provider.key_ref

    def public_key(self) -> PublicKey:
        return self.kms_provider.public_key()

    def get_public_key(self) -> bytes:
        return self.kms_provider.get_public_key()

    def _sign(self, payload: bytes) -> bytes:
        return self.kms_provider.sign(payload).signature

    def sign(self, payload: bytes) -> SignResult:
        return self.kms_provider.sign(payload)

    async def sign_async(self, payload: bytes) -> SignResult:
        return await self.kms_provider.sign_async(payload)

    def sign_many(self, payloads: Iterable[bytes], *, max_workers: int = DEFAULT_BATCH_WORKERS) -> list[BatchItem]:
        return self.kms_provider.sign_many(payloads, max_workers=max_workers)

    def verify(self, payload: bytes, signature: bytes, *, key_ref: str | None = None) -> bool:
        """Local verification against the KMS key's public key (see ``KMSProvider.verify``)."""
        return self.kms_provider.verify(payload, signature, key_ref=key_ref)

    def key_info(self) -> KeyInfo:
        return self.kms_provider.key_info()

    def get_signer_info(self) -> dict[str, Any]:
        """The seed's summary: type, provider, key_id, algorithm, enabled, rotation_enabled, cache_stats.

        A key the service refuses (disabled, deleted, access denied) is reported
        with ``enabled: False`` and the reason in ``error``; while the service is
        unreachable, ``enabled`` is ``None`` (unknown). A health check can show
        either instead of failing.
        """
        summary: dict[str, Any] = {"type": "kms", "provider": self.provider, "key_id": self.configured_key_id}
        try:
            info = self.kms_provider.key_info()
        except KMSError as exc:
            enabled = None if isinstance(exc, KMSUnavailableError) else False
            summary.update(key_ref=None, public_key_id=None, algorithm=None, enabled=enabled, rotation_enabled=None)
            summary["error"] = str(exc)
        else:
            summary.update(
                key_ref=info.resolved_ref,
                public_key_id=info.key_id,
                algorithm=info.algorithm,
                enabled=info.enabled,
                rotation_enabled=info.rotation_enabled,
            )
        summary["cache_stats"] = self.kms_provider.cache_stats.as_dict()
        return summary

    def __repr__(self) -> str:
        return f"ExternalKMSSigner(provider={self.provider!r}, uri={self.kms_provider.uri!r})"
