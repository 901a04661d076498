"""Cloud KMS failures as greenlang errors: retrying can help (unavailable) or it cannot (the key is unusable).

google-api-core's ``Retry`` has already retried the transient codes by the time an
error reaches here, so an unavailability error means the attempts or the deadline
ran out. The service's own message is kept (cut short): it names the state or
permission at fault.
"""

from __future__ import annotations

import requests
from google.api_core import exceptions as api
from google.auth import exceptions as auth

from greenlang.errors import GreenlangError, InputError, KeyUnusableError, KMSError, KMSUnavailableError, shown

__all__ = ["RETRYABLE", "translate"]

RETRYABLE: tuple[type[Exception], ...] = (
    api.DeadlineExceeded,
    api.ServiceUnavailable,
    api.ResourceExhausted,
    api.TooManyRequests,  # REST's 429
    api.GatewayTimeout,  # REST's 504
    requests.exceptions.ConnectionError,  # REST, before any answer
    requests.exceptions.Timeout,
)
"""Retried with backoff; everything else (InvalidArgument, PermissionDenied, NotFound, FailedPrecondition) is not."""


def translate(exc: Exception, key: str) -> GreenlangError:
    """One sentence naming the key, what went wrong and what to do; never a credential."""
    if isinstance(exc, auth.DefaultCredentialsError):
        return KeyUnusableError(
            "no Google credentials were found; set GOOGLE_APPLICATION_CREDENTIALS to a service account file, "
            "run 'gcloud auth application-default login', or run where a service account is attached."
        )
    if isinstance(exc, auth.GoogleAuthError):
        return KeyUnusableError(f"the Google credentials could not be used for key {key} ({type(exc).__name__}).")
    if isinstance(exc, api.RetryError):
        return KMSUnavailableError(
            f"Cloud KMS stayed unavailable for key {key} until the retry deadline; retry later or raise the deadline."
        )
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return KMSUnavailableError(
            f"Cloud KMS did not answer for key {key} ({type(exc).__name__}) through every retry; "
            "check the network and endpoint, or raise the timeouts."
        )
    if not isinstance(exc, api.GoogleAPICallError):
        return KMSError(f"Cloud KMS failed for key {key}: {type(exc).__name__}.")
    code, message = _status(exc)
    said = shown(message, 160)
    if isinstance(exc, RETRYABLE):
        return KMSUnavailableError(
            f"Cloud KMS stayed unavailable for key {key} ({code}) through every retry; "
            "retry later or raise max_retries."
        )
    if code == "UNIMPLEMENTED":
        return KeyUnusableError(f"the endpoint for key {key} does not serve Cloud KMS ({code}); check api_endpoint.")
    if code == "DATA_LOSS":
        return KMSError(f"Cloud KMS reported data loss for key {key} ({code}: {said}); nothing was signed.")
    if code in _TRANSIENT_ONCE or isinstance(exc, api.ServerError):
        return KMSUnavailableError(
            f"Cloud KMS failed for key {key} ({code}: {said}) and this code is not retried; retry later."
        )
    if isinstance(exc, api.NotFound):
        return KeyUnusableError(f"key {key} was not found ({code}); check the project, location, key ring and key.")
    if isinstance(exc, api.PermissionDenied | api.Unauthenticated | api.Forbidden | api.Unauthorized):
        return KeyUnusableError(
            f"Google denied access to key {key} ({code}: {said}); grant roles/cloudkms.signer and "
            "roles/cloudkms.publicKeyViewer (or cloudkms.cryptoKeyVersions.useToSign and viewPublicKey)."
        )
    if isinstance(exc, api.FailedPrecondition) or code == "FAILED_PRECONDITION":
        return KeyUnusableError(
            f"key {key} cannot sign in its current state ({code}: {said}); enable it or use another version."
        )
    if isinstance(exc, api.InvalidArgument | api.BadRequest):
        return InputError(f"Cloud KMS refused the request for key {key} ({code}: {said}).")
    return KMSError(f"Cloud KMS failed for key {key} ({code}: {said}).")


_TRANSIENT_ONCE = {"INTERNAL", "UNKNOWN", "ABORTED"}
"""Server-side failures the issue's policy does not retry: reported as unavailable, after one attempt."""


def _status(exc: api.GoogleAPICallError) -> tuple[str, str]:
    """The gRPC status name and the service's message; over REST both come from Google's error body."""
    message = str(exc.message or "")
    if exc.grpc_status_code is not None:
        return str(exc.grpc_status_code.name), message
    response = getattr(exc, "response", None)
    try:
        error = response.json()["error"]  # type: ignore[union-attr]
        return str(error.get("status") or exc.code), str(error.get("message") or message)
    except Exception:  # no body, or not Google's error shape
        return str(exc.code), message
