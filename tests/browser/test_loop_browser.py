"""The loop inside the team, in Chromium: an annotator submits, a reviewer rejects with a note
and sends the item back, the annotator reads the note on "My work", another annotator picks
the item up."""

import pytest

from annotation.models import Role
from tests.browser.conftest import login
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, annotate

pytestmark = pytest.mark.browser


def test_a_rejection_reaches_the_annotator_and_the_item_goes_back_to_the_queue(browser_page):
    project = ProjectFactory(annotations_per_item=2, review_sample_rate=0, gold_rate=0)
    first = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    second = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    third = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    item = ItemFactory(
        project=project,
        data={
            "prompt": "Which reply is kinder?",
            "responses": [{"text": "Go away."}, {"text": "Happy to help!"}],
        },
    )
    page = browser_page

    # The first annotator rates in the browser; the second disagrees.
    login(page, first)
    page.goto(f"/projects/{project.pk}/work/")
    page.wait_for_selector('#task[data-kind="preference"] form.task-form')
    page.keyboard.press("4")
    page.keyboard.press("Control+Enter")
    page.get_by_text("Nothing left for you in this project right now").wait_for()
    annotate(item, second, {"rating": 3})

    # The reviewer rejects with a note and sends it back for fresh annotations.
    page.context.clear_cookies()
    login(page, reviewer)
    page.goto(f"/projects/{project.pk}/review/")
    assert page.locator("#review-pane").get_attribute("data-item") == str(item.pk)
    page.keyboard.press("r")
    page.fill('#review-pane textarea[name="note"]', "Both miss that B is kinder; read rule 3.")
    page.get_by_label("Annotate again").check()
    page.get_by_role("button", name="Reject the item").click()
    page.get_by_text("back for fresh annotations").wait_for()
    item.refresh_from_db()
    assert (item.status, item.round) == ("open", 2)

    # The first annotator sees the note on My work, with the badge on the way there.
    page.context.clear_cookies()
    login(page, first)
    page.goto(f"/projects/{project.pk}/")
    assert page.locator('[data-testid="my-work-link"] .news').inner_text() == "1"
    page.get_by_test_id("my-work-link").click()
    entry = page.locator('[data-testid^="work-"]').first
    assert "Rejected" in entry.inner_text()
    assert "Both miss that B is kinder; read rule 3." in entry.inner_text()

    # Another annotator picks the item up; the first two are not offered it again.
    page.context.clear_cookies()
    login(page, third)
    page.goto(f"/projects/{project.pk}/work/")
    page.wait_for_selector('#task[data-kind="preference"] form.task-form')
    assert "Which reply is kinder?" in page.inner_text("[data-testid=prompt]")
    assert page.errors == []


def test_a_skipped_item_stalls_and_the_lead_sees_who_and_why_and_requeues_it(browser_page):
    project = ProjectFactory(annotations_per_item=2, review_sample_rate=0, gold_rate=0)
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    lead = MembershipFactory(project=project, role=Role.LEAD).user
    item = ItemFactory(
        project=project,
        external_id="cut-off-1",
        data={"prompt": "Which is better?", "responses": [{"text": "Yes"}, {"text": "Th"}]},
    )
    page = browser_page

    # The lead passes on it in the browser; the annotator skips it with a reason and a flag.
    login(page, lead)
    page.goto(f"/projects/{project.pk}/work/")
    page.wait_for_selector('#task[data-kind="preference"] form.task-form')
    page.keyboard.press("Alt+s")
    page.get_by_text("Nothing left for you in this project right now").wait_for()
    page.context.clear_cookies()
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/work/")
    page.wait_for_selector('#task[data-kind="preference"] form.task-form')
    page.get_by_text("Skip with a reason, or flag this item for the lead").click()
    page.select_option("#skip_reason", "broken_item")
    page.fill("#skip_note", "The second response is cut off.")
    page.get_by_label("Flag this item for the lead").check()
    page.get_by_role("button", name="Skip").first.click()
    page.get_by_text("Nothing left for you in this project right now").wait_for()
    item.refresh_from_db()
    assert item.status == "stalled"

    # The lead finds it from the dashboard, sees who skipped it and why, and re-queues it.
    page.context.clear_cookies()
    login(page, lead)
    page.goto(f"/projects/{project.pk}/dashboard/")
    page.get_by_test_id("attention").get_by_role("link", name="1 stalled item").click()
    skips = page.get_by_test_id("row-skips")
    assert f"skipped by {annotator.username}: The item is broken ⚑" in skips.inner_text()
    page.get_by_test_id("item-link").filter(has_text="cut-off-1").click()
    assert "The second response is cut off." in page.get_by_test_id("item-skips").inner_text()
    page.get_by_role("button", name="Re-queue for annotation").click()
    page.wait_for_load_state()
    item.refresh_from_db()
    assert item.status == "open"

    # Who skipped it is served it again.
    page.context.clear_cookies()
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/work/")
    page.wait_for_selector('#task[data-kind="preference"] form.task-form')
    assert "Which is better?" in page.inner_text("[data-testid=prompt]")
    assert page.errors == []
