"""The export REST API: request, status, list, download; leads only; a real worker end to end."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from annotation.models import Role
from core.models import JobStatus
from exports import services
from exports.models import ExportJob
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.usefixtures("export_media")


def pref(prompt: str, a: str = "A", b: str = "B") -> dict:
    return {"prompt": prompt, "responses": [{"text": a}, {"text": b}]}


def post_export(client, project, django_capture_on_commit_callbacks, **body):
    body.setdefault("format", "trl-preference")
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(f"/api/v1/projects/{project.pk}/exports/", body, format="json")


def download(client, job_id: int, part: str | None = None):
    query = f"?part={part}" if part else ""
    response = client.get(f"/api/v1/exports/{job_id}/download/{query}")
    return response, b"".join(response.streaming_content) if response.status_code == 200 else b""


def test_lead_requests_an_export_and_gets_202_with_id_and_status(
    project, lead, approved, make_api, django_capture_on_commit_callbacks
):
    approved(project, data=pref("Q"))

    response = post_export(make_api(lead), project, django_capture_on_commit_callbacks)

    assert response.status_code == 202
    body = response.json()
    assert body["id"] == ExportJob.objects.get().pk
    assert body["status"] in {"queued", "running", "done"}


def test_export_detail_reports_status_progress_records_sha256_and_manifest(
    project, lead, approved, make_api, django_capture_on_commit_callbacks
):
    approved(project, data=pref("Q1"))
    approved(project, data=pref("Q2"))
    client = make_api(lead)
    export_id = post_export(client, project, django_capture_on_commit_callbacks).json()["id"]

    body = client.get(f"/api/v1/exports/{export_id}/").json()

    job = ExportJob.objects.get(pk=export_id)
    assert body["status"] == "done"
    assert body["progress"] == 1.0
    assert body["records"] == 2
    assert body["sha256"] == job.sha256
    assert body["manifest"]["counts_by_kind"] == {"preference": 2}
    assert body["download_url"] == f"/api/v1/exports/{export_id}/download/"
    assert body["manifest_url"] == f"/api/v1/exports/{export_id}/download/?part=manifest"


def test_download_streams_the_file_with_its_content_type_and_name(
    project, lead, approved, make_api, django_capture_on_commit_callbacks
):
    approved(project, data=pref("Q"))
    client = make_api(lead)
    export_id = post_export(client, project, django_capture_on_commit_callbacks).json()["id"]

    response, content = download(client, export_id)

    job = ExportJob.objects.get(pk=export_id)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jsonl"
    assert response["Content-Disposition"].startswith("attachment;")
    assert job.file.name.rsplit("/", 1)[-1] in response["Content-Disposition"]
    assert hashlib.sha256(content).hexdigest() == job.sha256


def test_download_part_manifest_gives_the_manifest_json(
    project, lead, approved, make_api, django_capture_on_commit_callbacks
):
    approved(project, data=pref("Q"))
    client = make_api(lead)
    export_id = post_export(client, project, django_capture_on_commit_callbacks).json()["id"]

    response, content = download(client, export_id, "manifest")

    assert response["Content-Type"] == "application/json"
    assert json.loads(content) == ExportJob.objects.get(pk=export_id).manifest


def test_download_answers_the_file_whatever_the_client_accepts(
    project, lead, approved, make_api, django_capture_on_commit_callbacks
):
    approved(project, data=pref("Q"))
    client = make_api(lead)
    export_id = post_export(client, project, django_capture_on_commit_callbacks).json()["id"]

    response = client.get(
        f"/api/v1/exports/{export_id}/download/", HTTP_ACCEPT="application/octet-stream"
    )

    assert response.status_code == 200


def test_download_is_409_while_the_export_is_not_done(project, lead, approved, make_api):
    approved(project, data=pref("Q"))
    client = make_api(lead)
    export_id = client.post(
        f"/api/v1/projects/{project.pk}/exports/", {"format": "trl-sft"}, format="json"
    ).json()["id"]  # not committed here, so no worker has built it

    response = client.get(f"/api/v1/exports/{export_id}/download/")

    assert response.status_code == 409
    assert response.json()["status"] == "queued"


def test_a_failed_export_reports_its_error(project, lead, approved, make_api):
    approved(
        project,
        "instruction",
        data={"messages": [{"role": "assistant", "content": "no user turn"}]},
        external_id="broken",
    )
    client = make_api(lead)
    export_id = client.post(
        f"/api/v1/projects/{project.pk}/exports/", {"format": "trl-sft"}, format="json"
    ).json()["id"]
    services.export_build(job_id=export_id)

    body = client.get(f"/api/v1/exports/{export_id}/").json()

    assert body["status"] == "failed"
    assert "broken" in body["error"]
    assert body["download_url"] is None


def test_list_shows_the_projects_exports_newest_first(project, lead, make_api):
    client = make_api(lead)
    ids = [
        client.post(
            f"/api/v1/projects/{project.pk}/exports/", {"format": name}, format="json"
        ).json()["id"]
        for name in ("trl-sft", "alpaca")
    ]
    other = ProjectFactory()
    MembershipFactory(project=other, user=lead, role=Role.LEAD)
    client.post(f"/api/v1/projects/{other.pk}/exports/", {"format": "trl-sft"}, format="json")

    body = client.get(f"/api/v1/projects/{project.pk}/exports/").json()

    assert [job["id"] for job in body] == ids[::-1]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "csv"}, "format"),
        ({"format": "trl-sft", "split": "test"}, "split"),
        ({"format": "trl-sft", "kinds": ["preference"]}, "kinds"),
        ({"format": "trl-sft", "categories": ["unknown"]}, "categories"),
        ({"format": "trl-sft", "approved_since": "last week"}, "approved_since"),
        ({}, "format"),
    ],
)
def test_bad_export_requests_are_400_with_errors(project, lead, make_api, body, field):
    response = make_api(lead).post(f"/api/v1/projects/{project.pk}/exports/", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert not ExportJob.objects.exists()


def test_filters_are_accepted_and_kept_in_the_options(project, lead, make_api):
    response = make_api(lead).post(
        f"/api/v1/projects/{project.pk}/exports/",
        {
            "format": "trl-sft",
            "split": "all",
            "kinds": ["refusal"],
            "categories": ["malware"],
            "approved_since": "2025-01-31",
        },
        format="json",
    )

    assert response.status_code == 202
    assert response.json()["options"] == {
        "shape": None,
        "kinds": ["refusal"],
        "categories": ["malware"],
        "approved_since": "2025-01-31T00:00:00+00:00",
    }


@pytest.fixture
def done_export(project, lead, approved):
    approved(project, data=pref("Q"))
    job = services.export_request(
        project=project, actor=lead, format="trl-preference", split="train"
    )
    services.export_build(job_id=job.pk)
    return job


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_annotators_and_reviewers_get_403_on_exports(project, done_export, make_api, role):
    client = make_api(MembershipFactory(project=project, role=role).user)

    assert client.get(f"/api/v1/projects/{project.pk}/exports/").status_code == 403
    response = client.post(
        f"/api/v1/projects/{project.pk}/exports/", {"format": "trl-sft"}, format="json"
    )
    assert response.status_code == 403
    assert client.get(f"/api/v1/exports/{done_export.pk}/").status_code == 403
    assert client.get(f"/api/v1/exports/{done_export.pk}/download/").status_code == 403


def test_non_members_get_404_on_exports(project, done_export, make_api, user):
    client = make_api(user)

    assert client.get(f"/api/v1/projects/{project.pk}/exports/").status_code == 404
    response = client.post(
        f"/api/v1/projects/{project.pk}/exports/", {"format": "trl-sft"}, format="json"
    )
    assert response.status_code == 404
    assert client.get(f"/api/v1/exports/{done_export.pk}/").status_code == 404
    assert client.get(f"/api/v1/exports/{done_export.pk}/download/").status_code == 404
    assert client.get("/api/v1/exports/999999/").status_code == 404


def test_anonymous_callers_are_refused(done_export, api):
    assert api.get(f"/api/v1/exports/{done_export.pk}/").status_code in (401, 403)
    assert api.get(f"/api/v1/exports/{done_export.pk}/download/").status_code in (401, 403)


def test_schema_documents_the_export_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert "/api/v1/projects/{project_id}/exports/" in schema["paths"]
    assert "/api/v1/exports/{export_id}/download/" in schema["paths"]


# --- a real Celery worker on Redis -------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.usefixtures("transactional_db")
def test_a_real_worker_builds_an_export_end_to_end(celery_worker, settings, approved, make_api):
    from config.settings import base

    settings.MEDIA_ROOT = base.MEDIA_ROOT  # the worker's storage, to download what it stored
    project = ProjectFactory(name="Worker run")
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    for n in range(50):
        approved(project, data=pref(f"Question {n}?", f"A{n}", f"B{n}"))
    client = make_api(lead)
    job_id = None
    try:
        response = client.post(
            f"/api/v1/projects/{project.pk}/exports/", {"format": "trl-preference"}, format="json"
        )
        assert response.status_code == 202
        job_id = response.json()["id"]
        deadline = time.monotonic() + 30
        body = client.get(f"/api/v1/exports/{job_id}/").json()
        while body["status"] not in (JobStatus.DONE, JobStatus.FAILED):
            assert time.monotonic() < deadline, f"export still {body['status']} after 30 s"
            time.sleep(0.2)
            body = client.get(f"/api/v1/exports/{job_id}/").json()

        assert body["status"] == "done", body["error"]
        assert body["records"] == 50
        file_response = client.get(f"/api/v1/exports/{job_id}/download/")
        content = b"".join(file_response.streaming_content)
        assert hashlib.sha256(content).hexdigest() == body["sha256"]
        assert content.count(b"\n") == 50
    finally:
        if job_id is not None:
            job = ExportJob.objects.get(pk=job_id)
            name = job.file.name or services.export_file_name(job)
            services._remove_stored(name)
            folder = Path(default_storage.path(name)).parent
            for path in (folder, folder.parent):
                if path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
