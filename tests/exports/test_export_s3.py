"""Exports to S3-compatible object storage, against a real S3 API server started here (moto in
server mode on 127.0.0.1), through boto3 and django-storages."""

import hashlib
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from config.settings.base import export_storage
from core.models import JobStatus
from exports import services


def keys(client, bucket):
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(obj["Key"] for obj in listed)


def test_an_export_is_written_to_the_bucket_with_its_manifest_beside_it(
    s3, project, lead, approved, make_api, django_capture_on_commit_callbacks
):
    client, bucket, _ = s3
    for n in range(5):
        approved(project, external_id=f"s3-{n}")
    with django_capture_on_commit_callbacks(execute=True):
        response = make_api(lead).post(
            f"/api/v1/projects/{project.pk}/exports/", {"format": "trl-preference"}, format="json"
        )
    job = make_api(lead).get(f"/api/v1/exports/{response.json()['id']}/").json()
    assert job["status"] == "done", job
    stored = keys(client, bucket)
    assert len(stored) == 2
    data_key = next(k for k in stored if not k.endswith(".manifest.json"))
    assert data_key.startswith(f"team-a/exports/exports/{project.pk}/{job['id']}/")
    assert f"{data_key}.manifest.json" in stored
    body = client.get_object(Bucket=bucket, Key=data_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == job["sha256"]
    assert body.count(b"\n") == 5


def test_a_download_redirects_to_a_presigned_url_that_expires(
    s3, project, lead, approved, make_api, s3_endpoint, django_capture_on_commit_callbacks
):
    approved(project, external_id="s3-dl")
    api = make_api(lead)
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(
            f"/api/v1/projects/{project.pk}/exports/", {"format": "trl-preference"}, format="json"
        ).json()
    job = api.get(f"/api/v1/exports/{started['id']}/").json()
    response = api.get(f"/api/v1/exports/{job['id']}/download/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(s3_endpoint + "/")
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["120"]
    assert "attachment" in query["response-content-disposition"][0]
    with urllib.request.urlopen(location, timeout=10) as fetched:  # moto, on 127.0.0.1
        content = fetched.read()
    assert hashlib.sha256(content).hexdigest() == job["sha256"]
    manifest = api.get(f"/api/v1/exports/{job['id']}/download/?part=manifest")
    assert manifest.status_code == 302 and ".manifest.json" in manifest["Location"]


def test_an_export_to_a_bucket_that_does_not_exist_fails_with_the_storages_message(
    s3, project, lead, approved, django_capture_on_commit_callbacks
):
    _, _, use = s3
    use("s3://no-such-bucket-here/exports")
    approved(project, external_id="s3-missing")
    with django_capture_on_commit_callbacks(execute=True):
        job = services.export_request(project=project, actor=lead, format="trl-preference")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "NoSuchBucket" in job.error or "does not exist" in job.error
    assert job.file.name == "" and job.sha256 == "" and job.finished_at is not None


def test_export_storage_url_must_name_an_s3_bucket():
    assert export_storage("", {})["BACKEND"].endswith("FileSystemStorage")
    options = export_storage("s3://bucket/a/b/", {"AWS_S3_ENDPOINT_URL": "http://x:9000"})
    assert options["OPTIONS"]["bucket_name"] == "bucket"
    assert options["OPTIONS"]["location"] == "a/b"
    assert options["OPTIONS"]["endpoint_url"] == "http://x:9000"
    assert options["OPTIONS"]["querystring_expire"] == 300
    for bad in ("http://bucket/x", "s3:///x", "bucket/x"):
        with pytest.raises(ValueError, match="s3://bucket/prefix"):
            export_storage(bad, {})
