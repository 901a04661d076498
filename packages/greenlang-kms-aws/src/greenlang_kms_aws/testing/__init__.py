"""A local AWS KMS API server for tests: moto, corrected where it departs from AWS's documented behaviour."""

from greenlang_kms_aws.testing.server import AwsKmsTestServer

__all__ = ["AwsKmsTestServer"]
