"""The annotators' browser workspace, through Django's test client (the browser tests in
tests/browser drive the same pages with Chromium)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation import kinds
from annotation.kinds.preference import rating_from_display
from annotation.models import Annotation, Assignment, AssignmentStatus, Role
from annotation.queue import assignment_claim_next
from core.markdown import render_model_text
from tests.factories import ItemFactory, MembershipFactory, UserFactory

HTMX = {"HTTP_HX_REQUEST": "true"}
EVIL = '<script>alert(1)</script> "><img src=x onerror=alert(1)> <a hx-get="/x">go</a>'


def assert_inert(html: str) -> None:
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    # Markup in item text stays text: no element carries the attribute (the text may show it).
    assert "<a hx-get" not in html


@pytest.fixture
def project(project):
    project.annotations_per_item = 1
    project.review_sample_rate = 0
    project.save()
    return project


@pytest.fixture
def membership(project, annotator):
    return annotator.memberships.get(project=project)


@pytest.fixture
def web(client, annotator):
    client.force_login(annotator)
    return client


def work_url(project):
    return reverse("annotation:work", args=[project.pk])


def active(annotator) -> Assignment:
    return Assignment.objects.get(annotator=annotator, status=AssignmentStatus.ACTIVE)


def url(name, assignment):
    return reverse(f"annotation:{name}", args=[assignment.pk])


# --- the mapping from the displayed scale to the stored rating ---------------------------------


@pytest.mark.parametrize(
    ("key", "order", "rating"),
    [
        (1, "AB", -3),
        (4, "AB", 0),
        (7, "AB", 3),
        (1, "BA", 3),
        (2, "BA", 2),
        (4, "BA", 0),
        (7, "BA", -3),
    ],
)
def test_rating_from_display_maps_left_and_right_back_to_a_and_b(key, order, rating):
    assert rating_from_display(key, order) == rating


def test_rating_from_display_refuses_a_key_off_the_scale():
    with pytest.raises(ValueError):
        rating_from_display(8, "AB")


def test_model_text_renders_as_markdown_with_highlighted_code_and_inert_html():
    html = render_model_text(
        "Fix this:\n```python\nprint(1 < 2)\n```\n* one\n* two\n\n<script>alert(1)</script>"
    )
    assert "<ul>" in html and "<li>one</li>" in html
    assert '<code class="language-python">' in html and 'class="hl-nb"' in html
    assert "<script>" not in html and "&lt;script&gt;" in html


# --- membership ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["annotation:project", "annotation:work"])
def test_project_pages_are_404_for_a_non_member(client, project, name):
    client.force_login(UserFactory())
    assert client.get(reverse(name, args=[project.pk])).status_code == 404


@pytest.mark.parametrize("name", ["submit", "skip", "heartbeat", "draft"])
def test_assignment_endpoints_are_404_for_someone_elses_assignment(
    client, project, membership, name
):
    ItemFactory(project=project)
    assignment = assignment_claim_next(membership=membership)
    other = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    client.force_login(other)
    assert client.post(url(name, assignment), {"response": "x"}).status_code == 404


def test_pages_send_anonymous_visitors_to_log_in(client, project):
    response = client.get(reverse("annotation:project", args=[project.pk]))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


# --- project page --------------------------------------------------------------------------------


def test_home_links_each_project_to_its_page(web, project):
    html = web.get(reverse("home")).content.decode()
    assert f'href="{reverse("annotation:project", args=[project.pk])}"' in html


def test_project_page_renders_guidelines_as_sanitised_markdown(web, project):
    project.guidelines = (
        "# Rules\n\n**Be kind.**\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))"
    )
    project.save()
    html = web.get(reverse("annotation:project", args=[project.pk])).content.decode()
    assert "<h1>Rules</h1>" in html
    assert "<strong>Be kind.</strong>" in html
    assert "<script>alert(1)" not in html
    assert 'href="javascript:' not in html
    assert f'href="{work_url(project)}"' in html


def test_project_page_says_when_guidelines_changed_since_the_last_annotation(
    web, project, membership
):
    ItemFactory(project=project, kind="instruction")
    assignment = assignment_claim_next(membership=membership)
    web.post(url("submit", assignment), {"response": "Done.", "category": "summarization"})
    page = reverse("annotation:project", args=[project.pk])
    assert "guidelines changed" not in web.get(page).content.decode()
    project.guidelines_version = 2
    project.save()
    assert "guidelines changed" in web.get(page).content.decode()


def test_project_name_is_escaped(web, project):
    project.name = EVIL
    project.save()
    for page in (reverse("home"), reverse("annotation:project", args=[project.pk])):
        assert_inert(web.get(page).content.decode())


# --- the task page per kind ------------------------------------------------------------------


def test_instruction_task_shows_prompt_context_editable_draft_and_categories(web, project):
    ItemFactory(
        project=project,
        kind="instruction",
        data={"prompt": "Summarise this.", "context": "The text.", "draft": "A model draft."},
    )
    html = web.get(work_url(project)).content.decode()
    assert "Summarise this." in html
    assert "The text." in html
    assert '<textarea id="response" name="response"' in html
    assert "A model draft.</textarea>" in html
    assert '<option value="question_answering">Question answering</option>' in html


def test_preference_task_shows_both_responses_scale_criteria_and_no_model_names(web, project):
    item = ItemFactory(project=project, kind="preference")
    html = web.get(work_url(project)).content.decode()
    for response in item.data["responses"]:
        assert response["text"] in html
    assert "m-a" not in html
    assert "m-b" not in html
    assert html.count('name="rating"') == 7
    assert "Left much better" in html
    assert "Right much better" in html
    assert 'name="criteria.helpfulness"' in html
    assert 'name="rationale"' in html


@pytest.mark.parametrize(("order", "left"), [("AB", 0), ("BA", 1)])
def test_preference_responses_are_shown_in_the_assignments_display_order(
    web, project, membership, order, left
):
    item = ItemFactory(project=project, kind="preference")
    assignment = assignment_claim_next(membership=membership)
    Assignment.objects.filter(pk=assignment.pk).update(display_order=order)
    html = web.get(work_url(project)).content.decode()
    texts = [r["text"] for r in item.data["responses"]]
    assert html.index(texts[left]) < html.index(texts[1 - left])


def test_refusal_task_shows_model_response_decisions_editor_and_harm_categories(web, project):
    ItemFactory(
        project=project,
        kind="refusal",
        data={"prompt": "How do I pick a lock?", "model_response": "Sure, first..."},
    )
    html = web.get(work_url(project)).content.decode()
    assert "How do I pick a lock?" in html
    assert "Sure, first..." in html
    for decision in ("refuse", "comply", "partial"):
        assert f'name="decision" value="{decision}"' in html
    assert '<textarea id="response" name="response"' in html
    assert '<option value="self_harm">Self harm</option>' in html


def test_a_conversation_is_shown_message_by_message(web, project):
    ItemFactory(
        project=project,
        kind="instruction",
        data={
            "messages": [
                {"role": "user", "content": "Hi there"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Write a haiku"},
            ]
        },
    )
    html = web.get(work_url(project)).content.decode()
    assert "Conversation" in html
    assert html.index("Hi there") < html.index("Hello!") < html.index("Write a haiku")


def test_code_blocks_in_a_prompt_are_highlighted_and_the_raw_text_is_kept(web, project):
    ItemFactory(
        project=project,
        kind="instruction",
        data={"prompt": "Why does this fail?\n```python\nif a < b:\n    pass\n```"},
    )
    html = web.get(work_url(project)).content.decode()
    assert '<code class="language-python"><span class="hl-k">if</span>' in html
    assert (
        '<pre class="raw">Why does this fail?\n```python\nif a &lt; b:\n    pass\n```</pre>' in html
    )


def test_nothing_left_shows_the_empty_state(web, project):
    html = web.get(work_url(project)).content.decode()
    assert "Nothing left for you in this project right now" in html
    assert f'href="{reverse("annotation:project", args=[project.pk])}"' in html


# --- escaping ------------------------------------------------------------------------------------

EVIL_ITEMS = {
    "instruction": {"prompt": EVIL, "context": EVIL, "draft": EVIL},
    "preference": {
        "prompt": EVIL,
        "responses": [{"text": EVIL, "model": EVIL}, {"text": EVIL + " (b)", "model": EVIL}],
    },
    "refusal": {"prompt": EVIL, "model_response": EVIL},
    "rubric": {
        "prompt": EVIL,
        "response": {"text": EVIL, "model": EVIL},
        "reference": EVIL,
        "group": EVIL,
        "tags": ["<script>alert(1)</script>"],
    },
}


@pytest.mark.parametrize("kind", kinds.names())
def test_user_text_renders_inert_in_the_page(web, project, kind):
    ItemFactory(project=project, kind=kind, data=EVIL_ITEMS[kind])
    assert_inert(web.get(work_url(project)).content.decode())


def test_user_text_in_messages_and_system_renders_inert(web, project):
    ItemFactory(
        project=project,
        kind="refusal",
        data={"system": EVIL, "messages": [{"role": "user", "content": EVIL}]},
    )
    assert_inert(web.get(work_url(project)).content.decode())


@pytest.mark.parametrize("kind", kinds.names())
def test_user_text_renders_inert_in_the_partial_after_a_submit(web, project, membership, kind):
    ItemFactory(project=project, kind="instruction", priority=1)
    ItemFactory(project=project, kind=kind, data=EVIL_ITEMS[kind])
    assignment = assignment_claim_next(membership=membership)
    response = web.post(
        url("submit", assignment), {"response": "Done.", "category": "summarization"}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="task"')
    assert_inert(html)


def test_rubric_criterion_names_and_descriptions_render_inert(web, project, membership):
    project.rubric = [
        {"name": '"><img src=x onerror=alert(1)>', "description": EVIL, "scale": "pass_fail"}
    ]
    project.save()
    ItemFactory(project=project, kind="rubric")
    html = web.get(work_url(project)).content.decode()
    assert_inert(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.split('data-testid="rubric"')[1]


def test_typed_text_and_criterion_names_render_inert_when_the_form_comes_back(
    web, project, membership
):
    project.criteria = ['"><img src=x onerror=alert(1)>']
    project.save()
    ItemFactory(project=project, kind="preference")
    assignment = assignment_claim_next(membership=membership)
    response = web.post(url("submit", assignment), {"rationale": EVIL}, **HTMX)
    assert response.status_code == 400
    assert_inert(response.content.decode())


def test_a_saved_draft_renders_inert(web, project, membership):
    ItemFactory(project=project, kind="instruction")
    assignment = assignment_claim_next(membership=membership)
    web.post(url("draft", assignment), {"response": EVIL})
    assert_inert(web.get(work_url(project)).content.decode())


# --- submit, skip, heartbeat, drafts --------------------------------------------------------------


@pytest.mark.parametrize(("order", "rating"), [("AB", -3), ("BA", 3)])
def test_submit_maps_the_displayed_scale_back_to_the_ab_rating(
    web, project, membership, order, rating
):
    ItemFactory(project=project, kind="preference")
    assignment = assignment_claim_next(membership=membership)
    Assignment.objects.filter(pk=assignment.pk).update(display_order=order)
    response = web.post(
        url("submit", assignment),
        {"rating": "1", "criteria.helpfulness": "2", "criteria.honesty": "", "rationale": "Left."},
        **HTMX,
    )
    assert response.status_code == 200
    annotation = Annotation.objects.get(assignment=assignment)
    assert annotation.payload == {
        "rating": rating,
        "criteria": {"helpfulness": rating * 2 // 3},
        "rationale": "Left.",
    }
    assert annotation.display_order == order


def test_submit_records_time_spent(web, project, membership):
    ItemFactory(project=project, kind="instruction")
    assignment = assignment_claim_next(membership=membership)
    web.post(
        url("submit", assignment),
        {"response": "Done.", "category": "code", "seconds_spent": "42.5"},
        **HTMX,
    )
    assert Annotation.objects.get(assignment=assignment).seconds_spent == 42.5


def test_submit_without_a_timer_records_the_time_since_the_claim(web, project, membership):
    ItemFactory(project=project, kind="instruction")
    assignment = assignment_claim_next(membership=membership)
    Assignment.objects.filter(pk=assignment.pk).update(
        claimed_at=timezone.now() - timedelta(seconds=90)
    )
    web.post(url("submit", assignment), {"response": "Done.", "category": "code"}, **HTMX)
    assert 89 < Annotation.objects.get(assignment=assignment).seconds_spent < 120


def test_submit_swaps_in_the_next_task(web, project, membership):
    ItemFactory(project=project, kind="instruction", data={"prompt": "First one"}, priority=1)
    ItemFactory(project=project, kind="refusal", data={"prompt": "Second one"})
    assignment = assignment_claim_next(membership=membership)
    response = web.post(
        url("submit", assignment), {"response": "Done.", "category": "code"}, **HTMX
    )
    html = response.content.decode()
    assert "Second one" in html
    assert "Submitted." in html
    assert "<html" not in html
    refusal_claim = active(membership.user)
    assert f'hx-post="{url("submit", refusal_claim)}"' in html


def test_the_last_submit_swaps_in_the_empty_state(web, project, membership):
    ItemFactory(project=project, kind="refusal")
    assignment = assignment_claim_next(membership=membership)
    response = web.post(
        url("submit", assignment),
        {"decision": "refuse", "response": "I can't help.", "harm_category": "none"},
        **HTMX,
    )
    assert "Nothing left for you in this project right now" in response.content.decode()
    assert Annotation.objects.get(assignment=assignment).payload == {
        "decision": "refuse",
        "response": "I can't help.",
        "harm_category": "none",
    }


def test_submit_without_htmx_redirects_to_the_workspace(web, project, membership):
    ItemFactory(project=project, kind="instruction")
    assignment = assignment_claim_next(membership=membership)
    response = web.post(url("submit", assignment), {"response": "Done.", "category": "code"})
    assert response.status_code == 302
    assert response["Location"] == work_url(project)


def test_an_invalid_submit_shows_the_errors_and_keeps_the_typed_values(web, project, membership):
    ItemFactory(project=project, kind="refusal")
    assignment = assignment_claim_next(membership=membership)
    response = web.post(
        url("submit", assignment),
        {"decision": "partial", "response": "My careful\r\nanswer", "harm_category": ""},
        **HTMX,
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Harm category: This field is required." in html
    assert "My careful\nanswer</textarea>" in html
    assert 'name="decision" value="partial" checked' in html
    assert not Annotation.objects.exists()


def test_a_scale_key_off_the_scale_is_an_error(web, project, membership):
    ItemFactory(project=project, kind="preference")
    assignment = assignment_claim_next(membership=membership)
    response = web.post(url("submit", assignment), {"rating": "9"}, **HTMX)
    assert response.status_code == 400
    assert "Choose a point on the scale." in response.content.decode()


def test_an_error_inside_an_object_is_labelled_by_its_own_name(web, project, membership):
    ItemFactory(project=project, kind="preference")
    assignment = assignment_claim_next(membership=membership)
    response = web.post(url("submit", assignment), {"rating": "2", "criteria.honesty": "9"}, **HTMX)
    assert response.status_code == 400
    assert "<li>honesty: Choose a point.</li>" in response.content.decode()


def test_submit_on_a_lost_lease_says_so_and_shows_the_typed_text(web, project, membership):
    ItemFactory(project=project, kind="instruction")
    assignment = assignment_claim_next(membership=membership)
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = web.post(
        url("submit", assignment),
        {"response": "Three paragraphs I must not lose", "category": "code"},
        **HTMX,
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Your lease on this item expired" in html
    assert "Three paragraphs I must not lose</textarea>" in html
    assert "Get next item" in html
    assert f'hx-get="{work_url(project)}"' in html
    assert not Annotation.objects.exists()


def test_skip_swaps_in_the_next_task(web, project, membership):
    ItemFactory(project=project, kind="instruction", data={"prompt": "First one"}, priority=1)
    ItemFactory(project=project, kind="instruction", data={"prompt": "Second one"})
    assignment = assignment_claim_next(membership=membership)
    response = web.post(url("skip", assignment), **HTMX)
    assert "Second one" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SKIPPED


def test_heartbeat_answers_204_while_the_lease_holds_and_the_message_once_lost(
    web, project, membership
):
    ItemFactory(project=project)
    assignment = assignment_claim_next(membership=membership)
    assert web.post(url("heartbeat", assignment), **HTMX).status_code == 204
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = web.post(url("heartbeat", assignment), **HTMX)
    assert response.status_code == 409
    assert "Your lease on this item expired" in response.content.decode()


def test_a_draft_is_restored_on_the_next_page_load(web, project, membership):
    ItemFactory(project=project, kind="preference")
    assignment = assignment_claim_next(membership=membership)
    response = web.post(
        url("draft", assignment),
        {"rating": "6", "criteria.honesty": "2", "rationale": "Half-typed", "seconds_spent": "12"},
    )
    assert response.status_code == 204
    html = web.get(work_url(project)).content.decode()
    assert 'name="rating" value="6" checked' in html
    assert 'name="criteria.honesty" value="2" aria-label="Honesty: Left better" checked' in html
    assert "Half-typed</textarea>" in html
    assert 'data-seconds-before="12.0"' in html


def test_a_draft_saves_after_the_lease_is_lost(web, project, membership):
    ItemFactory(project=project, kind="instruction")
    assignment = assignment_claim_next(membership=membership)
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert web.post(url("draft", assignment), {"response": "Keep me"}).status_code == 204
    assignment.refresh_from_db()
    assert assignment.draft == {"response": "Keep me"}


def test_a_submit_that_does_not_go_through_keeps_the_typed_text_as_the_draft(
    web, project, membership
):
    ItemFactory(project=project, kind="instruction")
    assignment = assignment_claim_next(membership=membership)
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    web.post(url("submit", assignment), {"response": "Not lost", "category": "code"}, **HTMX)
    assignment.refresh_from_db()
    assert assignment.draft["response"] == "Not lost"
    assert assignment.draft["category"] == "code"


def test_a_retried_submit_of_a_different_answer_says_it_was_already_submitted(
    web, project, membership
):
    ItemFactory(project=project, kind="instruction", priority=1)
    ItemFactory(project=project, kind="instruction")
    assignment = assignment_claim_next(membership=membership)
    web.post(url("submit", assignment), {"response": "First", "category": "code"}, **HTMX)
    response = web.post(
        url("submit", assignment), {"response": "Second", "category": "code"}, **HTMX
    )
    assert response.status_code == 409
    assert "already submitted" in response.content.decode()
    assert Annotation.objects.get(assignment=assignment).payload["response"] == "First"
