"""A lead starts an export on the exports page, watches it finish and downloads it.

Self-contained: Playwright runs in a thread of its own (``export_browser``), so it never shares
an event loop with another browser fixture of the session, and the test body talks to the
database from the main thread as usual.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from annotation.models import Role
from exports import services
from exports.models import ExportJob
from review.models import JobStatus, Provenance
from review.services import final_record_create
from tests.browser.conftest import CHROMIUM as EXPORT_CHROMIUM
from tests.browser.conftest import CHROMIUM_ARGS as EXPORT_CHROMIUM_ARGS
from tests.conftest import needs
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.browser

WAIT_MS = 15_000


class ExportBrowser:
    """Chromium driven from one dedicated thread: every Playwright call goes through ``run``."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-browser")
        self._playwright: Any = None
        self.browser: Any = None
        self.run(self._start)

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(
            executable_path=EXPORT_CHROMIUM, args=EXPORT_CHROMIUM_ARGS
        )

    def _stop(self) -> None:
        self.browser.close()
        self._playwright.stop()

    def run(self, step: Callable[..., Any], *args: Any) -> Any:
        return self._thread.submit(step, *args).result()

    def close(self) -> None:
        try:
            self.run(self._stop)
        finally:
            self._thread.shutdown()


@pytest.fixture(scope="module")
def export_browser() -> Iterator[ExportBrowser]:
    needs(Path(EXPORT_CHROMIUM).exists(), f"browser tests need {EXPORT_CHROMIUM}")
    browser = ExportBrowser()
    try:
        yield browser
    finally:
        browser.close()


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


@pytest.fixture
def export_page(export_browser, export_setup, live_server, tmp_path) -> Iterator[Any]:
    """A logged-in lead's page (a fresh browser context), created in the browser's thread."""
    _, lead = export_setup
    client = Client()
    client.force_login(lead)
    cookie = {"name": "sessionid", "value": client.cookies["sessionid"].value}
    cookie["url"] = live_server.url

    def open_context():
        context = export_browser.browser.new_context(
            base_url=live_server.url, accept_downloads=True
        )
        context.set_default_timeout(WAIT_MS)
        context.add_cookies([cookie])
        # the project serves no favicon; its 404 is not an error of the page under test
        context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on(
            "console",
            lambda message: page.errors.append(message.text) if message.type == "error" else None,
        )
        return page

    page = export_browser.run(open_context)
    try:
        yield page
    finally:
        export_browser.run(page.context.close)


def test_lead_starts_an_export_and_downloads_file_and_manifest(
    export_browser, export_page, export_setup, tmp_path, monkeypatch
):
    project, _ = export_setup
    # Built in-process, as without a broker, whatever else this test session has started.
    monkeypatch.setattr(services, "_enqueue", lambda job_id: services.export_build(job_id=job_id))

    def start_and_download():
        page = export_page
        page.goto(f"/projects/{project.pk}/exports/")
        assert page.get_by_test_id("project-name").inner_text() == "Preference run <1>"
        page.get_by_label("Format", exact=True).select_option("trl-preference")
        page.get_by_role("button", name="Start export").click()
        row = page.locator("tr.export-row").first
        row.wait_for()
        page.wait_for_function(
            "() => document.querySelector('tr.export-row').dataset.status === 'done'"
        )
        with page.expect_download() as file_download:
            row.get_by_test_id("download-file").click()
        with page.expect_download() as manifest_download:
            row.get_by_test_id("download-manifest").click()
        file_path = tmp_path / file_download.value.suggested_filename
        file_download.value.save_as(file_path)
        manifest_path = tmp_path / manifest_download.value.suggested_filename
        manifest_download.value.save_as(manifest_path)
        return (
            file_path,
            manifest_path,
            row.get_by_test_id("sha256").get_attribute("title"),
            list(page.errors),
        )

    file_path, manifest_path, shown_sha256, errors = export_browser.run(start_and_download)

    job = ExportJob.objects.get()
    assert job.status == JobStatus.DONE
    assert file_path.name == job.file.name.rsplit("/", 1)[-1]
    assert hashlib.sha256(file_path.read_bytes()).hexdigest() == job.sha256 == shown_sha256
    assert len(file_path.read_bytes().splitlines()) == 3
    assert json.loads(manifest_path.read_bytes())["sha256"] == job.sha256
    assert errors == []


def test_progress_updates_live_until_the_export_is_done(
    export_browser, export_page, export_setup, monkeypatch
):
    project, lead = export_setup
    monkeypatch.setattr(services, "_enqueue", lambda job_id: None)  # no worker picks it up yet
    job = services.export_request(project=project, actor=lead, format="trl-sft", split="all")

    def open_page():
        export_page.goto(f"/projects/{project.pk}/exports/")
        return export_page.locator(f"#export-{job.pk}").get_attribute("data-status")

    assert export_browser.run(open_page) == "queued"

    ExportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, progress=0.5)
    export_browser.run(
        lambda: export_page.locator(f"#export-{job.pk} progress[value='50']").wait_for()
    )

    services.export_build(job_id=job.pk)

    def finished():
        row = export_page.locator(f"#export-{job.pk}")
        export_page.locator(f"#export-{job.pk}[data-status='done']").wait_for()
        return row.get_by_test_id("download-file").is_visible(), list(export_page.errors)

    visible, errors = export_browser.run(finished)
    assert visible
    assert errors == []
