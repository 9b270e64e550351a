"""A real S3 API server for the tests (moto in server mode, on 127.0.0.1) and a bucket on it
that the exports storage points at. Import the fixtures into a test module to use them."""

import boto3
import pytest
from moto.server import ThreadedMotoServer

from config.settings.base import export_storage
from tests.workers import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint, settings, monkeypatch, tmp_path):
    """A bucket on the moto server, and the exports storage pointed at it as
    EXPORT_STORAGE_URL=s3://<bucket>/exports-prefix would."""
    settings.MEDIA_ROOT = tmp_path / "media"  # the build's temporary files
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = f"rubric-{free_port()}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)

    def use(url):
        environ = {"AWS_S3_ENDPOINT_URL": s3_endpoint, "EXPORT_URL_EXPIRES_SECONDS": "120"}
        settings.STORAGES = {**settings.STORAGES, "exports": export_storage(url, environ)}

    use(f"s3://{bucket}/team-a/exports")
    return client, bucket, use
