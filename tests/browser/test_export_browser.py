"""A lead starts an export on the exports page, watches it finish and downloads it."""

from __future__ import annotations

import hashlib
import json

import pytest

from annotation.models import Role
from config.celery import app as celery_app
from core import outbox
from core.models import JobStatus
from exports import services
from exports.models import ExportJob
from review.models import Provenance
from review.services import final_record_create
from tests.browser.conftest import login, start_export
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def export_setup(transactional_db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    project = ProjectFactory(name="Preference run <1>")
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    for n in range(3):
        item = ItemFactory(project=project, status="approved")
        final_record_create(
            item=item,
            payload={"rating": -1 if n % 2 else 2},
            provenance=Provenance.UNANIMOUS,
            source=None,
            approved_by=None,
        )
    return project, lead


def _in_process(job_id: int) -> None:
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        outbox.relay(ids=[job_id])
    finally:
        celery_app.conf.task_always_eager = previous


def test_lead_starts_an_export_and_downloads_file_and_manifest(
    page, export_setup, tmp_path, monkeypatch
):
    project, lead = export_setup
    # Built in-process, as without a broker, whatever else this test session has started.
    monkeypatch.setattr(outbox, "_hand_over", _in_process)
    login(page, lead)

    page.goto(f"/projects/{project.pk}/exports/")
    assert page.get_by_test_id("project-name").inner_text() == "Preference run <1>"
    row = start_export(page, "trl-preference")
    with page.expect_download() as file_download:
        row.get_by_test_id("download-file").click()
    with page.expect_download() as manifest_download:
        row.get_by_test_id("download-manifest").click()
    file_path = tmp_path / file_download.value.suggested_filename
    file_download.value.save_as(file_path)
    manifest_path = tmp_path / manifest_download.value.suggested_filename
    manifest_download.value.save_as(manifest_path)

    job = ExportJob.objects.get()
    assert job.status == JobStatus.DONE
    assert file_path.name == job.file.name.rsplit("/", 1)[-1]
    shown_sha256 = row.get_by_test_id("sha256").get_attribute("title")
    assert hashlib.sha256(file_path.read_bytes()).hexdigest() == job.sha256 == shown_sha256
    assert len(file_path.read_bytes().splitlines()) == 3
    assert json.loads(manifest_path.read_bytes())["sha256"] == job.sha256
    assert page.errors == []


def test_progress_updates_live_until_the_export_is_done(page, export_setup, monkeypatch):
    project, lead = export_setup
    monkeypatch.setattr(outbox, "_hand_over", lambda job_id: None)  # no worker picks it up yet
    job = services.export_request(project=project, actor=lead, format="trl-sft", split="all")
    login(page, lead)

    page.goto(f"/projects/{project.pk}/exports/")
    assert page.locator(f"#export-{job.pk}").get_attribute("data-status") == "queued"

    ExportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, progress=0.5)
    page.locator(f"#export-{job.pk} progress[value='50']").wait_for()

    services.export_build(job_id=job.pk)
    page.locator(f"#export-{job.pk}[data-status='done']").wait_for()
    assert page.locator(f"#export-{job.pk}").get_by_test_id("download-file").is_visible()
    assert page.errors == []
