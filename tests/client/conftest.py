"""Fixtures of the client tests."""

from tests.s3 import s3, s3_endpoint  # noqa: F401 (fixtures: a real S3 API server)
