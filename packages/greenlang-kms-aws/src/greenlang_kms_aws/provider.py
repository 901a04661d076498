"""``AwsKmsProvider``: the ``awskms`` key scheme, signing digests with AWS KMS asymmetric keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from cryptography.hazmat.primitives.serialization import load_der_public_key

from greenlang.errors import InputError, KeyUnusableError, KMSError, shown
from greenlang.security.algorithms import Algorithm, Family, PublicKey, key_type
from greenlang.security.kms.provider import KMSProvider, RemoteKey, sdk_call
from greenlang.security.kms.uris import AwsKeyUri
from greenlang_kms_aws.client import kms_client
from greenlang_kms_aws.errors import translate
from greenlang_kms_aws.specs import SIGNING_KEY_SPECS

__all__ = ["AwsKmsProvider"]

T = TypeVar("T")


class AwsKmsProvider(KMSProvider):
    """Signs with an AWS KMS key named by ``awskms:///<key id | alias/name | key ARN | alias ARN>``.

    The region comes from ``region=`` (argument or URI query), else the ARN, else
    boto3's default chain; ``endpoint_url`` likewise. An alias is resolved to its
    key ARN once per cache period, and every signature is made with, and records,
    that exact ARN, so a re-pointed alias never mixes keys within one signature.
    """

    provider = "aws"
    scheme = "awskms"

    def __init__(
        self,
        uri: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: boto3.session.Session | None = None,
        client: Any = None,
        **options: Any,
    ) -> None:
        ref = AwsKeyUri.parse(uri)
        if region and ref.region and region != ref.region:
            raise InputError(
                f"region {region!r} conflicts with {ref.region!r} in key {uri}; drop one of them or make them agree."
            )
        if endpoint_url is not None:
            AwsKeyUri(ref.key, None, endpoint_url)  # the same checks as ?endpoint=, credentials refused
        if endpoint_url and ref.endpoint and endpoint_url.rstrip("/") != ref.endpoint.rstrip("/"):
            raise InputError(f"endpoint_url {shown(endpoint_url)} conflicts with ?endpoint= in the key URI; drop one.")
        super().__init__(ref.uri(), **options)
        self.key = ref
        self.region = region or ref.region
        self.endpoint_url = endpoint_url or ref.endpoint
        self.client = client or kms_client(
            self.retry, region=self.region, endpoint_url=self.endpoint_url, session=session
        )
        if self.region is None:
            self.region = str(self.client.meta.region_name)

    def _aws(self, key: str, call: Callable[[], T]) -> T:
        return sdk_call(lambda exc, name: translate(exc, name, self.region), key, call)

    def _fetch_key(self, ref: str) -> RemoteKey:
        asked = AwsKeyUri.parse(ref)
        key = asked.key
        metadata = self._aws(key, lambda: self.client.describe_key(KeyId=key))["KeyMetadata"]
        arn = str(metadata["Arn"])
        _check_answer_is_for(asked if asked.region else AwsKeyUri(key, self.region), arn)
        usage = metadata.get("KeyUsage")
        if usage != "SIGN_VERIFY":
            raise KeyUnusableError(f"key {key} has KeyUsage {usage}, not SIGN_VERIFY; use a signing key.")
        spec = str(metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec") or "")
        if spec not in SIGNING_KEY_SPECS:
            raise KeyUnusableError(
                f"key {key} has key spec {spec or 'unknown'}; greenlang-kms-aws signs with "
                f"{', '.join(SIGNING_KEY_SPECS)}."
            )
        self.check_algorithm_fits(SIGNING_KEY_SPECS[spec])  # before fetching the public key
        response = self._aws(key, lambda: self.client.get_public_key(KeyId=arn))
        public_key = _public_key(response["PublicKey"], key)
        if key_type(public_key) != SIGNING_KEY_SPECS[spec]:
            raise KMSError(f"key {key} reports spec {spec} but its public key is {key_type(public_key)}; not signing.")
        offered = response.get("SigningAlgorithms") or metadata.get("SigningAlgorithms") or []
        return RemoteKey(
            public_key=public_key,
            key_ref=AwsKeyUri(arn, None, None).uri(),
            offered=tuple(str(name) for name in offered),
            spec=spec,
            enabled=metadata.get("KeyState") == "Enabled",
            rotation_enabled=False,  # AWS rotates only symmetric and HMAC keys automatically
        )

    def _sign_digest(self, key: RemoteKey, algorithm: Algorithm, message: bytes) -> bytes:
        if algorithm.family is Family.ED25519:
            raise KeyUnusableError(f"key {key.key_ref} is Ed25519; greenlang-kms-aws signs digests only.")
        arn = AwsKeyUri.parse(key.key_ref).key
        aws_algorithm = algorithm.provider_id(self.provider)
        response = self._aws(
            arn,
            lambda: self.client.sign(KeyId=arn, Message=message, MessageType="DIGEST", SigningAlgorithm=aws_algorithm),
        )
        if response.get("KeyId") != arn or response.get("SigningAlgorithm") != aws_algorithm:
            raise KMSError(
                f"AWS KMS answered for key {response.get('KeyId')} with {response.get('SigningAlgorithm')} "
                f"when asked for {arn} with {aws_algorithm}; the signature was discarded."
            )
        return bytes(response["Signature"])


def _check_answer_is_for(asked: AwsKeyUri, arn: str) -> None:
    """DescribeKey must describe the key that was asked for: same key id, account and region where named."""
    answer = AwsKeyUri(arn)
    if answer.kind != "key-arn":
        raise KMSError(f"AWS KMS described key {asked.key} with {arn!r}, which is not a key ARN; not signing.")
    where = (answer.partition, answer.account, answer.region)
    same = {
        "key-arn": asked.key == arn,
        "key-id": arn.endswith(f":key/{asked.key}"),
        "alias-arn": (asked.partition, asked.account, asked.region) == where,
        "alias": True,
    }[asked.kind]
    if asked.kind == "key-id" and asked.region is not None:
        same = same and answer.region == asked.region
    if not same:
        raise KMSError(f"AWS KMS answered for key {arn} when asked for {asked.key}; not signing with another key.")


def _public_key(der: bytes, key: str) -> PublicKey:
    try:
        loaded = load_der_public_key(der)
    except ValueError:
        raise KMSError(f"AWS KMS returned a public key for {key} that is not valid DER.") from None
    key_type(loaded)  # refuses unsupported types with a clear message
    return loaded  # type: ignore[return-value]
