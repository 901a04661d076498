"""AWS KMS failures as greenlang errors: retrying can help (unavailable) or it cannot (the key is unusable).

botocore has already retried whatever it deems transient by the time an error
reaches here, so an unavailability error means the attempts ran out.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSLError,
)

from greenlang.errors import GreenlangError, InputError, KeyUnusableError, KMSError, KMSUnavailableError

__all__ = ["translate"]

_UNAVAILABLE = {
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "KMSInternalException",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "DependencyTimeoutException",
    "RequestTimeout",
    "RequestTimeoutException",
    # botocore's standard mode retries these as throttling or transient, so they mean "unavailable" here too
    "LimitExceededException",
    "TooManyRequests",
    "BandwidthLimitExceeded",
    "ProvisionedThroughputExceededException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "PriorRequestNotComplete",
    "TransactionInProgressException",
    "EC2ThrottledException",
    "SlowDown",
}
_ACCESS = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
}
_INPUT = {"ValidationException", "InvalidArnException", "InvalidParameterValue", "SerializationException"}


def translate(exc: Exception, key: str, region: str | None) -> GreenlangError:
    """One sentence naming the key, what went wrong and what to do; never a credential."""
    where = f"in region {region}" if region else "in the client's region"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        attempts = int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0) + 1
        message = str(error.get("Message", "")).strip().rstrip(".")
        return _client_error(code, status, attempts, message, key, where)
    if isinstance(exc, PartialCredentialsError):
        return KeyUnusableError(
            "the AWS credentials are incomplete (one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is missing); "
            "set both, or use a profile or an IAM role."
        )
    if isinstance(exc, NoCredentialsError):
        return KeyUnusableError(
            "no usable AWS credentials were found; configure a profile (AWS_PROFILE), "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an IAM role."
        )
    if isinstance(exc, ProfileNotFound):
        return InputError(
            f"AWS profile {exc.kwargs.get('profile', '')!r} is not in the AWS config files; "
            "fix AWS_PROFILE or add the profile."
        )
    if isinstance(exc, SSLError):
        return KeyUnusableError(
            f"the TLS connection to AWS KMS for key {key} {where} failed (an untrusted or wrong certificate); "
            "fix the endpoint, or point AWS_CA_BUNDLE at the CA that issued its certificate."
        )
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | EndpointConnectionError | ConnectionClosedError):
        return KMSUnavailableError(
            f"AWS KMS did not answer for key {key} {where} ({type(exc).__name__}) through every retry; "
            "check the network and endpoint, or raise the timeouts."
        )
    if isinstance(exc, BotoCoreError):
        return KMSError(f"the AWS SDK failed for key {key} {where}: {type(exc).__name__}.")
    return KMSError(f"AWS KMS failed for key {key} {where}: {type(exc).__name__}.")


def _client_error(code: str, status: int, attempts: int, message: str, key: str, where: str) -> GreenlangError:
    if code in _UNAVAILABLE or status == 429 or status >= 500:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        return KMSUnavailableError(
            f"AWS KMS stayed unavailable for key {key} {where} ({code or status}) after {tries}; "
            "retry later or raise max_retries."
        )
    if code == "NotFoundException":
        return KeyUnusableError(f"key {key} was not found {where}; check the key id, alias, account and region.")
    if code == "DisabledException":
        return KeyUnusableError(f"key {key} is disabled; enable it (kms:EnableKey) or use another key.")
    if code == "KMSInvalidStateException":
        return KeyUnusableError(
            f"key {key} cannot sign in its current state ({message or 'e.g. pending deletion'}); "
            "cancel its deletion or use another key."
        )
    if code in _ACCESS:
        return KeyUnusableError(
            f"AWS denied access to key {key} {where} ({code}); check the credentials and that the key policy "
            "allows kms:DescribeKey, kms:GetPublicKey and kms:Sign."
        )
    if code == "InvalidKeyUsageException":
        return KeyUnusableError(f"key {key} is not a signing key; use a key created with KeyUsage=SIGN_VERIFY.")
    if code in _INPUT:
        return InputError(f"AWS KMS refused the request for key {key} ({code}: {message}); fix the key reference.")
    return KMSError(f"AWS KMS failed for key {key} {where} ({code or status}: {message}).")
