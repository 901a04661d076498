"""AWS KMS signing for greenlang-core: key URIs ``awskms:///<key id | alias/name | key ARN | alias ARN>``.

Install with ``pip install greenlang-core[aws]``; core finds the scheme through
the ``greenlang`` entry point. ``greenlang_kms_aws.testing`` holds a local AWS
KMS API server, corrected to behave as AWS documents, for tests.
"""

from greenlang_kms_aws.provider import AwsKmsProvider

__all__ = ["AwsKmsProvider"]
