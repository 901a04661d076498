"""Azure Key Vault and Managed HSM signing for greenlang-core.

Key URIs: ``azurekms://<vault host>/keys/<name>[/<version>]``.

Install with ``pip install greenlang-core[azure]``; core finds the scheme through
the ``greenlang`` entry point. ``greenlang_kms_azure.testing`` holds a local Key
Vault that speaks the service's REST API over HTTPS, for tests.
"""

from greenlang_kms_azure.provider import AzureKeyVaultProvider

__all__ = ["AzureKeyVaultProvider"]
