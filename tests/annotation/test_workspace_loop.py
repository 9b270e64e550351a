"""The workspace's part of the loop: skips with reasons, suggestions that do not anchor, how
much is left, and a queue's end that says one thing."""

import pytest
from django.test import Client

from annotation.models import Annotation, Assignment, ItemStatus
from annotation.queue import assignment_claim_next
from tests.factories import ItemFactory, MembershipFactory, annotate

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def annotator(project):
    return MembershipFactory(project=project).user


@pytest.fixture
def web(annotator):
    client = Client()
    client.force_login(annotator)
    return client


def work_url(project):
    return f"/projects/{project.pk}/work/"


def test_a_skip_from_the_page_keeps_its_reason_note_and_flag(project, web, annotator):
    ItemFactory(project=project)
    web.get(work_url(project))
    assignment = Assignment.objects.get(annotator=annotator)
    response = web.post(
        f"/assignments/{assignment.pk}/skip/",
        {"skip_reason": "harmful_content", "skip_note": "Graphic.", "skip_flag": "on"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "The lead will see your flag." not in response.content.decode()  # nothing left
    assignment.refresh_from_db()
    assert (assignment.skip_reason, assignment.skip_note, assignment.flagged) == (
        "harmful_content",
        "Graphic.",
        True,
    )


def test_other_without_a_note_re_shows_the_task_with_the_error(project, web, annotator):
    ItemFactory(project=project)
    web.get(work_url(project))
    assignment = Assignment.objects.get(annotator=annotator)
    response = web.post(f"/assignments/{assignment.pk}/skip/", {"skip_reason": "other"}, **HTMX)
    assert response.status_code == 400
    assert "Say what is wrong" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.status == "active"


def _instruction(project):
    return ItemFactory(
        project=project,
        kind="instruction",
        data={"prompt": "Summarise this.", "category": "summarization"},
    )


def test_suggestions_are_hidden_by_default_in_the_page_and_the_api(
    project, annotator, web, make_api
):
    _instruction(project)
    html = web.get(work_url(project)).content.decode()
    assert '<option value="summarization" selected>' not in html
    assert 'data-testid="suggestion-category"' not in html
    assignment = Assignment.objects.get(annotator=annotator)
    body = make_api(annotator).post(f"/api/v1/projects/{project.pk}/claim/").json()
    assert body["assignment"]["id"] == assignment.pk
    assert "category" not in body["item"]["data"]


def test_a_suggestion_to_confirm_is_labelled_and_not_preselected(project, annotator, web):
    project.suggestions = "confirm"
    project.save()
    item = _instruction(project)
    html = web.get(work_url(project)).content.decode()
    assert 'data-testid="suggestion-category"' in html
    assert '<option value="summarization" selected>' not in html
    assignment = Assignment.objects.get(annotator=annotator)
    web.post(
        f"/assignments/{assignment.pk}/submit/",
        {"response": "A summary.", "category": "summarization"},
        **HTMX,
    )
    annotation = Annotation.objects.get(item=item)
    assert (annotation.suggestion_shown, annotation.suggestion_accepted) == (True, True)


def test_a_preselected_suggestion_is_selected_and_a_changed_answer_is_recorded(
    project, annotator, web
):
    project.suggestions = "preselect"
    project.save()
    item = _instruction(project)
    html = web.get(work_url(project)).content.decode()
    assert '<option value="summarization" selected>' in html
    assignment = Assignment.objects.get(annotator=annotator)
    web.post(
        f"/assignments/{assignment.pk}/submit/", {"response": "Code.", "category": "code"}, **HTMX
    )
    annotation = Annotation.objects.get(item=item)
    assert (annotation.suggestion_shown, annotation.suggestion_accepted) == (True, False)


def test_hidden_suggestions_are_recorded_as_not_shown(project, annotator):
    item = _instruction(project)
    annotation = annotate(item, annotator, {"response": "x", "category": "summarization"})
    assert (annotation.suggestion_shown, annotation.suggestion_accepted) == (False, None)


def test_the_task_says_how_many_items_are_left(project, web):
    ItemFactory.create_batch(4, project=project)
    html = web.get(work_url(project)).content.decode()
    assert "3 more after this one" in html


def test_the_queues_end_says_one_thing(project, web, annotator):
    project.annotations_per_item = 1
    project.save()
    ItemFactory(project=project)
    web.get(work_url(project))
    assignment = Assignment.objects.get(annotator=annotator)
    html = web.post(f"/assignments/{assignment.pk}/submit/", {"rating": "5"}, **HTMX).content
    html = html.decode()
    assert "Nothing left for you in this project right now" in html
    assert "Here is the next item" not in html


def test_a_lead_requeues_drops_and_reopens_from_the_item_page(project, lead, annotator):
    client = Client()
    client.force_login(lead)
    item = ItemFactory(project=project)
    url = f"/projects/{project.pk}/items/{item.pk}/action/"
    client.post(url, {"action": "drop"})
    item.refresh_from_db()
    assert item.status == ItemStatus.DROPPED
    client.post(url, {"action": "requeue"})
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN
    # Everyone skips it: stalled, and the page shows who and why.
    for membership in project.memberships.all():
        assignment = assignment_claim_next(membership=membership)
        from annotation.queue import assignment_skip

        assignment_skip(
            assignment_id=assignment.pk, annotator=membership.user, reason="broken_item", flag=True
        )
    item.refresh_from_db()
    assert item.status == ItemStatus.STALLED
    page = client.get(f"/projects/{project.pk}/items/{item.pk}/").content.decode()
    assert 'data-testid="item-skips"' in page and "The item is broken" in page
    dashboard = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "1 stalled item" in dashboard and "1 flagged item" in dashboard
    assert client.post(url, {"action": "reopen"}).status_code == 302  # not decided: refused
    assert (
        "Only an approved"
        in client.get(f"/projects/{project.pk}/items/{item.pk}/").content.decode()
    )
