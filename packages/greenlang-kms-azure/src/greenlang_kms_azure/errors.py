"""Key Vault failures as greenlang errors: retrying can help (unavailable) or it cannot (the key is unusable).

azure-core has already retried 408, 429 and 5xx (honouring ``Retry-After``) and
connection failures by the time an error reaches here, so an unavailability
error means the attempts or the deadline ran out.
"""

from __future__ import annotations

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from greenlang.errors import GreenlangError, InputError, KeyUnusableError, KMSError, KMSUnavailableError, shown

__all__ = ["translate"]


def translate(exc: Exception, key: str) -> GreenlangError:
    """One sentence naming the key, what went wrong and what to do; never a token or a secret."""
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "status_code", None) is None:
        return KeyUnusableError(
            f"no Azure credential could get a token for key {key} ({type(exc).__name__}); set AZURE_TENANT_ID, "
            "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH), use a managed identity "
            "or 'az login', or pass credential=."
        )
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        return _http_error(exc, key)
    if isinstance(exc, ValueError) and "does not match the requested domain" in str(exc):
        return KeyUnusableError(
            f"the server for key {key} asked for a token for another domain than its own, so none was sent; "
            "check the vault host, or pass verify_challenge_resource=False for a vault on a private address."
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return KMSUnavailableError(
            f"Azure Key Vault did not answer for key {key} ({type(exc).__name__}) through every retry; "
            "check the network and the vault host, or raise the timeouts."
        )
    return KMSError(
        f"Azure Key Vault's answer for key {key} could not be used ({type(exc).__name__}); nothing was signed. "
        "Check that the vault host is a Key Vault or Managed HSM."
    )


def _codes(exc: HttpResponseError) -> tuple[str, str]:
    error = exc.error
    code = str(getattr(error, "code", "") or "")
    inner = getattr(error, "innererror", None) or {}
    inner_code = str(inner.get("code", "") if isinstance(inner, dict) else getattr(inner, "code", "") or "")
    return code, inner_code


def _http_error(exc: HttpResponseError, key: str) -> GreenlangError:
    status = int(exc.status_code or 0)
    code, inner = _codes(exc)
    said = str(getattr(exc.error, "message", "") or "").strip().rstrip(".")
    what = f"{status}" + (f" {code}" if code else "") + (f"/{inner}" if inner else "")
    if status in (408, 429) or status >= 500:
        return KMSUnavailableError(
            f"Azure Key Vault stayed unavailable for key {key} ({what}) through every retry; "
            "retry later or raise max_retries."
        )
    if status == 404:
        return KeyUnusableError(
            f"key {key} was not found in its vault ({what}); check the vault host, name and version."
        )
    if inner == "KeyDisabled" or "disabled" in said.lower():
        return KeyUnusableError(f"key {key} is disabled; enable it in the vault or use another key version.")
    if status == 401:
        return KeyUnusableError(
            f"Azure Key Vault did not accept the credential's token for key {key} ({what}); check the tenant "
            "(AZURE_TENANT_ID) and that the vault trusts it."
        )
    if status == 403:
        return KeyUnusableError(
            f"Azure Key Vault denied access to key {key} ({what}: {shown(said, 120)}); grant the keys/get and "
            "keys/sign permissions (or the Key Vault Crypto User role) to this identity."
        )
    if status == 400:
        return InputError(f"Azure Key Vault refused the request for key {key} ({what}: {shown(said, 120)}).")
    return KMSError(f"Azure Key Vault failed for key {key} ({what}: {shown(said, 120)}).")
