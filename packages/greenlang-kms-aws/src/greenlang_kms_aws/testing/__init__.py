"""A local AWS KMS API server for tests: moto, corrected where it departs from AWS's documented behaviour.

`FaultProxy` sits in front of it to throttle, fail or stall chosen calls.
"""

from greenlang_kms_aws.testing.faults import FaultProxy, ProxiedCall
from greenlang_kms_aws.testing.server import AwsKmsTestServer

__all__ = ["AwsKmsTestServer", "FaultProxy", "ProxiedCall"]
