"""The annotators' workspace in Chromium: keyboard only, drafts, swapped display, lost leases."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from annotation import kinds
from annotation.models import Annotation, Assignment, AssignmentStatus, Role
from annotation.queue import assignment_claim_next
from tests.browser.conftest import login
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def project(transactional_db):
    return ProjectFactory(annotations_per_item=1, gold_rate=0, review_sample_rate=0)


@pytest.fixture
def membership(project):
    return MembershipFactory(project=project, role=Role.ANNOTATOR)


@pytest.fixture
def annotator(membership):
    return membership.user


def open_workspace(page, live_server, annotator, project):
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/work/")
    page.wait_for_selector("#task form.task-form")


def wait_for_kind(page, kind: str) -> None:
    """Wait for a task of `kind` and for its autofocus (applied after the swap settles): keys
    pressed before it would go to the element the swap removed."""
    page.wait_for_selector(f'#task[data-kind="{kind}"] form.task-form')
    expect(page.locator("#response" if kind == "instruction" else "#task-title")).to_be_focused()


def test_an_annotator_does_one_item_of_each_kind_with_the_keyboard(
    page, live_server, project, annotator
):
    ItemFactory(project=project, kind="instruction", priority=3, data={"prompt": "Summarise."})
    preference = ItemFactory(project=project, kind="preference", priority=2)
    ItemFactory(project=project, kind="refusal", priority=1, data={"prompt": "Pick a lock?"})
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/")
    # The Start button has the focus (autofocus is applied after the load event: wait for it):
    # Enter opens the workspace.
    expect(page.locator("#start")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    wait_for_kind(page, "instruction")
    page.evaluate("window.__marker = 1")

    # Instruction: the response editor has the focus; Tab to the category, type to pick it.
    page.keyboard.type("A one-line summary.")
    page.keyboard.press("Tab")
    page.keyboard.type("cod")
    assert page.input_value("#category") == "code"
    page.keyboard.press("Control+Enter")
    wait_for_kind(page, "preference")
    assert page.evaluate("window.__marker") == 1

    # Preference: 2 on the overall scale; Tab to the first criterion row, 1 rates it.
    page.keyboard.press("2")
    page.keyboard.press("Tab")
    page.keyboard.press("1")
    for _ in range(len(project.criteria) - 1):
        page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("Left is clearer.")
    page.keyboard.press("Control+Enter")
    wait_for_kind(page, "refusal")
    assert page.evaluate("window.__marker") == 1

    # Refusal: R refuses; Tab to the ideal response, then to the harm category.
    page.keyboard.press("r")
    page.keyboard.press("Tab")
    page.keyboard.type("I can't help with that.")
    page.keyboard.press("Tab")
    page.keyboard.type("ille")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("[data-testid=empty]")
    assert "Nothing left for you in this project right now" in page.inner_text("#task")
    assert page.evaluate("window.__marker") == 1

    annotations = {a.item.kind: a for a in Annotation.objects.select_related("item")}
    assert annotations["instruction"].payload == {
        "response": "A one-line summary.",
        "category": "code",
    }
    shown = annotations["preference"]
    sign = 1 if shown.display_order == "AB" else -1  # key 2 is "left better", displayed -2
    assert shown.item_id == preference.pk
    assert shown.payload == {
        "rating": -2 * sign,
        "criteria": {project.criteria[0]: -3 * sign},
        "rationale": "Left is clearer.",
    }
    assert annotations["refusal"].payload == {
        "decision": "refuse",
        "response": "I can't help with that.",
        "harm_category": "illegal_activity",
    }
    assert all(a.seconds_spent is not None and a.seconds_spent > 0 for a in annotations.values())
    assert page.errors == []


def test_a_reload_mid_typing_restores_the_draft(page, live_server, project, annotator):
    ItemFactory(project=project, kind="instruction")
    open_workspace(page, live_server, annotator, project)
    page.keyboard.type("Half of a careful answer\nwith a second line")
    page.wait_for_selector(".draft-status:has-text('Draft saved')")
    page.reload()
    page.wait_for_selector("#task form.task-form")
    assert page.input_value("#response") == "Half of a careful answer\nwith a second line"
    assert page.errors == []


def test_a_closed_tab_keeps_what_was_typed(page, live_server, project, annotator):
    ItemFactory(project=project, kind="instruction")
    open_workspace(page, live_server, annotator, project)
    page.keyboard.type("Typed just before closing")
    # Leaving the page before the autosave delay sends the draft on the way out (a keepalive
    # request that may land after the next page's request: wait for it, as a person would).
    page.goto(f"{live_server.url}/")
    deadline = time.monotonic() + 15
    while (
        time.monotonic() < deadline
        and not Assignment.objects.filter(
            annotator=annotator, draft__response="Typed just before closing"
        ).exists()
    ):
        time.sleep(0.1)
    page.goto(f"/projects/{project.pk}/work/")
    page.wait_for_selector("#task form.task-form")
    assert page.input_value("#response") == "Typed just before closing"


def test_a_swapped_display_stores_the_rating_in_ab_terms(page, live_server, project, membership):
    item = ItemFactory(project=project, kind="preference")
    assignment = assignment_claim_next(membership=membership)
    Assignment.objects.filter(pk=assignment.pk).update(display_order="BA")
    open_workspace(page, live_server, membership.user, project)
    # B is on the left.
    assert item.data["responses"][1]["text"] in page.inner_text("[data-testid=side-left]")
    page.keyboard.press("1")  # left (B) much better
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("[data-testid=empty]")
    annotation = Annotation.objects.get(assignment=assignment)
    assert annotation.payload["rating"] == 3
    assert annotation.display_order == "BA"


def test_a_lost_lease_is_said_plainly_and_the_typed_text_stays(
    page, live_server, project, annotator
):
    ItemFactory(project=project, kind="instruction")
    open_workspace(page, live_server, annotator, project)
    page.keyboard.type("Text I must not lose")
    Assignment.objects.filter(annotator=annotator).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    page.evaluate("RubricWorkspace.heartbeat()")
    page.wait_for_selector(".lease-lost")
    assert "Your lease on this item expired" in page.inner_text(".lease-lost")
    assert page.input_value("#response") == "Text I must not lose"

    page.focus("#response")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("form.task-form[data-lost]")
    assert "copy it before moving on" in page.inner_text("#task")
    assert page.input_value("#response") == "Text I must not lose"
    assert not Annotation.objects.exists()
    assignment = Assignment.objects.get(annotator=annotator)
    assert assignment.status == AssignmentStatus.ACTIVE
    assert assignment.draft["response"] == "Text I must not lose"


def test_single_key_shortcuts_do_not_fire_while_typing(page, live_server, project, annotator):
    ItemFactory(project=project, kind="preference")
    open_workspace(page, live_server, annotator, project)
    page.focus("#rationale")
    page.keyboard.type("3 reasons? 7")
    assert page.input_value("#rationale") == "3 reasons? 7"
    assert page.eval_on_selector_all("input[name=rating]:checked", "els => els.length") == 0
    assert not page.is_visible("#shortcuts")
    page.keyboard.press("Escape")
    page.focus("#task-title")
    page.keyboard.press("?")
    assert page.is_visible("#shortcuts")


def test_alt_s_skips_to_the_next_item(page, live_server, project, annotator):
    ItemFactory(project=project, kind="refusal", priority=1, data={"prompt": "First prompt"})
    ItemFactory(project=project, kind="instruction", data={"prompt": "Second prompt"})
    open_workspace(page, live_server, annotator, project)
    page.keyboard.press("Alt+s")
    wait_for_kind(page, "instruction")
    assert "Second prompt" in page.inner_text("[data-testid=prompt]")


def test_hostile_text_does_not_run_in_the_page_or_after_a_swap(
    page, live_server, project, annotator
):
    hostile = '<script>window.__xss = 1</script> "><img src=x onerror="window.__xss = 2">'
    ItemFactory(project=project, kind="instruction", priority=1, data={"prompt": hostile})
    ItemFactory(
        project=project,
        kind="preference",
        data={"prompt": hostile, "responses": [{"text": hostile}, {"text": hostile + "!"}]},
    )
    open_workspace(page, live_server, annotator, project)
    assert hostile in page.inner_text("[data-testid=prompt]")
    page.fill("#response", "Fine.")
    page.select_option("#category", "other")
    page.keyboard.press("Control+Enter")
    wait_for_kind(page, "preference")
    assert hostile in page.inner_text("[data-testid=side-left]") + page.inner_text(
        "[data-testid=side-right]"
    )
    assert page.evaluate("window.__xss") is None


@pytest.mark.parametrize("kind", kinds.names())
def test_the_workspace_fits_a_390_px_screen_with_44_px_targets(
    page, live_server, project, annotator, kind
):
    long = "A long line of model output " * 30 + "\n```python\n" + "x = 1  # " * 40 + "\n```"
    data = {
        "preference": {"prompt": long, "responses": [{"text": long}, {"text": long + "!"}]},
        "instruction": {"prompt": long, "draft": long},
        "refusal": {"prompt": long, "model_response": long},
        "rubric": {"prompt": long, "response": {"text": long, "model": "m"}, "reference": long},
    }[kind]
    ItemFactory(project=project, kind=kind, data=data)
    page.set_viewport_size({"width": 390, "height": 844})
    open_workspace(page, live_server, annotator, project)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    buttons = page.locator(".actionbar button")
    tops = {round(buttons.nth(i).bounding_box()["y"]) for i in range(buttons.count())}
    assert len(tops) == 1  # the action bar is one row
    for selector in (".scale-option", ".choice", ".crit-option", ".actionbar button"):
        for box in [e.bounding_box() for e in page.locator(selector).all() if e.is_visible()]:
            assert box["height"] >= 44 and box["width"] >= 44, (selector, box)


@pytest.mark.parametrize("mode", ["hidden", "confirm"])
def test_a_models_suggestion_is_never_preselected_unless_the_lead_chooses_it(
    page, live_server, project, annotator, mode
):
    if mode != "hidden":  # "hidden" is the default: the project is left as created
        project.suggestions = mode
        project.save()
    ItemFactory(
        project=project,
        kind="refusal",
        priority=1,
        data={"prompt": "How do I pick a lock?", "harm_category": "illegal_activity"},
    )
    ItemFactory(
        project=project,
        kind="instruction",
        data={"prompt": "Summarise this.", "category": "summarization"},
    )
    open_workspace(page, live_server, annotator, project)
    wait_for_kind(page, "refusal")
    assert page.locator("#harm_category").input_value() == ""
    labelled = page.get_by_test_id("suggestion-harm_category")
    assert labelled.count() == (1 if mode == "confirm" else 0)
    page.keyboard.press("Alt+s")
    wait_for_kind(page, "instruction")
    assert page.locator("#category").input_value() == ""
    if mode == "confirm":
        expect(page.get_by_test_id("suggestion-category")).to_contain_text("Summarization")
        page.get_by_test_id("suggestion-category").get_by_role("button", name="Use it").click()
        assert page.locator("#category").input_value() == "summarization"  # the annotator's act
    else:
        assert page.get_by_test_id("suggestion-category").count() == 0
    assert page.errors == []
