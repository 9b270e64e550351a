"""The dashboard's rollups: AnnotatorDay (annotations per annotator and day, kept by the
submit) and ItemTally (items per kind, status and gold flag, kept by the import and the status
changes). Each equals a recount from the rows it counts, also under concurrent writers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.importing import item_import
from annotation.models import Assignment, Item
from annotation.queue import assignment_claim_next, assignment_submit
from annotation.rollups import activity_rebuild, tally_rebuild
from review.services import item_reopen, review_decide
from tests.annotation.test_queue_concurrency import run_threads
from tests.factories import (
    ItemFactory,
    MembershipFactory,
    ProjectFactory,
    activity_rows,
    annotate,
    item_row,
    tally_rows,
)


def test_each_submit_counts_on_the_annotators_day_with_gold_answers(project):
    project.gold_rate = 0.5
    project.save()
    membership = MembershipFactory(project=project)
    ItemFactory.create_batch(2, project=project)
    ItemFactory.create_batch(2, project=project, is_gold=True, gold={"rating": 2})
    ratings = iter([2, -2, 1, 3])
    for _ in range(4):
        assignment = assignment_claim_next(membership=membership)
        payload = {"rating": next(ratings)}
        assignment_submit(assignment_id=assignment.pk, annotator=membership.user, payload=payload)

    today = timezone.localdate()
    # Gold answers: +2 (right side) and one of -2/1/3 on the other gold item, by the pacing.
    ((key, (annotations, gold, correct)),) = activity_rows(project).items()
    assert key == (membership.user_id, today)
    assert annotations == 4
    assert gold == 2
    assert correct == sum(
        1 for a in membership.user.annotations.filter(item__is_gold=True) if a.gold_correct
    )


def test_a_retried_submit_is_not_counted_twice(project):
    membership = MembershipFactory(project=project)
    ItemFactory(project=project)
    assignment = assignment_claim_next(membership=membership)
    for _ in range(2):
        assignment_submit(
            assignment_id=assignment.pk, annotator=membership.user, payload={"rating": 1}
        )

    assert list(activity_rows(project).values()) == [(1, 0, 0)]


def test_a_rebuild_from_the_annotations_gives_the_same_rows(project):
    users = [MembershipFactory(project=project).user for _ in range(3)]
    for n in range(12):
        item = ItemFactory(
            project=project, is_gold=n % 4 == 0, gold={"rating": 1} if n % 4 == 0 else None
        )
        user = users[n % 3]
        # Gold answers on the gold side are correct: every eighth one.
        rating = 1 if not item.is_gold or n % 8 == 0 else -1
        annotate(item, user, {"rating": rating}, days_ago=n % 5)
    other = ProjectFactory()
    annotate(ItemFactory(project=other), users[0], {"rating": 1})
    live = activity_rows(project)

    written = activity_rebuild(project_id=project.pk)

    assert written == len(live) > 3
    assert activity_rows(project) == live
    assert sum(n for n, _, _ in live.values()) == 12
    assert activity_rows(other) == {(users[0].pk, timezone.localdate()): (1, 0, 0)}


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_submit_count_once(require_postgres):
    # One annotator holds one lease per project at a time, so the only concurrent submits of
    # one annotator in one project are retries of the same submit (a lost response).
    project = ProjectFactory(annotations_per_item=1, review_sample_rate=0)
    user = MembershipFactory(project=project).user
    now = timezone.now()
    item = ItemFactory(project=project)
    assignment = Assignment.objects.create(
        project=project,
        item=item,
        annotator=user,
        claimed_at=now,
        expires_at=now + timedelta(hours=1),
    )
    Item.objects.filter(pk=item.pk).update(active_count=1)

    run_threads(
        lambda i: assignment_submit(
            assignment_id=assignment.pk, annotator=user, payload={"rating": 1}
        ),
        8,
    )

    assert activity_rows(project) == {(user.pk, timezone.localdate()): (1, 0, 0)}


def test_tallies_follow_imports_completions_reviews_and_reopens(project, lead):
    project.annotations_per_item = 1
    project.review_sample_rate = 0
    project.save()
    rows = [item_row("preference", n) for n in range(4)] + [item_row("instruction", 9)]
    rows.append({**item_row("preference", 7), "gold": {"rating": 2}})
    item_import(project=project, rows=rows, actor=lead)
    assert tally_rows(project) == {
        ("preference", "open", False): 4,
        ("preference", "open", True): 1,
        ("instruction", "open", False): 1,
    }
    # An unannotated item may still change kind, and gold items may stop being gold.
    changed = [
        {**item_row("refusal", 0), "external_id": "preference-0"},
        {**item_row("preference", 7)},
    ]
    item_import(project=project, rows=changed, actor=lead)
    assert tally_rows(project) == {
        ("preference", "open", False): 4,
        ("refusal", "open", False): 1,
        ("instruction", "open", False): 1,
    }

    annotator = MembershipFactory(project=project)
    payloads = {
        "preference": {"rating": 2},  # one annotation per item: approved at once
        "refusal": {"decision": "refuse", "response": "No.", "harm_category": "none"},
        "instruction": {"response": "Done.", "category": project.categories[0]},
    }
    while (assignment := assignment_claim_next(membership=annotator)) is not None:
        payload = payloads[assignment.item.kind]
        assignment_submit(assignment_id=assignment.pk, annotator=annotator.user, payload=payload)
    assert tally_rows(project) == {
        ("preference", "approved", False): 4,
        ("refusal", "in_review", False): 1,
        ("instruction", "in_review", False): 1,
    }

    reviewer = MembershipFactory(project=project, role="reviewer").user
    refusal = Item.objects.get(project=project, external_id="preference-0")
    instruction = Item.objects.get(project=project, kind="instruction")
    review_decide(
        item_id=refusal.pk, reviewer=reviewer, decision="reject", note="Too vague.", then="drop"
    )
    annotation = instruction.annotations.get()
    review_decide(
        item_id=instruction.pk, reviewer=reviewer, decision="approve", annotation_id=annotation.pk
    )
    approved = Item.objects.filter(project=project, kind="preference").first()
    item_reopen(item_id=approved.pk, actor=lead)
    live = tally_rows(project)
    assert live == {
        ("preference", "approved", False): 3,
        ("preference", "in_review", False): 1,
        ("refusal", "dropped", False): 1,
        ("instruction", "approved", False): 1,
    }
    tally_rebuild(project_id=project.pk)
    assert tally_rows(project) == live
