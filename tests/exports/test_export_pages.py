"""The lead's exports page: the form, the table of jobs, live progress, downloads."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from annotation import kinds
from annotation.models import Role
from core.models import JobStatus
from exports import services
from exports.models import ExportJob
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.usefixtures("export_media")


def pref(prompt: str) -> dict:
    return {"prompt": prompt, "responses": [{"text": "A"}, {"text": "B"}]}


@pytest.fixture
def lead_client(lead) -> Client:
    client = Client()
    client.force_login(lead)
    return client


def page_url(project) -> str:
    return f"/projects/{project.pk}/exports/"


def queued_job(project, lead, **options) -> ExportJob:
    options.setdefault("format", "trl-preference")
    options.setdefault("split", "train")
    return services.export_request(project=project, actor=lead, **options)


def test_page_shows_the_form_and_an_empty_state(project, lead_client):
    response = lead_client.get(page_url(project))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="export-form"' in html
    assert 'data-testid="no-exports"' in html
    assert "TRL conversational preference (DPOTrainer, RewardTrainer)" in html


def test_page_escapes_the_project_name(project, lead_client):
    project.name = "<script>alert('x')</script>"
    project.save()

    html = lead_client.get(page_url(project)).content.decode()

    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(" in html


def test_page_says_when_exports_are_built_in_process(project, lead_client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    html = lead_client.get(page_url(project)).content.decode()

    assert 'data-testid="in-process"' in html


def test_page_lists_jobs_with_status_records_size_sha256_and_downloads(
    project, lead, approved, lead_client
):
    approved(project, data=pref("Q"))
    job = queued_job(project, lead)
    services.export_build(job_id=job.pk)
    job.refresh_from_db()

    html = lead_client.get(page_url(project)).content.decode()

    assert f'id="export-{job.pk}" data-status="done"' in html
    assert f'title="{job.sha256}"' in html
    assert job.sha256[:12] in html
    assert f"/exports/{job.pk}/download/" in html
    assert f"/exports/{job.pk}/download/?part=manifest" in html
    assert "preference 1" in html


def test_a_queued_job_row_polls_every_second(project, lead, lead_client):
    job = queued_job(project, lead)

    html = lead_client.get(f"/exports/{job.pk}/row/", HTTP_HX_REQUEST="true").content.decode()

    assert html.lstrip().startswith(f'<tr id="export-{job.pk}"')
    assert 'hx-trigger="every 1s"' in html
    assert "<progress" in html


def test_a_running_job_row_shows_its_progress(project, lead, lead_client):
    job = queued_job(project, lead)
    ExportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, progress=0.42)

    html = lead_client.get(f"/exports/{job.pk}/row/").content.decode()

    assert 'value="42"' in html
    assert "42%" in html


def test_a_done_job_row_stops_polling(project, lead, approved, lead_client):
    approved(project, data=pref("Q"))
    job = queued_job(project, lead)
    services.export_build(job_id=job.pk)

    html = lead_client.get(f"/exports/{job.pk}/row/").content.decode()

    assert "hx-trigger" not in html
    assert 'data-testid="download-file"' in html


def test_a_failed_job_row_shows_the_error_escaped(project, lead, lead_client):
    job = queued_job(project, lead)
    ExportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error="item 1 ('<b>x</b>'): data.prompt must be a string"
    )

    html = lead_client.get(f"/exports/{job.pk}/row/").content.decode()

    assert "hx-trigger" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert 'data-testid="export-error"' in html


def test_starting_an_export_with_htmx_returns_the_panel_with_the_new_job(
    project, lead_client, approved, django_capture_on_commit_callbacks
):
    approved(project, data=pref("Q"))

    with django_capture_on_commit_callbacks(execute=True):
        response = lead_client.post(
            f"/projects/{project.pk}/exports/new/",
            {"format": "trl-preference", "split": "train", "kinds": ["preference", "refusal"]},
            HTTP_HX_REQUEST="true",
        )

    job = ExportJob.objects.get()
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="exports-panel">')
    assert f'id="export-{job.pk}"' in html
    assert 'data-testid="started"' in html
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert job.options["kinds"] == ["preference", "refusal"]


def test_all_kinds_ticked_means_no_kind_filter(project, lead_client):
    lead_client.post(
        f"/projects/{project.pk}/exports/new/",
        {"format": "trl-sft", "split": "all", "kinds": list(kinds.names())},
    )

    assert ExportJob.objects.get().options["kinds"] is None


def test_starting_an_export_without_htmx_redirects_to_the_page(project, lead_client):
    response = lead_client.post(
        f"/projects/{project.pk}/exports/new/",
        {"format": "alpaca", "split": "eval", "approved_since": "2025-03-01"},
    )

    assert response.status_code == 302
    assert response["Location"] == page_url(project)
    job = ExportJob.objects.get()
    assert (job.format, job.split) == ("alpaca", "eval")
    assert job.options["approved_since"] == "2025-03-01T00:00:00+00:00"


def test_a_bad_export_form_shows_the_error_and_starts_nothing(project, lead_client):
    response = lead_client.post(
        f"/projects/{project.pk}/exports/new/",
        {"format": "trl-sft", "split": "train", "kinds": ["preference"]},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert "trl-sft takes instruction and refusal records" in html
    assert 'role="alert"' in html
    assert not ExportJob.objects.exists()


def test_download_link_gives_the_file(project, lead, approved, lead_client):
    approved(project, data=pref("Q"))
    job = queued_job(project, lead)
    services.export_build(job_id=job.pk)
    job.refresh_from_db()

    response = lead_client.get(f"/exports/{job.pk}/download/")

    assert response.status_code == 200
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == job.sha256
    assert "attachment" in response["Content-Disposition"]


def test_download_link_of_an_unfinished_export_is_409_page(project, lead, lead_client):
    job = queued_job(project, lead)

    response = lead_client.get(f"/exports/{job.pk}/download/?part=manifest")

    assert response.status_code == 409
    assert b"is not ready" in response.content


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_other_members_get_a_403_page(project, lead, role):
    job = queued_job(project, lead)
    client = Client()
    client.force_login(MembershipFactory(project=project, role=role).user)

    for url in (page_url(project), f"/exports/{job.pk}/row/", f"/exports/{job.pk}/download/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"This needs the lead role in this project." in response.content
    response = client.post(f"/projects/{project.pk}/exports/new/", {"format": "trl-sft"})
    assert response.status_code == 403
    assert not ExportJob.objects.exclude(pk=job.pk).exists()


def test_non_members_get_404(project, lead, user):
    job = queued_job(project, lead)
    client = Client()
    client.force_login(user)

    assert client.get(page_url(project)).status_code == 404
    assert client.get(f"/exports/{job.pk}/row/").status_code == 404
    assert client.get(f"/exports/{job.pk}/download/").status_code == 404
    assert client.post(f"/projects/{project.pk}/exports/new/", {}).status_code == 404
    assert client.get(page_url(ProjectFactory())).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(project):
    response = Client().get(page_url(project))

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def _checked_split(html: str) -> str:
    import re

    found = re.findall(r'<input type="radio" name="split" value="(\w+)"[^>]*\bchecked\b', html)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("htmx", [True, False])
def test_the_page_keeps_the_last_split(project, lead_client, htmx):
    assert _checked_split(lead_client.get(page_url(project)).content.decode()) == "train"
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = lead_client.post(
        f"/projects/{project.pk}/exports/new/", {"format": "alpaca", "split": "eval"}, **headers
    )
    if htmx:
        assert _checked_split(response.content.decode()) == "eval"
    assert _checked_split(lead_client.get(page_url(project)).content.decode()) == "eval"
