"""The boto3 KMS client: default credential chain, botocore's own retries, and a deadline over all attempts."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, NoRegionError

from greenlang.errors import InputError
from greenlang.security.kms.retry import RetryPolicy, current_deadline
from greenlang_kms_aws.errors import translate

__all__ = ["kms_client", "MAX_POOL_CONNECTIONS"]

MAX_POOL_CONNECTIONS = 32
"""Kept-alive connections per client: botocore's default of 10 would make ``sign_many`` with more workers
open and drop a connection per call."""


def kms_client(
    policy: RetryPolicy,
    *,
    region: str | None,
    endpoint_url: str | None,
    session: boto3.session.Session | None = None,
) -> Any:
    """A KMS client that retries throttling, timeouts and 5xx the SDK's way and stops at the policy's deadline.

    botocore's ``standard`` mode does the retrying (jittered exponential backoff,
    capped at 20 s per sleep); ``total_max_attempts`` bounds it. The deadline is
    checked through the client's ``before-send`` event, which fires before every
    attempt, so a retry sequence that has run out of time stops there.
    """
    config = Config(
        retries={"total_max_attempts": policy.max_attempts, "mode": "standard"},
        connect_timeout=policy.connect_timeout,
        read_timeout=policy.read_timeout,
        user_agent_extra="greenlang-kms-aws",
        max_pool_connections=MAX_POOL_CONNECTIONS,
    )
    try:
        owner = session if session is not None else boto3.session.Session()
        client = owner.client("kms", region_name=region, endpoint_url=endpoint_url, config=config)
    except NoRegionError:
        raise InputError(
            "no AWS region is known for this key; add ?region=... to the awskms URI, use a key ARN, "
            "or set AWS_DEFAULT_REGION (GL_KMS_REGION for ExternalKMSSigner)."
        ) from None
    except BotoCoreError as exc:
        raise translate(exc, "(not yet resolved)", region) from None
    except ValueError as exc:
        raise InputError(f"the AWS KMS endpoint or region is invalid ({exc}); fix ?endpoint= or ?region=.") from None
    client.meta.events.register("before-send.kms", _check_deadline)
    return client


def _check_deadline(**_: Any) -> None:
    deadline = current_deadline().get()
    if deadline is not None:
        deadline.check("the AWS KMS call")
