"""A local, wire-faithful Google Cloud KMS for tests: the real client talks to it over gRPC and REST.

`LocalCloudKms` holds crypto keys of every signing algorithm the provider supports, answers as Google
documents (CRC32C integrity fields, version states, error codes), logs every call, and injects `Faults`.
"""

from greenlang_kms_gcp.testing.algorithms import ALGORITHMS, PrivateKey
from greenlang_kms_gcp.testing.dispatch import Call
from greenlang_kms_gcp.testing.faults import Faults
from greenlang_kms_gcp.testing.server import LocalCloudKms

__all__ = ["ALGORITHMS", "Call", "Faults", "LocalCloudKms", "PrivateKey"]
