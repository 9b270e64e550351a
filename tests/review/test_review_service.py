"""Adjudication: decisions, provenance, who may decide, reopening, the queue and its highlights."""

import pytest

from annotation.models import ItemStatus, ReviewReason, Role
from core.errors import ApplicationError, Conflict, PermissionDenied
from core.models import AuditEvent
from review import selectors
from review.apis import ReviewQueueEntrySerializer
from review.models import FinalRecord, Provenance, Review
from review.services import item_reopen, review_decide
from tests.factories import MembershipFactory
from tests.review.review_fixtures import (
    AGREED_INSTRUCTION,
    AGREED_PREFERENCE,
    DISPUTED_REFUSAL,
    annotations_of,
    completed_item,
    disputed_preference,
    reviewer_seeing,
)


def current_final(item) -> FinalRecord:
    return FinalRecord.objects.get(item=item, is_current=True)


def test_a_disputed_item_goes_to_review(project):
    item = disputed_preference(project)
    assert (item.status, item.review_reason, item.agreement) == (
        "in_review",
        "disputed",
        "disputed",
    )


def test_approving_an_annotation_of_a_disputed_item_is_adjudicated(project, reviewer):
    item = disputed_preference(project)
    second = annotations_of(item)[1]
    review = review_decide(
        item_id=item.pk, reviewer=reviewer, decision="approve", annotation_id=second.pk
    )
    item.refresh_from_db()
    record = current_final(item)
    assert item.status == ItemStatus.APPROVED and item.review_reason == ""
    assert record.payload == second.payload
    assert record.provenance == Provenance.ADJUDICATED
    assert record.source_annotation_id == second.pk and record.approved_by == reviewer
    assert review.annotation_id == second.pk and review.final is None


def test_approving_an_annotation_of_an_agreed_item_is_unanimous(project, reviewer):
    item = completed_item(project, AGREED_INSTRUCTION, kind="instruction")
    assert item.review_reason == ReviewReason.TEXT
    first = annotations_of(item)[0]
    review_decide(item_id=item.pk, reviewer=reviewer, decision="approve", annotation_id=first.pk)
    assert current_final(item).provenance == Provenance.UNANIMOUS


def test_a_reviewer_written_final_is_recorded_as_edited(project, reviewer):
    item = completed_item(project, DISPUTED_REFUSAL, kind="refusal")
    final = {"decision": "partial", "response": "Locks in general: ...", "harm_category": "none"}
    review = review_decide(item_id=item.pk, reviewer=reviewer, decision="approve", final=final)
    record = current_final(item)
    assert record.payload == final and record.provenance == Provenance.EDITED
    assert record.source_annotation is None
    assert review.final == final


def test_a_final_identical_to_an_annotation_counts_as_approving_that_annotation(project, reviewer):
    item = disputed_preference(project)
    first = annotations_of(item)[0]
    review_decide(item_id=item.pk, reviewer=reviewer, decision="approve", final=first.payload)
    record = current_final(item)
    assert record.provenance == Provenance.ADJUDICATED
    assert record.source_annotation_id == first.pk


def test_an_invalid_final_is_a_400_with_field_errors_and_changes_nothing(project, reviewer):
    item = disputed_preference(project)
    with pytest.raises(ApplicationError) as raised:
        review_decide(
            item_id=item.pk,
            reviewer=reviewer,
            decision="approve",
            final={"rating": 7, "criteria": {"speed": 1}},
        )
    assert raised.value.status_code == 400
    fields = {e["field"] for e in raised.value.extra["errors"]}
    assert fields == {"rating", "criteria.speed"}
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_REVIEW
    assert not Review.objects.exists() and not FinalRecord.objects.exists()


def test_a_final_outside_the_project_vocabulary_is_refused(project, reviewer):
    item = completed_item(project, AGREED_INSTRUCTION, kind="instruction")
    with pytest.raises(ApplicationError) as raised:
        review_decide(
            item_id=item.pk,
            reviewer=reviewer,
            decision="approve",
            final={"response": "Fine.", "category": "poetry"},
        )
    assert raised.value.extra["errors"][0]["field"] == "category"


def test_approving_an_annotation_and_a_final_together_is_refused(project, reviewer):
    item = disputed_preference(project)
    with pytest.raises(ApplicationError, match="not both"):
        review_decide(
            item_id=item.pk,
            reviewer=reviewer,
            decision="approve",
            annotation_id=annotations_of(item)[0].pk,
            final={"rating": 1},
        )


def test_approving_with_neither_annotation_nor_final_is_refused(project, reviewer):
    item = disputed_preference(project)
    with pytest.raises(ApplicationError, match="give the annotation"):
        review_decide(item_id=item.pk, reviewer=reviewer, decision="approve")


def test_an_annotation_of_another_item_is_refused(project, reviewer):
    item, other = disputed_preference(project), disputed_preference(project)
    with pytest.raises(ApplicationError, match="does not belong"):
        review_decide(
            item_id=item.pk,
            reviewer=reviewer,
            decision="approve",
            annotation_id=annotations_of(other)[0].pk,
        )


def test_an_unknown_decision_is_refused(project, reviewer):
    item = disputed_preference(project)
    with pytest.raises(ApplicationError, match="decision must be"):
        review_decide(item_id=item.pk, reviewer=reviewer, decision="maybe")


def test_a_rejection_needs_a_note(project, reviewer):
    item = disputed_preference(project)
    with pytest.raises(ApplicationError, match="needs a note"):
        review_decide(item_id=item.pk, reviewer=reviewer, decision="reject", note="  ")


def test_a_rejection_writes_no_final_record(project, reviewer):
    item = disputed_preference(project)
    review_decide(
        item_id=item.pk, reviewer=reviewer, decision="reject", note="Both wrong.", then="drop"
    )
    item.refresh_from_db()
    assert item.status == ItemStatus.DROPPED and item.review_reason == ""
    assert not FinalRecord.objects.filter(item=item).exists()
    assert Review.objects.get(item=item).note == "Both wrong."


def test_a_reviewer_who_annotated_the_item_cannot_adjudicate_it(project, reviewer):
    annotators = [reviewer, MembershipFactory(project=project, role=Role.ANNOTATOR).user]
    item = disputed_preference(project, annotators=annotators)
    with pytest.raises(PermissionDenied, match="someone else must adjudicate"):
        review_decide(
            item_id=item.pk,
            reviewer=reviewer,
            decision="approve",
            annotation_id=annotations_of(item)[1].pk,
        )


def test_deciding_an_item_someone_decided_is_a_409_with_their_decision(project, reviewer):
    other = MembershipFactory(project=project, role=Role.REVIEWER).user
    item = disputed_preference(project)
    first = annotations_of(item)[0]
    review_decide(item_id=item.pk, reviewer=other, decision="approve", annotation_id=first.pk)
    with pytest.raises(Conflict) as raised:
        review_decide(item_id=item.pk, reviewer=reviewer, decision="reject", note="No.")
    assert raised.value.status_code == 409
    assert raised.value.extra["status"] == "approved"
    assert raised.value.extra["decision"]["decision"] == "approve"
    assert raised.value.extra["decision"]["annotation"] == first.pk
    assert Review.objects.filter(item=item).count() == 1


def test_an_approval_is_audited_with_before_and_after(project, reviewer):
    item = disputed_preference(project)
    second = annotations_of(item)[1]
    review_decide(
        item_id=item.pk,
        reviewer=reviewer,
        decision="approve",
        annotation_id=second.pk,
        note="B is right.",
    )
    event = AuditEvent.objects.get(action="review.approve")
    assert event.actor == reviewer and event.object_id == str(item.pk)
    assert event.before["status"] == "in_review" and event.before["final"] is None
    assert event.after["status"] == "approved"
    assert event.after["final"]["payload"] == second.payload
    assert event.after["final"]["provenance"] == "adjudicated"
    assert event.after["note"] == "B is right."


def test_a_rejection_is_audited(project, reviewer):
    item = disputed_preference(project)
    review_decide(item_id=item.pk, reviewer=reviewer, decision="reject", note="Off-topic.")
    event = AuditEvent.objects.get(action="review.reject")
    assert event.before["status"] == "in_review"
    assert event.after == {
        "review": Review.objects.get().pk,
        "note": "Off-topic.",
        "final": None,
        "then": "annotate_again",
        "status": "open",  # for fresh annotations: the reviewer has not annotated it
        "round": 2,
    }


def test_reopen_keeps_the_final_record_as_history_and_requeues_the_item(project, reviewer, lead):
    item = disputed_preference(project)
    first = annotations_of(item)[0]
    review_decide(item_id=item.pk, reviewer=reviewer, decision="approve", annotation_id=first.pk)
    item_reopen(item_id=item.pk, actor=lead, note="Check criteria again.")
    item.refresh_from_db()
    assert (item.status, item.review_reason) == ("in_review", "reopened")
    assert FinalRecord.objects.filter(item=item).count() == 1
    assert not FinalRecord.objects.filter(item=item, is_current=True).exists()
    membership = reviewer.memberships.get(project=project)
    assert item in selectors.review_queue(membership=membership)


def test_a_reopened_item_decided_again_has_two_final_records_one_current(project, reviewer, lead):
    item = disputed_preference(project)
    first, second = annotations_of(item)
    review_decide(item_id=item.pk, reviewer=reviewer, decision="approve", annotation_id=first.pk)
    item_reopen(item_id=item.pk, actor=lead, note="")
    review_decide(item_id=item.pk, reviewer=reviewer, decision="approve", annotation_id=second.pk)
    records = list(FinalRecord.objects.filter(item=item).order_by("id"))
    assert [r.is_current for r in records] == [False, True]
    assert records[1].payload == second.payload
    event = AuditEvent.objects.filter(action="review.approve").order_by("-id").first()
    assert event.before["final"]["payload"] == first.payload
    assert event.before["final"]["is_current"] is False


def test_reopen_is_audited(project, reviewer, lead):
    item = disputed_preference(project)
    review_decide(item_id=item.pk, reviewer=reviewer, decision="reject", note="Bad.", then="drop")
    item_reopen(item_id=item.pk, actor=lead, note="Too harsh.")
    event = AuditEvent.objects.get(action="item.reopen")
    assert event.actor == lead
    assert event.before == {"status": "dropped", "review_reason": "", "final": None}
    assert event.after == {"status": "in_review", "review_reason": "reopened", "note": "Too harsh."}


def test_reopening_an_item_still_in_review_is_a_409(project, lead):
    item = disputed_preference(project)
    with pytest.raises(Conflict):
        item_reopen(item_id=item.pk, actor=lead, note="")


# --- the queue ---------------------------------------------------------------------------------


def test_the_queue_puts_disputed_items_first_then_oldest(project, reviewer):
    project.review_sample_rate = 1.0
    project.save()
    sampled = completed_item(project, AGREED_PREFERENCE)
    text = completed_item(project, AGREED_INSTRUCTION, kind="instruction")
    disputed_late = disputed_preference(project)
    approved_elsewhere = disputed_preference(project)
    approved_elsewhere.status = ItemStatus.APPROVED
    approved_elsewhere.save()
    membership = reviewer.memberships.get(project=project)
    assert sampled.review_reason == "sampled"
    assert list(selectors.review_queue(membership=membership)) == [disputed_late, sampled, text]


def test_the_queue_leaves_out_items_the_reviewer_annotated(project, reviewer):
    mine = disputed_preference(
        project, annotators=[reviewer, MembershipFactory(project=project).user]
    )
    theirs = disputed_preference(project)
    membership = reviewer.memberships.get(project=project)
    queue = list(selectors.review_queue(membership=membership))
    assert theirs in queue and mine not in queue


def test_the_queue_reads_annotations_without_a_query_per_item(
    project, reviewer, django_assert_num_queries
):
    for _ in range(5):
        disputed_preference(project)
    membership = reviewer.memberships.get(project=project)
    with django_assert_num_queries(2):
        bodies = [
            ReviewQueueEntrySerializer(selectors.review_queue_entry(item)).data
            for item in selectors.review_queue(membership=membership)
        ]
    assert len(bodies) == 5 and all(len(b["annotations"]) == 2 for b in bodies)


def test_queue_entries_label_annotations_by_id_and_hide_model_names(project, reviewer):
    item = disputed_preference(project)
    membership = reviewer.memberships.get(project=project)
    entry = selectors.review_queue_entry(selectors.review_queue(membership=membership).get())
    body = ReviewQueueEntrySerializer(entry).data
    assert [a["label"] for a in body["annotations"]] == ["Annotation 1", "Annotation 2"]
    assert [a["id"] for a in body["annotations"]] == [a.pk for a in annotations_of(item)]
    assert all("model" not in r for r in body["data"]["responses"])


# --- what the highlight marks ---------------------------------------------------------------


def test_ratings_on_opposite_sides_are_disputed():
    assert selectors.disputed_fields("preference", [{"rating": -1}, {"rating": 2}]) == ["rating"]


def test_ratings_on_the_same_side_are_not_disputed():
    assert selectors.disputed_fields("preference", [{"rating": -1}, {"rating": -3}]) == []


def test_a_tie_against_a_preference_is_disputed():
    assert selectors.disputed_fields("preference", [{"rating": 0}, {"rating": 1}]) == ["rating"]


def test_criteria_on_opposite_sides_are_disputed():
    payloads = [
        {"rating": 1, "criteria": {"honesty": -2, "helpfulness": 1}},
        {"rating": 2, "criteria": {"honesty": 1, "helpfulness": 3}},
    ]
    assert selectors.disputed_fields("preference", payloads) == ["criteria.honesty"]


def test_different_refusal_decisions_are_disputed():
    assert selectors.disputed_fields("refusal", DISPUTED_REFUSAL) == ["decision"]


def test_different_instruction_categories_are_disputed():
    payloads = [{"category": "code", "response": "x"}, {"category": "reasoning", "response": "x"}]
    assert selectors.disputed_fields("instruction", payloads) == ["category"]


@pytest.mark.parametrize(
    ("order", "values", "sides"),
    [
        ("AB", ["Left better (-2)", "Right much better (+3)"], ["left", "right"]),
        ("BA", ["Right better (+2)", "Left much better (-3)"], ["right", "left"]),
    ],
)
def test_review_entry_shows_ratings_in_the_reviewers_left_right_order(
    project, order, values, sides
):
    item = disputed_preference(project)  # ratings -2 (A better) and +3 (B much better)
    reviewer = reviewer_seeing(project, item, order)

    entry = selectors.review_entry(item, reviewer_id=reviewer.pk)

    overall = [a.rows[0] for a in entry.annotations]
    assert entry.display_order == order
    assert [r.value for r in overall] == values
    assert [r.side for r in overall] == sides
    assert all(r.differs for r in overall)
    assert all(a.annotator is None for a in entry.annotations)
    texts = [r["text"] for r in item.data["responses"]]
    shown = [side["text"] for side in entry.sides]
    assert shown == (texts if order == "AB" else texts[::-1])
    assert [side["name"] for side in entry.sides] == ["Left", "Right"]


def test_the_display_order_is_stable_and_about_half_swapped():
    orders = [selectors.review_display_order(item_id, 7) for item_id in range(1, 1001)]
    assert orders == [selectors.review_display_order(item_id, 7) for item_id in range(1, 1001)]
    assert 400 < orders.count("BA") < 600
    # Two reviewers of one item do not always see the same order.
    assert {selectors.review_display_order(5, reviewer) for reviewer in range(1, 20)} == {
        "AB",
        "BA",
    }


def test_as_displayed_flips_a_preference_both_ways_and_leaves_other_kinds():
    payload = {"rating": -2, "criteria": {"honesty": 3, "helpfulness": 0}, "rationale": "x"}
    flipped = selectors.as_displayed("preference", payload, "BA")
    assert flipped == {"rating": 2, "criteria": {"honesty": -3, "helpfulness": 0}, "rationale": "x"}
    assert selectors.as_displayed("preference", flipped, "BA") == payload
    assert selectors.as_displayed("preference", payload, "AB") == payload
    assert selectors.as_displayed("refusal", {"decision": "refuse"}, "BA") == {"decision": "refuse"}
    assert selectors.as_displayed("preference", {"rating": "x"}, "BA") == {"rating": "x"}
