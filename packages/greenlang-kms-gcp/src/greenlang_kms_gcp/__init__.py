"""Google Cloud KMS signing for greenlang-core.

Key URIs: ``gcpkms://projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>[/cryptoKeyVersions/<n>]``.
Install with ``pip install greenlang-core[gcp]``; core finds the scheme through the
``greenlang`` entry point. ``greenlang_kms_gcp.testing`` holds a local Cloud KMS
that serves the real gRPC service, for tests.
"""

from greenlang_kms_gcp.provider import GcpKmsProvider

__all__ = ["GcpKmsProvider"]
