"""AWS KMS signing provider for greenlang-core; for now only its test server (`greenlang_kms_aws.testing`)."""
