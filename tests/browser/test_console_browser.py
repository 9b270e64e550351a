"""A lead runs a project from the browser: creates it, writes guidelines (with the live
preview), sets the review sample, adds annotators, uploads a JSONL file, watches the dashboard
move as two annotators work, then starts an export and downloads it."""

import json
import re

import pytest

from annotation.models import Item, Membership, Project, Role
from annotation.queue import assignment_claim_next, assignment_submit
from core.models import JobStatus
from exports.models import ExportJob
from tests.browser.conftest import login, start_export
from tests.factories import UserFactory

pytestmark = pytest.mark.browser


def items_file(tmp_path) -> str:
    rows = [
        {
            "external_id": f"q-{n}",
            "kind": "preference",
            "data": {
                "prompt": f"Which answer explains tides better? ({n})",
                "responses": [{"text": f"The moon pulls water ({n})."}, {"text": f"Wind ({n})."}],
            },
        }
        for n in range(3)
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return str(path)


def annotate_everything(project: Project, annotators) -> int:
    """Both annotators take and answer every item through the queue services (A preferred)."""
    done = 0
    for user in annotators:
        membership = Membership.objects.get(project=project, user=user)
        while (assignment := assignment_claim_next(membership=membership)) is not None:
            assignment_submit(assignment_id=assignment.pk, annotator=user, payload={"rating": -2})
            done += 1
    return done


def test_a_lead_runs_a_project_from_the_browser(page, live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    lead = UserFactory(username="lead-lin", is_staff=True)  # staff create projects
    annotators = [UserFactory(username="ann-a"), UserFactory(username="ann-b")]
    login(page, lead)

    # Create the project from the home page; it lands on an empty dashboard.
    page.get_by_test_id("new-project").click()
    page.get_by_label("Name").fill("Tides <b>study</b>")
    with page.expect_navigation():
        page.get_by_role("button", name="Create project").click()
    assert page.get_by_test_id("getting-started").is_visible()
    assert page.locator(".project-nav-name").inner_text() == "Tides <b>study</b>"
    project = Project.objects.get(name="Tides <b>study</b>")
    assert Membership.objects.get(project=project, user=lead).role == Role.LEAD

    # Guidelines: the preview follows the typing (rendered on the server, sanitised).
    # (Waiting for the page's load event: typing before htmx has bound the textarea would
    # send no preview request.)
    with page.expect_navigation(wait_until="load"):
        page.locator(".project-nav").get_by_role("link", name="Guidelines").click()
    page.get_by_test_id("guidelines-input").fill(
        "# Tides\n\nPrefer **physically correct** answers."
    )
    page.locator("#preview strong", has_text="physically correct").wait_for()
    assert page.locator("#preview h1").inner_text() == "Tides"
    with page.expect_navigation():
        page.get_by_test_id("guidelines-save").click()
    assert page.get_by_test_id("guidelines-version").inner_text() == "2"

    # Settings: no QA sample, so agreed items are approved at once.
    page.locator(".project-nav").get_by_role("link", name="Settings").click()
    page.get_by_label("Review sample rate").fill("0")
    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").click()
    assert "Settings saved." in page.get_by_test_id("flash").inner_text()

    # Members: two annotators.
    page.locator(".project-nav").get_by_role("link", name="Members").click()
    for user in annotators:
        form = page.get_by_test_id("member-add-form")
        form.get_by_label("Username").fill(user.username)
        form.get_by_label("Role").select_option("annotator")
        with page.expect_navigation():
            form.get_by_role("button", name="Add").click()
    table = page.get_by_test_id("members-table")
    assert table.locator("[data-username='ann-a']").is_visible()
    assert table.locator("[data-username='ann-b']").is_visible()

    # Upload a JSONL file through the import service.
    page.locator(".project-nav").get_by_role("link", name="Upload").click()
    page.get_by_label("File").set_input_files(items_file(tmp_path))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload and import").click()
    assert page.get_by_test_id("created").inner_text() == "3"
    assert Item.objects.filter(project=project).count() == 3

    # The dashboard before and after the annotators work.
    page.locator(".project-nav").get_by_role("link", name="Dashboard").click()
    assert page.get_by_test_id("approved").inner_text() == "0"
    assert page.get_by_test_id("total").inner_text() == "3"
    assert annotate_everything(project, annotators) == 6
    page.reload()
    assert page.get_by_test_id("approved").inner_text() == "3"
    assert page.get_by_test_id("annotations-done").inner_text() == "6"
    assert page.get_by_test_id("annotators-table").locator("[data-annotator='ann-a']").is_visible()

    # Export the approved records and download the file.
    with page.expect_navigation(wait_until="load"):
        page.locator(".project-nav").get_by_role("link", name="Exports").click()
    row = start_export(page, "trl-preference")
    with page.expect_download() as download:
        row.get_by_test_id("download-file").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)

    job = ExportJob.objects.get(project=project)
    assert job.status == JobStatus.DONE
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3
    assert all(re.search(rb'"chosen"', line) for line in lines)
    assert page.errors == []
