"""The review page: permissions, blinding, escaping, htmx decisions, skips and empty states."""

import pytest
from django.test import Client

from annotation.models import ItemStatus, Role
from review.models import FinalRecord, Provenance, Review
from review.services import review_decide
from tests.factories import MembershipFactory, ProjectFactory, preference_data, rubric_scores
from tests.review.review_fixtures import (
    AGREED_INSTRUCTION,
    DISPUTED_REFUSAL,
    annotations_of,
    completed_item,
    disputed_preference,
    reviewer_seeing,
)

HTMX = {"HTTP_HX_REQUEST": "true"}


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_url(project) -> str:
    return f"/projects/{project.pk}/review/"


def decide_url(item) -> str:
    return f"/projects/{item.project_id}/review/items/{item.pk}/decide/"


def secret_preference(project, **fields):
    data = preference_data(1)
    data["responses"][0]["model"] = "secret-model-alpha"
    data["responses"][1]["model"] = "secret-model-beta"
    return disputed_preference(project, data=data, **fields)


def test_anonymous_visitors_are_sent_to_log_in(project):
    response = Client().get(page_url(project))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_annotators_get_403_on_the_review_page(project, annotator):
    assert browser(annotator).get(page_url(project)).status_code == 403


def test_non_members_get_404_on_the_review_page(project):
    item = disputed_preference(project)
    outsider = MembershipFactory(project=ProjectFactory(), role=Role.LEAD).user
    client = browser(outsider)
    assert client.get(page_url(project)).status_code == 404
    assert client.post(decide_url(item), {"action": "reject", "note": "x"}).status_code == 404


def test_an_item_of_another_project_is_404_under_this_project(project, reviewer):
    other = ProjectFactory()
    MembershipFactory(project=other, user=reviewer, role=Role.REVIEWER)
    item = disputed_preference(other)
    response = browser(reviewer).post(
        f"/projects/{project.pk}/review/items/{item.pk}/decide/", {"action": "reject", "note": "x"}
    )
    assert response.status_code == 404


def test_the_page_shows_the_next_item_with_its_annotations_side_by_side(project):
    item = disputed_preference(project)
    reviewer = reviewer_seeing(project, item, "AB")
    content = browser(reviewer).get(page_url(project)).content.decode()
    assert f'data-item="{item.pk}"' in content
    assert "Annotation 1" in content and "Annotation 2" in content
    assert "Left response" in content and "Right response" in content
    assert "Left better (-2)" in content and "Right much better (+3)" in content
    assert "Annotators disagree on:" in content
    assert content.count('class="row differs"') == 2  # the two overall ratings


def test_a_reviewer_who_draws_the_swapped_order_sees_b_on_the_left_and_flipped_ratings(project):
    item = disputed_preference(project)  # annotation 1: A better (-2); 2: B much better (+3)
    reviewer = reviewer_seeing(project, item, "BA")
    content = browser(reviewer).get(page_url(project)).content.decode()
    first, second = (r["text"] for r in item.data["responses"])
    assert content.index(second) < content.index(first)
    assert "Right better (+2)" in content and "Left much better (-3)" in content
    assert "Response A" not in content and "Response B" not in content


def test_the_page_is_blind_to_annotators_and_models(project, reviewer):
    annotators = [MembershipFactory(project=project).user for _ in range(2)]
    secret_preference(project, annotators=annotators)
    content = browser(reviewer).get(page_url(project)).content.decode()
    assert "secret-model" not in content
    assert all(user.username not in content for user in annotators)


def test_a_lead_reveals_annotator_names_with_reveal_1(project, lead):
    annotators = [MembershipFactory(project=project).user for _ in range(2)]
    secret_preference(project, annotators=annotators)
    client = browser(lead)
    assert annotators[0].username not in client.get(page_url(project)).content.decode()
    revealed = client.get(page_url(project), {"reveal": "1"}).content.decode()
    assert all(f"by {user.username}" in revealed for user in annotators)
    assert "secret-model" not in revealed


def test_a_reviewer_cannot_reveal_names(project, reviewer):
    annotators = [MembershipFactory(project=project).user for _ in range(2)]
    secret_preference(project, annotators=annotators)
    content = browser(reviewer).get(page_url(project), {"reveal": "1"}).content.decode()
    assert all(user.username not in content for user in annotators)
    assert "Reveal annotator names" not in content


def test_the_page_escapes_user_text(project, reviewer):
    data = preference_data(2)
    data["prompt"] = "<script>alert('prompt')</script>"
    payloads = [
        {"rating": -1, "rationale": "<img src=x onerror=alert(1)>"},
        {"rating": 2},
    ]
    completed_item(project, payloads, data=data)
    content = browser(reviewer).get(page_url(project)).content.decode()
    assert "<script>alert('prompt')</script>" not in content
    assert "&lt;script&gt;alert(&#x27;prompt&#x27;)&lt;/script&gt;" in content
    assert "<img src=x" not in content


def test_the_page_leaves_out_items_the_reviewer_annotated(project, reviewer):
    disputed_preference(project, annotators=[reviewer, MembershipFactory(project=project).user])
    content = browser(reviewer).get(page_url(project)).content.decode()
    assert "Nothing to review" in content


def test_an_empty_queue_says_nothing_to_review(project, reviewer):
    assert "Nothing to review" in browser(reviewer).get(page_url(project)).content.decode()


def test_approving_through_htmx_swaps_in_the_next_item(project, reviewer):
    first, second = disputed_preference(project), disputed_preference(project)
    pick = annotations_of(first)[1]
    response = browser(reviewer).post(decide_url(first), {"approve": pick.pk}, **HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content and content.lstrip().startswith('<div id="review-pane"')
    assert f'data-item="{second.pk}"' in content
    assert "Approved the annotation" in content
    record = FinalRecord.objects.get(item=first, is_current=True)
    assert record.source_annotation == pick and record.provenance == Provenance.ADJUDICATED


def test_approve_picked_uses_the_picked_annotation(project, reviewer):
    item = disputed_preference(project)
    pick = annotations_of(item)[0]
    browser(reviewer).post(decide_url(item), {"action": "approve_picked", "pick": pick.pk}, **HTMX)
    assert FinalRecord.objects.get(item=item).source_annotation == pick


def test_approve_picked_without_a_pick_asks_for_one(project, reviewer):
    item = disputed_preference(project)
    response = browser(reviewer).post(decide_url(item), {"action": "approve_picked"}, **HTMX)
    content = response.content.decode()
    assert "Pick an annotation first" in content and f'data-item="{item.pk}"' in content
    assert not Review.objects.exists()


def test_a_plain_form_post_redirects_back_to_the_queue(project, reviewer):
    item = disputed_preference(project)
    client = browser(reviewer)
    response = client.post(decide_url(item), {"approve": annotations_of(item)[0].pk})
    assert response.status_code == 302 and response["Location"] == page_url(project)
    assert "Approved the annotation" in client.get(page_url(project)).content.decode()


def test_an_edited_final_is_approved_as_edited(project, reviewer):
    item = completed_item(project, AGREED_INSTRUCTION, kind="instruction")
    form = {
        "action": "edit",
        "final_response": "A better summary.\r\nSecond line.",
        "final_category": "summarization",
        "note": "Merged both.",
    }
    browser(reviewer).post(decide_url(item), form, **HTMX)
    record = FinalRecord.objects.get(item=item, is_current=True)
    assert record.provenance == Provenance.EDITED
    assert record.payload == {
        "response": "A better summary.\nSecond line.",
        "category": "summarization",
    }
    assert Review.objects.get(item=item).note == "Merged both."


@pytest.mark.parametrize(("order", "sign"), [("AB", 1), ("BA", -1)])
def test_an_edited_preference_final_is_stored_in_a_b_terms(project, order, sign):
    """The edit form's scale is in the page's left/right terms: "right slightly better" with
    the responses swapped means A slightly better."""
    item = disputed_preference(project)
    reviewer = reviewer_seeing(project, item, order)
    form = {
        "action": "edit",
        "final_rating": "1",
        "final_criteria.honesty": "2",
        "final_criteria.helpfulness": "",
        "final_rationale": "",
    }
    browser(reviewer).post(decide_url(item), form, **HTMX)
    assert FinalRecord.objects.get(item=item).payload == {
        "rating": 1 * sign,
        "criteria": {"honesty": 2 * sign},
    }


def test_an_invalid_edit_on_a_swapped_display_shows_what_was_typed(project):
    item = disputed_preference(project)
    reviewer = reviewer_seeing(project, item, "BA")
    form = {"action": "edit", "final_rating": "2", "final_criteria.honesty": "9"}
    content = browser(reviewer).post(decide_url(item), form, **HTMX).content.decode()
    assert "<code>criteria.honesty</code>" in content
    assert '<option value="2" selected>Right better (2)</option>' in content


def test_an_invalid_final_shows_the_errors_and_keeps_the_typed_text(project, reviewer):
    item = completed_item(project, AGREED_INSTRUCTION, kind="instruction")
    form = {"action": "edit", "final_response": "Kept <b>text</b>", "final_category": "poetry"}
    content = browser(reviewer).post(decide_url(item), form, **HTMX).content.decode()
    assert f'data-item="{item.pk}"' in content
    assert "<code>category</code>" in content
    assert "Kept &lt;b&gt;text&lt;/b&gt;" in content
    assert 'id="review-edit" class="panel">' in content  # the panel stays open
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_REVIEW


def test_rejecting_needs_a_note_and_keeps_the_panel_open(project, reviewer):
    item = disputed_preference(project)
    content = (
        browser(reviewer).post(decide_url(item), {"action": "reject"}, **HTMX).content.decode()
    )
    assert "A rejection needs a note" in content
    assert 'id="review-reject" class="panel">' in content


def test_rejecting_with_a_note(project, reviewer):
    item = disputed_preference(project)
    browser(reviewer).post(decide_url(item), {"action": "reject", "note": "Both off."}, **HTMX)
    item.refresh_from_db()
    # Back in the queue for fresh annotations by members who have not annotated it.
    assert (item.status, item.round, item.submitted_count) == (ItemStatus.OPEN, 2, 0)


def test_a_rejection_nobody_is_left_to_annotate_says_the_item_stalled(project, reviewer):
    from annotation.queue import assignment_claim_next, assignment_skip
    from tests.factories import ItemFactory, annotate

    item = ItemFactory(project=project)
    first, second = (MembershipFactory(project=project).user for _ in range(2))
    own = assignment_claim_next(membership=project.memberships.get(user=reviewer))
    assignment_skip(assignment_id=own.pk, annotator=reviewer)  # the reviewer passed on it
    annotate(item, first, {"rating": -2})
    annotate(item, second, {"rating": 2})

    content = (
        browser(reviewer)
        .post(decide_url(item), {"action": "reject", "note": "Both off."}, **HTMX)
        .content.decode()
    )

    item.refresh_from_db()
    assert (item.status, item.round) == (ItemStatus.STALLED, 2)
    assert "nobody is left who may annotate it (round 2)" in content
    assert "lead&#x27;s dashboard" in content


def test_a_decision_someone_made_first_shows_theirs_and_moves_on(project, reviewer):
    other = MembershipFactory(project=project, role=Role.REVIEWER).user
    item, following = disputed_preference(project), disputed_preference(project)
    review_decide(
        item_id=item.pk,
        reviewer=other,
        decision="approve",
        annotation_id=annotations_of(item)[0].pk,
    )
    response = browser(reviewer).post(
        decide_url(item), {"approve": annotations_of(item)[1].pk}, **HTMX
    )
    content = response.content.decode()
    assert "Already decided by another reviewer: approve" in content
    assert f'data-item="{following.pk}"' in content
    assert FinalRecord.objects.get(item=item).source_annotation == annotations_of(item)[0]


def test_skip_moves_on_and_the_skipped_items_come_back_on_request(project, reviewer):
    first, second = disputed_preference(project), disputed_preference(project)
    client = browser(reviewer)
    skip = f"/projects/{project.pk}/review/items/{first.pk}/skip/"
    assert f'data-item="{second.pk}"' in client.post(skip, **HTMX).content.decode()
    client.post(f"/projects/{project.pk}/review/items/{second.pk}/skip/", **HTMX)
    content = client.get(page_url(project)).content.decode()
    assert "Nothing left to review" in content and "2 items you skipped" in content
    again = client.post(f"/projects/{project.pk}/review/skipped/", **HTMX).content.decode()
    assert f'data-item="{first.pk}"' in again


def test_a_reopened_item_shows_the_leads_note(project, reviewer, lead):
    from review.services import item_reopen

    item = disputed_preference(project)
    review_decide(item_id=item.pk, reviewer=reviewer, decision="reject", note="No.", then="drop")
    item_reopen(item_id=item.pk, actor=lead, note="Rating <b>should</b> favour B.")
    content = browser(reviewer).get(page_url(project)).content.decode()
    assert "Sent back by a lead" in content
    assert "Rating &lt;b&gt;should&lt;/b&gt; favour B." in content


@pytest.mark.parametrize("path", ["css/review.css", "css/model-text.css", "js/review.js"])
def test_the_page_serves_its_own_assets(project, reviewer, path):
    content = browser(reviewer).get(page_url(project)).content.decode()
    assert f"/static/{path}" in content


def test_an_item_of_a_project_where_the_reviewer_only_annotates_is_404(project, reviewer):
    other = ProjectFactory()
    MembershipFactory(project=other, user=reviewer, role=Role.ANNOTATOR)
    item = disputed_preference(other)
    response = browser(reviewer).post(
        f"/projects/{project.pk}/review/items/{item.pk}/decide/", {"action": "reject", "note": "x"}
    )
    assert response.status_code == 404
    assert Review.objects.count() == 0


def test_two_different_texts_show_their_word_differences(project, reviewer):
    from tests.review.review_fixtures import AGREED_INSTRUCTION, completed_item

    completed_item(project, AGREED_INSTRUCTION, kind="instruction")
    content = browser(reviewer).get(page_url(project)).content.decode()
    assert 'data-testid="text-diff"' in content
    assert "<del>First</del><ins>Second</ins>" in content


DATA_SHOWN = {
    # kind: (payloads that send it to review, data beyond the prompt, texts the page shows)
    "instruction": (
        AGREED_INSTRUCTION,
        {"context": "Some context.", "draft": "A model's draft.", "category": "summarization"},
        [
            "Context",
            "Some context.",
            "Draft answer",
            "A model&#x27;s draft.",
            "Category suggested at import: summarization",
        ],
    ),
    "refusal": (
        DISPUTED_REFUSAL,
        {"harm_category": "privacy", "model_response": "Sure, the address is ..."},
        [
            "Harm category suggested at import: privacy",
            "What a model said",
            "Sure, the address is ...",
        ],
    ),
    "rubric": (
        [rubric_scores(4), rubric_scores(2, passed=False)],
        {"response": {"text": "An answer to score.", "model": "secret-model"}, "reference": "Ref."},
        ["Response", "An answer to score.", "Reference answer", "Ref."],
    ),
}


@pytest.mark.parametrize("kind", sorted(DATA_SHOWN))
def test_the_review_page_shows_what_the_kind_adds_to_the_prompt(project, reviewer, kind):
    payloads, extra, texts = DATA_SHOWN[kind]
    completed_item(project, payloads, kind=kind, data={"prompt": "The question?", **extra})
    page = browser(reviewer).get(page_url(project)).content.decode()
    for text in texts:
        assert text in page, text
    assert "secret-model" not in page  # blind: the kind's data as reviewers see it


def test_two_refusal_replies_show_their_word_differences(project, reviewer):
    from tests.review.review_fixtures import completed_item

    replies = ["I cannot help with lockpicking.", "I will not help with lockpicking."]
    payloads = [
        {"decision": decision, "response": reply, "harm_category": "illegal_activity"}
        for decision, reply in zip(["refuse", "partial"], replies, strict=True)
    ]
    completed_item(project, payloads, kind="refusal", data={"prompt": "Pick a lock?"})
    content = browser(reviewer).get(page_url(project)).content.decode()
    assert 'data-testid="text-diff"' in content
    assert "<span>I </span><del>cannot</del><ins>will not</ins>" in content


def test_written_answers_render_as_markdown_with_the_raw_text_and_inert_html(project, reviewer):
    from tests.review.review_fixtures import completed_item

    written = "Use:\n```python\nprint(1)\n```\n* one\n\n<script>alert(1)</script>"
    payloads = [
        {"response": written, "category": "code"},
        {"response": "Plain answer.", "category": "summarization"},
    ]
    completed_item(project, payloads, kind="instruction")
    content = browser(reviewer).get(page_url(project)).content.decode()
    pane = content.split('class="annotations"', 1)[1]
    assert '<code class="language-python">' in pane and "<li>one</li>" in pane
    assert "<script>alert(1)</script>" not in content
    assert '<details class="raw-text"><summary>Raw text</summary>' in pane
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</pre>" in pane


def test_a_reviewer_sets_a_rubric_items_final_scores_on_the_page(project, reviewer):
    from tests.factories import rubric_scores

    item = completed_item(
        project, [rubric_scores(4, passed=True), rubric_scores(4, passed=False)], kind="rubric"
    )
    assert item.status == ItemStatus.IN_REVIEW
    client = browser(reviewer)
    html = client.get(page_url(project)).content.decode()
    assert 'name="final_scores.helpfulness"' in html and 'name="final_scores.overall"' in html
    assert item.data["response"]["model"] not in html  # blind
    form = {
        "action": "edit",
        **{f"final_scores.{name}": "3" for name in rubric_scores()["scores"]},
        "final_scores.overall": "fail",
        "final_flags": "hallucination, hallucination, too long",
        "final_rationale": "Wrong date.",
    }
    client.post(decide_url(item), form, **HTMX)
    record = FinalRecord.objects.get(item=item, is_current=True)
    assert record.provenance == Provenance.EDITED
    assert record.payload == {
        "scores": {**rubric_scores(3)["scores"], "overall": False},
        "rationale": "Wrong date.",
        "flags": ["hallucination", "too long"],
    }
