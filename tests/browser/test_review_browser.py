"""A reviewer settles items from the keyboard in Chromium (Playwright) against a live server.

Uses the shared browser fixtures of tests/browser/conftest.py."""

import pytest

from annotation.models import Role
from review.models import FinalRecord, Provenance
from tests.browser.conftest import login
from tests.factories import MembershipFactory, ProjectFactory, rubric_scores
from tests.review.review_fixtures import (
    AGREED_INSTRUCTION,
    DISPUTED_PREFERENCE,
    DISPUTED_REFUSAL,
    annotations_of,
    completed_item,
    disputed_preference,
    reviewer_seeing,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def review_setup(transactional_db):
    project = ProjectFactory()
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    return project, reviewer


def log_in(page, user) -> None:
    login(page, user)


def test_a_reviewer_settles_a_disputed_preference_with_the_keyboard(browser_page, review_setup):
    project, reviewer = review_setup
    item = disputed_preference(project)
    second = annotations_of(item)[1]
    page = browser_page
    log_in(page, reviewer)
    page.goto(f"/projects/{project.pk}/review/")
    pane = page.locator("#review-pane")
    assert pane.get_attribute("data-item") == str(item.pk)

    page.keyboard.press("2")
    assert "picked" in page.locator(".annotation").nth(1).get_attribute("class")
    page.keyboard.press("Enter")

    page.get_by_text("Nothing to review").wait_for()
    assert "Approved the annotation" in pane.inner_text()
    record = FinalRecord.objects.get(item=item, is_current=True)
    assert record.provenance == Provenance.ADJUDICATED
    assert record.source_annotation_id == second.pk
    assert record.approved_by_id == reviewer.pk
    assert page.errors == []


def test_a_reviewer_edits_an_annotation_into_a_final_with_the_keyboard(browser_page, review_setup):
    project, reviewer = review_setup
    item = completed_item(project, AGREED_INSTRUCTION, kind="instruction")
    page = browser_page
    log_in(page, reviewer)
    page.goto(f"/projects/{project.pk}/review/")

    page.keyboard.press("2")
    page.keyboard.press("e")
    response = page.locator('textarea[name="final_response"]')
    assert response.input_value() == "Second summary."
    response.fill("Second summary, tightened.")
    page.keyboard.press("Control+Enter")

    page.get_by_text("Nothing to review").wait_for()
    record = FinalRecord.objects.get(item=item, is_current=True)
    assert record.provenance == Provenance.EDITED
    assert record.payload == {"response": "Second summary, tightened.", "category": "summarization"}
    assert page.errors == []


def test_the_question_mark_shows_the_shortcuts(browser_page, review_setup):
    project, reviewer = review_setup
    disputed_preference(project)
    page = browser_page
    log_in(page, reviewer)
    page.goto(f"/projects/{project.pk}/review/")
    page.keyboard.press("?")
    assert page.locator("#review-help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#review-help").is_visible()


def test_a_reviewer_judges_first_then_sees_the_models_answer_then_decides(
    browser_page, review_setup
):
    """`review_prediction: after_judgement`: the model's answer is hidden, the reviewer's pick
    is recorded as their judgement (keyboard: 1-9, Enter), the answer appears (without its
    confidence), then Enter approves."""
    from annotation.models import Project
    from review.models import PredictionCheck

    project, reviewer = review_setup
    Project.objects.filter(pk=project.pk).update(review_prediction="after_judgement")
    prediction = {"payload": {"rating": 2}, "confidence": 0.8731, "model": "secret-model-x"}
    item = disputed_preference(project, prediction=prediction)
    first, second = annotations_of(item)
    page = browser_page
    log_in(page, reviewer)
    page.goto(f"/projects/{project.pk}/review/")
    pane = page.locator("#review-pane")
    assert page.get_by_test_id("prediction-hidden").is_visible()
    assert page.get_by_test_id("prediction-rows").count() == 0

    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.get_by_test_id("prediction-rows").wait_for()
    assert "Your judgement is recorded" in pane.inner_text()
    assert page.get_by_test_id("judgement-rows").is_visible()
    text = pane.inner_text()
    assert "0.87" not in text and "87%" not in text and "secret-model-x" not in text
    check = PredictionCheck.objects.get(item=item, reviewer=reviewer)
    assert check.judgement == first.payload and check.decided_at is None

    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.get_by_text("Nothing to review").wait_for()
    record = FinalRecord.objects.get(item=item, is_current=True)
    assert record.source_annotation_id == second.pk
    check.refresh_from_db()
    assert check.answer == first.payload and check.agreed is False
    assert page.errors == []


RUBRIC_PAYLOADS = [
    {**rubric_scores(4), "flags": ["verbose", "off_topic"], "rationale": "Wordy."},
    rubric_scores(2, passed=False),
]
EDIT_CASES = {
    # kind: (payloads, the fields the first annotation fills in: name -> value)
    "preference": (
        DISPUTED_PREFERENCE,
        {"final_rating": "-2", "final_criteria.helpfulness": "-1", "final_rationale": ""},
    ),
    "refusal": (
        DISPUTED_REFUSAL,
        {
            "final_decision": "refuse",
            "final_harm_category": "none",
            "final_response": "I can't help with that.",
        },
    ),
    "rubric": (
        RUBRIC_PAYLOADS,
        {
            "final_scores.helpfulness": "4",
            "final_scores.overall": "pass",
            "final_flags": "verbose, off_topic",
            "final_rationale": "Wordy.",
        },
    ),
}


@pytest.mark.parametrize("kind", sorted(EDIT_CASES))
def test_editing_an_annotation_fills_every_field_of_its_kind(browser_page, review_setup, kind):
    """The edit panel starts from the picked annotation, whatever the kind's fields are."""
    project, _ = review_setup
    payloads, expected = EDIT_CASES[kind]
    item = completed_item(project, payloads, kind=kind)
    reviewer = reviewer_seeing(project, item, "AB")
    page = browser_page
    log_in(page, reviewer)
    page.goto(f"/projects/{project.pk}/review/")

    page.keyboard.press("1")
    page.keyboard.press("e")
    page.locator("#review-edit").wait_for()
    for name, value in expected.items():
        field = page.locator(f'#review-edit [name="{name}"]')
        assert field.input_value() == value, name
    assert page.errors == []
