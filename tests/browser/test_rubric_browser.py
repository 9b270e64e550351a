"""A rubric item scored with the keyboard alone in Chromium: criterion by criterion, 1-5 and
P/F, then Ctrl+Enter."""

import pytest
from playwright.sync_api import expect

from annotation import kinds
from annotation.models import Annotation, Role
from tests.browser.conftest import login
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, rubric_data

pytestmark = pytest.mark.browser


def test_an_annotator_scores_a_rubric_item_with_the_keyboard(page, live_server, transactional_db):
    project = ProjectFactory(annotations_per_item=1, gold_rate=0, review_sample_rate=0)
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    data = rubric_data()
    data["response"]["text"] = "A **bold** answer <script>alert(1)</script>"
    ItemFactory(project=project, kind=kinds.RUBRIC, data=data)
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/work/")
    page.wait_for_selector('#task[data-kind="rubric"] form.task-form')
    expect(page.locator("#task-title")).to_be_focused()
    response = page.locator('[data-testid="response"]')
    expect(response.locator("strong")).to_have_text("bold")  # markdown rendered
    expect(response.locator("script")).to_have_count(0)  # and sanitised
    expect(page.locator("#task")).not_to_contain_text(data["response"]["model"])  # blind
    expect(page.locator('[data-testid="reference"]')).to_contain_text(data["reference"])
    rubric = page.locator('[data-testid="rubric"]')
    for criterion in kinds.default_rubric():  # each criterion with its description
        expect(rubric).to_contain_text(criterion["description"])

    for key in ("4", "5", "3", "4", "P"):  # helpfulness .. instruction_following, overall
        page.keyboard.press(key)
    expect(page.locator('input[name="scores.overall"][value="pass"]')).to_be_checked()
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('[data-testid="empty"]')

    annotation = Annotation.objects.get()
    assert annotation.payload == {
        "scores": {
            "helpfulness": 4,
            "correctness": 5,
            "harmlessness": 3,
            "instruction_following": 4,
            "overall": True,
        }
    }
