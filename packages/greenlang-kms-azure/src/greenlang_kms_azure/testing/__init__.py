"""A local, wire-faithful Azure Key Vault for tests: real SDK clients talk to it over verified HTTPS.

`LocalKeyVault` serves the keys REST API and a local Entra ID token endpoint on 127.0.0.1; `TunnelProxy`
routes real host names to it through ``HTTPS_PROXY``; `clear_challenge_cache` resets the SDK's per-host
challenge cache between tests.
"""

from greenlang_kms_azure.testing.challenge import clear_challenge_cache
from greenlang_kms_azure.testing.credentials import AsyncRecordingCredential, RecordingCredential, TokenRequest
from greenlang_kms_azure.testing.proxy import TunnelProxy
from greenlang_kms_azure.testing.vault import DEFAULT_TENANT, LocalKeyVault, LoggedRequest

__all__ = [
    "DEFAULT_TENANT",
    "AsyncRecordingCredential",
    "LocalKeyVault",
    "LoggedRequest",
    "RecordingCredential",
    "TokenRequest",
    "TunnelProxy",
    "clear_challenge_cache",
]
